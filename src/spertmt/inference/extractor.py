"""The user-facing handle on a trained model: `spertmt.load(folder)`, then `extract` or `predict`.

    extractor = spertmt.load("runs/demo/best")
    result = extractor.extract("John Smith works for Acme Corp in Berlin.")[0]
    result.entities[0].text, result.entities[0].type, result.entities[0].start  # characters
    result.relations[0].head, result.relations[0].type

Raw text is split into sentences and words with character offsets kept (spertmt.data.text);
relations are found within a sentence. Pre-tokenised input (a list of words) is one sentence.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import Config
from ..data.documents import Document
from ..layout import ModelFiles
from ..model.folder import load_model, load_tokenizer_from, read_folder_json
from ..runtime import one_thread_in_forked_children, resolve_device, warn_if_slow
from .calibration import Calibration, read_calibration, save_calibration
from .decoding import check_thresholds
from .engines.base import EngineExtractor
from .engines.pytorch import TorchEngine
from .runtimes import prepare_encoder, resolve_precision
from .thresholds import save_thresholds


class Extractor(EngineExtractor):
    """A trained model with its tokenizer and thresholds, ready to extract (`extract` and `predict`:
    engines/base.py, run by the PyTorch engine)."""

    def __init__(self, model, tokenizer, device: torch.device, thresholds: dict | None = None,
                 precision: str = "fp32", runtime: str = "torch", folder: Path | None = None,
                 calibration: Calibration | None = None):
        """`precision` and `runtime` name how the model's encoder runs (spertmt.inference.runtimes):
        "bf16" extracts under bf16 autocast (`load` has cast the encoder's weights to bf16 as well);
        for "int8" and runtime "onnx" `load` has already swapped the encoder. `folder`: the model
        folder it was loaded from (its run's metrics go into the model card of `save_pretrained`).
        `calibration`: its calibration.json (spertmt.inference.calibration); without one, items carry
        the model's own probabilities."""
        self.model, self.tokenizer, self.device, self.folder = model, tokenizer, device, folder
        self.calibration = calibration
        self.thresholds = thresholds or {}
        self.precision, self.runtime = resolve_precision(precision, runtime, device), runtime
        warn_if_slow(device, self.precision)
        # int8 and ONNX: the encoder is swapped and runs as it is
        self.engine = TorchEngine(model, tokenizer, device, "bf16" if self.precision == "bf16" else "fp32")

    # --------------------------------------------------------------------------------------
    # thresholds

    def tune_thresholds(self, documents: list[Document], target_precision: float | None = None,
                        confidence: float = 0.95, per_type: bool = True, batch_size: int = Config.eval_batch_size,
                        progress: bool = False) -> dict:
        """Chooses θ on `documents` (a dev set, never the test set) and extracts with it from now on
        (`save_pretrained` stores it): where F1 peaks, or with `target_precision` the lowest θ whose
        precision reaches it with `confidence` (a Clopper-Pearson bound; per type unless `per_type`
        is False; a type no θ brings there is not extracted). Returns what the choice saw on dev
        (thresholds.format_tuning and format_precision_cuts print it). The calibration, fitted under
        the former θ, is dropped: fit it again (`calibrate`)."""
        from . import thresholds as tuning

        if target_precision is not None:
            chosen = tuning.tune_for_precision(self, documents, target_precision, confidence, batch_size, progress,
                                               per_type)
            self.thresholds = tuning.precision_thresholds_content(chosen, per_type)
        else:
            chosen = tuning.tune_thresholds(self, documents, batch_size, progress, per_type)
            self.thresholds = tuning.thresholds_file_content(chosen, per_type)
        self.calibration = None
        return chosen

    def calibrate(self, documents: list[Document], batch_size: int = Config.eval_batch_size,
                  progress: bool = False) -> dict:
        """Fits the probabilities' calibration on `documents` (a dev set) under the θ this extractor
        applies, and reports calibrated probabilities from now on (`save_pretrained` stores it).
        Returns the cross-validated dev quality of each method (thresholds.format_calibration prints it)."""
        from .thresholds import calibrate

        calibration, report = calibrate(self, documents, batch_size, progress)
        self.calibration = calibration if calibration.heads else None
        return report

    # --------------------------------------------------------------------------------------
    # saving and sharing (spertmt.model.hub)

    def save_pretrained(self, folder: str | Path, **card) -> Path:
        """Writes this model as a model folder (`spertmt.load` reads it): weights (safetensors), the
        encoder's config and tokenizer, types, config, tuned thresholds, and a model card (README.md)
        with the hub's metadata and the test metrics of the run it came from. `card`: language,
        license, datasets, repo_id (spertmt.model.hub.model_card)."""
        if self.precision != "fp32" or self.runtime != "torch":
            raise ValueError(f"this extractor's encoder runs in {self.precision} / runtime {self.runtime} (its weights "
                             "are no longer the trained fp32 ones); save from a model loaded with precision fp32 "
                             "and runtime torch")
        from ..model.folder import save_checkpoint
        from ..model.hub import write_model_card

        def extra(tmp: Path) -> None:
            if self.thresholds:
                save_thresholds(tmp, self.thresholds)
            if self.calibration is not None:
                save_calibration(tmp, self.calibration)
            write_model_card(tmp, self.folder, self.config, self.types, **card)

        save_checkpoint(self.model, self.tokenizer, folder, extra)
        return Path(folder)

    def push_to_hub(self, repo_id: str, private: bool | None = None, token: str | None = None,
                    commit_message: str = "Upload spertmt model", revision: str | None = None, **card) -> str:
        """Saves this model (`save_pretrained`) and uploads it to the hub repo `repo_id`, created if it
        does not exist (`private` then says how); returns the commit's URL. Needs the network and a
        login (`hf auth login` or HF_TOKEN)."""
        import tempfile

        from ..model.hub import check_can_push, push_folder

        check_can_push(repo_id)
        with tempfile.TemporaryDirectory(prefix="spertmt-push-") as tmp:
            folder = self.save_pretrained(Path(tmp) / "model", repo_id=repo_id, **card)
            return push_folder(folder, repo_id, private=private, token=token, commit_message=commit_message,
                               revision=revision)


def load(folder: str | Path, device: str = "auto", precision: str = "fp32", runtime: str = "torch",
         revision: str | None = None, cache_dir: str | Path | None = None,
         trust_remote_code: bool = False) -> Extractor:
    """Loads a model folder written by training (`<output>/best` or `<output>/last`) or
    `save_pretrained`, or a hub repo id ("org/name", at `revision`) through the hub's cache
    (`cache_dir`, default the hub's; offline with HF_HUB_OFFLINE=1 once it is there).

    How the encoder runs (spertmt.inference.runtimes; bench/RESULTS.md gives speed and F1 of each):
    precision "fp32"; "bf16" (the encoder's weights cast to bf16, under autocast: fast where the
    hardware has bf16 units, recent x86 CPUs and GPUs); "int8" (int8 linear layers, CPU: faster,
    about 1 RE+ point lower); "auto" (bf16 on a GPU or a CPU with bf16 units, else fp32; `spertmt
    info` says which). runtime "onnx" runs the encoder with ONNX Runtime from a folder written by
    `spertmt export --format onnx`. Save (`save_pretrained`) from a model loaded in fp32.
    `trust_remote_code`: run the encoder's own Python code, where the folder has some (encoder/)."""
    from ..repos import resolve_model_folder

    one_thread_in_forked_children()
    resolved = resolve_device(device)
    precision = resolve_precision(precision, runtime, resolved)
    folder = resolve_model_folder(folder, revision, cache_dir)
    thresholds, stored = None, folder / ModelFiles.THRESHOLDS
    if stored.exists():
        thresholds = check_thresholds(read_folder_json(folder, ModelFiles.THRESHOLDS), str(stored))
    model = load_model(folder, resolved, trust_remote_code)
    prepare_encoder(model, folder, precision, runtime, resolved)
    tokenizer = load_tokenizer_from(folder, trust_remote_code)
    return Extractor(model, tokenizer, resolved, thresholds, precision, runtime, folder, read_calibration(folder))
