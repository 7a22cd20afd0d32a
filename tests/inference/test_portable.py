"""The runtime without torch (spertmt.inference.portable): the exported model predicts what the
PyTorch model predicts, its numpy steps equal the PyTorch ones, and loading and extracting import
neither torch nor transformers."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spertmt
from spertmt import ops
from spertmt.inference import portable
from spertmt.inference.engines import onnx as onnx_engine
from spertmt.model.spertmt import ordered_pairs

from ..conftest import FIXTURES, put_in_hub_cache
from ..fixtures.make_model_fixture import OUT as TRAINED

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")



def _structure(results):
    return [([(e.token_start, e.token_end, e.type) for e in r.entities],
             [(x.head, x.tail, x.type) for x in r.relations]) for r in results]


def _scores(results):
    return [v for r in results for v in [e.score for e in r.entities] + [e.probability for e in r.entities]
            + [x.score for x in r.relations] + [x.probability for x in r.relations] if v is not None]


@pytest.mark.parametrize("threshold", [None, -1.0])
def test_the_exported_model_predicts_what_pytorch_predicts(exported, threshold):
    """θ = -1 keeps most spans of the tiny model: hundreds of entities and relations to compare."""
    torch_model = spertmt.load(TRAINED, device="cpu")
    onnx_model = spertmt.load(exported, runtime="onnx")
    assert isinstance(onnx_model, portable.PortableExtractor)
    assert isinstance(onnx_model, spertmt.ExtractorLike) and isinstance(torch_model, spertmt.ExtractorLike)
    documents = spertmt.read_documents(FIXTURES + "/tiny_train.json", torch_model.types)
    texts = [" ".join(d.tokens) for d in documents] + ["", "Berlin."]
    want, got = torch_model.extract(texts, threshold=threshold), onnx_model.extract(texts, threshold=threshold)
    assert _structure(got) == _structure(want)
    if threshold is not None:
        assert sum(len(r.relations) for r in want) > 100
    np.testing.assert_allclose(_scores(got), _scores(want), atol=1e-4)
    given = [[{"type": e.type, "token_start": e.start, "token_end": e.end} for e in d.entities] for d in documents]
    words = [d.tokens for d in documents]
    assert _structure(onnx_model.extract(words, given, threshold=threshold)) == _structure(
        torch_model.extract(words, given, threshold=threshold))
    pytorch_docs = torch_model.predict(documents, threshold=threshold)
    onnx_docs = onnx_model.predict(documents, threshold=threshold)

    def decisions(docs):
        return [([(e.start, e.end, e.type) for e in d.entities], [(r.head, r.tail, r.type) for r in d.relations])
                for d in docs]

    assert decisions(onnx_docs) == decisions(pytorch_docs)


_PIECES = [*"Aa Bb.!?…。-\n\r\t\"'()2 ", "Mr", "U.S", "\u200b", "e\u0301", "🙂", "John", "Smith", "works for",
           "Acme", "lives in", "Berlin"]


@pytest.fixture(scope="module")
def both_engines(exported):
    return spertmt.load(TRAINED, device="cpu"), spertmt.load(exported, runtime="onnx")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.lists(st.sampled_from(_PIECES), max_size=80).map("".join), min_size=1, max_size=4),
       threshold=st.sampled_from([None, -1.0, 0.0]))
def test_any_text_gets_the_same_decisions_from_both_engines(both_engines, texts, threshold):
    """Random raw text (sentence ends, abbreviations, marks, emoji, line breaks): the same entities
    and relations from the exported model as from PyTorch."""
    torch_model, onnx_model = both_engines
    assert _structure(onnx_model.extract(texts, threshold=threshold)) == \
        _structure(torch_model.extract(texts, threshold=threshold))


def test_both_engines_keep_the_boundary_contract(exported):
    """engines.base.Engine: predict_batch gives the nine arrays of decoding.decode_arrays with the
    documented shapes, and the two engines' decisions on one batch are equal (spans past a
    document's words are padding: what an engine leaves there is never read)."""
    torch_model = spertmt.load(TRAINED, device="cpu")
    onnx_model = spertmt.load(exported, runtime="onnx")
    documents = spertmt.read_documents(FIXTURES + "/tiny_train.json", torch_model.types)[:3]
    results = []
    for engine in (torch_model.engine, onnx_model.engine):
        with engine.running():
            arrays = engine.predict_batch(documents, engine.encode(documents), -1.0, -1.0, True, None)
        spans, keep, types, scores, probabilities, pairs, relation_keep, relation_scores, relation_probs = arrays
        B, S = keep.shape
        assert (B, S, 2) == spans.shape and types.shape == scores.shape == probabilities.shape == (B, S)
        R = len(torch_model.types.relations)
        assert pairs.shape[::2] == (B, 2) and relation_keep.shape == relation_scores.shape == pairs.shape[:2] + (R,)
        assert relation_probs.shape == relation_keep.shape and keep.dtype == relation_keep.dtype == np.bool_
        results.append(arrays)
    (spans, keep, types, scores, probabilities, pairs, relation_keep, *relation), other = results
    np.testing.assert_array_equal(other[0], spans)
    real = spans[..., 1] <= np.array([len(d.tokens) for d in documents])[:, None]  # padding spans decide nothing
    np.testing.assert_array_equal(other[1], keep)
    np.testing.assert_array_equal(other[2][real], types[real])
    for k, want in ((3, scores), (4, probabilities)):
        np.testing.assert_allclose(other[k][real], want[real], atol=1e-4)
    np.testing.assert_array_equal(other[5], pairs)
    np.testing.assert_array_equal(other[6], relation_keep)
    assert relation_keep.sum() > 10  # θ = -1: relations to compare
    for k, want in ((7, relation[0]), (8, relation[1])):
        np.testing.assert_allclose(other[k][relation_keep], want[relation_keep], atol=1e-4)


def test_a_third_engine_is_one_class_and_shares_everything_after_the_heads():
    """An engine is a class with encode and predict_batch (engines.base.Engine); an EngineExtractor
    around it extracts through the shared loop, θ rule, decoding and raw-text handling. Here a third
    engine runs the PyTorch engine's decisions and counts its batches."""
    from spertmt.inference.engines.base import EngineExtractor

    torch_model = spertmt.load(TRAINED, device="cpu")

    class Counting:
        def __init__(self, inner):
            self.inner, self.types, self.config, self.batches = inner, inner.types, inner.config, 0
            self.extract_batching = inner.extract_batching

        def running(self):
            return self.inner.running()

        def set_prediction_settings(self, **settings):
            self.inner.set_prediction_settings(**settings)

        def encode(self, documents):
            return self.inner.encode(documents)

        def predict_batch(self, documents, encodings, *rest):
            self.batches += 1
            return self.inner.predict_batch(documents, encodings, *rest)

    class CountingExtractor(EngineExtractor):
        def __init__(self, inner):
            self.engine, self.thresholds, self.calibration = Counting(inner.engine), inner.thresholds, None

    third = CountingExtractor(torch_model)
    texts = ["John Smith works for Acme Corp in Berlin.", "Mary lives in Paris. She was born in Rome.", ""]
    assert isinstance(third, spertmt.ExtractorLike)
    got = third.extract(texts, threshold=-1.0, batch_size=2)
    want = torch_model.extract(texts, threshold=-1.0, batch_size=2)
    assert [r.to_dict() for r in got] == [r.to_dict() for r in want]
    assert third.engine.batches == 2  # three sentences, batches of two


def test_documents_longer_than_the_window_are_stitched_as_in_pytorch(exported, tmp_path):
    """The fixture model's window (64 pieces) is short enough that its documents, joined, need
    several windows: every candidate span, and relations among the gold entities across windows."""
    torch_model = spertmt.load(TRAINED, device="cpu")
    onnx_model = spertmt.load(exported, runtime="onnx")
    documents = spertmt.read_documents(FIXTURES + "/tiny_train.json", torch_model.types)
    words, given = [], []
    for d in documents * 3:
        given += [{"type": e.type, "token_start": len(words) + e.start, "token_end": len(words) + e.end}
                  for e in d.entities]
        words += d.tokens
    assert len(torch_model.tokenizer(words, is_split_into_words=True)["input_ids"]) > 64
    for kwargs in ({"relations": False}, {"entities": [given]}):
        want = torch_model.extract([words], threshold=-1.0, **kwargs)
        got = onnx_model.extract([words], threshold=-1.0, **kwargs)
        assert _structure(got) == _structure(want) and len(want[0].entities) >= 30
        np.testing.assert_allclose(_scores(got), _scores(want), atol=1e-4)
    assert len(want[0].relations) > 100


@pytest.mark.parametrize("relations", [{"relation": {"*": -0.2}}, {"relation_joint": {"*": 0.0688}}],
                         ids=["theta", "joint-cut"])
def test_tuned_thresholds_apply_as_in_pytorch(exported, tmp_path, relations):
    """θ tuned for F1, and a precision target's cut on relations' joint score (which keeps
    about half of the fixture model's relations here)."""
    import shutil

    tuned = {"entity": {"*": -0.5, "Peop": -2.0}, **relations}
    folders = {}
    for name, source in (("torch", TRAINED), ("onnx", exported)):
        folders[name] = tmp_path / name
        shutil.copytree(source, folders[name])
        (folders[name] / "thresholds.json").write_text(json.dumps(tuned))
    texts = [" ".join(d.tokens) for d in spertmt.read_documents(FIXTURES + "/tiny_train.json")]
    want = spertmt.load(folders["torch"], device="cpu").extract(texts)
    got = spertmt.load(folders["onnx"], runtime="onnx").extract(texts)
    assert _structure(got) == _structure(want) and sum(len(r.entities) for r in want) > 0
    assert sum(len(r.relations) for r in want) > 0


def test_calibration_applies_as_in_pytorch(exported, tmp_path):
    """calibration.json, fitted on the PyTorch model, is read by both engines alike (and export
    carries it: it copies the model folder)."""
    import shutil

    from spertmt.cli import main

    data = FIXTURES + "/tiny_train.json"
    source = tmp_path / "torch"
    shutil.copytree(TRAINED, source)
    (source / "thresholds.json").write_text(json.dumps({"entity": {"*": -1.0}, "relation": {"*": -1.0}}))
    assert main(["calibrate", "--quiet", "--model", str(source), "--data", data, "--device", "cpu"]) == 0
    onnx_folder = tmp_path / "onnx"
    shutil.copytree(exported, onnx_folder)
    for name in ("thresholds.json", "calibration.json"):
        shutil.copy(source / name, onnx_folder / name)
    texts = [" ".join(d.tokens) for d in spertmt.read_documents(data)]
    want = spertmt.load(source, device="cpu").extract(texts)
    got = spertmt.load(onnx_folder, runtime="onnx").extract(texts)
    assert _structure(got) == _structure(want)
    np.testing.assert_allclose(_scores(got), _scores(want), atol=1e-4)
    plain = spertmt.load(exported, runtime="onnx").extract(texts, threshold=-1.0)
    assert [e.probability for r in plain for e in r.entities] != [e.probability for r in got for e in r.entities]


def test_a_relation_calibration_on_the_joint_score_applies_as_in_pytorch(exported, tmp_path):
    """calibration.json whose relation maps read the joint score (decoding.joint_score): both engines
    give every relation the map of its joint score."""
    import shutil

    from spertmt.inference import calibration as cal
    from spertmt.inference.thresholds import relation_joint

    calibration = cal.Calibration({"relation": cal.HeadCalibration({"*": cal.Platt(4.0, 10.0, True)}, "platt", False,
                                                                   cal.JOINT_SCORE)})
    folders = {}
    for name, source in (("torch", TRAINED), ("onnx", exported)):
        folders[name] = tmp_path / name
        shutil.copytree(source, folders[name])
        (folders[name] / "thresholds.json").write_text(json.dumps({"entity": {"*": -1.0}, "relation": {"*": -1.0}}))
        cal.save_calibration(folders[name], calibration)
    documents = spertmt.read_documents(FIXTURES + "/tiny_train.json")
    torch_model = spertmt.load(folders["torch"], device="cpu")
    want = torch_model.predict(documents)
    got = spertmt.load(folders["onnx"], runtime="onnx").predict(documents)
    probabilities = [r.probability for d in want for r in d.relations]
    assert len(probabilities) > 10 and len(set(np.round(probabilities, 4))) > 5
    np.testing.assert_allclose([r.probability for d in got for r in d.relations], probabilities, atol=1e-4)
    joint = relation_joint(want, torch_model.config.multitask_heads)
    np.testing.assert_allclose(probabilities, calibration.heads["relation"].maps["*"](np.array(joint)), atol=1e-6)


def test_max_pool_equals_the_span_kernel():
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 11, 5, generator=g)
    starts = torch.randint(0, 11, (3, 40), generator=g)
    ends = torch.minimum(starts + torch.randint(0, 5, (3, 40), generator=g), torch.tensor(11))  # empty ranges too
    want = ops.span_max_pool(hidden, starts, ends)
    got = onnx_engine.max_pool(hidden.numpy(), torch.stack([starts, ends], -1).numpy())
    np.testing.assert_array_equal(got, want.numpy())


def test_enumerated_pooling_equals_the_enumerating_kernel():
    g = torch.Generator().manual_seed(2)
    hidden = torch.randn(3, 14, 6, generator=g)
    word_starts = torch.tensor([[1, 2, 2, 4, 7, 9, 12], [1, 3, 5, 6, 8, 0, 0], [1, 2, 3, 4, 5, 6, 7]])
    word_ends = torch.tensor([[2, 2, 4, 7, 9, 12, 13], [3, 5, 6, 8, 10, 0, 0], [2, 3, 4, 5, 6, 7, 8]])
    num_words = torch.tensor([7, 5, 7])  # word 1 of document 0 has no piece; document 1 is padded
    want = ops.enumerate_span_max_pool(hidden, word_starts, word_ends, num_words, 4)
    got = onnx_engine.enumerated_max_pool(hidden.numpy(), word_starts.numpy(), word_ends.numpy(), 4)
    mask = want.mask.numpy()
    np.testing.assert_array_equal(got[mask], want.pooled.numpy()[mask])


@pytest.mark.parametrize("longest", [3, onnx_engine.GATHERED_PIECES + 4])  # gathered, and max_pool's pass
def test_word_maxima_equal_max_pool(longest):
    rng = np.random.default_rng(longest)
    hidden = rng.standard_normal((4, 2 + 9 * longest, 6)).astype(np.float32)  # room for every word's pieces
    lengths = rng.integers(0, longest + 1, (4, 9))  # words without pieces too
    lengths[0, 0] = longest
    word_ends = 1 + np.cumsum(lengths, 1)
    word_starts = word_ends - lengths
    word_starts[3, 5:] = word_ends[3, 5:] = 0  # a padded document
    # each word's maximum taken one by one (both ways of word_maxima, and max_pool, against it)
    want = np.array([[hidden[b, s:e].max(0) if e > s else np.full(6, -np.inf, np.float32)
                      for s, e in zip(word_starts[b], word_ends[b])] for b in range(4)])
    np.testing.assert_array_equal(onnx_engine.word_maxima(hidden, word_starts, word_ends), want)
    np.testing.assert_array_equal(onnx_engine.max_pool(hidden, np.stack([word_starts, word_ends], -1),
                                                       empty=-np.inf), want)


def test_candidate_spans_and_ordered_pairs_equal_the_models():
    np.testing.assert_array_equal(np.array(onnx_engine.candidate_spans(7, 3)),
                                  ops.reference.enumerate_spans(7, 3).numpy())
    keep = torch.rand(4, 9, generator=torch.Generator().manual_seed(1)) > 0.5
    keep[2] = False
    pairs, mask, flat = ordered_pairs(keep)
    got = onnx_engine.ordered_pairs(keep.numpy())
    np.testing.assert_array_equal(got[0], pairs.numpy())
    np.testing.assert_array_equal(got[1], mask.numpy())
    for a, b in zip(got[2], flat):
        np.testing.assert_array_equal(a, b.numpy())


def test_loading_and_extracting_import_neither_torch_nor_transformers(exported):
    code = (f"import sys, spertmt\n"
            f"model = spertmt.load({str(exported)!r}, runtime='onnx')\n"
            "result = model.extract(['John Smith works for Acme Corp in Berlin.'], threshold=-1.0)[0]\n"
            "assert result.entities, result\n"
            "loaded = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})


def test_the_command_line_predicts_without_torch(exported, tmp_path):
    """`spertmt predict --runtime onnx` on an exported folder: the same results as PyTorch's, and
    neither torch nor transformers imported."""
    from spertmt.cli import main

    source = tmp_path / "in.txt"
    source.write_text("John Smith works for Acme Corp in Berlin.\nMary lives in Paris.\n")
    args = ["predict", "--quiet", "--input", str(source), "--threshold", "-1"]
    onnx_args = [*args, "--model", str(exported), "--runtime", "onnx", "--output", str(tmp_path / "onnx.jsonl")]
    code = ("import sys\nfrom spertmt.cli import main\n"
            f"assert main({onnx_args!r}) == 0\n"
            "loaded = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert main([*args, "--model", str(TRAINED), "--device", "cpu", "--output", str(tmp_path / "torch.jsonl")]) == 0
    got = [json.loads(line) for line in (tmp_path / "onnx.jsonl").read_text().splitlines()]
    want = [json.loads(line) for line in (tmp_path / "torch.jsonl").read_text().splitlines()]
    assert [[(e["start"], e["end"], e["type"]) for e in r["entities"]] for r in got] == \
        [[(e["start"], e["end"], e["type"]) for e in r["entities"]] for r in want]
    assert [len(r["relations"]) for r in got] == [len(r["relations"]) for r in want] and want[0]["relations"]


def test_a_hub_repo_id_of_an_exported_model_runs_without_torch(exported, tmp_path):
    """An exported folder uploaded to the hub, read offline from a cache laid out as huggingface_hub
    lays it out: `spertmt.load(repo_id, runtime="onnx")` and `spertmt predict --model repo_id` run it
    without torch, with the local folder's results."""
    put_in_hub_cache(exported, tmp_path / "hf" / "hub", "acme/tiny-onnx")
    (tmp_path / "in.txt").write_text("John Smith works for Acme Corp in Berlin.\n")
    code = ("import json, sys, spertmt\n"
            "from spertmt.cli import main\n"
            "model = spertmt.load('acme/tiny-onnx', runtime='onnx')\n"
            "result = model.extract(['John Smith works for Acme Corp in Berlin.'], threshold=-1.0)[0]\n"
            f"assert main(['predict', '--quiet', '--model', 'acme/tiny-onnx', '--runtime', 'onnx', '--threshold', "
            f"'-1', '--input', {str(tmp_path / 'in.txt')!r}, '--output', {str(tmp_path / 'out.jsonl')!r}]) == 0\n"
            "loaded = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
            "assert not loaded, loaded\n"
            "print(json.dumps([[e.start, e.end, e.type, e.score] for e in result.entities]))\n")
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    local = spertmt.load(exported, runtime="onnx").extract(["John Smith works for Acme Corp in Berlin."],
                                                          threshold=-1.0)[0]
    assert json.loads(done.stdout.splitlines()[-1]) == [[e.start, e.end, e.type, e.score] for e in local.entities]
    assert local.entities
    row = json.loads((tmp_path / "out.jsonl").read_text())
    assert [(e["start"], e["end"], e["type"]) for e in row["entities"]] == \
        [(e.start, e.end, e.type) for e in local.entities]


def test_the_spacy_component_and_the_batch_predictor_run_the_exported_model(exported):
    """runtime="onnx" in the spaCy component and in Ray's BatchPredictor: the same entities and
    relations as the PyTorch model's; the BatchPredictor's worker imports no torch (spaCy's own
    thinc imports torch where it is installed, so only the results are compared there)."""
    spacy = pytest.importorskip("spacy")
    text = "John Smith works for Acme Corp in Berlin. Mary lives in Paris."

    def annotated(**config):
        nlp = spacy.blank("en")
        nlp.add_pipe("spertmt", config={"threshold": -1.0, "device": "cpu", **config})
        doc = nlp(text)
        return ([(s.start, s.end, s.label_) for s in doc.spans["spertmt"]],
                [(r.head.start, r.tail.start, r.type) for r in doc._.relations])

    onnx = annotated(model=str(exported), runtime="onnx")
    assert onnx == annotated(model=str(TRAINED)) and onnx[0] and onnx[1]

    code = ("import json, sys\n"
            "from spertmt import BatchPredictor\n"
            f"predictor = BatchPredictor({str(exported)!r}, runtime='onnx', threshold=-1.0, threads=1)\n"
            f"out = predictor({{'text': [{text!r}]}})\n"
            "loaded = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
            "assert not loaded, loaded\n"
            "print(out['entities'][0])\n")
    done = subprocess.run([sys.executable, "-c", code], env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    from spertmt import BatchPredictor

    expected = BatchPredictor(str(TRAINED), device="cpu", threshold=-1.0)({"text": [text]})["entities"][0]
    assert [(e["start"], e["end"], e["type"]) for e in json.loads(done.stdout.splitlines()[-1])] == \
        [(e["start"], e["end"], e["type"]) for e in json.loads(expected)]


@pytest.mark.slow
def test_an_install_without_torch_extracts(exported, tmp_path):
    """The recipe of docs/faster.md ("Extraction without torch"): a fresh virtual environment with only the
    `portable` extra's packages (pyproject.toml) and spertmt's own files (as `pip install --no-deps`
    leaves them) extracts from an exported folder, and has no torch or transformers to import."""
    import shutil
    from pathlib import Path

    from spertmt.config import tomllib  # tomli before Python 3.11

    root = Path(__file__).resolve().parents[2]
    requirements = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]["portable"]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *requirements], check=True)
    site = tmp_path / "site"
    shutil.copytree(Path(spertmt.__file__).parent, site / "spertmt", ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import importlib.util, sys, spertmt\n"
            "assert importlib.util.find_spec('torch') is None and importlib.util.find_spec('transformers') is None\n"
            f"result = spertmt.load({str(exported)!r}, runtime='onnx').extract('John Smith works for Acme.', "
            "threshold=-1.0)[0]\n"
            "print(len(result.entities), len(result.relations))\n")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], check=True, capture_output=True, text=True,
                         env={"PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}).stdout
    want = spertmt.load(TRAINED, device="cpu").extract("John Smith works for Acme.", threshold=-1.0)[0]
    assert out.split() == [str(len(want.entities)), str(len(want.relations))]


def _damaged_copy(exported, tmp_path, name, how):
    import shutil

    folder = tmp_path / f"copy-{name.replace('/', '-')}-{how}"
    shutil.copytree(exported, folder)
    path = folder / name
    if how == "cut":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "missing":
        path.unlink()
    else:  # garbage of the same size: past the size check, into the reader
        path.write_bytes(b"{" * path.stat().st_size)
    return folder


def _manifest_files(exported):
    return list(json.loads((exported / "manifest.json").read_text())["files"])


@pytest.mark.parametrize("how", ["cut", "missing", "garbage"])
def test_every_damaged_file_of_an_exported_folder_is_named(exported, tmp_path, capsys, how):
    """Each file the runtime reads, cut short, missing or overwritten: `spertmt.load` and
    `spertmt predict --runtime onnx` end in one line naming the file, exit code 2, no traceback."""
    from spertmt.cli import main

    # Without manifest.json the folder is a PyTorch model folder (which an exported one is too).
    names = _manifest_files(exported) + (["manifest.json"] if how != "missing" else [])
    assert {"encoder.onnx", "encoder-int8.onnx", "entities.onnx", "relations.onnx", "config.json",
            "types.json", "tokenizer/tokenizer.json"} <= set(names)
    source = tmp_path / "in.txt"
    source.write_text("Mary lives in Paris.\n")
    for name in names:
        folder = _damaged_copy(exported, tmp_path, name, how)
        precision = "int8" if name == "encoder-int8.onnx" else "fp32"
        with pytest.raises((ValueError, FileNotFoundError), match=re.escape(name)):
            spertmt.load(folder, runtime="onnx", precision=precision)
        assert main(["predict", "--quiet", "--model", str(folder), "--runtime", "onnx", "--precision", precision,
                     "--input", str(source), "--output", str(tmp_path / "out.jsonl")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and name in err and "Traceback" not in err, (name, err)
        assert "export" in err or "manifest" in name, err


@pytest.mark.parametrize("content", ['{"relation_joint": {"*": "high"}}', '{"relation": {"*": NaN}}',
                                     '{"entity": 0.5}', '[1]', '{"entiy": {"*": 1.0}}'])
def test_a_damaged_thresholds_file_is_named_by_both_engines(exported, tmp_path, capsys, content):
    import shutil

    from spertmt.cli import main

    source = tmp_path / "in.txt"
    source.write_text("Mary lives in Paris.\n")
    for runtime, model in (("torch", TRAINED), ("onnx", exported)):
        folder = tmp_path / runtime
        shutil.copytree(model, folder)
        (folder / "thresholds.json").write_text(content)
        with pytest.raises(ValueError, match=re.escape(str(folder / "thresholds.json")) + ".*tune θ again"):
            spertmt.load(folder, runtime=runtime)
        assert main(["predict", "--quiet", "--model", str(folder), "--runtime", runtime, "--input", str(source),
                     "--output", str(tmp_path / "out.jsonl")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "thresholds.json" in err and "Traceback" not in err, err


def test_a_graph_onnx_runtime_cannot_read_is_named_without_the_manifests_sizes(exported, tmp_path):
    """A folder exported before the manifest listed its files: a graph cut short still gets one
    named line (ONNX Runtime's own error, wrapped), and a manifest of another format says so."""
    folder = _damaged_copy(exported, tmp_path, "relations.onnx", "cut")
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["files"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="relations.onnx cannot be read by ONNX Runtime"):
        spertmt.load(folder, runtime="onnx")
    manifest["format"] = 99
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"format 99 \(spertmt .*\); this spertmt .* reads format 1"):
        spertmt.load(folder, runtime="onnx")


def test_an_onnx_runtime_older_than_the_export_needs_is_named(exported, tmp_path, capsys, monkeypatch):
    """The encoders hold opset 23's Attention: ONNX Runtime 1.22 would fail inside the session with
    its own message; the folder's manifest names the release it needs and the load says so."""
    import onnxruntime

    from spertmt.cli import main

    assert json.loads((exported / "manifest.json").read_text())["onnxruntime"] == "1.23"
    monkeypatch.setattr(onnxruntime, "__version__", "1.22.1")
    with pytest.raises(ValueError, match=r"need onnxruntime 1\.23 or later .* this is 1\.22\.1: pip install -U"):
        spertmt.load(exported, runtime="onnx")
    source = tmp_path / "in.txt"
    source.write_text("Mary lives in Paris.\n")
    assert main(["predict", "--quiet", "--model", str(exported), "--runtime", "onnx", "--input", str(source),
                 "--output", str(tmp_path / "out.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "onnxruntime>=1.23" in err and "Traceback" not in err, err
    monkeypatch.setattr(onnxruntime, "__version__", "1.23.0.dev20250601")  # a nightly of the release is enough
    spertmt.load(exported, runtime="onnx")


def test_info_says_when_onnx_runtime_is_too_old_for_exports(monkeypatch):
    import onnxruntime

    from spertmt.info import collect

    assert "too old" not in collect()["onnxruntime"]
    monkeypatch.setattr(onnxruntime, "__version__", "1.22.1")
    found = collect()["onnxruntime"]
    assert found.startswith("1.22.1") and "too old" in found and "pip install -U 'onnxruntime>=1.23'" in found


def test_eval_on_an_exported_folder_scores_without_torch(exported, tmp_path):
    """`spertmt eval --runtime onnx` loads the torch-free engine (torch made unimportable in the
    process) and gives the metrics the PyTorch model gives; a setting the graphs fix is refused."""
    from spertmt.cli import main

    data = FIXTURES + "/tiny_train.json"
    args = ["eval", "--quiet", "--data", data, "--threshold", "-1", "--set", "max_span_width=6"]
    onnx_args = [*args, "--model", str(exported), "--runtime", "onnx", "--output", str(tmp_path / "onnx")]
    code = ("import sys\nsys.modules['torch'] = None  # import torch now fails\nfrom spertmt.cli import main\n"
            f"sys.exit(main({onnx_args!r}))")
    subprocess.run([sys.executable, "-c", code], check=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert main([*args, "--model", str(TRAINED), "--device", "cpu", "--output", str(tmp_path / "torch")]) == 0
    got, want = (json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("onnx", "torch"))
    assert got["ner"]["micro"] == pytest.approx(want["ner"]["micro"]) and want["ner"]["micro"]["f1"] > 0
    assert got["re_strict"]["micro"] == pytest.approx(want["re_strict"]["micro"])
    with pytest.raises(ValueError, match="multi_label_relations is fixed in the exported graphs"):
        spertmt.load(exported, runtime="onnx").set_prediction_settings(multi_label_relations=True)
    with pytest.raises(ValueError, match="mode: not a prediction setting"):
        spertmt.load(exported, runtime="onnx").set_prediction_settings(mode="spert")


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_one_extractor_shared_by_threads_returns_what_it_returns_alone(exported, runtime):
    """A service (or a user's thread pool) calls one loaded extractor from several threads at once:
    each call returns what the same call returns alone (no shared state between calls)."""
    import threading

    extractor = spertmt.load(TRAINED, device="cpu") if runtime == "torch" else spertmt.load(exported, runtime="onnx")
    texts = ["John Smith lives in Paris. Mary works for Acme Corp in Berlin.", "Nothing here at all.",
             "Berlin is in Germany near Potsdam ."] * 3
    alone = {n: [r.to_dict() for r in extractor.extract(texts[:n], threshold=-1.0)] for n in range(1, 8)}
    failures = []

    def work(k: int) -> None:
        try:
            for i in range(6):
                n = 1 + (k + i) % 7
                if [r.to_dict() for r in extractor.extract(texts[:n], threshold=-1.0)] != alone[n]:
                    failures.append(f"thread {k}, {n} texts: a different result")
        except Exception as error:  # noqa: BLE001 - any error in a thread is the finding
            failures.append(f"thread {k}: {type(error).__name__}: {error}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]


ENGINE_PLUGIN = '''
from spertmt.inference.loading import register_engine


def register():
    def load(folder, device, precision, threads):
        from spertmt.inference.portable import load_portable

        return load_portable(folder, precision, threads)  # the torch-free engine under another name

    register_engine("portable-again", load, "the runtime without torch, registered by a package")
'''


def test_an_engine_registered_by_a_package_runs_every_command_that_takes_a_runtime(exported, tmp_path):
    """An engine is one function in the registry (spertmt.inference.loading); a package names it in
    its `spertmt.engines` entry points (here a dist-info folder on the path, as pip installs one),
    and `spertmt predict --runtime NAME` runs it; an unknown name lists the engines."""
    import os

    (tmp_path / "portable_again.py").write_text(ENGINE_PLUGIN)
    info = tmp_path / "portable_again-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: portable-again\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[spertmt.engines]\nportable-again = portable_again:register\n")
    (tmp_path / "in.txt").write_text("John Smith lives in Paris.\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    command = [sys.executable, "-m", "spertmt", "predict", "--model", str(exported),
               "--input", str(tmp_path / "in.txt"), "--quiet", "--threshold", "-1"]
    for runtime in ("onnx", "portable-again"):
        out = subprocess.run(command + ["--runtime", runtime, "--output", str(tmp_path / f"{runtime}.jsonl")], env=env,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    assert (tmp_path / "onnx.jsonl").read_text() == (tmp_path / "portable-again.jsonl").read_text()
    unknown = subprocess.run(command + ["--runtime", "tensorrt", "--output", str(tmp_path / "x.jsonl")], env=env,
                             capture_output=True, text=True)
    assert unknown.returncode == 2
    assert "runtime must be one of torch, onnx, portable-again, not 'tensorrt'" in unknown.stderr


def test_cpu_sessions_leave_out_the_fusion_that_slows_layer_norm(exported, monkeypatch):
    """ONNX Runtime's SkipLayerNormalization kernel is several times slower on x86 than the Add and the
    LayerNormalization it fuses (bench/ort_layer_norm.py): every session of both engines on the CPU
    is made without that fusion."""
    import onnxruntime as ort
    import torch

    from spertmt.inference.runtimes import OnnxEncoder

    made = []
    real = ort.InferenceSession

    def recording(*args, **kwargs):
        made.append(kwargs.get("disabled_optimizers") or [])
        return real(*args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", recording)
    spertmt.load(exported, runtime="onnx", precision="int8")
    assert len(made) == 3  # the encoder and the heads' two graphs
    OnnxEncoder(exported / "encoder.onnx", None, torch.device("cpu"))
    assert len(made) == 4 and all("SkipLayerNormFusion" in disabled for disabled in made)
