"""`spertmt experiment`: a grid of training runs, run one after another, resumable, aggregated.

A grid file (TOML) names a base config, seeds (and folds, for ADE's cross-validation) and cells,
each cell a list of `--set` overrides:

    name = "conll04"                          # results/conll04.json and results/conll04.md
    config = "configs/conll04-offline.toml"   # relative to the current folder
    seeds = [0, 1, 2]
    folds = [0]                               # optional (ADE: [0, 1, ..., 9])
    average = "micro"                         # the table's average: micro (CoNLL04, SciERC) or macro (ADE)
    split = "test"                            # "dev": a screening grid, scored on dev only, never on test
    set = []                                  # optional, for every cell

    [[cells]]
    name = "spert"
    set = ["mode=spert"]
    seeds = [0]                               # optional, instead of the grid's

    [plot]                                    # optional: a PNG of F1 against a config key
    x = "neg_entity_count"                    # one line per value of `series`
    series = "mode"
    metrics = ["ner", "re_strict"]            # one panel each

Every run is `spertmt train --config ... --set ... --output <runs>/<name>/<cell>/seed<S>[-fold<F>]`
in a child process, and its record (command, config, test metrics of the dev-selected and of the
last checkpoint, wall time) is written to `results/<name>/runs/...json` when it ends. A run with a
record is never run again; an interrupted run goes on from its last finished epoch (`--resume`).
So the same command, in a later session, finishes a half-done grid. After every run the cells'
means and standard deviations are written to `results/<name>.json` and `results/<name>.md`.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..config import Config
from ..files import write_text_atomic
from ..layout import Event, RunFolder

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

SETTINGS = (("ner", "NER"), ("re", "RE"), ("re_strict", "RE+"))
SELECTIONS = (("test_best", "checkpoint selected on dev (RE+ F1)"), ("test_last", "last epoch's checkpoint"))
# A screening grid (split = "dev") never touches the test set: its runs train with no test set and
# are recorded by their dev metrics, at the best dev epoch and at the last (at the config's θ).
DEV_SELECTIONS = (("dev_selected", "best dev epoch (RE+ F1)"), ("dev_last", "last epoch"))
# Runs that tune θ on dev (threshold_selection) score their test metrics at the tuned θ, and the
# dev-selected checkpoint also at the config's θ: this table, for the cells that have it.
FIXED_THRESHOLD = ("test_best_fixed_threshold",
                   "checkpoint selected on dev, at the config's θ (the tables above use θ tuned on dev where a "
                   "cell tunes it)")


@dataclass
class Cell:
    name: str
    overrides: list[str]
    seeds: list[int]
    folds: list[int]


@dataclass
class Grid:
    name: str
    config: str
    cells: list[Cell]
    average: str = "micro"
    plot: dict = field(default_factory=dict)
    path: str = ""
    split: str = "test"

    @property
    def selections(self) -> tuple[tuple[str, str], ...]:
        return DEV_SELECTIONS if self.split == "dev" else SELECTIONS

    @classmethod
    def load(cls, path: str | Path) -> Grid:
        path = Path(path)
        data = tomllib.loads(path.read_text())
        known = {"name", "config", "seeds", "folds", "average", "set", "cells", "plot", "split"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown key(s) {unknown}; valid keys: {sorted(known)}")
        for key in ("name", "config", "cells"):
            if key not in data:
                raise ValueError(f"{path}: missing key {key!r}")
        if data.get("average", "micro") not in ("micro", "macro"):
            raise ValueError(f"{path}: average must be micro or macro")
        split = data.get("split", "test")
        if split not in ("test", "dev"):
            raise ValueError(f"{path}: split must be test or dev, not {split!r}")
        seeds, folds, common = data.get("seeds", [0]), data.get("folds", [0]), list(data.get("set", []))
        dev_only = ["test_path="] if split == "dev" else []  # last, so that no cell brings the test set back
        cells = []
        for i, cell in enumerate(data["cells"]):
            if "name" not in cell:
                raise ValueError(f"{path}: cell {i} has no name")
            overrides = common + list(cell.get("set", [])) + dev_only
            cells.append(Cell(cell["name"], overrides, list(cell.get("seeds", seeds)),
                              list(cell.get("folds", folds))))
        names = [c.name for c in cells]
        if len(set(names)) != len(names):
            raise ValueError(f"{path}: cell names repeat: {names}")
        grid = cls(data["name"], data["config"], cells, data.get("average", "micro"), data.get("plot", {}), str(path),
                   split)
        for cell in cells:  # fail now, not hours later, on a misspelt key
            grid.cell_config(cell, cell.seeds[0], cell.folds[0])
        return grid

    def cell_config(self, cell: Cell, seed: int, fold: int) -> Config:
        return Config.load(self.config).override(cell.overrides + [f"seed={seed}", f"fold={fold}"]).resolved()


@dataclass
class Run:
    cell: Cell
    seed: int
    fold: int

    @property
    def key(self) -> str:
        return f"{self.cell.name}/seed{self.seed}" + (f"-fold{self.fold}" if len(self.cell.folds) > 1 else "")


@dataclass
class Child:
    """A training run in progress: its process, its output file and when it started."""

    run: Run
    process: subprocess.Popen
    log: IO[str]
    started: float
    resumed: bool


def runs_of(grid: Grid) -> list[Run]:
    """Seed by seed, so that a grid cut short has every cell's first seed first."""
    runs = []
    for seed in sorted({s for c in grid.cells for s in c.seeds}):
        for fold in sorted({f for c in grid.cells for f in c.folds}):
            runs += [Run(c, seed, fold) for c in grid.cells if seed in c.seeds and fold in c.folds]
    return runs


def train_command(grid: Grid, run: Run, output: Path) -> list[str]:
    sets = run.cell.overrides + [f"seed={run.seed}"] + ([f"fold={run.fold}"] if len(run.cell.folds) > 1 else [])
    command = ["spertmt", "train", "--config", grid.config]
    for assignment in sets:
        command += ["--set", assignment]
    return command + ["--output", str(output), "--quiet"]


class Experiment:
    """Runs, records and aggregates one grid (see the module's docstring)."""

    def __init__(self, grid: Grid, results: str | Path = "results", runs: str | Path = "runs/experiments",
                 keep_checkpoints: bool = False, threads: int | None = None, jobs: int = 1):
        self.grid = grid
        self.results = Path(results)
        self.runs_dir = Path(runs) / grid.name
        self.keep_checkpoints = keep_checkpoints
        # CPU threads of each training run (OMP_NUM_THREADS in the child's environment); None: inherited
        self.threads = threads
        # Training runs at a time: 1 on a CPU machine; several share a large GPU well (small models
        # leave most of it idle), each process with its own CPU core for the Python side.
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}")
        self.jobs = jobs
        self.children: list[Child] = []  # the training runs in progress

    def record_path(self, run: Run) -> Path:
        return self.results / self.grid.name / "runs" / f"{run.key}.json"

    def output(self, run: Run) -> Path:
        return self.runs_dir / run.key

    def pending(self) -> list[Run]:
        return [r for r in runs_of(self.grid) if not self.record_path(r).exists()]

    def status(self) -> str:
        lines = [f"grid {self.grid.name}: {len(runs_of(self.grid)) - len(self.pending())} of "
                 f"{len(runs_of(self.grid))} runs recorded"]
        for run in runs_of(self.grid):
            if self.record_path(run).exists():
                record = json.loads(self.record_path(run).read_text())
                state = f"done in {record.get('train_s', record['wall_s']) / 60:.1f} min"
            elif RunFolder(self.output(run)).can_resume():
                state = "running, or interrupted (resumes from its last epoch)"
            else:
                state = "pending"
            lines.append(f"  {run.key:40s} {state}")
        return "\n".join(lines)

    def run_all(self, dry_run: bool = False) -> int:
        """Runs every pending run, `jobs` at a time; returns the number of runs that failed."""
        failed = 0
        pending = self.pending()
        while pending or self.children:
            while pending and len(self.children) < self.jobs:
                self._start(pending.pop(0), dry_run)
            if not self.children:
                continue
            time.sleep(0.2)  # poll, never wait(): see hold_lock's SIGTERM handler
            for child in [c for c in self.children if c.process.poll() is not None]:
                self.children.remove(child)
                child.log.close()
                code = child.process.returncode
                if code != 0:
                    failed += 1
                    print(f"  {child.run.key} failed (exit {code}); see {RunFolder(self.output(child.run)).console}",
                          flush=True)
                    continue
                self._record(child.run, train_command(self.grid, child.run, self.output(child.run)), child.started,
                             resumed=child.resumed)
                self.aggregate()
        if not dry_run:
            self.aggregate()
        return failed

    def _start(self, run: Run, dry_run: bool) -> None:
        output = self.output(run)
        command = train_command(self.grid, run, output)
        resume = RunFolder(output).can_resume()
        if resume:
            command = ["spertmt", "train", "--resume", "--output", str(output), "--quiet"]
        if self.keep_checkpoints:  # training drops a finished run's resume/ unless told to keep it
            command.append("--keep-resume")
        print(f"[{time.strftime('%H:%M:%S')}] {'resume' if resume else 'start'} {run.key}: "
              f"{shlex.join(command)}", flush=True)
        if dry_run:
            return
        if not resume and output.exists():
            shutil.rmtree(output)  # a run that died before its first epoch ended
        output.mkdir(parents=True, exist_ok=True)
        log = open(RunFolder(output).console, "a")
        process = subprocess.Popen([sys.executable, "-m", "spertmt", *command[1:]], stdout=log,
                                   stderr=subprocess.STDOUT, env=self.child_environment())
        self.children.append(Child(run, process, log, time.time(), resume))

    def child_environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.threads:
            env["OMP_NUM_THREADS"] = str(self.threads)
        return env

    def _record(self, run: Run, command: list[str], started: float, resumed: bool) -> None:
        output = RunFolder(self.output(run))
        log = output.read_log()
        dev = [e for e in log if e["event"] == Event.DEV]
        config = json.loads(output.config.read_text())
        start = next((e for e in log if e["event"] == Event.START), {})
        select = config["select_metric"]
        best = max(dev, key=lambda e: e[select]) if dev else None
        timing = _timing(log)
        if self.grid.split == "dev":
            scores = {"dev_selected": best["metrics"], "dev_last": dev[-1]["metrics"]}
        else:
            scores = {"test_best": json.loads(output.metrics.read_text()),
                      "test_last": json.loads(output.metrics_last.read_text())}
            fixed = output.metrics_fixed_threshold  # θ tuned on dev: the config's θ as well
            if fixed.exists():
                scores["test_best_fixed_threshold"] = json.loads(fixed.read_text())
        record = {
            "cell": run.cell.name, "seed": run.seed, "fold": run.fold,
            "command": shlex.join(command),
            "config": config,
            **scores,
            "dev_best": {"epoch": best["epoch"], "metric": select, "value": best[select]} if best else None,
            # θ tuned on dev at the end (threshold_selection), with the dev F1 it reaches there
            "thresholds": [{k: e[k] for k in ("checkpoint", "thresholds", "dev")} for e in log
                           if e["event"] == Event.THRESHOLDS],
            # Dev F1 after every epoch: how fast each setting learns (read next to the test figures).
            "dev_curve": [{"epoch": e["epoch"], **{s: {a: e["metrics"][s][a]["f1"] for a in ("micro", "macro")}
                                                   for s, _ in SETTINGS},
                           **({"halves": e["halves"]} if "halves" in e else {})} for e in dev],
            # θ tuned on one half of dev and scored on the other (threshold_selection; trainer)
            "threshold_cross_check": [{k: e[k] for k in ("checkpoint", "results")} for e in log
                                      if e["event"] == Event.THRESHOLD_CROSS_CHECK],
            # wall_s: this runner's share (a resumed run's last stretch); train_s: all stretches, from the log
            "wall_s": round(time.time() - started, 1), "resumed": resumed, **timing,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": {"cpus": os.cpu_count(), "cpu_capability": _cpu_capability(),
                        "python": platform.python_version(), "torch": _torch_version(),
                        "commit": _git_commit(), "device": start.get("device"),
                        "gpu": _gpu_name() if str(start.get("device", "")).startswith("cuda") else None,
                        "native_kernels": start.get("native"), "jobs": self.jobs,
                        # None: PyTorch's default of one thread per core; "1" when grids share the cores
                        "omp_num_threads": self.child_environment().get("OMP_NUM_THREADS")},
        }
        write_text_atomic(self.record_path(run), json.dumps(record, indent=2))
        if not self.keep_checkpoints:  # keep best/ for later analysis; the rest is large and spent
            for spent in (output.resume, output.last):
                shutil.rmtree(spent, ignore_errors=True)

    # ------------------------------------------------------------------------------------------
    # Aggregation

    def records(self) -> dict[str, list[dict]]:
        by_cell: dict[str, list[dict]] = {c.name: [] for c in self.grid.cells}
        for run in runs_of(self.grid):
            if self.record_path(run).exists():
                by_cell[run.cell.name].append(json.loads(self.record_path(run).read_text()))
        return by_cell

    def aggregate(self) -> dict:
        summary = {"name": self.grid.name, "grid": self.grid.path, "average": self.grid.average,
                   "command": f"spertmt experiment {self.grid.path}", "cells": {}}
        by_cell = self.records()
        for cell in self.grid.cells:
            records = by_cell[cell.name]
            entry = {"set": cell.overrides, "seeds": cell.seeds, "folds": cell.folds, "runs": len(records),
                     "commands": [r["command"] for r in records]}
            if records:
                for selection, _ in self.grid.selections:
                    entry[selection] = _mean_std([r[selection] for r in records])
                if all(FIXED_THRESHOLD[0] in r for r in records):
                    entry[FIXED_THRESHOLD[0]] = _mean_std([r[FIXED_THRESHOLD[0]] for r in records])
                entry["dev_curve"] = _mean_curve([r.get("dev_curve") or [] for r in records], self.grid.average)
                epoch_s = [r["epoch_s_median"] for r in records if r.get("epoch_s_median")]
                entry["epoch_s_median"] = statistics.median(epoch_s) if epoch_s else None
                entry["per_run"] = [{"seed": r["seed"], "fold": r["fold"], "dev_best": r["dev_best"],
                                     "thresholds": r.get("thresholds") or [],
                                     **{sel: {s: r[sel][s][self.grid.average]["f1"] for s, _ in SETTINGS}
                                        for sel, _ in self.grid.selections}} for r in records]
            summary["cells"][cell.name] = entry
        self.results.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.results / f"{self.grid.name}.json", json.dumps(summary, indent=2))
        write_text_atomic(self.results / f"{self.grid.name}.md", self.markdown(summary))
        if self.grid.plot and any(e["runs"] for e in summary["cells"].values()):
            self.plot(summary)
        return summary

    def markdown(self, summary: dict) -> str:
        avg, split = self.grid.average, self.grid.split
        lines = [f"# {self.grid.name}", "",
                 f"Produced by `spertmt experiment {self.grid.path}`; {avg} P / R / F1 on the {split} set, "
                 "mean ± standard deviation over the runs of each cell (seeds"
                 + (", folds" if any(len(c.folds) > 1 for c in self.grid.cells) else "") + ").", ""]
        selections = self.grid.selections
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
        selected, last = (key for key, _ in self.grid.selections)
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

    def plot(self, summary: dict) -> Path | None:
        """F1 against `plot.x`, one line per `plot.series` value and one panel per metric of
        `plot.metrics` (dev-selected checkpoints; error bars: standard deviation over runs)."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed (pip install matplotlib): no plot", flush=True)
            return None
        x_key, series_key = self.grid.plot["x"], self.grid.plot.get("series", "mode")
        metrics = self.grid.plot.get("metrics", ["ner", "re_strict"])
        figure, panels = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.5), dpi=120, squeeze=False)
        for metric, axes in zip(metrics, panels[0]):
            lines: dict[str, list[tuple[float, float, float]]] = {}
            for cell in self.grid.cells:
                entry = summary["cells"][cell.name]
                if not entry["runs"]:
                    continue
                config = self.grid.cell_config(cell, cell.seeds[0], cell.folds[0])
                f1 = entry[self.grid.selections[0][0]][metric][self.grid.average]["f1"]
                lines.setdefault(str(getattr(config, series_key)), []).append(
                    (getattr(config, x_key), f1["mean"], f1["std"]))
            for label, points in sorted(lines.items()):
                points.sort()
                axes.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points],
                              marker="o", capsize=3, label=label)
            axes.set_xlabel(x_key)
            axes.set_ylabel(f"{self.grid.split} {dict(SETTINGS)[metric]} {self.grid.average} F1")
            axes.grid(alpha=0.3)
            axes.legend()
        figure.suptitle(self.grid.name)
        figure.tight_layout()
        path = self.results / f"{self.grid.name}.png"
        figure.savefig(path)
        plt.close(figure)
        return path


def _timing(log: list[dict]) -> dict:
    """Training time from a run's log, split into the stretches that a `start` or `resume` began
    (a resumed run's pause between sessions counts in none): `train_s`, their sum; `epoch_s_median`,
    the median gap between epoch ends (`epoch` events; `dev` in logs written before them);
    `step_s_median`, the median time a training step took between two `step` entries."""
    stretches: list[list[dict]] = []
    for event in log:
        if event["event"] in (Event.START, Event.RESUME) or not stretches:
            stretches.append([])
        stretches[-1].append(event)
    train_s, epoch_s, step_s = 0.0, [], []
    for stretch in stretches:
        train_s += stretch[-1]["time"] - stretch[0]["time"]
        ends = ([e for e in stretch if e["event"] == Event.EPOCH]
                or [e for e in stretch if e["event"] == Event.DEV])
        times = [stretch[0]["time"]] + [e["time"] for e in ends]
        epoch_s += [b - a for a, b in zip(times, times[1:]) if b > a]
        steps = [e for e in stretch if e["event"] == Event.STEP]
        step_s += [(b["time"] - a["time"]) / (b["step"] - a["step"])
                   for a, b in zip(steps, steps[1:]) if b["step"] > a["step"]]
    return {"train_s": round(train_s, 1),
            "epoch_s_median": round(statistics.median(epoch_s), 1) if epoch_s else None,
            "step_s_median": round(statistics.median(step_s), 4) if step_s else None}


def _mean_curve(curves: list[list[dict]], average: str) -> list[dict]:
    """Per epoch, the mean dev F1 of each setting over the runs whose record has that epoch
    (records written before dev curves were recorded have none)."""
    by_epoch: dict[int, list[dict]] = {}
    for curve in curves:
        for point in curve:
            by_epoch.setdefault(point["epoch"], []).append(point)
    return [{"epoch": epoch, "runs": len(points),
             **{s: statistics.fmean(p[s][average] for p in points) for s, _ in SETTINGS}}
            for epoch, points in sorted(by_epoch.items())]


def _mean_std(metrics: list[dict]) -> dict:
    """{setting: {average: {key: {mean, std}}}} over runs' metrics.json objects."""
    out: dict = {}
    for setting, _ in SETTINGS:
        for average in ("micro", "macro"):
            for key in ("precision", "recall", "f1"):
                values = [m[setting][average][key] for m in metrics]
                out.setdefault(setting, {}).setdefault(average, {})[key] = {
                    "mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}
    return out


def _torch_version() -> str:
    import torch

    return torch.__version__


def _cpu_capability() -> str:
    """The vector units torch's kernels use here (AVX2, AVX512, ...): they pick other kernels on
    another CPU, so the same seed is bit-identical only on the same kind of CPU."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def _gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


# ----------------------------------------------------------------------------------------------
# Background runs: one runner per grid, detached from the terminal.

def lock_path(experiment: Experiment) -> Path:
    return experiment.runs_dir / "runner.pid"


def running_pid(experiment: Experiment) -> int | None:
    """The pid of a live runner of this grid, if any."""
    path = lock_path(experiment)
    if not path.exists():
        return None
    try:
        pid = int(path.read_text())
        os.kill(pid, 0)
        return pid
    except (ValueError, ProcessLookupError, PermissionError):
        return None


def start_background(argv: list[str], experiment: Experiment) -> tuple[int, Path]:
    """Starts `spertmt experiment` with `argv` (without --background) in a new session; its output
    goes to `<runs>/<name>/runner.log`. Returns (pid, log path)."""
    experiment.runs_dir.mkdir(parents=True, exist_ok=True)
    log = experiment.runs_dir / "runner.log"
    with open(log, "a") as out:
        process = subprocess.Popen([sys.executable, "-m", "spertmt", *argv], stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    return process.pid, log


def hold_lock(experiment: Experiment) -> None:
    """Claims the grid for this process (refuses when another live runner holds it). SIGTERM stops
    the training run in progress too (it resumes from its last finished epoch next time)."""
    other = running_pid(experiment)
    if other is not None and other != os.getpid():
        raise RuntimeError(f"grid {experiment.grid.name} is already being run by process {other} "
                           f"(stop it with: kill {other})")
    experiment.runs_dir.mkdir(parents=True, exist_ok=True)
    lock_path(experiment).write_text(str(os.getpid()))

    def release(*_):
        # No wait() here: a Popen.wait() interrupted by this handler holds a lock that a second
        # wait() would deadlock on (run_all polls its children instead of waiting on them).
        for child in experiment.children:
            child.process.terminate()
        release_lock(experiment)
        sys.exit(1)

    signal.signal(signal.SIGTERM, release)


def release_lock(experiment: Experiment) -> None:
    if running_pid(experiment) in (None, os.getpid()):
        lock_path(experiment).unlink(missing_ok=True)
