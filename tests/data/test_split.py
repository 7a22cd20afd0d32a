"""`spertmt split` (spertmt.data.split): one corpus into training, dev and test sets, or into folds,
each source text's sentences in one set."""

import json
import re
import shlex
from collections import Counter

import pytest

from spertmt.cli import main
from spertmt.data.documents import DataError, Document, Entity, read_documents, write_documents
from spertmt.data.split import fold_documents, source_of, split_documents


def _corpus(texts=20, sentences=3):
    """`texts` texts of `sentences` sentences each, named as convert names them ("t7.txt:40")."""
    return [Document([f"w{t}", f"s{s}", "."], [Entity(0, 1, "X")], [], f"t{t}.txt:{10 * s}")
            for t in range(texts) for s in range(sentences)]


def test_a_documents_source_is_its_orig_id_without_the_sentence_that_convert_adds():
    assert [source_of(Document(["a"], orig_id=orig_id), 4) for orig_id in
            ("notes/a.txt:120", "doc-7#3", "a:b:0", 2447, "uuid-1", None)] == [
        "notes/a.txt", "doc-7", "a:b", "2447", "uuid-1", "document 4"]


def test_whole_source_texts_are_dealt_out_in_shares_of_the_documents_the_same_for_a_seed():
    documents = _corpus()
    split = split_documents(documents, dev=0.1, test=0.2, seed=0)
    sets = split.documents
    assert {name: len(sets[name]) for name in sets} == {"train": 42, "dev": 6, "test": 12}
    assert split.sources == {"train": 14, "dev": 2, "test": 4}
    sources = {name: {source_of(d, 0) for d in sets[name]} for name in sets}
    assert not (sources["train"] & sources["dev"] or sources["train"] & sources["test"]
                or sources["dev"] & sources["test"])  # no text in two sets
    assert Counter(d.orig_id for name in sets for d in sets[name]) == Counter(d.orig_id for d in documents)
    for name in sets:  # each set in the file's order
        assert [d.orig_id for d in sets[name]] == [d.orig_id for d in documents if d in sets[name]]
    again = split_documents(documents, dev=0.1, test=0.2, seed=0)
    assert {n: [d.orig_id for d in again.documents[n]] for n in sets} == \
        {n: [d.orig_id for d in sets[n]] for n in sets}
    other = split_documents(documents, dev=0.1, test=0.2, seed=1)
    assert [d.orig_id for d in other.documents["test"]] != [d.orig_id for d in sets["test"]]
    by_sentence = split_documents(documents, dev=0.1, test=0.2, by_sentence=True)
    assert {name: len(by_sentence.documents[name]) for name in sets} == {"train": 42, "dev": 6, "test": 12}
    assert {source_of(d, 0) for d in by_sentence.documents["train"]} & \
        {source_of(d, 0) for d in by_sentence.documents["test"]}  # dealt one by one, texts are torn apart
    assert set(split_documents(documents, dev=0, test=0.2).documents) == {"train", "test"}


@pytest.mark.parametrize("dev, test, message", [
    (0.5, 0.5, "the dev and test shares (0.5 + 0.5) leave nothing to train on"),
    (-0.1, 0.2, "the dev share must be at least 0 and below 1, not -0.1"),
    (0.1, 0.1, "corpus.json: its 2 source texts are too few to give every set one (dev 0.1, test 0.1)"),
])
def test_shares_that_cannot_be_met_are_named(dev, test, message):
    with pytest.raises((ValueError, DataError), match=re.escape(message)):
        split_documents(_corpus(texts=2), dev, test, where="corpus.json")


def test_the_command_writes_the_sets_and_says_how_to_train_on_them(tmp_path, capsys):
    write_documents(tmp_path / "all.json", _corpus())
    (tmp_path / "all_types.json").write_text(json.dumps({"entities": {"X": {}}, "relations": {}}))
    assert main(["split", str(tmp_path / "all.json"), str(tmp_path / "sets"), "--test", "0.2"]) == 0
    out = capsys.readouterr().out
    written = {name: read_documents(tmp_path / "sets" / f"{name}.json") for name in ("train", "dev", "test")}
    assert {name: len(d) for name, d in written.items()} == {"train": 42, "dev": 6, "test": 12}
    assert f"{tmp_path / 'sets' / 'test.json'}: 12 documents from 4 source texts, 12 entities, 0 relations" in out
    assert (f"spertmt train --set train_path={tmp_path / 'sets' / 'train.json'} --set dev_path="
            f"{tmp_path / 'sets' / 'dev.json'} --set test_path={tmp_path / 'sets' / 'test.json'} "
            f"--set types_path={tmp_path / 'all_types.json'}") in out
    # no test document has a training document's words: validate --train says so
    assert main(["validate", str(tmp_path / "sets" / "test.json"), "--train", str(tmp_path / "sets" / "train.json"),
                 "--types", str(tmp_path / "all_types.json")]) == 0
    assert "0 documents have the words of a document of" in capsys.readouterr().out

    # a benchmark's file (conll04_dev.json): the one types file of its folder, whatever its name
    (tmp_path / "bench").mkdir()
    (tmp_path / "all_types.json").rename(tmp_path / "bench" / "corpus_types.json")
    (tmp_path / "all.json").rename(tmp_path / "bench" / "corpus_dev.json")
    assert main(["split", str(tmp_path / "bench" / "corpus_dev.json"), str(tmp_path / "again")]) == 0
    assert f"--set types_path={tmp_path / 'bench' / 'corpus_types.json'} --output" in capsys.readouterr().out
    # no types file beside it: the printed command trains on the types the data uses
    (tmp_path / "bench" / "corpus_types.json").unlink()
    assert main(["split", str(tmp_path / "bench" / "corpus_dev.json"), str(tmp_path / "again")]) == 0
    assert "--set types_path= --output runs/mine" in capsys.readouterr().out

    assert main(["split", str(tmp_path / "sets" / "train.json"), str(tmp_path / "sets")]) == 2
    assert "train.json: this is the input file" in capsys.readouterr().err
    assert len(read_documents(tmp_path / "sets" / "train.json")) == 42  # refused before anything was written
    assert main(["split", str(tmp_path / "missing.json"), str(tmp_path / "sets")]) == 2
    assert "missing.json: no such file" in capsys.readouterr().err


def test_folds_hold_every_document_in_one_test_fold_and_each_text_in_one_fold():
    documents = _corpus(texts=11)
    folds = fold_documents(documents, 4, seed=0)
    assert sorted(len(fold) for fold in folds) == [6, 9, 9, 9]  # balanced: whole texts of 3 sentences
    assert Counter(d.orig_id for fold in folds for d in fold) == Counter(d.orig_id for d in documents)
    sources = [{source_of(d, 0) for d in fold} for fold in folds]
    assert all(not (sources[i] & sources[j]) for i in range(4) for j in range(i + 1, 4))
    assert [[d.orig_id for d in fold] for fold in fold_documents(documents, 4, seed=0)] == \
        [[d.orig_id for d in fold] for fold in folds]
    with pytest.raises(DataError, match="its 11 source texts are too few for 12 folds"):
        fold_documents(documents, 12)
    with pytest.raises(ValueError, match="2 folds or more"):
        fold_documents(documents, 1)


def test_the_command_writes_folds_and_a_train_command_that_parses(tmp_path, capsys):
    from spertmt.cli import build_parser

    write_documents(tmp_path / "all.json", _corpus(texts=10))
    assert main(["split", str(tmp_path / "all.json"), str(tmp_path / "folds"), "--folds", "5"]) == 0
    out = capsys.readouterr().out
    for k in range(5):
        train = read_documents(tmp_path / "folds" / f"fold_{k}_train.json")
        test = read_documents(tmp_path / "folds" / f"fold_{k}_test.json")
        assert (len(train), len(test)) == (24, 6)
        assert [d.orig_id for d in train] == [d.orig_id for d in _corpus(texts=10) if d.orig_id not in
                                              {t.orig_id for t in test}]  # the file's order
    command = out.splitlines()[-1].split(": ", 1)[1]
    assert "--set num_folds=5" in command and "--all-folds" in command and "fold_{fold}_test.json" in command
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.all_folds and "dev_split=0.1" in args.set
    assert main(["split", str(tmp_path / "all.json"), str(tmp_path / "folds"), "--folds", "5", "--test", "0.2"]) == 2
    assert "leave out --dev and --test" in capsys.readouterr().err
