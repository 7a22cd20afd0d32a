"""The intervals behind every comparison in the docs (spertmt.experiment.intervals)."""

import math
import statistics

import numpy as np
import pytest

from spertmt.experiment.intervals import paired_bootstrap, seed_interval, verdict


def test_the_rule_names_a_difference_by_its_interval():
    assert verdict(0.1, 2.0) == "ahead"
    assert verdict(-2.0, -0.1) == "behind"
    assert verdict(-0.5, 1.5) == "level" and verdict(0.0, 1.0) == "level"


def test_seed_interval_is_students_t_with_pooled_variance():
    interval = seed_interval([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    # pooled variance (2 + 2) / 4 = 1, standard error sqrt(2/3), t(4) = 2.776
    half = 2.776 * math.sqrt(2 / 3)
    assert interval.difference == pytest.approx(-3.0)
    assert (interval.low, interval.high) == pytest.approx((-3.0 - half, -3.0 + half))
    assert interval.word == "behind" and interval.method == "seeds"
    assert seed_interval([1.0], [2.0]) is None  # no variance to pool
    # Paired (folds, each its own test set): the differences' t interval, df = n - 1.
    folds = seed_interval([90.0, 80.0, 85.0], [89.0, 79.5, 84.0], paired=True)
    differences = [1.0, 0.5, 1.0]
    half = 4.303 * statistics.stdev(differences) / math.sqrt(3)
    assert (folds.low, folds.high) == pytest.approx((statistics.fmean(differences) - half,
                                                     statistics.fmean(differences) + half))
    assert folds.word == "ahead"  # unpaired, the folds' spread would hide it
    assert seed_interval([90.0, 80.0, 85.0], [89.0, 79.5, 84.0]).word == "level"
    wide = seed_interval([80.0, 82.0], [81.0, 81.5])
    assert wide.low < 0 < wide.high and wide.word == "level"


def _counts(rng, sentences, recall):
    """Per-sentence [tp, fp, fn] of a system that finds each of 3 gold items with `recall`."""
    tp = rng.binomial(3, recall, size=sentences)
    return np.stack([tp, rng.binomial(1, 0.2, size=sentences), 3 - tp], axis=1).tolist()


def test_paired_bootstrap_difference_and_its_direction():
    rng = np.random.default_rng(1)
    good = [_counts(rng, 300, 0.8) for _ in range(3)]
    poor = [_counts(rng, 300, 0.5) for _ in range(3)]
    interval = paired_bootstrap(good, poor, samples=2000)
    f1 = [statistics.fmean(200 * sum(c[0] for c in s) / sum(2 * c[0] + c[1] + c[2] for c in s) for s in side)
          for side in (good, poor)]
    assert interval.difference == pytest.approx(f1[0] - f1[1])
    assert 0 < interval.low < interval.difference < interval.high and interval.word == "ahead"
    assert paired_bootstrap(poor, good, samples=2000).word == "behind"


def test_paired_bootstrap_pairs_the_sentences():
    """Two systems that differ on one sentence of 400: paired, the interval is narrow and never
    below zero; an unpaired comparison of such noisy per-sentence scores could not tell."""
    rng = np.random.default_rng(2)
    base = _counts(rng, 400, 0.6)
    better = [row[:] for row in base]
    better[7] = [3, 0, 0] if base[7] != [3, 0, 0] else base[7]
    better[8] = [3, 0, 0]
    interval = paired_bootstrap([better], [base], samples=2000)
    assert interval.difference > 0 and interval.low >= 0 and interval.high - interval.low < 1.0
    same = paired_bootstrap([base, base], [base], samples=500)
    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0) and same.word == "level"


def test_paired_bootstrap_needs_the_same_sentences():
    with pytest.raises(ValueError, match="same sentences"):
        paired_bootstrap([[[1, 0, 0]] * 5], [[[1, 0, 0]] * 4])
