"""Encoders that ship their own Python code (auto_map in config.json, as GTE multilingual's or
jina's): trained, saved, loaded and exported only where the user says they trust that code."""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest

import spertmt
from spertmt.cli import main
from spertmt.model.folder import ModelFolderError

from ..conftest import FIXTURES, put_in_hub_cache

CONFIGURATION = '''from transformers import BertConfig


class OwnConfig(BertConfig):
    model_type = "own-bert"
'''
MODELING = '''from transformers import BertModel

from .configuration_own import OwnConfig


class OwnModel(BertModel):
    config_class = OwnConfig
'''


@pytest.fixture(scope="module")
def own_encoder(tiny_encoder, tmp_path_factory):
    """The tiny BERT as a hub repo with code of its own lays it out: its classes in two Python files
    that config.json names."""
    folder = tmp_path_factory.mktemp("own-code") / "encoder"
    shutil.copytree(tiny_encoder, folder)
    (folder / "configuration_own.py").write_text(CONFIGURATION)
    (folder / "modeling_own.py").write_text(MODELING)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="own-bert", architectures=["OwnModel"],
                  auto_map={"AutoConfig": "configuration_own.OwnConfig", "AutoModel": "modeling_own.OwnModel"})
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture
def trained(own_encoder, tiny_config, tmp_path):
    """A model trained on a copy of that encoder with the consent, the copy then removed: the model
    folder must hold all it needs."""
    source = tmp_path / "encoder"
    shutil.copytree(own_encoder, source)
    spertmt.train(replace(tiny_config, encoder=str(source), trust_remote_code=True), tmp_path / "run", progress=False)
    shutil.rmtree(source)
    return tmp_path / "run" / "best"


def test_training_an_encoder_with_its_own_code_needs_the_consent(own_encoder, tiny_config, tmp_path):
    config = replace(tiny_config, encoder=str(own_encoder))
    with pytest.raises(ValueError, match=r"runs its own Python code .*trust_remote_code = true"):
        spertmt.train(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "last").exists()


def test_the_model_folder_keeps_the_code_and_loads_it_only_with_the_consent(trained):
    code = trained / "encoder"
    assert sorted(p.name for p in code.iterdir()) == ["config.json", "configuration_own.py", "modeling_own.py"]
    assert json.loads((code / "config.json").read_text())["auto_map"] == {
        "AutoConfig": "configuration_own.OwnConfig", "AutoModel": "modeling_own.OwnModel"}
    with pytest.raises(ModelFolderError, match=r"encoder/: configuration_own.py, modeling_own.py.*trust_remote_code"):
        spertmt.load(trained, device="cpu")

    extractor = spertmt.load(trained, device="cpu", trust_remote_code=True)
    assert type(extractor.model.encoder).__name__ == "OwnModel"
    # saved again, and from there through the hub's cache, it is the same model: the code travels with it
    saved = extractor.save_pretrained(trained.parent / "again", repo_id="acme/own-code")
    card = (saved / "README.md").read_text()
    assert 'spertmt.load("acme/own-code", trust_remote_code=True)' in card and "--trust-remote-code" in card
    put_in_hub_cache(saved, trained.parent / "hub", "acme/own-code")
    text = "John Smith works for Acme Corp in Berlin ."
    expected = extractor.extract(text, threshold=0.2)  # one epoch on the fixture: a low θ gives decisions
    assert expected[0].entities and expected[0].relations
    for again in (saved, "acme/own-code"):
        loaded = spertmt.load(again, device="cpu", cache_dir=trained.parent / "hub", trust_remote_code=True)
        assert loaded.extract(text, threshold=0.2) == expected


def test_the_commands_take_the_consent_and_an_export_runs_without_it(trained, tmp_path, capsys):
    texts = tmp_path / "in.txt"
    texts.write_text("John Smith works for Acme Corp in Berlin .\nMary lives in Paris .\n")
    assert main(["predict", "--model", str(trained), "--input", str(texts), "--output", str(tmp_path / "a.jsonl"),
                 "--quiet"]) == 2
    assert "--trust-remote-code" in capsys.readouterr().err
    low = ["--threshold", "0.2"]  # a model trained one epoch on the fixture: a low θ gives it decisions to compare
    assert main(["predict", "--model", str(trained), "--input", str(texts), "--output", str(tmp_path / "a.jsonl"),
                 "--quiet", "--trust-remote-code", *low]) == 0

    pytest.importorskip("onnxscript", reason="the onnx extra: pip install 'spertmt[onnx]'")
    exported = tmp_path / "onnx"
    assert main(["export", str(trained), str(exported), "--no-int8-check", "--quiet"]) == 2
    assert main(["export", str(trained), str(exported), "--no-int8-check", "--quiet", "--trust-remote-code"]) == 0
    assert main(["predict", "--model", str(exported), "--runtime", "onnx", "--input", str(texts),
                 "--output", str(tmp_path / "b.jsonl"), "--quiet", *low]) == 0
    torch_lines, onnx_lines = ((tmp_path / name).read_text().splitlines() for name in ("a.jsonl", "b.jsonl"))
    assert len(torch_lines) == len(onnx_lines) == 2
    for ours, theirs in zip(map(json.loads, torch_lines), map(json.loads, onnx_lines)):
        assert ours["entities"] and ours["relations"]
        assert _decisions(ours) == _decisions(theirs)
        assert _scores(ours) == pytest.approx(_scores(theirs), abs=1e-5)


def _decisions(line: dict) -> dict:
    """A predicted line without its scores and probabilities (the two engines' floats differ in the last bits)."""
    return {key: [{k: v for k, v in item.items() if k not in ("score", "probability")} for item in value]
            if key in ("entities", "relations") else value for key, value in line.items()}


def _scores(line: dict) -> list[float]:
    return [item[number] for key in ("entities", "relations") for item in line[key]
            for number in ("score", "probability")]


def test_spacy_and_ray_take_the_consent(trained):
    spacy = pytest.importorskip("spacy")
    nlp = spacy.blank("en")
    with pytest.raises(ModelFolderError, match="trust_remote_code"):
        nlp.add_pipe("spertmt", config={"model": str(trained), "device": "cpu"})
    nlp.add_pipe("spertmt", config={"model": str(trained), "device": "cpu", "trust_remote_code": True})
    assert type(nlp.get_pipe("spertmt").extractor.model.encoder).__name__ == "OwnModel"

    with pytest.raises(ModelFolderError, match="trust_remote_code"):
        _ = spertmt.BatchPredictor(str(trained), device="cpu").extractor
    predictor = spertmt.BatchPredictor(str(trained), device="cpu", trust_remote_code=True)
    assert type(predictor.extractor.model.encoder).__name__ == "OwnModel"


def test_an_auto_map_beside_a_model_type_of_transformers_loads_transformers_class_without_code(
        own_encoder, tiny_config, tmp_path):
    """As transformers does: a config naming its own classes but a model type it knows (a repo whose
    code became part of transformers) loads transformers' class, needs no consent, keeps no code."""
    source = tmp_path / "encoder"
    shutil.copytree(own_encoder, source)
    config = json.loads((source / "config.json").read_text())
    (source / "config.json").write_text(json.dumps({**config, "model_type": "bert", "architectures": ["BertModel"]}))
    spertmt.train(replace(tiny_config, encoder=str(source)), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "best" / "encoder").exists()
    assert type(spertmt.load(tmp_path / "run" / "best", device="cpu").model.encoder).__name__ == "BertModel"


def test_a_hub_encoder_whose_code_lives_in_another_repo_trains_and_its_folder_needs_neither(own_encoder, tmp_path):
    """GTE multilingual's layout: the encoder's repo names its classes in a second repo
    ("owner/impl--modeling.Class"); both come from the hub's cache. The model folder holds that code,
    so it loads with neither repo there."""
    encoder, code = tmp_path / "repo" / "encoder", tmp_path / "repo" / "code"
    shutil.copytree(own_encoder, encoder)
    code.mkdir()
    for name in ("configuration_own.py", "modeling_own.py"):
        shutil.move(encoder / name, code / name)
    config = json.loads((encoder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "acme/own-impl--configuration_own.OwnConfig",
                          "AutoModel": "acme/own-impl--modeling_own.OwnModel"}
    (encoder / "config.json").write_text(json.dumps(config))
    put_in_hub_cache(encoder, tmp_path / "hf" / "hub", "acme/own-encoder")
    put_in_hub_cache(code, tmp_path / "hf" / "hub", "acme/own-impl")
    (tmp_path / "run.toml").write_text(
        f'encoder = "acme/own-encoder"\ntrust_remote_code = true\ndata_root = "{FIXTURES}"\n'
        'train_path = "tiny_train.json"\ndev_path = "tiny_train.json"\ntest_path = "tiny_train.json"\n'
        'types_path = "tiny_types.json"\nepochs = 1\nbatch_size = 2\nmax_length = 128\n')
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "spertmt", "train", "--config", str(tmp_path / "run.toml"),
                           "--output", str(tmp_path / "run"), "--quiet"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    best = tmp_path / "run" / "best"
    assert json.loads((best / "encoder" / "config.json").read_text())["auto_map"] == {
        "AutoConfig": "configuration_own.OwnConfig", "AutoModel": "modeling_own.OwnModel"}

    shutil.rmtree(tmp_path / "hf")
    assert type(spertmt.load(best, device="cpu", trust_remote_code=True).model.encoder).__name__ == "OwnModel"


def test_the_service_takes_the_consent(trained):
    pytest.importorskip("starlette")
    pytest.importorskip("httpx")
    from starlette.testclient import TestClient

    from spertmt.serve import build_app

    with pytest.raises(ModelFolderError, match="trust_remote_code"), \
            TestClient(build_app(str(trained), runtime="torch", device="cpu")):
        pass
    with TestClient(build_app(str(trained), runtime="torch", device="cpu", trust_remote_code=True)) as client:
        answer = client.post("/v1/extract", json={"texts": ["John Smith works for Acme Corp in Berlin ."]})
    assert answer.status_code == 200 and answer.json()["results"][0]["tokens"][0] == "John"


SCALED = '''

FACTOR = {factor}  # module-level, as own code has such names: looked up when forward runs


class OwnModel(OwnModel):
    def forward(self, *args, **kwargs):
        out = super().forward(*args, **kwargs)
        out.last_hidden_state = FACTOR * out.last_hidden_state
        return out
'''

BOTH = '''
import sys, torch
from spertmt.model.folder import load_model
ids = torch.tensor([[101, 1000, 1001, 102]])
def hidden(model):
    with torch.no_grad():
        return model.encoder(input_ids=ids).last_hidden_state
first = load_model(sys.argv[1], trust_remote_code=True)
alone = hidden(first)
second = load_model(sys.argv[2], trust_remote_code=True)
assert torch.equal(hidden(first), alone), "the first model's code changed when the second loaded"
assert torch.allclose(hidden(second), 2 * alone), "the second model runs the first's code"
'''


def test_two_models_whose_encoders_code_differs_run_each_its_own_in_one_process(trained, tmp_path):
    """Every model folder keeps its encoder's code in a folder named encoder/, and transformers names
    the modules of a local folder's code by the folder's name: the second of two models whose code
    differs (a newer revision of the encoder's repo, say) ran the first's code (transformers 5: its
    config class, the same, was already tied to the first's model class), or replaced the first's
    (transformers 4: one module, executed again, so the first's forward found the second's FACTOR).
    Each model now runs its own code."""
    for name, factor in (("first", 1), ("second", 2)):
        shutil.copytree(trained, tmp_path / name)
        with open(tmp_path / name / "encoder" / "modeling_own.py", "a") as modeling:
            modeling.write(SCALED.format(factor=factor))
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", BOTH, str(tmp_path / "first"), str(tmp_path / "second")], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


TOKENIZATION = '''from transformers import BertTokenizerFast

MARKER = "{marker}"  # module-level, looked up when the method runs


class OwnTokenizerFast(BertTokenizerFast):
    def marker(self):
        return MARKER
'''


@pytest.fixture(scope="module")
def own_tokenizer_model(tiny_encoder, tmp_path_factory):
    """A model trained (with the consent) on the tiny BERT whose tokenizer has code of its own, as
    save_pretrained lays out a tokenizer whose class comes from its repo; the encoder's copy removed."""
    folder = tmp_path_factory.mktemp("own-tokenizer")
    source = folder / "encoder"
    shutil.copytree(tiny_encoder, source)
    (source / "tokenization_own.py").write_text(TOKENIZATION.format(marker="first"))
    config = json.loads((source / "tokenizer_config.json").read_text())
    config.update(tokenizer_class="OwnTokenizerFast",
                  auto_map={"AutoTokenizer": [None, "tokenization_own.OwnTokenizerFast"]})
    (source / "tokenizer_config.json").write_text(json.dumps(config))
    tiny = spertmt.Config(data_root=FIXTURES, train_path="tiny_train.json", dev_path="tiny_train.json",
                          test_path="tiny_train.json", types_path="tiny_types.json", encoder=str(source), epochs=1,
                          batch_size=2, max_length=128)
    with pytest.raises(ValueError, match=r"runs its own Python code .*trust_remote_code = true"):
        spertmt.train(tiny, folder / "refused", progress=False)
    spertmt.train(replace(tiny, trust_remote_code=True), folder / "run", progress=False)
    shutil.rmtree(source)
    return folder / "run" / "best"


def test_a_tokenizer_with_its_own_code_is_kept_and_loads_only_with_the_consent(own_tokenizer_model, tmp_path, capsys):
    code = own_tokenizer_model / "tokenizer"
    assert (code / "tokenization_own.py").exists() and not (own_tokenizer_model / "encoder").exists()
    with pytest.raises(ModelFolderError, match=r"its tokenizer runs its own Python code \(tokenizer/: "
                                               r"tokenization_own.py\).*trust_remote_code=True"):
        spertmt.load(own_tokenizer_model, device="cpu")
    extractor = spertmt.load(own_tokenizer_model, device="cpu", trust_remote_code=True)
    assert extractor.tokenizer.marker() == "first"
    saved = extractor.save_pretrained(tmp_path / "again")
    assert (saved / "tokenizer" / "tokenization_own.py").exists()
    assert "holds in `tokenizer/`: read it" in (saved / "README.md").read_text()

    data = os.path.join(FIXTURES, "tiny_train.json")
    assert main(["validate", data, "--model", str(own_tokenizer_model)]) == 2
    assert "--trust-remote-code" in capsys.readouterr().err
    assert main(["validate", data, "--model", str(own_tokenizer_model), "--trust-remote-code"]) == 0

    pytest.importorskip("onnxscript", reason="the onnx extra: pip install 'spertmt[onnx]'")
    capsys.readouterr()
    assert main(["export", str(own_tokenizer_model), str(tmp_path / "onnx"), "--no-int8-check", "--quiet",
                 "--trust-remote-code"]) == 0
    assert "has Python code of its own (tokenizer/), which the runtime without torch does not run" in \
        capsys.readouterr().err


BOTH_TOKENIZERS = '''
import sys
from spertmt.model.folder import load_tokenizer_from
first = load_tokenizer_from(sys.argv[1], trust_remote_code=True)
second = load_tokenizer_from(sys.argv[2], trust_remote_code=True)
assert (first.marker(), second.marker()) == ("first", "second"), (first.marker(), second.marker())
'''


def test_two_models_whose_tokenizers_code_differs_run_each_its_own_in_one_process(own_tokenizer_model, tmp_path):
    """As for encoders (above): every model folder's tokenizer code is in tokenizer/, and transformers 4
    named its modules by that folder's name, so the second model's code replaced the first's."""
    shutil.copytree(own_tokenizer_model, tmp_path / "first")
    shutil.copytree(own_tokenizer_model, tmp_path / "second")
    (tmp_path / "second" / "tokenizer" / "tokenization_own.py").write_text(TOKENIZATION.format(marker="second"))
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", BOTH_TOKENIZERS, str(tmp_path / "first"), str(tmp_path / "second")],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_copy_of_own_code_is_named_by_all_of_its_python_files(tmp_path):
    """Code that differs only in a subfolder's module is other code: its copy gets another name."""
    from spertmt.model.encoder import load_own_code

    names = []
    for version in ("a = 1", "a = 2", "a = 2"):
        code = tmp_path / f"code{len(names)}"
        (code / "parts").mkdir(parents=True)
        (code / "modeling.py").write_text("from .parts.layer import a\n")
        (code / "parts" / "layer.py").write_text(version)
        names.append(load_own_code(code, "spertmt_encoder", lambda named: named.name))
    assert names[0] != names[1] and names[1] == names[2]
    assert all(name.startswith("spertmt_encoder_") for name in names)
