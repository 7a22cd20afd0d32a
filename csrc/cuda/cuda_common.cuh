// What the CUDA kernels share on the stable ABI: the current stream of a tensor's device and the
// check after a launch (c10::cuda's helpers are not part of the stable ABI).
#pragma once

#include "../common.h"  // first: it fixes the stable ABI version and defines USE_CUDA

#include <cuda_runtime.h>
#include <torch/csrc/inductor/aoti_torch/c/shim.h>  // aoti_torch_get_current_cuda_stream

namespace spertmt {

// The stream torch runs on for `t`'s device, so that kernels order with torch's own work.
inline cudaStream_t current_stream(const Tensor& t) {
  void* stream = nullptr;
  SPERTMT_CHECK(aoti_torch_get_current_cuda_stream(t.get_device_index(), &stream) == AOTI_TORCH_SUCCESS,
                "spertmt: could not get the current CUDA stream of device ", t.get_device_index());
  return static_cast<cudaStream_t>(stream);
}

inline void check_launch(const char* op) {
  const cudaError_t error = cudaGetLastError();
  SPERTMT_CHECK(error == cudaSuccess, "spertmt.", op, ": CUDA kernel launch failed: ", cudaGetErrorString(error));
}

}  // namespace spertmt
