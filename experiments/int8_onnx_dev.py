"""Which int8 encoder keeps fp32's F1 on a dev set, on the runtime without torch (issue 48, item 3).

    python experiments/int8_onnx_dev.py --model runs/c04/onnx --output results/diagnostics/int8-onnx-dev.json

`--model` is a folder written by `spertmt export --format onnx`. Each variant of the int8 encoder is
made with ONNX Runtime's quantiser from the padded graph of the folder's encoder (exported again
here, as `spertmt export` does for its int8 encoder; `--packed`: from the folder's `encoder.onnx`,
which export writes packed, spertmt.model.packed) and put in a copy of the folder (the graphs
of the heads stay fp32); the dev set (the model config's, or --data) is extracted with it and
scored, beside fp32's. Variants:

- dynamic, per channel, no smoothing: what `spertmt export` wrote before SmoothQuant (weights int8
  per output channel, activations quantised on the fly), and still writes where the model's
  training set cannot be read;
- the same with some linear layers left in fp32 (the FFN's output layers; the first and the last
  transformer layer), the layers the field finds most sensitive in BERT-like encoders;
- the same with the k linear layers in fp32 whose int8 moves the encoder's output most, each
  quantised alone, on training sentences (`by_sensitivity`);
- SmoothQuant (spertmt.inference.quantize): activation outliers moved into the weights per input
  channel (strength alpha), then dynamic per channel, at full int8 speed; alpha 0.8 on 64 training
  sentences is what `spertmt export` writes; or alpha chosen per layer, the one whose int8 layer
  (simulated) errs least on the training sentences (`layer_alphas`, as Intel Neural Compressor's
  automatic alpha);
- static (QDQ), per channel, with activation ranges calibrated on training sentences (MinMax, and
  the 99.999th percentile), every activation quantised or the linear layers' inputs only;
- per token: each token's activations quantised with a range of their own (uint8) instead of one
  range per tensor (token-wise dynamic quantisation, as ZeroQuant does for BERT), int8 weights per
  output channel, written here as plain ONNX operators (`per_token`) since ONNX Runtime's
  quantiser has no such mode;
- 8-bit weights in blocks of 32 (ONNX Runtime's MatMulNBits, accuracy level 4: activations
  quantised per block of 32 as they come).

`--only dynamic SmoothQuant` runs the variants whose names hold those words.

F1 is the choice's first measure, on dev only; the time printed beside it is one in-process
extraction of the dev set, or the median of `--repeats` (not a benchmark: bench/ times whole
processes on a quiet machine). Each variant's record row also holds the 95% interval of its F1
minus fp32's, a paired bootstrap over the dev sentences (spertmt.experiment.intervals): how far one
model's dev set can tell the two apart.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import records  # noqa: E402  (bench/records.py: the commit)

from spertmt.inference import quantize  # noqa: E402
from spertmt.layout import ModelFiles  # noqa: E402

LINEAR_ONLY = {"op_types_to_quantize": quantize.QUANTIZED_OPS}  # as export quantises
LINEARS_PER_LAYER = 6  # query, key, value, attention output, FFN in, FFN out: the order of the export's MatMuls


def linear_nodes(encoder: Path) -> list[str]:
    """The exported encoder's MatMul nodes whose second input is a weight (an initializer), in order."""
    import onnx

    return quantize.linear_nodes(onnx.load(str(encoder), load_external_data=False).graph)


def _tokenizer(tokenizer_file: Path):
    """The exported folder's tokenizer, without padding or truncation."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def calibration_reader(tokenizer_file: Path, documents, pad_id: int):
    """ONNX Runtime's CalibrationDataReader over sentences, one at a time, each padded to the longest
    (the percentile calibrator stacks what it collects, so every input must have one shape)."""
    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader

    tokenizer = _tokenizer(tokenizer_file)
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


def by_sensitivity(source: Path, nodes: list[str], tokenizer_file: Path, documents, pad_id: int,
                   sentences: int = 64) -> list[tuple[str, float]]:
    """The linear layers, most sensitive first: each quantised alone (dynamic, per channel), the
    relative squared error it puts in the encoder's output on training sentences (dev is not used
    to choose)."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    reader = calibration_reader(tokenizer_file, documents[:sentences], pad_id)
    inputs = [item for item in iter(reader.get_next, None)]
    options = ort.SessionOptions()
    options.log_severity_level = 3

    def outputs(model: Path) -> list:
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        return [session.run(None, item)[0][item["attention_mask"].astype(bool)] for item in inputs]

    reference = outputs(source)
    found = []
    with tempfile.TemporaryDirectory(prefix="int8-one-") as tmp:
        for node in nodes:
            target = Path(tmp) / "one.onnx"
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                             nodes_to_quantize=[node])
            error = sum(float(((h - r) ** 2).sum() / (r ** 2).sum()) for h, r in zip(outputs(target), reference))
            found.append((node, error / len(inputs)))
    return sorted(found, key=lambda item: -item[1])


def per_token(model, nodes: list[str]) -> None:
    """The linear layers `nodes` of `model` (an onnx.ModelProto, changed in place) with int8 weights
    per output channel and uint8 activations, each token with its own range: q = round(x / s) + z
    over the token's [min(x, 0), max(x, 0)], then MatMulInteger and, since ONNX Runtime's
    MatMulInteger takes one zero point for the activations, the zero points subtracted afterwards
    through the weights' column sums: y = s * w_scale * (q W - z * sum_k W_k)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    weights = {w.name: w for w in graph.initializer}
    constants = {"pt_axes": np.array([-1], np.int64), "pt_zero": np.array(0.0, np.float32),
                 "pt_255": np.array(255.0, np.float32), "pt_eps": np.array(1e-8, np.float32)}
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in constants.items())
    for k, name in enumerate(nodes):
        node = next(n for n in graph.node if n.name == name)
        x, p = node.input[0], f"pt{k}_"
        weight = numpy_helper.to_array(weights[node.input[1]]).astype(np.float32)  # [in, out]
        weight_scale = np.maximum(np.abs(weight).max(0), 1e-8) / 127.0
        quantized = np.clip(np.round(weight / weight_scale), -127, 127).astype(np.int8)
        graph.initializer.extend([numpy_helper.from_array(quantized, p + "w"),
                                  numpy_helper.from_array(weight_scale.astype(np.float32), p + "ws"),
                                  numpy_helper.from_array(quantized.astype(np.float32).sum(0), p + "colsum")])
        op = helper.make_node
        ops = [op("ReduceMax", [x, "pt_axes"], [p + "max0"], keepdims=1),
               op("ReduceMin", [x, "pt_axes"], [p + "min0"], keepdims=1),
               op("Max", [p + "max0", "pt_zero"], [p + "max"]), op("Min", [p + "min0", "pt_zero"], [p + "min"]),
               op("Sub", [p + "max", p + "min"], [p + "range0"]), op("Max", [p + "range0", "pt_eps"], [p + "range"]),
               op("Div", [p + "range", "pt_255"], [p + "s"]),
               op("Div", [p + "min", p + "s"], [p + "min_s"]), op("Round", [p + "min_s"], [p + "minus_z"]),
               op("Div", [x, p + "s"], [p + "xs"]), op("Sub", [p + "xs", p + "minus_z"], [p + "xz"]),
               op("Round", [p + "xz"], [p + "xr"]), op("Clip", [p + "xr", "pt_zero", "pt_255"], [p + "xc"]),
               op("Cast", [p + "xc"], [p + "q"], to=TensorProto.UINT8),
               op("MatMulInteger", [p + "q", p + "w"], [p + "y32"]),
               op("Cast", [p + "y32"], [p + "yf"], to=TensorProto.FLOAT),
               op("Mul", [p + "minus_z", p + "colsum"], [p + "zw"]), op("Add", [p + "yf", p + "zw"], [p + "y"]),
               op("Mul", [p + "s", p + "ws"], [p + "scale"]), op("Mul", [p + "y", p + "scale"], [node.output[0]])]
        at = list(graph.node).index(node)
        graph.node.remove(node)
        for i, new in enumerate(ops):
            graph.node.insert(at + i, new)
    used = {name for n in graph.node for name in n.input}
    kept = [w for w in graph.initializer if w.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def layer_alphas(model, nodes: list[str], sentences: list[list[int]],
                 grid: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)) -> dict[str, float]:
    """For each linear layer, the SmoothQuant strength of `grid` whose int8 layer, simulated in numpy
    as ONNX Runtime runs it, puts the least relative squared error in its output on `sentences`
    (training sentences): the input divided by the smoothing scale and quantised per tensor per
    sentence (uint8 with a zero point, as DynamicQuantizeLinear), the weight times the scale
    quantised per output channel (int8, symmetric)."""
    import numpy as np
    from onnx import numpy_helper

    weights = {w.name: w for w in model.graph.initializer}
    by_name = {n.name: n for n in model.graph.node}
    inputs = {name: [] for name in dict.fromkeys(by_name[node].input[0] for node in nodes)}
    for found in quantize.linear_inputs(model, nodes, sentences):
        for name, value in found.items():
            inputs[name].append(value.astype(np.float64))
    chosen = {}
    for node in nodes:
        xs = inputs[by_name[node].input[0]]
        weight = numpy_helper.to_array(weights[by_name[node].input[1]]).astype(np.float64)  # [in, out]
        reference = [x @ weight for x in xs]
        norm = sum(float((y ** 2).sum()) for y in reference)
        largest = np.max([np.abs(x).max(0) for x in xs], axis=0)

        def error(alpha: float) -> float:
            scale = np.maximum(largest ** alpha / np.maximum(np.abs(weight).max(1), 1e-8) ** (1 - alpha), 1e-5)
            w = weight * scale[:, None]
            step = np.maximum(np.abs(w).max(0), 1e-8) / 127
            w = np.clip(np.round(w / step), -127, 127) * step
            total = 0.0
            for x, y in zip(xs, reference):
                x = x / scale
                low, high = min(x.min(), 0.0), max(x.max(), 0.0)
                s = max((high - low) / 255, 1e-12)
                zero = np.round(-low / s)
                x = (np.clip(np.round(x / s) + zero, 0, 255) - zero) * s
                total += float(((x @ w - y) ** 2).sum())
            return total / norm

        chosen[node] = min(grid, key=error)
    return chosen


def piece_ids(tokenizer_file: Path, documents, count: int = quantize.CALIBRATION_SENTENCES) -> list[list[int]]:
    """The first `count` documents as the encoder's piece ids (special tokens included)."""
    tokenizer = _tokenizer(tokenizer_file)
    return [tokenizer.encode(d.tokens, is_pretokenized=True).ids[:512] for d in documents if d.tokens][:count]


def padded_graph(folder: Path, path: Path) -> Path:
    """The exported folder's encoder written padded to `path`, the graph `spertmt export` quantises."""
    from spertmt.inference.export import export_encoder
    from spertmt.model.folder import load_model

    export_encoder(load_model(folder, "cpu").encoder, path, packs=False)
    return path


def make_variants(folder: Path, source: Path, calibration_documents, pad_id: int) -> dict:
    """name -> a function writing that int8 encoder from the fp32 graph `source` to a path."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    nodes = linear_nodes(source)
    layers = len(nodes) // LINEARS_PER_LAYER
    encoder = json.loads((folder / ModelFiles.ENCODER_CONFIG).read_text())
    ffn_out = quantize.ffn_output_nodes(onnx.load(str(source), load_external_data=False).graph,
                                        encoder["intermediate_size"], encoder["hidden_size"])  # as export finds them
    ends = list(dict.fromkeys(nodes[:LINEARS_PER_LAYER] + nodes[-LINEARS_PER_LAYER:]))
    ffn_and_last = list(dict.fromkeys(ffn_out + nodes[-LINEARS_PER_LAYER:]))
    ranked: list[str] = []

    def most_sensitive(k: int) -> list[str]:
        if not ranked:  # once, for the variants that need it
            ranked.extend(node for node, _ in by_sensitivity(source, nodes, folder / "tokenizer" / "tokenizer.json",
                                                             calibration_documents, pad_id))
        return ranked[:k]

    def dynamic(exclude):
        return lambda target: quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8,
                                               per_channel=True, nodes_to_exclude=exclude, **LINEAR_ONLY)

    sentences = piece_ids(folder / "tokenizer" / "tokenizer.json", calibration_documents)

    def smoothed(alpha, exclude=()):  # quantize.quantize_encoder, what `spertmt export` runs (at alpha 0.8)
        return lambda target: quantize.quantize_encoder(source, target, sentences, list(exclude), alpha)

    def per_layer(target):  # the strength of each layer chosen on training sentences (layer_alphas)
        import onnx

        model = onnx.load(str(source))
        alphas = layer_alphas(model, nodes, sentences)
        print("alpha per layer:", [alphas[node] for node in nodes])
        quantize.smooth(model, nodes, quantize.activation_maxima(model, nodes, sentences), alphas)
        with tempfile.TemporaryDirectory(prefix="int8-smoothed-") as tmp:
            onnx.save(model, f"{tmp}/smoothed.onnx")
            quantize_dynamic(f"{tmp}/smoothed.onnx", str(target), weight_type=QuantType.QInt8, per_channel=True,
                             **LINEAR_ONLY)

    def static(method, linear_only=False, **extra):
        only = {**LINEAR_ONLY, "nodes_to_quantize": nodes} if linear_only else {}
        return lambda target: quantize_static(
            str(source), str(target), calibration_reader(folder / "tokenizer" / "tokenizer.json",
                                                         calibration_documents, pad_id),
            quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8, calibrate_method=method, extra_options=extra, **only)

    def token_wise(target):
        import onnx

        model = onnx.load(str(source))
        per_token(model, nodes)
        onnx.save(model, str(target))

    def blockwise(target):
        import onnx
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        quantizer = MatMulNBitsQuantizer(onnx.load(str(source)), bits=8, block_size=32, is_symmetric=True,
                                         accuracy_level=4)
        quantizer.process()
        onnx.save(quantizer.model.model, str(target))

    return {
        "dynamic, per channel, no smoothing": dynamic([]),
        f"dynamic, FFN output layers in fp32 ({len(ffn_out)} of {len(nodes)})": dynamic(ffn_out),
        f"dynamic, first and last layer in fp32 ({len(ends)} of {len(nodes)}, {layers} layers)": dynamic(ends),
        f"dynamic, FFN output layers and the last layer in fp32 ({len(ffn_and_last)} of {len(nodes)})":
            dynamic(ffn_and_last),
        **{f"dynamic, the {k} most sensitive linear layers in fp32 (of {len(nodes)}, ranked on training sentences)":
           lambda target, k=k: dynamic(most_sensitive(k))(target) for k in (3, 6, 9)},
        **{f"SmoothQuant alpha {alpha}, then dynamic, per channel": smoothed(alpha) for alpha in (0.5, 0.8, 0.9)},
        "SmoothQuant, alpha per layer (the one of 0.3-0.95 whose int8 output, simulated, is closest to fp32's on "
        "training sentences), then dynamic, per channel": per_layer,
        f"SmoothQuant alpha 0.8, then dynamic, FFN output layers in fp32 ({len(ffn_out)} of {len(nodes)})":
            smoothed(0.8, ffn_out),
        **{f"SmoothQuant alpha 0.8 and the {k} most sensitive linear layers in fp32 (of {len(nodes)})":
           lambda target, k=k: smoothed(0.8, most_sensitive(k))(target) for k in (3, 6)},  # ranked unsmoothed
        "static QDQ, MinMax": static(CalibrationMethod.MinMax),
        "static QDQ, percentile 99.999": static(CalibrationMethod.Percentile, CalibPercentile=99.999),
        # the encoder's linear layers only: LayerNorm, softmax, GELU and the embeddings stay fp32
        "static QDQ, linear layers only, MinMax": static(CalibrationMethod.MinMax, linear_only=True),
        "static QDQ, linear layers only, percentile 99.999": static(CalibrationMethod.Percentile, linear_only=True,
                                                                    CalibPercentile=99.999),
        "per token: uint8 activations with a range per token, int8 weights per channel": token_wise,
        "8-bit weights in blocks of 32 (MatMulNBits, accuracy level 4)": blockwise,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="an exported folder (spertmt export --format onnx)")
    parser.add_argument("--data", help="dev set (default: the model config's dev_path)")
    parser.add_argument("--calibration-sentences", type=int, default=200,
                        help="training sentences that calibrate the static variants' activation ranges")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1,
                        help="extractions of the dev set per variant; the time printed is their median")
    parser.add_argument("--only", nargs="+", metavar="WORD",
                        help="run only the variants whose name holds one of these words (e.g. dynamic SmoothQuant)")
    parser.add_argument("--packed", action="store_true",
                        help="quantise the folder's encoder.onnx (packed) instead of the padded graph export quantises")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    import logging
    import warnings

    import spertmt
    from spertmt.evaluate import evaluate, sentence_counts
    from spertmt.experiment.intervals import paired_bootstrap

    warnings.simplefilter("ignore")
    logging.getLogger().setLevel(logging.ERROR)
    fp32 = spertmt.load(args.model, runtime="onnx")
    dev = spertmt.read_documents(args.data or fp32.config.data_path("dev_path"), fp32.types)
    train = spertmt.read_documents(fp32.config.data_path("train_path"), fp32.types)[: args.calibration_sentences]

    def score(extractor) -> tuple[dict, dict]:
        """(the row: F1 and time, each dev sentence's [tp, fp, fn] per measure)"""
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            predictions = extractor.predict(dev, batch_size=args.batch_size)
            seconds.append(time.perf_counter() - start)
        metrics = evaluate(dev, predictions, fp32.types, overlapping=fp32.config.overlapping)
        return ({"ner": metrics["ner"]["micro"]["f1"], "re_strict": metrics["re_strict"]["micro"]["f1"],
                 "in_process_s": round(statistics.median(seconds), 2)},
                sentence_counts(dev, predictions, fp32.types, overlapping=fp32.config.overlapping))

    def intervals(counts: dict) -> dict:
        """95% paired bootstrap intervals of a variant's F1 minus fp32's over the dev sentences (one
        model: the sentences' sampling only), per measure."""
        found = {}
        for key in ("ner", "re_strict"):
            interval = paired_bootstrap([counts[key]], [fp32_counts[key]])
            found[f"{key}_minus_fp32_interval"] = [round(interval.low, 2), round(interval.high, 2)]
        return found

    row, fp32_counts = score(fp32)
    rows = [{"variant": "fp32", **row}]
    print(f"{'variant':64} {'NER':>7} {'RE+':>7} {'s':>6}")
    print(f"{'fp32':64} {rows[0]['ner']:7.2f} {rows[0]['re_strict']:7.2f} {rows[0]['in_process_s']:6.1f}")
    with tempfile.TemporaryDirectory(prefix="int8-") as tmp:
        source = args.model / "encoder.onnx" if args.packed else padded_graph(args.model, Path(tmp) / "padded.onnx")
        for name, write in make_variants(args.model, source, train, fp32.engine.manifest["pad_id"]).items():
            if args.only and not any(word in name for word in args.only):
                continue
            copy = Path(tmp) / "model"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(args.model, copy, ignore=shutil.ignore_patterns("encoder-int8.onnx"))
            write(copy / "encoder-int8.onnx")
            manifest = json.loads((copy / "manifest.json").read_text())
            manifest["files"]["encoder-int8.onnx"] = (copy / "encoder-int8.onnx").stat().st_size
            (copy / "manifest.json").write_text(json.dumps(manifest))
            found, counts = score(spertmt.load(copy, runtime="onnx", precision="int8"))
            found.update(variant=name, ner_minus_fp32=found["ner"] - rows[0]["ner"],
                         re_strict_minus_fp32=found["re_strict"] - rows[0]["re_strict"], **intervals(counts),
                         encoder_mb=round((copy / "encoder-int8.onnx").stat().st_size / 2**20, 1))
            rows.append(found)
            print(f"{name:64} {found['ner_minus_fp32']:+7.2f} {found['re_strict_minus_fp32']:+7.2f} "
                  f"{found['in_process_s']:6.1f}")
    if args.output:
        records.write(args.output, {"command": shlex.join(["python", "experiments/int8_onnx_dev.py", *sys.argv[1:]]),
                                    "model": str(args.model), "data": str(args.data or fp32.config.dev_path),
                                    "commit": records.commit(), "date": time.strftime("%Y-%m-%d"), "rows": rows})


if __name__ == "__main__":
    main()
