"""What every benchmark's JSON record holds about where it was made, and writing it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from spertmt.experiment.records import cpu_name  # noqa: F401 (benchmarks' records name the CPU as grids' do)

ROOT = Path(__file__).resolve().parents[1]


# what a measurement runs: a change here that no commit holds makes a record's commit "-dirty"
# (records and documents beside them do not)
CODE = ["src", "csrc", "configs", "pyproject.toml", "setup.py", ":(glob)bench/*.py", ":(glob)experiments/**/*.py"]


def commit() -> str | None:
    """The checkout's commit (short), with "-dirty" where the code differs from it (CODE: the record
    then came from code no commit holds), or None outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=ROOT).stdout.strip()
        changed = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", *CODE], cwd=ROOT).returncode != 0
        return head + "-dirty" if changed else head
    except (OSError, subprocess.CalledProcessError):
        return None


def decisions(results) -> list:
    """Per extraction result: its entities (word span, type) and relations (the two entities'
    places, type), in the order given: what two ways of extracting must agree on."""
    return [([(e.token_start, e.token_end, e.type) for e in r.entities],
             [(x.head, x.tail, x.type) for x in r.relations]) for r in results]


def child_rate(code: str, *args: str, input: str | None = None, env: dict | None = None) -> float:
    """Runs `code` in a Python process of its own (`python -c code *args`, `input` on its standard
    input) and returns the number its last line of output prints: each way a benchmark compares gets
    a fresh process (thread pools, once made, stay for a process's life)."""
    out = subprocess.run([sys.executable, "-c", code, *args], input=input, capture_output=True, text=True,
                         check=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def write(path: str | Path, record: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
    print(f"wrote {path}")
