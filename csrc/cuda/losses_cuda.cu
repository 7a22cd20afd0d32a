// CUDA kernels of the loss ops (same formulas as csrc/cpu/losses_cpu.cpp, from kernel_math.h).
// Elementwise and per-row work: one thread per sample, grid-stride loops.

#include "../common.h"
#include "../kernel_math.h"
#include "cuda_common.cuh"

namespace spertmt {
namespace {

constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, 65535)));
}

#define SPERTMT_GRID_LOOP(k, n)                                                              \
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < (n); \
       k += static_cast<int64_t>(gridDim.x) * blockDim.x)

__global__ void en_iou_kernel(const int64_t* __restrict__ cand, const int64_t* __restrict__ gold,
                              const bool* __restrict__ gold_mask, float* __restrict__ out, int64_t S,
                              int64_t G, int64_t n) {
  SPERTMT_GRID_LOOP(bs, n) {
    const int64_t b = bs / S, s0 = cand[2 * bs], e0 = cand[2 * bs + 1];
    float best = 0.f;
    for (int64_t k = 0; k < G; ++k) {
      if (!gold_mask[b * G + k]) continue;
      const int64_t s1 = gold[2 * (b * G + k)], e1 = gold[2 * (b * G + k) + 1];
      const int64_t inter = min(e0, e1) - max(s0, s1);
      if (inter <= 0) continue;
      best = fmaxf(best, float(inter) / float(max(e0, e1) - min(s0, s1)));
    }
    out[bs] = best;
  }
}

Tensor span_en_iou_cuda(Tensor candidate_spans_in, Tensor gold_spans_in, Tensor gold_mask_in) {
  check_en_iou_args(candidate_spans_in, gold_spans_in, gold_mask_in);
  check_en_iou_ranges(host_long(candidate_spans_in), host_long(gold_spans_in), host_copy(gold_mask_in));
  const torch::stable::accelerator::DeviceGuard guard(candidate_spans_in.get_device_index());
  const Tensor cand = long_contiguous(candidate_spans_in);
  const Tensor gold = long_contiguous(gold_spans_in);
  const Tensor mask = as_contiguous(gold_mask_in);
  const int64_t B = cand.size(0), S = cand.size(1), G = gold.size(1);
  Tensor out = empty({B, S}, ScalarType::Float, cand);
  const int64_t n = B * S;
  if (n == 0) return out;
  en_iou_kernel<<<blocks_for(n), kThreads, 0, current_stream(cand)>>>(
      cand.const_data_ptr<int64_t>(), gold.const_data_ptr<int64_t>(), mask.const_data_ptr<bool>(),
      out.mutable_data_ptr<float>(), S, G, n);
  check_launch("span_en_iou");
  return out;
}

// grad == nullptr: the loss; otherwise the gradient (grad_step 0: one grad value for all).
template <typename scalar_t>
__global__ void bce_kernel(const scalar_t* __restrict__ grad, int64_t grad_step, const scalar_t* __restrict__ x,
                           const scalar_t* __restrict__ q, const scalar_t* __restrict__ u,
                           scalar_t* __restrict__ out, double delta, int64_t n) {
  using acc_t = opmath_t<scalar_t>;
  SPERTMT_GRID_LOOP(i, n) {
    if (grad == nullptr)
      out[i] = static_cast<scalar_t>(iou_bce_loss<acc_t>(x[i], q[i], u[i], acc_t(delta)));
    else
      out[i] = static_cast<scalar_t>(acc_t(grad[i * grad_step]) *
                                     iou_bce_grad<acc_t>(x[i], q[i], u[i], acc_t(delta)));
  }
}

// The forward (grad null) or the backward of iou_scaled_bce.
Tensor run_bce(const Tensor* grad_in, const Tensor& logits_in, const Tensor& targets_in, const Tensor& en_iou_in,
               double delta) {
  check_bce_args(logits_in, targets_in, en_iou_in, delta);
  const int64_t n = logits_in.numel();
  if (grad_in != nullptr) check_grad(*grad_in, n, logits_in, "iou_scaled_bce_backward");
  const torch::stable::accelerator::DeviceGuard guard(logits_in.get_device_index());
  const Tensor logits = as_contiguous(logits_in);
  const ScalarType st = logits.scalar_type();
  const Tensor targets = as_contiguous(as_dtype(targets_in, st));
  const Tensor en_iou = as_contiguous(as_dtype(en_iou_in, st));
  Tensor grad;
  if (grad_in != nullptr) grad = as_contiguous(as_dtype(*grad_in, st));
  const int64_t grad_step = grad_in != nullptr && grad.numel() == n ? 1 : 0;
  Tensor out = torch::stable::empty_like(logits);
  if (n == 0) return out;
  dispatch_floating(st, "iou_scaled_bce", [&](auto tag) {
    using scalar_t = decltype(tag);
    bce_kernel<scalar_t><<<blocks_for(n), kThreads, 0, current_stream(logits)>>>(
        grad_in != nullptr ? grad.const_data_ptr<scalar_t>() : nullptr, grad_step, logits.const_data_ptr<scalar_t>(),
        targets.const_data_ptr<scalar_t>(), en_iou.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(),
        delta, n);
    check_launch("iou_scaled_bce");
  });
  return out;
}

Tensor iou_scaled_bce_cuda(Tensor logits, Tensor targets, Tensor en_iou, double delta) {
  return run_bce(nullptr, logits, targets, en_iou, delta);
}

Tensor iou_scaled_bce_backward_cuda(Tensor grad, Tensor logits, Tensor targets, Tensor en_iou, double delta) {
  return run_bce(&grad, logits, targets, en_iou, delta);
}

// One thread per row. With grad == nullptr: per-row loss into loss_out; otherwise the gradient
// into grad_out (zero-initialised).
template <typename scalar_t>
__global__ void ranking_kernel(const scalar_t* __restrict__ scores, const bool* __restrict__ gold,
                               const scalar_t* __restrict__ grad, int64_t grad_step, scalar_t* __restrict__ loss_out,
                               scalar_t* __restrict__ grad_out, double m_pos, double m_neg, double gamma,
                               int64_t N, int64_t C) {
  using acc_t = opmath_t<scalar_t>;
  SPERTMT_GRID_LOOP(n, N) {
    const scalar_t* row = scores + n * C;
    const bool* gold_row = gold + n * C;
    int64_t wrong = -1;
    acc_t best = 0;
    for (int64_t c = 0; c < C; ++c) {
      if (gold_row[c]) continue;
      const acc_t v = row[c];
      if (takes_max(v, best, wrong >= 0)) {
        best = v;
        wrong = c;
      }
    }
    if (grad == nullptr) {
      acc_t loss = 0;
      for (int64_t c = 0; c < C; ++c)
        if (gold_row[c]) loss += rank_pos_loss<acc_t>(row[c], m_pos, gamma);
      if (wrong >= 0) loss += rank_neg_loss<acc_t>(best, m_neg, gamma);
      loss_out[n] = static_cast<scalar_t>(loss);
    } else {
      const acc_t g = grad[n * grad_step];
      for (int64_t c = 0; c < C; ++c)
        if (gold_row[c]) grad_out[n * C + c] = static_cast<scalar_t>(g * rank_pos_grad<acc_t>(row[c], m_pos, gamma));
      if (wrong >= 0) grad_out[n * C + wrong] = static_cast<scalar_t>(g * rank_neg_grad<acc_t>(best, m_neg, gamma));
    }
  }
}

Tensor run_ranking(const Tensor* grad_in, const Tensor& scores_in, const Tensor& gold_in, double m_pos,
                   double m_neg, double gamma) {
  check_ranking_args(scores_in, gold_in);
  const int64_t N = scores_in.size(0), C = scores_in.size(1);
  if (grad_in != nullptr) check_grad(*grad_in, N, scores_in, "ranking_loss_backward");
  const torch::stable::accelerator::DeviceGuard guard(scores_in.get_device_index());
  const Tensor scores = as_contiguous(scores_in);
  const Tensor gold = as_contiguous(gold_in);
  const ScalarType st = scores.scalar_type();
  const bool backward = grad_in != nullptr;
  Tensor grad;
  if (backward) grad = as_contiguous(as_dtype(*grad_in, st));
  const int64_t grad_step = backward && grad.numel() == N ? 1 : 0;
  Tensor out = backward ? zeros({N, C}, st, scores) : empty({N}, st, scores);
  if (N == 0) return out;
  dispatch_floating(st, "ranking_loss", [&](auto tag) {
    using scalar_t = decltype(tag);
    scalar_t* o = out.mutable_data_ptr<scalar_t>();
    ranking_kernel<scalar_t><<<blocks_for(N), kThreads, 0, current_stream(scores)>>>(
        scores.const_data_ptr<scalar_t>(), gold.const_data_ptr<bool>(),
        backward ? grad.const_data_ptr<scalar_t>() : nullptr, grad_step, backward ? nullptr : o,
        backward ? o : nullptr, m_pos, m_neg, gamma, N, C);
    check_launch("ranking_loss");
  });
  return out;
}

Tensor ranking_loss_cuda(Tensor scores, Tensor gold, double m_pos, double m_neg, double gamma) {
  return run_ranking(nullptr, scores, gold, m_pos, m_neg, gamma);
}

Tensor ranking_loss_backward_cuda(Tensor grad, Tensor scores, Tensor gold, double m_pos, double m_neg,
                                  double gamma) {
  return run_ranking(&grad, scores, gold, m_pos, m_neg, gamma);
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(spertmt, CUDA, m) {
  m.impl("span_en_iou", TORCH_BOX(&span_en_iou_cuda));
  m.impl("iou_scaled_bce", TORCH_BOX(&iou_scaled_bce_cuda));
  m.impl("iou_scaled_bce_backward", TORCH_BOX(&iou_scaled_bce_backward_cuda));
  m.impl("ranking_loss", TORCH_BOX(&ranking_loss_cuda));
  m.impl("ranking_loss_backward", TORCH_BOX(&ranking_loss_backward_cuda));
}

}  // namespace spertmt
