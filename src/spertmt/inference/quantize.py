"""The int8 copy of an exported encoder (`encoder-int8.onnx`, written by `spertmt export`).

ONNX Runtime's dynamic quantisation stores the linear layers' weights in int8 per output channel and
quantises each activation per tensor as it comes. In BERT-like encoders a few activation channels
hold outliers, which stretch that one scale over every channel: it cost 1.6-4.8 RE+ F1 on the dev
sets of three models (CoNLL04 and SciERC; docs/faster.md). SmoothQuant (Xiao et al., 2023) first moves the
outliers into the weights: per input channel j of a linear layer, with m_j the activation's largest
magnitude on training sentences and w_j the largest magnitude of the weight's row,
s_j = m_j^alpha / w_j^(1 - alpha); the activation is divided by s (a Mul before the MatMul) and the
weight's row multiplied by it. The fp32 graph computes the same function; int8 then loses at most
0.81 F1 on the same models and every linear layer stays int8.

The activation maxima need sentences of the kind the model reads: its own training set (generic
sentences helped one model and not another). Without them, the encoder is quantised as before.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np

# what the quantiser quantises: the linear layers only (it would take opset 23's Attention for its own
# contrib operator of that name and write a QAttention that ONNX Runtime refuses)
QUANTIZED_OPS = ["MatMul"]
SMOOTHING_ALPHA = 0.8  # chosen on CoNLL04 and SciERC dev among 0.5, 0.8, 0.9 (docs/faster.md)
CALIBRATION_SENTENCES = 64  # training sentences whose activation maxima set the smoothing


def linear_nodes(graph) -> list[str]:
    """The names of an ONNX graph's MatMul nodes whose second input is a weight (an initializer), in order."""
    weights = {i.name for i in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]


def ffn_output_nodes(graph, intermediate: int, hidden: int) -> list[str]:
    """The linear nodes of the feed-forward blocks' output layers: those whose weight maps the
    intermediate width to the hidden one ([intermediate, hidden], one per transformer layer)."""
    shapes = {i.name: list(i.dims) for i in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "MatMul" and shapes.get(n.input[1]) == [intermediate, hidden]]


def linear_inputs(model, nodes: list[str], sentences: list[list[int]]):
    """Per sentence of `sentences` (piece ids with the special tokens, each run alone: no padding),
    {input tensor name: [pieces, channels]} of the linear layers `nodes`."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    by_name = {n.name: n for n in model.graph.node}
    inputs = list(dict.fromkeys(by_name[name].input[0] for name in nodes))
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in inputs)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    for ids in sentences:
        feed = {"input_ids": np.array([ids], dtype=np.int64), "attention_mask": np.ones((1, len(ids)), np.int64)}
        yield {name: value.reshape(-1, value.shape[-1]) for name, value in zip(inputs, session.run(inputs, feed))}


def activation_maxima(model, nodes: list[str], sentences: list[list[int]]) -> dict[str, np.ndarray]:
    """Per input tensor of the linear layers `nodes`, each channel's largest magnitude over the
    pieces of `sentences` (linear_inputs)."""
    largest: dict[str, np.ndarray] = {}
    for found in linear_inputs(model, nodes, sentences):
        for name, value in found.items():
            largest[name] = np.maximum(largest.get(name, np.zeros(1, dtype=np.float32)), np.abs(value).max(0))
    return largest


def smooth(model, nodes: list[str], maxima: dict[str, np.ndarray], alpha: float | dict[str, float] = SMOOTHING_ALPHA
           ) -> None:
    """SmoothQuant on the linear layers `nodes` of `model` (an onnx.ModelProto, changed in place);
    `alpha` one strength for every layer, or one per layer's name."""
    from onnx import helper, numpy_helper

    graph = model.graph
    weights = {w.name: w for w in graph.initializer}
    by_name = {n.name: n for n in graph.node}
    for k, name in enumerate(nodes):
        node = by_name[name]
        weight = numpy_helper.to_array(weights[node.input[1]])  # [in, out]
        strength = alpha[name] if isinstance(alpha, dict) else alpha
        scale = maxima[node.input[0]] ** strength / np.maximum(np.abs(weight).max(1), 1e-8) ** (1 - strength)
        scale = np.maximum(scale, 1e-5).astype(np.float32)
        weights[node.input[1]].CopyFrom(numpy_helper.from_array(weight * scale[:, None], node.input[1]))
        inverse, smoothed = f"smooth_{k}_inverse", f"smooth_{k}_input"
        graph.initializer.append(numpy_helper.from_array((1 / scale).astype(np.float32), inverse))
        graph.node.insert(list(graph.node).index(node),
                          helper.make_node("Mul", [node.input[0], inverse], [smoothed], name=f"smooth_{k}"))
        node.input[0] = smoothed


def quantize_encoder(source: Path, target: Path, sentences: list[list[int]] | None = None,
                     exclude: list[str] | None = None, alpha: float = SMOOTHING_ALPHA) -> dict:
    """Writes the int8 copy of the exported encoder `source` to `target`: smoothed on `sentences`
    (piece ids of training sentences) when given, then dynamic int8 per channel; the linear layers
    `exclude` stay fp32. Returns what the manifest records of it."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    exclude = list(exclude or [])
    with tempfile.TemporaryDirectory(prefix="spertmt-int8-", dir=Path(target).parent) as tmp:
        quantized_from, made = Path(source), {"method": "dynamic", "per_channel": True}
        if sentences:
            model = onnx.load(str(source))
            nodes = [name for name in linear_nodes(model.graph) if name not in exclude]
            smooth(model, nodes, activation_maxima(model, nodes, sentences), alpha)
            quantized_from = Path(tmp) / "smoothed.onnx"
            onnx.save(model, str(quantized_from))
            made = {"method": "smoothquant", "alpha": alpha, "sentences": len(sentences), "per_channel": True}
        with quiet_tools():  # it advises a shape pre-processing step, which fails on the exporter's graphs
            quantize_dynamic(str(quantized_from), str(target), weight_type=QuantType.QInt8, per_channel=True,
                             nodes_to_exclude=exclude, op_types_to_quantize=QUANTIZED_OPS)
    return made


@contextlib.contextmanager
def quiet_tools():
    """The exporter and the quantiser log, warn and print about things that do not concern a user
    (torchvision operators, optional steps, a shape pre-processing step): errors still raise."""
    loggers = [logging.getLogger(), logging.getLogger("torch.onnx"), logging.getLogger("onnxscript")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(None):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
