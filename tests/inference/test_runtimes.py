"""The encoder's runtimes at extraction (spertmt.inference.runtimes): int8 with PyTorch, and ONNX
Runtime in fp32 and int8 from `spertmt export --format onnx`, checked against fp32 PyTorch."""

import json
import shutil

import pytest
import torch

import spertmt
from spertmt.cli import main
from spertmt.inference.extractor import load as load_with_torch
from spertmt.inference.runtimes import ONNX_FILES, OnnxEncoder, resolve_precision

from ..conftest import FIXTURES
from ..fixtures.make_model_fixture import OUT as TRAINED
from ..fixtures.make_model_fixture import expected_outputs

pytest.importorskip("onnxruntime", reason="the onnx extra: pip install 'spertmt[onnx]'")
pytest.importorskip("onnxscript", reason="the onnx extra: pip install 'spertmt[onnx]'")



def _pieces(tokenizer, texts):
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    return encoded["input_ids"], encoded["attention_mask"]


def test_the_onnx_encoder_computes_the_hidden_states_of_pytorch(exported):
    """Batch and length are dynamic (the export saw 2 x 4 pieces): other sizes, padding included."""
    torch_model = spertmt.load(TRAINED, device="cpu")
    onnx_encoder = load_with_torch(exported, device="cpu", runtime="onnx").model.encoder
    assert isinstance(onnx_encoder, OnnxEncoder) and onnx_encoder.path.name == "encoder.onnx"
    texts = ["john smith works for acme corp in berlin", "paris", " ".join(["john smith lives in paris"] * 10)]
    for batch in (texts, texts[:1], texts[1:2]):
        ids, mask = _pieces(torch_model.tokenizer, batch)
        with torch.inference_mode():
            want = torch_model.model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        got = onnx_encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        assert got.shape == want.shape
        real = mask.bool()
        assert (got - want)[real].abs().max() <= 1e-4


def test_a_modernbert_encoder_exports_to_a_graph_that_runs_at_any_batch(tmp_path):
    """The exporter fuses ModernBERT's rotary embedding into a RotaryEmbedding node whose cos and sin
    have a batch of 1, which ONNX Runtime refuses at any other batch: export keeps a graph that runs
    (the fusions left out) and computes PyTorch's hidden states."""
    import onnxruntime
    from transformers import AutoConfig, AutoModel

    from spertmt.inference.export import export_encoder

    torch.manual_seed(0)
    config = AutoConfig.for_model("modernbert", vocab_size=100, hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=4, intermediate_size=64, max_position_embeddings=64,
                                  pad_token_id=0, local_attention=8, global_attn_every_n_layers=2)
    encoder = AutoModel.from_config(config).eval()
    export_encoder(encoder, tmp_path / "encoder.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "encoder.onnx"), providers=["CPUExecutionProvider"])
    ids = torch.randint(1, 100, (4, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 5:], mask[3, 9:] = 0, 0
    got = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    with torch.inference_mode():
        want = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    real = mask.bool()
    assert (torch.from_numpy(got) - want)[real].abs().max() <= 1e-4


def test_an_encoder_onnx_runtime_computes_otherwise_is_refused_by_name(tmp_path, monkeypatch):
    from spertmt.inference import export

    tries = []
    monkeypatch.setattr(export, "_differs_from_pytorch", lambda *_: tries.append(1) or "they differ by 1")
    with pytest.raises(ValueError, match=r"the encoder \(BertModel\) does not export to ONNX faithfully: they "
                                         r"differ by 1; its model runs with the PyTorch runtime"):
        export.export_encoder(spertmt.load(TRAINED, device="cpu").model.encoder, tmp_path / "encoder.onnx")
    assert len(tries) == 2  # with the exporter's fusions, then without


@pytest.mark.parametrize("loader", [spertmt.load, load_with_torch], ids=["without torch", "encoder only"])
def test_onnx_extraction_predicts_what_pytorch_predicts(exported, loader):
    """Every candidate span's best type and every relation's type among the gold entities, with
    scores within 1e-4 (expected_outputs of the fixture): the whole model by ONNX Runtime
    (spertmt.load), and the encoder alone by ONNX Runtime beside the PyTorch heads."""
    want = expected_outputs(spertmt.load(TRAINED, device="cpu"))
    got = expected_outputs(loader(exported, device="cpu", runtime="onnx"))
    for kind in ("entities", "relations"):
        assert [[row[:-1] for row in doc] for doc in got[kind]] == [[row[:-1] for row in doc] for doc in want[kind]]
        assert [row[-1] for doc in got[kind] for row in doc] == pytest.approx(
            [row[-1] for doc in want[kind] for row in doc], abs=1e-4)
    assert sum(len(doc) for doc in want["relations"]) > 0


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_int8_scores_stay_close_to_fp32(exported, runtime):
    """int8 weights move the scores a little (a width-16 model is the hardest case for it); the
    F1 cost on a real model is measured in bench/RESULTS.md."""
    fp32 = expected_outputs(spertmt.load(TRAINED, device="cpu"))
    int8_model = spertmt.load(exported, device="cpu", precision="int8", runtime=runtime)
    if runtime == "torch":
        linears = [m for m in int8_model.model.encoder.modules() if type(m).__name__ == "Linear"]
        assert linears and all(type(m).__module__.startswith("torch.ao.nn.quantized.dynamic") for m in linears)
    else:  # the runtime without torch
        assert int8_model.encoder_file == "encoder-int8.onnx"
    int8 = expected_outputs(int8_model)
    for kind in ("entities", "relations"):
        want = [row[-1] for doc in fp32[kind] for row in doc]
        got = [row[-1] for doc in int8[kind] for row in doc]
        assert len(got) == len(want)
        assert got != pytest.approx(want, abs=1e-6), "int8 changed nothing: was the encoder quantised?"
        assert got == pytest.approx(want, abs=0.05)


def test_eval_and_predict_run_each_runtime_from_the_command_line(exported, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("john smith lives in paris\nmary works for acme corp in berlin\n")
    outputs = {}
    for runtime, precision in [("torch", "fp32"), ("onnx", "fp32"), ("onnx", "int8"), ("torch", "int8"),
                               ("torch", "auto")]:
        assert main(["eval", "--quiet", "--model", str(exported), "--data", f"{FIXTURES}/tiny_train.json",
                     "--runtime", runtime, "--precision", precision]) == 0
        output = tmp_path / f"{runtime}-{precision}.jsonl"
        assert main(["predict", "--quiet", "--model", str(exported), "--input", str(source), "--output", str(output),
                     "--runtime", runtime, "--precision", precision, "--threshold=-1e9"]) == 0
        outputs[runtime, precision] = [json.loads(line) for line in output.read_text().splitlines()]
    spans = {key: [[(e["start"], e["end"], e["type"]) for e in row["entities"]] for row in rows]
             for key, rows in outputs.items()}
    assert spans["onnx", "fp32"] == spans["torch", "fp32"]


def test_onnx_without_an_export_and_impossible_combinations_are_refused(tmp_path, capsys):
    assert main(["eval", "--quiet", "--model", str(TRAINED), "--data", f"{FIXTURES}/tiny_train.json",
                 "--runtime", "onnx"]) == 2
    error = capsys.readouterr().err
    assert f"{TRAINED}: encoder.onnx is missing" in error and "spertmt export --format onnx" in error
    with pytest.raises(ValueError, match="runtime onnx runs the encoder in fp32 or int8, not bf16"):
        spertmt.load(TRAINED, device="cpu", precision="bf16", runtime="onnx")
    with pytest.raises(ValueError, match="precision int8 runs on the CPU"):
        resolve_precision("int8", "torch", torch.device("cuda"))
    with pytest.raises(ValueError, match="precision must be one of"):
        spertmt.load(TRAINED, device="cpu", precision="int4")
    assert resolve_precision("auto", "torch", torch.device("cuda")) == "bf16"
    assert resolve_precision("auto", "onnx", torch.device("cpu")) == "fp32"


@pytest.mark.parametrize("bf16_units", [True, False])
def test_auto_takes_bf16_only_where_the_cpu_has_bf16_units(monkeypatch, bf16_units):
    """Without bf16 units bf16 is emulated and slower than fp32, and int8 costs F1: auto is fp32."""
    from spertmt.inference import runtimes

    monkeypatch.setattr(runtimes, "cpu_bf16_units", lambda: bf16_units)
    assert resolve_precision("auto", "torch", torch.device("cpu")) == ("bf16" if bf16_units else "fp32")
    monkeypatch.setattr(runtimes, "quantized_engines", lambda: [])
    with pytest.raises(ValueError, match="no quantised CPU engine"):
        resolve_precision("int8", "torch", torch.device("cpu"))


def test_export_into_the_model_folder_adds_the_onnx_files(tmp_path):
    folder = tmp_path / "best"
    shutil.copytree(TRAINED, folder)
    before = sorted(p.name for p in folder.iterdir())
    assert main(["export", "--format", "onnx", str(folder), str(folder)]) == 0
    added = [*ONNX_FILES.values(), "entities.onnx", "relations.onnx", "manifest.json"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(before + added)


def test_export_of_a_damaged_folder_writes_nothing(tmp_path, capsys):
    folder = tmp_path / "best"
    shutil.copytree(TRAINED, folder)
    (folder / "weights.pt").write_bytes(b"")
    assert main(["export", "--format", "onnx", str(folder), str(tmp_path / "out")]) == 2
    assert "weights.pt cannot be loaded" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]


def test_a_model_whose_tokenizer_is_in_python_only_extracts_and_is_not_exported(tmp_path, capsys):
    """The Japanese BERTs' tokenizer (BertJapaneseTokenizer) has no fast form: the model reads words one
    by one and extracts what the same vocabulary's fast tokenizer gives; export, whose runtime reads a
    tokenizer.json, refuses it by name and writes nothing."""
    folder = tmp_path / "best"
    shutil.copytree(TRAINED, folder)
    vocab = json.loads((folder / "tokenizer" / "tokenizer.json").read_text())["model"]["vocab"]
    shutil.rmtree(folder / "tokenizer")
    (folder / "tokenizer").mkdir()
    (folder / "tokenizer" / "vocab.txt").write_text("".join(f"{piece}\n" for piece in sorted(vocab, key=vocab.get)))
    (folder / "tokenizer" / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "BertJapaneseTokenizer", "word_tokenizer_type": "basic",
        "subword_tokenizer_type": "wordpiece", "do_lower_case": True}))
    slow = spertmt.load(folder, device="cpu")
    assert not slow.tokenizer.is_fast
    assert expected_outputs(slow) == expected_outputs(spertmt.load(TRAINED, device="cpu"))
    assert main(["export", "--format", "onnx", str(folder), str(tmp_path / "out")]) == 2
    assert "its tokenizer (BertJapaneseTokenizer) exists in Python only" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]
