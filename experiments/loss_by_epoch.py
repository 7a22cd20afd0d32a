"""Median logged entity / relation loss by epoch, from run folders' log.jsonl (docs/results.md, ADE).

    python experiments/loss_by_epoch.py runs/experiments/ade/spert/seed0-fold0 \
        runs/experiments/ade/spertmt/seed0-fold0 --epochs 1 2 3 5 10 20
"""
import argparse
import statistics
from pathlib import Path

from spertmt.layout import Event, RunFolder


def loss_by_epoch(run: Path) -> dict[int, tuple[float, float]]:
    """Per epoch, the median entity and relation loss of the run's `step` log entries."""
    steps: dict[int, list[dict]] = {}
    for event in RunFolder(run).read_log():
        if event["event"] == Event.STEP:
            steps.setdefault(event["epoch"], []).append(event)
    return {epoch: (statistics.median(e["entity_loss"] for e in events),
                    statistics.median(e["relation_loss"] for e in events))
            for epoch, events in steps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (each with a log.jsonl)")
    parser.add_argument("--epochs", nargs="+", type=int, help="epochs to show (default: all)")
    args = parser.parse_args()
    losses = {run: loss_by_epoch(run) for run in args.runs}
    epochs = args.epochs or sorted({e for per_run in losses.values() for e in per_run})
    print("| run | " + " | ".join(str(e) for e in epochs) + " |")
    print("| --- |" + " --- |" * len(epochs))
    for run, per_epoch in losses.items():
        cells = [f"{per_epoch[e][0]:.2g} / {per_epoch[e][1]:.2g}" if e in per_epoch else "-" for e in epochs]
        print(f"| {run} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
