// CUDA kernels of the max-pooling ops (same semantics as csrc/cpu/span_pool_cpu.cpp).
// One block per span (or per start word), threads over the hidden columns: each thread walks the
// pieces of its span, so reads of one piece row are coalesced across the block.

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/Atomic.cuh>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../common.h"
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

template <typename scalar_t>
__global__ void pool_ranges_kernel(const scalar_t* __restrict__ hidden, const int64_t* __restrict__ starts,
                                   const int64_t* __restrict__ ends, scalar_t* __restrict__ out,
                                   int64_t* __restrict__ argmax, int64_t S, int64_t T, int64_t H) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t bs = blockIdx.x;
  const int64_t h = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x;
  if (h >= H) return;
  const scalar_t* hid_b = hidden + (bs / S) * T * H;
  acc_t best = 0;
  int64_t idx = -1;
  for (int64_t p = starts[bs]; p < ends[bs]; ++p) {
    const acc_t v = static_cast<acc_t>(hid_b[p * H + h]);
    if (takes_max(v, best, idx >= 0)) {
      best = v;
      idx = p;
    }
  }
  out[bs * H + h] = idx >= 0 ? static_cast<scalar_t>(best) : scalar_t(0);
  if (argmax != nullptr) argmax[bs * H + h] = idx;
}

std::tuple<at::Tensor, at::Tensor> pool_ranges(const at::Tensor& hidden_in, const at::Tensor& starts_in,
                                               const at::Tensor& ends_in, bool with_argmax) {
  const auto hidden = hidden_in.contiguous();
  const auto starts = starts_in.to(at::kLong).contiguous();
  const auto ends = ends_in.to(at::kLong).contiguous();
  const int64_t B = hidden.size(0), T = hidden.size(1), H = hidden.size(2), S = starts.size(1);
  auto out = at::empty({B, S, H}, hidden.options());
  auto argmax = with_argmax ? at::empty({B, S, H}, starts.options()) : at::empty({0}, starts.options());
  if (B * S * H == 0) return {out.zero_(), argmax.fill_(-1)};
  TORCH_CHECK(B * S < (int64_t(1) << 31), "spertmt.span_max_pool: too many spans (B * S = ", B * S, ")");
  const dim3 threads = column_threads(H);
  const dim3 blocks(static_cast<unsigned>(B * S), column_tiles(H, threads));
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, hidden.scalar_type(), "span_max_pool_cuda", [&] {
    pool_ranges_kernel<scalar_t><<<blocks, threads, 0, stream>>>(
        hidden.data_ptr<scalar_t>(), starts.data_ptr<int64_t>(), ends.data_ptr<int64_t>(),
        out.data_ptr<scalar_t>(), with_argmax ? argmax.data_ptr<int64_t>() : nullptr, S, T, H);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {out, argmax};
}

std::tuple<at::Tensor, at::Tensor> span_max_pool_cuda(const at::Tensor& hidden, const at::Tensor& starts,
                                                      const at::Tensor& ends, bool with_argmax) {
  check_span_ranges(hidden, starts, ends);
  const c10::cuda::OptionalCUDAGuard guard(hidden.device());
  return pool_ranges(hidden, starts, ends, with_argmax);
}

std::tuple<at::Tensor, at::Tensor> pair_context_max_pool_cuda(const at::Tensor& hidden,
                                                              const at::Tensor& head_ranges,
                                                              const at::Tensor& tail_ranges,
                                                              bool with_argmax) {
  check_pair_ranges(hidden, head_ranges, tail_ranges);
  const c10::cuda::OptionalCUDAGuard guard(hidden.device());
  const auto ranges = pair_context_ranges(head_ranges.to(at::kLong), tail_ranges.to(at::kLong));
  return pool_ranges(hidden, ranges.first, ranges.second, with_argmax);
}

// One block per (batch element, start word i): grows the span one word at a time and writes one
// output row per width. Row of (width w, start i) = offset(w) + i, offset(w) = sum_{v<w} (W - v + 1).
template <typename scalar_t>
__global__ void enumerate_kernel(const scalar_t* __restrict__ hidden, const int64_t* __restrict__ word_starts,
                                 const int64_t* __restrict__ word_ends, const int64_t* __restrict__ num_words,
                                 scalar_t* __restrict__ out, int64_t* __restrict__ argmax, int64_t W,
                                 int64_t L, int64_t S, int64_t T, int64_t H) {
  using acc_t = at::opmath_type<scalar_t>;
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

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> enumerate_span_max_pool_cuda(
    const at::Tensor& hidden_in, const at::Tensor& word_starts_in, const at::Tensor& word_ends_in,
    const at::Tensor& num_words_in, int64_t max_width, bool with_argmax) {
  check_word_ranges(hidden_in, word_starts_in, word_ends_in, num_words_in, max_width);
  const c10::cuda::OptionalCUDAGuard guard(hidden_in.device());
  const auto hidden = hidden_in.contiguous();
  const auto ws = word_starts_in.to(at::kLong).contiguous();
  const auto we = word_ends_in.to(at::kLong).contiguous();
  const auto nw = num_words_in.to(at::kLong).contiguous();
  const int64_t B = hidden.size(0), T = hidden.size(1), H = hidden.size(2), W = ws.size(1);
  std::vector<int64_t> offsets;
  auto spans = enumerated_span_table(W, max_width, hidden.device(), &offsets);
  const int64_t S = spans.size(0), L = std::min(max_width, W);
  auto mask = spans.select(1, 1).unsqueeze(0) <= nw.unsqueeze(1);
  auto out = at::empty({B, S, H}, hidden.options());
  auto argmax = with_argmax ? at::empty({B, S, H}, ws.options()) : at::empty({0}, ws.options());
  if (B * S * H == 0) return {out.zero_(), argmax.fill_(-1), spans, mask};
  const dim3 threads = column_threads(H);
  const dim3 blocks(static_cast<unsigned>(B * W), column_tiles(H, threads));
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, hidden.scalar_type(), "enumerate_span_max_pool_cuda", [&] {
    enumerate_kernel<scalar_t><<<blocks, threads, 0, stream>>>(
        hidden.data_ptr<scalar_t>(), ws.data_ptr<int64_t>(), we.data_ptr<int64_t>(), nw.data_ptr<int64_t>(),
        out.data_ptr<scalar_t>(), with_argmax ? argmax.data_ptr<int64_t>() : nullptr, W, L, S, T, H);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {out, argmax, spans, mask};
}

// grad[b, argmax, h] += grad_out[b, s, h] with atomics into an opmath buffer (float for bf16).
// Indices outside [0, T) are skipped, never written (a GPU kernel cannot raise cheaply).
template <typename scalar_t, typename acc_t>
__global__ void max_pool_backward_kernel(const scalar_t* __restrict__ grad_out,
                                         const int64_t* __restrict__ argmax, acc_t* __restrict__ grad,
                                         int64_t S, int64_t T, int64_t H, int64_t n) {
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t p = argmax[k];
    if (p < 0 || p >= T) continue;
    const int64_t b = k / (S * H), h = k % H;
    gpuAtomicAdd(grad + (b * T + p) * H + h, static_cast<acc_t>(grad_out[k]));
  }
}

at::Tensor max_pool_backward_cuda(const at::Tensor& grad_out_in, const at::Tensor& argmax_in,
                                  int64_t num_pieces) {
  check_max_pool_backward(grad_out_in, argmax_in, num_pieces);
  at::globalContext().alertNotDeterministic("spertmt::max_pool_backward (CUDA atomics)");
  const c10::cuda::OptionalCUDAGuard guard(grad_out_in.device());
  const auto grad_out = grad_out_in.contiguous();
  const auto argmax = argmax_in.contiguous();
  const int64_t B = grad_out.size(0), S = grad_out.size(1), H = grad_out.size(2), T = num_pieces;
  const auto acc_type = at::toOpMathType(grad_out.scalar_type());
  auto grad = at::zeros({B, T, H}, grad_out.options().dtype(acc_type));
  const int64_t n = grad_out.numel();
  if (n == 0 || grad.numel() == 0) return grad.to(grad_out.scalar_type());
  const int threads = 256;
  const int64_t max_blocks = 65535;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((n + threads - 1) / threads, max_blocks));
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, grad_out.scalar_type(), "max_pool_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    max_pool_backward_kernel<scalar_t, acc_t><<<blocks, threads, 0, stream>>>(
        grad_out.data_ptr<scalar_t>(), argmax.data_ptr<int64_t>(), grad.data_ptr<acc_t>(), S, T, H, n);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return grad.to(grad_out.scalar_type());
}

}  // namespace

TORCH_LIBRARY_IMPL(spertmt, CUDA, m) {
  m.impl("span_max_pool", &span_max_pool_cuda);
  m.impl("enumerate_span_max_pool", &enumerate_span_max_pool_cuda);
  m.impl("pair_context_max_pool", &pair_context_max_pool_cuda);
  m.impl("max_pool_backward", &max_pool_backward_cuda);
}

}  // namespace spertmt
