import pytest

from spertmt import ops

# Every native test runs once per device; CUDA cases show as skipped where there is no GPU
# (or the CUDA kernels were not built), CPU cases where the kernels were not built.
NATIVE_DEVICES = [
    pytest.param(device, marks=pytest.mark.skipif(not ops.native_available(device),
                                                  reason=f"no native {device} kernels here"))
    for device in ("cpu", "cuda")
]
