// What the CPU and CUDA backends share: argument checks, whose messages name the argument (a user
// reading "spertmt.span_max_pool: `ends` has 3 dimensions, expected 2 ([B, S])" knows what to fix),
// and the small host-side helpers both need (pair-context ranges, the enumerated span table).
#pragma once

#include <ATen/ATen.h>

#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace spertmt {

inline void check_dim(const at::Tensor& t, int64_t dim, const char* op, const char* name,
                      const char* shape) {
  TORCH_CHECK(t.dim() == dim, "spertmt.", op, ": `", name, "` has ", t.dim(),
              " dimensions, expected ", dim, " (", shape, ")");
}

inline void check_floating(const at::Tensor& t, const char* op, const char* name) {
  const auto st = t.scalar_type();
  TORCH_CHECK(st == at::kFloat || st == at::kDouble || st == at::kBFloat16, "spertmt.", op,
              ": `", name, "` has dtype ", st, ", expected float32, float64 or bfloat16");
}

inline void check_index(const at::Tensor& t, const char* op, const char* name) {
  TORCH_CHECK(t.scalar_type() == at::kLong || t.scalar_type() == at::kInt, "spertmt.", op, ": `",
              name, "` has dtype ", t.scalar_type(), ", expected int64 (or int32)");
}

inline void check_same_device(const at::Tensor& a, const at::Tensor& b, const char* op,
                              const char* name_a, const char* name_b) {
  TORCH_CHECK(a.device() == b.device(), "spertmt.", op, ": `", name_b, "` is on ", b.device(),
              " but `", name_a, "` is on ", a.device());
}

inline void check_size(const at::Tensor& t, int64_t dim, int64_t expected, const char* op,
                       const char* name, const char* what) {
  TORCH_CHECK(t.size(dim) == expected, "spertmt.", op, ": `", name, "` has size ", t.size(dim),
              " in dimension ", dim, " but ", what, " is ", expected);
}

// Ranges [starts, ends) must satisfy 0 <= start <= end <= limit. One reduction (and, on a GPU,
// one synchronisation) in the good case; the slow path only runs to word the error.
inline void check_ranges(const at::Tensor& starts, const at::Tensor& ends, int64_t limit,
                         const char* op, const char* starts_name, const char* ends_name,
                         const char* limit_name) {
  if (starts.numel() == 0) return;
  const auto bad = (starts < 0) | (ends < starts) | (ends > limit);
  if (!bad.any().item<bool>()) return;
  const auto first = bad.reshape(-1).nonzero()[0][0].item<int64_t>();
  const auto s = starts.reshape(-1)[first].item<int64_t>();
  const auto e = ends.reshape(-1)[first].item<int64_t>();
  TORCH_CHECK(false, "spertmt.", op, ": range ", first, " (flattened) is [", s, ", ", e,
              ") from `", starts_name, "` and `", ends_name, "`; ranges must satisfy 0 <= start <= end <= ",
              limit_name, " = ", limit, (e < s ? " (the range is reversed)" : " (out of bounds)"));
}

// The ranges of the pieces strictly between a head and a tail range: [min(ends), max(starts)),
// empty (start == end) when the two ranges touch or overlap.
inline std::pair<at::Tensor, at::Tensor> pair_context_ranges(const at::Tensor& head_ranges,
                                                             const at::Tensor& tail_ranges) {
  auto hs = head_ranges.select(-1, 0), he = head_ranges.select(-1, 1);
  auto ts = tail_ranges.select(-1, 0), te = tail_ranges.select(-1, 1);
  auto start = at::minimum(he, te);
  auto end = at::maximum(at::maximum(hs, ts), start);
  return {start.contiguous(), end.contiguous()};
}

// The (S, 2) word ranges [start, end) of every span of width 1..max_width over W words, width-major
// then start, on `device`; `offsets[w - 1]` receives the index of the first span of width w.
inline at::Tensor enumerated_span_table(int64_t W, int64_t max_width, at::Device device,
                                        std::vector<int64_t>* offsets) {
  const int64_t L = std::min(max_width, W);
  offsets->assign(L + 1, 0);
  for (int64_t w = 1; w <= L; ++w) (*offsets)[w] = (*offsets)[w - 1] + (W - w + 1);
  auto spans = at::empty({(*offsets)[L], 2}, at::TensorOptions().dtype(at::kLong));
  auto* sp = spans.data_ptr<int64_t>();
  for (int64_t w = 1; w <= L; ++w)
    for (int64_t i = 0; i + w <= W; ++i) {
      sp[2 * ((*offsets)[w - 1] + i)] = i;
      sp[2 * ((*offsets)[w - 1] + i) + 1] = i + w;
    }
  return spans.to(device);
}

// Shared checks of the three pooling entry points.
inline void check_hidden(const at::Tensor& hidden, const char* op) {
  check_dim(hidden, 3, op, "hidden", "[B, T, H]");
  check_floating(hidden, op, "hidden");
}

inline void check_batched_index(const at::Tensor& hidden, const at::Tensor& t, int64_t dim,
                                const char* op, const char* name, const char* shape) {
  check_dim(t, dim, op, name, shape);
  check_index(t, op, name);
  check_same_device(hidden, t, op, "hidden", name);
  check_size(t, 0, hidden.size(0), op, name, "the batch size of `hidden`");
}

inline void check_pair_ranges(const at::Tensor& hidden, const at::Tensor& head_ranges,
                              const at::Tensor& tail_ranges) {
  const char* op = "pair_context_max_pool";
  check_hidden(hidden, op);
  check_batched_index(hidden, head_ranges, 3, op, "head_ranges", "[B, P, 2]");
  check_batched_index(hidden, tail_ranges, 3, op, "tail_ranges", "[B, P, 2]");
  check_size(head_ranges, 2, 2, op, "head_ranges", "(start, end)");
  check_size(tail_ranges, 2, 2, op, "tail_ranges", "(start, end)");
  check_size(tail_ranges, 1, head_ranges.size(1), op, "tail_ranges",
             "the number of pairs in `head_ranges`");
  const int64_t T = hidden.size(1);
  check_ranges(head_ranges.select(-1, 0), head_ranges.select(-1, 1), T, op, "head_ranges[..., 0]",
               "head_ranges[..., 1]", "hidden.size(1)");
  check_ranges(tail_ranges.select(-1, 0), tail_ranges.select(-1, 1), T, op, "tail_ranges[..., 0]",
               "tail_ranges[..., 1]", "hidden.size(1)");
}

inline void check_span_ranges(const at::Tensor& hidden, const at::Tensor& starts,
                              const at::Tensor& ends) {
  const char* op = "span_max_pool";
  check_hidden(hidden, op);
  check_batched_index(hidden, starts, 2, op, "starts", "[B, S]");
  check_batched_index(hidden, ends, 2, op, "ends", "[B, S]");
  check_size(ends, 1, starts.size(1), op, "ends", "the number of spans in `starts`");
  check_ranges(starts, ends, hidden.size(1), op, "starts", "ends", "hidden.size(1)");
}

inline void check_word_ranges(const at::Tensor& hidden, const at::Tensor& word_starts,
                              const at::Tensor& word_ends, const at::Tensor& num_words,
                              int64_t max_width) {
  const char* op = "enumerate_span_max_pool";
  check_hidden(hidden, op);
  check_batched_index(hidden, word_starts, 2, op, "word_starts", "[B, W]");
  check_batched_index(hidden, word_ends, 2, op, "word_ends", "[B, W]");
  check_batched_index(hidden, num_words, 1, op, "num_words", "[B]");
  check_size(word_ends, 1, word_starts.size(1), op, "word_ends", "the number of words in `word_starts`");
  TORCH_CHECK(max_width >= 1, "spertmt.", op, ": `max_width` is ", max_width, ", expected >= 1");
  const int64_t W = word_starts.size(1);
  if (num_words.numel() == 0) return;
  TORCH_CHECK(!((num_words < 0) | (num_words > W)).any().item<bool>(), "spertmt.", op,
              ": `num_words` must lie in [0, W] with W = word_starts.size(1) = ", W);
  if (W == 0) return;
  // Only the real words (w < num_words[b]) are read; padding may hold anything.
  const auto real = at::arange(W, num_words.options()).unsqueeze(0) < num_words.unsqueeze(1);
  check_ranges(at::where(real, word_starts, 0), at::where(real, word_ends, 0), hidden.size(1), op,
               "word_starts", "word_ends", "hidden.size(1)");
  if (W > 1) {
    const auto both_real = real.narrow(1, 1, W - 1);
    const auto unordered = both_real & (word_starts.narrow(1, 1, W - 1) < word_ends.narrow(1, 0, W - 1));
    TORCH_CHECK(!unordered.any().item<bool>(), "spertmt.", op,
                ": words must be in order: `word_starts[b, w + 1]` must be >= `word_ends[b, w]`");
  }
}

inline void check_en_iou_inputs(const at::Tensor& candidate_spans, const at::Tensor& gold_spans,
                                const at::Tensor& gold_mask) {
  const char* op = "span_en_iou";
  check_dim(candidate_spans, 3, op, "candidate_spans", "[B, S, 2]");
  check_dim(gold_spans, 3, op, "gold_spans", "[B, G, 2]");
  check_dim(gold_mask, 2, op, "gold_mask", "[B, G]");
  check_index(candidate_spans, op, "candidate_spans");
  check_index(gold_spans, op, "gold_spans");
  TORCH_CHECK(gold_mask.scalar_type() == at::kBool, "spertmt.", op, ": `gold_mask` has dtype ",
              gold_mask.scalar_type(), ", expected bool");
  check_same_device(candidate_spans, gold_spans, op, "candidate_spans", "gold_spans");
  check_same_device(candidate_spans, gold_mask, op, "candidate_spans", "gold_mask");
  check_size(candidate_spans, 2, 2, op, "candidate_spans", "(start, end)");
  check_size(gold_spans, 2, 2, op, "gold_spans", "(start, end)");
  check_size(gold_spans, 0, candidate_spans.size(0), op, "gold_spans", "the batch size of `candidate_spans`");
  check_size(gold_mask, 0, gold_spans.size(0), op, "gold_mask", "the batch size of `gold_spans`");
  check_size(gold_mask, 1, gold_spans.size(1), op, "gold_mask", "the number of gold spans");
  const int64_t no_limit = std::numeric_limits<int64_t>::max();
  check_ranges(candidate_spans.select(-1, 0), candidate_spans.select(-1, 1), no_limit, op,
               "candidate_spans[..., 0]", "candidate_spans[..., 1]", "int64 max");
  check_ranges(at::where(gold_mask, gold_spans.select(-1, 0), 0),
               at::where(gold_mask, gold_spans.select(-1, 1), 0), no_limit, op,
               "gold_spans[..., 0]", "gold_spans[..., 1]", "int64 max");
}

// logits, targets and en_iou: one value per sample, same shape, floating point.
inline void check_bce_inputs(const at::Tensor& logits, const at::Tensor& targets,
                             const at::Tensor& en_iou, double delta) {
  const char* op = "iou_scaled_bce";
  check_floating(logits, op, "logits");
  check_floating(targets, op, "targets");
  check_floating(en_iou, op, "en_iou");
  TORCH_CHECK(targets.sizes() == logits.sizes(), "spertmt.", op, ": `targets` has shape ",
              targets.sizes(), " but `logits` has shape ", logits.sizes());
  TORCH_CHECK(en_iou.sizes() == logits.sizes(), "spertmt.", op, ": `en_iou` has shape ",
              en_iou.sizes(), " but `logits` has shape ", logits.sizes());
  check_same_device(logits, targets, op, "logits", "targets");
  check_same_device(logits, en_iou, op, "logits", "en_iou");
  TORCH_CHECK(delta >= 0.0 && delta <= 1.0, "spertmt.", op, ": `delta` is ", delta,
              ", expected a weight in [0, 1]");
}

// scores [N, C] floating, gold [N, C] bool (a multi-hot of the gold classes; none = all false).
inline void check_ranking_inputs(const at::Tensor& scores, const at::Tensor& gold) {
  const char* op = "ranking_loss";
  check_dim(scores, 2, op, "scores", "[N, C]");
  check_floating(scores, op, "scores");
  TORCH_CHECK(gold.scalar_type() == at::kBool, "spertmt.", op, ": `gold` has dtype ",
              gold.scalar_type(), ", expected bool [N, C]");
  TORCH_CHECK(gold.sizes() == scores.sizes(), "spertmt.", op, ": `gold` has shape ", gold.sizes(),
              " but `scores` has shape ", scores.sizes());
  check_same_device(scores, gold, op, "scores", "gold");
}

// Shared by both backends' max_pool_backward.
inline void check_max_pool_backward(const at::Tensor& grad_out, const at::Tensor& argmax,
                                    int64_t num_pieces) {
  const char* op = "max_pool_backward";
  check_dim(grad_out, 3, op, "grad_out", "[B, S, H]");
  check_floating(grad_out, op, "grad_out");
  TORCH_CHECK(argmax.sizes() == grad_out.sizes(), "spertmt.", op, ": `argmax` has shape ",
              argmax.sizes(), " but `grad_out` has shape ", grad_out.sizes(),
              " (was the forward run with with_argmax=False?)");
  TORCH_CHECK(argmax.scalar_type() == at::kLong, "spertmt.", op, ": `argmax` must be int64");
  check_same_device(grad_out, argmax, op, "grad_out", "argmax");
  TORCH_CHECK(num_pieces >= 0, "spertmt.", op, ": `num_pieces` must be >= 0");
}

}  // namespace spertmt
