// CPU kernels of the loss ops: span_en_iou, iou_scaled_bce and ranking_loss (forward and
// backward). The formulas live in kernel_math.h, shared with the CUDA kernels.

#include "../common.h"
#include "../kernel_math.h"

namespace spertmt {
namespace {

constexpr int64_t kGrain = 2048;

// ENIoU(s) = max over gold spans g of IoU(s, g); spans are [start, end) word ranges.
Tensor span_en_iou_cpu(Tensor candidate_spans_in, Tensor gold_spans_in, Tensor gold_mask_in) {
  check_en_iou_args(candidate_spans_in, gold_spans_in, gold_mask_in);
  const Tensor cand = long_contiguous(candidate_spans_in);
  const Tensor gold = long_contiguous(gold_spans_in);
  const Tensor mask = as_contiguous(gold_mask_in);
  check_en_iou_ranges(cand, gold, mask);
  const int64_t B = cand.size(0), S = cand.size(1), G = gold.size(1);
  Tensor out = empty({B, S}, ScalarType::Float, cand);
  const int64_t* c = cand.const_data_ptr<int64_t>();
  const int64_t* g = gold.const_data_ptr<int64_t>();
  const bool* m = mask.const_data_ptr<bool>();
  float* o = out.mutable_data_ptr<float>();
  torch::stable::parallel_for(0, B * S, kGrain / 8, [&](int64_t begin, int64_t end) {
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

// The forward (grad undefined) or the backward of iou_scaled_bce. A single-valued grad applies to
// every sample.
Tensor run_bce(const Tensor* grad_in, const Tensor& logits_in, const Tensor& targets_in, const Tensor& en_iou_in,
               double delta) {
  check_bce_args(logits_in, targets_in, en_iou_in, delta);
  const Tensor logits = as_contiguous(logits_in);
  const ScalarType st = logits.scalar_type();
  const Tensor targets = as_contiguous(as_dtype(targets_in, st));
  const Tensor en_iou = as_contiguous(as_dtype(en_iou_in, st));
  const int64_t n = logits.numel();
  Tensor grad;
  if (grad_in != nullptr) {
    check_grad(*grad_in, n, logits, "iou_scaled_bce_backward");
    grad = as_contiguous(as_dtype(*grad_in, st));
  }
  const int64_t grad_step = grad_in != nullptr && grad.numel() == n ? 1 : 0;
  Tensor out = torch::stable::empty_like(logits);
  dispatch_floating(st, "iou_scaled_bce", [&](auto tag) {
    using scalar_t = decltype(tag);
    using acc_t = opmath_t<scalar_t>;
    const scalar_t *x = logits.const_data_ptr<scalar_t>(), *q = targets.const_data_ptr<scalar_t>(),
                   *u = en_iou.const_data_ptr<scalar_t>();
    const scalar_t* g = grad_in != nullptr ? grad.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* o = out.mutable_data_ptr<scalar_t>();
    torch::stable::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
      if (g == nullptr) {
        for (int64_t i = begin; i < end; ++i)
          o[i] = static_cast<scalar_t>(iou_bce_loss<acc_t>(x[i], q[i], u[i], acc_t(delta)));
      } else {
        for (int64_t i = begin; i < end; ++i)
          o[i] = static_cast<scalar_t>(acc_t(g[i * grad_step]) * iou_bce_grad<acc_t>(x[i], q[i], u[i], acc_t(delta)));
      }
    });
  });
  return out;
}

Tensor iou_scaled_bce_cpu(Tensor logits, Tensor targets, Tensor en_iou, double delta) {
  return run_bce(nullptr, logits, targets, en_iou, delta);
}

Tensor iou_scaled_bce_backward_cpu(Tensor grad, Tensor logits, Tensor targets, Tensor en_iou, double delta) {
  return run_bce(&grad, logits, targets, en_iou, delta);
}

// Index of the highest-scoring class of one row that is not gold, or -1 if every class is.
template <typename scalar_t>
inline int64_t best_wrong_class(const scalar_t* s, const bool* gold, int64_t C) {
  using acc_t = opmath_t<scalar_t>;
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

// The forward (grad null: one loss per row) or the backward (the gradient, [N, C]).
Tensor run_ranking(const Tensor* grad_in, const Tensor& scores_in, const Tensor& gold_in, double m_pos,
                   double m_neg, double gamma) {
  check_ranking_args(scores_in, gold_in);
  const Tensor scores = as_contiguous(scores_in);
  const Tensor gold = as_contiguous(gold_in);
  const ScalarType st = scores.scalar_type();
  const int64_t N = scores.size(0), C = scores.size(1);
  Tensor grad;
  if (grad_in != nullptr) {
    check_grad(*grad_in, N, scores, "ranking_loss_backward");
    grad = as_contiguous(as_dtype(*grad_in, st));
  }
  const int64_t grad_step = grad_in != nullptr && grad.numel() == N ? 1 : 0;
  Tensor out = grad_in != nullptr ? zeros({N, C}, st, scores) : empty({N}, st, scores);
  dispatch_floating(st, "ranking_loss", [&](auto tag) {
    using scalar_t = decltype(tag);
    using acc_t = opmath_t<scalar_t>;
    const scalar_t* s = scores.const_data_ptr<scalar_t>();
    const scalar_t* g = grad_in != nullptr ? grad.const_data_ptr<scalar_t>() : nullptr;
    const bool* y = gold.const_data_ptr<bool>();
    scalar_t* o = out.mutable_data_ptr<scalar_t>();
    torch::stable::parallel_for(0, N, kGrain / 16, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        const scalar_t* row = s + n * C;
        const bool* gold_row = y + n * C;
        const int64_t wrong = best_wrong_class(row, gold_row, C);
        if (g == nullptr) {
          acc_t loss = 0;
          for (int64_t c = 0; c < C; ++c)
            if (gold_row[c]) loss += rank_pos_loss<acc_t>(row[c], m_pos, gamma);
          if (wrong >= 0) loss += rank_neg_loss<acc_t>(row[wrong], m_neg, gamma);
          o[n] = static_cast<scalar_t>(loss);
        } else {
          const acc_t gn = g[n * grad_step];
          for (int64_t c = 0; c < C; ++c)
            if (gold_row[c]) o[n * C + c] = static_cast<scalar_t>(gn * rank_pos_grad<acc_t>(row[c], m_pos, gamma));
          if (wrong >= 0)
            o[n * C + wrong] = static_cast<scalar_t>(gn * rank_neg_grad<acc_t>(row[wrong], m_neg, gamma));
        }
      }
    });
  });
  return out;
}

Tensor ranking_loss_cpu(Tensor scores, Tensor gold, double m_pos, double m_neg, double gamma) {
  return run_ranking(nullptr, scores, gold, m_pos, m_neg, gamma);
}

Tensor ranking_loss_backward_cpu(Tensor grad, Tensor scores, Tensor gold, double m_pos, double m_neg,
                                 double gamma) {
  return run_ranking(&grad, scores, gold, m_pos, m_neg, gamma);
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(spertmt, CPU, m) {
  m.impl("span_en_iou", TORCH_BOX(&span_en_iou_cpu));
  m.impl("iou_scaled_bce", TORCH_BOX(&iou_scaled_bce_cpu));
  m.impl("iou_scaled_bce_backward", TORCH_BOX(&iou_scaled_bce_backward_cpu));
  m.impl("ranking_loss", TORCH_BOX(&ranking_loss_cpu));
  m.impl("ranking_loss_backward", TORCH_BOX(&ranking_loss_backward_cpu));
}

}  // namespace spertmt
