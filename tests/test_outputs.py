"""Nothing lost, nothing mislabelled (issue 37): outputs that cannot mix or overwrite an input,
weights readable as every other file, θ refused where it is not a finite number, types that
disagree with the model named."""

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spertmt.cli import main
from spertmt.files import atomic_output, check_output

from .conftest import FIXTURES

WRITER = """
import sys, time
from spertmt.files import atomic_output
with atomic_output(sys.argv[1]) as f:
    for _ in range(40):
        f.write(sys.argv[2] * 50 + "\\n")
        f.flush()
        time.sleep(0.005)
"""


def test_two_processes_writing_one_output_leave_one_whole_result(tmp_path):
    output = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(output), mark], env=env, cwd=tmp_path,
                                stderr=subprocess.PIPE, text=True) for mark in "AB"]
    codes = [w.wait(timeout=120) for w in writers]
    assert codes == [0, 0], [w.stderr.read() for w in writers]
    text = output.read_text()
    assert text in (("A" * 50 + "\n") * 40, ("B" * 50 + "\n") * 40)  # one run's results, whole
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temporary left


def test_two_writers_of_one_folder_fill_their_own_and_the_last_one_whole_stays(tmp_path):
    """Two exports (or saves) into one folder at once: each fills a temporary of its own (a shared
    `<folder>.tmp` let one delete the other's half-written files), the last to finish is what the
    folder holds, whole, and nothing is left beside it; a dead writer's temporary folder goes too."""
    from spertmt.files import atomic_folder

    folder = tmp_path / "onnx"
    dead = tmp_path / "onnx.999999999.0000.tmp"  # a pid no process has
    dead.mkdir()
    writers = [atomic_folder(folder) for _ in "AB"]
    first, second = (w.__enter__() for w in writers)
    assert first != second and dead.exists() is False
    for part in ("encoder", "heads"):
        (first / part).write_text("A")
        (second / part).write_text("B")
    for writer in writers:
        writer.__exit__(None, None, None)
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"encoder": "B", "heads": "B"}
    assert [p.name for p in tmp_path.iterdir()] == ["onnx"]


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path):
    """`kill -9` runs no cleanup: the temporary stays until the next write of the same output,
    which removes it; a live writer's temporary, and another output's, are left alone."""
    output = tmp_path / "out.jsonl"
    writer = subprocess.Popen([sys.executable, "-c", WRITER.replace("range(40)", "range(10**6)"), str(output), "A"],
                              env={**os.environ, "PYTHONSAFEPATH": "1"}, cwd=tmp_path)
    deadline = time.time() + 60
    while not list(tmp_path.glob("out.jsonl.*.tmp")) and time.time() < deadline:
        time.sleep(0.05)
    writer.kill()
    writer.wait()
    stale = list(tmp_path.glob("out.jsonl.*.tmp"))
    assert len(stale) == 1 and f".{writer.pid}." in stale[0].name
    live = tmp_path / f"out.jsonl.{os.getpid()}.0000.tmp"  # this process's: alive
    other = tmp_path / f"other.jsonl.{writer.pid}.0000.tmp"  # a dead writer of another output
    live.touch()
    other.touch()
    with atomic_output(output) as f:
        f.write("done\n")
    assert output.read_text() == "done\n" and not stale[0].exists()
    assert live.exists() and other.exists()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=30), min_size=1, max_size=4))
def test_interleaved_writers_of_one_path_never_mix(tmp_path_factory, contents):
    """However several writers of one path interleave, the path ends as one writer's whole text."""
    folder = tmp_path_factory.mktemp("writers")
    path = folder / "out.txt"
    writers = [atomic_output(path) for _ in contents]
    files = [w.__enter__() for w in writers]
    for round_ in range(3):  # each writes a third of its text in turn
        for f, text in zip(files, contents):
            f.write(text[round_ * 10:(round_ + 1) * 10])
    for w in writers:
        w.__exit__(None, None, None)
    with open(path, encoding="utf-8", newline="") as f:
        assert f.read() == contents[-1][:30]
    assert [p.name for p in folder.iterdir()] == ["out.txt"]


def test_an_output_that_is_the_input_is_refused_however_spelled(tmp_path, monkeypatch):
    source = tmp_path / "x.jsonl"
    source.write_text('{"text": "Ann met Bob."}\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.jsonl").symlink_to(source)
    os.link(source, tmp_path / "hard.jsonl")
    monkeypatch.chdir(tmp_path)
    for output in ("x.jsonl", tmp_path / "sub" / ".." / "x.jsonl", "link.jsonl", "hard.jsonl"):
        with pytest.raises(ValueError, match="this is the input file"):
            check_output(output, source)
    check_output(tmp_path / "y.jsonl", source)  # another file is fine


def test_predict_refuses_before_the_model_loads(tmp_path, capsys):
    source = tmp_path / "x.jsonl"
    source.write_text('{"text": "Ann met Bob."}\n')
    missing_model = str(tmp_path / "no-model")  # never reached: the output is checked first
    assert main(["predict", "--quiet", "--model", missing_model, "--input", str(source),
                 "--output", str(source)]) == 2
    assert "this is the input file" in capsys.readouterr().err
    assert source.read_text() == '{"text": "Ann met Bob."}\n'
    (tmp_path / "folder").mkdir()
    assert main(["predict", "--quiet", "--model", missing_model, "--input", str(source),
                 "--output", str(tmp_path / "folder")]) == 2
    assert "is a folder; give a file name to write the results to (or --output-format brat" in \
        capsys.readouterr().err
    assert main(["predict", "--quiet", "--model", missing_model, "--input", str(source),
                 "--output", str(tmp_path / "out.jsonl"), "--threshold", "nan"]) == 2
    assert "threshold = nan is not a finite number" in capsys.readouterr().err


def test_errors_of_predict_start_on_a_line_of_their_own(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"txt": "x"}\n')
    out = subprocess.run([sys.executable, "-m", "spertmt", "predict", "--model", f"{FIXTURES}/model-format1",
                          "--input", str(tmp_path / "bad.jsonl"), "--output", str(tmp_path / "o.jsonl")],
                         capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONSAFEPATH": "1"})
    assert out.returncode == 2
    assert any(line.startswith("spertmt predict: error: ") for line in out.stderr.splitlines()), out.stderr


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), -float("inf")])
def test_a_threshold_that_is_not_finite_is_refused_everywhere(threshold, capsys):
    from spertmt import Config
    from spertmt.inference.extractor import load

    with pytest.raises(ValueError, match="is not a finite number"):
        Config().override([f"threshold={threshold}"])
    extractor = load(f"{FIXTURES}/model-format1", device="cpu")
    with pytest.raises(ValueError, match="is not a finite number"):
        extractor.extract(["Ann met Bob."], threshold=threshold)
    assert main(["eval", "--quiet", "--model", f"{FIXTURES}/model-format1", "--data", f"{FIXTURES}/tiny_train.json",
                 f"--threshold={threshold}"]) == 2
    assert "is not a finite number" in capsys.readouterr().err


def test_saved_weights_get_the_umask_mode_like_every_other_file(tmp_path):
    from spertmt.inference.extractor import load

    old = os.umask(0o022)
    try:
        load(f"{FIXTURES}/model-format1", device="cpu").save_pretrained(tmp_path / "model")
        assert main(["export", "--format", "onnx", str(tmp_path / "model"), str(tmp_path / "exported")]) == 0
    finally:
        os.umask(old)
    for folder in ("model", "exported"):
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / folder).iterdir() if p.is_file()}
        assert modes["model.safetensors"] == 0o644, modes
        assert set(modes.values()) == {0o644}, modes


def test_an_export_into_a_folder_of_its_own_model_folder_holds_no_copy_of_itself(tmp_path):
    # `spertmt export M M/onnx`: copying M copied the export's own temporary into it, and the next
    # export the previous one too, nested ever deeper
    import spertmt
    from spertmt.inference.extractor import load

    model = tmp_path / "model"
    load(f"{FIXTURES}/model-format1", device="cpu").save_pretrained(model)
    for _ in range(2):
        assert main(["export", "--format", "onnx", "--no-int8-check", str(model), str(model / "onnx")]) == 0
    folders = sorted(p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_dir())
    assert folders == ["onnx", "onnx/tokenizer", "tokenizer"], folders
    assert spertmt.load(model / "onnx", runtime="onnx").extract(["John Smith works for Acme Corp."])


def test_eval_with_types_that_are_not_the_models_is_a_named_error(tmp_path, capsys):
    types = json.loads((Path(FIXTURES) / "tiny_types.json").read_text())
    types["entities"]["Adverse-Effect"] = types["entities"].pop(next(iter(types["entities"])))
    other = tmp_path / "other_types.json"
    other.write_text(json.dumps(types))
    assert main(["eval", "--quiet", "--model", f"{FIXTURES}/model-format1", "--data", f"{FIXTURES}/tiny_train.json",
                 "--types", str(other)]) == 2
    err = capsys.readouterr().err
    assert f"{other}: its entities are not those of the model" in err and "Adverse-Effect" in err
    assert "Traceback" not in err
    shutil.copy(Path(FIXTURES) / "tiny_types.json", tmp_path / "same.json")
    assert main(["eval", "--quiet", "--model", f"{FIXTURES}/model-format1", "--data", f"{FIXTURES}/tiny_train.json",
                 "--types", str(tmp_path / "same.json")]) == 0


def test_flat_decoding_keeps_the_best_scoring_of_overlapping_spans():
    from spertmt.inference.decoding import non_overlapping

    spans = [[0, 2], [1, 2], [3, 4], [2, 3]]
    assert non_overlapping([0, 1, 2, 3], spans, [1.0, 2.0, 0.5, 0.7]) == [1, 2, 3]
    assert non_overlapping([0, 1], [[0, 1], [0, 1]], [1.0, 1.0]) == [0]  # a tie: the earlier row


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(1, 4), st.floats(-5, 5)), max_size=12))
def test_flat_decoding_leaves_no_overlap_and_drops_only_for_a_better_span(candidates):
    from spertmt.inference.decoding import non_overlapping

    spans = [[start, start + width] for start, width, _ in candidates]
    scores = [score for _, _, score in candidates]
    kept = non_overlapping(list(range(len(spans))), spans, scores)

    def overlap(a, b):
        return spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]

    assert not any(overlap(a, b) for a in kept for b in kept if a < b)
    for dropped in set(range(len(spans))) - set(kept):
        assert any(overlap(dropped, k) and scores[k] >= scores[dropped] for k in kept)


def test_extraction_with_flat_ner_has_no_overlapping_entities():
    import dataclasses

    from spertmt.inference.extractor import load

    extractor = load(f"{FIXTURES}/model-format1", device="cpu")
    texts = ["Mary lives in Paris and works for Acme Corp in Berlin.", "John Smith met Ann in New York City."]
    nested = extractor.extract(texts, threshold=-1e9)  # every span an entity: overlaps everywhere
    assert any(a.start < b.end and b.start < a.end for r in nested for a in r.entities for b in r.entities
               if a is not b)
    extractor.model.config = dataclasses.replace(extractor.model.config, flat_ner=True)
    for result in extractor.extract(texts, threshold=-1e9):
        entities = result.entities
        assert entities and not any(a.start < b.end and b.start < a.end for i, a in enumerate(entities)
                                    for b in entities[i + 1:])
        assert all(0 <= rel.head < len(entities) and 0 <= rel.tail < len(entities) for rel in result.relations)


def test_training_decides_raw_text_decoding_from_its_data(tiny_encoder, tmp_path):
    """flat_ner unset: a model trained on data without overlapping entities extracts flat; one
    trained on data with some keeps SpERT's nested decoding. Scoring stays SpERT's either way.
    hyphenated_words unset: raw text's words follow the training data's hyphenated words."""
    from spertmt.data.documents import has_overlapping_entities, read_documents, read_types

    types = read_types(Path(FIXTURES) / "tiny_types.json")
    assert has_overlapping_entities(read_documents(Path(FIXTURES) / "tiny_train.json", types))  # (1, 4), (3, 4)
    documents = json.loads((Path(FIXTURES) / "tiny_train.json").read_text())
    flat = [d for d in documents if not any(a["start"] < b["end"] and b["start"] < a["end"]
                                            for i, a in enumerate(d["entities"]) for b in d["entities"][i + 1:])]
    flat[0]["tokens"][0] = "strife-torn"  # one hyphenated word, none apart: raw text keeps them whole
    (tmp_path / "flat.json").write_text(json.dumps(flat))
    assert len(flat) == len(documents) - 1 and not has_overlapping_entities(
        read_documents(tmp_path / "flat.json", types)
    )
    shutil.copy(Path(FIXTURES) / "tiny_types.json", tmp_path / "tiny_types.json")
    shutil.copy(Path(FIXTURES) / "tiny_train.json", tmp_path / "tiny_train.json")
    for data, expected, hyphenated in (("flat.json", True, "joined"), ("tiny_train.json", False, "apart")):
        output = tmp_path / f"run-{data}"
        assert main(["train", "--quiet", "--output", str(output), "--set", f"data_root={tmp_path}",
                     "--set", f"train_path={data}", "--set", "dev_path=tiny_train.json", "--set", "test_path=",
                     "--set", "types_path=tiny_types.json", "--set", f"encoder={tiny_encoder}",
                     "--set", "max_length=128", "--set", "epochs=1", "--set", "batch_size=2"]) == 0
        assert json.loads((output / "best" / "config.json").read_text())["flat_ner"] is expected
        assert json.loads((output / "best" / "config.json").read_text())["hyphenated_words"] == hyphenated
        assert json.loads((output / "config.json").read_text())["flat_ner"] is None  # the run's settings
        assert json.loads((output / "config.json").read_text())["hyphenated_words"] is None


@pytest.mark.parametrize("mode", [["mode=spertmt"], ["mode=spertmt", "multi_task=false"], ["mode=spert"]],
                         ids=lambda m: "-".join(m))
def test_entity_only_data_trains_extracts_and_exports_in_every_mode(tiny_encoder, tmp_path, mode):
    """A corpus and types file without relation types (an NER corpus) trains, picks its epoch on dev
    NER F1 (a relation F1 is 0 at every epoch), extracts entities and no relation, and exports to
    ONNX Runtime with the same entities. It failed with a traceback in training, then in export."""
    import spertmt

    documents = json.loads((Path(FIXTURES) / "tiny_train.json").read_text())
    for document in documents:
        document["relations"] = []
    (tmp_path / "ner.json").write_text(json.dumps(documents))
    types = json.loads((Path(FIXTURES) / "tiny_types.json").read_text())
    types["relations"] = {}
    (tmp_path / "ner_types.json").write_text(json.dumps(types))
    run = tmp_path / "run"
    assert main(["train", "--quiet", "--output", str(run), "--set", f"data_root={tmp_path}", "--set", "epochs=2",
                 "--set", "train_path=ner.json", "--set", "dev_path=ner.json", "--set", "test_path=ner.json",
                 "--set", "types_path=ner_types.json", "--set", f"encoder={tiny_encoder}", "--set", "max_length=128",
                 "--set", "batch_size=2", *(f"--set={m}" for m in mode)]) == 0
    assert json.loads((run / "best" / "config.json").read_text())["select_metric"] == "ner.micro.f1"
    dev = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()
           if json.loads(line)["event"] == "dev"]
    assert [e["ner.micro.f1"] for e in dev] == [e["metrics"]["ner"]["micro"]["f1"] for e in dev]
    texts = [" ".join(d["tokens"]) for d in documents]
    torch_results = spertmt.load(run / "best", device="cpu").extract(texts, threshold=-100.0)
    assert any(r.entities for r in torch_results) and not any(r.relations for r in torch_results)
    assert main(["export", str(run / "best"), str(tmp_path / "onnx"), "--no-int8-check"]) == 0
    onnx_results = spertmt.load(tmp_path / "onnx", runtime="onnx").extract(texts, threshold=-100.0)
    entities = lambda results: [[(e.start, e.end, e.type) for e in r.entities] for r in results]  # noqa: E731
    assert entities(onnx_results) == entities(torch_results) and not any(r.relations for r in onnx_results)


def test_heads_give_probabilities_in_0_1():
    import torch

    from spertmt.model.heads import MultiTaskHead, NoneClassHead, SigmoidHead

    x = torch.randn(2, 5, 8) * 10
    head = MultiTaskHead(8, 3)
    ident, outputs = head(x)
    torch.testing.assert_close(head.probabilities(ident, outputs), ident.sigmoid().unsqueeze(-1).expand(2, 5, 3))
    head = NoneClassHead(8, 3)
    _, outputs = head(x)
    torch.testing.assert_close(head.probabilities(None, outputs), outputs.softmax(-1)[..., 1:])
    head = SigmoidHead(8, 3)
    _, outputs = head(x)
    assert ((head.probabilities(None, outputs) >= 0) & (head.probabilities(None, outputs) <= 1)).all()


def test_extractions_carry_a_probability_beside_each_score(tmp_path):
    from spertmt.inference.extractor import load
    from spertmt.inference.streaming import predict_file

    extractor = load(f"{FIXTURES}/model-format1", device="cpu")
    results = extractor.extract(["Mary lives in Paris and works for Acme Corp in Berlin."], threshold=-1e9)
    assert results[0].entities and results[0].relations
    for item in results[0].entities + results[0].relations:
        assert item.score is not None and 0 <= item.probability <= 1
    given = extractor.extract(["Ann met Bob."], [[{"start": 0, "end": 3, "type": "Peop"}]])
    assert given[0].entities[0].probability is None  # the user's entity: nothing predicted
    (tmp_path / "in.txt").write_text("Mary lives in Paris and works for Acme Corp in Berlin.\n")
    for output in ("out.jsonl", "out.json"):
        predict_file(extractor, tmp_path / "in.txt", tmp_path / output, threshold=-1e9, progress=False)
        text = (tmp_path / output).read_text()
        assert '"probability": ' in text
