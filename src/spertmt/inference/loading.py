"""The one loader of a trained model, for every entry point (`spertmt.load`, each CLI command, the
spaCy component, Ray's BatchPredictor, the service), and the registry of the engines that run it.

An engine (`runtime`) takes a model folder and returns an extractor (spertmt.ExtractorLike: the same
`extract` and `predict`):
- "torch": the PyTorch Extractor (extractor.py), its encoder in fp32, bf16 or int8 (runtimes.py);
- "onnx": a folder written by `spertmt export --format onnx`, on the CPU, runs without torch
  (portable.py); a PyTorch model folder, or a GPU, runs the exported encoder on ONNX Runtime beside
  the PyTorch heads.
`register_engine` adds one (a package can also name it in its `spertmt.engines` entry points: a
function that registers it, loaded the first time an unknown name is asked for). Nothing is
imported from torch before an engine is chosen, so each entry point stays torch-free on an
exported model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..repos import resolve_model_folder
from .portable import is_portable, load_portable


@dataclass(frozen=True)
class Engine:
    """What runs a loaded model: `load(folder, device, precision, threads)` returns an extractor (one
    that runs Python code of the folder also takes `trust_remote_code=True`, given only when true)."""

    name: str
    load: Callable[[Path, str, str, int | None], object]
    description: str = ""


ENGINES: dict[str, Engine] = {}
_PLUGINS_LOADED = False


def register_engine(name: str, load: Callable[[Path, str, str, int | None], object], description: str = "") -> Engine:
    """Adds an engine to the registry (a name already there is replaced); returns it."""
    ENGINES[name] = Engine(name, load, description)
    return ENGINES[name]


def engine(name: str) -> Engine:
    """The engine of that name; the `spertmt.engines` entry points are loaded once when the name is
    not registered yet."""
    global _PLUGINS_LOADED
    if name not in ENGINES and not _PLUGINS_LOADED:
        from importlib.metadata import entry_points

        _PLUGINS_LOADED = True
        for entry in entry_points(group="spertmt.engines"):
            entry.load()()
    if name not in ENGINES:
        raise ValueError(f"runtime must be one of {', '.join(ENGINES)}, not {name!r}")
    return ENGINES[name]


def _pytorch(folder: Path, device: str, precision: str, threads: int | None, trust_remote_code: bool = False,
             encoder_runtime: str = "torch"):
    if threads:
        import torch

        torch.set_num_threads(threads)
    from .extractor import load

    return load(folder, device, precision, encoder_runtime, trust_remote_code=trust_remote_code)


def _onnx(folder: Path, device: str, precision: str, threads: int | None, trust_remote_code: bool = False):
    if device in ("auto", "cpu") and is_portable(folder):  # the graphs: no Python code of the folder runs
        return load_portable(folder, "fp32" if precision == "auto" else precision, threads)
    return _pytorch(folder, device, precision, threads, trust_remote_code, encoder_runtime="onnx")


register_engine("torch", _pytorch, "PyTorch; the encoder in fp32, bf16 or int8")
register_engine("onnx", _onnx, "ONNX Runtime: an exported folder without torch on the CPU, else the exported "
                               "encoder beside the PyTorch heads")


def load_extractor(model: str | Path, device: str = "auto", precision: str = "fp32", runtime: str = "torch",
                   revision: str | None = None, cache_dir: str | Path | None = None, threads: int | None = None,
                   trust_remote_code: bool = False):
    """The extractor of a model folder or a hub repo id (at `revision`, through the hub's cache
    `cache_dir`), run by the engine `runtime`; `threads`: the CPU threads it uses (default: its own);
    `trust_remote_code`: run the encoder's own Python code where the folder has some (an engine that
    runs Python code of a folder takes it as a keyword; it is passed only when true)."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads (the model's CPU threads) must be a whole number of at least 1, not {threads!r}")
    chosen = engine(runtime)
    consent = {"trust_remote_code": True} if trust_remote_code else {}
    return chosen.load(resolve_model_folder(model, revision, cache_dir), device, precision, threads, **consent)
