"""spertmt: SpERT.MT joint entity and relation extraction with fused span kernels.

    import spertmt
    metrics = spertmt.train(spertmt.Config(epochs=2), "runs/demo")
    extractor = spertmt.load("runs/demo/best")
    predictions = extractor.predict(spertmt.read_documents("test.json"))

The names below are imported on first use (PEP 562), so that `import spertmt` and commands that
need no model (`spertmt convert --help`) do not load torch and the compiled kernels. No module of
the package imports this one: they import what they need from where it is defined.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

from ._version import __version__

# public name -> the module that defines it
_EXPORTS = {
    "BatchPredictor": ".inference.batch_predictor",
    "Config": ".config",
    "Document": ".data.documents", "Entity": ".data.documents", "Relation": ".data.documents",
    "Types": ".data.documents", "read_documents": ".data.documents", "read_types": ".data.documents",
    "write_documents": ".data.documents",
    "Extractor": ".inference.extractor", "Extraction": ".inference.texts", "ExtractorLike": ".inference.texts",
    "Callback": ".training.callbacks", "EarlyStopping": ".training.callbacks",
    "ExtractedEntity": ".inference.texts", "ExtractedRelation": ".inference.texts",
    "predict_file": ".inference.streaming",
    "ops": ".ops",
}

if TYPE_CHECKING:
    from . import ops
    from .config import Config
    from .data.documents import Document, Entity, Relation, Types, read_documents, read_types, write_documents
    from .inference.batch_predictor import BatchPredictor
    from .inference.extractor import Extractor
    from .inference.streaming import predict_file
    from .inference.texts import ExtractedEntity, ExtractedRelation, Extraction, ExtractorLike
    from .training.callbacks import Callback, EarlyStopping


# `spertmt.evaluate` is the scoring function whatever was imported before. The package's own
# modules import the submodule of that name (spertmt/evaluate.py), and the first import of a
# submodule sets the package's attribute to the module; importing it here, before binding the
# function, means later imports find it loaded and leave the attribute alone. It needs no torch.
from .evaluate import evaluate  # noqa: E402


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'spertmt' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name], __name__)
    value = module if name == "ops" else getattr(module, name)
    globals()[name] = value  # next time without this hook
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


@overload
def load(folder: str | Path, device: str = "auto", precision: str = "fp32", runtime: Literal["torch"] = "torch",
         revision: str | None = None, cache_dir: str | Path | None = None, *,
         trust_remote_code: bool = False) -> Extractor: ...
@overload
def load(folder: str | Path, device: str = "auto", precision: str = "fp32", runtime: str = "torch",
         revision: str | None = None, cache_dir: str | Path | None = None, *,
         trust_remote_code: bool = False) -> ExtractorLike: ...


def load(folder: str | Path, device: str = "auto", precision: str = "fp32", runtime: str = "torch",
         revision: str | None = None, cache_dir: str | Path | None = None, *,
         trust_remote_code: bool = False) -> Extractor | ExtractorLike:
    """Loads a trained model folder or a hub repo id ("org/name"): a spertmt.Extractor (see
    `spertmt.inference.extractor`). With runtime "onnx", a folder (or a repo) written by `spertmt
    export --format onnx` runs on the CPU without torch or transformers (a PortableExtractor,
    spertmt.inference.portable); both satisfy `spertmt.ExtractorLike` (the same `extract` and
    `predict`). Precision "fp32" or "int8" with runtime "onnx". `trust_remote_code`: run the encoder's
    own Python code, where the model has some (an encoder trained with `trust_remote_code = true`)."""
    from .inference.loading import load_extractor

    return load_extractor(folder, device, precision, runtime, revision, cache_dir,
                          trust_remote_code=trust_remote_code)


def train(config: Config, output_dir: str | Path, progress: bool = True, resume: bool = False,
          overwrite: bool = False, keep_resume: bool = False, callbacks=()) -> dict:
    """Trains and evaluates; see `spertmt.training.trainer.train` (callbacks: spertmt.training.callbacks)."""
    from .training.trainer import train as _train

    return _train(config, output_dir, progress, resume, overwrite, keep_resume, callbacks)


__all__ = ["BatchPredictor", "Callback", "Config", "Document", "EarlyStopping", "Entity", "ExtractedEntity",
           "ExtractedRelation", "Extraction", "Extractor", "ExtractorLike", "Relation", "Types", "__version__",
           "evaluate", "load", "ops", "predict_file", "read_documents", "read_types", "train", "write_documents"]
