"""Training throughput of one multi-threaded process against several single-threaded ones.

    python bench/train_threads.py                 # 2 threads in one process vs 2 processes x 1 thread
    python bench/train_threads.py --processes 4   # on a bigger machine

Why: on a small CPU machine the experiment grids (`spertmt experiment`) are the long job, and
running several at once only pays off if the processes do not fight over the cores. Each worker
process times `--steps` training steps of the trainer (batch 2, CoNLL04 train, untrained offline
encoder, lr = 0 so the steps stay comparable) with `torch.set_num_threads(T)`, median of
`--repeats`. Rows: one process with `--processes` threads alone, one process with 1 thread alone,
and `--processes` single-threaded processes started together. Prints a table and writes
bench/results/train-threads-cpu.json. Measure on a quiet machine: anything else running skews it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def worker(threads: int, steps: int, repeats: int) -> float:
    """Seconds per training step (median of `repeats`), printed as the process's last line."""
    import torch

    sys.path.insert(0, str(HERE))
    import throughput

    torch.set_num_threads(threads)
    args = argparse.Namespace(device="cpu", dtype="fp32", model=None)
    extractor, _, _, train = throughput.build(args)
    throughput.train_steps(extractor, train, "native", 2, 3, args)  # warm-up
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        throughput.train_steps(extractor, train[r * 2 * steps:], "native", 2, steps, args)
        times.append((time.perf_counter() - start) / steps)
    return statistics.median(times)


def run_together(count: int, threads: int, steps: int, repeats: int) -> list[float]:
    command = [sys.executable, __file__, "--worker", str(threads), "--steps", str(steps), "--repeats", str(repeats)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(count)]
    outputs = [p.communicate()[0] for p in processes]
    if any(p.returncode for p in processes):
        raise SystemExit("a worker failed")
    return [float(out.strip().splitlines()[-1]) for out in outputs]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=2, help="cores to share (default 2)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(HERE / "results" / "train-threads-cpu.json"))
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(worker(args.worker, args.steps, args.repeats))
        return 0

    n = args.processes
    rows = []
    for label, count, threads in ((f"1 process x {n} threads", 1, n), ("1 process x 1 thread", 1, 1),
                                  (f"{n} processes x 1 thread, together", n, 1)):
        per_step = run_together(count, threads, args.steps, args.repeats)
        rows.append({"setting": label, "processes": count, "threads": threads,
                     "seconds_per_step": per_step, "steps_per_second_in_all": sum(1 / s for s in per_step)})
    base = rows[0]["steps_per_second_in_all"]
    print(f"| setting | s / step (each process) | steps / s in all | vs 1 x {n} threads |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        each = ", ".join(f"{s:.3f}" for s in row["seconds_per_step"])
        print(f"| {row['setting']} | {each} | {row['steps_per_second_in_all']:.2f} | "
              f"{row['steps_per_second_in_all'] / base:.2f}x |")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
