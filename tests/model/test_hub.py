"""The model hub without the network: save_pretrained and load round trip, a repo id read offline
from a cache laid out as huggingface_hub lays it out, the model card parsed by huggingface_hub's
own card API. Pushing needs the network and a login: docs/integrations.md ("The Hugging Face Hub") has the
manual check; here only its refusal while offline is tested."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from huggingface_hub import ModelCard, scan_cache_dir

from spertmt.config import Config
from spertmt.data.documents import read_types
from spertmt.inference.extractor import load
from spertmt.model.encoder import load_encoder, load_tokenizer
from spertmt.model.folder import save_checkpoint
from spertmt.model.spertmt import SpERTMT

from ..conftest import COMMIT, FIXTURES, put_in_hub_cache

TEXT = "John Smith lives in Paris. Mary works for Acme Corp in Berlin."


@pytest.fixture(scope="module")
def run_folder(tiny_encoder, tmp_path_factory):
    """A run folder as training leaves it: best/ (with tuned thresholds) and the test metrics beside it."""
    run = tmp_path_factory.mktemp("run")
    config = Config(encoder=tiny_encoder, max_length=128, train_path="conll04/conll04_train.json")
    types = read_types(f"{FIXTURES}/tiny_types.json")
    torch.manual_seed(0)
    save_checkpoint(SpERTMT(config, types, load_encoder(tiny_encoder)), load_tokenizer(tiny_encoder), run / "best")
    (run / "best" / "thresholds.json").write_text(json.dumps({"entity": {"*": -100.0}, "relation": {"*": -100.0}}))
    scores = {"precision": 80.0, "recall": 70.0, "f1": 74.67}
    (run / "metrics.json").write_text(json.dumps({key: {"micro": scores, "macro": scores, "per_type": {"T": scores}}
                                                  for key in ("ner", "re", "re_strict")}))
    return run


def _extracted(extractor):
    result = extractor.extract(TEXT)[0]
    return [(e.start, e.end, e.type, round(e.score, 5)) for e in result.entities], \
        [(r.head, r.tail, r.type, round(r.score, 5)) for r in result.relations]


def test_save_pretrained_round_trip_keeps_weights_thresholds_and_predictions(run_folder, tmp_path):
    extractor = load(run_folder / "best", device="cpu")
    saved = extractor.save_pretrained(tmp_path / "shared")
    assert {p.name for p in saved.iterdir()} >= {"model.safetensors", "config.json", "encoder_config.json",
                                                 "tokenizer", "types.json", "version.json", "thresholds.json",
                                                 "README.md"}
    again = load(saved, device="cpu")
    for (name, a), (other, b) in zip(extractor.model.state_dict().items(), again.model.state_dict().items()):
        assert name == other and torch.equal(a, b)
    assert again.thresholds == extractor.thresholds
    assert _extracted(again) == _extracted(extractor) and _extracted(again)[0]


def test_model_card_metadata_parses_with_the_hub_card_api(run_folder, tmp_path):
    load(run_folder / "best", device="cpu").save_pretrained(tmp_path / "m", license="mit", repo_id="acme/tiny-re")
    card = ModelCard.load(tmp_path / "m" / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "spertmt" and data["pipeline_tag"] == "token-classification"
    assert data["license"] == "mit" and data["datasets"] == ["conll04"]
    assert "relation-extraction" in data["tags"] and "spertmt" in data["tags"]
    results = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert results == {"NER micro F1": 74.67, "RE (boundaries) micro F1": 74.67, "RE+ (strict) micro F1": 74.67}
    assert all(r.dataset_split == "test" and r.dataset_name == "conll04" for r in card.data.eval_results)
    assert 'spertmt.load("acme/tiny-re")' in card.text and "Entity types: Peop, Loc, Org" in card.text


def test_the_card_of_a_model_of_entities_only_publishes_no_relation_f1(run_folder, tmp_path):
    """Relations with nothing to score (no relation in the gold or the predictions) have an F1 of 0 that
    says nothing about the model: the card's metadata and table leave them out."""
    shutil.copytree(run_folder, tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    zeros = {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    metrics.update({key: {"micro": zeros, "macro": zeros, "per_type": {}} for key in ("re", "re_strict")})
    (tmp_path / "run" / "metrics.json").write_text(json.dumps(metrics))
    load(tmp_path / "run" / "best", device="cpu").save_pretrained(tmp_path / "m")
    card = ModelCard.load(tmp_path / "m" / "README.md")
    assert {r.metric_name: r.metric_value for r in card.data.eval_results} == {"NER micro F1": 74.67}
    assert "| NER | 80.00 | 70.00 | 74.67 |" in card.text and "| RE" not in card.text


def test_a_saved_copy_keeps_the_card_of_a_folder_without_run_metrics(run_folder, tmp_path):
    first = load(run_folder / "best", device="cpu").save_pretrained(tmp_path / "first", repo_id="acme/tiny-re")
    load(first, device="cpu").save_pretrained(tmp_path / "second")  # no metrics beside it: its card stays
    assert (tmp_path / "second" / "README.md").read_text() == (first / "README.md").read_text()


def test_a_repo_id_loads_offline_from_the_hub_cache(run_folder, tmp_path):
    folder = load(run_folder / "best", device="cpu").save_pretrained(tmp_path / "repo", repo_id="acme/tiny-re")
    cache = tmp_path / "hf" / "hub"
    put_in_hub_cache(folder, cache, "acme/tiny-re")
    info = scan_cache_dir(cache)  # huggingface_hub itself reads the layout as a valid cached repo
    assert not info.warnings and [r.repo_id for r in info.repos] == ["acme/tiny-re"]

    from_hub = load("acme/tiny-re", device="cpu", cache_dir=cache)
    assert from_hub.folder == cache / "models--acme--tiny-re" / "snapshots" / COMMIT
    assert _extracted(from_hub) == _extracted(load(folder, device="cpu"))
    with pytest.raises(FileNotFoundError, match="acme/other: no such model folder, nor a hub repo in the cache"):
        load("acme/other", device="cpu", cache_dir=cache)


def test_the_cli_reads_a_repo_id_from_HF_HOME_offline(run_folder, tmp_path):
    folder = load(run_folder / "best", device="cpu").save_pretrained(tmp_path / "repo")
    put_in_hub_cache(folder, tmp_path / "hf" / "hub", "acme/tiny-re")
    (tmp_path / "in.txt").write_text(TEXT + "\n")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "spertmt", "predict", "--model", "acme/tiny-re", "--input",
                           str(tmp_path / "in.txt"), "--output", str(tmp_path / "out.jsonl"), "--device", "cpu",
                           "--quiet"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    row = json.loads((tmp_path / "out.jsonl").read_text())
    expected = load(folder, device="cpu").extract(TEXT)[0]
    assert [(e["start"], e["end"], e["type"]) for e in row["entities"]] == \
        [(e.start, e.end, e.type) for e in expected.entities]


def test_pushing_while_offline_is_refused_before_any_work(run_folder):
    from huggingface_hub import constants

    assert constants.HF_HUB_OFFLINE  # tests run offline (conftest)
    with pytest.raises(OSError, match="HF_HUB_OFFLINE is set"):
        load(run_folder / "best", device="cpu").push_to_hub("acme/tiny-re")


def test_legacy_weights_pt_folders_still_load(run_folder, tmp_path):
    """Format 2 folders (torch's pickle) load as before format 3's safetensors."""
    import shutil

    from safetensors.torch import load_file

    legacy = tmp_path / "legacy"
    shutil.copytree(run_folder / "best", legacy)
    torch.save(load_file(legacy / "model.safetensors"), legacy / "weights.pt")
    (legacy / "model.safetensors").unlink()
    (legacy / "version.json").write_text(json.dumps({"spertmt": "0.1.0", "format": 2}))
    assert _extracted(load(legacy, device="cpu")) == _extracted(load(run_folder / "best", device="cpu"))


def test_commands_take_a_repo_id_and_tune_threshold_will_not_write_into_the_cache(run_folder, tmp_path, monkeypatch,
                                                                                   capsys):
    from huggingface_hub import constants

    from spertmt.cli import main

    folder = load(run_folder / "best", device="cpu").save_pretrained(tmp_path / "repo")
    put_in_hub_cache(folder, tmp_path / "hub", "acme/tiny-re")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # read at each call
    monkeypatch.chdir(tmp_path)
    data = f"{FIXTURES}/tiny_train.json"
    assert main(["validate", data, "--model", "acme/tiny-re"]) == 0
    assert main(["eval", "--quiet", "--model", "acme/tiny-re", "--data", data, "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["tune-threshold", "--quiet", "--model", "acme/tiny-re", "--data", data, "--device", "cpu"]) == 2
    assert "acme/tiny-re is a hub model: tune-threshold writes thresholds.json" in capsys.readouterr().err
    assert not (tmp_path / "acme").exists()  # no local folder named like the repo id appeared


def test_the_card_of_a_model_started_from_a_hub_model_names_it_as_its_base_model(run_folder, tmp_path):
    """A model trained from another spertmt model (init_model) is a fine-tune of that one, as the hub's
    model tree reads base_model; one started from a local folder keeps its encoder's (here none)."""
    import dataclasses

    for name, init_model, base, said in (
            ("hub", "acme/conll04-re", "acme/conll04-re", "starting from the spertmt model `acme/conll04-re`"),
            ("local", str(run_folder / "best"), None, "starting from a local spertmt model")):
        extractor = load(run_folder / "best", device="cpu")
        extractor.model.config = dataclasses.replace(extractor.model.config, init_model=init_model)
        card = ModelCard.load(extractor.save_pretrained(tmp_path / name) / "README.md")
        assert card.data.to_dict().get("base_model") == base
        assert said in card.text and str(run_folder) not in card.text
