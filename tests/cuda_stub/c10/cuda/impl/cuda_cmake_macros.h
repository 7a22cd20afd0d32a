// Stand-in for the header that a CUDA build of torch generates at configure time (the CPU wheel
// does not ship it). Used only by the compile-only check of csrc/cuda on machines without a CUDA
// torch (tests/ops/test_build.py); real builds use torch's own.
#pragma once
#define C10_CUDA_BUILD_SHARED_LIBS
