"""Extraction with the encoder packed (spertmt.model.packed: its position-wise layers on the real
pieces only) against padded, on each runtime: the figures that made packing the default.

    python bench/packed_encoding.py --model runs/c04/best --runtime torch
    python bench/packed_encoding.py --model runs/c04/best --runtime onnx

`--model` is a trained model folder. With `--runtime torch` it is loaded once and run both ways
(packing switched off for the padded rows); with `--runtime onnx` it is exported twice into a
temporary folder, once as `spertmt export` writes it (packed) and once with packing switched off
(the padded graph earlier releases wrote), and each export runs without torch's help. fp32 only:
int8 encoders run padded on both engines. Three workloads over the same sentences (CoNLL04 dev by
default): `file`, every sentence in one `extract` call (as `spertmt predict` hands a chunk);
`service`, 32 at a time in input order (as `spertmt serve` hands the model what 32 clients sent
together); `small`, 8 at a time. Each runs `--repeats`
times, interleaved, after a warm-up round; medians are kept and every run is in the record, with
how many sentences got the same entities and relations both ways. Prints a table and writes JSON.
Measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import records  # noqa: E402  (bench/records.py)
import tables  # noqa: E402  (bench/tables.py)
from extract_batching import SERVICE_BATCH, sentences  # noqa: E402  (the same sentences, the service's calls)

HERE = Path(__file__).resolve().parent
CALLS = {"file": None, "service": SERVICE_BATCH, "small": 8}  # texts per extract call (None: all at once)


@contextlib.contextmanager
def padded():
    """Packing switched off: every encoder runs (and exports) as transformers runs it."""
    from spertmt.model import packed

    encode = packed.encode
    packed.encode = lambda *args: None
    try:
        yield
    finally:
        packed.encode = encode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a trained model folder (not an exported one)")
    parser.add_argument("--runtime", default="torch", choices=["torch", "onnx"])
    parser.add_argument("--split", default="dev", choices=["train", "dev", "test"])
    parser.add_argument("--sentences", type=int, default=288)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", help="the JSON record (default: bench/results/packed-encoding-RUNTIME.json)")
    args = parser.parse_args(argv)

    from spertmt.inference.export import export_onnx
    from spertmt.inference.loading import load_extractor

    texts = sentences(args.split, args.sentences)
    with tempfile.TemporaryDirectory() as folder:
        if args.runtime == "onnx":
            export_onnx(args.model, Path(folder) / "packed")
            with padded():
                export_onnx(args.model, Path(folder) / "padded")
            extractors = {way: load_extractor(Path(folder) / way, runtime="onnx", threads=args.threads)
                          for way in ("padded", "packed")}
            ways = {way: (extractor, contextlib.nullcontext) for way, extractor in extractors.items()}
        else:
            extractor = load_extractor(args.model, runtime="torch", threads=args.threads)
            ways = {"padded": (extractor, padded), "packed": (extractor, contextlib.nullcontext)}

        def run(way: str, size: int | None) -> tuple[float, list]:
            extractor, context = ways[way]
            calls = [texts] if size is None else [texts[i:i + size] for i in range(0, len(texts), size)]
            with context():
                started = time.perf_counter()
                results = [r for call in calls for r in extractor.extract(call)]
                return len(texts) / (time.perf_counter() - started), results

        runs: dict[tuple[str, str], list[float]] = {}
        same = None
        for round_ in range(args.repeats + 1):  # round 0 warms every shape up and is not kept
            for workload, size in CALLS.items():
                found = {}
                for way in ways:
                    rate, found[way] = run(way, size)
                    if round_:
                        runs.setdefault((workload, way), []).append(rate)
                if not round_ and workload == "file":
                    as_padded, as_packed = records.decisions(found["padded"]), records.decisions(found["packed"])
                    same = sum(a == b for a, b in zip(as_padded, as_packed))

    rows = []
    for workload, size in CALLS.items():
        row = {"workload": workload, "texts_per_call": size or len(texts)}
        for way in ways:
            row[f"{way}_sentences_per_s"] = statistics.median(runs[(workload, way)])
            row[f"{way}_runs"] = runs[(workload, way)]
        row["packed_over_padded"] = row["packed_sentences_per_s"] / row["padded_sentences_per_s"]
        rows.append(row)
    print(f"{args.runtime} fp32: {len(texts)} CoNLL04 {args.split} sentences, {args.threads} threads, "
          f"median of {args.repeats}; the same entities and relations both ways in {same} of {len(texts)}\n")
    print(tables.table(["workload", "texts per call", "padded sentences/s", "packed sentences/s", "packed / padded"],
                       [[r["workload"], str(r["texts_per_call"]), f"{r['padded_sentences_per_s']:.1f}",
                         f"{r['packed_sentences_per_s']:.1f}", f"{r['packed_over_padded']:.2f}"] for r in rows]))
    record = {"command": " ".join(["python", "bench/packed_encoding.py", *(argv or sys.argv[1:])]),
              "date": time.strftime("%Y-%m-%d"), "commit": records.commit(), "runtime": args.runtime,
              "precision": "fp32", "model": Path(args.model).name, "split": args.split,
              "sentences": len(texts), "threads": args.threads, "cpus": os.cpu_count(), "repeats": args.repeats,
              "same_decisions": same, "rows": rows}
    records.write(args.output or HERE / "results" / f"packed-encoding-{args.runtime}.json", record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
