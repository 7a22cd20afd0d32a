// CPU kernels of the max-pooling ops: span_max_pool, enumerate_span_max_pool,
// pair_context_max_pool and their shared backward. Memory is O(S * H): ranges are read, never
// expanded into [B, S, T, H] masks.

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <atomic>
#include <vector>

#include "../common.h"
#include "../kernel_math.h"

namespace spertmt {
namespace {

// Rows of H values handled per parallel task: enough work to amortise the task's setup.
constexpr int64_t kGrainRows = 16;

// Running max over pieces [from, to) of one batch element, H columns at a time (tie and NaN rule:
// takes_max). `have`: a piece was taken already (the same for every column). `idx` (the argmax
// per column) is null at inference: the loop then has no index to carry and vectorises.
template <typename scalar_t, typename acc_t>
inline void extend_max(const scalar_t* hidden_b, int64_t from, int64_t to, int64_t H, acc_t* best,
                       int64_t* idx, bool& have) {
  for (int64_t p = from; p < to; ++p) {
    const scalar_t* row = hidden_b + p * H;
    if (!have) {
      for (int64_t h = 0; h < H; ++h) best[h] = static_cast<acc_t>(row[h]);
      if (idx != nullptr) std::fill(idx, idx + H, p);
      have = true;
    } else if (idx != nullptr) {
      for (int64_t h = 0; h < H; ++h) {
        const acc_t v = static_cast<acc_t>(row[h]);
        const bool take = takes_max(v, best[h], true);
        best[h] = take ? v : best[h];
        idx[h] = take ? p : idx[h];
      }
    } else {
      for (int64_t h = 0; h < H; ++h) {
        const acc_t v = static_cast<acc_t>(row[h]);
        best[h] = takes_max(v, best[h], true) ? v : best[h];
      }
    }
  }
}

// One pooled row (zeros, and argmax -1, where no piece was taken).
template <typename scalar_t, typename acc_t>
inline void write_row(const acc_t* best, const int64_t* idx, bool have, int64_t H, scalar_t* out,
                      int64_t* argmax) {
  if (have) {
    for (int64_t h = 0; h < H; ++h) out[h] = static_cast<scalar_t>(best[h]);
  } else {
    std::fill(out, out + H, scalar_t(0));
  }
  if (argmax != nullptr) {
    if (have) std::copy(idx, idx + H, argmax);
    else std::fill(argmax, argmax + H, int64_t(-1));
  }
}

// out[b, s] = max of hidden[b, starts[b, s] : ends[b, s]] for already validated int64 ranges.
std::tuple<at::Tensor, at::Tensor> pool_ranges(const at::Tensor& hidden_in, const at::Tensor& starts_in,
                                               const at::Tensor& ends_in, bool with_argmax) {
  const auto hidden = hidden_in.contiguous();
  const auto starts = starts_in.to(at::kLong).contiguous();
  const auto ends = ends_in.to(at::kLong).contiguous();
  const int64_t B = hidden.size(0), T = hidden.size(1), H = hidden.size(2), S = starts.size(1);
  auto out = at::empty({B, S, H}, hidden.options());
  auto argmax = with_argmax ? at::empty({B, S, H}, starts.options()) : at::empty({0}, starts.options());
  if (B * S * H == 0) return {out.zero_(), argmax.fill_(-1)};
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, hidden.scalar_type(), "span_max_pool_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* hid = hidden.data_ptr<scalar_t>();
    const int64_t* st = starts.data_ptr<int64_t>();
    const int64_t* en = ends.data_ptr<int64_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    int64_t* am = with_argmax ? argmax.data_ptr<int64_t>() : nullptr;
    at::parallel_for(0, B * S, kGrainRows, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> best(H);
      std::vector<int64_t> idx(am ? H : 0);
      int64_t* ix = am ? idx.data() : nullptr;
      for (int64_t bs = begin; bs < end; ++bs) {
        bool have = false;
        extend_max(hid + (bs / S) * T * H, st[bs], en[bs], H, best.data(), ix, have);
        write_row(best.data(), ix, have, H, o + bs * H, am ? am + bs * H : nullptr);
      }
    });
  });
  return {out, argmax};
}

std::tuple<at::Tensor, at::Tensor> span_max_pool_cpu(const at::Tensor& hidden, const at::Tensor& starts,
                                                     const at::Tensor& ends, bool with_argmax) {
  check_span_ranges(hidden, starts, ends);
  return pool_ranges(hidden, starts, ends, with_argmax);
}

std::tuple<at::Tensor, at::Tensor> pair_context_max_pool_cpu(const at::Tensor& hidden,
                                                             const at::Tensor& head_ranges,
                                                             const at::Tensor& tail_ranges,
                                                             bool with_argmax) {
  check_pair_ranges(hidden, head_ranges, tail_ranges);
  const auto ranges = pair_context_ranges(head_ranges.to(at::kLong), tail_ranges.to(at::kLong));
  return pool_ranges(hidden, ranges.first, ranges.second, with_argmax);
}

// Every word span of width 1..max_width, grown one word at a time from each start word:
// pool(i..j) = max(pool(i..j-1), pieces up to the end of word j).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> enumerate_span_max_pool_cpu(
    const at::Tensor& hidden_in, const at::Tensor& word_starts_in, const at::Tensor& word_ends_in,
    const at::Tensor& num_words_in, int64_t max_width, bool with_argmax) {
  check_word_ranges(hidden_in, word_starts_in, word_ends_in, num_words_in, max_width);
  const auto hidden = hidden_in.contiguous();
  const auto ws = word_starts_in.to(at::kLong).contiguous();
  const auto we = word_ends_in.to(at::kLong).contiguous();
  const auto nw = num_words_in.to(at::kLong).contiguous();
  const int64_t B = hidden.size(0), T = hidden.size(1), H = hidden.size(2), W = ws.size(1);
  const int64_t L = std::min(max_width, W);
  std::vector<int64_t> offsets;
  auto spans = enumerated_span_table(W, max_width, hidden.device(), &offsets);
  const int64_t S = spans.size(0);
  auto mask = spans.select(1, 1).unsqueeze(0) <= nw.unsqueeze(1);

  auto out = at::empty({B, S, H}, hidden.options());
  auto argmax = with_argmax ? at::empty({B, S, H}, ws.options()) : at::empty({0}, ws.options());
  if (B * S * H == 0) return {out.zero_(), argmax.fill_(-1), spans, mask};
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, hidden.scalar_type(), "enumerate_span_max_pool_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* hid = hidden.data_ptr<scalar_t>();
    const int64_t* wsp = ws.data_ptr<int64_t>();
    const int64_t* wep = we.data_ptr<int64_t>();
    const int64_t* nwp = nw.data_ptr<int64_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    int64_t* am = with_argmax ? argmax.data_ptr<int64_t>() : nullptr;
    at::parallel_for(0, B * W, 1, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> best(H);
      std::vector<int64_t> idx(am ? H : 0);
      int64_t* ix = am ? idx.data() : nullptr;
      for (int64_t bi = begin; bi < end; ++bi) {
        const int64_t b = bi / W, i = bi % W;
        const scalar_t* hid_b = hid + b * T * H;
        bool have = false;
        int64_t covered = i < nwp[b] ? wsp[bi] : 0;
        for (int64_t w = 1; w <= L && i + w <= W; ++w) {
          const int64_t j = i + w - 1;
          const int64_t row = b * S + offsets[w - 1] + i;
          if (j >= nwp[b]) {  // span runs into padding: not a candidate
            std::fill(o + row * H, o + (row + 1) * H, scalar_t(0));
            if (am) std::fill(am + row * H, am + (row + 1) * H, int64_t(-1));
            continue;
          }
          const int64_t to = wep[b * W + j];
          if (to > covered) {
            extend_max(hid_b, covered, to, H, best.data(), ix, have);
            covered = to;
          }
          write_row(best.data(), ix, have, H, o + row * H, am ? am + row * H : nullptr);
        }
      }
    });
  });
  return {out, argmax, spans, mask};
}

// grad_hidden[b, argmax[b, s, h], h] += grad_out[b, s, h]. Each task owns a block of columns
// of one batch element, so no two tasks write the same element and the sum order is fixed.
at::Tensor max_pool_backward_cpu(const at::Tensor& grad_out_in, const at::Tensor& argmax_in,
                                 int64_t num_pieces) {
  check_max_pool_backward(grad_out_in, argmax_in, num_pieces);
  const auto grad_out = grad_out_in.contiguous();
  const auto argmax = argmax_in.contiguous();
  const int64_t B = grad_out.size(0), S = grad_out.size(1), H = grad_out.size(2), T = num_pieces;
  auto grad_hidden = at::empty({B, T, H}, grad_out.options());
  if (grad_hidden.numel() == 0) return grad_hidden;
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (H + kBlock - 1) / kBlock;
  std::atomic<bool> out_of_range{false};
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, grad_out.scalar_type(), "max_pool_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* g = grad_out.data_ptr<scalar_t>();
    const int64_t* am = argmax.data_ptr<int64_t>();
    scalar_t* gh = grad_hidden.data_ptr<scalar_t>();
    at::parallel_for(0, B * blocks, 1, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> acc;
      for (int64_t task = begin; task < end; ++task) {
        const int64_t b = task / blocks, h0 = (task % blocks) * kBlock, hb = std::min(kBlock, H - h0);
        acc.assign(T * hb, acc_t(0));
        for (int64_t s = 0; s < S; ++s) {
          const int64_t base = (b * S + s) * H + h0;
          for (int64_t h = 0; h < hb; ++h) {
            const int64_t p = am[base + h];
            if (p < 0) continue;
            if (p >= T) {
              out_of_range = true;
              continue;
            }
            acc[p * hb + h] += static_cast<acc_t>(g[base + h]);
          }
        }
        for (int64_t t = 0; t < T; ++t)
          for (int64_t h = 0; h < hb; ++h)
            gh[(b * T + t) * H + h0 + h] = static_cast<scalar_t>(acc[t * hb + h]);
      }
    });
  });
  TORCH_CHECK(!out_of_range, "spertmt.max_pool_backward", ": `argmax` holds a piece index >= num_pieces = ", T);
  return grad_hidden;
}

}  // namespace

TORCH_LIBRARY_IMPL(spertmt, CPU, m) {
  m.impl("span_max_pool", &span_max_pool_cpu);
  m.impl("enumerate_span_max_pool", &enumerate_span_max_pool_cpu);
  m.impl("pair_context_max_pool", &pair_context_max_pool_cpu);
  m.impl("max_pool_backward", &max_pool_backward_cpu);
}

}  // namespace spertmt
