"""A committed run record trained again: its grid's command at this commit on this machine, one
thread, then the new record compared with the committed one apart from timings, machine and paths.
It shows whether a number of the results page still comes out of today's code; it chooses nothing
(the run's test set is scored as its grid scored it).

    python experiments/rerun_record.py results/calibration-conll04/runs/spertmt-sums-head-lr/seed0.json \
        --output results/diagnostics/rerun-calibration-conll04-seed0.json

Trains into runs/rerun/<grid>/<cell>/seed<S> with `--threads` (1, as the grids' records were trained;
resumed where a run there was cut short) unless `--run` names a folder that the same command trained
(a config that is not the record's shows as config values that differ). The grid file is
experiments/<grid>.toml. Compares every value down to the leaves; prints and writes as JSON the
fields that are the same, each value that differs (both), and what only one record holds (a later
commit's records hold more: config keys added since, at their defaults, new measures).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
from grid_fingerprint import LEFT_OUT  # noqa: E402  (timings, machine, command: not the run's numbers)

LEFT_OUT = LEFT_OUT | {"wall_s", "resumed"}


def compare(committed, again, path: str = "", out: dict | None = None) -> dict:
    """Every value the two records hold, down to the leaves: {"differ": {path: {"committed": ...,
    "again": ...}}, "only in the committed record": [path], "only in the new record": [path]}."""
    out = out if out is not None else {"differ": {}, "only in the committed record": [], "only in the new record": []}
    if isinstance(committed, dict) and isinstance(again, dict):
        for key in sorted(set(committed) | set(again)):
            inner = f"{path}.{key}" if path else key
            if not path and key in LEFT_OUT:
                continue
            if key not in again or key not in committed:
                out["only in the committed record" if key in committed else "only in the new record"].append(inner)
            else:
                compare(committed[key], again[key], inner, out)
    elif isinstance(committed, list) and isinstance(again, list) and len(committed) == len(again):
        for i, (a, b) in enumerate(zip(committed, again)):
            compare(a, b, f"{path}[{i}]", out)
    elif committed != again:
        out["differ"][path] = {"committed": committed, "again": again}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("record", help="results/<grid>/runs/<cell>/seed<S>.json")
    parser.add_argument("--output", required=True, help="where the comparison goes (JSON)")
    parser.add_argument("--run", help="a run folder the record's command already trained (else it is trained)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads of the training (OMP_NUM_THREADS; of --run's: as it was trained; default 1)")
    args = parser.parse_args(argv)

    from spertmt.experiment.grid import Grid, runs_of, train_command
    from spertmt.experiment.records import make_record
    from spertmt.layout import RunFolder

    record_path = Path(args.record)
    committed = json.loads(record_path.read_text())
    grid_name = record_path.parents[2].name
    grid = Grid.load(ROOT / "experiments" / f"{grid_name}.toml")
    run = next(r for r in runs_of(grid) if r.cell.name == committed["cell"] and r.seed == committed["seed"]
               and r.fold == committed["fold"])
    output = Path(args.run) if args.run else ROOT / "runs" / "rerun" / grid_name / run.key
    command = train_command(grid, run, output)
    started = time.time()
    if args.run is None:
        resume = RunFolder(output).can_resume()
        argv_train = ["spertmt", "train", "--resume", "--output", str(output), "--quiet"] if resume else command
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HF_HUB_OFFLINE": "1"}
        subprocess.run([sys.executable, "-m", "spertmt", *argv_train[1:]], check=True, cwd=ROOT, env=env)
    again = make_record(run, RunFolder(output), command, grid.split, started, resumed=False, jobs=1,
                        omp_num_threads=str(args.threads))
    found = compare(committed, again)
    differ = sorted(found["differ"])
    same = sorted(k for k in committed if k not in LEFT_OUT and k in again
                  and not any(p == k or p.startswith((f"{k}.", f"{k}[")) for p in differ))
    print(f"same: {', '.join(same)}")
    for name in ("only in the committed record", "only in the new record"):
        print(f"{name}: {', '.join(found[name]) or 'nothing'}")
    for path in differ:
        print(f"DIFFERS {path}: {found['differ'][path]['committed']!r} -> {found['differ'][path]['again']!r}")
    report = {"record": record_path.as_posix(), "command": committed["command"],
              "committed": {"machine": committed.get("machine"), "finished": committed.get("finished")},
              "again": {"machine": again["machine"], "finished": again["finished"], "train_s": again.get("train_s")},
              "identical_apart_from_timings": not differ and not found["only in the committed record"],
              "same": same, **found}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    verdict = "identical apart from timings, machine and paths" if report["identical_apart_from_timings"] else \
        f"{len(differ)} values differ"
    print(f"{verdict}; wrote {args.output}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
