"""Resume after a kill, determinism, non-finite losses, mixed precision."""

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import spertmt
from spertmt.cli import main

from .conftest import FIXTURES


def _args(tiny_encoder, output, epochs):
    return ["train", "--quiet", "--output", str(output), "--set", f"data_root={FIXTURES}",
            "--set", "train_path=tiny_train.json", "--set", "dev_path=tiny_train.json",
            "--set", "test_path=tiny_train.json", "--set", "types_path=tiny_types.json",
            "--set", f"encoder={tiny_encoder}", "--set", "max_length=128", "--set", f"epochs={epochs}",
            "--set", "batch_size=2", "--set", "threshold=0.0", "--set", "lr=1e-3"]


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


@pytest.mark.parametrize("averaged", [False, True], ids=["plain", "ema"])
def test_resume_after_kill_ends_like_an_uninterrupted_run(tiny_encoder, tmp_path, averaged):
    epochs = 12

    def args(output):
        return _args(tiny_encoder, output, epochs) + (["--set", "ema_decay=0.9"] if averaged else [])

    assert main(args(tmp_path / "straight")) == 0

    run = tmp_path / "interrupted"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "spertmt", *args(run)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = run / "log.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if log.exists() and log.read_text().count('"event": "dev"') >= 2 and (run / "resume").exists():
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be interrupted"
    finished = log.read_text().count('"event": "dev"')
    assert finished < epochs

    assert main(["train", "--quiet", "--output", str(run), "--resume"]) == 0
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events.count("resume") == 1 and events.count("dev") >= epochs  # (the killed epoch may repeat)
    straight, resumed = _weights(tmp_path / "straight" / "last"), _weights(run / "last")
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name
    assert (json.loads((run / "metrics.json").read_text())
            == json.loads((tmp_path / "straight" / "metrics.json").read_text()))


def test_resume_without_state_is_a_clear_error(tiny_encoder, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    spertmt.Config().save(tmp_path / "run" / "config.json")
    assert main(["train", "--quiet", "--output", str(tmp_path / "run"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "nothing to resume" in err and "without --resume" in err  # and says what to run instead


def test_same_seed_same_result(tiny_encoder, tmp_path):
    for name in ("a", "b"):
        assert main(_args(tiny_encoder, tmp_path / name, 2)) == 0
    a, b = _weights(tmp_path / "a" / "last"), _weights(tmp_path / "b" / "last")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "a" / "metrics.json").read_text() == (tmp_path / "b" / "metrics.json").read_text()


def test_non_finite_loss_stops_with_step_and_documents(tiny_encoder, tmp_path, capsys):
    args = _args(tiny_encoder, tmp_path / "run", 1) + ["--set", "lr=1e30", "--set", "max_grad_norm=1e30",
                                                        "--set", "warmup=0"]
    assert main(args) == 2
    message = capsys.readouterr().err
    assert re.search(r"loss is (nan|inf) at step \d+ \(epoch 1\), batch of documents \['d\d'", message), message
    assert "Hint: lower lr" in message
    assert not (tmp_path / "run" / "last").exists() and not (tmp_path / "run" / "resume").exists()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains(tiny_encoder, tmp_path, precision):
    assert main(_args(tiny_encoder, tmp_path / precision, 1) + ["--set", f"precision={precision}"]) == 0
    weights = _weights(tmp_path / precision / "last")
    assert all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point())


def test_model_folder_from_another_format_is_refused(tiny_encoder, tmp_path, capsys):
    from spertmt.data.documents import read_types
    from spertmt.model.encoder import load_encoder, load_tokenizer
    from spertmt.model.folder import save_checkpoint
    from spertmt.model.spertmt import SpERTMT

    folder = tmp_path / "model"
    config = spertmt.Config(encoder=tiny_encoder, max_length=128)
    save_checkpoint(SpERTMT(config, read_types(f"{FIXTURES}/tiny_types.json"), load_encoder(tiny_encoder)),
                    load_tokenizer(tiny_encoder), folder)
    (folder / "version.json").write_text(json.dumps({"spertmt": "9.9.9", "format": 99}))
    assert main(["predict", "--quiet", "--model", str(folder), "--input", f"{FIXTURES}/tiny_train.json",
                 "--output", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert "spertmt 9.9.9 in checkpoint format 99" in err and not (tmp_path / "p.json").exists()
    assert main(["predict", "--quiet", "--model", str(tmp_path), "--input", f"{FIXTURES}/tiny_train.json",
                 "--output", str(tmp_path / "p.json")]) == 2
    assert "not a spertmt model folder" in capsys.readouterr().err


def test_empty_documents_and_documents_without_entities_train(tiny_encoder, tmp_path):
    docs = json.loads(open(f"{FIXTURES}/tiny_train.json").read())
    docs += [{"tokens": [], "entities": [], "relations": []}, {"tokens": ["\u200b", " ", "é"], "entities": []}]
    (tmp_path / "data.json").write_text(json.dumps(docs))
    args = _args(tiny_encoder, tmp_path / "run", 1) + ["--set", f"train_path={tmp_path / 'data.json'}",
                                                       "--set", f"test_path={tmp_path / 'data.json'}"]
    assert main(args) == 0
    predictions = json.loads((tmp_path / "run" / "predictions.json").read_text())
    assert len(predictions) == 7 and predictions[5]["entities"] == []


def test_interrupted_writes_leave_the_old_file_or_folder_and_no_debris(tmp_path):
    from spertmt.files import atomic_folder, atomic_output, recover_folder

    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(target) as f:
            f.write("half")
            raise KeyboardInterrupt  # Ctrl-C in the middle of writing
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
    folder = tmp_path / "best"
    with atomic_folder(folder) as tmp:
        (tmp / "weights.pt").write_text("1")
    # A kill in the middle of a swap: the old folder half deleted, or moved aside and not replaced.
    (tmp_path / "best.old").mkdir()
    (tmp_path / "best.old" / "leftover").write_text("x")
    with atomic_folder(folder) as tmp:
        (tmp / "weights.pt").write_text("1")
    folder.rename(tmp_path / "best.old")
    recover_folder(folder)
    assert (folder / "weights.pt").read_text() == "1" and not (tmp_path / "best.old").exists()
    with pytest.raises(RuntimeError):
        with atomic_folder(folder) as tmp:
            (tmp / "weights.pt").write_text("2")
            raise RuntimeError("disk full")
    assert (folder / "weights.pt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", "out.jsonl"]


def test_a_model_is_never_written_over_a_file_or_a_folder_of_other_things(tmp_path, capsys):
    from spertmt.inference.extractor import load

    extractor = load(f"{FIXTURES}/model-format1", device="cpu")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    other = tmp_path / "documents"
    other.mkdir()
    (other / "thesis.tex").write_text("mine too")
    refusals = ((a_file, "is a file, not a folder"), (other, "holds other files and is not a model folder"))
    for target, message in refusals:
        with pytest.raises(FileExistsError, match=message):
            extractor.save_pretrained(target)
    model = tmp_path / "model"
    extractor.save_pretrained(model)
    extractor.save_pretrained(model)  # a model folder is replaced, as before
    pytest.importorskip("onnxscript")
    for target, message in refusals:
        assert main(["export", "--format", "onnx", str(model), str(target)]) == 2
        assert f"{target}: {message}" in capsys.readouterr().err
    assert a_file.read_text() == "mine" and (other / "thesis.tex").read_text() == "mine too"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["documents", "model", "notes.txt"]  # no debris


def test_a_folder_that_takes_no_files_is_named_with_the_reason_before_any_work(tiny_encoder, tmp_path, capsys,
                                                                               monkeypatch):
    """A folder on a read-only mount: the file system refuses every new file with EROFS, which is
    what this test makes `locked` answer (checked by hand on a real one, made with `mount --bind`
    and `mount -o remount,ro,bind`: the same lines). Before, `train` and `export` printed the raw
    OSError, export's naming its temporary folder, and `predict` said "permission denied"."""
    import errno

    import spertmt.files

    locked = tmp_path / "locked"
    locked.mkdir()
    create = spertmt.files.tempfile.TemporaryFile

    def read_only_in_locked(*args, dir=None, **kwargs):
        if dir is not None and locked.resolve() in (Path(dir).resolve(), *Path(dir).resolve().parents):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return create(*args, dir=dir, **kwargs)

    monkeypatch.setattr(spertmt.files.tempfile, "TemporaryFile", read_only_in_locked)
    model = f"{FIXTURES}/model-format1"
    data = f"{FIXTURES}/tiny_train.json"
    assert main(["predict", "--quiet", "--model", model, "--input", data, "--output", str(locked / "out.jsonl")]) == 2
    assert f"{locked / 'out.jsonl'}: cannot write in {locked} (read-only file system)" in capsys.readouterr().err
    with pytest.raises(ValueError, match="model: cannot write in .*locked \\(read-only file system\\)"):
        spertmt.load(model, device="cpu").save_pretrained(locked / "model")
    assert main(_args(tiny_encoder, locked / "run", 1)) == 2
    assert f"{locked / 'run'}: cannot write in {locked} (read-only file system)" in capsys.readouterr().err
    assert list(locked.iterdir()) == []
    # commands that write into the model folder say so before they fit anything on the dev set
    shutil.copytree(model, locked / "model")
    before = sorted(p.name for p in (locked / "model").iterdir())
    for command, writes in (("tune-threshold", "thresholds.json"), ("calibrate", "calibration.json")):
        assert main([command, "--quiet", "--model", str(locked / "model"), "--data", data]) == 2
        assert f"{locked / 'model' / writes}: cannot write in {locked / 'model'} (read-only file system)" \
            in capsys.readouterr().err
    assert sorted(p.name for p in (locked / "model").iterdir()) == before


def _drop_first_entity_type(folder):
    path = folder / "types.json"
    types = json.loads(path.read_text())
    types["entities"].pop(next(iter(types["entities"])))
    path.write_text(json.dumps(types))


@pytest.mark.parametrize("damage, message", [
    (_drop_first_entity_type, "types.json lists 2 entity and 3 relation types"),
    (lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:1000]),
     "model.safetensors cannot be loaded"),
    (lambda f: (f / "model.safetensors").write_bytes(b""), "model.safetensors cannot be loaded"),
    (lambda f: (f / "model.safetensors").unlink(), "model.safetensors is missing"),
    (lambda f: (f / "weights.pt").write_bytes((f / "weights.pt").read_bytes()[:1000]), "weights.pt cannot be loaded"),
    (lambda f: (f / "weights.pt").write_bytes(b""), "weights.pt cannot be loaded"),
    (lambda f: (f / "weights.pt").unlink(), "weights.pt is missing"),
    (lambda f: shutil.rmtree(f / "tokenizer"), "tokenizer/ is missing"),
    (lambda f: (f / "config.json").write_text('{"epochs": 3,'), "config.json is damaged"),
    (lambda f: (f / "types.json").unlink(), "types.json is missing"),
    (lambda f: (f / "thresholds.json").write_text("{"), "thresholds.json is damaged"),
])
def test_a_damaged_model_folder_names_the_folder_and_the_file(tmp_path, capsys, damage, message):
    folder = tmp_path / "model"
    if "weights.pt" in message:  # formats 1 and 2
        shutil.copytree(f"{FIXTURES}/model-format1", folder)
    else:  # the fixture saved again: today's format (safetensors)
        from spertmt.inference.extractor import load

        load(f"{FIXTURES}/model-format1", device="cpu").save_pretrained(folder)
    damage(folder)
    assert main(["predict", "--quiet", "--model", str(folder), "--input", f"{FIXTURES}/tiny_train.json",
                 "--output", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert f"{folder}: {message}" in err and "train again" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no output, no debris


def test_a_run_folder_passed_as_a_model_says_which_folder_to_pass(tmp_path, capsys):
    assert main(["predict", "--quiet", "--model", "bert-base-cased", "--input", f"{FIXTURES}/tiny_train.json",
                 "--output", str(tmp_path / "p.json")]) == 2  # an encoder's name for a trained model
    assert ("bert-base-cased: no such model folder (a model that spertmt trained: a run's best/ or last/, or a hub "
            "repo id owner/name)") in capsys.readouterr().err
    shutil.copytree(f"{FIXTURES}/model-format1", tmp_path / "run" / "best")
    assert main(["predict", "--quiet", "--model", str(tmp_path / "run"), "--input", f"{FIXTURES}/tiny_train.json",
                 "--output", str(tmp_path / "p.json")]) == 2
    assert f"it is a run folder: pass {tmp_path / 'run' / 'best'}" in capsys.readouterr().err
    weights = tmp_path / "run" / "best" / "weights.pt"  # a file of the folder, given for the folder
    assert main(["predict", "--quiet", "--model", str(weights), "--input", f"{FIXTURES}/tiny_train.json",
                 "--output", str(tmp_path / "p.json")]) == 2
    assert f"{weights} is a file, not a model folder: pass the folder, {weights.parent}" in capsys.readouterr().err
    text = tmp_path / "notes.txt"  # a file beside no model: no folder to point to
    text.write_text("John works in Paris.")
    assert main(["predict", "--quiet", "--model", str(text), "--input", f"{FIXTURES}/tiny_train.json",
                 "--output", str(tmp_path / "p.json")]) == 2
    assert f"{text} is a file, not a model folder: pass a model folder (best/ or last/ of a run)" in (
        capsys.readouterr().err)


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
@pytest.mark.parametrize("model, error, message", [(None, TypeError, "not NoneType"), (3, TypeError, "not int"),
                                                   ("", ValueError, "empty name"), (" ", ValueError, "empty name")])
def test_a_model_that_is_no_name_is_named_so(model, error, message, runtime):
    with pytest.raises(error, match=message):
        spertmt.load(model, runtime=runtime)


def test_a_finished_run_drops_its_resume_state_unless_asked_to_keep_it(tiny_encoder, tmp_path, capsys):
    run, kept = tmp_path / "run", tmp_path / "kept"
    assert main(_args(tiny_encoder, run, 1)) == 0
    assert (
        not (run / "resume").exists()
        and (run / "best" / "model.safetensors").exists()
        and (run / "metrics.json").exists()
    )
    capsys.readouterr()
    assert main(["train", "--quiet", "--output", str(run), "--resume"]) == 2
    assert "nothing to resume: this run has ended" in capsys.readouterr().err
    assert main([*_args(tiny_encoder, kept, 1), "--keep-resume"]) == 0
    assert (kept / "resume" / "state.pt").exists()


def test_training_into_a_folder_with_a_model_needs_resume_or_overwrite(tiny_encoder, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_args(tiny_encoder, run, 1)) == 0
    weights = _weights(run / "best")
    capsys.readouterr()
    assert main(_args(tiny_encoder, run, 1)) == 2
    assert "already holds a trained model (best/, last/): pass --resume" in capsys.readouterr().err
    assert all(torch.equal(weights[k], v) for k, v in _weights(run / "best").items())  # untouched
    assert main([*_args(tiny_encoder, run, 1), "--overwrite"]) == 0


@pytest.mark.parametrize("line, message", [
    ('{"text": 3}', "line 2: 'text' is 3; expected a string"),
    ('{"tokens": "John met Mary"}', "line 2: 'tokens' must be a list of strings"),
    ('{"text": "John \\ud800 met Mary."}', "line 2: text holds a lone surrogate at character 5"),
    ('{"tokens": ["John", "\\udc00"]}', "line 2: tokens holds a lone surrogate at word 1"),
    ("[" * 100_000 + "]" * 100_000, "line 2: not valid JSON: maximum recursion depth"),  # was a RecursionError
    ('{"text": "John met Mary.", "entities": [{"type": "Person", "start": 0, "end": 4}]}',
     "line 2: entities[0] has type 'Person', which the model does not know; its entity types: Loc, Org, Peop"),
    ('{"text": "John met Mary.", "entities": [{"type": "Peop", "start": 1, "end": 4}]}',
     "line 2: entities[0] ({'type': 'Peop', 'start': 1, 'end': 4}) does not fall on word boundaries"),
    ('{"text": "John met Mary.", "entities": [{"type": "Peop", "start": 9, "end": 40}]}',
     "line 2: entities[0] ({'type': 'Peop', 'start': 9, 'end': 40}) reaches beyond the text's words, which lie "
     "within characters 0 to 14"),
    ('{"text": "John met Mary.", "entities": [{"type": "Peop", "start": 4, "end": 0}]}',
     "line 2: entities[0] ({'type': 'Peop', 'start': 4, 'end': 0}) ends where or before it starts"),
    ('{"tokens": ["John", "met", "Mary"], "entities": [{"type": "Peop", "token_start": 2, "token_end": 4}]}',
     "line 2: entities[0] ({'type': 'Peop', 'token_start': 2, 'token_end': 4}) reaches beyond the text's 3 words"),
    ('{"text": "John met Mary.", "entities": [{"type": "Peop", "start": "0", "end": 4}]}',
     'line 2: entities[0] ({\'type\': \'Peop\', \'start\': \'0\', \'end\': 4}) needs "type" and whole-number'),
])
def test_bad_jsonl_inputs_name_the_file_and_line(tmp_path, capsys, line, message):
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "Mary lives in Paris."}\n' + line + "\n")
    assert main(["predict", "--quiet", "--model", f"{FIXTURES}/model-format1", "--input", str(source),
                 "--output", str(tmp_path / "out.jsonl")]) == 2
    assert f"{source}, {message}" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_a_missing_input_or_a_folder_as_input_is_named_before_the_model_loads(tmp_path, capsys):
    for given, message, options in ((tmp_path / "missing.txt", "no such file", []),
                                    (tmp_path, "a folder, which --input-format txt does not read",
                                     ["--input-format", "txt"])):
        assert main(["predict", "--quiet", "--model", str(tmp_path / "no-model"), "--input", str(given),
                     "--output", str(tmp_path / "out.jsonl"), *options]) == 2  # the model (missing) is never read
        assert f"{given}: {message}" in capsys.readouterr().err  # before: [Errno 2] / [Errno 21] after loading
    model = f"{FIXTURES}/model-format1"
    for command in (["score", "--gold", str(tmp_path), "--pred", f"{FIXTURES}/tiny_train.json"],
                    ["eval", "--model", model, "--data", str(tmp_path)]):
        assert main(command) == 2
        assert f"{tmp_path}: is a folder; give a SpERT JSON file" in capsys.readouterr().err  # before: [Errno 21]
    (tmp_path / "texts.xlsx").write_text("Mary lives in Paris.\n")
    (tmp_path / "texts.txt").write_text("Mary lives in Paris.\n")
    for given, output, named in (("texts.xlsx", "out.jsonl", "texts.xlsx"), ("texts.txt", "out.csv", "out.csv")):
        assert main(["predict", "--quiet", "--model", str(tmp_path / "no-model"), "--input", str(tmp_path / given),
                     "--output", str(tmp_path / output)]) == 2  # named before the (missing) model is read
        assert f"{tmp_path / named}: cannot tell the format from the extension" in capsys.readouterr().err
    assert main(["validate", str(tmp_path)]) == 1  # validate reports it among a file's errors
    assert f"{tmp_path}: is a folder; give a SpERT JSON file" in capsys.readouterr().out


def test_extensions_in_capitals_tell_the_format(tmp_path, capsys):
    """TEXTS.CSV and OUT.JSONL.GZ, as Windows and spreadsheets name files, read and write as their
    lower-case names would; one result is counted as one."""
    (tmp_path / "TEXTS.CSV").write_text("id,text\na,Mary lives in Paris.\n")
    assert main(["predict", "--quiet", "--model", f"{FIXTURES}/model-format1", "--input", str(tmp_path / "TEXTS.CSV"),
                 "--output", str(tmp_path / "OUT.JSONL.GZ")]) == 0
    assert f"wrote 1 result to {tmp_path / 'OUT.JSONL.GZ'}" in capsys.readouterr().out
    with gzip.open(tmp_path / "OUT.JSONL.GZ", "rt") as f:
        assert json.loads(f.read())["id"] == "a"


def test_non_utf8_input_names_the_file(tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_bytes("Mary lives in Paris.\nJosé".encode("latin-1") + b"\n")
    assert main(["predict", "--quiet", "--model", f"{FIXTURES}/model-format1", "--input", str(source),
                 "--output", str(tmp_path / "out.jsonl")]) == 2
    assert f"{source}, line 2: not UTF-8 text" in capsys.readouterr().err


def test_utf16_files_are_named_utf16(tmp_path, capsys):
    """Windows Notepad's "Unicode" and Excel's "Unicode Text" save UTF-16 with a byte order mark: said
    so, for texts, SpERT JSON and brat's files alike, not "invalid start byte"."""
    from spertmt.data.convert import read_brat

    texts, data, brat = tmp_path / "in.tsv", tmp_path / "train.json", tmp_path / "brat"
    texts.write_text("id\ttext\na\tMary lives in Paris.\n", encoding="utf-16")
    data.write_text('[{"tokens": ["a"], "entities": [], "relations": []}]', encoding="utf-16")
    brat.mkdir()
    (brat / "a.txt").write_text("Mary lives in Paris.", encoding="utf-16")
    assert main(["predict", "--quiet", "--model", f"{FIXTURES}/model-format1", "--input", str(texts),
                 "--output", str(tmp_path / "out.jsonl")]) == 2
    utf16 = "UTF-16 text, not UTF-8 (it begins with UTF-16's byte order mark)"
    assert f"{texts}, line 1: {utf16}; save the file as UTF-8" in capsys.readouterr().err
    assert main(["validate", str(data)]) == 1
    assert f"{data}: {utf16}" in capsys.readouterr().out
    with pytest.raises(ValueError, match=re.escape(f"a.txt: {utf16}")):
        read_brat(brat)


@pytest.mark.parametrize("size", ["0", "-1"])
def test_a_batch_size_below_one_is_named_not_taken_for_the_default(tmp_path, capsys, size):
    source = tmp_path / "in.txt"
    source.write_text("Mary lives in Paris.\n")
    model = f"{FIXTURES}/model-format1"
    assert main(["predict", "--quiet", "--model", model, "--input", str(source),
                 "--output", str(tmp_path / "out.jsonl"), "--batch-size", size]) == 2
    assert f"the batch size (--batch-size) must be a whole number of at least 1, not {size}" in capsys.readouterr().err
    # said before the model loads (and before the input is read): a folder that is no model is not reached
    assert main(["predict", "--quiet", "--model", str(tmp_path), "--input", str(source),
                 "--output", str(tmp_path / "out.jsonl"), "--batch-size", size]) == 2
    assert "--batch-size" in capsys.readouterr().err
    data = f"{FIXTURES}/tiny_train.json"
    assert main(["eval", "--quiet", "--model", model, "--data", data, "--batch-size", size]) == 2
    assert f"must be a whole number of at least 1, not {size}" in capsys.readouterr().err
    with pytest.raises(ValueError, match=f"batch_pieces must be a whole number of at least 1, not {size}"):
        spertmt.load(model, device="cpu").extract("Mary lives in Paris.", batch_pieces=int(size))


@pytest.mark.parametrize("size", [True, 2.5, "8"])
def test_a_batch_size_that_is_not_a_whole_number_is_named(size):
    # True was taken as 1 and 2.5 as 3 without a word; "8" ended in a TypeError from a comparison
    extractor = spertmt.load(f"{FIXTURES}/model-format1", device="cpu")
    with pytest.raises(ValueError, match=f"the batch size \\(--batch-size\\) must be a whole number of at least 1, "
                                         f"not {size!r}"):
        extractor.extract("Mary lives in Paris.", batch_size=size)
    with pytest.raises(ValueError, match="must be a whole number"):
        extractor.predict([spertmt.Document(["Mary", "lives", "in", "Paris", "."])], batch_size=size)


@pytest.mark.parametrize("value", ["no", 0.0, None])
def test_a_yes_or_no_argument_that_is_not_a_bool_is_named(value):
    # relations="no" extracted relations (a non-empty string is true) and 0.0 skipped them without a word
    extractor = spertmt.load(f"{FIXTURES}/model-format1", device="cpu")
    with pytest.raises(TypeError, match=f"relations must be True or False, not {value!r}"):
        extractor.extract("Mary lives in Paris.", relations=value)
    if value is not None:  # None: the model config's flat_ner
        with pytest.raises(TypeError, match=f"flat_ner must be True or False \\(or None\\), not {value!r}"):
            extractor.extract("Mary lives in Paris.", flat_ner=value)
    assert extractor.extract("Mary lives in Paris.", relations=False, flat_ner=None)


def test_empty_datasets_are_refused_by_commands_that_learn_or_tune(tiny_encoder, tmp_path, capsys):
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    args = _args(tiny_encoder, tmp_path / "run", 1)
    assert main([*args, "--set", f"train_path={empty}"]) == 2
    assert f"{empty}: no documents to train on" in capsys.readouterr().err and not (tmp_path / "run").exists()
    model = f"{FIXTURES}/model-format1"
    assert main(["tune-threshold", "--quiet", "--model", model, "--data", str(empty), "--dry-run"]) == 2
    assert f"{empty}: no documents to tune θ on" in capsys.readouterr().err
    assert main(["eval", "--quiet", "--model", model, "--data", str(empty)]) == 2
    assert f"{empty}: no documents to evaluate on" in capsys.readouterr().err
    assert main(["validate", str(empty)]) == 1
    assert "no documents (an empty list)" in capsys.readouterr().out


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_an_interrupted_predict_stops_in_one_line_and_leaves_no_debris(tmp_path, sig, code, word):
    source, output = tmp_path / "in.txt", tmp_path / "out.jsonl"
    source.write_text("Mary lives in Paris and works for Acme Corp in Berlin.\n" * 200000)  # ends long after
    output.write_text("an earlier result\n")
    process = subprocess.Popen([sys.executable, "-m", "spertmt", "predict", "--quiet", "--model",
                                f"{FIXTURES}/model-format1", "--input", str(source), "--output", str(output),
                                "--device", "cpu"], stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"},
                               # Ctrl-C as a terminal sends it, even where these tests run with SIGINT
                               # ignored (a shell's background job), which Python would inherit
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120

    def written() -> bool:  # the first results are in the temporary file: predict is at work
        return any(part.stat().st_size for part in tmp_path.glob("out.jsonl.*.tmp"))

    while not written() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "predict ended before it could be interrupted"
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code
    assert err.strip().splitlines()[-1] == f"spertmt predict: {word} ({'Ctrl-C' if code == 130 else 'SIGTERM'}); " \
                                          "nothing half-written was left"
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.jsonl"]
    assert output.read_text() == "an earlier result\n"  # the previous output stays whole


HOLDER = """
import sys, time
from spertmt.files import hold_folder
lock = hold_folder(sys.argv[1], "training into")
print("held", flush=True)
time.sleep(120)
"""


def test_a_run_folder_in_use_is_refused_and_a_killed_holder_leaves_no_lock(tiny_encoder, tmp_path, capsys):
    """Two writers of one run folder mixed its files (config and best/ of one run, last/ of the
    other); now the second is refused with one named line before it writes, and a holder killed
    with SIGKILL (no cleanup runs) holds nothing: the kernel drops its lock."""
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONSAFEPATH": "1"}, cwd=tmp_path)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(_args(tiny_encoder, run, 1)) == 2
        err = capsys.readouterr().err
        assert f"{run}: process {holder.pid} is training into this folder" in err, err
        assert not (run / "config.json").exists() and not (run / "log.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(_args(tiny_encoder, run, 1)) == 0  # the dead holder's lock is gone with it
    assert (run / "best").is_dir() and (run / ".lock").read_text() == str(os.getpid())
    assert main(_args(tiny_encoder, run, 1)) == 2  # the lock released, the usual check speaks
    assert "already holds a trained model" in capsys.readouterr().err


def test_quiet_training_shows_no_progress_bar_not_even_the_libraries(tiny_encoder, tmp_path):
    result = subprocess.run([sys.executable, "-m", "spertmt", *_args(tiny_encoder, tmp_path / "run", 1)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300,
                            env={**os.environ, "PYTHONSAFEPATH": "1", "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    assert "Loading weights" not in result.stderr and "it/s" not in result.stderr, result.stderr


def test_an_encoder_that_cannot_be_loaded_is_named_with_what_to_give(tmp_path, monkeypatch):
    """A hub name not in the cache (offline), a folder that does not exist, a folder without a model:
    before, transformers' messages without the encoder's name, for a folder one about tokenizer
    backends and sentencepiece."""
    from spertmt.model.encoder import load_encoder, load_tokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "empty").mkdir()
    for name, message in (("owner/not-cached", r"encoder 'owner/not-cached' cannot be loaded \(HF_HUB_OFFLINE is set"),
                          (str(tmp_path / "gone"), "gone': no such folder"),
                          (str(tmp_path / "empty"), "empty': the folder holds no config.json")):
        for load in (load_tokenizer, load_encoder):
            with pytest.raises(OSError, match=message):
                load(name)
