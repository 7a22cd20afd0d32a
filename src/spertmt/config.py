"""One configuration object with docs/method.md's defaults; TOML files and `key=value` overrides.

Every key is flat (`epochs`, `neg_entity_count`, ...), so a command line override is
`--set epochs=3`. Unknown keys are errors that list the valid ones.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from .files import write_text_atomic

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

OFFLINE_ENCODER = "offline:all-MiniLM-L6-v2"
MODES = ("spertmt", "spert")
# The settings left None whose default depends on the mode (`Config.resolved` fills them in): SpERT's
# own for the baseline (its code's means, 100 negatives, θ 0.4 on relations), the paper's otherwise.
MODE_DEFAULTS: dict[str, dict[str, Any]] = {
    "spertmt": {"loss_reduction": "sum", "neg_entity_count": 120, "neg_relation_count": 120, "threshold": 0.85},
    "spert": {"loss_reduction": "mean", "neg_entity_count": 100, "neg_relation_count": 100, "threshold": 0.4},
}
# Lists of choices and defaults that several layers and the command line read. Here, torch-free,
# so that `spertmt --help` stays fast.
TRAINING_PRECISIONS = ("fp32", "bf16", "fp16")  # autocast while training (Config.precision)
EXTRACTION_PRECISIONS = ("fp32", "bf16", "int8", "auto")  # how a loaded model runs (load, --precision)
RUNTIMES = ("torch", "onnx")  # what runs a loaded model's encoder (load, --runtime)
# predict's input (its file's suffix tells which, but for paragraphs; a folder is read as its .txt files)
INPUT_FORMATS = ("txt", "paragraphs", "jsonl", "csv", "tsv", "spert", "folder")
# predict's output (doccano, labelstudio, prodigy, brat and webanno: given, not told by a name)
OUTPUT_FORMATS = ("jsonl", "spert", "doccano", "labelstudio", "prodigy", "brat", "webanno")
# Extraction batches (texts at most, padded pieces at most or None) unless the caller says. On a CPU
# the work follows the padded pieces, so a batch of short sentences may hold more than one of long
# ones: chosen with bench/extract_batching.py (CoNLL04 dev, both engines); a GPU's as before (unmeasured).
EXTRACT_BATCHING = {"cpu": (64, 384), "gpu": (16, None)}
# What `spertmt eval --set` may change on a trained model: how it predicts and how it is scored.
# Every other key describes how the model was built or trained, and is refused there.
PREDICTION_KEYS = ("threshold", "multi_label_relations", "max_pairs", "max_span_width", "overlapping",
                   "flat_ner", "hyphenated_words", "eval_batch_size", "data_root", "test_path")
# The settings that shape a model's weights: a run that starts from a trained model (init_model) takes them
# from it.
INIT_MODEL_KEYS = ("encoder", "lowercase", "mode", "multi_task", "entity_logits", "width_embedding_size")
CHOICES = {  # the allowed values of the settings that name a choice
    "mode": MODES,
    "precision": TRAINING_PRECISIONS,
    "loss_reduction": ("mean", "sum"),
    "ranking_average": ("pooled", "separate"),
    "loss_balance": ("fixed", "uncertainty"),
    "threshold_selection": ("fixed", "global", "per_type"),
    "hyphenated_words": ("joined", "apart"),
}
# Ranges of the numeric settings: (lowest, highest, whether the lowest itself is allowed, whether the
# highest is).
_INF = float("inf")
RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "fold": (0, _INF, True, True), "num_folds": (1, _INF, True, True),
    "max_train_documents": (0, _INF, True, True), "max_eval_documents": (0, _INF, True, True),
    "max_length": (4, _INF, True, True), "max_span_width": (1, _INF, True, True),
    "width_embedding_size": (1, _INF, True, True), "dropout": (0, 1, True, True), "delta": (0, 1, True, True),
    "margin_pos": (-_INF, _INF, True, True), "margin_neg": (-_INF, _INF, True, True),
    "gamma": (0, _INF, False, True), "alpha": (0, _INF, True, True), "beta": (0, _INF, True, True),
    "relation_weight": (0, _INF, True, True), "negative_ranking_weight": (0, _INF, True, True),
    "neg_entity_count": (0, _INF, True, True), "neg_relation_count": (0, _INF, True, True),
    "epochs": (1, _INF, True, True), "batch_size": (1, _INF, True, True),
    "eval_batch_size": (1, _INF, True, True), "lr": (0, _INF, False, True), "head_lr": (0, _INF, False, True),
    "weight_decay": (0, _INF, True, True), "warmup": (0, 1, True, True),
    "max_grad_norm": (0, _INF, False, True), "adam_eps": (0, _INF, False, True),
    "ema_decay": (0, 1, True, False), "seed": (0, 2**63 - 1, True, True),
    "num_workers": (0, _INF, True, True),
    "max_pairs": (1, _INF, True, True),
    "target_precision": (0, 1, False, False), "target_confidence": (0, 1, False, False),
    "dev_split": (0, 0.5, True, True),
}


def _expected(annotation: str) -> tuple[tuple[type, ...], bool]:
    """The Python types a field's annotation allows, and whether None is allowed."""
    names = [part.strip() for part in annotation.split("|")]
    types = {"int": (int,), "float": (float, int), "bool": (bool,), "str": (str,), "dict": (dict,)}
    allowed: tuple[type, ...] = tuple(t for name in names if name != "None" for t in types[name])
    return allowed, "None" in names


def check_threshold(value: Any, source: str = "threshold") -> None:
    """θ must be a finite number wherever it is given (settings, --threshold, extract(threshold=...),
    thresholds.json): NaN would keep nothing and ±inf everything or nothing, all silently."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) == _INF:
        raise ValueError(f"{source}: threshold = {value!r} is not a finite number (θ is the score an entity or "
                         "relation must reach to be kept)")


# The dev metrics' names (evaluate's dict, dotted): the one select_metric may name.
_DEV_METRIC = re.compile(r"(ner|re|re_strict)\.(micro|macro|per_type\.[^.]+)\.(precision|recall|f1)")


def check_value(key: str, value: Any, source: str = "config") -> None:
    """Raises a ValueError naming the key, the value and what is expected, where `value` does not
    fit the setting `key` (its type, its range, its allowed values)."""
    field_types = {f.name: str(f.type) for f in dataclasses.fields(Config)}  # annotations are strings here
    allowed, optional = _expected(field_types[key])
    if value is None and optional:
        return
    is_bool = isinstance(value, bool)
    if not isinstance(value, allowed) or (is_bool and bool not in allowed):
        words = {float: "a number", int: "a whole number", bool: "true or false", str: "a string", dict: "a table"}
        expected = " or ".join(dict.fromkeys(words[t] for t in allowed if not (t is int and float in allowed)))
        expected += " (or leave it unset)" if optional else ""
        raise ValueError(f"{source}: {key} = {value!r} is a {type(value).__name__}; expected {expected}")
    if key in CHOICES and value not in CHOICES[key]:
        raise ValueError(f"{source}: {key} must be one of {CHOICES[key]}, not {value!r}")
    if key == "threshold":
        check_threshold(value, source)
    if key == "encoder" and not cast(str, value).strip():
        raise ValueError(f"{source}: encoder is empty; give a Hugging Face name, a local folder or the offline "
                         f"default {OFFLINE_ENCODER!r}")
    if key == "select_metric" and not _DEV_METRIC.fullmatch(cast(str, value)):
        raise ValueError(f"{source}: select_metric = {value!r} names no dev metric; expected TASK.AVERAGE.FIGURE, "
                         "TASK ner, re or re_strict, AVERAGE micro, macro or per_type.TYPE, FIGURE precision, recall "
                         "or f1 (e.g. re_strict.micro.f1)")
    if key in RANGES:
        low, high, low_included, high_included = RANGES[key]
        number = float(cast(float, value))  # a number by now: the type check above passed
        if number != number or abs(number) == _INF:  # no setting is meant to be NaN or infinite
            raise ValueError(f"{source}: {key} = {value!r} is not a finite number")
        if (not (low <= number <= high) or (number == low and not low_included)
                or (number == high and not high_included)):
            bounds = f"{'at least' if low_included else 'above'} {low}"
            bounds += f" and {'at most' if high_included else 'below'} {high}" if high != _INF else ""
            raise ValueError(f"{source}: {key} = {value!r} is out of range; expected a number {bounds}")


@dataclass
class Config:
    """Everything a run needs. Defaults are SpERT.MT's (docs/method.md); `mode = "spert"` switches the
    baseline's own defaults in where they differ (see `resolved`)."""

    # Data. A relative path is read under `data_root` (default: $SPERTMT_DATA, else ../shared/datasets)
    # where it is there, else from the working directory.
    data_root: str = ""
    train_path: str = "conll04/conll04_train.json"  # the training documents (SpERT JSON)
    # The dev set: it picks the best epoch, tunes θ where asked and fits the calibration; "": none.
    dev_path: str = "conll04/conll04_dev.json"
    test_path: str = "conll04/conll04_test.json"  # scored once when training ends; "": none
    # The entity and relation types (SpERT's types JSON); "": the types the data files use, in order of
    # first appearance, no relation type symmetric.
    types_path: str = "conll04/conll04_types.json"
    fold: int = 0  # substituted for "{fold}" in the paths (ADE's 10 folds)
    num_folds: int = 1  # how many folds --all-folds runs
    max_train_documents: int = 0  # 0: all; a positive number keeps the first N (quick runs)
    max_eval_documents: int = 0  # 0: all; a positive number scores the first N of dev and test
    # Without a dev set (dev_path empty, as ADE): this share of the training documents is held out as
    # the dev set (every k-th document, the same for every seed), which then chooses the epoch, tunes
    # θ and fits the calibration; the model trains on the rest. 0: none (the last epoch is kept).
    dev_split: float = 0.0

    # Encoder: a Hugging Face name or folder, or the offline default packaged with spertmt.
    encoder: str = OFFLINE_ENCODER
    lowercase: bool | None = None  # None: as the tokenizer does
    # Run the encoder's own Python code: an encoder whose config.json names its classes in auto_map
    # (e.g. Alibaba-NLP/gte-multilingual-base), or whose tokenizer_config.json names its tokenizer's.
    # Only for code you trust; the model folder keeps that code, and loading the folder asks again
    # (trust_remote_code=True, --trust-remote-code).
    trust_remote_code: bool = False
    # The encoder's window in sub-word pieces (at most its position limit); a longer document is
    # encoded in overlapping windows.
    max_length: int = 512
    # A model spertmt trained (a run's best/ or last/, or a hub repo id) whose weights training starts
    # from: its encoder, and each head's weights of the types it shares by name with this run's (a type
    # it lacks starts fresh). The settings that shape the weights (INIT_MODEL_KEYS: encoder, lowercase,
    # mode, multi_task, entity_logits, width_embedding_size) are taken from it. "": none.
    init_model: str = ""

    # Model (docs/method.md). mode "spertmt" or "spert"; the ablation switches apply to "spertmt".
    mode: str = "spertmt"
    multi_task: bool = True  # False: "-MTL", softmax classifiers with a none class
    iou_loss: bool = True  # False: "-EIL", plain BCE for entity identification
    entity_logits: bool = True  # False: "-entity-logits"
    # False: p(s) enters the relation head detached, so the relation loss does not move the entity
    # scores through it (docs/method.md is silent; True trains everything through every path).
    entity_logits_grad: bool = True
    max_span_width: int = 10  # the longest candidate span, in words
    width_embedding_size: int = 25  # the size of the span-width embedding joined to each span
    dropout: float = 0.1  # on the classifiers' inputs
    delta: float = 0.25  # δ of the IoU-scaled entity loss: negatives' weight (positives': 1 - δ)
    margin_pos: float = 2.5  # m+ of the ranking loss: a gold class's score is pushed above it
    margin_neg: float = 0.5  # m- of the ranking loss: the best wrong class's score is pushed below -m-
    gamma: float = 2.0  # γ of the ranking loss: how steeply it rises past the margins
    # Identification and ranking weights inside each head; the paper gives no values. Only their
    # ratio matters much under clipping: β = 0.5 and 2 were within seed noise of 1 on CoNLL04 dev.
    alpha: float = 1.0  # α: the identification losses' weight
    beta: float = 1.0  # β: the ranking losses' weight
    # L = L_entity + relation_weight * L_relation (docs/method.md: 1). Below 1, the entity head gets a
    # larger share of the encoder's early updates (docs/results.md, "Why SpERT.MT trails").
    relation_weight: float = 1.0
    # The paper's open choices (docs/method.md, "Totals"): how each head's loss is reduced over its samples.
    # "sum" is the paper's Σ as written, "mean" divides by the sample count (SpERT's code). None
    # takes the mode's default: "sum" for spertmt (chosen on the CoNLL04 dev set: it learns as fast
    # as SpERT and ends above it; docs/results.md, "Balancing SpERT.MT's losses"), "mean" for spert.
    # Under "sum" the entity head's ~250 samples a batch outweigh the relation head's ~20 about
    # 8 to 1 on the shared encoder (with means the relation head pulls 1.5x harder), and the gradient
    # is some 100x larger: clipping at max_grad_norm = 1.0 shortens every step (with means it
    # shortened every step early on too: results/diagnostics/gradient-balance.json).
    loss_reduction: str | None = None
    # Beyond the paper (a diagnostic): the weight of the ranking loss of negative samples (spans and
    # pairs with no gold class, whose only term is L−) against that of the positives.
    negative_ranking_weight: float = 1.0
    # Beyond the paper: "pooled" averages the ranking loss over all samples; "separate" averages the
    # positives and the negatives apart and adds the two means (needs loss_reduction = "mean").
    ranking_average: str = "pooled"
    # Beyond the paper: how the two heads' losses are weighted. "fixed": 1 and relation_weight;
    # "uncertainty": learned weights exp(-s_k) L_k + s_k per head (Kendall et al. 2018), s_k
    # trained with the heads (at head_lr).
    loss_balance: str = "fixed"

    # Sampling; None takes the mode's default (120 for spertmt, 100 for spert).
    neg_entity_count: int | None = None  # negative spans drawn per document, at most
    neg_relation_count: int | None = None  # pairs of gold entities without a relation per document, at most

    # Training.
    epochs: int = 20
    batch_size: int = 2  # training documents a step
    eval_batch_size: int = 8  # documents at once when scoring and extracting
    lr: float = 5e-5  # AdamW's peak learning rate (after warm-up, then linear decay to 0)
    # Learning rate of everything but the encoder (classifiers, width embeddings, loss weights), as
    # PURE and PL-Marker train their heads faster than the encoder. None: lr (the paper).
    head_lr: float | None = None
    # True: the encoder's weights stay as training starts them (the encoder's, or init_model's); the
    # rest trains (classifiers, width embeddings), with no backward pass through the encoder.
    freeze_encoder: bool = False
    weight_decay: float = 0.01  # AdamW's
    warmup: float = 0.1  # the share of the steps over which the learning rate rises linearly
    max_grad_norm: float = 1.0  # gradients are clipped to this norm
    # SpERT's optimizer (transformers.AdamW with correct_bias=False, eps 1e-6); True: torch's AdamW.
    adam_bias_correction: bool = False
    adam_eps: float = 1e-6  # AdamW's ε
    # Beyond the paper: an exponential moving average of the weights (spertmt.training.averaging)
    # with this decay is what dev evaluation sees and best/ and last/ keep; 0 turns it off (the
    # paper). 0.999 averages over about the last 1,000 steps (two CoNLL04 epochs at batch 2).
    ema_decay: float = 0.0
    seed: int = 0  # weights' initialisation, sampling and shuffling
    shuffle: bool = True  # False: documents in file order (reproducible comparisons)
    length_buckets: bool = False  # batches of documents of similar length: less padding, faster steps
    precision: str = "fp32"  # "bf16" or "fp16" autocast (fp16 with a gradient scaler)
    num_workers: int = 0  # data-loading processes (0: in the training process)
    device: str = "auto"  # "auto" (a GPU when torch sees one), "cpu", "cuda" or "cuda:N"
    # The dev metric that picks the best checkpoint, TASK.AVERAGE.FIGURE: ner, re or re_strict; micro,
    # macro or per_type.TYPE; precision, recall or f1. Where the run has no relation type, a
    # relation metric gives way to ner.micro.f1.
    select_metric: str = "re_strict.micro.f1"
    eval_every_epoch: bool = True  # False: no dev scoring between epochs (the last epoch is kept)
    # Callbacks by their registered name (spertmt.training.callbacks.CALLBACKS) and arguments, e.g.
    # in TOML `[callbacks.early_stopping]` then `patience = 3`; run after the built-in ones.
    callbacks: dict = field(default_factory=dict)

    # Prediction. None takes the mode's default (0.85 for spertmt; spert: 0.4 on relations).
    threshold: float | None = None
    # θ at the end of training: "fixed" keeps `threshold` (the paper's 0.85); "global" tunes one θ
    # per head on the dev set, "per_type" one per head and type (spertmt tune-threshold's sweep).
    # The tuned values go to the model folders' thresholds.json and score the test set.
    threshold_selection: str = "fixed"
    # θ for a precision asked for, instead of threshold_selection's F1: per head and type on dev (one
    # per head with threshold_selection "global"), the lowest θ where a one-sided Clopper-Pearson
    # bound (at target_confidence) of the dev precision reaches it, relations cut on their joint
    # score (spertmt tune-threshold --target-precision; docs/using.md, "Probabilities").
    target_precision: float | None = None
    # The bound's confidence for each cut tried, uncorrected for trying many: 0.99 kept the chance of
    # a cut below the target under 4% in simulation, the worst case included (docs/results.md).
    target_confidence: float = 0.95
    # The probabilities calibrated on the dev set at the end of training: calibration.json in best/
    # and last/ (spertmt calibrate; docs/using.md, "Probabilities"). It moves no score and no F1.
    calibrate: bool = True
    multi_label_relations: bool = False  # True: a pair keeps every type that reaches θ, not only the best
    max_pairs: int = 1000  # relation candidates classified at once (bounds memory)
    overlapping: bool = True  # False: SpERT's no_overlapping in evaluation
    # Raw-text extraction (extract, predict): True, predicted entities never overlap (of overlapping
    # spans the best-scoring one is kept, as GLiNER's flat_ner) and relations join kept entities
    # only; False, SpERT's decoding (nested and overlapping spans may each be an entity). None: set
    # when training, to True where no two entities of the training data overlap (CoNLL04; not
    # SciERC, ADE). Scoring (eval, dev and test) keeps SpERT's decoding unless eval --set flat_ner=true.
    flat_ner: bool | None = None
    # Raw-text extraction's words: "joined" keeps "strife-torn" one word (as CoNLL04's and SciERC's
    # words do), "apart" makes it three (as ADE's do). None: set when training, to the training data's
    # way (data.documents.joins_hyphenated_words); "apart" in a model folder written before this key.
    hyphenated_words: str | None = None

    extra: dict = field(default_factory=dict)  # free-form notes stored with the run

    def validate(self, source: str = "config") -> Config:
        """Checks every setting's type, range and allowed values (see check_value); returns self."""
        for f in dataclasses.fields(self):
            check_value(f.name, getattr(self, f.name), source)
        return self

    def with_prediction_settings(self, **settings) -> Config:
        """A checked copy with settings of how a trained model predicts changed (PREDICTION_KEYS: θ,
        span width, decoding, ...); a setting of how it was built or trained is refused."""
        built = sorted(set(settings) - set(PREDICTION_KEYS))
        if built:
            raise ValueError(f"{', '.join(built)}: not a prediction setting (it describes how the model was "
                             f"built or trained); a trained model can change {', '.join(PREDICTION_KEYS)}")
        return dataclasses.replace(self, **settings).validate()

    @property
    def multitask_heads(self) -> bool:
        """SpERT.MT's heads (identification + ranking: their scores are margins), not softmax or
        sigmoid classifiers (`spert`, -MTL: their scores are probabilities)."""
        return self.mode == "spertmt" and self.multi_task

    def starting_from(self, trained: Config) -> Config:
        """A copy with the settings that shape the weights (INIT_MODEL_KEYS) of `trained`, the config
        of the model this run starts from (init_model)."""
        return dataclasses.replace(self, **{key: getattr(trained, key) for key in INIT_MODEL_KEYS})

    def resolved(self) -> Config:
        """A validated copy with the mode-dependent defaults filled in."""
        self.validate()
        defaults = MODE_DEFAULTS[self.mode]
        loss_reduction = self.loss_reduction or defaults["loss_reduction"]
        if self.dev_split and self.dev_path:
            raise ValueError(f"dev_split = {self.dev_split} holds training documents out as the dev set where there "
                             f"is none; this config has dev_path = {self.dev_path!r} (set one of them)")
        if self.ranking_average == "separate" and loss_reduction != "mean":
            raise ValueError('ranking_average = "separate" averages positives and negatives apart: '
                             'it needs loss_reduction = "mean"')
        return dataclasses.replace(
            self,
            loss_reduction=loss_reduction,
            **{key: defaults[key] for key in ("neg_entity_count", "neg_relation_count", "threshold")
               if getattr(self, key) is None},
        )

    def data_path(self, key: str) -> Path:
        """The file a data key names: a relative path under the data root where a file is there, else
        in the working directory where one is there (a user's own data beside the command), else
        under the data root (which the error for a missing file then names)."""
        value = getattr(self, key).replace("{fold}", str(self.fold))
        path = Path(value)
        if not value or path.is_absolute():
            return path
        under_root = Path(self.data_root or os.environ.get("SPERTMT_DATA") or default_data_root()) / path
        return path if not under_root.exists() and path.exists() else under_root

    def check_own_data(self) -> None:
        """Refuses a training set of the user's with dev, test or types paths left at CoNLL04's
        defaults: another dataset's files would be read beside it (scored, or refused on the types)."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        if self.train_path == defaults["train_path"]:
            return
        left = [key for key in ("dev_path", "test_path", "types_path") if getattr(self, key) == defaults[key]]
        if left:
            empty = [f"an empty {key}: {'the types your data files use' if key == 'types_path' else 'none'}"
                     for key in left]
            raise ValueError(f"train_path is {self.train_path!r} but {', '.join(left)} still "
                             f"{'names' if len(left) == 1 else 'name'} CoNLL04's "
                             f"files (the defaults): set {' and '.join(left)} to your data's ({'; '.join(empty)})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def from_dict(cls, data: dict, source: str = "config", lines: dict[str, int] | None = None) -> Config:
        """A config from a dict of settings, each checked (the error names `source` and, where
        `lines` gives it, the line of the key)."""
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = [key for key in data if key not in valid]
        if unknown:
            key = unknown[0]
            where = f"{source}, line {lines[key]}" if lines and key in lines else source
            hint = (f"; a config has no sections but {list(TABLE_KEYS)}: write the settings at the top level"
                    if isinstance(data[key], dict) else _did_you_mean(key, valid))
            raise ValueError(f"{where}: unknown key {key!r}{hint}"
                             + (f" (and {len(unknown) - 1} more unknown)" if len(unknown) > 1 else "")
                             + f"; valid keys: {sorted(valid)}")
        for key, value in data.items():
            where = f"{source}, line {lines[key]}" if lines and key in lines else source
            check_value(key, value, where)
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> Config:
        """Reads a TOML (or JSON) config file; syntax and setting errors name the file and line."""
        path = Path(path)
        text, data = read_settings_file(path, "config file", ".toml, or .json")
        lines: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), 1):
            key = line.split("=", 1)[0].strip().strip('"') if "=" in line else ""
            lines.setdefault(key, number)
        return cls.from_dict(data, str(path), lines)

    def override(self, assignments: list[str], source: str = "--set") -> Config:
        """Applies `key=value` strings; values are parsed as TOML (strings may stay unquoted). Errors
        name `source`, where the strings come from."""
        updates: dict[str, Any] = {}
        types = {f.name: f.type for f in dataclasses.fields(self)}
        for assignment in assignments:
            if "=" not in assignment:
                raise ValueError(f"{source}: {assignment!r} is not key=value")
            key, raw = (part.strip() for part in assignment.split("=", 1))
            if key not in types:
                raise ValueError(
                    f"unknown key {key!r} in {source}{_did_you_mean(key, types)}; valid keys: {sorted(types)}"
                )
            try:
                value = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError:
                value = raw  # a bare string
            if types[key] == "str" and not isinstance(value, str):
                value = raw  # e.g. --set encoder=123abc
            shown = assignment if assignment.isprintable() else repr(assignment)  # one line, whatever it holds
            check_value(key, value, f"{source} {shown}")
            updates[key] = value
        return dataclasses.replace(self, **updates)


def read_settings_file(path: Path, kind: str, formats: str) -> tuple[str, dict]:
    """The text of a TOML file (JSON where its name ends in .json) and the object it holds; a missing
    file, a folder, bytes that are not UTF-8, a syntax error or a value that is no object is one
    ValueError or FileNotFoundError naming the file (`kind`, e.g. "config file", and its `formats`
    word the message)."""
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; give a {kind} ({formats})")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such {kind}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:  # JSONDecodeError is a ValueError
        raise ValueError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'}: {error}") from None
    if not isinstance(data, dict):  # a JSON list or number; TOML is always a table
        raise ValueError(f"{path}: holds a {type(data).__name__}; a {kind} is an object of settings")
    return text, data


def as_config(config: Config | dict | str | Path) -> Config:
    """A Config from what `train` takes: a Config, a dict of settings (checked as a file's are) or the
    path of a config file (TOML or JSON)."""
    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return Config.from_dict(config)
    if isinstance(config, (str, Path)):
        return Config.load(config)
    raise TypeError(f"config must be a Config, a dict of settings or a config file's path, not "
                    f"{type(config).__name__}")


# The keys whose value is a table ([callbacks] in TOML): every other is a setting at the top level.
TABLE_KEYS = tuple(f.name for f in dataclasses.fields(Config) if str(f.type) == "dict")

# What SpERT's, PURE's and PL-Marker's arguments and Hugging Face's TrainingArguments call some of these
# settings: a config carried over from them is told the name here (difflib alone offered
# 'ranking_average' for 'learning_rate').
OTHER_NAMES = {
    "learning_rate": "'lr'", "lr_warmup": "'warmup'", "warmup_ratio": "'warmup'",
    "num_train_epochs": "'epochs'", "num_epochs": "'epochs'", "train_batch_size": "'batch_size'",
    "per_device_train_batch_size": "'batch_size'", "per_device_eval_batch_size": "'eval_batch_size'",
    "valid_path": "'dev_path'", "model_path": "'encoder'", "tokenizer_path": "'encoder'",
    "model_name_or_path": "'encoder'", "max_span_size": "'max_span_width'", "size_embedding": "'width_embedding_size'",
    "prop_drop": "'dropout'", "rel_filter_threshold": "'threshold' (θ)", "sampling_processes": "'num_workers'",
    "no_overlapping": "'overlapping', with the opposite value", "cpu": "'device' (device = \"cpu\")",
    "save_path": "train's --output", "log_path": "train's --output", "output_dir": "train's --output",
    "train_file": "'train_path'", "dev_file": "'dev_path'", "test_file": "'test_path'",
    "max_seq_length": "'max_length'", "do_lower_case": "'lowercase'", "warmup_proportion": "'warmup'",
    "task_learning_rate": "'head_lr' (the heads' learning rate)", "fp16": "'precision' (precision = \"fp16\")",
    "num_epoch": "'epochs'", "max_span_length": "'max_span_width'",
}


def _did_you_mean(key: str, valid: Iterable[str]) -> str:
    """" (did you mean 'batch_size'?)" for the closest valid key, or nothing when none is close; a
    name of SpERT's or Hugging Face's for a setting gets the setting's name here."""
    if key in OTHER_NAMES:
        return f" (here it is {OTHER_NAMES[key]})"
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def default_data_root() -> Path:
    """../shared/datasets next to the working directory or the source checkout, else ./datasets."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        candidate = base.parent / "shared" / "datasets"
        if candidate.exists():
            return candidate
    return Path("datasets")
