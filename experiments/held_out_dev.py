"""Dev-side checks of two choices, each read on a half of dev it was not made on (issue 21):

1. the checkpoint: the epoch chosen on one half of dev (best RE+ there) against the last epoch,
   both scored on the other half (the records' dev_curve "halves": even and odd documents);
2. θ: tuned on one half (threshold_selection) against the config's θ, scored on the other half
   (the records' threshold_cross_check), for the selected and the last checkpoint.

Both ways round for every run, then the mean over runs and directions. Runs trained before the
trainer logged halves (2026-12-01) have neither and are skipped.

    python experiments/held_out_dev.py results/scierc-sums-head-lr results/conll04-ablations-sums-head-lr
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

SETTINGS = ("ner", "re_strict")


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def check_run(record: dict, average: str) -> dict:
    """The held-out differences of one run: {"selection": {setting: [B(chosen on A) - B(last)] ...},
    "theta": {checkpoint: {setting: [tuned - fixed] ...}}}."""
    curve = [p for p in record.get("dev_curve") or [] if "halves" in p]
    out: dict = {"selection": {s: [] for s in SETTINGS}, "chosen_epochs": [], "theta": {}}
    if curve:
        for a, b in ((0, 1), (1, 0)):
            chosen = max(curve, key=lambda p: p["halves"][a]["re_strict"][average])  # first of equals, as training
            out["chosen_epochs"].append(chosen["epoch"])
            for s in SETTINGS:
                out["selection"][s].append(chosen["halves"][b][s][average] - curve[-1]["halves"][b][s][average])
    for check in record.get("threshold_cross_check") or []:
        out["theta"][check["checkpoint"]] = {
            s: [r["tuned"][s][average] - r["fixed"][s][average] for r in check["results"]] for s in SETTINGS}
    return out


def summarise(folders: list[Path]) -> dict:
    cells: dict = {}
    for folder in folders:
        table = folder.parent / f"{folder.name}.json"  # the grid's aggregate: its average
        average = json.loads(table.read_text()).get("average", "micro") if table.exists() else "micro"
        for path in sorted((folder / "runs").glob("*/*.json")):
            record = json.loads(path.read_text())
            run = check_run(record, average)
            if not run["chosen_epochs"] and not run["theta"]:
                continue
            cell = cells.setdefault(f"{folder.name}/{record['cell']}",
                                    {"runs": [], "chosen_epochs": [], "selection": {}, "theta": {}})
            cell["runs"].append(path.stem)
            for s in SETTINGS:
                cell["selection"].setdefault(s, []).extend(run["selection"][s])
            for checkpoint, diffs in run["theta"].items():
                for s in SETTINGS:
                    cell["theta"].setdefault(checkpoint, {}).setdefault(s, []).extend(diffs[s])
            cell["chosen_epochs"].extend(run["chosen_epochs"])
    return {name: {"runs": c["runs"], "chosen_epochs": c["chosen_epochs"],
                   "selection_minus_last": {s: {"mean": _mean(v), "values": [round(x, 2) for x in v]}
                                            for s, v in c["selection"].items()},
                   "theta_tuned_minus_fixed": {k: {s: {"mean": _mean(v), "values": [round(x, 2) for x in v]}
                                                   for s, v in d.items()} for k, d in c["theta"].items()}}
            for name, c in cells.items()}


def format_table(summary: dict) -> str:
    lines = [
        "| cell | runs | epochs chosen on a half | chosen - last: NER | RE+ | θ tuned - fixed, selected: NER | RE+ "
        "| last: NER | RE+ |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, c in summary.items():
        sel, theta = c["selection_minus_last"], c["theta_tuned_minus_fixed"]

        def cell(d, s):
            return "" if d.get(s, {}).get("mean") is None else f"{d[s]['mean']:+.2f}"

        lines.append(f"| {name} | {len(c['runs'])} | {', '.join(map(str, c['chosen_epochs']))} | {cell(sel, 'ner')} | "
                     f"{cell(sel, 're_strict')} | {cell(theta.get('best', {}), 'ner')} | "
                     f"{cell(theta.get('best', {}), 're_strict')} | {cell(theta.get('last', {}), 'ner')} | "
                     f"{cell(theta.get('last', {}), 're_strict')} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("grids", nargs="+", help="results/<grid> folders (their runs/ hold the records)")
    parser.add_argument("--output", default="results/diagnostics/held-out-dev.json")
    args = parser.parse_args(argv)
    summary = summarise([Path(g) for g in args.grids])
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(summary, indent=2))
    print(format_table(summary))
    print(f"wrote {args.output}; differences in F1 points on the held-out half, mean over runs and both halves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
