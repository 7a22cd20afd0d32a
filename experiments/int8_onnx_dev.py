"""Which int8 encoder keeps fp32's F1 on a dev set, on the runtime without torch (issue 48, item 3).

    python experiments/int8_onnx_dev.py --model runs/c04/onnx --output results/diagnostics/int8-onnx-dev.json

`--model` is a folder written by `spertmt export --format onnx`. Each variant of the int8 encoder is
made from its `encoder.onnx` with ONNX Runtime's quantiser and put in a copy of the folder (the graphs
of the heads stay fp32); the dev set (the model config's, or --data) is extracted with it and
scored, beside fp32's. Variants:

- dynamic, per channel: what `spertmt export` writes today (weights int8 per output channel,
  activations quantised on the fly);
- the same with some linear layers left in fp32 (the FFN's output layers; the first and the last
  transformer layer), the layers the field finds most sensitive in BERT-like encoders;
- static (QDQ), per channel, with activation ranges calibrated on training sentences (MinMax, and
  the 99.999th percentile), which also quantises the activations between the layers.

F1 is the choice's first measure, on dev only; the time printed beside it is one in-process
extraction of the dev set (not a benchmark: bench/ times whole processes on a quiet machine).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import records  # noqa: E402  (bench/records.py: the commit)

LINEARS_PER_LAYER = 6  # query, key, value, attention output, FFN in, FFN out: the order of the export's MatMuls


def linear_nodes(encoder: Path) -> list[str]:
    """The exported encoder's MatMul nodes whose second input is a weight (an initializer), in order."""
    import onnx

    graph = onnx.load(str(encoder), load_external_data=False).graph
    weights = {i.name for i in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]


def calibration_reader(tokenizer_file: Path, documents, pad_id: int):
    """ONNX Runtime's CalibrationDataReader over sentences, one at a time, each padded to the longest
    (the percentile calibrator stacks what it collects, so every input must have one shape)."""
    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_padding()
    tokenizer.no_truncation()

    encoded = [tokenizer.encode(d.tokens, is_pretokenized=True).ids[:512] for d in documents]
    longest = max(len(ids) for ids in encoded)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(encoded)

        def get_next(self):
            ids = next(self.items, None)
            if ids is None:
                return None
            padded = np.full((1, longest), pad_id, dtype=np.int64)
            padded[0, : len(ids)] = ids
            mask = np.zeros((1, longest), dtype=np.int64)
            mask[0, : len(ids)] = 1
            return {"input_ids": padded, "attention_mask": mask}

    return Reader()


def make_variants(folder: Path, calibration_documents, pad_id: int) -> dict:
    """name -> a function writing that int8 encoder from folder/encoder.onnx to a path."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    source = folder / "encoder.onnx"
    nodes = linear_nodes(source)
    layers = len(nodes) // LINEARS_PER_LAYER
    ffn_out = nodes[LINEARS_PER_LAYER - 1::LINEARS_PER_LAYER]
    ends = list(dict.fromkeys(nodes[:LINEARS_PER_LAYER] + nodes[-LINEARS_PER_LAYER:]))

    def dynamic(exclude):
        return lambda target: quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8,
                                               per_channel=True, nodes_to_exclude=exclude)

    def static(method, **extra):
        return lambda target: quantize_static(
            str(source), str(target), calibration_reader(folder / "tokenizer" / "tokenizer.json",
                                                         calibration_documents, pad_id),
            quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8, calibrate_method=method, extra_options=extra)

    return {
        "dynamic, per channel (today)": dynamic([]),
        f"dynamic, FFN output layers in fp32 ({len(ffn_out)} of {len(nodes)})": dynamic(ffn_out),
        f"dynamic, first and last layer in fp32 ({len(ends)} of {len(nodes)}, {layers} layers)": dynamic(ends),
        "static QDQ, MinMax": static(CalibrationMethod.MinMax),
        "static QDQ, percentile 99.999": static(CalibrationMethod.Percentile, CalibPercentile=99.999),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="an exported folder (spertmt export --format onnx)")
    parser.add_argument("--data", help="dev set (default: the model config's dev_path)")
    parser.add_argument("--calibration-sentences", type=int, default=200,
                        help="training sentences that calibrate the static variants' activation ranges")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    import logging
    import warnings

    import spertmt
    from spertmt.evaluate import evaluate

    warnings.simplefilter("ignore")
    logging.getLogger().setLevel(logging.ERROR)
    fp32 = spertmt.load(args.model, runtime="onnx")
    dev = spertmt.read_documents(args.data or fp32.config.data_path("dev_path"), fp32.types)
    train = spertmt.read_documents(fp32.config.data_path("train_path"), fp32.types)[: args.calibration_sentences]

    def score(extractor) -> dict:
        start = time.perf_counter()
        predictions = extractor.predict(dev, batch_size=args.batch_size)
        seconds = time.perf_counter() - start
        metrics = evaluate(dev, predictions, fp32.types, overlapping=fp32.config.overlapping)
        return {"ner": metrics["ner"]["micro"]["f1"], "re_strict": metrics["re_strict"]["micro"]["f1"],
                "in_process_s": round(seconds, 2)}

    rows = [{"variant": "fp32", **score(fp32)}]
    print(f"{'variant':64} {'NER':>7} {'RE+':>7} {'s':>6}")
    print(f"{'fp32':64} {rows[0]['ner']:7.2f} {rows[0]['re_strict']:7.2f} {rows[0]['in_process_s']:6.1f}")
    with tempfile.TemporaryDirectory(prefix="int8-") as tmp:
        for name, write in make_variants(args.model, train, fp32.manifest["pad_id"]).items():
            copy = Path(tmp) / "model"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(args.model, copy, ignore=shutil.ignore_patterns("encoder-int8.onnx"))
            write(copy / "encoder-int8.onnx")
            manifest = json.loads((copy / "manifest.json").read_text())
            manifest["files"]["encoder-int8.onnx"] = (copy / "encoder-int8.onnx").stat().st_size
            (copy / "manifest.json").write_text(json.dumps(manifest))
            found = score(spertmt.load(copy, runtime="onnx", precision="int8"))
            found.update(variant=name, ner_minus_fp32=found["ner"] - rows[0]["ner"],
                         re_strict_minus_fp32=found["re_strict"] - rows[0]["re_strict"],
                         encoder_mb=round((copy / "encoder-int8.onnx").stat().st_size / 2**20, 1))
            rows.append(found)
            print(f"{name:64} {found['ner_minus_fp32']:+7.2f} {found['re_strict_minus_fp32']:+7.2f} "
                  f"{found['in_process_s']:6.1f}")
    if args.output:
        records.write(args.output, {"command": " ".join(["python", "experiments/int8_onnx_dev.py", *sys.argv[1:]]),
                                    "model": str(args.model), "data": str(args.data or fp32.config.dev_path),
                                    "commit": records.commit(), "date": time.strftime("%Y-%m-%d"), "rows": rows})


if __name__ == "__main__":
    main()
