// CPU kernel of SpERT's optimizer step (AdamW without bias correction, weight decay after the
// update, as transformers.AdamW(correct_bias=False)) in one pass over each parameter:
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr m / (sqrt(v) + eps);  p -= lr wd p
// torch's foreach ops (the fallback) read and write the model's parameters and both moments six
// times per step and allocate sqrt(v); on a CPU the step is memory-bound, so one pass is ~5x
// faster. On CUDA the fallback's foreach kernels are used (they are multi-tensor launches there).

#include <cmath>
#include <vector>

#include "../common.h"

namespace spertmt {
namespace {

constexpr int64_t kGrain = 16384;

// A plain loop that the compiler vectorises, compiled for AVX-512, AVX2 and baseline x86-64 with
// the best one picked at load time (GCC function multi-versioning): extensions are built without
// -mavx2, so ATen's at::vec types would fall back to their generic code here.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define SPERTMT_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SPERTMT_CPU_CLONES
#endif

#define SPERTMT_ADAMW_RANGE(NAME, T)                                                                   \
  SPERTMT_CPU_CLONES void NAME(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,        \
                               T* __restrict__ v, int64_t n, T b1, T c1, T b2, T c2, T step, T e,      \
                               T decay) {                                                            \
    for (int64_t i = 0; i < n; ++i) {                                                                \
      const T mi = m[i] * b1 + g[i] * c1;                                                            \
      const T vi = v[i] * b2 + g[i] * g[i] * c2;                                                     \
      m[i] = mi;                                                                                     \
      v[i] = vi;                                                                                     \
      p[i] = (p[i] - step * mi / (std::sqrt(vi) + e)) * decay;                                  \
    }                                                                                                \
  }
SPERTMT_ADAMW_RANGE(adamw_range, float)
SPERTMT_ADAMW_RANGE(adamw_range, double)
#undef SPERTMT_ADAMW_RANGE

template <typename scalar_t>
void adamw_tensor(scalar_t* p, const scalar_t* g, scalar_t* m, scalar_t* v, int64_t n, double lr, double beta1,
                  double beta2, double eps, double weight_decay) {
  const auto step = [&](int64_t begin, int64_t end) {
    adamw_range(p + begin, g + begin, m + begin, v + begin, end - begin, scalar_t(beta1), scalar_t(1.0 - beta1),
                scalar_t(beta2), scalar_t(1.0 - beta2), scalar_t(lr), scalar_t(eps),
                scalar_t(1.0 - lr * weight_decay));
  };
  // One grain's work runs here: a call into torch's pool through the stable C shim costs more
  // than such a tensor's update (a model has many small ones: biases, LayerNorm weights).
  if (n <= kGrain) step(0, n);
  else torch::stable::parallel_for(0, n, kGrain, step);
}

void adamw_no_bias_correction_cpu(std::vector<Tensor> params, std::vector<Tensor> grads,
                                  std::vector<Tensor> exp_avgs, std::vector<Tensor> exp_avg_sqs, double lr,
                                  double beta1, double beta2, double eps, double weight_decay) {
  const char* op = "spertmt::adamw_no_bias_correction_";
  const size_t n = params.size();
  SPERTMT_CHECK(grads.size() == n && exp_avgs.size() == n && exp_avg_sqs.size() == n, op,
                ": params, grads, exp_avgs and exp_avg_sqs must have the same length, got ", n, ", ", grads.size(),
                ", ", exp_avgs.size(), ", ", exp_avg_sqs.size());
  for (size_t k = 0; k < n; ++k) {
    const Tensor& p = params[k];
    SPERTMT_CHECK(p.is_cpu(), op, ": params[", k, "] is not on the CPU");
    const ScalarType st = p.scalar_type();
    SPERTMT_CHECK(st == ScalarType::Float || st == ScalarType::Double, op, ": params[", k,
                  "] must be float32 or float64, got ", dtype_name(st));
    for (const Tensor* other : {&grads[k], &exp_avgs[k], &exp_avg_sqs[k]}) {
      SPERTMT_CHECK(same_shape(*other, p) && other->scalar_type() == st && other->device() == p.device(), op,
                    ": the grad and moments of params[", k, "] must match its shape, dtype and device");
    }
    SPERTMT_CHECK(p.is_contiguous() && exp_avgs[k].is_contiguous() && exp_avg_sqs[k].is_contiguous(), op,
                  ": params[", k, "] and its moments must be contiguous");
    const Tensor g = as_contiguous(grads[k]);
    auto step = [&](auto tag) {
      using scalar_t = decltype(tag);
      adamw_tensor<scalar_t>(p.mutable_data_ptr<scalar_t>(), g.const_data_ptr<scalar_t>(),
                             exp_avgs[k].mutable_data_ptr<scalar_t>(), exp_avg_sqs[k].mutable_data_ptr<scalar_t>(),
                             p.numel(), lr, beta1, beta2, eps, weight_decay);
    };
    if (st == ScalarType::Float) step(float{});
    else step(double{});
  }
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(spertmt, CPU, m) {
  m.impl("adamw_no_bias_correction_", TORCH_BOX(&adamw_no_bias_correction_cpu));
}

}  // namespace spertmt
