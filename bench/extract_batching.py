"""Extraction throughput under each batching rule: batches of at most N texts (the old rule), or
batches capped by padded pieces (`batch_pieces`, data.encoding.longest_first), the figures that
chose extraction's default.

    python bench/extract_batching.py --model runs/c04/onnx --runtime onnx
    python bench/extract_batching.py --model runs/c04/best --runtime torch

Two workloads over the same sentences (CoNLL04 dev by default: the service's load benchmark uses
test sentences, so the choice is not made on the texts it is judged on):
- `file`: every sentence in one `extract` call, as `spertmt predict` hands a file's chunk of 512;
- `service`: the sentences 32 at a time in input order, one call each, as `spertmt serve` hands
  the model what 32 clients sent together (its default --max-batch): no length sorting across calls.
Each rule and workload runs `--repeats` times, interleaved (every rule once, then again), after one
warm-up round; the median is kept and every run is in the record. Prints a table and writes JSON.
Measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import records  # noqa: E402  (bench/records.py)
import tables  # noqa: E402  (bench/tables.py)

HERE = Path(__file__).resolve().parent
SERVICE_BATCH = 32  # spertmt serve's default --max-batch


def sentences(split: str, count: int) -> list[str]:
    """The first `count` CoNLL04 sentences of `split`, as text (the data root as everywhere)."""
    from spertmt.config import Config
    from spertmt.data.documents import read_documents

    return [" ".join(d.tokens) for d in read_documents(Config().data_path(f"{split}_path"))][:count]


NO_CAP = 10**9  # padded pieces: more than any batch holds, so the count alone decides


def rules(sizes: list[int], pieces: list[int], caps: list[int]) -> list[dict]:
    return ([{"name": f"{n} texts", "batch_size": n, "batch_pieces": None} for n in sizes]
            + [{"name": f"{p} pieces, {cap} texts", "batch_size": cap, "batch_pieces": p} for cap in caps
               for p in pieces])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a model folder (--runtime torch) or an exported one (onnx)")
    parser.add_argument("--runtime", default="onnx", choices=["onnx", "torch"])
    parser.add_argument("--split", default="dev", choices=["train", "dev", "test"])
    parser.add_argument("--sentences", type=int, default=288)
    parser.add_argument("--sizes", type=int, nargs="*", default=[4, 8, 16], help="batch sizes without a pieces cap")
    parser.add_argument("--pieces", type=int, nargs="*", default=[192, 256, 384, 512], help="padded pieces per batch")
    parser.add_argument("--caps", type=int, nargs="+", default=[16, 64], help="texts a batch under a pieces cap")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", help="the JSON record (default: bench/results/extract-batching-RUNTIME.json)")
    args = parser.parse_args(argv)

    from spertmt.inference.loading import load_extractor

    texts = sentences(args.split, args.sentences)
    extractor = load_extractor(args.model, runtime=args.runtime, threads=args.threads)
    workloads = {"file": [texts], "service": [texts[i:i + SERVICE_BATCH] for i in range(0, len(texts), SERVICE_BATCH)]}
    chosen = rules(args.sizes, args.pieces, args.caps)

    def run(rule: dict, calls: list[list[str]]) -> float:
        started = time.perf_counter()
        for call in calls:
            extractor.extract(call, batch_size=rule["batch_size"], batch_pieces=rule["batch_pieces"] or NO_CAP)
        return len(texts) / (time.perf_counter() - started)

    runs: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.repeats + 1):  # round 0 warms every shape up and is not kept
        for rule in chosen:
            for workload, calls in workloads.items():
                rate = run(rule, calls)
                if round_:
                    runs.setdefault((rule["name"], workload), []).append(rate)

    rows = []
    for rule in chosen:
        row = {**rule}
        for workload in workloads:
            row[f"{workload}_sentences_per_s"] = statistics.median(runs[(rule["name"], workload)])
            row[f"{workload}_runs"] = runs[(rule["name"], workload)]
        row["service_over_file"] = row["service_sentences_per_s"] / row["file_sentences_per_s"]
        rows.append(row)
    print(f"{args.runtime}: {len(texts)} CoNLL04 {args.split} sentences, {args.threads} threads, "
          f"median of {args.repeats}\n")
    print(tables.table(["rule", "file sentences/s", "service sentences/s", "service / file"],
                       [[row["name"], f"{row['file_sentences_per_s']:.1f}", f"{row['service_sentences_per_s']:.1f}",
                         f"{row['service_over_file']:.2f}"] for row in rows]))
    record = {"command": " ".join(["python", "bench/extract_batching.py", *(argv or sys.argv[1:])]),
              "date": time.strftime("%Y-%m-%d"), "commit": records.commit(), "runtime": args.runtime,
              "model": Path(args.model).name, "split": args.split, "sentences": len(texts),
              "threads": args.threads, "cpus": os.cpu_count(), "repeats": args.repeats,
              "service_batch": SERVICE_BATCH, "rules": rows}
    records.write(args.output or HERE / "results" / f"extract-batching-{args.runtime}.json", record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
