"""Where the PyTorch path's start-up goes: Python's own import timer over `spertmt predict`, self
times summed by top-level package.

    python bench/import_time.py MODEL --rounds 3 --json bench/results/import-time.json

Each round runs `python -X importtime -m spertmt predict --model MODEL` on a one-line file in a fresh
process; the table gives, per package, the median over rounds of its modules' self times (what
importing that package's own code cost, not what it pulled in), the largest first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import records  # noqa: E402  (bench/records.py)

ROOT = Path(__file__).resolve().parents[1]


def self_times(stderr: str) -> dict[str, float]:
    """{top-level package: summed self time in seconds} from `-X importtime` lines
    (`import time:      self [us] |  cumulative | imported package`)."""
    totals: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|", 2)
        totals[name.strip().split(".")[0]] += int(own) / 1e6
    return dict(totals)


def measure(model: str, text_file: Path, output: Path) -> dict[str, float]:
    command = [sys.executable, "-X", "importtime", "-m", "spertmt", "predict", "--model", model,
               "--input", str(text_file), "--output", str(output), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return self_times(done.stderr)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top", type=int, default=8, help="packages listed by name; the rest summed")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        text_file = Path(folder) / "one.txt"
        text_file.write_text("John Smith works for Acme Corp in Berlin.\n")
        rounds = [measure(args.model, text_file, Path(folder) / f"out{i}.jsonl") for i in range(args.rounds)]
    packages = {name for r in rounds for name in r}
    medians = {name: statistics.median(r.get(name, 0.0) for r in rounds) for name in packages}
    total = statistics.median(sum(r.values()) for r in rounds)
    ranked = sorted(medians.items(), key=lambda item: -item[1])
    rows = [{"package": name, "self_s": round(seconds, 3)} for name, seconds in ranked[:args.top]]
    if "spertmt" not in {row["package"] for row in rows}:
        rows.append({"package": "spertmt", "self_s": round(medians.get("spertmt", 0.0), 4)})
    listed = {row["package"] for row in rows}
    rows.append({"package": "everything else", "self_s": round(sum(s for n, s in ranked if n not in listed), 3)})
    print(f"{'package':>16} {'self s':>8}")
    for row in rows:
        print(f"{row['package']:>16} {row['self_s']:>8}")
    print(f"{'all imports':>16} {total:>8.3f}  (median of {args.rounds} rounds)")
    if args.json:
        record = {"command": "python " + " ".join([Path(__file__).relative_to(ROOT).as_posix()] + sys.argv[1:]),
                  "rounds": args.rounds, "total_s": round(total, 3), "rows": rows,
                  "machine": {"cpu": records.cpu_name(), "cpus": len(os.sched_getaffinity(0)),
                              "python": platform.python_version(),
                              "commit": records.commit(), "date": time.strftime("%Y-%m-%d %H:%M")}}
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
