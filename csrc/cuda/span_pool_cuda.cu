// CUDA kernels of the max-pooling ops (same semantics as csrc/cpu/span_pool_cpu.cpp).
// One block per span (or per start word), threads over the hidden columns: each thread walks the
// pieces of its span, so reads of one piece row are coalesced across the block.

#include <tuple>
#include <vector>

#include "../common.h"
#include "cuda_common.cuh"
#include "../kernel_math.h"

namespace spertmt {
namespace {

// Threads per block over H, a multiple of the warp size; blockIdx.y covers the rest of H.
inline dim3 column_threads(int64_t H) {
  const int64_t t = std::min<int64_t>(256, ((H + 31) / 32) * 32);
  return dim3(static_cast<unsigned>(std::max<int64_t>(t, 32)));
}

inline unsigned column_tiles(int64_t H, const dim3& threads) {
  return static_cast<unsigned>((H + threads.x - 1) / threads.x);
}

// The range of span k: [starts[k], ends[k]).
struct SpanRange {
  const int64_t* starts;
  const int64_t* ends;
  __device__ void operator()(int64_t k, int64_t& from, int64_t& to) const {
    from = starts[k];
    to = ends[k];
  }
};

// The context of pair k: the pieces strictly between its head and tail ranges.
struct PairContextRange {
  const int64_t* head;
  const int64_t* tail;
  __device__ void operator()(int64_t k, int64_t& from, int64_t& to) const {
    context_range(head[2 * k], head[2 * k + 1], tail[2 * k], tail[2 * k + 1], from, to);
  }
};

template <typename scalar_t, typename RangeOf>
__global__ void pool_ranges_kernel(const scalar_t* __restrict__ hidden, RangeOf range_of, scalar_t* __restrict__ out,
                                   int64_t* __restrict__ argmax, int64_t S, int64_t T, int64_t H) {
  using acc_t = opmath_t<scalar_t>;
  const int64_t bs = blockIdx.x;
  const int64_t h = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x;
  if (h >= H) return;
  const scalar_t* hid_b = hidden + (bs / S) * T * H;
  int64_t from, to;
  range_of(bs, from, to);
  acc_t best = 0;
  int64_t idx = -1;
  for (int64_t p = from; p < to; ++p) {
    const acc_t v = static_cast<acc_t>(hid_b[p * H + h]);
    if (takes_max(v, best, idx >= 0)) {
      best = v;
      idx = p;
    }
  }
  out[bs * H + h] = idx >= 0 ? static_cast<scalar_t>(best) : scalar_t(0);
  if (argmax != nullptr) argmax[bs * H + h] = idx;
}

template <typename RangeOf>
std::tuple<Tensor, Tensor> pool_ranges(const Tensor& hidden_in, int64_t S, bool with_argmax, RangeOf range_of,
                                       const char* op) {
  const Tensor hidden = as_contiguous(hidden_in);
  const int64_t B = hidden.size(0), T = hidden.size(1), H = hidden.size(2);
  const PoolOutputs pooled = pool_outputs(hidden, S, with_argmax);
  if (pooled.none) return {pooled.out, pooled.argmax};
  SPERTMT_CHECK(B * S < (int64_t(1) << 31), "spertmt.", op, ": too many spans (B * S = ", B * S, ")");
  const dim3 threads = column_threads(H);
  const dim3 blocks(static_cast<unsigned>(B * S), column_tiles(H, threads));
  const cudaStream_t stream = current_stream(hidden);
  dispatch_floating(hidden.scalar_type(), op, [&](auto tag) {
    using scalar_t = decltype(tag);
    pool_ranges_kernel<scalar_t><<<blocks, threads, 0, stream>>>(
        hidden.const_data_ptr<scalar_t>(), range_of, pooled.out.mutable_data_ptr<scalar_t>(),
        with_argmax ? pooled.argmax.mutable_data_ptr<int64_t>() : nullptr, S, T, H);
    check_launch(op);
  });
  return {pooled.out, pooled.argmax};
}

std::tuple<Tensor, Tensor> span_max_pool_cuda(Tensor hidden, Tensor starts_in, Tensor ends_in, bool with_argmax) {
  check_span_args(hidden, starts_in, ends_in);
  check_span_ranges(hidden, host_long(starts_in), host_long(ends_in));
  const torch::stable::accelerator::DeviceGuard guard(hidden.get_device_index());
  const Tensor starts = long_contiguous(starts_in), ends = long_contiguous(ends_in);
  return pool_ranges(hidden, starts.size(1), with_argmax,
                     SpanRange{starts.const_data_ptr<int64_t>(), ends.const_data_ptr<int64_t>()}, "span_max_pool");
}

std::tuple<Tensor, Tensor> pair_context_max_pool_cuda(Tensor hidden, Tensor head_in, Tensor tail_in,
                                                      bool with_argmax) {
  check_pair_args(hidden, head_in, tail_in);
  check_pair_ranges(hidden, host_long(head_in), host_long(tail_in));
  const torch::stable::accelerator::DeviceGuard guard(hidden.get_device_index());
  const Tensor head = long_contiguous(head_in), tail = long_contiguous(tail_in);
  return pool_ranges(hidden, head.size(1), with_argmax,
                     PairContextRange{head.const_data_ptr<int64_t>(), tail.const_data_ptr<int64_t>()},
                     "pair_context_max_pool");
}

// One block per (batch element, start word i): grows the span one word at a time and writes one
// output row per width. Row of (width w, start i) = offset(w) + i, offset(w) = sum_{v<w} (W - v + 1).
template <typename scalar_t>
__global__ void enumerate_kernel(const scalar_t* __restrict__ hidden, const int64_t* __restrict__ word_starts,
                                 const int64_t* __restrict__ word_ends, const int64_t* __restrict__ num_words,
                                 scalar_t* __restrict__ out, int64_t* __restrict__ argmax, int64_t W,
                                 int64_t L, int64_t S, int64_t T, int64_t H) {
  using acc_t = opmath_t<scalar_t>;
  const int64_t bi = blockIdx.x;
  const int64_t b = bi / W, i = bi % W;
  const int64_t h = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x;
  if (h >= H) return;
  const scalar_t* hid_b = hidden + b * T * H;
  const int64_t nw = num_words[b];
  acc_t best = 0;
  int64_t idx = -1;
  int64_t covered = i < nw ? word_starts[bi] : 0;
  int64_t offset = 0;
  for (int64_t w = 1; w <= L && i + w <= W; ++w) {
    const int64_t j = i + w - 1;
    const int64_t row = (b * S + offset + i) * H + h;
    offset += W - w + 1;
    if (j >= nw) {  // runs into padding: not a candidate
      out[row] = scalar_t(0);
      if (argmax != nullptr) argmax[row] = -1;
      continue;
    }
    const int64_t to = word_ends[b * W + j];
    for (; covered < to; ++covered) {
      const acc_t v = static_cast<acc_t>(hid_b[covered * H + h]);
      if (takes_max(v, best, idx >= 0)) {
        best = v;
        idx = covered;
      }
    }
    out[row] = idx >= 0 ? static_cast<scalar_t>(best) : scalar_t(0);
    if (argmax != nullptr) argmax[row] = idx;
  }
}

std::tuple<Tensor, Tensor, Tensor, Tensor> enumerate_span_max_pool_cuda(Tensor hidden_in, Tensor word_starts_in,
                                                                        Tensor word_ends_in, Tensor num_words_in,
                                                                        int64_t max_width, bool with_argmax) {
  const char* op = "enumerate_span_max_pool";
  check_word_args(hidden_in, word_starts_in, word_ends_in, num_words_in, max_width);
  const Tensor nw_host = host_long(num_words_in);
  check_word_ranges(hidden_in, host_long(word_starts_in), host_long(word_ends_in), nw_host);
  const torch::stable::accelerator::DeviceGuard guard(hidden_in.get_device_index());
  const Tensor hidden = as_contiguous(hidden_in);
  const Tensor ws = long_contiguous(word_starts_in), we = long_contiguous(word_ends_in);
  const Tensor nw = long_contiguous(num_words_in);
  const int64_t B = hidden.size(0), T = hidden.size(1), H = hidden.size(2), W = ws.size(1);
  std::vector<int64_t> offsets;
  const Tensor spans_host = enumerated_span_table(W, max_width, &offsets);
  const Tensor mask = torch::stable::to(enumerated_span_mask(spans_host, nw_host), hidden.device());
  const Tensor spans = torch::stable::to(spans_host, hidden.device());
  const int64_t S = spans.size(0), L = std::min(max_width, W);
  const PoolOutputs pooled = pool_outputs(hidden, S, with_argmax);
  if (pooled.none) return {pooled.out, pooled.argmax, spans, mask};
  const dim3 threads = column_threads(H);
  const dim3 blocks(static_cast<unsigned>(B * W), column_tiles(H, threads));
  const cudaStream_t stream = current_stream(hidden);
  dispatch_floating(hidden.scalar_type(), op, [&](auto tag) {
    using scalar_t = decltype(tag);
    enumerate_kernel<scalar_t><<<blocks, threads, 0, stream>>>(
        hidden.const_data_ptr<scalar_t>(), ws.const_data_ptr<int64_t>(), we.const_data_ptr<int64_t>(),
        nw.const_data_ptr<int64_t>(), pooled.out.mutable_data_ptr<scalar_t>(),
        with_argmax ? pooled.argmax.mutable_data_ptr<int64_t>() : nullptr, W, L, S, T, H);
    check_launch(op);
  });
  return {pooled.out, pooled.argmax, spans, mask};
}

// grad[b, argmax, h] += grad_out[b, s, h] with atomics into an opmath buffer (float for bf16).
// Indices outside [0, T) are skipped, never written (a GPU kernel cannot raise cheaply). The
// atomics make the sum's order, and so its last bits, vary: spertmt/ops/_native.py tells
// torch.use_deterministic_algorithms so (the stable ABI has no at::globalContext()).
template <typename scalar_t, typename acc_t>
__global__ void max_pool_backward_kernel(const scalar_t* __restrict__ grad_out,
                                         const int64_t* __restrict__ argmax, acc_t* __restrict__ grad,
                                         int64_t S, int64_t T, int64_t H, int64_t n) {
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t p = argmax[k];
    if (p < 0 || p >= T) continue;
    const int64_t b = k / (S * H), h = k % H;
    atomicAdd(grad + (b * T + p) * H + h, static_cast<acc_t>(grad_out[k]));
  }
}

Tensor max_pool_backward_cuda(Tensor grad_out_in, Tensor argmax_in, int64_t num_pieces) {
  const char* op = "max_pool_backward";
  check_max_pool_backward(grad_out_in, argmax_in, num_pieces);
  const torch::stable::accelerator::DeviceGuard guard(grad_out_in.get_device_index());
  const Tensor grad_out = as_contiguous(grad_out_in);
  const Tensor argmax = as_contiguous(argmax_in);
  const int64_t B = grad_out.size(0), S = grad_out.size(1), H = grad_out.size(2), T = num_pieces;
  const ScalarType st = grad_out.scalar_type();
  const ScalarType acc_type = st == ScalarType::BFloat16 ? ScalarType::Float : st;
  const Tensor grad = zeros({B, T, H}, acc_type, grad_out);
  const int64_t n = grad_out.numel();
  if (n == 0 || grad.numel() == 0) return as_dtype(grad, st);
  const int threads = 256;
  const int64_t max_blocks = 65535;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((n + threads - 1) / threads, max_blocks));
  const cudaStream_t stream = current_stream(grad_out);
  dispatch_floating(st, op, [&](auto tag) {
    using scalar_t = decltype(tag);
    using acc_t = opmath_t<scalar_t>;
    max_pool_backward_kernel<scalar_t, acc_t><<<blocks, threads, 0, stream>>>(
        grad_out.const_data_ptr<scalar_t>(), argmax.const_data_ptr<int64_t>(), static_cast<acc_t*>(grad.mutable_data_ptr()), S,
        T, H, n);
    check_launch(op);
  });
  return as_dtype(grad, st);
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(spertmt, CUDA, m) {
  m.impl("span_max_pool", TORCH_BOX(&span_max_pool_cuda));
  m.impl("enumerate_span_max_pool", TORCH_BOX(&enumerate_span_max_pool_cuda));
  m.impl("pair_context_max_pool", TORCH_BOX(&pair_context_max_pool_cuda));
  m.impl("max_pool_backward", TORCH_BOX(&max_pool_backward_cuda));
}

}  // namespace spertmt
