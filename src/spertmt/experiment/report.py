"""A grid's report: the cells' means and standard deviations over their runs (results/<grid>.json),
the tables (results/<grid>.md) and an optional plot (results/<grid>.png)."""

from __future__ import annotations

import statistics
from pathlib import Path

from ..evaluate import mean_std
from .grid import FIXED_THRESHOLD, SETTINGS, Grid


def summarize(grid: Grid, by_cell: dict[str, list[dict]]) -> dict:
    """The cells' means and standard deviations over their runs' records (`by_cell`: cell name -> records),
    with each run's figures and the mean dev curve."""
    summary = {"name": grid.name, "grid": grid.path, "average": grid.average,
               "command": f"spertmt experiment {grid.path}", "cells": {}}
    for cell in grid.cells:
        records = by_cell[cell.name]
        entry = {"set": cell.overrides, "seeds": cell.seeds, "folds": cell.folds, "runs": len(records),
                 "commands": [r["command"] for r in records]}
        if records:
            for selection, _ in grid.selections:
                entry[selection] = mean_std([r[selection] for r in records])
            if all(FIXED_THRESHOLD[0] in r for r in records):
                entry[FIXED_THRESHOLD[0]] = mean_std([r[FIXED_THRESHOLD[0]] for r in records])
            entry["dev_curve"] = mean_curve([r.get("dev_curve") or [] for r in records], grid.average)
            epoch_s = [r["epoch_s_median"] for r in records if r.get("epoch_s_median")]
            entry["epoch_s_median"] = statistics.median(epoch_s) if epoch_s else None
            entry["per_run"] = [{"seed": r["seed"], "fold": r["fold"], "dev_best": r["dev_best"],
                                 "thresholds": r.get("thresholds") or [],
                                 **{sel: {s: r[sel][s][grid.average]["f1"] for s, _ in SETTINGS}
                                    for sel, _ in grid.selections}} for r in records]
        summary["cells"][cell.name] = entry
    return summary


def markdown(grid: Grid, summary: dict) -> str:
    """results/<grid>.md: a table per selection, the runs, θ, dev curves and commands."""
    avg, split = grid.average, grid.split
    lines = [f"# {grid.name}", "",
             f"Produced by `spertmt experiment {grid.path}`; {avg} P / R / F1 on the {split} set, "
             "mean ± standard deviation over the runs of each cell (seeds"
             + (", folds" if any(len(c.folds) > 1 for c in grid.cells) else "") + ").", ""]
    selections = grid.selections
    if not any(r["dev_best"] for e in summary["cells"].values() for r in e.get("per_run", [])):
        # No dev set (ADE): the last epoch's model is the one selected, so one table says it all.
        selections = (("test_last", "last epoch's checkpoint (no dev set to select on)"),)
    if any(FIXED_THRESHOLD[0] in e for e in summary["cells"].values()):
        selections = (*selections, FIXED_THRESHOLD)
    for selection, title in selections:
        lines += [f"## {split.capitalize()}, {title}", "",
                  "| cell | runs | " + " | ".join(f"{n} P | {n} R | {n} F1" for _, n in SETTINGS) + " |",
                  "| --- | --- | " + " | ".join("--- | --- | ---" for _ in SETTINGS) + " |"]
        for name, entry in summary["cells"].items():
            if selection not in entry:  # no runs yet, or a cell that keeps θ fixed
                lines.append(f"| {name} | {entry['runs']} | " + " | ".join("| |" for _ in SETTINGS) + " |")
                continue
            values = []
            for setting, _ in SETTINGS:
                for key in ("precision", "recall", "f1"):
                    v = entry[selection][setting][avg][key]
                    values.append(f"{v['mean']:.2f} ± {v['std']:.2f}" if entry["runs"] > 1 else f"{v['mean']:.2f}")
            lines.append(f"| {name} | {entry['runs']} | " + " | ".join(values) + " |")
        lines.append("")
    lines += ["## Runs", "", f"| cell | seed | fold | dev RE+ F1 (epoch) | {split} NER F1 | {split} RE+ F1 | "
              "last: NER F1 | last: RE+ F1 |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    selected, last = (key for key, _ in grid.selections)
    for name, entry in summary["cells"].items():
        for r in entry.get("per_run", []):
            dev = r["dev_best"]
            dev_text = f"{dev['value']:.2f} ({dev['epoch']})" if dev else "-"
            lines.append(f"| {name} | {r['seed']} | {r['fold']} | {dev_text} | {r[selected]['ner']:.2f} | "
                         f"{r[selected]['re_strict']:.2f} | {r[last]['ner']:.2f} | "
                         f"{r[last]['re_strict']:.2f} |")
    tuned = [(name, r, t) for name, entry in summary["cells"].items() for r in entry.get("per_run", [])
             for t in r.get("thresholds", [])]
    if tuned:
        lines += ["", "## θ tuned on dev at the end of training (threshold_selection; dev F1 at that θ, "
                  "optimistic: chosen on the same set)", "",
                  "| cell | seed | fold | checkpoint | entity θ | dev NER F1 | relation θ | dev RE+ F1 |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name, r, t in tuned:
            ent, rel = t["dev"].get("entity"), t["dev"].get("relation")
            lines.append(f"| {name} | {r['seed']} | {r['fold']} | {t['checkpoint']} | "
                         + (f"{ent['threshold']:.3f} | {ent['f1']:.2f} | " if ent else "- | - | ")
                         + (f"{rel['threshold']:.3f} | {rel['f1']:.2f} |" if rel else "- | - |"))
    curves = {name: {p["epoch"]: p for p in entry.get("dev_curve") or []} for name, entry in summary["cells"].items()}
    epochs = sorted({e for c in curves.values() for e in c})
    if epochs:
        names = [n for n, c in curves.items() if c]
        lines += ["", f"## Dev {avg} F1 after each epoch (NER / RE+), mean over the runs that logged it", "",
                  "| epoch | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
        for epoch in epochs:
            cells = [f"{curves[n][epoch]['ner']:.1f} / {curves[n][epoch]['re_strict']:.1f}"
                     if epoch in curves[n] else "" for n in names]
            lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
    lines += ["", "## Commands", ""]
    for name, entry in summary["cells"].items():
        lines += [f"- {name}: `{c}`" for c in entry["commands"]]
    return "\n".join(lines) + "\n"


def plot(grid: Grid, summary: dict, path: Path) -> Path | None:
    """F1 against `plot.x`, one line per `plot.series` value and one panel per metric of
    `plot.metrics` (dev-selected checkpoints; error bars: standard deviation over runs)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install matplotlib): no plot", flush=True)
        return None
    x_key, series_key = grid.plot["x"], grid.plot.get("series", "mode")
    metrics = grid.plot.get("metrics", ["ner", "re_strict"])
    figure, panels = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.5), dpi=120, squeeze=False)
    for metric, axes in zip(metrics, panels[0]):
        lines: dict[str, list[tuple[float, float, float]]] = {}
        for cell in grid.cells:
            entry = summary["cells"][cell.name]
            if not entry["runs"]:
                continue
            config = grid.cell_config(cell, cell.seeds[0], cell.folds[0])
            f1 = entry[grid.selections[0][0]][metric][grid.average]["f1"]
            lines.setdefault(str(getattr(config, series_key)), []).append(
                (getattr(config, x_key), f1["mean"], f1["std"]))
        for label, points in sorted(lines.items()):
            points.sort()
            axes.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points],
                          marker="o", capsize=3, label=label)
        axes.set_xlabel(x_key)
        axes.set_ylabel(f"{grid.split} {dict(SETTINGS)[metric]} {grid.average} F1")
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(grid.name)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def mean_curve(curves: list[list[dict]], average: str) -> list[dict]:
    """Per epoch, the mean dev F1 of each setting over the runs whose record has that epoch
    (records written before dev curves were recorded have none)."""
    by_epoch: dict[int, list[dict]] = {}
    for curve in curves:
        for point in curve:
            by_epoch.setdefault(point["epoch"], []).append(point)
    return [{"epoch": epoch, "runs": len(points),
             **{s: statistics.fmean(p[s][average] for p in points) for s, _ in SETTINGS}}
            for epoch, points in sorted(by_epoch.items())]
