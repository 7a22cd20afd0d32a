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


@pytest.fixture(scope="module")
def smoothed(tmp_path_factory):
    """The fixture model exported where its training set can be read (so its int8 encoder is
    smoothed), once for the tests that only read it."""
    folder = tmp_path_factory.mktemp("smoothed")
    exported = folder / "onnx"
    assert main(["export", "--format", "onnx", str(_model_with_data_root(folder, FIXTURES)), str(exported)]) == 0
    return exported


def test_smoothing_keeps_the_encoders_function_and_export_records_it(smoothed):
    import onnx
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from spertmt.inference import quantize

    exported = smoothed
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


def test_attention_is_one_operator_per_layer_in_both_encoders_and_stays_fp32(smoothed):
    """The export writes opset 23's Attention (ONNX Runtime runs each in one kernel), and the
    quantiser, which would take it for its own QAttention, quantises the linear layers only."""
    import onnx

    from spertmt.inference import quantize

    exported = smoothed
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


def test_the_feed_forward_output_layers_are_found_by_their_weights_shape(tmp_path, capsys):
    import onnx

    from spertmt.inference import quantize

    exported = tmp_path / "onnx"
    assert main(["export", "--no-int8-check", "--quiet", str(TRAINED), str(exported)]) == 0
    assert capsys.readouterr().err == ""  # --quiet: no stage, no bar
    graph = onnx.load(str(exported / "encoder.onnx")).graph
    nodes = quantize.linear_nodes(graph)
    config = json.loads((exported / "encoder_config.json").read_text())
    found = quantize.ffn_output_nodes(graph, config["intermediate_size"], config["hidden_size"])
    assert found == nodes[5::6]  # per layer: q, k, v, attention output, FFN in, FFN out
    assert quantize.ffn_output_nodes(graph, config["hidden_size"], config["intermediate_size"]) == nodes[4::6]


def test_export_checks_int8_on_dev_and_records_it(tmp_path, capsys):
    exported = tmp_path / "onnx"
    data = f"{FIXTURES}/tiny_train.json"
    assert main(["export", "--data", data, str(TRAINED), str(exported)]) == 0
    out, err = capsys.readouterr()
    # a user waits through the export and the check: each stage is named, each pass of the check has a bar
    assert "spertmt export: writing the encoder" in err and "checking the int8 encoder against fp32" in err
    assert "predict: 100%" in err
    check = json.loads((exported / "manifest.json").read_text())["int8"]["dev_check"]
    documents = json.loads(Path(data).read_text())
    assert check["documents"] == len(documents) and check["tolerance"] == 0.5
    assert set(check["fp32"]) == set(check["loss"]) == {"ner", "re_strict"}
    first = check["tried"][0]
    assert first["fp32_layers"] == 0
    assert first["loss"] == {k: round(check["fp32"][k] - first["f1"][k], 2) for k in check["fp32"]}
    # a second encoder is tried exactly when the first loses more than the tolerance
    assert (len(check["tried"]) == 2) == (max(first["loss"].values()) > 0.5)
    assert check["within_tolerance"] == (max(check["loss"].values()) <= 0.5)
    assert f"int8 against fp32 on {len(documents)} dev documents" in out


def test_an_int8_encoder_losing_more_than_the_tolerance_is_written_again_with_fp32_feed_forward_outputs(tmp_path):
    """A tolerance below any loss makes export try the second encoder; whichever loses less is
    written, and the folder (its sizes in the manifest) stays whole."""
    import onnx

    import spertmt
    from spertmt.inference import quantize
    from spertmt.inference.export import export_onnx
    from spertmt.inference.int8_check import f1_on

    exported = tmp_path / "onnx"
    data = f"{FIXTURES}/tiny_train.json"
    export_onnx(TRAINED, exported, data=data, int8_tolerance=-100.0)
    check = json.loads((exported / "manifest.json").read_text())["int8"]["dev_check"]
    assert [t["fp32_layers"] for t in check["tried"]] == [0, 1]  # the fixture's encoder has one layer
    chosen = min(check["tried"], key=lambda t: (max(t["loss"].values()), t["fp32_layers"]))
    assert check["fp32_layers"] == chosen["fp32_layers"] and check["f1"] == chosen["f1"]
    assert check["within_tolerance"] is False
    config = json.loads((exported / "encoder_config.json").read_text())
    int8 = onnx.load(str(exported / "encoder-int8.onnx")).graph
    left_fp32 = quantize.ffn_output_nodes(int8, config["intermediate_size"], config["hidden_size"])  # not MatMulInteger
    assert len(left_fp32) == chosen["fp32_layers"]
    assert not list(exported.glob("*.tmp"))
    with pytest.warns(UserWarning, match=r"its int8 encoder lost .* F1 points against fp32 on the model's dev set"):
        extractor = spertmt.load(exported, runtime="onnx", precision="int8")
    # what the manifest recorded is what the written encoder scores
    assert f1_on(extractor, spertmt.read_documents(data, extractor.types)) == check["f1"]


def test_int8_within_the_tolerance_loads_without_a_warning_and_the_check_can_be_left_out(tmp_path):
    import warnings

    import spertmt
    from spertmt.inference.export import export_onnx

    exported = tmp_path / "onnx"
    export_onnx(TRAINED, exported, data=f"{FIXTURES}/tiny_train.json", int8_tolerance=100.0)
    assert json.loads((exported / "manifest.json").read_text())["int8"]["dev_check"]["within_tolerance"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spertmt.load(exported, runtime="onnx", precision="int8")
    unchecked = tmp_path / "unchecked"
    assert main(["export", "--no-int8-check", "--data", f"{FIXTURES}/tiny_train.json", str(TRAINED),
                 str(unchecked)]) == 0
    assert "dev_check" not in json.loads((unchecked / "manifest.json").read_text())["int8"]


def test_the_dev_set_int8_is_checked_on(tmp_path):
    from spertmt.config import Config
    from spertmt.data.documents import DataError, read_documents, read_types
    from spertmt.inference.int8_check import dev_documents

    types = read_types(f"{FIXTURES}/tiny_types.json")
    train = read_documents(f"{FIXTURES}/tiny_train.json", types)
    held_out = dev_documents(Config(data_root=str(FIXTURES), train_path="tiny_train.json", dev_path="",
                                    dev_split=0.5), types)
    assert [d.tokens for d in held_out] == [d.tokens for d in train[1::2]]  # as training held it out
    capped = dev_documents(Config(data_root=str(FIXTURES), train_path="tiny_train.json", dev_path="",
                                  dev_split=0.5, max_train_documents=3), types)
    assert [d.tokens for d in capped] == [d.tokens for d in train[:3][1::2]]  # of the documents it read
    assert dev_documents(Config(data_root=str(tmp_path), dev_path="gone.json"), types) is None
    assert dev_documents(Config(data_root=str(FIXTURES), dev_path=""), types) is None
    with pytest.raises((DataError, OSError, ValueError), match="gone.json"):
        dev_documents(Config(), types, data=tmp_path / "gone.json")


@pytest.mark.parametrize("tolerance", ["-1", "abc", "100"])
def test_an_int8_tolerance_that_is_not_a_number_of_points_is_refused(tmp_path, capsys, tolerance):
    with pytest.raises(SystemExit) as stopped:
        main(["export", "--int8-tolerance", tolerance, str(TRAINED), str(tmp_path / "onnx")])
    assert stopped.value.code == 2
    assert "--int8-tolerance" in capsys.readouterr().err
    assert not (tmp_path / "onnx").exists()
