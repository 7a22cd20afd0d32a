"""Two builds of the op library side by side: bench/run_ops.py's native timings, alternating.

    python bench/compare_builds.py --baseline /tmp/old/_C.so --candidate spertmt/_C.so

Each round runs bench/run_ops.py once per library (loaded through SPERTMT_LIBRARY, in a fresh
process), baseline then candidate, so that both see the same machine load; a case's time is the
median over rounds of run_ops.py's own medians, and the ratio is candidate / baseline. Used to
check that moving the kernels to the LibTorch stable ABI (boxed calls, checks read on the host)
costs nothing beyond noise, at inference batch sizes too.

How the baseline of bench/RESULTS.md was built: `git worktree add /tmp/old bb98b22` (the last
commit before the stable ABI), then `python setup.py build_ext --inplace` there against the same
torch; its library is /tmp/old/spertmt/_C.so.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEY = ("workload", "mode", "batch", "hidden")


def run_once(library: str, run_ops_args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "ops.json"
        env = {**os.environ, "SPERTMT_LIBRARY": str(Path(library).resolve())}
        subprocess.run([sys.executable, str(HERE / "run_ops.py"), "--impls", "native", "--no-memory",
                        "--output", str(output), *run_ops_args], env=env, check=True, stdout=subprocess.DEVNULL)
        return json.loads(output.read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="the library to compare against")
    parser.add_argument("--candidate", required=True, help="the library under test")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", nargs="+", default=["1", "2", "8"])
    parser.add_argument("--hidden", nargs="+", default=["384", "768"])
    parser.add_argument("--repeats", default="15")
    parser.add_argument("--output", default=str(HERE / "results" / "ops-cpu-builds.json"))
    args = parser.parse_args(argv)
    run_ops_args = ["--batch", *args.batch, "--hidden", *args.hidden, "--repeats", args.repeats]

    times: dict[str, dict[tuple, list[float]]] = {"baseline": {}, "candidate": {}}
    environment = None
    for round_ in range(args.rounds):
        for name in ("baseline", "candidate"):
            result = run_once(getattr(args, name), run_ops_args)
            environment = environment or result["environment"]
            for row in result["rows"]:
                times[name].setdefault(tuple(row[k] for k in KEY), []).append(row["native_ms"])
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    print("# " + ", ".join(f"{k}={v}" for k, v in environment.items() if k != "native"))
    header = f"{'workload':9} {'mode':16} {'B':>2} {'H':>4} | {'baseline ms':>11} {'candidate ms':>12} | {'ratio':>5}"
    print(header)
    print("-" * len(header))
    rows = []
    for key, base in times["baseline"].items():
        cand = times["candidate"][key]
        row = dict(zip(KEY, key), baseline_ms=statistics.median(base), candidate_ms=statistics.median(cand),
                   baseline_runs_ms=base, candidate_runs_ms=cand)
        row["ratio"] = row["candidate_ms"] / row["baseline_ms"]
        rows.append(row)
        print(f"{key[0]:9} {key[1]:16} {key[2]:>2} {key[3]:>4} | {row['baseline_ms']:11.3f} "
              f"{row['candidate_ms']:12.3f} | {row['ratio']:5.2f}")
    ratios = [row["ratio"] for row in rows]
    print(f"median ratio {statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})")
    Path(args.output).write_text(json.dumps({
        "environment": environment, "command": " ".join(sys.argv), "baseline": args.baseline,
        "candidate": args.candidate, "rounds": args.rounds, "rows": rows,
        "median_ratio": statistics.median(ratios)}, indent=1))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
