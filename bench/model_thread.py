"""A PyTorch model run on the thread it was loaded on, against run on another thread, and with
OpenMP's workers waiting passively: why `spertmt serve` loads its model on the thread that runs
its batches (spertmt.serve.batching.ModelThread).

    python bench/model_thread.py --model runs/c04/best

PyTorch's CPU kernels keep a team of OpenMP workers per calling thread. A model loaded on one
thread and run on another leaves two teams; with more workers than cores, libgomp makes every
worker sleep soon after each parallel region, as `OMP_WAIT_POLICY=PASSIVE` does always, and
waking them costs each of the many small regions of a batch. Each way runs in a process of its own
(a team, once made, stays for the process's life), in rounds that interleave the ways; in each,
the model extracts CoNLL04 test sentences 32 a call (as the service's batches) after one warm-up
pass. Prints a table and writes JSON. Measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import records  # noqa: E402  (bench/records.py)
import tables  # noqa: E402  (bench/tables.py)
from extract_batching import SERVICE_BATCH, sentences  # noqa: E402  (the same sentences, the service's calls)

HERE = Path(__file__).resolve().parent
# way: (the thread the model loads on, environment); batches always run on a worker thread, as the service's
WAYS = {
    "loaded and run on one thread": ("worker", {}),
    "loaded on one thread, run on another": ("main", {}),
    "one thread, OMP_WAIT_POLICY=PASSIVE": ("worker", {"OMP_WAIT_POLICY": "PASSIVE"}),
}

RUN = """
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
from spertmt.inference.loading import load_extractor
model, threads, load_on = sys.argv[1], int(sys.argv[2]), sys.argv[3]
texts, size = json.loads(sys.argv[4]), int(sys.argv[5])
worker = ThreadPoolExecutor(max_workers=1)
on = {"main": lambda f, *a, **k: f(*a, **k), "worker": lambda f, *a, **k: worker.submit(f, *a, **k).result()}
extractor = on[load_on](load_extractor, model, runtime="torch", threads=threads)
def extract_all():
    for i in range(0, len(texts), size):
        extractor.extract(texts[i:i + size])
worker.submit(extract_all).result()  # warm-up: every shape once
started = time.perf_counter()
worker.submit(extract_all).result()
print(len(texts) / (time.perf_counter() - started))
"""


def throughput(model: str, threads: int, load_on: str, env: dict, texts: list[str]) -> float:
    # OMP_WAIT_POLICY from the caller's environment would blur the ways: each sets its own
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    return records.child_rate(RUN, model, str(threads), load_on, json.dumps(texts), str(SERVICE_BATCH),
                              env={**base, **env})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a trained model folder (PyTorch)")
    parser.add_argument("--sentences", type=int, default=288, help="CoNLL04 test sentences (all: 288)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", help="the JSON record (default: bench/results/model-thread.json)")
    args = parser.parse_args(argv)

    texts = sentences("test", args.sentences)
    runs: dict[str, list[float]] = {way: [] for way in WAYS}
    for _ in range(args.repeats):
        for way, (load_on, env) in WAYS.items():
            runs[way].append(throughput(args.model, args.threads, load_on, env, texts))
    first = next(iter(WAYS))
    rows = [{"way": way, "load_on": WAYS[way][0], "environment": WAYS[way][1],
             "sentences_per_s": statistics.median(rates), "runs": rates,
             "x_first": statistics.median(r / b for r, b in zip(rates, runs[first]))} for way, rates in runs.items()]
    print(f"torch fp32: {len(texts)} CoNLL04 test sentences, {SERVICE_BATCH} a call, {args.threads} threads, "
          f"median of {args.repeats} rounds\n")
    print(tables.table(["way", "sentences/s", f"x {first!r}"],
                       [[r["way"], f"{r['sentences_per_s']:.1f}", f"{r['x_first']:.2f}"] for r in rows]))
    record = {"command": " ".join(["python", "bench/model_thread.py", *(argv or sys.argv[1:])]),
              "date": time.strftime("%Y-%m-%d"), "commit": records.commit(), "model": Path(args.model).name,
              "sentences": len(texts), "texts_per_call": SERVICE_BATCH, "threads": args.threads,
              "cpus": os.cpu_count(), "repeats": args.repeats, "rows": rows}
    records.write(args.output or HERE / "results" / "model-thread.json", record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
