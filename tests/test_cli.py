"""The command line: train, eval (reproducing train's metrics.json), predict, download, config errors."""

import dataclasses
import functools
import hashlib
import http.server
import json
import re
import threading
from pathlib import Path

import pytest

from spertmt.cli import main
from spertmt.config import OTHER_NAMES, Config

from .conftest import FIXTURES

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _sets(config: Config) -> list[str]:
    keys = ("data_root", "train_path", "dev_path", "test_path", "types_path", "encoder", "epochs", "batch_size",
            "eval_batch_size", "max_length")
    args = []
    for key in keys:
        args += ["--set", f"{key}={getattr(config, key)}"]
    return args


def test_train_then_eval_reproduces_metrics(tiny_config, tmp_path, capsys):
    out = tmp_path / "run"
    # A threshold every span passes: an untrained tiny model then predicts entities and relations.
    assert main(["train", "--quiet", "--output", str(out), *_sets(tiny_config), "--set", "threshold=-100"]) == 0
    for name in ("best", "last"):
        assert (out / name / "model.safetensors").exists() and (out / name / "tokenizer").is_dir()
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"ner", "re", "re_strict"}
    assert set(metrics["ner"]) == {"micro", "macro", "per_type"}
    assert metrics["ner"]["micro"]["recall"] > 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["event"] for r in log][0] == "start" and "dev" in [r["event"] for r in log]
    assert "RE+ (strict, with NER)" in capsys.readouterr().out

    assert main(["eval", "--quiet", "--model", str(out / "best"), "--data", f"{FIXTURES}/tiny_train.json",
                 "--output", str(tmp_path / "eval")]) == 0
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == metrics
    # Prediction settings change what eval predicts; training settings are refused, never ignored.
    eval_args = ["eval", "--quiet", "--model", str(out / "best"), "--data", f"{FIXTURES}/tiny_train.json"]
    assert main([*eval_args, "--set", "threshold=1e9", "--output", str(tmp_path / "high")]) == 0
    assert json.loads((tmp_path / "high" / "metrics.json").read_text())["ner"]["micro"]["recall"] == 0
    assert main([*eval_args, "--set", "max_span_width=1", "--output", str(tmp_path / "narrow")]) == 0
    narrow = json.loads((tmp_path / "narrow" / "predictions.json").read_text())
    assert narrow and all(e["end"] - e["start"] == 1 for d in narrow for e in d["entities"])
    capsys.readouterr()
    assert main([*eval_args, "--set", "lr=1", "--set", "threshold=0"]) == 2
    assert "--set lr: not a prediction setting" in capsys.readouterr().err
    # The scorer gives the same numbers from the predictions file alone.
    assert (
        main(
            [
                "score",
                "--gold",
                f"{FIXTURES}/tiny_train.json",
                "--pred",
                str(tmp_path / "eval" / "predictions.json"),
                "--types",
                f"{FIXTURES}/tiny_types.json",
                "--output",
                str(tmp_path / "score"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "score" / "metrics.json").read_text()) == metrics

    assert main(["predict", "--quiet", "--model", str(out / "best"), "--input", f"{FIXTURES}/tiny_train.json",
                 "--output", str(tmp_path / "pred.json")]) == 0
    predicted = json.loads((tmp_path / "pred.json").read_text())
    assert len(predicted) == 5 and all("score" in e for d in predicted for e in d["entities"])
    # score reads predict's JSON lines too (word offsets), with the same numbers.
    assert main(["predict", "--quiet", "--model", str(out / "best"), "--input", f"{FIXTURES}/tiny_train.json",
                 "--output", str(tmp_path / "pred.jsonl")]) == 0
    assert main(["score", "--gold", f"{FIXTURES}/tiny_train.json", "--pred", str(tmp_path / "pred.jsonl"),
                 "--types", f"{FIXTURES}/tiny_types.json", "--output", str(tmp_path / "score-jsonl")]) == 0
    assert json.loads((tmp_path / "score-jsonl" / "metrics.json").read_text()) == metrics


def test_config_errors_list_valid_keys(tmp_path, capsys):
    assert main(["train", "--output", str(tmp_path), "--set", "epoch=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'epoch'" in err and "epochs" in err
    bad = tmp_path / "bad.toml"
    bad.write_text('lr = 1e-4\nbatch_sise = 4\n')
    assert main(["train", "--output", str(tmp_path), "--config", str(bad)]) == 2
    assert f"{bad}, line 2: unknown key 'batch_sise' (did you mean 'batch_size'?)" in capsys.readouterr().err
    # a config carried over from SpERT, PURE, PL-Marker or Hugging Face: their names, not the nearest spelling
    bad.write_text('learning_rate = 1e-4\n')
    assert main(["train", "--output", str(tmp_path), "--config", str(bad)]) == 2
    assert f"{bad}, line 1: unknown key 'learning_rate' (here it is 'lr')" in capsys.readouterr().err
    assert main(["train", "--output", str(tmp_path), "--set", "max_span_size=8"]) == 2
    assert "unknown key 'max_span_size' in --set (here it is 'max_span_width')" in capsys.readouterr().err
    assert main(["train", "--output", str(tmp_path), "--set", "max_seq_length=256"]) == 2  # PL-Marker's and PURE's
    assert "unknown key 'max_seq_length' in --set (here it is 'max_length')" in capsys.readouterr().err
    for other, ours in OTHER_NAMES.items():  # each names a key there is (or train's --output)
        assert ours == "train's --output" or ours.split("'")[1] in Config.__dataclass_fields__, other
    bad.write_text('[train]\nepochs = 3\n')
    assert main(["train", "--output", str(tmp_path), "--config", str(bad)]) == 2
    assert "unknown key 'train'; a config has no sections but ['callbacks', 'extra']" in capsys.readouterr().err
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "latin1.toml").write_bytes("comment = 'caf\u00e9'\n".encode("latin-1"))
    for given, says in ((tmp_path / "missing.toml", "no such config file"), (tmp_path, "is a folder"),
                        (tmp_path / "list.json", "holds a list; a config file is an object of settings"),
                        (tmp_path / "latin1.toml", "not UTF-8 text (byte 14: invalid continuation byte)")):
        assert main(["train", "--output", str(tmp_path / "run"), "--config", str(given)]) == 2
        assert f"error: {given}: {says}" in capsys.readouterr().err


def test_config_files_and_overrides():
    config = Config.load(CONFIGS / "ade-offline.toml").override(["fold=3", "lr=2e-5", "encoder=my/model"])
    assert config.fold == 3 and config.lr == 2e-5 and config.encoder == "my/model"
    assert config.data_path("train_path").name == "ade_split_3_train.json"
    assert Config().resolved().neg_entity_count == 120 and Config(mode="spert").resolved().threshold == 0.4
    for path in ("conll04", "conll04-offline", "conll04-offline-short", "scierc", "scierc-offline", "ade"):
        Config.load(CONFIGS / f"{path}.toml")


def test_help(capsys):
    for command in ("train", "eval", "predict", "score", "convert", "validate", "download", "info"):
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"])
        assert exit_.value.code == 0
    assert "--set" in capsys.readouterr().out


def test_every_argument_of_every_command_says_what_it_does():
    import argparse

    from spertmt.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    silent = [f"{name} {action.option_strings[0] if action.option_strings else action.dest}"
              for name, parser in commands.choices.items() for action in parser._actions if not action.help]
    assert silent == []


def test_paths_taken_in_place_may_be_given_as_flags(tmp_path, capsys):
    """export, push, convert, validate, visualize and score take their paths in place; as predict and eval take theirs
    by flag, a user's `--input X --output Y` (or a mix) must work too, and neither, or two different,
    is one named line. Usage shows the paths in their place, not as optional."""
    source = f"{FIXTURES}/tiny_train.json"
    assert main(["convert", "--from", "spert", "--to", "dygie", source, str(tmp_path / "in_place.json")]) == 0
    assert main(["convert", "--from", "spert", "--to", "dygie", "--input", source,
                 "--output", str(tmp_path / "by_flag.json")]) == 0
    assert main(["convert", "--from", "spert", "--to", "dygie", source, "--output", str(tmp_path / "mixed.json")]) == 0
    written = (tmp_path / "in_place.json").read_text()
    assert written == (tmp_path / "by_flag.json").read_text() == (tmp_path / "mixed.json").read_text()
    capsys.readouterr()
    assert main(["validate", "--data", source, "--types", f"{FIXTURES}/tiny_types.json"]) == 0
    assert "documents" in capsys.readouterr().out
    assert main(["validate", source, "--data", source, "--types", f"{FIXTURES}/tiny_types.json"]) == 0  # the same twice
    assert main(["validate"]) == 2
    assert "validate: error: DATA is missing: give it in its place or as --data" in capsys.readouterr().err
    assert main(["export", "runs/a", "--model", "runs/b", "--output", str(tmp_path / "x")]) == 2
    assert "MODEL is given twice: 'runs/a' in its place and 'runs/b' as --model" in capsys.readouterr().err
    assert main(["visualize", f"{FIXTURES}/tiny_train.json", str(tmp_path / "view.html")]) == 0
    assert main(["visualize", "--pred", f"{FIXTURES}/tiny_train.json", "--output", str(tmp_path / "flags.html")]) == 0
    assert (tmp_path / "view.html").read_text() == (tmp_path / "flags.html").read_text()
    gold = f"{FIXTURES}/tiny_train.json"
    assert main(["score", gold, gold, "--types", f"{FIXTURES}/tiny_types.json"]) == 0
    assert main(["score", "--gold", gold, "--pred", gold, "--types", f"{FIXTURES}/tiny_types.json"]) == 0
    assert main(["push", "--model", "runs/a"]) == 2
    assert "push: error: REPO_ID is missing: give it in its place or as --repo-id" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    usage = " ".join(capsys.readouterr().out.split("\n\n")[0].split())
    assert usage.endswith("[--quiet] MODEL OUTPUT") and "[MODEL]" not in usage


def test_download_from_a_local_server(tmp_path):
    """The download code path, against a server on loopback that serves the CoNLL04 files."""
    served = tmp_path / "served"
    (served / "conll04").mkdir(parents=True)
    from spertmt.data import download as dl

    contents = {name: f"file {name}".encode() for name in dl.FILES["conll04"]}
    for name, data in contents.items():
        (served / "conll04" / name).write_bytes(data)
    digests = {name: hashlib.sha256(data).hexdigest()[:16] for name, data in contents.items()}
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        original = dict(dl.FILES["conll04"])
        dl.FILES["conll04"].update(digests)
        assert main(["download", "conll04", "--quiet", "--dest", str(tmp_path / "data"), "--base-url", url]) == 0
        for name, data in contents.items():
            assert (tmp_path / "data" / "conll04" / name).read_bytes() == data
        # A file that differs from the published copy is refused, not kept.
        dl.FILES["conll04"]["conll04_dev.json"] = "0" * 16
        (tmp_path / "data" / "conll04" / "conll04_dev.json").unlink()
        assert main(["download", "conll04", "--quiet", "--dest", str(tmp_path / "data"), "--base-url", url]) == 2
        assert not (tmp_path / "data" / "conll04" / "conll04_dev.json").exists()
        assert main(["download", "conll05", "--quiet", "--dest", str(tmp_path / "x")]) == 2
    finally:
        dl.FILES["conll04"].clear()
        dl.FILES["conll04"].update(original)
        server.shutdown()


def test_brat_folder_convert_validate_train(tiny_config, tmp_path, monkeypatch):
    """The own-data path of docs/data.md: a brat folder in, a trained model out, its paths relative to
    the working directory (no file of theirs under the data root)."""
    monkeypatch.chdir(tmp_path)
    assert main(["convert", "--from", "spert", "--to", "brat", f"{FIXTURES}/tiny_train.json", "brat"]) == 0
    # into a folder that does not exist yet, as docs/data.md does
    assert main(["convert", "--from", "brat", "--to", "spert", "brat", "data/train.json"]) == 0
    assert Path("data/train_types.json").exists()
    assert main(["validate", "data/train.json", "--types", "data/train_types.json"]) == 0
    assert main(["train", "--quiet", "--output", "runs/mine", "--set", f"encoder={tiny_config.encoder}",
                 "--set", "train_path=data/train.json", "--set", "dev_path=data/train.json", "--set", "test_path=",
                 "--set", "types_path=data/train_types.json", "--set", "epochs=1", "--set", "max_length=128"]) == 0
    assert (tmp_path / "runs" / "mine" / "best" / "model.safetensors").exists()


def test_data_without_a_types_file_trains_on_the_types_its_files_use(tiny_config, tmp_path, capsys):
    """`types_path = ""`: the types of the train, dev and test files in order of first appearance (a
    type only the test file uses included, so that scoring it is not refused); none symmetric."""
    train = json.loads((Path(FIXTURES) / "tiny_train.json").read_text())
    test = [{"tokens": ["Mars", "is", "red", "."], "entities": [{"type": "Planet", "start": 0, "end": 1}],
             "relations": []}]
    (tmp_path / "test.json").write_text(json.dumps(test))
    own = ["train", "--quiet", "--set", f"encoder={tiny_config.encoder}", "--set", "epochs=1",
           "--set", "max_length=128", "--set", f"train_path={FIXTURES}/tiny_train.json", "--set", "dev_path=",
           "--set", "types_path="]
    assert main([*own, "--output", str(tmp_path / "run"), "--set", f"test_path={tmp_path / 'test.json'}"]) == 0
    types = json.loads((tmp_path / "run" / "best" / "types.json").read_text())
    seen = list(dict.fromkeys(e["type"] for d in train for e in d["entities"]))
    assert list(types["entities"]) == [*seen, "Planet"]
    assert list(types["relations"]) == list(dict.fromkeys(r["type"] for d in train for r in d["relations"]))
    assert not any(t["symmetric"] for t in types["relations"].values())

    (tmp_path / "empty.json").write_text(json.dumps([dict(d, entities=[], relations=[]) for d in train]))
    assert main(["train", "--quiet", "--output", str(tmp_path / "none"), "--set", f"encoder={tiny_config.encoder}",
                 "--set", f"train_path={tmp_path / 'empty.json'}", "--set", "dev_path=", "--set", "test_path=",
                 "--set", "types_path="]) == 2
    assert "types_path is empty, so the types are those the data uses, but" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_relative_data_paths_prefer_the_data_root_then_the_working_directory(tmp_path, monkeypatch):
    root, here = tmp_path / "root", tmp_path / "here"
    (root / "d").mkdir(parents=True)
    (here / "d").mkdir(parents=True)
    monkeypatch.chdir(here)
    (here / "d" / "train.json").write_text("[]")
    config = Config(data_root=str(root), train_path="d/train.json", dev_path="d/absent.json")
    assert config.data_path("train_path") == Path("d/train.json")  # only in the working directory
    assert config.data_path("dev_path") == root / "d" / "absent.json"  # nowhere: the error names the root's
    (root / "d" / "train.json").write_text("[]")
    assert config.data_path("train_path") == root / "d" / "train.json"  # in both: the data root's, as before


def test_own_training_data_with_conll04_default_paths_is_refused(tiny_config, tmp_path, capsys):
    """Own train_path with test_path (or dev_path, types_path) left at the default would score CoNLL04's
    test set, or fail on its types with a message about a file the user never named."""
    own = ["train", "--quiet", "--output", str(tmp_path / "run"), "--set", f"encoder={tiny_config.encoder}",
           "--set", f"train_path={FIXTURES}/tiny_train.json", "--set", f"dev_path={FIXTURES}/tiny_train.json"]
    assert main([*own, "--set", f"types_path={FIXTURES}/tiny_types.json"]) == 2
    assert ("train_path is '" + f"{FIXTURES}/tiny_train.json' but test_path still names CoNLL04's files (the "
            "defaults): set test_path to your data's (an empty test_path: none)") in capsys.readouterr().err
    assert main(own) == 2
    assert "test_path, types_path still name CoNLL04's files" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("selection", ["global", "per_type"])
def test_threshold_selection_tunes_on_dev_and_scores_test_with_it(tiny_config, tmp_path, selection):
    """threshold_selection: θ tuned on dev at the end of training, stored in both model folders,
    used for the test metrics, and what `spertmt.load` then predicts with."""
    import spertmt
    from spertmt.data.documents import read_documents
    from spertmt.evaluate import evaluate
    from spertmt.inference.extractor import Extractor

    config = dataclasses.replace(tiny_config, epochs=2, lr=1e-3, threshold_selection=selection)
    metrics = spertmt.train(config, tmp_path / "run", progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    tuned = [e for e in log if e["event"] == "thresholds"]
    assert [e["checkpoint"] for e in tuned] == ["last", "best"]
    for event in tuned:
        stored = json.loads((tmp_path / "run" / event["checkpoint"] / "thresholds.json").read_text())
        assert stored == event["thresholds"] and "entity" in stored
        # a head where no cut finds anything right keeps the config's θ (no entry)
        assert (set(stored["entity"]) == {"*"}) == (selection == "global")
        assert all(set(v) <= {"*"} for v in stored.values()) == (selection == "global")
    extractor = spertmt.load(tmp_path / "run" / "best")
    docs = read_documents(config.data_path("test_path"), extractor.types)
    assert evaluate(docs, extractor.predict(docs, batch_size=config.eval_batch_size), extractor.types) == metrics
    # the same checkpoint at the config's θ, written beside for comparison
    fixed = json.loads((tmp_path / "run" / "metrics_fixed_threshold.json").read_text())
    untuned = Extractor(extractor.model, extractor.tokenizer, extractor.device, thresholds=None)
    predicted = untuned.predict(docs, batch_size=config.eval_batch_size)
    assert evaluate(docs, predicted, extractor.types) == fixed


def test_training_calibrates_on_dev_or_chooses_theta_for_a_precision(tiny_config, tmp_path):
    """calibrate (the default): calibration.json in both model folders, fitted on dev, and the test
    items' ECE before and after in the log; target_precision: θ from the precision bound instead
    of F1, stored with the target; calibrate = false writes no calibration."""
    import spertmt
    from spertmt.data.documents import read_documents
    from spertmt.layout import RunFolder

    config = dataclasses.replace(tiny_config, epochs=2, lr=1e-3, target_precision=0.05, target_confidence=0.5)
    spertmt.train(config, tmp_path / "run", progress=False)
    run = RunFolder(tmp_path / "run")
    log = run.read_log()
    assert [e["checkpoint"] for e in log if e["event"] == "calibration"] == ["last", "best"]
    fitted = next(e for e in log if e["event"] == "calibration" and e["checkpoint"] == "best")["dev"]
    assert fitted["entity"]["chosen"] in ("platt", "platt per type", "isotonic", "isotonic per type")
    assert spertmt.load(run.best).calibration.heads["entity"].method in ("platt", "isotonic")
    stored = json.loads((run.best / "thresholds.json").read_text())
    assert stored["target_precision"] == {"precision": 0.05, "confidence": 0.5} and "*" in stored["entity"]
    tested = [e for e in log if e["event"] == "test_calibration"]
    assert set(tested[0]["entity"]) == {"before", "after", "bins_before", "bins_after"}
    # predictions.json is what best/ predicts once loaded, calibrated probabilities included
    best = spertmt.load(run.best)
    test = read_documents(config.data_path("test_path"), best.types)
    assert [d.to_json() for d in best.predict(test, batch_size=config.eval_batch_size)] == \
        json.loads(run.predictions.read_text())
    spertmt.train(dataclasses.replace(tiny_config, calibrate=False), tmp_path / "plain", progress=False)
    assert not (tmp_path / "plain" / "best" / "calibration.json").exists()
    assert not [e for e in RunFolder(tmp_path / "plain").read_log() if e["event"].endswith("calibration")]


@pytest.mark.parametrize("key, value", [("loss_reduction", "average"), ("ranking_average", "split"),
                                        ("loss_balance", "gradnorm"), ("threshold_selection", "test")])
def test_choice_settings_name_the_allowed_values(key, value):
    with pytest.raises(ValueError, match=f"{key} must be one of"):
        Config().override([f"{key}={value}"]).resolved()


def test_separate_ranking_average_needs_means():
    with pytest.raises(ValueError, match="loss_reduction"):
        Config(ranking_average="separate", loss_reduction="sum").resolved()


def test_commands_that_need_no_model_do_not_load_torch():
    import subprocess
    import sys

    code = ("import sys\nfrom spertmt.cli import main\ntry:\n    main(['convert', '--help'])\nexcept SystemExit:\n"
            "    pass\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_no_module_imports_names_from_the_package_front_door():
    """spertmt/__init__.py re-exports; the modules import from where things are defined."""
    import ast

    package = Path(__file__).resolve().parents[1] / "src" / "spertmt"
    for path in package.rglob("*.py"):
        if path.name == "__init__.py" and path.parent == package:
            continue
        depth = len(path.relative_to(package).parts) - 1  # 0: a top-level module
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module is None and node.level == depth + 1:
                for alias in node.names:
                    target = package / alias.name
                    assert target.is_dir() or target.with_suffix(".py").exists(), (
                        f"{path.relative_to(package)} imports {alias.name!r} from spertmt/__init__.py")
            if isinstance(node, ast.ImportFrom) and node.module == "spertmt" and node.level == 0:
                raise AssertionError(f"{path.relative_to(package)} imports from spertmt's __init__")


def _project() -> dict:
    """pyproject.toml's [project] table."""
    from spertmt.config import tomllib  # tomli before Python 3.11

    return tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]


def test_the_package_version_is_the_project_version():
    import spertmt

    assert spertmt.__version__ == _project()["version"]


def test_the_lowest_versions_script_tries_the_project_floors():
    """bench/lowest_versions.sh pins each floor it tries to a release of pyproject.toml's bound (4.45
    -> 4.45.x): raising a floor without trying it fails here."""
    project = _project()
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    bounds = {}
    for requirement in requirements:
        found = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?>=([0-9.]+)", requirement)
        if found:
            bounds[found[1].lower().replace("_", "-")] = found[2]
    script = (Path(__file__).resolve().parents[1] / "bench" / "lowest_versions.sh").read_text()
    pins = dict(pin.split("==") for pin in re.search(r'^FLOORS="([^"]+)"', script, re.M)[1].split())
    assert len(pins) >= 6
    for name, version in pins.items():
        bound = bounds[name.lower().replace("_", "-")]
        assert version.split(".")[:len(bound.split("."))] == bound.split("."), f"{name}=={version} is not >={bound}"


@pytest.mark.parametrize("assignment, message", [
    ("epochs=abc", "epochs = 'abc' is a str; expected a whole number"),
    ("threshold=high", "threshold = 'high' is a str; expected a number"),
    ("multi_task=maybe", "multi_task = 'maybe' is a str; expected true or false"),
    ("epochs=-1", "epochs = -1 is out of range; expected a number at least 1"),
    ("lr=0", "lr = 0 is out of range"),
    ("ema_decay=1", "ema_decay = 1 is out of range; expected a number at least 0 and below 1"),
    ("lr=inf", "lr = inf is not a finite number"),
    ("lr=nan", "lr = nan is not a finite number"),
    ("epochs=inf", "epochs = inf is a float; expected a whole number"),
    ("margin_pos=-inf", "margin_pos = -inf is not a finite number"),
    ("device=gpu", "device = 'gpu' is not a device"),
    ("select_metric=acc", "select_metric = 'acc' names no dev metric; expected TASK.AVERAGE.FIGURE"),
    ("select_metric=ner.micro.F1", "select_metric = 'ner.micro.F1' names no dev metric"),
    ("encoder=", "encoder is empty; give a Hugging Face name"),
])
def test_bad_settings_stop_before_any_work_and_say_what_is_expected(tmp_path, capsys, assignment, message):
    assert main(["train", "--quiet", "--set", assignment, "--output", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_cuda_on_a_machine_without_it_is_a_clear_error(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["train", "--quiet", "--set", "device=cuda", "--output", str(tmp_path / "run")]) == 2
    assert "sees no CUDA GPU; use device = \"cpu\"" in capsys.readouterr().err


def test_config_file_errors_name_the_file_and_line(tmp_path, capsys):
    (tmp_path / "syntax.toml").write_text('epochs = 3\nlr = \n')
    (tmp_path / "value.toml").write_text('epochs = 3\n\nlr = "fast"\n')
    assert main(["train", "--config", str(tmp_path / "syntax.toml"), "--output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "syntax.toml: not valid TOML" in err and "line 2" in err
    assert main(["train", "--config", str(tmp_path / "value.toml"), "--output", str(tmp_path / "run")]) == 2
    assert "value.toml, line 3: lr = 'fast' is a str; expected a number" in capsys.readouterr().err


def test_version(capsys):
    import spertmt

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"spertmt {spertmt.__version__}"


def test_loss_reduction_defaults_by_mode():
    """Sums for SpERT.MT (chosen on dev, issue 21), SpERT's means for spert; either can be set."""
    assert Config().resolved().loss_reduction == "sum"
    assert Config(mode="spert").resolved().loss_reduction == "mean"
    assert Config(loss_reduction="mean").resolved().loss_reduction == "mean"


def test_without_a_dev_set_a_share_of_the_training_documents_is_held_out_as_one(tiny_config, tmp_path):
    """dev_split (ADE has no dev set): every k-th training document becomes the dev set, which then
    chooses the epoch, tunes θ and fits the calibration; the model trains on the rest."""
    import spertmt
    from spertmt.data.documents import hold_out, read_documents
    from spertmt.layout import RunFolder

    documents = read_documents(tiny_config.data_path("train_path"))
    kept, held = hold_out(documents, 0.5)
    assert len(kept) + len(held) == len(documents) and held == documents[1::2]
    config = dataclasses.replace(tiny_config, dev_path="", dev_split=0.5, threshold_selection="global")
    spertmt.train(config, tmp_path / "run", progress=False)
    log = RunFolder(tmp_path / "run").read_log()
    assert log[0]["documents"] == len(kept)
    assert [e["epoch"] for e in log if e["event"] == "dev"] == [1]
    assert [e["checkpoint"] for e in log if e["event"] == "thresholds"] == ["last", "best"]
    with pytest.raises(ValueError, match="dev_split = 0.5 holds training documents out"):
        dataclasses.replace(tiny_config, dev_split=0.5).resolved()
