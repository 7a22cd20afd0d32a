"""The one loader of a trained model, for every entry point (`spertmt.load`, each CLI command, the
spaCy component, Ray's BatchPredictor, the service): a folder or a hub repo id, for the runtime asked
for. A folder exported by `spertmt export --format onnx` runs without torch (portable.py) when the
ONNX runtime is asked for on the CPU; everything else loads the PyTorch Extractor (extractor.py).
Nothing is imported from torch before that choice, so each of them stays torch-free on an exported
model."""

from __future__ import annotations

from pathlib import Path

from ..repos import resolve_model_folder
from .portable import is_portable, load_portable


def load_extractor(model: str | Path, device: str = "auto", precision: str = "fp32", runtime: str = "torch",
                   revision: str | None = None, cache_dir: str | Path | None = None, threads: int | None = None):
    """An Extractor, or a PortableExtractor for an exported model on the ONNX runtime (the same
    `extract` and `predict`); `threads`: the CPU threads of whichever runs (default: its own)."""
    if runtime == "onnx" and device in ("auto", "cpu"):
        folder = resolve_model_folder(model, revision, cache_dir)
        if is_portable(folder):
            return load_portable(folder, "fp32" if precision == "auto" else precision, threads)
        model, revision, cache_dir = folder, None, None  # a PyTorch model folder: its encoder on ONNX Runtime
    if threads:
        import torch

        torch.set_num_threads(threads)
    from .extractor import load

    return load(model, device, precision, runtime, revision, cache_dir)
