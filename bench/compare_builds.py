"""Two builds of the op library side by side, alternating: bench/run_ops.py's native timings of
the pooling ops, and (--bench optim) bench/run_optim.py's fused optimizer step.

    python bench/compare_builds.py --baseline /tmp/old/spertmt/_C.so --candidate build/lib*/spertmt/_C.so
    python bench/compare_builds.py --bench optim --baseline ... --candidate ...

Each round runs the benchmark once per library (loaded through SPERTMT_LIBRARY, in a fresh
process), baseline then candidate, so that both see the same machine load; a case's time is the
median over rounds of the benchmark's own medians, and the ratio is candidate / baseline. Used to
check that moving the kernels to the LibTorch stable ABI (boxed calls, checks read on the host)
costs nothing beyond noise, at inference batch sizes too.

How the baseline of bench/RESULTS.md was built: `git worktree add /tmp/old bb98b22` (the last
commit before the stable ABI), then `pip install --no-build-isolation -e .` there against the same
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


def run_once(bench: str, library: str, bench_args: list[str]) -> list[tuple[tuple, float]]:
    """((case key), native median ms) of each case of one benchmark run with `library`."""
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "result.json"
        env = {**os.environ, "SPERTMT_LIBRARY": str(Path(library).resolve())}
        script = ["run_ops.py", "--impls", "native", "--no-memory"] if bench == "ops" else ["run_optim.py"]
        subprocess.run([sys.executable, str(HERE / script[0]), *script[1:], "--output", str(output), *bench_args],
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = json.loads(output.read_text())
    if bench == "ops":
        return [(tuple(row[k] for k in KEY), row["native_ms"]) for row in result["rows"]]
    row = next(row for row in result["rows"] if "native, fused" in row["optimizer"])
    return [(("optimizer step", "22.7 M parameters", "", ""), row["median_ms"])]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", choices=["ops", "optim"], default="ops")
    parser.add_argument("--baseline", required=True, help="the library to compare against")
    parser.add_argument("--candidate", required=True, help="the library under test")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", nargs="+", default=["1", "2", "8"])
    parser.add_argument("--hidden", nargs="+", default=["384", "768"])
    parser.add_argument("--repeats", default="15")
    parser.add_argument("--output", help="JSON file (default bench/results/<bench>-cpu-builds.json)")
    args = parser.parse_args(argv)
    bench_args = ["--repeats", args.repeats]
    if args.bench == "ops":
        bench_args += ["--batch", *args.batch, "--hidden", *args.hidden]

    times: dict[str, dict[tuple, list[float]]] = {"baseline": {}, "candidate": {}}
    for round_ in range(args.rounds):
        for name in ("baseline", "candidate"):
            for key, ms in run_once(args.bench, getattr(args, name), bench_args):
                times[name].setdefault(key, []).append(ms)
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    sys.path.insert(0, str(HERE))
    from run_ops import environment as describe  # the machine, as run_ops.py writes it

    environment = {k: v for k, v in describe("cpu").items() if k != "native"}
    print("# " + ", ".join(f"{k}={v}" for k, v in environment.items()))
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
    output = Path(args.output or HERE / "results" / f"{args.bench}-cpu-builds.json")
    output.write_text(json.dumps({
        "environment": environment, "command": " ".join(sys.argv), "baseline": args.baseline,
        "candidate": args.candidate, "rounds": args.rounds, "rows": rows,
        "median_ratio": statistics.median(ratios)}, indent=1))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
