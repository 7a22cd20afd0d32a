// CUDA kernels of the loss ops (same formulas as csrc/cpu/losses_cpu.cpp, from kernel_math.h).
// Elementwise and per-row work: one thread per sample, grid-stride loops.

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../common.h"
#include "../kernel_math.h"

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

at::Tensor span_en_iou_cuda(const at::Tensor& candidate_spans_in, const at::Tensor& gold_spans_in,
                            const at::Tensor& gold_mask_in) {
  check_en_iou_inputs(candidate_spans_in, gold_spans_in, gold_mask_in);
  const c10::cuda::OptionalCUDAGuard guard(candidate_spans_in.device());
  const auto cand = candidate_spans_in.to(at::kLong).contiguous();
  const auto gold = gold_spans_in.to(at::kLong).contiguous();
  const auto mask = gold_mask_in.contiguous();
  const int64_t B = cand.size(0), S = cand.size(1), G = gold.size(1);
  auto out = at::zeros({B, S}, cand.options().dtype(at::kFloat));
  const int64_t n = B * S;
  if (n == 0) return out;
  en_iou_kernel<<<blocks_for(n), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
      cand.data_ptr<int64_t>(), gold.data_ptr<int64_t>(), mask.data_ptr<bool>(), out.data_ptr<float>(), S, G, n);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

template <typename scalar_t>
__global__ void bce_kernel(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ x,
                           const scalar_t* __restrict__ q, const scalar_t* __restrict__ u,
                           scalar_t* __restrict__ out, double delta, int64_t n) {
  using acc_t = at::opmath_type<scalar_t>;
  SPERTMT_GRID_LOOP(i, n) {
    if (grad == nullptr)
      out[i] = static_cast<scalar_t>(iou_bce_loss<acc_t>(x[i], q[i], u[i], acc_t(delta)));
    else
      out[i] = static_cast<scalar_t>(acc_t(grad[i]) * iou_bce_grad<acc_t>(x[i], q[i], u[i], acc_t(delta)));
  }
}

// The forward (grad undefined) or the backward of iou_scaled_bce.
at::Tensor run_bce(const at::Tensor& grad_in, const at::Tensor& logits_in, const at::Tensor& targets_in,
                   const at::Tensor& en_iou_in, double delta) {
  check_bce_inputs(logits_in, targets_in, en_iou_in, delta);
  const c10::cuda::OptionalCUDAGuard guard(logits_in.device());
  const auto logits = logits_in.contiguous();
  const auto targets = targets_in.to(logits.scalar_type()).contiguous();
  const auto en_iou = en_iou_in.to(logits.scalar_type()).contiguous();
  at::Tensor grad;
  if (grad_in.defined()) grad = grad_in.to(logits.scalar_type()).expand(logits.sizes()).contiguous();
  auto out = at::empty_like(logits);
  const int64_t n = logits.numel();
  if (n == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, logits.scalar_type(), "iou_scaled_bce_cuda", [&] {
    bce_kernel<scalar_t><<<blocks_for(n), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        grad.defined() ? grad.data_ptr<scalar_t>() : nullptr, logits.data_ptr<scalar_t>(),
        targets.data_ptr<scalar_t>(), en_iou.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), delta, n);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

at::Tensor iou_scaled_bce_cuda(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& en_iou,
                               double delta) {
  return run_bce(at::Tensor(), logits, targets, en_iou, delta);
}

at::Tensor iou_scaled_bce_backward_cuda(const at::Tensor& grad, const at::Tensor& logits,
                                        const at::Tensor& targets, const at::Tensor& en_iou, double delta) {
  return run_bce(grad, logits, targets, en_iou, delta);
}

// One thread per row. With grad == nullptr: per-row loss into loss_out; otherwise the gradient
// into grad_out (zero-initialised).
template <typename scalar_t>
__global__ void ranking_kernel(const scalar_t* __restrict__ scores, const bool* __restrict__ gold,
                               const scalar_t* __restrict__ grad, scalar_t* __restrict__ loss_out,
                               scalar_t* __restrict__ grad_out, double m_pos, double m_neg, double gamma,
                               int64_t N, int64_t C) {
  using acc_t = at::opmath_type<scalar_t>;
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
      const acc_t g = grad[n];
      for (int64_t c = 0; c < C; ++c)
        if (gold_row[c]) grad_out[n * C + c] = static_cast<scalar_t>(g * rank_pos_grad<acc_t>(row[c], m_pos, gamma));
      if (wrong >= 0) grad_out[n * C + wrong] = static_cast<scalar_t>(g * rank_neg_grad<acc_t>(best, m_neg, gamma));
    }
  }
}

at::Tensor run_ranking(const at::Tensor& grad_in, const at::Tensor& scores_in, const at::Tensor& gold_in,
                       double m_pos, double m_neg, double gamma) {
  check_ranking_inputs(scores_in, gold_in);
  const c10::cuda::OptionalCUDAGuard guard(scores_in.device());
  const auto scores = scores_in.contiguous();
  const auto gold = gold_in.contiguous();
  const int64_t N = scores.size(0), C = scores.size(1);
  const bool backward = grad_in.defined();
  at::Tensor grad;
  if (backward) grad = grad_in.to(scores.scalar_type()).expand({N}).contiguous();
  auto out = backward ? at::zeros_like(scores) : at::empty({N}, scores.options());
  if (N == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, scores.scalar_type(), "ranking_loss_cuda", [&] {
    ranking_kernel<scalar_t><<<blocks_for(N), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        scores.data_ptr<scalar_t>(), gold.data_ptr<bool>(), backward ? grad.data_ptr<scalar_t>() : nullptr,
        backward ? nullptr : out.data_ptr<scalar_t>(), backward ? out.data_ptr<scalar_t>() : nullptr, m_pos,
        m_neg, gamma, N, C);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

at::Tensor ranking_loss_cuda(const at::Tensor& scores, const at::Tensor& gold, double m_pos, double m_neg,
                             double gamma) {
  return run_ranking(at::Tensor(), scores, gold, m_pos, m_neg, gamma);
}

at::Tensor ranking_loss_backward_cuda(const at::Tensor& grad, const at::Tensor& scores, const at::Tensor& gold,
                                      double m_pos, double m_neg, double gamma) {
  return run_ranking(grad, scores, gold, m_pos, m_neg, gamma);
}

}  // namespace

TORCH_LIBRARY_IMPL(spertmt, CUDA, m) {
  m.impl("span_en_iou", &span_en_iou_cuda);
  m.impl("iou_scaled_bce", &iou_scaled_bce_cuda);
  m.impl("iou_scaled_bce_backward", &iou_scaled_bce_backward_cuda);
  m.impl("ranking_loss", &ranking_loss_cuda);
  m.impl("ranking_loss_backward", &ranking_loss_backward_cuda);
}

}  // namespace spertmt
