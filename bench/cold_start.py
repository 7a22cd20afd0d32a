"""Whole-process extraction, start-up included: `spertmt predict` with the PyTorch runtime and with
the runtime without torch (issue 38), on a one-line file and on the 922 CoNLL04 training sentences.

    python bench/cold_start.py runs/c04/best --rounds 5 --json bench/results/cold-start.json

Exports the model folder once (`spertmt export --format onnx`, to a temporary folder), then runs
each command `rounds` times, interleaved (one round runs every command once), and reports the
median wall time of the whole process. The sentences are CoNLL04's training documents with their
words joined by spaces, extracted as raw text.
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
from pathlib import Path

from spertmt.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
import records  # noqa: E402  (bench/records.py)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    from spertmt.data.documents import read_documents
    from spertmt.inference.export import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        export_onnx(args.model, tmp / "onnx")
        (tmp / "one.txt").write_text("John Smith works for Acme Corp in Berlin.\n")
        train = read_documents(Config().data_path("train_path"))
        (tmp / "conll04-train.txt").write_text("".join(" ".join(d.tokens) + "\n" for d in train))
        settings = {"torch fp32": ["--model", args.model, "--device", "cpu"],
                    "onnx fp32 (no torch)": ["--model", str(tmp / "onnx"), "--runtime", "onnx"],
                    "onnx int8 (no torch)": ["--model", str(tmp / "onnx"), "--runtime", "onnx", "--precision", "int8"]}
        inputs = {"one line": tmp / "one.txt", f"{len(train)} CoNLL04 train sentences": tmp / "conll04-train.txt"}
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for name, path in inputs.items():
                for setting, model_args in settings.items():
                    command = [sys.executable, "-m", "spertmt", "predict", *model_args, "--input", str(path),
                               "--output", str(tmp / "out.jsonl"), "--quiet"]
                    started = time.perf_counter()
                    subprocess.run(command, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
                    times.setdefault((name, setting), []).append(time.perf_counter() - started)
    rows = [{"input": name, "runtime": setting, "median_s": round(statistics.median(values), 3),
             "runs_s": [round(v, 3) for v in values]} for (name, setting), values in times.items()]
    print(f"{'input':34} {'runtime':22} {'median s':>9}")
    for r in rows:
        print(f"{r['input']:34} {r['runtime']:22} {r['median_s']:9.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]), "rounds": args.rounds,
            "rows": rows, "machine": {"cpu": records.cpu_name(), "cpus": os.cpu_count(),
                                      "python": platform.python_version(), "commit": records.commit(),
                                      "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                                      "date": time.strftime("%Y-%m-%d %H:%M")}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
