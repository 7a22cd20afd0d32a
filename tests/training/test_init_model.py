"""Training that starts from a trained model (init_model): its weights, its settings that shape them,
and the types it shares with the new data by name."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from spertmt.model.folder import load_model
from spertmt.training.trainer import Trainer, train


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, tiny_encoder):
    from spertmt.config import Config

    from ..conftest import FIXTURES

    config = Config(data_root=FIXTURES, train_path="tiny_train.json", dev_path="tiny_train.json",
                    test_path="tiny_train.json", types_path="tiny_types.json", encoder=tiny_encoder, epochs=1,
                    batch_size=2, eval_batch_size=2, max_length=128)
    folder = tmp_path_factory.mktemp("first")
    train(config, folder, progress=False)
    return folder / "best"


def test_a_run_starts_from_a_trained_models_weights_and_the_settings_that_shape_them(tiny_config, first_run,
                                                                                    tmp_path):
    config = dataclasses.replace(tiny_config, init_model=str(first_run), encoder="offline:all-MiniLM-L6-v2",
                                 width_embedding_size=8)
    with pytest.warns(UserWarning, match=r"init_model .*best: the run takes the settings that shape its weights "
                                         r"from it: encoder = '.*tiny-bert.*' \(the config said "
                                         r"'offline:all-MiniLM-L6-v2'\); width_embedding_size = 25 \(the config "
                                         r"said 8\)"):
        trainer = Trainer(config, tmp_path / "second", progress=False)
    ours, theirs = trainer.model.state_dict(), load_model(first_run).state_dict()
    assert ours.keys() == theirs.keys()
    assert [key for key in ours if not torch.equal(ours[key], theirs[key])] == []
    trainer.fit()
    saved = json.loads((tmp_path / "second" / "config.json").read_text())
    assert (saved["init_model"], saved["width_embedding_size"]) == (str(first_run), 25)
    assert saved["encoder"] == tiny_config.encoder
    assert json.loads((tmp_path / "second" / "best" / "config.json").read_text())["init_model"] == str(first_run)


def test_a_run_on_other_types_starts_from_the_types_it_shares(tiny_config, first_run, tmp_path):
    """Another corpus: its types file lists the model's entity types in another order and one more."""
    types = json.loads((first_run / "types.json").read_text())
    types["entities"] = dict(reversed(list(types["entities"].items()))) | {"Misc": {"short": "Misc",
                                                                                     "verbose": "Misc"}}
    (tmp_path / "types.json").write_text(json.dumps(types))
    config = dataclasses.replace(tiny_config, init_model=str(first_run), types_path=str(tmp_path / "types.json"))
    trainer = Trainer(config, tmp_path / "run", progress=False)
    trained = load_model(first_run)
    rows = trainer.model.entity_head.classifier.weight.detach()
    for entity in trained.types.entities:
        assert torch.equal(rows[trainer.types.entity_index[entity.name].index],
                           trained.entity_head.classifier.weight.detach()[entity.index])
    assert trainer.fit()["ner"]["micro"]["f1"] >= 0


def test_an_init_model_that_is_not_there_is_named_before_anything_is_written(tiny_config, tmp_path):
    config = dataclasses.replace(tiny_config, init_model=str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match=r"^init_model: .*nothing: no such model folder"):
        Trainer(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_resumed_run_may_go_on_without_the_model_it_started_from(tiny_config, first_run, tmp_path):
    """resume/ holds every weight: a start folder deleted since is named, with the way round it."""
    import shutil

    shutil.copytree(first_run, tmp_path / "start")
    config = dataclasses.replace(tiny_config, init_model=str(tmp_path / "start"))
    train(config, tmp_path / "run", progress=False, keep_resume=True)
    shutil.rmtree(tmp_path / "start")
    with pytest.raises(FileNotFoundError, match=r"^init_model: .*start: no such model folder.*; a resumed run may go "
                                                r"on without it \(--set init_model=\)$"):
        train(config, tmp_path / "run", resume=True, progress=False)
    train(dataclasses.replace(config, init_model=""), tmp_path / "run", resume=True, progress=False)


def test_init_model_may_be_a_hub_repo_id(tiny_config, first_run, tmp_path, monkeypatch):
    """A repo id read offline from the hub's cache, laid out as huggingface_hub lays it out."""
    from huggingface_hub import constants

    from ..conftest import put_in_hub_cache

    put_in_hub_cache(first_run, tmp_path / "hub", "acme/conll04-re")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    trainer = Trainer(dataclasses.replace(tiny_config, init_model="acme/conll04-re"), tmp_path / "run", progress=False)
    ours, theirs = trainer.model.state_dict(), load_model(first_run).state_dict()
    assert [key for key in ours if not torch.equal(ours[key], theirs[key])] == []
    with pytest.raises(FileNotFoundError, match=r"^init_model: acme/other: no such model folder, nor a hub repo"):
        Trainer(dataclasses.replace(tiny_config, init_model="acme/other"), tmp_path / "other", progress=False)


@pytest.mark.parametrize("frozen", [True, False])
def test_a_frozen_encoder_keeps_its_weights_while_the_rest_trains(tiny_config, first_run, tmp_path, frozen):
    config = dataclasses.replace(tiny_config, init_model=str(first_run), freeze_encoder=frozen)
    train(config, tmp_path / "run", progress=False)
    before, after = load_model(first_run).state_dict(), load_model(tmp_path / "run" / "last").state_dict()
    changed = {key.split(".")[0] for key in after if not torch.equal(after[key], before[key])}
    assert changed == {"entity_head", "relation_head", "width_embedding"} | (set() if frozen else {"encoder"})


def test_a_dev_or_test_set_that_init_model_trained_on_is_said(tiny_config, first_run, tmp_path):
    """Scores on what the model started from has seen say little of the new run: named at once."""
    import warnings

    from ..conftest import FIXTURES

    documents = json.loads((Path(FIXTURES) / "tiny_train.json").read_text())
    other = [{**d, "tokens": [f"{token}x" for token in d["tokens"]]} for d in documents]  # other words
    (tmp_path / "other.json").write_text(json.dumps(other))
    config = dataclasses.replace(tiny_config, init_model=str(first_run), train_path=str(tmp_path / "other.json"))
    with pytest.warns(UserWarning) as caught:
        Trainer(config, tmp_path / "run", progress=False)  # first_run trained on tiny_train.json: dev and test
    said = [str(w.message) for w in caught if "documents have the words" in str(w.message)]
    assert said == [f"5 of the 5 {name} documents have the words of a document that init_model trained on "
                    f"({Path(FIXTURES) / 'tiny_train.json'}): the {name} scores are of what the model has seen"
                    for name in ("dev", "test")]
    third = [{**d, "tokens": [f"{token}y" for token in d["tokens"]]} for d in documents]  # seen by neither
    (tmp_path / "third.json").write_text(json.dumps(third))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*documents have the words")
        Trainer(dataclasses.replace(config, dev_path=str(tmp_path / "third.json"), test_path=""), tmp_path / "b",
                progress=False)
