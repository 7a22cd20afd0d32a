// CPU kernels of the max-pooling ops: span_max_pool, enumerate_span_max_pool,
// pair_context_max_pool and their shared backward. Memory is O(S * H): ranges are read, never
// expanded into [B, S, T, H] masks.

#include <atomic>
#include <tuple>
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

// out[b, s] = max of hidden[b, from : to) with (from, to) = range_of(b * S + s), for validated ranges.
template <typename RangeOf>
std::tuple<Tensor, Tensor> pool_ranges(const Tensor& hidden_in, int64_t S, bool with_argmax, const RangeOf& range_of,
                                       const char* op) {
  const Tensor hidden = as_contiguous(hidden_in);
  const int64_t B = hidden.size(0), T = hidden.size(1), H = hidden.size(2);
  const PoolOutputs pooled = pool_outputs(hidden, S, with_argmax);
  if (pooled.none) return {pooled.out, pooled.argmax};
  dispatch_floating(hidden.scalar_type(), op, [&](auto tag) {
    using scalar_t = decltype(tag);
    using acc_t = opmath_t<scalar_t>;
    const scalar_t* hid = hidden.const_data_ptr<scalar_t>();
    scalar_t* o = pooled.out.mutable_data_ptr<scalar_t>();
    int64_t* am = with_argmax ? pooled.argmax.mutable_data_ptr<int64_t>() : nullptr;
    torch::stable::parallel_for(0, B * S, kGrainRows, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> best(H);
      std::vector<int64_t> idx(am ? H : 0);
      int64_t* ix = am ? idx.data() : nullptr;
      for (int64_t bs = begin; bs < end; ++bs) {
        bool have = false;
        int64_t from, to;
        range_of(bs, from, to);
        extend_max(hid + (bs / S) * T * H, from, to, H, best.data(), ix, have);
        write_row(best.data(), ix, have, H, o + bs * H, am ? am + bs * H : nullptr);
      }
    });
  });
  return {pooled.out, pooled.argmax};
}

std::tuple<Tensor, Tensor> span_max_pool_cpu(Tensor hidden, Tensor starts_in, Tensor ends_in, bool with_argmax) {
  check_span_args(hidden, starts_in, ends_in);
  const Tensor starts = long_contiguous(starts_in), ends = long_contiguous(ends_in);
  check_span_ranges(hidden, starts, ends);
  const int64_t* st = starts.const_data_ptr<int64_t>();
  const int64_t* en = ends.const_data_ptr<int64_t>();
  return pool_ranges(hidden, starts.size(1), with_argmax, [&](int64_t k, int64_t& from, int64_t& to) {
    from = st[k];
    to = en[k];
  }, "span_max_pool");
}

std::tuple<Tensor, Tensor> pair_context_max_pool_cpu(Tensor hidden, Tensor head_in, Tensor tail_in,
                                                     bool with_argmax) {
  check_pair_args(hidden, head_in, tail_in);
  const Tensor head = long_contiguous(head_in), tail = long_contiguous(tail_in);
  check_pair_ranges(hidden, head, tail);
  const int64_t* h = head.const_data_ptr<int64_t>();
  const int64_t* t = tail.const_data_ptr<int64_t>();
  return pool_ranges(hidden, head.size(1), with_argmax, [&](int64_t k, int64_t& from, int64_t& to) {
    context_range(h[2 * k], h[2 * k + 1], t[2 * k], t[2 * k + 1], from, to);
  }, "pair_context_max_pool");
}

// Every word span of width 1..max_width, grown one word at a time from each start word:
// pool(i..j) = max(pool(i..j-1), pieces up to the end of word j).
std::tuple<Tensor, Tensor, Tensor, Tensor> enumerate_span_max_pool_cpu(Tensor hidden_in, Tensor word_starts_in,
                                                                       Tensor word_ends_in, Tensor num_words_in,
                                                                       int64_t max_width, bool with_argmax) {
  check_word_args(hidden_in, word_starts_in, word_ends_in, num_words_in, max_width);
  const Tensor ws = long_contiguous(word_starts_in), we = long_contiguous(word_ends_in);
  const Tensor nw = long_contiguous(num_words_in);
  check_word_ranges(hidden_in, ws, we, nw);
  const Tensor hidden = as_contiguous(hidden_in);
  const int64_t B = hidden.size(0), T = hidden.size(1), H = hidden.size(2), W = ws.size(1);
  const int64_t L = std::min(max_width, W);
  std::vector<int64_t> offsets;
  const Tensor spans = enumerated_span_table(W, max_width, &offsets);
  const Tensor mask = enumerated_span_mask(spans, nw);
  const int64_t S = spans.size(0);

  const PoolOutputs pooled = pool_outputs(hidden, S, with_argmax);
  if (pooled.none) return {pooled.out, pooled.argmax, spans, mask};
  dispatch_floating(hidden.scalar_type(), "enumerate_span_max_pool", [&](auto tag) {
    using scalar_t = decltype(tag);
    using acc_t = opmath_t<scalar_t>;
    const scalar_t* hid = hidden.const_data_ptr<scalar_t>();
    const int64_t* wsp = ws.const_data_ptr<int64_t>();
    const int64_t* wep = we.const_data_ptr<int64_t>();
    const int64_t* nwp = nw.const_data_ptr<int64_t>();
    scalar_t* o = pooled.out.mutable_data_ptr<scalar_t>();
    int64_t* am = with_argmax ? pooled.argmax.mutable_data_ptr<int64_t>() : nullptr;
    torch::stable::parallel_for(0, B * W, 1, [&](int64_t begin, int64_t end) {
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
  return {pooled.out, pooled.argmax, spans, mask};
}

// grad_hidden[b, argmax[b, s, h], h] += grad_out[b, s, h]. Each task owns a block of columns
// of one batch element, so no two tasks write the same element and the sum order is fixed.
Tensor max_pool_backward_cpu(Tensor grad_out_in, Tensor argmax_in, int64_t num_pieces) {
  check_max_pool_backward(grad_out_in, argmax_in, num_pieces);
  const Tensor grad_out = as_contiguous(grad_out_in);
  const Tensor argmax = as_contiguous(argmax_in);
  const int64_t B = grad_out.size(0), S = grad_out.size(1), H = grad_out.size(2), T = num_pieces;
  Tensor grad_hidden = empty({B, T, H}, grad_out.scalar_type(), grad_out);
  if (grad_hidden.numel() == 0) return grad_hidden;
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (H + kBlock - 1) / kBlock;
  std::atomic<bool> out_of_range{false};
  dispatch_floating(grad_out.scalar_type(), "max_pool_backward", [&](auto tag) {
    using scalar_t = decltype(tag);
    using acc_t = opmath_t<scalar_t>;
    const scalar_t* g = grad_out.const_data_ptr<scalar_t>();
    const int64_t* am = argmax.const_data_ptr<int64_t>();
    scalar_t* gh = grad_hidden.mutable_data_ptr<scalar_t>();
    torch::stable::parallel_for(0, B * blocks, 1, [&](int64_t begin, int64_t end) {
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
  SPERTMT_CHECK(!out_of_range, "spertmt.max_pool_backward: `argmax` holds a piece index >= num_pieces = ", T);
  return grad_hidden;
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(spertmt, CPU, m) {
  m.impl("span_max_pool", TORCH_BOX(&span_max_pool_cpu));
  m.impl("enumerate_span_max_pool", TORCH_BOX(&enumerate_span_max_pool_cpu));
  m.impl("pair_context_max_pool", TORCH_BOX(&pair_context_max_pool_cpu));
  m.impl("max_pool_backward", TORCH_BOX(&max_pool_backward_cpu));
}

}  // namespace spertmt
