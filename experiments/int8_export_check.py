"""What `spertmt export` decides for a model's int8 encoder, and what its dev check measured.

    python experiments/int8_export_check.py --model runs/c04/best --output results/diagnostics/int8-export-check.json

Exports `--model` (a trained model folder) as `spertmt export` does, into a temporary folder, and
records the manifest's int8 account: how the encoder was quantised and the check against fp32 on
the model's dev set (spertmt.inference.export.choose_int8: NER and RE+ micro F1 of each int8
encoder tried, the one written). Dev only: the check chooses which int8 encoder is written.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import records  # noqa: E402  (bench/records.py: the commit)

from spertmt.inference.export import export_onnx  # noqa: E402
from spertmt.inference.int8_check import INT8_TOLERANCE, format_int8_check  # noqa: E402
from spertmt.layout import ModelFiles  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="a trained model folder (e.g. runs/c04/best)")
    parser.add_argument("--tolerance", type=float, default=INT8_TOLERANCE, help="export's --int8-tolerance")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="int8-export-") as tmp:
        folder = export_onnx(args.model, Path(tmp) / "onnx", int8_tolerance=args.tolerance)
        int8 = json.loads((folder / ModelFiles.MANIFEST).read_text())["int8"]
    print(format_int8_check(int8["dev_check"]))
    if args.output:
        command = shlex.join(["python", "experiments/int8_export_check.py", *sys.argv[1:]])
        records.write(args.output, {"command": command, "model": str(args.model), "commit": records.commit(),
                                    "date": time.strftime("%Y-%m-%d"),
                                    "export_s": round(time.perf_counter() - start, 1), "int8": int8})


if __name__ == "__main__":
    main()
