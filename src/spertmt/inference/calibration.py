"""Probabilities a reader can trust: calibration fitted on dev, and θ for a precision asked for.

What a probability means (docs/using.md, "Probabilities"): for an entity, that its span and type
are in the gold; for a relation, that the triple is right under RE+ (its type, and its two
entities' spans and types). Calibration maps an item's score (what θ is compared with) to that
probability, per head and, where dev has enough of a type, per type. Being a function of the
score that never decreases, it keeps the order of the items: a θ on scores is a θ on
probabilities, and F1 at any θ is unchanged.

Numpy only: both engines (PyTorch, and the runtime without torch) decode with it
(decoding.decode_arrays), from the model folder's `calibration.json`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import read_folder_json, write_text_atomic
from ..layout import ModelFiles

CALIBRATION_FORMAT = 2  # 2: a head may read the joint score (format 1: every map reads scores)
READABLE_FORMATS = (1, 2)
OWN = "model's own"  # the report's row of the model's own probabilities
JOINT_SCORE = "joint score"  # what a relation head's maps may read instead of the score (decoding.joint_score)
METHODS = ("platt", "isotonic")
FOLDS = 5
# A type gets a map of its own only with this many right and this many wrong candidates on dev.
MIN_PER_CLASS = 30
# Isotonic steps are kept off 0 and 1: a step of dev items all right (or all wrong) is an estimate,
# not a certainty.
ISOTONIC_FLOOR = 1e-3
ECE_BINS = 10


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warning for large |x|


# ------------------------------------------------------------------------------------------
# the maps: score -> probability


@dataclass(frozen=True)
class Platt:
    """p = sigmoid(a·f(score) + b), f the identity, or logit for heads whose scores are probabilities."""

    a: float
    b: float
    logit_input: bool

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        x = _logit(scores) if self.logit_input else np.asarray(scores, dtype=np.float64)
        return _sigmoid(self.a * x + self.b)

    def to_dict(self) -> dict:
        return {"method": "platt", "a": self.a, "b": self.b, "input": "logit" if self.logit_input else "score"}


@dataclass(frozen=True)
class Isotonic:
    """A non-decreasing step function of the score (pool adjacent violators), linear between steps,
    flat beyond the ends."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(scores, dtype=np.float64), self.x, self.y)

    def to_dict(self) -> dict:
        return {"method": "isotonic", "x": list(self.x), "y": list(self.y)}


Map = Platt | Isotonic


def map_from_dict(data: dict, where: str) -> Map:
    method = data.get("method") if isinstance(data, dict) else None
    try:
        if method == "platt":
            if data["input"] not in ("score", "logit"):
                raise ValueError(f"input {data['input']!r}")
            return Platt(float(data["a"]), float(data["b"]), data["input"] == "logit")
        if method == "isotonic":
            x, y = tuple(float(v) for v in data["x"]), tuple(float(v) for v in data["y"])
            if not x or len(x) != len(y) or any(b < a for a, b in zip(x, x[1:])):
                raise ValueError("x and y must be of one length, x non-decreasing")
            return Isotonic(x, y)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{where}: a {method} map that cannot be read ({error})") from None
    raise ValueError(f"{where}: unknown calibration method {method!r} (known: {', '.join(METHODS)})")


def fit_platt(scores: np.ndarray, correct: np.ndarray, logit_input: bool) -> Platt:
    """Logistic regression of `correct` on the score (Newton's method), with Platt's targets
    ((N+ + 1) / (N+ + 2) and 1 / (N- + 2)), which keep a separable sample off 0 and 1."""
    x = _logit(scores) if logit_input else np.asarray(scores, dtype=np.float64)
    positives = int(correct.sum())
    negatives = len(correct) - positives
    target = np.where(correct, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    features = np.stack([x, np.ones_like(x)], 1)
    weights = np.zeros(2)
    for _ in range(100):
        p = _sigmoid(features @ weights)
        gradient = features.T @ (p - target)
        hessian = (features * (p * (1 - p))[:, None]).T @ features + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-10:
            break
    return Platt(float(weights[0]), float(weights[1]), logit_input)


def fit_isotonic(scores: np.ndarray, correct: np.ndarray) -> Isotonic:
    """Pool adjacent violators over the scores in increasing order (equal scores pooled first)."""
    order = np.argsort(scores, kind="stable")
    s, c = np.asarray(scores, dtype=np.float64)[order], np.asarray(correct, dtype=np.float64)[order]
    unique, start = np.unique(s, return_index=True)
    sums, counts = np.add.reduceat(c, start), np.diff(np.append(start, len(s)))
    blocks: list[list[float]] = []  # [sum, count, lowest score, highest score]
    for value, total, n in zip(unique.tolist(), sums.tolist(), counts.tolist()):
        blocks.append([total, n, value, value])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            total, n, _, high = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += n
            blocks[-1][3] = high
    x, y = [], []
    for total, n, low, high in blocks:
        value = min(max(total / n, ISOTONIC_FLOOR), 1 - ISOTONIC_FLOOR)
        x += [low, high] if high > low else [low]
        y += [value, value] if high > low else [value]
    return Isotonic(tuple(x), tuple(y))


def fit_map(method: str, scores: np.ndarray, correct: np.ndarray, logit_input: bool) -> Map:
    if method == "platt":
        return fit_platt(scores, correct, logit_input)
    if method == "isotonic":
        return fit_isotonic(scores, correct)
    raise ValueError(f"unknown calibration method {method!r} (known: {', '.join(METHODS)})")


# ------------------------------------------------------------------------------------------
# how good probabilities are


def expected_calibration_error(probabilities: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Σ_bins (n_bin / n) · |accuracy - mean probability|, over `bins` equal-width bins of [0, 1]."""
    p, c = np.asarray(probabilities, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    if not len(p):
        return 0.0
    index = np.minimum((p * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        inside = index == b
        if inside.any():
            error += inside.sum() * abs(c[inside].mean() - p[inside].mean())
    return float(error / len(p))


def ece_if_calibrated(probabilities: np.ndarray, draws: int = 1000, seed: int = 0) -> dict:
    """The ECE that a perfectly calibrated model would show on items with these probabilities: each
    item drawn right with its own probability, `draws` times; the median and 95th percentile. On a
    few hundred items the ECE of perfect calibration is not zero: a measured ECE below the 95th
    percentile cannot be told from perfect calibration on that many items."""
    p = np.asarray(probabilities, dtype=np.float64)
    if not len(p):
        return {"median": 0.0, "p95": 0.0}
    rng = np.random.default_rng(seed)
    errors = [expected_calibration_error(p, rng.random(len(p)) < p) for _ in range(draws)]
    return {"median": float(np.median(errors)), "p95": float(np.percentile(errors, 95))}


def brier_score(probabilities: np.ndarray, correct: np.ndarray) -> float:
    p, c = np.asarray(probabilities, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    return float(((p - c) ** 2).mean()) if len(p) else 0.0


def reliability_bins(probabilities: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per equal-width bin: its items, their mean probability and the share right (a reliability
    diagram's points)."""
    p, c = np.asarray(probabilities, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    index = np.minimum((p * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        rows.append({"low": b / bins, "high": (b + 1) / bins, "items": int(inside.sum()),
                     "probability": float(p[inside].mean()) if inside.any() else None,
                     "right": float(c[inside].mean()) if inside.any() else None})
    return rows


def quality(probabilities: np.ndarray, correct: np.ndarray) -> dict:
    """ECE, Brier score, the mean probability and the share right of a set of items."""
    p, c = np.asarray(probabilities, dtype=np.float64), np.asarray(correct, dtype=bool)
    return {"items": int(len(p)), "ece": expected_calibration_error(p, c), "brier": brier_score(p, c),
            "mean_probability": float(p.mean()) if len(p) else None,
            "right": float(c.mean()) if len(p) else None}


# ------------------------------------------------------------------------------------------
# a head's calibration, and the model's


@dataclass
class Candidates:
    """One head's dev candidates: per item its type's name, score, whether it is right, its
    document (for folds), the model's own probability, and whether the θ that applies keeps it
    (the items extraction returns)."""

    types: np.ndarray
    scores: np.ndarray
    correct: np.ndarray
    documents: np.ndarray
    raw: np.ndarray
    returned: np.ndarray

    @classmethod
    def from_rows(cls, rows: list[tuple[str, float, bool, int, float, bool]]) -> Candidates:
        columns = list(zip(*rows)) if rows else [()] * 6
        return cls(np.array(columns[0], dtype=object), np.array(columns[1], dtype=np.float64),
                   np.array(columns[2], dtype=bool), np.array(columns[3], dtype=np.int64),
                   np.array(columns[4], dtype=np.float64), np.array(columns[5], dtype=bool))

    def subset(self, mask: np.ndarray) -> Candidates:
        return Candidates(self.types[mask], self.scores[mask], self.correct[mask], self.documents[mask],
                          self.raw[mask], self.returned[mask])


class HeadCalibration:
    """A head's maps: one for the head ("*") and one per type that has its own; `reads`: what they
    map, the items' "score" or (relations) their JOINT_SCORE."""

    def __init__(self, maps: dict[str, Map], method: str, per_type: bool, reads: str = "score"):
        self.maps, self.method, self.per_type, self.reads = maps, method, per_type, reads

    def probabilities(self, scores: np.ndarray, type_names: np.ndarray) -> np.ndarray:
        out = self.maps["*"](scores)
        for name, found in self.maps.items():
            if name != "*":
                inside = type_names == name
                if inside.any():
                    out[inside] = found(scores[inside])
        return out

    @classmethod
    def fit(cls, candidates: Candidates, method: str, per_type: bool, logit_input: bool) -> HeadCalibration:
        maps = {"*": fit_map(method, candidates.scores, candidates.correct, logit_input)}
        if per_type:
            for name in sorted(set(candidates.types.tolist())):
                of_type = candidates.types == name
                right = int(candidates.correct[of_type].sum())
                if min(right, int(of_type.sum()) - right) >= MIN_PER_CLASS:
                    maps[name] = fit_map(method, candidates.scores[of_type], candidates.correct[of_type],
                                         logit_input)
        return cls(maps, method, per_type)

    def to_dict(self) -> dict:
        return {"method": self.method, "per_type": self.per_type, "reads": self.reads,
                "maps": {name: found.to_dict() for name, found in self.maps.items()}}

    @classmethod
    def from_dict(cls, data: dict, where: str) -> HeadCalibration:
        if not isinstance(data, dict) or not isinstance(data.get("maps"), dict) or "*" not in data["maps"]:
            raise ValueError(f"{where}: a head's calibration needs its maps, with \"*\" among them")
        reads = data.get("reads", "score")
        if reads not in ("score", JOINT_SCORE):
            raise ValueError(f"{where}: its maps read {reads!r}; this spertmt knows 'score' and {JOINT_SCORE!r}")
        maps = {name: map_from_dict(found, f"{where}, map {name!r}") for name, found in data["maps"].items()}
        return cls(maps, str(data.get("method", "?")), bool(data.get("per_type", False)), reads)


def choose_and_fit(candidates: Candidates, logit_input: bool, folds: int = FOLDS) -> tuple[HeadCalibration, dict]:
    """The method (Platt or isotonic) and scope (one map for the head, or one per type) with the lowest
    Brier score of the returned items in `folds`-fold cross-validation over dev documents, refitted on
    every candidate; returns it with the cross-validated quality of each choice and of the raw scores."""
    fold_of = candidates.documents % folds
    choices = [(method, per_type) for method in METHODS for per_type in (False, True)]
    predicted = {choice: np.zeros(len(candidates.scores)) for choice in choices}
    for k in range(folds):
        held_out = fold_of == k
        fitted_on = candidates.subset(~held_out)
        if not held_out.any() or fitted_on.correct.all() or not fitted_on.correct.any():
            continue
        for method, per_type in choices:
            head = HeadCalibration.fit(fitted_on, method, per_type, logit_input)
            predicted[(method, per_type)][held_out] = head.probabilities(candidates.scores[held_out],
                                                                         candidates.types[held_out])
    returned = candidates.returned
    measured = {choice: quality(predicted[choice][returned], candidates.correct[returned]) for choice in choices}
    method, per_type = min(choices, key=lambda choice: measured[choice]["brier"])
    report = {f"{m}{' per type' if t else ''}": measured[(m, t)] for m, t in choices}
    report[OWN] = quality(candidates.raw[returned], candidates.correct[returned])
    return HeadCalibration.fit(candidates, method, per_type, logit_input), report


class Calibration:
    """The maps of both heads (either may be absent: its items keep the model's probability)."""

    def __init__(self, heads: dict[str, HeadCalibration], info: dict | None = None):
        self.heads, self.info = heads, info or {}

    def reads(self, head: str) -> str | None:
        """What `head`'s maps read ("score" or JOINT_SCORE), None where it has none."""
        found = self.heads.get(head)
        return None if found is None else found.reads

    def probabilities(self, head: str, scores: np.ndarray, type_names: np.ndarray, raw: np.ndarray,
                      joint: np.ndarray | None = None) -> np.ndarray:
        """Calibrated probabilities of `head`'s items (arrays of one shape), `raw` where it has no map;
        `joint`: the items' joint scores, for a head whose maps read them."""
        found = self.heads.get(head)
        if found is None:
            return raw
        values = scores if found.reads == "score" else joint
        if values is None:
            raise ValueError(f"the {head} calibration reads {found.reads}s: pass them")
        return found.probabilities(np.asarray(values, dtype=np.float64), type_names).astype(np.float32)

    def to_dict(self) -> dict:
        # format 1 where every map reads scores, so that a release before format 2 still reads the file
        joint = any(found.reads != "score" for found in self.heads.values())
        return {"format": CALIBRATION_FORMAT if joint else 1,
                "event": {"entity": "its span and type are in the gold",
                          "relation": "its type and both entities (spans and types) are in the gold (RE+)"},
                **{head: found.to_dict() for head, found in self.heads.items()}, **self.info}

    @classmethod
    def from_dict(cls, data, where: str) -> Calibration:
        if not isinstance(data, dict) or data.get("format") not in READABLE_FORMATS:
            found = data.get("format") if isinstance(data, dict) else None
            raise ValueError(f"{where}: calibration format {found!r}, this spertmt reads formats "
                             f"{', '.join(map(str, READABLE_FORMATS))}")
        heads = {head: HeadCalibration.from_dict(data[head], f"{where}, {head}")
                 for head in ("entity", "relation") if head in data}
        if "entity" in heads and heads["entity"].reads != "score":
            raise ValueError(f"{where}, entity: its maps read {heads['entity'].reads!r}; an entity's read its score")
        return cls(heads, {k: v for k, v in data.items() if k not in ("format", "event", "entity", "relation")})


def read_calibration(folder) -> Calibration | None:
    """The calibration of a model folder (PyTorch or exported), None for a folder without one (its
    probabilities are the model's own)."""
    folder = Path(folder)
    if not (folder / ModelFiles.CALIBRATION).exists():
        return None
    hint = "fit it again (spertmt calibrate --model MODEL --data DEV) or delete it"
    where = str(folder / ModelFiles.CALIBRATION)
    try:
        return Calibration.from_dict(read_folder_json(folder, ModelFiles.CALIBRATION, hint), where)
    except ValueError as error:
        message = str(error)
        raise ValueError(message if hint in message else f"{message}; {hint}") from None


def save_calibration(folder, calibration: Calibration) -> Path:
    """Writes `calibration` as the model folder's calibration.json (atomically); returns its path."""
    path = Path(folder) / ModelFiles.CALIBRATION
    write_text_atomic(path, json.dumps(calibration.to_dict(), indent=2))
    return path


# ------------------------------------------------------------------------------------------
# θ for a precision asked for


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), by its continued fraction (Lentz's method), as Numerical Recipes' betai."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x > (a + 1.0) / (a + b + 2.0):  # the fraction converges fast on this side only
        return 1.0 - regularized_incomplete_beta(b, a, 1.0 - x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 10_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-14:
            break
    return math.exp(log_front) * fraction / a


def precision_p_value(right: int, kept: int, target: float) -> float:
    """P(X >= right) for X ~ Binomial(kept, target): small when `right` of `kept` is more than a
    precision of `target` would give by chance (the one-sided Clopper-Pearson test)."""
    if right <= 0:
        return 1.0
    return regularized_incomplete_beta(right, kept - right + 1, target)


def precision_lower_bound(right: int, kept: int, confidence: float) -> float:
    """The one-sided Clopper-Pearson lower bound of a precision seen as `right` of `kept`."""
    if right <= 0:
        return 0.0
    low, high = 0.0, right / kept
    for _ in range(60):
        middle = (low + high) / 2
        if precision_p_value(right, kept, middle) <= 1 - confidence:
            low = middle
        else:
            high = middle
    return low


def cut_for_precision(scores: np.ndarray, correct: np.ndarray, num_gold: int, target: float,
                      confidence: float) -> dict:
    """The lowest θ (the most recall) whose kept items' precision reaches `target` with `confidence`
    (the one-sided Clopper-Pearson bound of the dev precision is at least `target`), with the dev
    precision, bound and recall it keeps; θ None where no cut reaches it. Each cut is tested on its own,
    uncorrected for trying them all (experiments/precision_cut_error.py measures what that costs)."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    s, c = np.asarray(scores, dtype=np.float64)[order], np.asarray(correct, dtype=bool)[order]
    right = np.cumsum(c)
    cuts = np.flatnonzero(np.append(s[1:] != s[:-1], True)) if len(s) else []  # each distinct score's last index
    for index in cuts[::-1]:  # lowest θ first: the first that passes keeps the most
        kept, tp = int(index + 1), int(right[index])
        if tp < target * kept:  # the bound is below the dev precision: no need to test
            continue
        if precision_p_value(tp, kept, target) <= 1 - confidence:
            return {"threshold": float(s[index]), "precision": tp / kept,
                    "bound": precision_lower_bound(tp, kept, confidence),
                    "recall": tp / num_gold if num_gold else 0.0, "kept": kept}
    return {"threshold": None, "precision": None, "bound": None, "recall": 0.0, "kept": 0}
