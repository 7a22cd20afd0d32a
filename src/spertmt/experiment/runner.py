"""`spertmt experiment`: the runs of a grid (the grid file: grid.py), run one after another or `jobs`
at a time, resumable, aggregated.

Every run is `spertmt train --config ... --set ... --output <runs>/<name>/<cell>/seed<S>[-fold<F>]`
in a child process, and its record (records.py: command, config, test metrics of the dev-selected
and of the last checkpoint, wall time) is written to `results/<name>/runs/...json` when it ends. A
run with a record is never run again; an interrupted run goes on from its last finished epoch
(`--resume`), and one whose training ended before its record was written is recorded from its
folder. So the same command, in a later session, finishes a half-done grid. After every run the
cells' means and standard deviations are written to `results/<name>.json` and `results/<name>.md`
(report.py). A background runner holds a lock (locks.py).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..files import folder_holder, write_text_atomic
from ..layout import CHECKPOINTS, RunFolder
from . import report
from .grid import Grid, Run, runs_of, train_command
from .records import add_test_counts, make_record, progress


@dataclass
class Child:
    """A training run in progress: its process, its output file and when it started."""

    run: Run
    process: subprocess.Popen
    log: IO[str]
    started: float
    resumed: bool



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
        """A line per run: recorded, pending, or how far it got (records.progress) and whether its
        training process is alive."""
        lines = [f"grid {self.grid.name}: {len(runs_of(self.grid)) - len(self.pending())} of "
                 f"{len(runs_of(self.grid))} runs recorded"]
        for run in runs_of(self.grid):
            output = RunFolder(self.output(run))
            if self.record_path(run).exists():
                record = json.loads(self.record_path(run).read_text())
                state = f"done in {record.get('train_s', record['wall_s']) / 60:.1f} min"
            elif output.can_resume() or output.log.exists():
                holder = folder_holder(output.path)
                if holder:
                    how = f"running (process {holder})"
                elif self.ended_unrecorded(run):
                    how = "ended, not recorded (the same command records it)"
                else:
                    how = "interrupted (the same command resumes it)"
                state = f"{progress(output)}; {how}"
            else:
                state = "pending"
            lines.append(f"  {run.key:40s} {state}")
        return "\n".join(lines)

    def ended_unrecorded(self, run: Run) -> bool:
        """Whether `run`'s training ended but its record was never written (the runner stopped in
        between): training removes resume/ only after its last epoch and its test scores."""
        output = RunFolder(self.output(run))
        return not output.can_resume() and set(output.trained()) == set(CHECKPOINTS)

    def run_all(self, dry_run: bool = False) -> int:
        """Runs every pending run, `jobs` at a time; returns the number of runs that failed."""
        failed = 0
        pending = self.pending()
        for run in [r for r in pending if self.ended_unrecorded(r)]:  # recorded, never trained again
            print(f"[{time.strftime('%H:%M:%S')}] record {run.key}: its training had ended", flush=True)
            pending.remove(run)
            if not dry_run:
                self._record(run, train_command(self.grid, run, self.output(run)), time.time(), resumed=True)
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
        record = make_record(run, output, command, self.grid.split, started, resumed, self.jobs,
                             self.child_environment().get("OMP_NUM_THREADS"))
        write_text_atomic(self.record_path(run), json.dumps(record, indent=2))
        if not self.keep_checkpoints:  # keep best/ for later analysis; the rest is large and spent
            for spent in (output.resume, output.last):
                shutil.rmtree(spent, ignore_errors=True)

    # ------------------------------------------------------------------------------------------
    # Aggregation

    def add_missing_counts(self) -> list[str]:
        """Per-sentence test counts added to the records written without them (by an older runner),
        where the run folder still holds best/'s test predictions; the runs' keys."""
        return [run.key for run in runs_of(self.grid)
                if self.record_path(run).exists()
                and add_test_counts(self.record_path(run), RunFolder(self.output(run)))]

    def records(self) -> dict[str, list[dict]]:
        by_cell: dict[str, list[dict]] = {c.name: [] for c in self.grid.cells}
        for run in runs_of(self.grid):
            if self.record_path(run).exists():
                by_cell[run.cell.name].append(json.loads(self.record_path(run).read_text()))
        return by_cell

    def aggregate(self) -> dict:
        """results/<grid>.json and .md (and the plot) from the records so far."""
        summary = report.summarize(self.grid, self.records())
        self.results.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.results / f"{self.grid.name}.json", json.dumps(summary, indent=2))
        write_text_atomic(self.results / f"{self.grid.name}.md", report.markdown(self.grid, summary))
        if self.grid.plot and any(e["runs"] for e in summary["cells"].values()):
            report.plot(self.grid, summary, self.results / f"{self.grid.name}.png")
        return summary
