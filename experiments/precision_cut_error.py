"""How often a θ chosen for a precision target keeps items whose precision is below the target, by
simulation (docs/results.md, "Calibration"; docs/using.md, "Probabilities").

    python experiments/precision_cut_error.py --output results/diagnostics/precision-cut-error.json \
        --models runs/experiments/calibration-conll04/spertmt-sums-head-lr/seed0/best

`tune-threshold --target-precision P` takes the lowest θ whose kept dev items pass a one-sided
Clopper-Pearson test of precision >= P at 1 - confidence (calibration.cut_for_precision). It tries
every cut and keeps the lowest that passes, without correcting for trying many; this measures what
that costs. Each trial draws n dev items in score order, item i right with its own chance p_i (a
curve of the rank: `SHAPES`), and applies each rule at each confidence asked for; a trial errs where
the rule keeps something and the mean p_i of the kept items (their precision, given their scores)
is below P. Two rules:

- `uncorrected`: the library's rule;
- `fallback-20`: a correction for trying many cuts, Wiens' fallback procedure over 20 cuts (the
  first 5%, 10%, ..., 100% of the items in score order), each tested at (1 - confidence) / 20 plus
  the level of the cut before it where that one passed; any cut it passes is wrong with chance at
  most 1 - confidence, whatever the dependence between the tests.

The flat curve sets every p_i 0.01 below P: every cut is wrong, so a rule errs whenever it keeps
anything, the worst case for trying many cuts. `--models` adds a trained model's curve
(model_chance): its dev relations in joint-score order, each one's chance the isotonic fit of being
right. Prints a table and writes the record.
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import records  # noqa: E402  (bench/records.py: the commit)

SHAPES = {
    # u: the item's rank in score order, from 0 (the top) to 1
    "falling evenly, 0.99 to 0.39": lambda u, target: 0.99 - 0.6 * u,
    "high, then falling: 0.99 - 0.6 u^3": lambda u, target: 0.99 - 0.6 * u ** 3,
    "flat, 0.01 below the target": lambda u, target: np.full_like(u, target - 0.01),
}
FALLBACK_CUTS = 20


def fallback(scores: np.ndarray, correct: np.ndarray, target: float, confidence: float,
             cuts: int = FALLBACK_CUTS) -> int:
    """How many items (the top ones by score) Wiens' fallback procedure keeps; 0 where it passes no cut."""
    from spertmt.inference.calibration import precision_p_value

    order = np.argsort(-scores, kind="stable")
    s, right = scores[order], np.cumsum(correct[order])
    block_ends = np.flatnonzero(np.append(s[1:] != s[:-1], True))  # a cut keeps ties whole
    weights: dict[int, float] = {}
    for j in range(1, cuts + 1):
        end = int(block_ends[np.searchsorted(block_ends, int(np.ceil(j * len(s) / cuts)) - 1)])
        weights[end] = weights.get(end, 0.0) + (1 - confidence) / cuts  # one cut tried twice: both weights
    level, kept = 0.0, 0
    for end in sorted(weights):
        level += weights[end]
        if precision_p_value(int(right[end]), end + 1, target) <= level:
            kept = end + 1
        else:
            level = 0.0  # a failed cut passes nothing on
    return kept


def uncorrected(scores: np.ndarray, correct: np.ndarray, target: float, confidence: float) -> int:
    from spertmt.inference.calibration import cut_for_precision

    return cut_for_precision(scores, correct, 1, target, confidence)["kept"]


RULES = {"uncorrected": uncorrected, f"fallback-{FALLBACK_CUTS}": fallback}


def show(shape: str, n: int, target: float, confidence: float, found: dict) -> None:
    cells = (f"{v['error_rate']:>12.3f} {v['keeps_something']:>11.3f} {v['median_kept_share']:>11.3f}"
             for v in found.values())
    print(f"{shape:<36} {n:>5} {target:>5.2f} {confidence:>5.2f}  " + "  ".join(cells))


def simulate(shape: str, n: int, target: float, confidence: float, trials: int, seed: int) -> dict:
    chance = np.clip(SHAPES[shape]((np.arange(n) + 0.5) / n, target), 0.0, 1.0)
    return simulate_chance(chance, target, confidence, trials, seed)


def simulate_chance(chance: np.ndarray, target: float, confidence: float, trials: int, seed: int) -> dict:
    """Each rule's error rate, share of trials that keep something and median share kept, for items
    in score order with these chances of being right."""
    rng = np.random.default_rng(seed)
    n = len(chance)
    scores = np.arange(n, 0, -1, dtype=np.float64)  # item i is the i-th by score
    out = {name: {"errs": 0, "keeps": 0, "kept": []} for name in RULES}
    for _ in range(trials):
        correct = rng.random(n) < chance
        for name, rule in RULES.items():
            kept = rule(scores, correct, target, confidence)
            if kept:
                out[name]["keeps"] += 1
                out[name]["kept"].append(kept / n)
                out[name]["errs"] += int(chance[:kept].mean() < target)
    return {name: {"error_rate": v["errs"] / trials, "keeps_something": v["keeps"] / trials,
                   "median_kept_share": float(np.median(v["kept"])) if v["kept"] else 0.0}
            for name, v in out.items()}


def model_chance(folder: str) -> np.ndarray:
    """A trained model's curve: its dev relations over the entities its θ keeps, in joint-score order
    (what a target cuts on), each item's chance of being right under RE+ the isotonic regression of
    right on the joint score (calibration.fit_isotonic)."""
    import spertmt
    from spertmt.inference.calibration import fit_isotonic
    from spertmt.inference.thresholds import relation_candidates

    extractor = spertmt.load(folder, device="cpu")
    if not extractor.config.dev_path:
        raise SystemExit(f"{folder}: its config names no dev set (dev_path)")
    dev = spertmt.read_documents(extractor.config.data_path("dev_path"), extractor.types)
    rows, _ = relation_candidates(extractor, dev, None, batch_size=8, progress=True)
    joint, right = np.array([r[-1] for r in rows]), np.array([r[2] for r in rows])
    return fit_isotonic(joint, right)(np.sort(joint)[::-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--targets", type=float, nargs="+", default=[0.8, 0.9, 0.95])
    parser.add_argument("--confidences", type=float, nargs="+", default=[0.95, 0.99])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--models", nargs="*", default=[],
                        help="model folders whose dev relations give a curve too (model_chance)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    started = time.time()
    rows = []
    print(f"{'shape':<36} {'n':>5} {'P':>5} {'conf.':>5}  "
          + "  ".join(f"{name + ': errs / keeps / kept':>36}" for name in RULES))
    for confidence in args.confidences:
        for shape in SHAPES:
            for n in args.sizes:
                for target in args.targets:
                    seed = len(rows)
                    found = simulate(shape, n, target, confidence, args.trials, seed)
                    rows.append({"shape": shape, "n": n, "target": target, "confidence": confidence, "seed": seed,
                                 "rules": found})
                    show(shape, n, target, confidence, found)
    for folder in args.models:  # after the curves above, so that their seeds stay as they were
        chance = model_chance(folder)
        shape = "dev relations of " + folder.removeprefix("runs/experiments/").removesuffix("/best")
        for confidence in args.confidences:
            for target in args.targets:
                seed = len(rows)
                found = simulate_chance(chance, target, confidence, args.trials, seed)
                rows.append({"shape": shape, "n": len(chance), "target": target, "confidence": confidence,
                             "seed": seed, "rules": found})
                show(shape, len(chance), target, confidence, found)
    if args.output:
        records.write(args.output, {
            "command": shlex.join(["python", "experiments/precision_cut_error.py", *sys.argv[1:]]),
            "date": time.strftime("%Y-%m-%d"), "commit": records.commit(), "cpu": records.cpu_name(),
            "python": platform.python_version(), "wall_s": round(time.time() - started, 1),
            "trials": args.trials, "fallback_cuts": FALLBACK_CUTS, "rows": rows})


if __name__ == "__main__":
    main()
