"""Background runs: one runner per grid, detached from the terminal, its pid in `<runs>/<name>/runner.pid`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .runner import Experiment


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
