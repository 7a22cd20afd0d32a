"""Extraction without torch: a model folder written by `spertmt export --format onnx`, read and
checked here and run by the ONNX engine (engines/onnx.py), with numpy and the tokenizers library only
(no torch, no transformers).

    extractor = spertmt.load("runs/demo/onnx", runtime="onnx")   # imports neither torch nor transformers
    extractor.extract("John Smith works for Acme Corp in Berlin.")

`extract` and `predict` are every engine's (engines/base.py), so both engines read predictions the
same way.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from .._version import __version__
from ..config import Config
from ..data.documents import Types
from ..files import read_folder_json
from ..layout import MANIFEST_FORMAT, ModelFiles
from .calibration import read_calibration
from .decoding import check_thresholds
from .engines.base import EngineExtractor
from .engines.onnx import CPU_DISABLED_OPTIMIZERS, OnnxEngine
from .int8_check import warn_if_int8_lost

MANIFEST = ModelFiles.MANIFEST
_HINT = "export the model again (spertmt export --format onnx MODEL OUTPUT)"


def _read_json(folder: Path, name: str):
    return read_folder_json(folder, name, _HINT)


def _check_files(folder: Path, manifest: dict) -> None:
    """Every file the manifest lists is there with the size the export wrote (folders exported
    before the manifest listed them are read as they are)."""
    for name, size in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{folder}: {name} is missing; {_HINT}")
        found = path.stat().st_size
        if found != size:
            raise ValueError(f"{folder}: {name} is {found:,} bytes where the export wrote {size:,} (cut short by "
                             f"a failed copy or a full disk?); {_HINT}")


def _check_onnxruntime(folder: Path, manifest: dict, installed: str) -> None:
    """The ONNX Runtime release the export names as the first to run its graphs (folders exported
    before it named one are read as they are)."""
    needed = manifest.get("onnxruntime")
    if needed and release_numbers(installed) < release_numbers(needed):
        raise ValueError(f"{folder}: its graphs need onnxruntime {needed} or later (their attention is opset 23's "
                         f"operator); this is {installed}: pip install -U 'onnxruntime>={needed}'")


def release_numbers(version: str) -> tuple[int, ...]:
    """A package's release to compare: "1.23.2" and "1.23.0.dev20250101" -> (1, 23, ...), the
    leading whole numbers."""
    numbers = []
    for part in str(version).split("."):
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        numbers.append(int(digits))
    return tuple(numbers)


def is_portable(folder: str | Path) -> bool:
    """Whether `folder` holds the whole model as ONNX (written by `spertmt export --format onnx`)."""
    return (Path(folder) / MANIFEST).exists()


def load_portable(folder: str | Path, precision: str = "fp32", threads: int | None = None) -> PortableExtractor:
    """The extractor of an exported folder; `precision` "fp32" or "int8" (the encoder's graph)."""
    return PortableExtractor(Path(folder), precision, threads)


class PortableExtractor(EngineExtractor):
    """`extract` and `predict` as spertmt.Extractor's, run by ONNX Runtime on the CPU."""

    def __init__(self, folder: Path, precision: str = "fp32", threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if not is_portable(folder):
            raise FileNotFoundError(f"{folder}: no {MANIFEST}; write the folder with "
                                    "spertmt export --format onnx MODEL OUTPUT")
        manifest = _read_json(folder, MANIFEST)
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            found = manifest.get("format") if isinstance(manifest, dict) else None
            written_by = manifest.get("spertmt", "?") if isinstance(manifest, dict) else "?"
            raise ValueError(f"{folder}: {MANIFEST} has format {found} (spertmt {written_by}); this spertmt "
                             f"({__version__}) reads format {MANIFEST_FORMAT}: {_HINT} with this version")
        _check_files(folder, manifest)
        _check_onnxruntime(folder, manifest, ort.__version__)
        encoders = manifest["graphs"]["encoder"]
        if precision not in encoders:
            raise ValueError(f"precision must be one of {', '.join(encoders)} with runtime onnx, not {precision!r}")
        self.folder, self.precision, self.runtime = folder, precision, "onnx"
        config = Config.from_dict(_read_json(folder, ModelFiles.CONFIG), str(folder / ModelFiles.CONFIG)).resolved()
        types = Types.from_dict(_read_json(folder, ModelFiles.TYPES), str(folder / ModelFiles.TYPES))
        thresholds = folder / ModelFiles.THRESHOLDS
        self.thresholds = (check_thresholds(_read_json(folder, ModelFiles.THRESHOLDS), str(thresholds))
                           if thresholds.exists() else {})
        self.calibration = read_calibration(folder)
        try:
            tokenizer = Tokenizer.from_file(str(folder / manifest["tokenizer"]))
        except Exception as error:  # the tokenizers library's own error types
            raise ValueError(f"{folder}: {manifest['tokenizer']} cannot be read ({error}); {_HINT}") from None
        tokenizer.no_padding()
        tokenizer.no_truncation()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
        # The workers spin between the operators of a run (else each of the graphs' many small
        # operators waits to wake them) and stop when it returns, leaving the cores to the numpy
        # steps and the tokenizer that follow; spinning on after a run slows extraction most
        # (bench/ort_spinning.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "1")
        options.add_session_config_entry("session.force_spinning_stop", "1")

        def session(name: str):
            try:
                return ort.InferenceSession(str(folder / name), options, providers=["CPUExecutionProvider"],
                                            disabled_optimizers=CPU_DISABLED_OPTIMIZERS)
            except Exception as error:  # InvalidProtobuf, Fail, NoSuchFile: ONNX Runtime's own types
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise ValueError(f"{folder}: {name} cannot be read by ONNX Runtime ({reason}); {_HINT}") from None

        self.encoder_file = encoders[precision]
        if precision == "int8":
            warn_if_int8_lost(folder, manifest)
        self.engine = OnnxEngine(session(self.encoder_file), session(manifest["graphs"]["entities"]),
                                 session(manifest["graphs"]["relations"]), tokenizer, manifest, config, types)
