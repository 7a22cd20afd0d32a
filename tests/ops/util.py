import pytest
import torch

from spertmt import ops


def _skip_reason(device: str) -> str | None:
    if device == "cuda" and not torch.cuda.is_available():
        return "no CUDA GPU here"  # a library with CUDA kernels on a machine without a GPU
    if not ops.native_available(device):
        return f"no native {device} kernels here"
    return None


# Every native test runs once per device; CUDA cases show as skipped where there is no GPU
# (or the CUDA kernels were not built), CPU cases where the kernels were not built.
NATIVE_DEVICES = [
    pytest.param(device, marks=pytest.mark.skipif(_skip_reason(device) is not None, reason=str(_skip_reason(device))))
    for device in ("cpu", "cuda")
]
