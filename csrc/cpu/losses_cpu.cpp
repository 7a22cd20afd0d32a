// CPU kernels of the loss ops: span_en_iou, iou_scaled_bce and ranking_loss (forward and
// backward). The formulas live in kernel_math.h, shared with the CUDA kernels.

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "../common.h"
#include "../kernel_math.h"

namespace spertmt {
namespace {

constexpr int64_t kGrain = 2048;

// ENIoU(s) = max over gold spans g of IoU(s, g); spans are [start, end) word ranges.
at::Tensor span_en_iou_cpu(const at::Tensor& candidate_spans_in, const at::Tensor& gold_spans_in,
                           const at::Tensor& gold_mask_in) {
  check_en_iou_inputs(candidate_spans_in, gold_spans_in, gold_mask_in);
  const auto cand = candidate_spans_in.to(at::kLong).contiguous();
  const auto gold = gold_spans_in.to(at::kLong).contiguous();
  const auto mask = gold_mask_in.contiguous();
  const int64_t B = cand.size(0), S = cand.size(1), G = gold.size(1);
  auto out = at::zeros({B, S}, cand.options().dtype(at::kFloat));
  const int64_t* c = cand.data_ptr<int64_t>();
  const int64_t* g = gold.data_ptr<int64_t>();
  const bool* m = mask.data_ptr<bool>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, B * S, kGrain / 8, [&](int64_t begin, int64_t end) {
    for (int64_t bs = begin; bs < end; ++bs) {
      const int64_t b = bs / S, s0 = c[2 * bs], e0 = c[2 * bs + 1];
      float best = 0.f;
      for (int64_t k = 0; k < G; ++k) {
        if (!m[b * G + k]) continue;
        const int64_t s1 = g[2 * (b * G + k)], e1 = g[2 * (b * G + k) + 1];
        const int64_t inter = std::min(e0, e1) - std::max(s0, s1);
        if (inter <= 0) continue;
        const float iou = float(inter) / float(std::max(e0, e1) - std::min(s0, s1));
        best = std::max(best, iou);
      }
      o[bs] = best;
    }
  });
  return out;
}

at::Tensor iou_scaled_bce_cpu(const at::Tensor& logits_in, const at::Tensor& targets_in,
                              const at::Tensor& en_iou_in, double delta) {
  check_bce_inputs(logits_in, targets_in, en_iou_in, delta);
  const auto logits = logits_in.contiguous();
  const auto targets = targets_in.to(logits.scalar_type()).contiguous();
  const auto en_iou = en_iou_in.to(logits.scalar_type()).contiguous();
  auto out = at::empty_like(logits);
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, logits.scalar_type(), "iou_scaled_bce_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t *x = logits.data_ptr<scalar_t>(), *q = targets.data_ptr<scalar_t>(),
                   *u = en_iou.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, logits.numel(), kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        o[i] = static_cast<scalar_t>(iou_bce_loss<acc_t>(x[i], q[i], u[i], acc_t(delta)));
    });
  });
  return out;
}

at::Tensor iou_scaled_bce_backward_cpu(const at::Tensor& grad_in, const at::Tensor& logits_in,
                                       const at::Tensor& targets_in, const at::Tensor& en_iou_in,
                                       double delta) {
  check_bce_inputs(logits_in, targets_in, en_iou_in, delta);
  const auto logits = logits_in.contiguous();
  const auto grad = grad_in.to(logits.scalar_type()).expand(logits.sizes()).contiguous();
  const auto targets = targets_in.to(logits.scalar_type()).contiguous();
  const auto en_iou = en_iou_in.to(logits.scalar_type()).contiguous();
  auto out = at::empty_like(logits);
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, logits.scalar_type(), "iou_scaled_bce_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t *g = grad.data_ptr<scalar_t>(), *x = logits.data_ptr<scalar_t>(),
                   *q = targets.data_ptr<scalar_t>(), *u = en_iou.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, logits.numel(), kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        o[i] = static_cast<scalar_t>(acc_t(g[i]) * iou_bce_grad<acc_t>(x[i], q[i], u[i], acc_t(delta)));
    });
  });
  return out;
}

// Index of the highest-scoring class of one row that is not gold, or -1 if every class is.
template <typename scalar_t>
inline int64_t best_wrong_class(const scalar_t* s, const bool* gold, int64_t C) {
  using acc_t = at::opmath_type<scalar_t>;
  int64_t arg = -1;
  acc_t best = 0;
  for (int64_t c = 0; c < C; ++c) {
    if (gold[c]) continue;
    const acc_t v = s[c];
    if (takes_max(v, best, arg >= 0)) {
      best = v;
      arg = c;
    }
  }
  return arg;
}

at::Tensor ranking_loss_cpu(const at::Tensor& scores_in, const at::Tensor& gold_in, double m_pos,
                            double m_neg, double gamma) {
  check_ranking_inputs(scores_in, gold_in);
  const auto scores = scores_in.contiguous();
  const auto gold = gold_in.contiguous();
  const int64_t N = scores.size(0), C = scores.size(1);
  auto out = at::empty({N}, scores.options());
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, scores.scalar_type(), "ranking_loss_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* s = scores.data_ptr<scalar_t>();
    const bool* y = gold.data_ptr<bool>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, N, kGrain / 16, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        const scalar_t* row = s + n * C;
        const bool* gold_row = y + n * C;
        acc_t loss = 0;
        for (int64_t c = 0; c < C; ++c)
          if (gold_row[c]) loss += rank_pos_loss<acc_t>(row[c], m_pos, gamma);
        const int64_t wrong = best_wrong_class(row, gold_row, C);
        if (wrong >= 0) loss += rank_neg_loss<acc_t>(row[wrong], m_neg, gamma);
        o[n] = static_cast<scalar_t>(loss);
      }
    });
  });
  return out;
}

at::Tensor ranking_loss_backward_cpu(const at::Tensor& grad_in, const at::Tensor& scores_in,
                                     const at::Tensor& gold_in, double m_pos, double m_neg,
                                     double gamma) {
  check_ranking_inputs(scores_in, gold_in);
  const auto scores = scores_in.contiguous();
  const auto gold = gold_in.contiguous();
  const int64_t N = scores.size(0), C = scores.size(1);
  const auto grad = grad_in.to(scores.scalar_type()).expand({N}).contiguous();
  auto out = at::zeros_like(scores);
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, scores.scalar_type(), "ranking_loss_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* s = scores.data_ptr<scalar_t>();
    const scalar_t* g = grad.data_ptr<scalar_t>();
    const bool* y = gold.data_ptr<bool>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, N, kGrain / 16, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        const scalar_t* row = s + n * C;
        const bool* gold_row = y + n * C;
        const acc_t gn = g[n];
        for (int64_t c = 0; c < C; ++c)
          if (gold_row[c]) o[n * C + c] = static_cast<scalar_t>(gn * rank_pos_grad<acc_t>(row[c], m_pos, gamma));
        const int64_t wrong = best_wrong_class(row, gold_row, C);
        if (wrong >= 0)
          o[n * C + wrong] = static_cast<scalar_t>(gn * rank_neg_grad<acc_t>(row[wrong], m_neg, gamma));
      }
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(spertmt, CPU, m) {
  m.impl("span_en_iou", &span_en_iou_cpu);
  m.impl("iou_scaled_bce", &iou_scaled_bce_cpu);
  m.impl("iou_scaled_bce_backward", &iou_scaled_bce_backward_cpu);
  m.impl("ranking_loss", &ranking_loss_cpu);
  m.impl("ranking_loss_backward", &ranking_loss_backward_cpu);
}

}  // namespace spertmt
