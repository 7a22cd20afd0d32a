"""Training speed in fp32 and under bf16 autocast (`precision = "bf16"`), per encoder.

    python bench/train_precision.py                                   # MiniLM and the base-size encoder
    python bench/train_precision.py --encoders offline:all-MiniLM-L6-v2 --threads 1

Why: the base-size grid (experiments/conll04-mpnet.toml) takes hours a run on our CPU machine, and
bf16 autocast is the one switch that could shorten it; whether it pays is a question of speed here
and of dev F1 (grid conll04-bf16-dev). Each measurement is a real `spertmt train` of SpERT.MT's
recommended setting (sums, `head_lr`) on the first `--documents` CoNLL04 training sentences, one
epoch, in a child process with `--threads` threads; the time of a training step is read from the
run's log between its first and last `step` entries (every 50 steps), so loading and evaluation
are left out. fp32 and bf16 alternate, `--repeats` times each, and the median is kept. The
base-size encoder is the folder experiments/assemble_mpnet.py writes (encoders/all-mpnet-base-v2);
run from the repository root. Prints a table and writes bench/results/train-precision-cpu.json.
Measure on a quiet machine: anything else running skews it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import records  # noqa: E402  (bench/records.py)
import tables  # noqa: E402  (bench/tables.py)

from spertmt.layout import Event, RunFolder  # noqa: E402

HERE = Path(__file__).resolve().parent
ENCODERS = ("offline:all-MiniLM-L6-v2", "encoders/all-mpnet-base-v2")


def seconds_per_step(encoder: str, precision: str, documents: int, threads: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "spertmt", "train", "--config", "configs/conll04-offline.toml",
                   "--set", f"encoder={encoder}", "--set", f"precision={precision}", "--set", "epochs=1",
                   "--set", f"max_train_documents={documents}", "--set", "max_eval_documents=8",
                   "--set", "test_path=", "--set", "loss_reduction=sum", "--set", "head_lr=5e-4",
                   "--set", "shuffle=false", "--output", f"{tmp}/run", "--quiet"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "OMP_NUM_THREADS": str(threads)})
        steps = [event for event in RunFolder(Path(tmp, "run")).read_log() if event["event"] == Event.STEP]
    if len(steps) < 2:
        raise SystemExit(f"--documents {documents} gives fewer than two logged steps; use at least 200")
    return (steps[-1]["time"] - steps[0]["time"]) / (steps[-1]["step"] - steps[0]["step"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS))
    parser.add_argument("--documents", type=int, default=220, help="training sentences (110 steps at batch 2)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", default=str(HERE / "results" / "train-precision-cpu.json"))
    args = parser.parse_args(argv)

    import torch

    rows = []
    for encoder in args.encoders:
        found: dict[str, list[float]] = {"fp32": [], "bf16": []}
        for _ in range(args.repeats):
            for precision in found:  # alternating, so that a drift in the machine's speed hits both
                found[precision].append(seconds_per_step(encoder, precision, args.documents, args.threads))
        fp32, bf16 = (statistics.median(found[p]) for p in ("fp32", "bf16"))
        rows.append({"encoder": encoder, "fp32_s_per_step": fp32, "bf16_s_per_step": bf16,
                     "bf16_speedup": fp32 / bf16, "runs": found})
    print(f"{args.threads} threads, median of {args.repeats}:\n")
    print(tables.table(["encoder", "fp32 s / step", "bf16 s / step", "bf16 speed-up"],
                       [[row["encoder"], f"{row['fp32_s_per_step']:.3f}", f"{row['bf16_s_per_step']:.3f}",
                         f"{row['bf16_speedup']:.2f}x"] for row in rows]))
    record = {"command": " ".join(["python", "bench/train_precision.py", *(argv or sys.argv[1:])]),
              "date": time.strftime("%Y-%m-%d"), "commit": records.commit(), "threads": args.threads,
              "documents": args.documents, "repeats": args.repeats, "torch": torch.__version__,
              "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu": records.cpu_name(), "rows": rows}
    records.write(args.output, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
