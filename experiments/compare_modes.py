"""The fair comparison of the two modes (issue 39): each at its best setting chosen on CoNLL04 dev,
scored on the test set once, 3 seeds, from the committed grid summaries:

- `spert`: grid conll04-spert-tuned (its defaults, θ tuned on dev; chosen by grid conll04-spert-dev);
- SpERT.MT: grid conll04-sums-head-lr (sums, head_lr, θ tuned on dev; chosen by grid conll04-balance).

    python experiments/compare_modes.py            # print the table
    python experiments/compare_modes.py --write    # rewrite it in docs/results.md

The table in docs/results.md lies between the two marker comments; tests/experiment/test_tables.py
fails when it differs from what this command writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "results.md"
BEGIN = "<!-- modes-table: written by `python experiments/compare_modes.py --write` from results/*.json -->"
END = "<!-- /modes-table -->"
MODES = (("`spert` (defaults, θ tuned on dev)", "conll04-spert-tuned", "spert-tuned"),
         ("SpERT.MT (sums, `head_lr`, θ tuned on dev)", "conll04-sums-head-lr", "spertmt-sums-head-lr"))
SETTINGS = (("ner", "NER"), ("re", "RE"), ("re_strict", "RE+"))
CHECKPOINTS = (("test_best", "epoch chosen on dev (`best/`)"), ("test_last", "last epoch (`last/`)"))


def table(root: Path = ROOT) -> str:
    """The markdown table, from results/<grid>.json of both grids."""
    cells = []
    for _, grid, cell in MODES:
        summary = json.loads((root / "results" / f"{grid}.json").read_text())["cells"][cell]
        cells.append(summary)
    runs = " and ".join(str(c["runs"]) for c in cells)
    lines = [f"CoNLL04 test, micro F1, mean ± standard deviation over seeds ({runs} runs):", "",
             f"| checkpoint | metric | {MODES[0][0]} | {MODES[1][0]} | SpERT.MT - `spert` |",
             "| --- | --- | --- | --- | --- |"]
    for key, title in CHECKPOINTS:
        for setting, name in SETTINGS:
            values = [c[key][setting]["micro"]["f1"] for c in cells]
            lines.append(f"| {title} | {name} | {values[0]['mean']:.2f} ± {values[0]['std']:.2f} | "
                         f"{values[1]['mean']:.2f} ± {values[1]['std']:.2f} | "
                         f"{values[1]['mean'] - values[0]['mean']:+.2f} |")
    return "\n".join(lines) + "\n"


def block(root: Path = ROOT) -> str:
    return f"{BEGIN}\n{table(root)}{END}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite the table in docs/results.md")
    args = parser.parse_args(argv)
    if not args.write:
        print(table(), end="")
        return 0
    text = DOCS.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOCS}: the marker comments are missing; put {BEGIN!r} and {END!r} where the table goes")
    start, stop = text.index(BEGIN), text.index(END) + len(END)
    DOCS.write_text(text[:start] + block() + text[stop:])
    print(f"wrote the table in {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
