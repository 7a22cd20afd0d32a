"""Model folders: everything needed to predict, with no download.

A folder holds `weights.pt` (the state dict), `encoder_config.json` (the encoder's architecture),
`tokenizer/`, `types.json`, `config.json` (the full run configuration) and `version.json`. It is
written to a temporary folder first and then renamed, so an interrupted save never leaves half a
checkpoint behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ._version import __version__
from .config import Config
from .files import atomic_folder
from .data.documents import Types
from .model.encoder import encoder_from_config
from .model.spertmt import SpERTMT

# 2: the heads are modules of their own (entity_head.classifier.weight, ...). Format 1 folders
# (entity_classifier.weight, ...) load: the model renames their parameters as it reads them.
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)


def save_checkpoint(model: SpERTMT, tokenizer, folder: str | Path) -> None:
    with atomic_folder(folder) as tmp:
        torch.save(model.state_dict(), tmp / "weights.pt")
        (tmp / "encoder_config.json").write_text(json.dumps(model.encoder.config.to_dict(), indent=2))
        tokenizer.save_pretrained(tmp / "tokenizer")
        (tmp / "types.json").write_text(json.dumps(model.types.to_dict(), indent=2))
        model.config.save(tmp / "config.json")
        (tmp / "version.json").write_text(json.dumps({"spertmt": __version__, "format": FORMAT_VERSION}))


def _check_folder(folder: Path) -> None:
    if not (folder / "version.json").exists():
        raise FileNotFoundError(f"{folder} is not a spertmt model folder (no version.json)")
    version = json.loads((folder / "version.json").read_text())
    if version.get("format") not in READABLE_FORMATS:
        raise ValueError(f"{folder} was written by spertmt {version.get('spertmt')} in checkpoint format "
                         f"{version.get('format')}; this spertmt {__version__} reads formats "
                         f"{', '.join(map(str, READABLE_FORMATS))}")


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> SpERTMT:
    """The model of a folder written by `save_checkpoint`, in eval mode on `device`."""
    folder = Path(folder)
    _check_folder(folder)
    config = Config.from_dict(json.loads((folder / "config.json").read_text()), str(folder / "config.json"))
    types = Types.from_dict(json.loads((folder / "types.json").read_text()), str(folder / "types.json"))
    encoder = encoder_from_config(json.loads((folder / "encoder_config.json").read_text()))
    model = SpERTMT(config, types, encoder)
    model.load_state_dict(torch.load(folder / "weights.pt", map_location="cpu", weights_only=True))
    return model.to(device).eval()


def load_tokenizer_from(folder: str | Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(Path(folder) / "tokenizer", use_fast=True)
