"""How ONNX Runtime's worker threads wait, for the runtime without torch: spinning while a run lasts
and stopping when it returns (what spertmt.inference.portable sets), against never spinning (sleeping
between operators) and ONNX Runtime's default (spinning on after a run).

    python bench/ort_spinning.py --model runs/c04/onnx

Each way and precision runs in a process of its own, in rounds that interleave them: the exported
model (`spertmt export --format onnx`) is loaded, extracts the CoNLL04 training sentences once to
warm up and once timed, as `spertmt predict` extracts a file. The ways other than the first are
made by changing the session settings spertmt asks for. Prints a table and writes JSON. Measure on a
quiet machine.
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
from extract_batching import sentences  # noqa: E402

HERE = Path(__file__).resolve().parent
# way: the session settings (ONNX Runtime's config entries) that replace spertmt's
WAYS = {
    "spin while a run lasts (spertmt)": {},
    "never spin": {"session.intra_op.allow_spinning": "0", "session.force_spinning_stop": "0"},
    "spin on after a run (ONNX Runtime's default)": {"session.force_spinning_stop": "0"},
}

RUN = """
import json, sys, time
import onnxruntime as ort
model, precision, threads, replace = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
texts = json.loads(sys.stdin.read())  # on standard input: 922 sentences are too long for one argument
add = ort.SessionOptions.add_session_config_entry
ort.SessionOptions.add_session_config_entry = lambda self, key, value: add(self, key, replace.get(key, value))
from spertmt.inference.loading import load_extractor
extractor = load_extractor(model, runtime="onnx", precision=precision, threads=threads)
extractor.extract(texts)  # warm-up: every shape once
started = time.perf_counter()
extractor.extract(texts)
print(len(texts) / (time.perf_counter() - started))
"""


def throughput(model: str, precision: str, threads: int, texts: list[str], replace: dict) -> float:
    return records.child_rate(RUN, model, precision, str(threads), json.dumps(replace), input=json.dumps(texts))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a folder written by spertmt export --format onnx")
    parser.add_argument("--sentences", type=int, default=922, help="CoNLL04 training sentences (all: 922)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", help="the JSON record (default: bench/results/ort-spinning.json)")
    args = parser.parse_args(argv)

    texts = sentences("train", args.sentences)
    first = next(iter(WAYS))
    rows = []
    runs = {(precision, way): [] for precision in ("fp32", "int8") for way in WAYS}
    for _ in range(args.repeats):
        for (precision, way), rates in runs.items():
            rates.append(throughput(args.model, precision, args.threads, texts, WAYS[way]))
    for (precision, way), rates in runs.items():
        spertmt_way = runs[precision, first]
        rows.append({"precision": precision, "way": way, "settings": WAYS[way],
                     "sentences_per_s": statistics.median(rates), "runs": rates,
                     "x_spertmt": statistics.median(r / b for r, b in zip(rates, spertmt_way))})
    print(f"onnx, {len(texts)} CoNLL04 training sentences in one call, {args.threads} threads, "
          f"median of {args.repeats} rounds\n")
    print(tables.table(["precision", "way", "sentences/s", "x spertmt's"],
                       [[r["precision"], r["way"], f"{r['sentences_per_s']:.1f}", f"{r['x_spertmt']:.2f}"]
                        for r in rows]))
    record = {"command": " ".join(["python", "bench/ort_spinning.py", *(argv or sys.argv[1:])]),
              "date": time.strftime("%Y-%m-%d"), "commit": records.commit(), "cpu": records.cpu_name(),
              "model": Path(args.model).name, "sentences": len(texts), "threads": args.threads,
              "cpus": os.cpu_count(), "repeats": args.repeats, "rows": rows}
    records.write(args.output or HERE / "results" / "ort-spinning.json", record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
