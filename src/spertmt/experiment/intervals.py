"""95% intervals for a difference of F1 between two settings, and the one rule that names it.

Two kinds, by what the records hold:

- `paired_bootstrap`: records with per-sentence test counts (`test_best_counts`, written since the
  grid conll04-mpnet). Each resample draws the test sentences with replacement, the same draw for
  both settings (paired: both are scored on the same sentences), and each setting's seeds with
  replacement; a setting's F1 on it is the mean over its drawn seeds of each seed's micro F1 over
  the drawn sentences. The interval is the 2.5th to 97.5th percentile of the differences, so it
  holds both the test set's sampling and the seeds' spread.
- `seed_interval`: records without them (every earlier grid). Student's t interval for the
  difference of two means of per-run F1, with the pooled variance (df = n1 + n2 - 2); paired by
  fold where the runs are folds of a cross-validation (ADE), each fold's own test set. With two or
  three runs a side it is wide: it says how little a few seeds can establish.

`verdict` names a difference from its interval: "ahead" when all of it lies above zero, "behind"
when all of it lies below, "level" when it holds zero. The tables write the word, and the docs use
no other (tests/experiment/test_tables.py).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
# Student's t, two-sided 95% (the 97.5th percentile), for 1-30 degrees of freedom; the normal's
# 1.96 beyond (t at 30 is 2.042, so the step is small).
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


@dataclass(frozen=True)
class Interval:
    """A difference (first setting minus second, F1 points) with its 95% interval."""

    difference: float
    low: float
    high: float
    method: str  # "bootstrap" or "seeds"

    @property
    def word(self) -> str:
        return verdict(self.low, self.high)

    def __str__(self) -> str:
        return f"{self.difference:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"


def verdict(low: float, high: float) -> str:
    """The rule: ahead when the interval lies above zero, behind when below, level when it holds zero."""
    if low > 0:
        return "ahead"
    if high < 0:
        return "behind"
    return "level"


def _f1(counts: np.ndarray) -> np.ndarray:
    """Micro F1 in percent from [..., (tp, fp, fn)] sums (0 where nothing was predicted or gold)."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 200.0 * tp / np.maximum(denominator, 1), 0.0)


def paired_bootstrap(first: list[list[list[int]]], second: list[list[list[int]]], samples: int = 10_000,
                     seed: int = 0) -> Interval:
    """`first` and `second`: for each seed of a setting, each test sentence's [tp, fp, fn] (one
    setting of `test_best_counts`). The sentences must be the same, in the same order."""
    a, b = (np.asarray(side, dtype=np.int64) for side in (first, second))
    if a.ndim != 3 or b.ndim != 3 or a.shape[1:] != b.shape[1:] or a.shape[2] != 3:
        raise ValueError(f"per-seed sentence counts of the same sentences needed, got shapes {a.shape} and {b.shape}")
    observed = float(_f1(a.sum(axis=1)).mean() - _f1(b.sum(axis=1)).mean())
    rng = np.random.default_rng(seed)
    sentences = a.shape[1]
    differences = np.empty(samples)
    chunk = 500  # resamples at a time: a (chunk, sentences) weight matrix stays small
    for start in range(0, samples, chunk):
        n = min(chunk, samples - start)
        weights = np.stack([np.bincount(row, minlength=sentences)
                            for row in rng.integers(0, sentences, size=(n, sentences))])
        sides = []
        for side in (a, b):
            drawn = side[rng.integers(0, side.shape[0], size=(n, side.shape[0]))]  # (n, seeds, sentences, 3)
            sums = np.einsum("ns,nkst->nkt", weights, drawn)
            sides.append(_f1(sums).mean(axis=1))
        differences[start:start + n] = sides[0] - sides[1]
    low, high = np.percentile(differences, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
    return Interval(observed, float(low), float(high), "bootstrap")


def seed_interval(first: list[float], second: list[float], paired: bool = False) -> Interval | None:
    """Student's t interval of mean(first) - mean(second) over runs: with the pooled variance
    (df = n1 + n2 - 2), or `paired` (run i of each on the same test set, as ADE's folds: the
    differences' mean, df = n - 1). None where there is no variance to estimate."""
    if paired:
        if len(first) != len(second):
            raise ValueError(f"paired runs needed, got {len(first)} and {len(second)}")
        differences = [a - b for a, b in zip(first, second)]
        df = len(differences) - 1
        if df < 1:
            return None
        difference = statistics.fmean(differences)
        standard_error = statistics.stdev(differences) / math.sqrt(len(differences))
    else:
        n1, n2 = len(first), len(second)
        df = n1 + n2 - 2
        if df < 1:
            return None
        mean_first, mean_second = statistics.fmean(first), statistics.fmean(second)
        difference = mean_first - mean_second
        squares = sum((x - mean_first) ** 2 for x in first) + sum((x - mean_second) ** 2 for x in second)
        standard_error = math.sqrt(squares / df * (1 / n1 + 1 / n2))
    half = (T_975[df - 1] if df <= len(T_975) else 1.96) * standard_error
    return Interval(difference, difference - half, difference + half, "seeds")
