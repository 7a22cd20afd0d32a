"""What this installation has: versions and which native kernels are in use (`spertmt info`)."""

from __future__ import annotations

import platform

import torch

from . import ops
from ._version import __version__
from .runtime import cpu_capability


def collect() -> dict:
    """Versions, devices and the native-kernel status per device type."""
    return {
        "spertmt": __version__,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "python": platform.python_version(),
        "cuda_available": torch.cuda.is_available(),
        "native": {device: ops.native_available(device) for device in ("cpu", "cuda")},
        "native_load_error": ops.native_load_error(),
        "threads": torch.get_num_threads(),
        "cpu": cpu_capability(),  # bf16 units: whether --precision bf16 is faster than fp32 here
    }


def format_info(info: dict) -> str:
    lines = [f"{key:18} {value}" for key, value in info.items() if key != "native"]
    for device, available in info["native"].items():
        lines.append(f"native kernels {device:5}{'in use' if available else 'not available (fallback)'}")
    return "\n".join(lines)
