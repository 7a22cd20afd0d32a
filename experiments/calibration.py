"""How far a trained model's probabilities can be trusted, before and after calibration, and what a
precision target keeps (issue 47; docs/results.md, "Calibration").

    python experiments/calibration.py --model runs/experiments/conll04-mpnet/spert-tuned/seed0/best \\
        --name conll04-mpnet-spert-seed0

For a model folder of a recorded run (its config names its dev and test sets): calibration fitted
on dev (spertmt.inference.thresholds.calibrate, under the θ of the folder's thresholds.json), then
the test items that extraction returns scored with the model's own probabilities and with the
calibrated ones (ECE over 10 equal-width bins, Brier score, reliability bins); then for each
precision target θ chosen on dev (tune_for_precision: per type and per head, relations cut on their
score and on their joint score) and the test set scored once with each (NER and RE+ micro
precision and recall). Dev chooses everything; test is read once per setting. The
folder is not written to. The record goes to results/calibration/<name>.json, its reliability
diagrams to docs/calibration-<name>.png (`--plot RECORD` draws them again from a record).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import records  # noqa: E402  (bench/records.py: the commit)


def _precision_recall(metrics: dict) -> dict:
    return {setting: {k: metrics[setting]["micro"][k] for k in ("precision", "recall", "f1")}
            for setting in ("ner", "re_strict")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a model folder of a run (<run>/best)")
    parser.add_argument("--name", help="the record's name: results/calibration/<name>.json")
    parser.add_argument("--plot", type=Path, help="only draw the reliability diagrams of this record")
    parser.add_argument("--targets", type=float, nargs="+", default=[0.8, 0.9, 0.95])
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    if args.plot:
        plot(json.loads(args.plot.read_text()))
        return
    if not args.model or not args.name:
        parser.error("--model and --name are needed (or --plot RECORD)")

    import spertmt
    from spertmt.data.documents import model_dev_set
    from spertmt.evaluate import evaluate
    from spertmt.inference.thresholds import (
        calibrate,
        calibration_quality,
        precision_thresholds_content,
        tune_for_precision,
    )

    started = time.time()
    extractor = spertmt.load(args.model, device="cpu")
    extractor.calibration = None  # the model's own probabilities: a folder's own calibration is not used
    config = extractor.config
    dev = model_dev_set(config, extractor.types)[0]  # ADE's: the training documents the run held out (dev_split)
    if not dev:
        parser.error(f"{args.model}: its dev set holds no documents: nothing to fit on")
    test = spertmt.read_documents(config.data_path("test_path"), extractor.types)
    tuned = dict(extractor.thresholds)

    calibration, dev_report = calibrate(extractor, dev, batch_size=args.batch_size, progress=True)
    predicted = extractor.predict(test, batch_size=args.batch_size, progress=True)
    at_tuned = _precision_recall(evaluate(test, predicted, extractor.types, overlapping=config.overlapping))
    test_quality = calibration_quality(predicted, test, extractor.types, calibration, config.multitask_heads)

    targets = []  # each target with relations cut on their score and on their joint score, per type and not
    for target in args.targets:
        for per_type in (True, False):
            for relations_on in ("score", "joint"):
                chosen = tune_for_precision(extractor, dev, target, args.confidence, batch_size=args.batch_size,
                                            progress=True, per_type=per_type, relations_on=relations_on)
                extractor.thresholds = precision_thresholds_content(chosen, per_type)
                at_target = extractor.predict(test, batch_size=args.batch_size, progress=True)
                targets.append({
                    "target": target, "confidence": args.confidence, "per_type": per_type,
                    "relations_on": relations_on,
                    "dev": {head: {name: {k: cut[k] for k in ("threshold", "precision", "bound", "recall", "kept")}
                                   for name, cut in chosen[head].items() if per_type or name == "*"}
                            for head in ("entity", "relation") if head in chosen},
                    "skipped": chosen["skipped"],
                    "test": _precision_recall(evaluate(test, at_target, extractor.types,
                                                       overlapping=config.overlapping))})
                extractor.thresholds = tuned

    model = Path(args.model).resolve()
    record = {
        "name": args.name,
        "model": os.path.relpath(model, ROOT) if model.is_relative_to(ROOT) else model.name,
        "dataset": config.test_path.replace("{fold}", str(config.fold)), "mode": config.mode, "encoder": config.encoder,
        "command": shlex.join(["python", "experiments/calibration.py", *sys.argv[1:]]),
        "thresholds": tuned,
        "calibration": calibration.to_dict(),
        "dev": dev_report,
        "test": {"at_tuned_threshold": at_tuned, **test_quality},
        "targets": targets,
        "machine": {"cpu": records.cpu_name(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "torch": _torch(), "commit": records.commit()},
        "date": time.strftime("%Y-%m-%d"), "wall_s": round(time.time() - started, 1),
    }
    records.write(ROOT / "results" / "calibration" / f"{args.name}.json", record)
    plot(record)
    for head in ("entity", "relation"):
        before, after = test_quality[head]["before"], test_quality[head]["after"]
        print(f"{head:>8} test ECE {before['ece']:.3f} -> {after['ece']:.3f}, Brier {before['brier']:.3f} -> "
              f"{after['brier']:.3f} ({before['items']} items)")
    for row in targets:
        print(f"target {row['target']:.2f} ({'per type' if row['per_type'] else 'per head'}, relations on their "
              f"{row['relations_on']}): test NER P {row['test']['ner']['precision']:.2f} R "
              f"{row['test']['ner']['recall']:.2f}; RE+ P {row['test']['re_strict']['precision']:.2f} "
              f"R {row['test']['re_strict']['recall']:.2f}")


def plot(record: dict) -> Path:
    """Reliability diagrams of a record: per head, the share of test items right against their mean
    probability in each bin, with the model's own probabilities and the calibrated ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for axis, head in zip(axes, ("entity", "relation")):
        axis.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=1)
        for key, label, marker in (("bins_before", "model's own", "o"), ("bins_after", "calibrated on dev", "s")):
            points = [(b["probability"], b["right"], b["items"]) for b in record["test"][head][key] if b["items"]]
            quality = record["test"][head]["before" if key == "bins_before" else "after"]
            axis.plot([x for x, _, _ in points], [y for _, y, _ in points], marker=marker,
                      label=f"{label} (ECE {quality['ece']:.3f})")
        axis.set(title=f"{head}: {record['test'][head]['before']['items']} test items", xlim=(0, 1), ylim=(0, 1),
                 xlabel="mean probability in the bin", ylabel="share right in the bin")
        axis.legend(loc="upper left", fontsize=8)
    figure.suptitle(f"{record['name']} ({record['dataset']})", fontsize=10)
    figure.tight_layout()
    path = ROOT / "docs" / f"calibration-{record['name']}.png"
    figure.savefig(path, dpi=90)
    print(f"wrote {path}")
    return path


def _torch() -> str:
    import torch

    return torch.__version__


if __name__ == "__main__":
    main()
