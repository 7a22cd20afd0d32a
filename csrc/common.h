// What the CPU and CUDA backends share: argument checks, whose messages name the argument (a user
// reading "spertmt.span_max_pool: `ends` has 3 dimensions, expected 2 ([B, S])" knows what to fix),
// and the small host-side helpers both need (index tensors read on the host, the enumerated span
// table, a dtype dispatch).
//
// Everything here is on the LibTorch stable ABI (torch/csrc/stable, torch/headeronly), targeting
// torch 2.10: one library loads into every torch release from 2.10 on. Every source includes this
// header before any other torch header, and none includes ATen or c10 (tests/ops/test_build.py
// checks the built library for their symbols).
#pragma once

// The oldest torch whose stable ABI we use ((major << 56) | (minor << 48)); newer releases keep it.
#ifndef TORCH_TARGET_VERSION
#define TORCH_TARGET_VERSION 0x020a000000000000ULL
#endif
// nvcc: the CUDA part of the C shim (the current stream) is declared under USE_CUDA.
#if defined(__CUDACC__) && !defined(USE_CUDA)
#define USE_CUDA
#endif

#include <torch/csrc/stable/library.h>
#include <torch/csrc/stable/ops.h>
#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/ScalarType.h>
#include <torch/headeronly/util/BFloat16.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace spertmt {

using torch::headeronly::ScalarType;
using torch::stable::Tensor;
using BFloat16 = torch::headeronly::BFloat16;

// Raises a RuntimeError in Python whose text is the message alone (STD_TORCH_CHECK would put the
// C++ function, file and line first; the message already names the op and the argument).
template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  std::ostringstream message;
  ((message << args), ...);
  throw std::runtime_error(message.str());
}

#define SPERTMT_CHECK(cond, ...) \
  if (!(cond)) ::spertmt::fail(__VA_ARGS__)

// Python's names for dtypes ("float32", not "Float"): what a user of torch reads.
inline const char* dtype_name(ScalarType st) {
  switch (st) {
    case ScalarType::Float: return "float32";
    case ScalarType::Double: return "float64";
    case ScalarType::Half: return "float16";
    case ScalarType::BFloat16: return "bfloat16";
    case ScalarType::Long: return "int64";
    case ScalarType::Int: return "int32";
    case ScalarType::Short: return "int16";
    case ScalarType::Char: return "int8";
    case ScalarType::Byte: return "uint8";
    case ScalarType::Bool: return "bool";
    default: return torch::headeronly::toString(st);
  }
}

inline std::string device_name(const Tensor& t) {
  const auto device = t.device();
  std::string name = device.is_cpu() ? "cpu" : device.is_cuda() ? "cuda" : "another device";
  if (device.has_index() && !device.is_cpu()) name += ":" + std::to_string(device.index());
  return name;
}

inline std::string shape_of(const Tensor& t) {
  std::ostringstream s;
  s << '[';
  for (int64_t d = 0; d < t.dim(); ++d) s << (d ? ", " : "") << t.size(d);
  s << ']';
  return s.str();
}

inline bool same_shape(const Tensor& a, const Tensor& b) {
  if (a.dim() != b.dim()) return false;
  for (int64_t d = 0; d < a.dim(); ++d)
    if (a.size(d) != b.size(d)) return false;
  return true;
}

// The types the kernels accumulate in: float for bfloat16, the type itself otherwise.
template <typename T>
struct OpMath {
  using type = T;
};
template <>
struct OpMath<BFloat16> {
  using type = float;
};
template <typename T>
using opmath_t = typename OpMath<T>::type;

// Calls f(scalar_t{}) for the floating types every kernel takes (float32, float64, bfloat16).
template <typename F>
void dispatch_floating(ScalarType st, const char* op, F&& f) {
  switch (st) {
    case ScalarType::Float: f(float{}); break;
    case ScalarType::Double: f(double{}); break;
    case ScalarType::BFloat16: f(BFloat16{}); break;
    default: fail("spertmt.", op, ": no kernel for dtype ", dtype_name(st));
  }
}

// --------------------------------------------------------------------------------------------
// Conversions that cost nothing when the tensor already is what the kernel reads.

inline Tensor as_dtype(const Tensor& t, ScalarType st) {
  return t.scalar_type() == st ? t : torch::stable::to(t, st);
}

inline Tensor as_contiguous(const Tensor& t) {
  return t.is_contiguous() ? t : torch::stable::contiguous(t);
}

// An index tensor as contiguous int64 on its own device (what a kernel reads).
inline Tensor long_contiguous(const Tensor& t) { return as_contiguous(as_dtype(t, ScalarType::Long)); }

inline torch::stable::Device cpu() { return torch::stable::Device(torch::headeronly::DeviceType::CPU); }

// A tensor as contiguous on the CPU, for the checks to read (a copy from a GPU: the checks need
// the values, as the ranges decide which memory a kernel reads); index tensors as int64.
inline Tensor host_copy(const Tensor& t) { return as_contiguous(t.is_cpu() ? t : torch::stable::to(t, cpu())); }
inline Tensor host_long(const Tensor& t) { return host_copy(as_dtype(t, ScalarType::Long)); }

inline Tensor empty(std::vector<int64_t> shape, ScalarType st, const Tensor& like) {
  return torch::stable::empty(shape, st, std::nullopt, like.device());
}

inline Tensor empty_cpu(std::vector<int64_t> shape, ScalarType st) {
  return torch::stable::empty(shape, st, std::nullopt, cpu());
}

inline Tensor zeros(std::vector<int64_t> shape, ScalarType st, const Tensor& like) {
  Tensor t = empty(std::move(shape), st, like);
  torch::stable::zero_(t);
  return t;
}

// --------------------------------------------------------------------------------------------
// Argument checks.

inline void check_dim(const Tensor& t, int64_t dim, const char* op, const char* name, const char* shape) {
  SPERTMT_CHECK(t.dim() == dim, "spertmt.", op, ": `", name, "` has ", t.dim(), " dimensions, expected ", dim,
                " (", shape, ")");
}

inline void check_floating(const Tensor& t, const char* op, const char* name) {
  const auto st = t.scalar_type();
  SPERTMT_CHECK(st == ScalarType::Float || st == ScalarType::Double || st == ScalarType::BFloat16, "spertmt.",
                op, ": `", name, "` has dtype ", dtype_name(st), ", expected float32, float64 or bfloat16");
}

inline void check_index(const Tensor& t, const char* op, const char* name) {
  const auto st = t.scalar_type();
  SPERTMT_CHECK(st == ScalarType::Long || st == ScalarType::Int, "spertmt.", op, ": `", name, "` has dtype ",
                dtype_name(st), ", expected int64 (or int32)");
}

inline void check_bool(const Tensor& t, const char* op, const char* name, const char* shape) {
  SPERTMT_CHECK(t.scalar_type() == ScalarType::Bool, "spertmt.", op, ": `", name, "` has dtype ",
                dtype_name(t.scalar_type()), ", expected bool ", shape);
}

inline void check_same_device(const Tensor& a, const Tensor& b, const char* op, const char* name_a,
                              const char* name_b) {
  SPERTMT_CHECK(a.device() == b.device(), "spertmt.", op, ": `", name_b, "` is on ", device_name(b), " but `",
                name_a, "` is on ", device_name(a));
}

inline void check_size(const Tensor& t, int64_t dim, int64_t expected, const char* op, const char* name,
                       const char* what) {
  SPERTMT_CHECK(t.size(dim) == expected, "spertmt.", op, ": `", name, "` has size ", t.size(dim),
                " in dimension ", dim, " but ", what, " is ", expected);
}

inline void check_same_shape(const Tensor& a, const Tensor& b, const char* op, const char* name_a,
                             const char* name_b) {
  SPERTMT_CHECK(same_shape(a, b), "spertmt.", op, ": `", name_b, "` has shape ", shape_of(b), " but `", name_a,
                "` has shape ", shape_of(a));
}

// Ranges [starts[k * step], ends[k * step]) for k < n must satisfy 0 <= start <= end <= limit;
// `real` (null: all) picks the ranges that are read. The message names the first bad range.
inline void check_ranges(const int64_t* starts, const int64_t* ends, int64_t n, int64_t step, const bool* real,
                         int64_t limit, const char* op, const char* starts_name, const char* ends_name,
                         const char* limit_name) {
  for (int64_t k = 0; k < n; ++k) {
    if (real != nullptr && !real[k]) continue;
    const int64_t s = starts[k * step], e = ends[k * step];
    if (s >= 0 && e >= s && e <= limit) continue;
    fail("spertmt.", op, ": range ", k, " (flattened) is [", s, ", ", e, ") from `", starts_name, "` and `",
         ends_name, "`; ranges must satisfy 0 <= start <= end <= ", limit_name, " = ", limit,
         (e < s ? " (the range is reversed)" : " (out of bounds)"));
  }
}

// What a pooling op over S spans returns: [B, S, H] pooled values like `hidden` and, for the
// backward, their [B, S, H] int64 arg-max (an empty tensor when `with_argmax` is false, at
// inference). `none`: there is nothing to pool (B * S * H = 0); the outputs then hold their final
// values (zeros, arg-max -1) and no kernel runs. Hidden, as torch::stable::Tensor is.
struct __attribute__((visibility("hidden"))) PoolOutputs {
  Tensor out;
  Tensor argmax;
  bool none;
};

inline PoolOutputs pool_outputs(const Tensor& hidden, int64_t S, bool with_argmax) {
  const int64_t B = hidden.size(0), H = hidden.size(2);
  PoolOutputs pooled{empty({B, S, H}, hidden.scalar_type(), hidden),
                     with_argmax ? empty({B, S, H}, ScalarType::Long, hidden) : empty({0}, ScalarType::Long, hidden),
                     B * S * H == 0};
  if (pooled.none) {
    torch::stable::zero_(pooled.out);
    torch::stable::fill_(pooled.argmax, -1);
  }
  return pooled;
}

// The (S, 2) word ranges [start, end) of every span of width 1..max_width over W words, width-major
// then start, on the CPU; `offsets[w - 1]` receives the index of the first span of width w.
inline Tensor enumerated_span_table(int64_t W, int64_t max_width, std::vector<int64_t>* offsets) {
  const int64_t L = std::min(max_width, W);
  offsets->assign(L + 1, 0);
  for (int64_t w = 1; w <= L; ++w) (*offsets)[w] = (*offsets)[w - 1] + (W - w + 1);
  Tensor spans = empty_cpu({(*offsets)[L], 2}, ScalarType::Long);
  auto* sp = spans.mutable_data_ptr<int64_t>();
  for (int64_t w = 1; w <= L; ++w)
    for (int64_t i = 0; i + w <= W; ++i) {
      sp[2 * ((*offsets)[w - 1] + i)] = i;
      sp[2 * ((*offsets)[w - 1] + i) + 1] = i + w;
    }
  return spans;
}

// mask[b, s]: span s ends inside document b (end <= num_words[b]); on the CPU.
inline Tensor enumerated_span_mask(const Tensor& spans, const Tensor& num_words_host) {
  const int64_t B = num_words_host.size(0), S = spans.size(0);
  Tensor mask = empty_cpu({B, S}, ScalarType::Bool);
  bool* m = mask.mutable_data_ptr<bool>();
  const int64_t* sp = spans.const_data_ptr<int64_t>();
  const int64_t* nw = num_words_host.const_data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s) m[b * S + s] = sp[2 * s + 1] <= nw[b];
  return mask;
}

// --------------------------------------------------------------------------------------------
// The checks of each op, shared by both backends. Shapes, dtypes and devices first, on the
// tensors as given; then the ranges, read on the host from the int64 copies the caller made.

inline void check_hidden(const Tensor& hidden, const char* op) {
  check_dim(hidden, 3, op, "hidden", "[B, T, H]");
  check_floating(hidden, op, "hidden");
}

inline void check_batched_index(const Tensor& hidden, const Tensor& t, int64_t dim, const char* op,
                                const char* name, const char* shape) {
  check_dim(t, dim, op, name, shape);
  check_index(t, op, name);
  check_same_device(hidden, t, op, "hidden", name);
  check_size(t, 0, hidden.size(0), op, name, "the batch size of `hidden`");
}

inline void check_span_args(const Tensor& hidden, const Tensor& starts, const Tensor& ends) {
  const char* op = "span_max_pool";
  check_hidden(hidden, op);
  check_batched_index(hidden, starts, 2, op, "starts", "[B, S]");
  check_batched_index(hidden, ends, 2, op, "ends", "[B, S]");
  check_size(ends, 1, starts.size(1), op, "ends", "the number of spans in `starts`");
}

inline void check_span_ranges(const Tensor& hidden, const Tensor& starts_host, const Tensor& ends_host) {
  check_ranges(starts_host.const_data_ptr<int64_t>(), ends_host.const_data_ptr<int64_t>(), starts_host.numel(), 1,
               nullptr, hidden.size(1), "span_max_pool", "starts", "ends", "hidden.size(1)");
}

inline void check_pair_args(const Tensor& hidden, const Tensor& head_ranges, const Tensor& tail_ranges) {
  const char* op = "pair_context_max_pool";
  check_hidden(hidden, op);
  check_batched_index(hidden, head_ranges, 3, op, "head_ranges", "[B, P, 2]");
  check_batched_index(hidden, tail_ranges, 3, op, "tail_ranges", "[B, P, 2]");
  check_size(head_ranges, 2, 2, op, "head_ranges", "(start, end)");
  check_size(tail_ranges, 2, 2, op, "tail_ranges", "(start, end)");
  check_size(tail_ranges, 1, head_ranges.size(1), op, "tail_ranges", "the number of pairs in `head_ranges`");
}

inline void check_pair_ranges(const Tensor& hidden, const Tensor& head_host, const Tensor& tail_host) {
  const char* op = "pair_context_max_pool";
  const int64_t T = hidden.size(1), n = head_host.numel() / 2;
  const int64_t* h = head_host.const_data_ptr<int64_t>();
  const int64_t* t = tail_host.const_data_ptr<int64_t>();
  check_ranges(h, h + 1, n, 2, nullptr, T, op, "head_ranges[..., 0]", "head_ranges[..., 1]", "hidden.size(1)");
  check_ranges(t, t + 1, n, 2, nullptr, T, op, "tail_ranges[..., 0]", "tail_ranges[..., 1]", "hidden.size(1)");
}

inline void check_word_args(const Tensor& hidden, const Tensor& word_starts, const Tensor& word_ends,
                            const Tensor& num_words, int64_t max_width) {
  const char* op = "enumerate_span_max_pool";
  check_hidden(hidden, op);
  check_batched_index(hidden, word_starts, 2, op, "word_starts", "[B, W]");
  check_batched_index(hidden, word_ends, 2, op, "word_ends", "[B, W]");
  check_batched_index(hidden, num_words, 1, op, "num_words", "[B]");
  check_size(word_ends, 1, word_starts.size(1), op, "word_ends", "the number of words in `word_starts`");
  SPERTMT_CHECK(max_width >= 1, "spertmt.", op, ": `max_width` is ", max_width, ", expected >= 1");
}

// Only the real words (w < num_words[b]) are read; padding may hold anything.
inline void check_word_ranges(const Tensor& hidden, const Tensor& starts_host, const Tensor& ends_host,
                              const Tensor& num_words_host) {
  const char* op = "enumerate_span_max_pool";
  const int64_t B = starts_host.size(0), W = starts_host.size(1), T = hidden.size(1);
  const int64_t* ws = starts_host.const_data_ptr<int64_t>();
  const int64_t* we = ends_host.const_data_ptr<int64_t>();
  const int64_t* nw = num_words_host.const_data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b)
    SPERTMT_CHECK(nw[b] >= 0 && nw[b] <= W, "spertmt.", op,
                  ": `num_words` must lie in [0, W] with W = word_starts.size(1) = ", W, " (num_words[", b,
                  "] is ", nw[b], ")");
  std::unique_ptr<bool[]> real(new bool[B * W]);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t w = 0; w < W; ++w) real[b * W + w] = w < nw[b];
  check_ranges(ws, we, B * W, 1, real.get(), T, op, "word_starts", "word_ends", "hidden.size(1)");
  for (int64_t b = 0; b < B; ++b)
    for (int64_t w = 0; w + 1 < nw[b]; ++w)
      SPERTMT_CHECK(ws[b * W + w + 1] >= we[b * W + w], "spertmt.", op,
                    ": words must be in order: `word_starts[b, w + 1]` must be >= `word_ends[b, w]` (b = ", b,
                    ", w = ", w, ")");
}

inline void check_en_iou_args(const Tensor& candidate_spans, const Tensor& gold_spans, const Tensor& gold_mask) {
  const char* op = "span_en_iou";
  check_dim(candidate_spans, 3, op, "candidate_spans", "[B, S, 2]");
  check_dim(gold_spans, 3, op, "gold_spans", "[B, G, 2]");
  check_dim(gold_mask, 2, op, "gold_mask", "[B, G]");
  check_index(candidate_spans, op, "candidate_spans");
  check_index(gold_spans, op, "gold_spans");
  check_bool(gold_mask, op, "gold_mask", "[B, G]");
  check_same_device(candidate_spans, gold_spans, op, "candidate_spans", "gold_spans");
  check_same_device(candidate_spans, gold_mask, op, "candidate_spans", "gold_mask");
  check_size(candidate_spans, 2, 2, op, "candidate_spans", "(start, end)");
  check_size(gold_spans, 2, 2, op, "gold_spans", "(start, end)");
  check_size(gold_spans, 0, candidate_spans.size(0), op, "gold_spans", "the batch size of `candidate_spans`");
  check_size(gold_mask, 0, gold_spans.size(0), op, "gold_mask", "the batch size of `gold_spans`");
  check_size(gold_mask, 1, gold_spans.size(1), op, "gold_mask", "the number of gold spans");
}

inline void check_en_iou_ranges(const Tensor& cand_host, const Tensor& gold_host, const Tensor& mask_host) {
  const char* op = "span_en_iou";
  const int64_t no_limit = std::numeric_limits<int64_t>::max();
  const int64_t* c = cand_host.const_data_ptr<int64_t>();
  const int64_t* g = gold_host.const_data_ptr<int64_t>();
  check_ranges(c, c + 1, cand_host.numel() / 2, 2, nullptr, no_limit, op, "candidate_spans[..., 0]",
               "candidate_spans[..., 1]", "int64 max");
  check_ranges(g, g + 1, gold_host.numel() / 2, 2, mask_host.const_data_ptr<bool>(), no_limit, op,
               "gold_spans[..., 0]", "gold_spans[..., 1]", "int64 max");
}

// logits, targets and en_iou: one value per sample, same shape, floating point.
inline void check_bce_args(const Tensor& logits, const Tensor& targets, const Tensor& en_iou, double delta) {
  const char* op = "iou_scaled_bce";
  check_floating(logits, op, "logits");
  check_floating(targets, op, "targets");
  check_floating(en_iou, op, "en_iou");
  check_same_shape(logits, targets, op, "logits", "targets");
  check_same_shape(logits, en_iou, op, "logits", "en_iou");
  check_same_device(logits, targets, op, "logits", "targets");
  check_same_device(logits, en_iou, op, "logits", "en_iou");
  SPERTMT_CHECK(delta >= 0.0 && delta <= 1.0, "spertmt.", op, ": `delta` is ", delta,
                ", expected a weight in [0, 1]");
}

// scores [N, C] floating, gold [N, C] bool (a multi-hot of the gold classes; none = all false).
inline void check_ranking_args(const Tensor& scores, const Tensor& gold) {
  const char* op = "ranking_loss";
  check_dim(scores, 2, op, "scores", "[N, C]");
  check_floating(scores, op, "scores");
  check_bool(gold, op, "gold", "[N, C]");
  check_same_shape(scores, gold, op, "scores", "gold");
  check_same_device(scores, gold, op, "scores", "gold");
}

// The incoming gradient of a backward op: one value per output, or a single value for all.
inline void check_grad(const Tensor& grad, int64_t numel, const Tensor& like, const char* op) {
  SPERTMT_CHECK(grad.numel() == numel || grad.numel() == 1, "spertmt.", op, ": `grad` has ", grad.numel(),
                " elements, expected ", numel, " (one per output) or 1");
  check_floating(grad, op, "grad");
  check_same_device(like, grad, op, "the inputs", "grad");
}

// Shared by both backends' max_pool_backward.
inline void check_max_pool_backward(const Tensor& grad_out, const Tensor& argmax, int64_t num_pieces) {
  const char* op = "max_pool_backward";
  check_dim(grad_out, 3, op, "grad_out", "[B, S, H]");
  check_floating(grad_out, op, "grad_out");
  SPERTMT_CHECK(same_shape(argmax, grad_out), "spertmt.", op, ": `argmax` has shape ", shape_of(argmax),
                " but `grad_out` has shape ", shape_of(grad_out), " (was the forward run with with_argmax=False?)");
  SPERTMT_CHECK(argmax.scalar_type() == ScalarType::Long, "spertmt.", op, ": `argmax` must be int64");
  check_same_device(grad_out, argmax, op, "grad_out", "argmax");
  SPERTMT_CHECK(num_pieces >= 0, "spertmt.", op, ": `num_pieces` must be >= 0");
}

}  // namespace spertmt
