"""The int8 encoder of `spertmt export` (spertmt.inference.quantize): SmoothQuant keeps the fp32
function, and the export smooths on the model's training sentences where it can read them."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from spertmt.cli import main

from ..conftest import FIXTURES
from ..fixtures.make_model_fixture import OUT as TRAINED

pytest.importorskip("onnxruntime", reason="the onnx extra: pip install 'spertmt[onnx]'")
pytest.importorskip("onnxscript", reason="the onnx extra: pip install 'spertmt[onnx]'")


def _model_with_data_root(tmp_path, data_root):
    folder = tmp_path / "model"
    shutil.copytree(TRAINED, folder)
    config = json.loads((folder / "config.json").read_text())
    config["data_root"] = str(data_root)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_smoothing_keeps_the_encoders_function_and_export_records_it(tmp_path, capsys):
    import onnx
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from spertmt.inference import quantize

    exported = tmp_path / "onnx"
    assert main(["export", "--format", "onnx", str(_model_with_data_root(tmp_path, FIXTURES)), str(exported)]) == 0
    manifest = json.loads((exported / "manifest.json").read_text())
    documents = [d for d in json.loads(Path(FIXTURES, "tiny_train.json").read_text()) if d["tokens"]]
    assert manifest["int8"] == {"method": "smoothquant", "alpha": quantize.SMOOTHING_ALPHA,
                                "sentences": min(len(documents), quantize.CALIBRATION_SENTENCES), "per_channel": True}

    tokenizer = Tokenizer.from_file(str(exported / "tokenizer" / "tokenizer.json"))
    tokenizer.no_padding()
    sentences = [tokenizer.encode(text).ids for text in ("john smith works for acme corp in berlin .", "paris")]
    model = onnx.load(str(exported / "encoder.onnx"))
    nodes = quantize.linear_nodes(model.graph)
    assert nodes and len(nodes) % 6 == 0  # per layer: q, k, v, attention output, FFN in and out
    maxima = quantize.activation_maxima(model, nodes, sentences)
    per_layer = onnx.load(str(exported / "encoder.onnx"))  # a strength of its own for each layer
    quantize.smooth(per_layer, nodes, maxima, {node: 0.3 + 0.6 * k / len(nodes) for k, node in enumerate(nodes)})
    quantize.smooth(model, nodes, maxima)
    original = ort.InferenceSession(str(exported / "encoder.onnx"), providers=["CPUExecutionProvider"])
    assert sum(n.op_type == "Mul" and n.name.startswith("smooth_") for n in model.graph.node) == len(nodes)
    for smoothed in (model, per_layer):
        session = ort.InferenceSession(smoothed.SerializeToString(), providers=["CPUExecutionProvider"])
        for ids in sentences + [tokenizer.encode("mary lives in oslo").ids]:
            feed = {"input_ids": np.array([ids]), "attention_mask": np.ones((1, len(ids)), dtype=np.int64)}
            np.testing.assert_allclose(session.run(None, feed)[0], original.run(None, feed)[0], atol=1e-4, rtol=1e-4)


def test_without_its_training_set_the_export_quantises_without_smoothing_and_says_so(tmp_path, capsys):
    exported = tmp_path / "onnx"
    model = _model_with_data_root(tmp_path, tmp_path / "no-data")
    assert main(["export", "--format", "onnx", str(model), str(exported)]) == 0
    assert "cannot be read here, so the int8 encoder is quantised without smoothing" in capsys.readouterr().err
    assert json.loads((exported / "manifest.json").read_text())["int8"] == {"method": "dynamic", "per_channel": True}
    assert main(["predict", "--quiet", "--model", str(exported), "--runtime", "onnx", "--precision", "int8",
                 "--input", f"{FIXTURES}/tiny_train.json", "--output", str(tmp_path / "p.jsonl")]) == 0


def test_attention_is_one_operator_per_layer_in_both_encoders_and_stays_fp32(tmp_path):
    """The export writes opset 23's Attention (ONNX Runtime runs each in one kernel), and the
    quantiser, which would take it for its own QAttention, quantises the linear layers only."""
    import onnx

    from spertmt.inference import quantize

    exported = tmp_path / "onnx"
    assert main(["export", "--format", "onnx", str(_model_with_data_root(tmp_path, FIXTURES)), str(exported)]) == 0
    fp32, int8 = (onnx.load(str(exported / name)) for name in ("encoder.onnx", "encoder-int8.onnx"))
    layers = len(quantize.linear_nodes(fp32.graph)) // 6
    for graph in (fp32.graph, int8.graph):
        attention = [n for n in graph.node if n.op_type == "Attention"]
        assert len(attention) == layers and all(n.domain in ("", "ai.onnx") for n in attention)
        assert not any(n.op_type in ("Softmax", "QAttention") for n in graph.node)
    assert sum(n.op_type == "MatMulInteger" for n in int8.graph.node) == 6 * layers


@pytest.mark.parametrize("too_old", ["onnxruntime", "onnx"])
def test_export_with_a_tool_too_old_for_opset_23_is_one_named_line(tmp_path, capsys, monkeypatch, too_old):
    import onnx
    import onnxruntime

    if too_old == "onnxruntime":
        monkeypatch.setattr(onnxruntime, "__version__", "1.22.1")
    else:
        monkeypatch.setattr(onnx.defs, "onnx_opset_version", lambda: 22)  # onnx 1.17
    assert main(["export", "--format", "onnx", str(TRAINED), str(tmp_path / "onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"pip install -U '{too_old}>=" in err and "Traceback" not in err, err
    assert not (tmp_path / "onnx").exists()
