"""Dev F1 after each epoch of several recorded runs, side by side: the table behind docs/results.md's
comparison of how fast each setting learns (issue 21).

    python experiments/dev_curves.py results/conll04-balance/runs/sum/seed0.json \\
        results/conll04/runs/spert/seed1.json --epochs 1 2 3 5 10 15 20

Each record (`spertmt experiment`'s results/<grid>/runs/<cell>/seed<S>.json) holds the dev micro F1
after every epoch; the table gives NER / RE+ per epoch, then the best dev RE+ and its epoch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", nargs="+")
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20])
    parser.add_argument("--average", default="micro", choices=["micro", "macro"])
    parser.add_argument("--from-epoch", type=int, help="also give the mean NER / RE+ from this epoch on, and "
                        "the mean change of RE+ from one epoch to the next there (how steady the curve is)")
    args = parser.parse_args(argv)

    rows = []
    for path in args.records:
        record = json.loads(Path(path).read_text())
        if not record.get("dev_curve"):
            parser.error(f"{path}: the record has no dev curve (written before curves were recorded)")
        curve = {p["epoch"]: p for p in record["dev_curve"]}
        name = f"{Path(path).parents[2].name}: {record['cell']} seed {record['seed']}"
        cells = [f"{curve[e]['ner'][args.average]:.1f} / {curve[e]['re_strict'][args.average]:.1f}" if e in curve
                 else "" for e in args.epochs]
        best = record.get("dev_best")
        if args.from_epoch:
            late = [curve[e] for e in sorted(curve) if e >= args.from_epoch]
            ner, re_strict = ([p[key][args.average] for p in late] for key in ("ner", "re_strict"))
            changes = [abs(b - a) for a, b in zip(re_strict, re_strict[1:])]
            cells += [f"{statistics.fmean(ner):.2f} / {statistics.fmean(re_strict):.2f}",
                      f"{statistics.fmean(changes):.2f}" if changes else ""]
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {best['value']:.2f} ({best['epoch']}) |")
    late_columns = ([f"mean from epoch {args.from_epoch}: NER / RE+", "mean RE+ change an epoch there"]
                    if args.from_epoch else [])
    print("| run | " + " | ".join([f"epoch {e}" for e in args.epochs] + late_columns) + " | best dev RE+ (epoch) |")
    print("| --- |" + " --- |" * (len(args.epochs) + len(late_columns) + 1))
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
