"""Model folders: everything needed to predict, with no download.

A folder holds `model.safetensors` (the state dict; format 1 and 2 folders have `weights.pt`,
torch's pickle), `encoder_config.json` (the encoder's architecture; `encoder/` holds the encoder's
own Python code where it has some, which loads only with trust_remote_code), `tokenizer/`, `types.json`,
`config.json` (the full run configuration) and `version.json`, and may hold `thresholds.json`
(θ tuned on dev) and `README.md` (a model card, spertmt.model.hub). It is written to a temporary
folder first and then renamed, so an interrupted save never leaves half a checkpoint behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .. import files
from .._version import __version__
from ..config import Config
from ..data.documents import Types
from ..files import atomic_folder, give_default_permissions
from ..layout import CHECKPOINTS, ModelFiles
from .encoder import encoder_from_config, load_own_code, own_code_files, runs_own_code, save_own_code
from .spertmt import SpERTMT

# 3: weights in safetensors (no pickle: safe to load from the hub). 2: the heads are modules of
# their own (entity_head.classifier.weight, ...). Format 1 folders (entity_classifier.weight, ...)
# load: the model renames their parameters as it reads them.
FORMAT_VERSION = 3
READABLE_FORMATS = (1, 2, 3)


def save_checkpoint(model: SpERTMT, tokenizer, folder: str | Path, extra=None) -> None:
    """Writes a model folder; `extra(path)`, if given, adds files to it before it takes its place."""
    from safetensors.torch import save_file

    with atomic_folder(folder, markers=ModelFiles.MARKERS) as tmp:
        save_file(model.state_dict(), tmp / ModelFiles.WEIGHTS, metadata={"format": "pt"})
        give_default_permissions(tmp / ModelFiles.WEIGHTS)
        (tmp / ModelFiles.ENCODER_CONFIG).write_text(json.dumps(model.encoder.config.to_dict(), indent=2))
        if runs_own_code(model.encoder):
            save_own_code(model.encoder, tmp / ModelFiles.ENCODER_CODE)
        tokenizer.save_pretrained(tmp / ModelFiles.TOKENIZER)
        (tmp / ModelFiles.TYPES).write_text(json.dumps(model.types.to_dict(), indent=2))
        model.config.save(tmp / ModelFiles.CONFIG)
        (tmp / ModelFiles.VERSION).write_text(json.dumps({"spertmt": __version__, "format": FORMAT_VERSION}))
        if extra is not None:
            extra(tmp)


class ModelFolderError(ValueError):
    """A model folder that cannot be loaded; the message names the folder, the file and a hint."""


_HINT = "re-save it from its run (best/ or last/ under the run folder), or train again"


def read_folder_json(folder: Path, name: str):
    """A JSON file of a model folder; a missing or damaged one raises a ModelFolderError naming both."""
    return files.read_folder_json(folder, name, _HINT, ModelFolderError)


def _check_folder(folder: Path) -> dict:
    if folder.is_file():  # a file of the folder (model.safetensors, encoder.onnx) given for the folder
        hint = (f"pass the folder, {folder.parent}" if (folder.parent / ModelFiles.VERSION).exists()
                else "pass a model folder (best/ or last/ of a run)")
        raise FileNotFoundError(f"{folder} is a file, not a model folder: {hint}")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such model folder (a model that spertmt trained: a run's best/ "
                                "or last/, or a hub repo id owner/name)")
    if not (folder / ModelFiles.VERSION).exists():
        runs = [name for name in CHECKPOINTS if (folder / name / ModelFiles.VERSION).exists()]
        hint = f"; it is a run folder: pass {folder / runs[0]}" if runs else ""
        raise FileNotFoundError(f"{folder} is not a spertmt model folder (no version.json){hint}")
    version = read_folder_json(folder, ModelFiles.VERSION)
    if version.get("format") not in READABLE_FORMATS:
        raise ValueError(f"{folder} was written by spertmt {version.get('spertmt')} in checkpoint format "
                         f"{version.get('format')}; this spertmt {__version__} reads formats "
                         f"{', '.join(map(str, READABLE_FORMATS))}")
    return version


def load_model(folder: str | Path, device: str | torch.device = "cpu", trust_remote_code: bool = False) -> SpERTMT:
    """The model of a folder written by `save_checkpoint`, in eval mode on `device`. A missing or
    damaged file raises a ModelFolderError that names the folder and the file. An encoder with its own
    code (encoder/) runs that code, so it loads only with `trust_remote_code`."""
    folder = Path(folder)
    version = _check_folder(folder)
    config = Config.from_dict(read_folder_json(folder, ModelFiles.CONFIG), str(folder / ModelFiles.CONFIG))
    types = Types.from_dict(read_folder_json(folder, ModelFiles.TYPES), str(folder / ModelFiles.TYPES))
    own_code = _own_code(folder, trust_remote_code)
    encoder = encoder_from_config(read_folder_json(folder, ModelFiles.ENCODER_CONFIG), own_code)
    model = SpERTMT(config, types, encoder)
    name = ModelFiles.WEIGHTS if version["format"] >= 3 else ModelFiles.LEGACY_WEIGHTS
    weights = folder / name
    if not weights.exists():
        raise ModelFolderError(f"{folder}: {name} is missing; {_HINT}")
    try:
        if name == ModelFiles.WEIGHTS:
            from safetensors.torch import load_file

            state = load_file(weights)
        else:
            state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated, empty, not a state dict
        raise ModelFolderError(f"{folder}: {name} cannot be loaded ({_first_line(error)}); {_HINT}") from None
    _check_types_match(folder, name, state, model)
    try:
        model.load_state_dict(state)
    except Exception as error:  # other shapes, other parameters
        raise ModelFolderError(f"{folder}: {name} cannot be loaded ({_first_line(error)}); {_HINT}") from None
    return model.to(device).eval()


def _own_code(folder: Path, trusted: bool) -> Path | None:
    """The folder of the encoder's own code, where it has some and the caller trusts it."""
    code = folder / ModelFiles.ENCODER_CODE
    if not code.is_dir():
        return None
    if not (code / "config.json").exists():
        raise ModelFolderError(f"{folder}: {ModelFiles.ENCODER_CODE}/, the encoder's own code, has no config.json; "
                               f"{_HINT}")
    return _trusted(folder, code, "encoder", trusted)


def _trusted(folder: Path, code: Path, part: str, trusted: bool) -> Path:
    """`code`, a part of the model folder with its own Python code, where the caller trusts it."""
    if not trusted:
        files = ", ".join(p.relative_to(code).as_posix() for p in own_code_files(code))
        raise ModelFolderError(f"{folder}: its {part} runs its own Python code ({code.name}/: {files}); "
                               "spertmt runs it only where you say you trust it: trust_remote_code=True in Python, "
                               "--trust-remote-code on the command line (an exported folder runs without it: "
                               "--runtime onnx)")
    return code


def _first_line(error: Exception) -> str:
    """The line of an error that says what is wrong (load_state_dict's first line is a header)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    return lines[1] if len(lines) > 1 and lines[0].endswith(":") else lines[0]


def _check_types_match(folder: Path, name: str, state: dict, model: SpERTMT) -> None:
    """types.json against the weights: each head's classifier has a row per type (spert's entity
    head one more, for "none"), so a types.json that lost or gained a type is named as the culprit,
    not the weights."""
    expected = model.state_dict()
    listed = {"entity": len(model.types.entities), "relation": len(model.types.relations)}
    trained = dict(listed)
    for head in listed:
        ours = f"{head}_head.classifier.weight"
        for key in (ours, f"{head}_classifier.weight"):  # formats 2-3, format 1
            if key in state and ours in expected:
                trained[head] += int(state[key].shape[0]) - int(expected[ours].shape[0])
                break
    if trained != listed:
        types = model.types
        raise ModelFolderError(
            f"{folder}: types.json lists {listed['entity']} entity and {listed['relation']} relation types "
            f"({', '.join(t.name for t in types.entities)}; {', '.join(t.name for t in types.relations)}), but {name} "
            f"was trained with {trained['entity']} and {trained['relation']}: types.json must be the one saved with "
            f"these weights; {_HINT}")


def load_tokenizer_from(folder: str | Path, trust_remote_code: bool = False):
    """The tokenizer of a model folder (tokenizer/). One with its own code (Python files beside it, as
    save_pretrained writes a tokenizer whose class comes from its repo) runs that code, so it loads
    only with `trust_remote_code`."""
    from transformers import AutoTokenizer

    folder = Path(folder)
    path = folder / ModelFiles.TOKENIZER
    if not path.is_dir():
        raise ModelFolderError(f"{folder}: tokenizer/ is missing; {_HINT}")
    own_code = _trusted(folder, path, "tokenizer", trust_remote_code) if own_code_files(path) else None

    def load(where: Path):
        return AutoTokenizer.from_pretrained(where, use_fast=True, trust_remote_code=trust_remote_code)

    try:
        return load(path) if own_code is None else load_own_code(own_code, "spertmt_tokenizer", load)
    except Exception as error:
        raise ModelFolderError(f"{folder}: tokenizer/ cannot be loaded ({error}); {_HINT}") from None
