"""The runtime without torch against the PyTorch model: same predictions, score differences, F1 of
fp32 and int8 (spertmt.inference.portable; issue 38's parity).

    python bench/portable_parity.py runs/c04/best --data ../shared/datasets/conll04/conll04_dev.json \
        --json bench/results/portable-parity.json

Exports the model folder to a temporary folder (`spertmt export --format onnx`), then predicts the
data file's documents with the PyTorch model (fp32) and with the exported one (fp32 and int8) and
extracts their raw text (the words joined by spaces) with each: prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import spertmt
from spertmt.evaluate import evaluate
from spertmt.inference.export import export_onnx
from spertmt.inference.portable import load_portable

sys.path.insert(0, str(Path(__file__).resolve().parent))
import records  # noqa: E402  (bench/records.py)


def _max_difference(a, b, agree: list[bool]) -> float:
    """The largest score or probability difference over the texts whose decisions agree."""
    diffs = [0.0]
    for x, y, same in zip(a, b, agree):
        if not same:
            continue
        for e1, e2 in zip(x.entities, y.entities):
            diffs += [abs(e1.score - e2.score), abs(e1.probability - e2.probability)]
        for r1, r2 in zip(x.relations, y.relations):
            diffs += [abs(r1.score - r2.score), abs(r1.probability - r2.probability)]
    return max(diffs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--data", required=True)
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    reference = spertmt.load(args.model, device="cpu")
    documents = spertmt.read_documents(args.data, reference.types)
    texts = [" ".join(d.tokens) for d in documents]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        export_onnx(args.model, Path(tmp) / "onnx")
        export_s = time.perf_counter() - started
        runtimes = {"torch fp32": reference, "onnx fp32": load_portable(Path(tmp) / "onnx", "fp32"),
                    "onnx int8": load_portable(Path(tmp) / "onnx", "int8")}
        rows = []
        want = reference.extract(texts)
        for name, extractor in runtimes.items():
            got = extractor.extract(texts)
            metrics = evaluate(documents, extractor.predict(documents), reference.types)
            agree = [a == b for a, b in zip(records.decisions(got), records.decisions(want))]
            rows.append({"runtime": name, "texts": len(texts), "same_as_torch": sum(agree),
                         "max_score_difference": _max_difference(got, want, agree),
                         "entities": sum(len(r.entities) for r in got),
                         "relations": sum(len(r.relations) for r in got),
                         **{f"{key}_f1": metrics[key]["micro"]["f1"] for key in ("ner", "re", "re_strict")}})
    print(f"{'runtime':12} {'same':>9} {'max diff':>10} {'NER F1':>7} {'RE F1':>7} {'RE+ F1':>7}")
    for r in rows:
        diff = f"{r['max_score_difference']:.2e}" if r["max_score_difference"] is not None else "-"
        print(f"{r['runtime']:12} {r['same_as_torch']:4d}/{r['texts']:<4d} {diff:>10} {r['ner_f1']:7.2f} "
              f"{r['re_f1']:7.2f} {r['re_strict_f1']:7.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]), "model": args.model,
            "data": args.data, "export_s": round(export_s, 1), "rows": rows,
            "machine": {"python": platform.python_version(), "commit": records.commit(), "cpu": records.cpu_name(),
                        "date": time.strftime("%Y-%m-%d")}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
