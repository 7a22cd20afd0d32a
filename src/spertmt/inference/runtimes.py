"""How the encoder runs when a model extracts, the one cost left (bench/RESULTS.md):

- runtime "torch": fp32; bf16 (the encoder's weights cast to bf16, run under autocast; fast only where
  the hardware has bf16 units); int8:
  the encoder's linear layers with int8 weights, per output channel, and int8 activations
  quantised on the fly (PyTorch's dynamic quantisation, CPU);
- runtime "onnx": ONNX Runtime runs the encoder exported by `spertmt export --format onnx`, in fp32
  (`encoder.onnx`) or int8 (`encoder-int8.onnx`, ONNX Runtime's dynamic quantisation, per channel).

The heads and the span kernels run in PyTorch fp32 in every setting: their scores are compared
with θ. `precision="auto"` takes the fastest setting whose F1 cost on CoNLL04 is small
(bench/RESULTS.md): bf16 on a GPU and on a CPU with bf16 units (AVX512-BF16, AMX; F1 unchanged),
fp32 elsewhere (bf16 is emulated there and slower than fp32) and with runtime onnx. int8 is faster
but costs F1 (about 1 RE+ point on CoNLL04 test, 1.5-3 on dev): a trade a user asks for by name.

    spertmt export --format onnx runs/demo/best runs/demo/onnx
    spertmt predict --model runs/demo/onnx --runtime onnx --precision int8 --input texts.txt --output out.jsonl
"""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import torch

from ..config import EXTRACTION_PRECISIONS, RUNTIMES
from ..layout import ModelFiles
from ..runtime import cpu_bf16_units
from .engines.onnx import CPU_DISABLED_OPTIMIZERS
from .int8_check import warn_if_int8_lost

ONNX_FILES = {"fp32": ModelFiles.ENCODER_ONNX, "int8": ModelFiles.ENCODER_ONNX_INT8}
ONNX_EXTRA = "pip install 'spertmt[onnx]'"


def resolve_precision(precision: str, runtime: str, device: torch.device) -> str:
    """The precision to run with: "auto" made concrete, and combinations that cannot run refused."""
    if precision not in EXTRACTION_PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(EXTRACTION_PRECISIONS)}, not {precision!r}")
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if precision == "auto":
        return auto_precision(runtime, device)
    if runtime == "onnx" and precision == "bf16":
        raise ValueError("runtime onnx runs the encoder in fp32 or int8, not bf16")
    if runtime == "torch" and precision == "int8" and device.type != "cpu":
        raise ValueError(f"precision int8 runs on the CPU (PyTorch's quantised kernels); on {device} use bf16")
    if runtime == "torch" and precision == "int8" and not quantized_engines():
        raise ValueError(f"precision int8: this torch {torch.__version__} has no quantised CPU engine; "
                         f"use --runtime onnx --precision int8 ({ONNX_EXTRA})")
    return precision


def auto_precision(runtime: str, device: torch.device) -> str:
    """What precision "auto" runs: bf16 where the hardware computes it natively (about 2x fp32's
    extraction on an AMX CPU, F1 unchanged; emulated and 5x slower on an AVX2 one), else fp32:
    int8's F1 cost is not small (bench/RESULTS.md, experiments/int8_dev.py)."""
    if runtime == "torch" and (device.type != "cpu" or cpu_bf16_units()):
        return "bf16"
    return "fp32"


def quantized_engines() -> list[str]:
    """PyTorch's quantised CPU engines in this build (fbgemm, x86, onednn, qnnpack); [] if none."""
    return [engine for engine in torch.backends.quantized.supported_engines if engine != "none"]


def quantize_int8(encoder: torch.nn.Module) -> torch.nn.Module:
    """The encoder with int8 linear layers: weights quantised per output channel, activations per
    batch as they come (on CoNLL04 it cost 0.2-0.5 NER and 0.8-0.9 RE+ F1: bench/RESULTS.md)."""
    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as error:  # PyTorch announced the move of this API to torchao
        raise ValueError(f"this torch {torch.__version__} has no dynamic quantisation ({error}); "
                         f"use --runtime onnx --precision int8 ({ONNX_EXTRA})") from None
    with warnings.catch_warnings():
        # torch.ao.quantization warns that it moves to torchao; it runs in the torch we pin.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(encoder, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ValueError(f"runtime onnx needs ONNX Runtime: {ONNX_EXTRA}") from None
    return onnxruntime


class OnnxEncoder(torch.nn.Module):
    """An exported encoder run by ONNX Runtime behind the interface the model calls
    (`encoder(input_ids=, attention_mask=).last_hidden_state`, `encoder.config`)."""

    def __init__(self, path: str | Path, config, device: torch.device):
        super().__init__()
        ort = _onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # --threads and OMP_NUM_THREADS hold here too
        # ONNX Runtime's threads spin after each run by default, taking the cores from the PyTorch
        # heads that run next (extraction then took twice the encoder's time).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if device.type == "cpu":
            providers = ["CPUExecutionProvider"]
        elif "CUDAExecutionProvider" in ort.get_available_providers():
            providers = [("CUDAExecutionProvider", {"device_id": device.index or 0})]
        else:
            raise ValueError(f"runtime onnx on {device} needs onnxruntime-gpu (this ONNX Runtime has "
                             f"{', '.join(ort.get_available_providers())})")
        self.session = ort.InferenceSession(str(path), options, providers=providers,
                                            disabled_optimizers=CPU_DISABLED_OPTIMIZERS if device.type == "cpu" else [])
        self.config, self.path, self.device = config, Path(path), device

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_) -> SimpleNamespace:
        hidden = self.session.run(None, {"input_ids": input_ids.cpu().numpy(),
                                         "attention_mask": attention_mask.cpu().numpy()})[0]
        return SimpleNamespace(last_hidden_state=torch.from_numpy(hidden).to(self.device))


def prepare_encoder(model, folder: Path | None, precision: str, runtime: str, device: torch.device) -> None:
    """Swaps the model's encoder for the one the (resolved) precision and runtime run (bf16: casts
    the model's own encoder in place, memory being what bf16 is for on a GPU)."""
    if runtime == "onnx":
        if folder is None:
            raise ValueError("runtime onnx loads the exported encoder from a model folder")
        path = Path(folder) / ONNX_FILES[precision]
        if not path.exists():
            raise ValueError(f"{folder}: {path.name} is missing; export the encoder first: "
                             f"spertmt export --format onnx {folder} OUT_DIR (then pass OUT_DIR)")
        model.encoder = OnnxEncoder(path, model.encoder.config, device)
        if precision == "int8":
            warn_if_int8_lost(Path(folder))
    elif precision == "int8":
        model.encoder = quantize_int8(model.encoder)
    elif precision == "bf16":
        # Cast once: under autocast alone every linear layer's weights are cast again on each batch,
        # 10-20% of bf16 extraction on CPU (bench/RESULTS.md). Layer norms then run in bf16 too
        # (F1 unchanged on CoNLL04); the heads stay in fp32.
        model.encoder.to(torch.bfloat16)
