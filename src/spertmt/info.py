"""What this installation has: versions and which native kernels are in use (`spertmt info`)."""

from __future__ import annotations

import platform

import torch

from . import ops
from ._version import __version__
from .inference.runtimes import auto_precision, quantized_engines
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
        # which step of the loading chain (spertmt/ops/_native.py) gave the kernels, or why none did
        "native_source": ops.native_load_source(),
        "native_load_error": ops.native_load_error(),
        # the GPUs the loaded library's CUDA kernels were built for (spertmt.ops.device_code)
        "cuda_device_code": _device_code(),
        "threads": torch.get_num_threads(),
        "cpu": cpu_capability(),  # bf16 units: whether --precision bf16 is faster than fp32 here
        "int8": _int8_support(),
        # what --precision auto runs on this machine's CPU (the fastest setting with a small F1 cost)
        "precision_auto": auto_precision("torch", torch.device("cpu")),
        "onnxruntime": _onnxruntime_support(),
    }


def _device_code() -> str:
    """The loaded library's device code, and whether the GPU present is among what it runs on."""
    from .ops import device_code

    library = ops.native_library()
    if library is None:
        return "no library loaded" if ops.native_load_source() is None else "unknown (a just-in-time build)"
    held = device_code.architectures(library)
    if not held["sass"] and not held["ptx"]:
        text = "none (a CPU build)"
    else:
        text = f"SASS {', '.join(held['sass']) or 'none'}; PTX {', '.join(held['ptx']) or 'none'}"
    if torch.cuda.is_available():
        capability = torch.cuda.get_device_capability()
        if not device_code.runs_on(held, capability):
            text += (f"; WARNING: the GPU here (sm_{capability[0]}{capability[1]}) is not among them, so the "
                     "CUDA ops run on the PyTorch fallbacks")
    return text


def _int8_support() -> str:
    """Whether --precision int8 (PyTorch's quantised CPU kernels) can run here."""
    engines = quantized_engines()
    return f"yes (engines {', '.join(engines)})" if engines else "no quantised CPU engine in this torch"


def _onnxruntime_support() -> str:
    """Whether --runtime onnx can run here, and on which devices."""
    try:
        import onnxruntime
    except ImportError:
        return "not installed (pip install 'spertmt[onnx]')"
    from .inference.export import ONNXRUNTIME_NEEDED
    from .inference.portable import release_numbers

    found = f"{onnxruntime.__version__} ({', '.join(onnxruntime.get_available_providers())})"
    if release_numbers(onnxruntime.__version__) < release_numbers(ONNXRUNTIME_NEEDED):
        found += (f"; too old for the folders this spertmt exports (opset 23): "
                  f"pip install -U 'onnxruntime>={ONNXRUNTIME_NEEDED}'")
    return found


def format_info(info: dict) -> str:
    skip = {"native", "native_source" if info["native_source"] is None else "native_load_error"}
    lines = [f"{key:18} {value}" for key, value in info.items() if key not in skip]
    for device, available in info["native"].items():
        lines.append(f"native kernels {device:5}{'in use' if available else 'not available (fallback)'}")
    return "\n".join(lines)
