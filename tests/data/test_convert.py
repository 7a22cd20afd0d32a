"""Converters (SpERT, DyGIE++, brat, doccano, Label Studio, Prodigy, WebAnno TSV, CoNLL columns), validation and
the scorer."""

import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spertmt.cli import main
from spertmt.config import Config
from spertmt.data.convert import (
    convert,
    read_brat,
    read_conll,
    read_doccano,
    read_dygie,
    read_labelstudio,
    read_prodigy,
    read_webanno,
    write_brat,
    write_conll,
    write_doccano,
    write_dygie,
    write_labelstudio,
    write_prodigy,
    write_webanno,
)
from spertmt.data.documents import DataError, Document, Entity, Relation, read_documents

from ..conftest import FIXTURES

BENCHMARK_FILES = ["conll04/conll04_train.json", "conll04/conll04_dev.json", "conll04/conll04_test.json",
                   "scierc/scierc_train.json", "scierc/scierc_dev.json", "scierc/scierc_test.json",
                   "ade/ade_full.json"]


def _without_id(doc):
    return {k: v for k, v in doc.to_json().items() if k != "orig_id"}


def _in_any_order(doc):
    """A document's words, its entities as a sorted list and its relations by their entities' spans and types."""
    entity = [(e.start, e.end, e.type) for e in doc.entities]
    return doc.tokens, sorted(entity), sorted((entity[r.head], entity[r.tail], r.type) for r in doc.relations)


@pytest.mark.parametrize("name", BENCHMARK_FILES)
def test_round_trips_on_every_benchmark_document(name, tmp_path):
    path = Config().data_path("train_path").parents[1] / name  # the data root
    if not path.exists():
        pytest.skip(f"{path} not found (set SPERTMT_DATA)")
    docs = read_documents(path)
    write_dygie(docs, tmp_path / "d.jsonl")
    back, report = read_dygie(tmp_path / "d.jsonl")
    assert [d.to_json() for d in back] == [d.to_json() for d in docs] and not report.counts
    # brat's, doccano's, Label Studio's and Prodigy's text keeps no document ids; everything else comes back.
    for write, read, name, options in ((write_brat, read_brat, "brat", {"words": "whitespace"}),
                                       (write_doccano, read_doccano, "d.doccano.jsonl", {"words": "whitespace"}),
                                       (write_labelstudio, read_labelstudio, "tasks.json", {"words": "whitespace"}),
                                       (write_prodigy, read_prodigy, "tasks.jsonl", {"sentences": "lines"})):
        write(docs, tmp_path / name)
        back, report = read(tmp_path / name, **options)
        assert [_without_id(d) for d in back] == [_without_id(d) for d in docs] and not report.counts, name
    # WebAnno TSV keeps no document ids, nor the order of entities and relations: the same ones come back
    write_webanno(docs, tmp_path / "d.tsv")
    back, report = read_webanno(tmp_path / "d.tsv")
    assert [_in_any_order(d) for d in back] == [_in_any_order(d) for d in docs] and not report.counts
    # CoNLL columns hold the words and the entities that are not over another's words, and say what they dropped
    report = write_conll(docs, tmp_path / "d.conll")
    back, _ = read_conll(tmp_path / "d.conll")
    assert [d.tokens for d in back] == [d.tokens for d in docs]
    kept = [[(e.start, e.end, e.type) for e in d.entities] for d in back]
    assert all(set(k) <= {(e.start, e.end, e.type) for e in d.entities} for k, d in zip(kept, docs))
    dropped = sum(len(d.entities) for d in docs) - sum(map(len, kept))
    assert report.counts["entity over another's words (BIO gives a word one tag; not written)"] == dropped
    assert report.counts["relation (CoNLL columns hold entities only; not written)"] == \
        sum(len(d.relations) for d in docs)


# words without spaces or line breaks (doccano's, Label Studio's and brat's text joins them with spaces)
_WORD_CHARACTERS = st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"),
                                 blacklist_characters="\u200b\ufeff\x85")


@st.composite
def _documents(draw):
    """Documents of odd words (any script, emoji, marks, punctuation), nested and overlapping entities,
    one span with two types, relations among them."""
    documents = []
    for _ in range(draw(st.integers(1, 3))):
        tokens = draw(st.lists(st.text(_WORD_CHARACTERS, min_size=1, max_size=4), min_size=1, max_size=6))
        types = st.sampled_from(["Peop", "Live_In", "Org-Based", "A1"])
        spans = draw(st.lists(st.tuples(st.integers(0, len(tokens) - 1), st.integers(1, 3), types), max_size=4))
        entities = [Entity(*key) for key in dict.fromkeys((a, min(a + w, len(tokens)), t) for a, w, t in spans)]
        pairs = draw(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9), types), max_size=3)) if entities else []
        links = ((h % len(entities), t % len(entities), kind) for h, t, kind in pairs)
        relations = [Relation(*key) for key in dict.fromkeys(link for link in links if link[0] != link[1])]
        documents.append(Document(tokens, entities, relations))
    return documents


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents=_documents())
def test_random_documents_come_back_through_every_format(documents):
    """Random words, stacked and nested entities and relations come back through each format that can
    hold them, in any order; DyGIE names a relation's arguments by their spans, so a relation of a
    span with two types comes back joined to the span's first type, and reading says so."""
    def relation_of_a_typed_twice_span(doc):
        spans = [e.span for e in doc.entities]
        return any(spans.count(doc.entities[r.head].span) > 1 or spans.count(doc.entities[r.tail].span) > 1
                   for r in doc.relations)

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for write, read, name, options in ((write_doccano, read_doccano, "d.jsonl", {"words": "whitespace"}),
                                           (write_labelstudio, read_labelstudio, "t.json", {"words": "whitespace"}),
                                           (write_prodigy, read_prodigy, "p.jsonl", {"sentences": "lines"}),
                                           (write_brat, read_brat, "brat", {"words": "whitespace"}),
                                           (write_webanno, read_webanno, "w.tsv", {})):
            write(documents, folder / name)
            back, report = read(folder / name, **options)
            assert [_in_any_order(d) for d in back] == [_in_any_order(d) for d in documents], name
            assert not report.counts, name
        write_dygie(documents, folder / "g.jsonl")
        back, report = read_dygie(folder / "g.jsonl")
        ambiguous = [relation_of_a_typed_twice_span(d) for d in documents]
        assert [_in_any_order(b) for b, a, d in zip(back, ambiguous, documents) if not a] == \
            [_in_any_order(d) for a, d in zip(ambiguous, documents) if not a]
        said = report.counts["relation of a span with several types (joined to the span's first)"]
        assert bool(said) == any(ambiguous)


# near-valid exports: each field present or not, of the right shape or of any other
_ANY = st.one_of(st.none(), st.booleans(), st.integers(-3, 12), st.text(max_size=4), st.just([]), st.just({}))


def _fields(**fields):
    return st.fixed_dictionaries({}, optional={name: st.one_of(kind, _ANY) for name, kind in fields.items()})


def _listed(kind, size=3):
    return st.lists(st.one_of(kind, _ANY), max_size=size)


_SPAN = _fields(start=_ANY, end=_ANY, label=_ANY, token_start=_ANY, token_end=_ANY)
_EXPORTS = {
    "doccano": st.fixed_dictionaries({"text": st.text(max_size=12)}, optional={
        "entities": _listed(_fields(id=_ANY, label=_ANY, start_offset=_ANY, end_offset=_ANY)),
        "relations": _listed(_fields(id=_ANY, from_id=_ANY, to_id=_ANY, type=_ANY)),
        "label": _listed(st.lists(_ANY, max_size=4)), "labels": _ANY}),
    "prodigy": st.fixed_dictionaries({"text": st.text(max_size=12)}, optional={
        "tokens": _listed(_fields(text=_ANY, start=_ANY, end=_ANY)), "spans": _listed(_SPAN),
        "relations": _listed(_fields(head=_ANY, child=_ANY, label=_ANY, head_span=_SPAN, child_span=_SPAN)),
        "answer": _ANY}),
    "labelstudio": _fields(data=_fields(text=st.text(max_size=12)), annotations=_listed(_fields(
        result=_listed(_fields(id=_ANY, type=st.sampled_from(["labels", "relation"]), from_id=_ANY, to_id=_ANY,
                               labels=_listed(_ANY, 2), value=_fields(start=_ANY, end=_ANY, labels=_listed(_ANY, 2))),
                       4), was_cancelled=_ANY), 2)),
    "dygie": _fields(sentences=_listed(_listed(st.text(max_size=3)), 2),
                     ner=_listed(_listed(st.lists(_ANY, max_size=4)), 2),
                     relations=_listed(_listed(st.lists(_ANY, max_size=6)), 2)),
}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(_EXPORTS)))
def test_a_malformed_export_is_read_or_named_never_a_crash(data, name):
    """Fields missing, of another shape (a number for a list, a string for an object) or of the
    wrong type: a reader gives documents or a DataError naming the record, never another error
    (doccano's relations as a string, DyGIE's as null and Label Studio's annotations as a number were
    a TypeError or an AttributeError)."""
    records = data.draw(st.lists(_EXPORTS[name], min_size=1, max_size=2))
    readers = {"doccano": read_doccano, "prodigy": read_prodigy, "labelstudio": read_labelstudio, "dygie": read_dygie}
    read = readers[name]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export"
        lines = "".join(json.dumps(record) + "\n" for record in records)
        path.write_text(json.dumps(records) if name == "labelstudio" else lines)
        try:
            read(path)
        except DataError:
            pass


def test_a_type_that_brat_cannot_store_is_renamed_and_shown_by_its_name(tmp_path):
    """brat stores a type in [A-Za-z0-9_-] only: it rewrote annotation.conf's "Adverse:Effect" as
    Adverse_Effect, and the .ann files' type then named none ("Drug Name" could not even be read back:
    a space parts a line's type from its offsets). Names that come out alike stay apart, and
    visual.conf labels each renamed type with its name; a folder's own configuration is kept."""
    import re

    from spertmt.data.convert import brat_configuration, brat_files, brat_types
    from spertmt.data.documents import Types

    entities = [Entity(0, 1, "Drug Name"), Entity(2, 4, "Adverse:Effect"), Entity(1, 2, "人物"), Entity(4, 5, "地点")]
    relations = [Relation(0, 1, "Causes \tHarm"), Relation(1, 0, "Réaction")]
    documents = [Document(["Aspirin", "causes", "bad", "headache", "."], entities, relations)]
    report = write_brat(documents, tmp_path / "brat")
    assert dict(report.counts) == {"type renamed for brat (its types hold A-Z, a-z, 0-9, _ and - only; visual.conf "
                                   "shows the name)": 6}
    conf = (tmp_path / "brat" / "annotation.conf").read_text()
    assert conf == ("[entities]\nAdverse_Effect\nDrug_Name\n_\n_2\n[relations]\nCauses_Harm\tArg1:<ENTITY>, "
                    "Arg2:<ENTITY>\nReaction\tArg1:<ENTITY>, Arg2:<ENTITY>\n[events]\n[attributes]\n")
    stored = [line.split("\t")[0] for line in conf.splitlines() if line and not line.startswith("[")]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", name) for name in stored)
    ann = (tmp_path / "brat" / "doc_00000.ann").read_text()
    assert {line.split("\t")[1].split(" ")[0] for line in ann.splitlines()} == set(stored)
    visual = (tmp_path / "brat" / "visual.conf").read_text()
    assert visual == ("[labels]\nAdverse_Effect | Adverse:Effect\nDrug_Name | Drug Name\n_ | 人物\n_2 | 地点\n"
                      "Causes_Harm | Causes Harm\nReaction | Réaction\n[drawing]\n")
    back, report = read_brat(tmp_path / "brat", words="whitespace")
    assert [[e.type for e in d.entities] for d in back] == [["Drug_Name", "Adverse_Effect", "_", "_2"]]
    assert [r.type for r in back[0].relations] == ["Causes_Harm", "Reaction"] and not report.counts
    (tmp_path / "brat" / "annotation.conf").write_text("[entities]\nmine\n")
    report = write_brat(documents, tmp_path / "brat")
    assert (tmp_path / "brat" / "annotation.conf").read_text() == "[entities]\nmine\n"
    assert report.counts["brat configuration left as it was (the folder's own)"] == 2

    types = Types.from_dict({"entities": {"Drug Name": {}, "Peop": {}}, "relations": {"Causes Harm": {}}})
    _, standoff = brat_files({"text": "Aspirin hurts", "entities": [{"id": 7, "label": "Drug Name", "start_offset": 0,
                                                                    "end_offset": 7}], "relations": []},
                             *brat_types(types))
    assert standoff == "T1\tDrug_Name 0 7\tAspirin\n"
    files = brat_configuration(*brat_types(types))
    assert "[entities]\nDrug_Name\nPeop\n[relations]\nCauses_Harm\tArg1:" in files["annotation.conf"]
    assert files["visual.conf"] == "[labels]\nDrug_Name | Drug Name\nCauses_Harm | Causes Harm\n[drawing]\n"
    plain = Types.from_dict({"entities": {"Peop": {}}, "relations": {"Live_In": {}}})
    assert set(brat_configuration(*brat_types(plain))) == {"annotation.conf"}  # every name stored as it is


def test_brat_reader_reports_what_it_skips(tmp_path):
    text = "Ann Lee lives in New York City. She works for Acme-Soft.\nBob met Ann."
    assert text[46:55] == "Acme-Soft" and text[57:60] == "Bob"
    (tmp_path / "a.txt").write_text(text)
    ann = [
        "T1\tPeop 0 7\tAnn Lee",
        "T2\tLoc 17 30\tNew York City",
        "T3\tOrg 46 55\tAcme-Soft",
        "T4\tPeop 1 7\tnn Lee",  # not on a word boundary
        "T5\tLoc 17 20;26 30\tNew City",  # discontinuous
        "T6\tPeop 57 60\tBob",
        "R1\tLive_In Arg1:T1 Arg2:T2",
        "R2\tKnows Arg1:T6 Arg2:T1",  # across sentences
        "R3\tLive_In Arg1:T4 Arg2:T2",  # to a skipped entity
        "*\tAlias T1 T4",
        "A1\tNegated T1",
        "#1\tAnnotatorNotes T1\ta note",
    ]
    (tmp_path / "a.ann").write_text("\n".join(ann) + "\n")
    docs, report = read_brat(tmp_path)
    assert [d.tokens for d in docs] == [["Ann", "Lee", "lives", "in", "New", "York", "City", "."],
                                        ["She", "works", "for", "Acme-Soft", "."], ["Bob", "met", "Ann", "."]]
    assert [(e.start, e.end, e.type) for e in docs[0].entities] == [(0, 2, "Peop"), (4, 7, "Loc")]
    assert [(e.start, e.end, e.type) for e in docs[1].entities] == [(3, 4, "Org")]
    assert [(r.head, r.tail, r.type) for r in docs[0].relations] == [(0, 1, "Live_In")]
    assert report.counts == {
        "entity not on word boundaries (skipped)": 1, "discontinuous entity (skipped)": 1,
        "relation across sentences (skipped)": 1, "relation to a skipped or missing entity (skipped)": 1,
        "'*' line (ignored)": 1, "'A' line (ignored)": 1, "'#' line (ignored)": 1,
    }
    (tmp_path / "a.ann").write_text("T1\tPeop four 11\tAnn\n")
    with pytest.raises(DataError, match=r"a.ann, line 1: malformed offsets"):
        read_brat(tmp_path)
    # An entity across a line break, in fragments with only the break between them, is one span
    # (brat writes one so, and so does predict --output-format brat); other gaps stay discontinuous.
    (tmp_path / "a.txt").write_text("Ann Lee lives in New\nYork City.\n")
    (tmp_path / "a.ann").write_text("T1\tPeop 0 7\tAnn Lee\nT2\tLoc 17 20;21 30\tNew York City\n"
                                    "T3\tLoc 17 20;26 30\tNew City\n")
    docs, report = read_brat(tmp_path)
    assert [(" ".join(docs[0].tokens[e.start:e.end]), e.type) for e in docs[0].entities] == \
        [("Ann Lee", "Peop"), ("New York City", "Loc")]
    assert report.counts == {"discontinuous entity (skipped)": 1}
    # a brat collection's subfolders are read too, each file named by its path
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("Bob met Ann.\n")
    (tmp_path / "sub" / "b.ann").write_text("T1\tPeop 0 3\tBob\n")
    docs, _ = read_brat(tmp_path)
    assert [(d.orig_id.split(":")[0], [d.tokens[e.start] for e in d.entities]) for d in docs] == \
        [("a", ["Ann", "New"]), ("sub/b", ["Bob"])]
    with pytest.raises(DataError, match=r"is a folder; give a SpERT JSON file .*convert --from brat --to spert"):
        read_documents(tmp_path)


def test_brat_unicode_words_keep_an_abbreviations_full_stop_and_an_entity_may_end_before_it(tmp_path):
    text = "Mr. Lee works for Acme Corp. in Oslo.\nHe left."
    (tmp_path / "a.txt").write_text(text)
    (tmp_path / "a.ann").write_text("T1\tPeop 4 7\tLee\nT2\tOrg 18 27\tAcme Corp\nT3\tLoc 32 36\tOslo\n"
                                    "R1\tWork_For Arg1:T1 Arg2:T2\n")
    docs, report = read_brat(tmp_path, words="unicode")
    assert [d.tokens for d in docs] == [["Mr.", "Lee", "works", "for", "Acme", "Corp.", "in", "Oslo", "."],
                                        ["He", "left", "."]]
    assert [(e.start, e.end, e.type) for e in docs[0].entities] == [(1, 2, "Peop"), (4, 6, "Org"), (7, 8, "Loc")]
    assert [(r.head, r.tail) for r in docs[0].relations] == [(0, 1)] and not report.counts


def test_doccano_records_of_both_exports_and_what_is_skipped(tmp_path):
    lines = [
        {"id": 7, "text": "Ann Lee lives in Oslo. Bob met Ann.",
         "entities": [{"id": 1, "label": "Peop", "start_offset": 0, "end_offset": 7},
                      {"id": 2, "label": "Loc", "start_offset": 17, "end_offset": 21},
                      {"id": 3, "label": "Peop", "start_offset": 23, "end_offset": 26},
                      {"id": 4, "label": "Peop", "start_offset": 1, "end_offset": 7}],  # off word boundaries
         "relations": [{"id": 1, "from_id": 1, "to_id": 2, "type": "Live_In"},
                       {"id": 2, "from_id": 3, "to_id": 1, "type": "Knows"}]},  # across sentences
        {"text": "Mr. Lee works for Acme Corp.", "labels": [[4, 7, "Peop"], [18, 27, "Org"]]},  # sequence labels
    ]
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    docs, report = read_doccano(tmp_path / "in.jsonl", words="unicode")
    assert [d.tokens for d in docs] == [["Ann", "Lee", "lives", "in", "Oslo", "."], ["Bob", "met", "Ann", "."],
                                        ["Mr.", "Lee", "works", "for", "Acme", "Corp."]]
    assert [d.orig_id for d in docs] == ["7:0", "7:23", "2:0"]  # the record's id, else its line number
    assert [(e.start, e.end, e.type) for e in docs[0].entities] == [(0, 2, "Peop"), (4, 5, "Loc")]
    assert [(r.head, r.tail, r.type) for r in docs[0].relations] == [(0, 1, "Live_In")]
    assert [(e.start, e.end, e.type) for e in docs[2].entities] == [(1, 2, "Peop"), (4, 6, "Org")]
    assert report.counts == {"entity not on word boundaries (skipped)": 1, "relation across sentences (skipped)": 1}
    assert main(["convert", "--from", "doccano", "--to", "spert", "--words", "unicode", str(tmp_path / "in.jsonl"),
                 str(tmp_path / "out.json")]) == 0
    assert len(read_documents(tmp_path / "out.json")) == 3
    for bad, message in (('{"txt": 1}', "expected a doccano record, an object with a string 'text'"),
                         ('{"text": "ab", "label": [[0, 5, "X"]]}',
                          "entity label 0 has offsets 0-5 outside its text of 2 characters"),
                         ('{"text": "ab", "entities": [{"id": 1}]}', "an entity needs 'id', 'label'"),
                         ("{", "not valid JSON"), ("\udcd2", "not UTF-8 text")):
        (tmp_path / "bad.jsonl").write_bytes(("\n" + bad + "\n").encode("utf-8", "surrogateescape"))
        with pytest.raises(DataError, match=f"bad.jsonl, line 2: {message}"):
            read_doccano(tmp_path / "bad.jsonl")



def test_conll_columns_of_every_tagging_scheme_read_as_conlleval_reads_them(tmp_path, capsys):
    """CoNLL-2003's four columns, BIO, IOB1 (an entity begins with I-), BIOES and BILOU, tabs that
    keep a word's spaces; -DOCSTART- and blank lines part sentences; a malformed line is named."""
    conll = ("-DOCSTART- -X- -X- O\n\n"
             "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\ncall NN I-NP O\n\n"  # CoNLL-2003
             "Peter I-PER\nBlackburn I-PER\nmet O\nI-PER\tI-PER\nB B-PER\n\n"  # IOB1: B- only between two
             "New S-LOC\nYork B-LOC\nCity E-LOC\nand O\nJo U-PER\nAnn L-PER\n\r\n"  # BIOES / BILOU, an E- alone
             "New York\tB-LOC\nis\tO\n")
    (tmp_path / "in.conll").write_text(conll)
    documents, report = read_conll(tmp_path / "in.conll")
    entities = [[(" ".join(d.tokens[e.start:e.end]), e.type) for e in d.entities] for d in documents]
    assert entities == [[("EU", "ORG"), ("German", "MISC")],
                        [("Peter Blackburn", "PER"), ("I-PER", "PER"), ("B", "PER")],
                        [("New", "LOC"), ("York City", "LOC"), ("Jo", "PER"), ("Ann", "PER")],
                        [("New York", "LOC")]]
    assert [d.orig_id for d in documents] == [3, 8, 14, 21] and not report.counts  # each sentence's first line
    assert main(["convert", "--from", "conll", "--to", "spert", str(tmp_path / "in.conll"),
                 str(tmp_path / "out.json")]) == 0
    assert json.loads((tmp_path / "out_types.json").read_text())["relations"] == {}  # an NER corpus
    assert main(["validate", str(tmp_path / "out.json"), "--types", str(tmp_path / "out_types.json")]) == 0
    for line, message in (("word\n", "expected a word and its tag in columns parted by a tab or spaces, got 'word'"),
                          ('[{"tokens": ["a"]}]\n', "(this looks like JSON: SpERT JSON is --from spert)"),
                          ("Paris LOC\n", "tag 'LOC' is neither O nor a prefix (B-, I-, E-, S-, L-, U-) and a type"),
                          ("Paris B-\n", "tag 'B-' is neither O")):
        (tmp_path / "bad.conll").write_text("Mary B-PER\n\n" + line)
        with pytest.raises(DataError, match=rf"bad.conll, line 3: .*{re.escape(message)}"):
            read_conll(tmp_path / "bad.conll")
    with pytest.raises(DataError, match=re.escape("document 0: the word 'a\\tb' holds a tab")):
        write_conll([Document(["a\tb"])], tmp_path / "x.conll")



def test_convert_names_a_missing_input_a_folder_for_a_file_and_a_file_for_a_folder(tmp_path, capsys):
    """Each was an OSError's [Errno 2] or [Errno 21], or brat's "no .txt files" for a missing folder."""
    source = f"{FIXTURES}/tiny_train.json"
    for source_format, input_path, target, output, message in (
            ("dygie", tmp_path / "missing.jsonl", "spert", tmp_path / "out.json", "missing.jsonl: no such file"),
            ("brat", tmp_path / "missing", "spert", tmp_path / "out.json", "missing: no such file"),
            ("doccano", tmp_path, "spert", tmp_path / "out.json", "a folder; this format is read from a file"),
            ("brat", source, "spert", tmp_path / "out.json", "tiny_train.json: not a folder; brat's collection"),
            ("spert", source, "dygie", tmp_path, "is a folder; give the name of a file to write")):
        assert main(["convert", "--from", source_format, "--to", target, str(input_path), str(output)]) == 2
        assert message in capsys.readouterr().err



def test_label_studio_exports_read_the_first_annotation_of_each_task_and_say_what_they_skip(tmp_path, capsys):
    """Label Studio's JSON export: regions by characters, relations by region ids in either
    direction, several labels a relation; tasks not yet labelled or cancelled, other result types,
    a second annotation and unlabelled relations are counted, not read."""
    text = "John Smith works for Acme. Mary lives in Oslo."

    def region(rid, words, *labels):
        start = text.index(words)
        return {"id": rid, "from_name": "label", "to_name": "text", "type": "labels",
                "value": {"start": start, "end": start + len(words), "text": words, "labels": list(labels)}}

    result = [region("a", "John Smith", "Peop"), region("b", "Acme", "Org"), region("c", "Mary", "Peop"),
              region("d", "Oslo", "Loc"),
              {"from_id": "b", "to_id": "a", "type": "relation", "direction": "left", "labels": ["Work_For"]},
              {"from_id": "c", "to_id": "d", "type": "relation", "direction": "right",
               "labels": ["Live_In", "Located_In"]},
              {"from_id": "a", "to_id": "c", "type": "relation", "direction": "right"},  # no label
              {"from_id": "a", "to_id": "d", "type": "relation", "direction": "right", "labels": ["Live_In"]},  # across
              {"id": "s", "from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": ["x"]}}]
    tasks = [{"id": 7, "data": {"text": text}, "annotations": [{"result": result}, {"result": []}]},
             {"id": 8, "data": {"text": "Not labelled yet."}, "annotations": [], "predictions": [{"result": []}]},
             {"id": 9, "data": {"text": "Cancelled."}, "annotations": [{"was_cancelled": True, "result": []}]}]
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    documents, report = read_labelstudio(tmp_path / "export.json", words="unicode")
    assert [(d.orig_id, d.tokens) for d in documents] == [("7:0", "John Smith works for Acme .".split()),
                                                         ("7:27", "Mary lives in Oslo .".split())]
    entities = [[(" ".join(d.tokens[e.start:e.end]), e.type) for e in d.entities] for d in documents]
    assert entities == [[("John Smith", "Peop"), ("Acme", "Org")], [("Mary", "Peop"), ("Oslo", "Loc")]]
    relations = [[(d.entities[r.head].type, r.type, d.entities[r.tail].type) for r in d.relations] for d in documents]
    assert relations == [[("Peop", "Work_For", "Org")], [("Peop", "Live_In", "Loc"), ("Peop", "Located_In", "Loc")]]
    assert dict(report.counts) == {"task with several annotations (the first read)": 1,
                                   "relation without a label (skipped)": 1,
                                   "result of type 'choices' (neither a region nor a relation; skipped)": 1,
                                   "relation across sentences (skipped)": 1,
                                   "task without an annotation (skipped)": 2}
    assert main(["convert", "--from", "labelstudio", "--to", "spert", str(tmp_path / "export.json"),
                 str(tmp_path / "train.json"), "--words", "unicode"]) == 0
    assert "task without an annotation (skipped): 2" in capsys.readouterr().out
    far = {**region("a", "Oslo", "Loc"), "value": {"start": 0, "end": 99, "labels": ["Loc"]}}
    for bad, message in (({"data": {"text": "a"}, "annotations": [{"result": [far]}]},
                          "task 0: region a has offsets 0-99 outside its text of 1 characters"),
                         ({"text": "a", "label": []}, "task 0: expected a task with 'data' and 'annotations'"),
                         ({"data": {"body": 3}, "annotations": [{"result": []}]},
                          "task 0: its data has no text under 'text'")):
        (tmp_path / "bad.json").write_text(json.dumps([bad]))
        with pytest.raises(DataError, match=re.escape(message)):
            read_labelstudio(tmp_path / "bad.json")



def test_an_export_of_label_studio_itself_reads_back_what_was_annotated():
    """tests/fixtures/labelstudio_export.json is Label Studio 1.23.2's JSON export (its own fields:
    annotation ids, timestamps, the prediction each annotation came from, predictions as ids) of three
    tasks that `predict --output-format labelstudio` wrote and a reviewer accepted
    (`experiments/labelstudio_check.py --keep-export`)."""
    documents, report = read_labelstudio(f"{FIXTURES}/labelstudio_export.json", words="unicode")
    assert not report.counts
    assert [(d.orig_id, [(" ".join(d.tokens[e.start:e.end]), e.type) for e in d.entities],
             [(r.head, r.type, r.tail) for r in d.relations]) for d in documents] == [
        ("1:0", [("John Smith", "Peop"), ("Acme Corp", "Org"), ("Berlin", "Loc")],
         [(0, "Work_For", 1), (0, "Live_In", 2), (1, "OrgBased_In", 2)]),
        ("2:0", [("Mary", "Peop"), ("Paris", "Loc")], [(0, "Live_In", 1)]), ("3:0", [], [])]


def _prodigy_tokens(text, words):
    tokens, at = [], 0
    for k, word in enumerate(words):
        at = text.index(word, at)
        tokens.append({"text": word, "start": at, "end": at + len(word), "id": k, "ws": True})
        at += len(word)
    return tokens


def test_prodigy_tasks_read_into_their_own_tokens_and_say_what_they_skip(tmp_path, capsys):
    """Prodigy's JSON lines: words are the task's tokens (spaCy's whitespace tokens left out; the
    splitter only where a task has none), spans by characters, relations from head_span to
    child_span (or between the spans that end at head and child); rejected and ignored tasks, and
    relations between words that are no span, are counted."""
    text = "Ann Lee works for Acme-Soft.\nBob met Ann in the U.S."
    words = ["Ann", "Lee", "works", "for", "Acme-Soft", ".", "\n", "Bob", "met", "Ann", "in", "the", "U.S."]

    tokens = _prodigy_tokens(text, words)

    def span(words_of, label):
        start = text.index(words_of)
        inside = [t["id"] for t in tokens if start <= t["start"] < start + len(words_of)]
        return {"start": start, "end": start + len(words_of), "token_start": inside[0], "token_end": inside[-1],
                "label": label}

    ann, acme, bob, us = span("Ann Lee", "Peop"), span("Acme-Soft", "Org"), span("Bob", "Peop"), span("U.S.", "Loc")
    met = span("met", "none")  # a word, not a span: rel.manual lets one relate words
    task = {"text": text, "tokens": tokens, "spans": [ann, acme, bob, us],
            "relations": [{"head": 1, "child": 4, "head_span": ann, "child_span": acme, "label": "Work_For"},
                          {"head": 7, "child": 12, "head_span": bob, "child_span": us, "label": "Live_In"},
                          {"head": 7, "child": 8, "head_span": bob, "child_span": met, "label": "Live_In"},
                          {"head": 1, "child": 7, "head_span": ann, "child_span": bob, "label": "Kill"},
                          {"head": 7, "child": 12, "label": "Located_In"}],  # spans by their last tokens only
            "answer": "accept", "meta": {"id": "doc-1"}}
    untokenised = {"text": "Mary lives in Oslo.", "spans": [{"start": 14, "end": 18, "label": "Loc"}]}
    lines = [task, {**task, "answer": "reject"}, {**task, "answer": "ignore"}, untokenised]
    (tmp_path / "tasks.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    documents, report = read_prodigy(tmp_path / "tasks.jsonl")
    assert [(d.orig_id, d.tokens) for d in documents] == [
        ("doc-1:0", ["Ann", "Lee", "works", "for", "Acme-Soft", "."]),  # Acme-Soft one word: the task's
        ("doc-1:29", ["Bob", "met", "Ann", "in", "the", "U.S."]), ("4:0", ["Mary", "lives", "in", "Oslo", "."])]
    assert [[(" ".join(d.tokens[e.start:e.end]), e.type) for e in d.entities] for d in documents] == [
        [("Ann Lee", "Peop"), ("Acme-Soft", "Org")], [("Bob", "Peop"), ("U.S.", "Loc")], [("Oslo", "Loc")]]
    assert [[(r.head, r.type, r.tail) for r in d.relations] for d in documents] == [
        [(0, "Work_For", 1)], [(0, "Live_In", 1), (0, "Located_In", 1)], []]
    assert dict(report.counts) == {"task answered 'reject' (skipped)": 1, "task answered 'ignore' (skipped)": 1,
                                   "relation between words that are not a span (skipped)": 1,
                                   "relation across sentences (skipped)": 1}
    assert main(["convert", "--from", "prodigy", "--to", "spert", str(tmp_path / "tasks.jsonl"),
                 str(tmp_path / "train.json")]) == 0
    assert "task answered 'reject' (skipped): 1" in capsys.readouterr().out
    assert json.loads((tmp_path / "train_types.json").read_text())["relations"].keys() == {"Work_For", "Live_In",
                                                                                          "Located_In"}
    shifted = {**task, "tokens": [{**t, "start": t["start"] + 1, "end": t["end"] + 1} for t in task["tokens"]]}
    for bad, message in ((shifted, "line 1: token 0 ('Ann') is not its text's characters 1-4"),
                         ({"text": "a", "spans": [{"start": 0, "end": 9, "label": "X"}]},
                          "line 1: span span 0 has offsets 0-9 outside its text of 1 characters"),
                         ({"text": "a", "spans": [{"start": 0, "end": 1}]}, "a span 'start', 'end' and 'label'"),
                         ({"tokens": []}, "line 1: expected a Prodigy task, an object with a string 'text'")):
        (tmp_path / "bad.jsonl").write_text(json.dumps(bad) + "\n")
        with pytest.raises(DataError, match=re.escape(message)):
            read_prodigy(tmp_path / "bad.jsonl")


def test_the_prodigy_annotations_of_spacys_relation_tutorial_read_whole_and_write_as_it_reads_them(tmp_path):
    """tests/fixtures/prodigy_rel_component.jsonl: three tasks that Prodigy's rel.manual wrote, from
    spaCy's relation-extraction tutorial (tests/fixtures/THIRD_PARTY.md); the third holds two
    sentences with a line break between them. What write_prodigy writes is read as the tutorial's
    parse_data.py reads Prodigy's tasks: a spaCy Doc of the tokens and their `ws`, spans by
    `Doc.char_span`, a relation's `head` and `child` the last tokens of its spans."""
    spacy = pytest.importorskip("spacy")
    source = f"{FIXTURES}/prodigy_rel_component.jsonl"
    tasks = [json.loads(line) for line in open(source, encoding="utf-8")]
    documents, report = read_prodigy(source)
    assert not report.counts
    assert [d.orig_id for d in documents] == ["1:0", "2:0", "3:0", "3:133"]
    assert sum(len(d.entities) for d in documents) == sum(len(t["spans"]) for t in tasks)
    assert sum(len(d.relations) for d in documents) == sum(len(t["relations"]) for t in tasks)
    def words(doc, entity):
        return " ".join(doc.tokens[entity.start:entity.end])

    assert [[(words(d, d.entities[r.head]), r.type, words(d, d.entities[r.tail])) for r in d.relations]
            for d in documents] == [
        [("Smad", "Pos-Reg", "Id1"), ("Smad", "Pos-Reg", "Id1"), ("Smad", "No-rel", "Id2"), ("Smad", "No-rel", "Id3")],
        [("TGF - beta", "Pos-Reg", "Id2"), ("TGF - beta", "Pos-Reg", "Id3"), ("TGF - beta", "No-rel", "Id1")],
        [("Sp1", "Pos-Reg", "lysosomal acid lipase")], []]  # spaCy's tokens: "TGF-beta" is three

    write_prodigy(documents, tmp_path / "tasks.jsonl")
    vocab = spacy.vocab.Vocab()
    for doc, line in zip(documents, open(tmp_path / "tasks.jsonl", encoding="utf-8")):
        task = json.loads(line)
        assert task["answer"] == "accept" and task["meta"] == {"id": doc.orig_id}
        parsed = spacy.tokens.Doc(vocab, words=[t["text"] for t in task["tokens"]],
                                  spaces=[t["ws"] for t in task["tokens"]])
        assert parsed.text == task["text"] and [t.text for t in parsed] == doc.tokens
        spans = [parsed.char_span(s["start"], s["end"], label=s["label"]) for s in task["spans"]]
        assert [(s.start, s.end, s.label_) for s in spans] == [(e.start, e.end, e.type) for e in doc.entities]
        start_of = {s["token_end"]: s["token_start"] for s in task["spans"]}
        assert [(start_of[r["head"]], start_of[r["child"]], r["label"]) for r in task["relations"]] == [
            (doc.entities[r.head].start, doc.entities[r.tail].start, r.type) for r in doc.relations]


def test_a_brat_file_that_is_not_utf8_is_named(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"Ann \xd2 Lee")
    with pytest.raises(DataError, match=r"a.txt: not UTF-8 text \(invalid continuation byte at byte 4\)"):
        read_brat(tmp_path)


@pytest.mark.parametrize("line, message", [
    ("[1, 2]", "needs 'sentences', a list of token lists"),
    ('{"sentences": ["ab"]}', "sentence 0: a sentence is a list of words"),
    ('{"sentences": [["a", "b"]], "ner": [[[0, "x", "L"]]]}', "'ner' holds \\[start, end, label\\]"),
    ('{"sentences": [["a", "b"]], "ner": [[[0, 0, "L"]]], "relations": [[[0]]]}', "'relations' \\[start, end"),
    ("\udcd2", "not UTF-8 text"),
])
def test_a_malformed_dygie_line_is_named(tmp_path, line, message):
    (tmp_path / "d.jsonl").write_bytes(("\n" + line + "\n").encode("utf-8", "surrogateescape"))
    with pytest.raises(DataError, match=f"d.jsonl, line 2.*{message}"):
        read_dygie(tmp_path / "d.jsonl")


def test_dygie_multi_sentence_document(tmp_path):
    record = {"doc_key": "doc1", "sentences": [["Ann", "lives", "in", "Oslo", "."], ["Bob", "too", "."]],
              "ner": [[[0, 0, "Peop"], [3, 3, "Loc"]], [[5, 5, "Peop"]]],
              "relations": [[[0, 0, 3, 3, "Live_In"]], [[5, 5, 9, 9, "Live_In"]]]}
    (tmp_path / "d.jsonl").write_text(json.dumps(record) + "\n")
    docs, report = read_dygie(tmp_path / "d.jsonl")
    assert [d.orig_id for d in docs] == ["doc1#0", "doc1#1"]
    assert [(e.start, e.end) for e in docs[1].entities] == [(0, 1)]
    assert [(r.head, r.tail) for r in docs[0].relations] == [(0, 1)]
    assert report.counts == {"relation whose argument is not an entity (skipped)": 1}


def test_convert_writes_or_checks_types(tmp_path):
    report = convert("spert", "dygie", f"{FIXTURES}/tiny_train.json", tmp_path / "d.jsonl")
    assert not report.counts
    convert("dygie", "spert", tmp_path / "d.jsonl", tmp_path / "back.json")
    types = json.loads((tmp_path / "back_types.json").read_text())
    assert list(types["entities"]) == ["Peop", "Loc", "Org"]
    with pytest.raises(DataError, match="relation type 'Near' is not in the types file"):
        bad = tmp_path / "types.json"
        bad.write_text(json.dumps({"entities": types["entities"], "relations": {"Live_In": {}, "Work_For": {}}}))
        convert("dygie", "spert", tmp_path / "d.jsonl", tmp_path / "x.json", types_path=bad)
    assert main(["convert", "--from", "spert", "--to", "brat", f"{FIXTURES}/tiny_train.json",
                 str(tmp_path / "brat")]) == 0
    assert main(["convert", "--from", "brat", "--to", "spert", "--words", "whitespace", str(tmp_path / "brat"),
                 str(tmp_path / "from_brat.json"), "--types", f"{FIXTURES}/tiny_types.json"]) == 0
    original = read_documents(f"{FIXTURES}/tiny_train.json")
    assert [_without_id(d) for d in read_documents(tmp_path / "from_brat.json")] == [_without_id(d) for d in original]


def test_compressed_data_files_are_read_and_written_by_their_names(tmp_path):
    """SpERT JSON and JSON lines named .gz, .bz2 or .xz are read (training, eval and convert read
    through read_documents) and written compressed; the types file beside a converted
    train.json.gz is train_types.json."""
    import bz2
    import gzip

    original = read_documents(f"{FIXTURES}/tiny_train.json")
    convert("spert", "spert", f"{FIXTURES}/tiny_train.json", tmp_path / "train.json.gz")
    assert (tmp_path / "train_types.json").exists()
    with gzip.open(tmp_path / "train.json.gz", "rt", encoding="utf-8") as f:
        assert len(json.load(f)) == len(original)
    assert [_without_id(d) for d in read_documents(tmp_path / "train.json.gz")] == [_without_id(d) for d in original]
    convert("spert", "dygie", tmp_path / "train.json.gz", tmp_path / "d.jsonl.bz2")
    with bz2.open(tmp_path / "d.jsonl.bz2", "rt", encoding="utf-8") as f:
        assert len(f.readlines()) == len(original)
    convert("dygie", "spert", tmp_path / "d.jsonl.bz2", tmp_path / "back.json")
    assert [_without_id(d) for d in read_documents(tmp_path / "back.json")] == [_without_id(d) for d in original]
    (tmp_path / "plain.json.gz").write_text("[]")
    with pytest.raises(ValueError, match="plain.json.gz: named .gz but does not decompress as gzip"):
        read_documents(tmp_path / "plain.json.gz")


def test_score_names_a_json_lines_file_that_predict_did_not_write(tmp_path, capsys):
    """`score --pred` reads predict's JSON lines (with words); doccano's records, which have none,
    are named by file and line instead of a KeyError's traceback."""
    (tmp_path / "doccano.jsonl").write_text(json.dumps({"text": "Ann met Bob.", "entities": [], "relations": []}))
    assert main(["score", "--gold", f"{FIXTURES}/tiny_train.json", "--pred", str(tmp_path / "doccano.jsonl"),
                 "--types", f"{FIXTURES}/tiny_types.json"]) == 2
    assert "doccano.jsonl, line 1: not a result of spertmt predict with its words (KeyError: 'tokens')" in \
        capsys.readouterr().err


def test_brat_files_of_a_record_write_an_entity_across_a_line_break_in_fragments(tmp_path):
    from spertmt.data.convert import brat_files

    record = {"text": "John\r\nSmith lives in Oslo.", "entities": [
        {"id": 0, "label": "Peop", "start_offset": 0, "end_offset": 11},
        {"id": 1, "label": "Loc", "start_offset": 21, "end_offset": 25}],
        "relations": [{"id": 0, "from_id": 0, "to_id": 1, "type": "Live_In"}]}
    names = {"Peop": "Peop", "Loc": "Loc"}
    text, ann = brat_files(record, names, {"Live_In": "Live_In"})  # CR LF as LF: the offsets move back by one after it
    assert text == "John\nSmith lives in Oslo."
    assert ann == "T1\tPeop 0 4;5 10\tJohn Smith\nT2\tLoc 20 24\tOslo\nR1\tLive_In Arg1:T1 Arg2:T2\n"
    (tmp_path / "a.txt").write_text(text)
    (tmp_path / "a.ann").write_text(ann)
    docs, report = read_brat(tmp_path, sentences="punctuation")
    assert not report.counts
    assert [(" ".join(docs[0].tokens[e.start:e.end]), e.type) for e in docs[0].entities] == \
        [("John Smith", "Peop"), ("Oslo", "Loc")] and len(docs[0].relations) == 1


def test_text_not_annotated_yet_converts_to_spert_without_a_types_file(tmp_path, capsys):
    """A brat folder with empty .ann files (or doccano lines without labels) converts: a types file
    would list no entity type, so none is written and the report says so (it was an error naming
    "<types>")."""
    brat = tmp_path / "brat"
    brat.mkdir()
    (brat / "a.txt").write_text("John works in Paris.\n")
    (brat / "a.ann").write_text("")
    assert main(["convert", "--from", "brat", "--to", "spert", str(brat), str(tmp_path / "out" / "a.json")]) == 0
    assert "no types file written (no document has an entity)" in capsys.readouterr().out
    assert [d.tokens for d in read_documents(tmp_path / "out" / "a.json")] == [["John", "works", "in", "Paris", "."]]
    assert not (tmp_path / "out" / "a_types.json").exists()


def test_validate_reports_everything_at_once(tmp_path, capsys):
    docs = json.loads(open(f"{FIXTURES}/tiny_train.json").read())
    docs.append({"tokens": ["a", "b"], "entities": [{"type": "Peop", "start": 2, "end": 1}], "relations": []})
    docs.append({"tokens": ["a"], "entities": [{"type": "Person", "start": 0, "end": 1}], "relations": []})
    docs.append({"tokens": [], "entities": [], "relations": []})
    docs.append({"tokens": ["a", "well-known", "pro", "-", "democracy", "group"], "entities": [], "relations": []})
    docs.append({"tokens": ["John", "", "Smith", " "], "entities": [], "relations": []})  # a converter's slip
    docs.append({"tokens": ["Mary", "met", "Acme"],  # an entity twice, and a relation of each twin
                 "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Org", "start": 2, "end": 3},
                              {"type": "Peop", "start": 0, "end": 1}],
                 "relations": [{"type": "Work_For", "head": 0, "tail": 1}, {"type": "Work_For", "head": 2, "tail": 1}]})
    docs.append({"tokens": ["Oslo", "near", "Bergen"],  # a symmetric relation written both ways
                 "entities": [{"type": "Loc", "start": 0, "end": 1}, {"type": "Loc", "start": 2, "end": 3}],
                 "relations": [{"type": "Near", "head": 0, "tail": 1}, {"type": "Near", "head": 1, "tail": 0}]})
    path = tmp_path / "data.json"
    path.write_text(json.dumps(docs))
    assert main(["validate", str(path), "--types", f"{FIXTURES}/tiny_types.json", "--max-span-width", "2"]) == 1
    out = capsys.readouterr().out
    assert "document 5: entity 0 has end 1 <= start 2" in out and "document 6: entity 0 has unknown type" in out
    assert "1 empty document(s)" in out and "3 error(s)" in out
    assert "1 entities are wider than max_span_width = 2" in out  # "The University of Oslo"
    assert "hyphenated words, whole          1" in out and "hyphenated words, apart          1" in out
    assert "reads raw text's hyphenated words apart" in out  # 1 against 1: not more often whole
    assert "blank words (empty or spaces)    2" in out
    assert "duplicate entities               1" in out and "duplicate relations              2" in out
    assert "same span with two types" not in out  # the twins were counted so
    assert main(["validate", f"{FIXTURES}/tiny_train.json", "--types", f"{FIXTURES}/tiny_types.json", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["nested entity pairs"] == 1 and report["counts"]["multi-label relation pairs"] == 1
    assert report["entities_per_type"] == {"Peop": 3, "Loc": 5, "Org": 2} and report["errors"] == []


def test_validate_counts_repeated_documents_and_those_a_training_file_holds(tmp_path, capsys):
    """A dev or test set's documents with a training document's words (CoNLL04's test set has 18):
    `--train` counts them; repeats within a file are counted always."""
    train = json.loads(open(f"{FIXTURES}/tiny_train.json").read())
    other = {"tokens": ["Oslo", "is", "cold", "."], "entities": [], "relations": []}
    (tmp_path / "test.json").write_text(json.dumps([other, train[1], other, train[0]]))
    assert main(["validate", str(tmp_path / "test.json"), "--train", f"{FIXTURES}/tiny_train.json",
                 "--types", f"{FIXTURES}/tiny_types.json"]) == 0
    out = capsys.readouterr().out
    assert "repeated documents (same words)  1" in out
    assert f"2 documents have the words of a document of {FIXTURES}/tiny_train.json: a model trained on it has seen " \
           "them (documents [1, 3])" in out
    assert main(["validate", str(tmp_path / "test.json"), "--train", str(tmp_path / "missing.json"), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["errors"] == [f"{tmp_path / 'missing.json'}: no such file"]


def test_validate_checks_against_a_models_window_and_width_or_the_ones_given(tiny_encoder, tmp_path, capsys):
    import torch

    from spertmt.data.documents import read_types
    from spertmt.model.encoder import load_encoder, load_tokenizer
    from spertmt.model.folder import save_checkpoint
    from spertmt.model.spertmt import SpERTMT

    config = Config(encoder=tiny_encoder, max_length=128, max_span_width=3)
    torch.manual_seed(0)
    model = SpERTMT(config, read_types(f"{FIXTURES}/tiny_types.json"), load_encoder(tiny_encoder))
    save_checkpoint(model, load_tokenizer(tiny_encoder), tmp_path / "model")
    data = f"{FIXTURES}/tiny_train.json"

    def report(*options):
        main(["validate", data, "--model", str(tmp_path / "model"), "--json", *options])
        found = json.loads(capsys.readouterr().out)
        return found["documents_longer_than_window"], found["entities_wider_than_max_span_width"]

    window, wide = report()  # the model's: 128 pieces, 3 words
    assert (window["max_length"], window["count"], wide["max_span_width"]) == (128, 0, 3)
    window, wide = report("--max-length", "8", "--max-span-width", "1")  # given: they win (--max-length did nothing)
    assert (window["max_length"], wide["max_span_width"]) == (8, 1) and window["count"] > 0 and wide["count"] > 0


def test_score_matches_evaluate_and_names_mismatches(tmp_path, capsys):
    pred = json.loads(open(f"{FIXTURES}/tiny_train.json").read())
    pred[1]["entities"][1]["type"] = "Loc"  # one wrong type
    pred[2]["relations"][0] = {"type": "Near", "head": 0, "tail": 1}  # symmetric, other direction
    (tmp_path / "pred.json").write_text(json.dumps(pred))
    args = ["score", "--gold", f"{FIXTURES}/tiny_train.json", "--pred", str(tmp_path / "pred.json"),
            "--types", f"{FIXTURES}/tiny_types.json", "--output", str(tmp_path / "out")]
    assert main(args) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["ner"]["micro"]["precision"] == pytest.approx(100 * 9 / 10)
    assert metrics["re"]["micro"]["f1"] == 100.0  # boundaries: the relation spans all match
    assert metrics["re_strict"]["micro"]["f1"] < 100.0
    pred[3]["tokens"][0] = "A"
    (tmp_path / "pred.json").write_text(json.dumps(pred))
    assert main(args) == 2
    assert "document 3" in capsys.readouterr().err


PLUGIN = '''
from pathlib import Path

from spertmt.data.convert import Report, register_format
from spertmt.data.documents import Document


def read_lines(path, options):
    return [Document(line.split(), [], []) for line in Path(path).read_text().splitlines()], Report()


def write_lines(documents, path):
    Path(path).write_text("".join(" ".join(d.tokens) + "\\n" for d in documents))


def register():
    register_format("lines", read_lines, write_lines, "one sentence a line, words split by spaces")
'''


def test_a_format_registered_by_an_installed_package_is_a_name_for_convert(tmp_path):
    """A package names its format in its `spertmt.formats` entry points (as one installed with pip
    would: a dist-info folder on the path); `spertmt convert` then reads and writes it."""
    import subprocess
    import sys

    (tmp_path / "lines_format.py").write_text(PLUGIN)
    info = tmp_path / "lines_format-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lines-format\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[spertmt.formats]\nlines = lines_format:register\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path)}
    run = [sys.executable, "-m", "spertmt", "convert"]
    out = subprocess.run(run + ["--from", "spert", "--to", "lines", f"{FIXTURES}/tiny_train.json",
                                str(tmp_path / "out.txt")], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    first = json.loads(open(f"{FIXTURES}/tiny_train.json").read())[0]["tokens"]
    assert (tmp_path / "out.txt").read_text().splitlines()[0] == " ".join(first)
    back = subprocess.run(run + ["--from", "lines", "--to", "spert", str(tmp_path / "out.txt"),
                                 str(tmp_path / "back.json"), "--types", f"{FIXTURES}/tiny_types.json"],
                          env=env, capture_output=True, text=True)
    assert back.returncode == 0, back.stderr
    assert json.loads((tmp_path / "back.json").read_text())[0]["tokens"] == first
    unknown = subprocess.run(run + ["--from", "tacred", "--to", "spert", "x", "y"], env=env, capture_output=True,
                             text=True)
    assert unknown.returncode == 2
    assert ("formats are spert, dygie, brat, doccano, labelstudio, prodigy, webanno, conll, lines; got 'tacred'"
            in unknown.stderr)
