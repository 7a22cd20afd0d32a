"""INCEpTION's WebAnno TSV 3 export read into SpERT documents (spertmt.data.webanno): spans over
several rows and stacked ones by their ids, relations on their target's first row with the source's
address, escapes; what cannot be a SpERT entity or relation is counted."""

import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spertmt.cli import main
from spertmt.data.convert import read_webanno, write_webanno
from spertmt.data.documents import DataError, Document, Entity, Relation
from spertmt.data.webanno import TsvLayers, tsv_file

HEADER = ("#FORMAT=WebAnno TSV 3.3\n"
          "#T_SP=de.tudarmstadt.ukp.dkpro.core.api.ner.type.NamedEntity|identifier|value\n"
          "#T_SP=de.tudarmstadt.ukp.dkpro.core.api.lexmorph.type.pos.POS|PosValue\n"
          "#T_RL=webanno.custom.Relation|label|BT_de.tudarmstadt.ukp.dkpro.core.api.ner.type.NamedEntity\n\n\n")
# columns: id, characters, token; NamedEntity identifier and value; POS; the relation's label and source
BODY = """#Text=John Smith works for Acme Corp .
1-1\t0-4\tJohn\t*[1]\tPER[1]\tNNP\t_\t_\t
1-2\t5-10\tSmith\t*[1]\tPER[1]\tNNP\t_\t_\t
1-3\t11-16\tworks\t*\t*\tVBZ\t_\t_\t
1-4\t17-20\tfor\t_\t_\tIN\t_\t_\t
1-5\t21-25\tAcme\t*[2]\tORG[2]\tNNP\tWork_For\t1-1\t
1-6\t26-30\tCorp\t*[2]\tORG[2]\tNNP\t_\t_\t
1-7\t31-32\t.\t_\t_\t.\t_\t_\t

#Text=Mary lives in
#Text=Oslo .
2-1\t33-37\tMary\t*\tPER\tNNP\tKnows\t1-1\t
2-2\t38-43\tlives\t_\t_\tVBZ\t_\t_\t
2-3\t44-46\tin\t_\t_\tIN\t_\t_\t
2-4\t47-51\tOslo\t*[3]|*[4]\tLOC[3]|GPE[4]\tNNP\tLive_In|Located_In\t2-1[0_3]|2-1[0_4]\t
2-5\t52-53\t.\t_\t_\t.\t_\t_\t

#Text=a\\_b Acme-Soft
3-1\t54-57\ta\\_b\t_\t_\tNN\t_\t_\t
3-2\t58-67\tAcme-Soft\t_\t_\tNNP\t_\t_\t
3-2.1\t58-62\tAcme\t*\tORG\t_\t_\t_\t
"""


def _read(tmp_path, text):
    (tmp_path / "doc.tsv").write_text(text, encoding="utf-8")
    return read_webanno(tmp_path / "doc.tsv")


def test_spans_stacks_and_relations_become_entities_and_relations(tmp_path, capsys):
    documents, report = _read(tmp_path, HEADER + BODY)
    assert [(d.orig_id, d.tokens) for d in documents] == [
        ("doc.tsv:1", ["John", "Smith", "works", "for", "Acme", "Corp", "."]),
        ("doc.tsv:2", ["Mary", "lives", "in", "Oslo", "."]), ("doc.tsv:3", ["a\\_b", "Acme-Soft"])]
    assert [[(" ".join(d.tokens[e.start:e.end]), e.type) for e in d.entities] for d in documents] == [
        [("John Smith", "PER"), ("Acme Corp", "ORG")], [("Mary", "PER"), ("Oslo", "LOC"), ("Oslo", "GPE")], []]
    assert [[(r.head, r.type, r.tail) for r in d.relations] for d in documents] == [
        [(0, "Work_For", 1)], [(0, "Live_In", 1), (0, "Located_In", 2)], []]
    assert dict(report.counts) == {
        "layer de.tudarmstadt.ukp.dkpro.core.api.lexmorph.type.pos.POS (not read)": 1,
        "span without a value (skipped)": 1, "span on sub-tokens (skipped)": 1,
        "relation across sentences (skipped)": 1}
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "a.tsv").write_text(HEADER + BODY, encoding="utf-8")
    assert main(["convert", "--from", "webanno", "--to", "spert", str(tmp_path / "export"),
                 str(tmp_path / "train.json")]) == 0
    assert "span on sub-tokens (skipped): 1" in capsys.readouterr().out
    assert (tmp_path / "train_types.json").exists()
    assert main(["convert", "--from", "spert", "--to", "webanno", str(tmp_path / "train.json"),
                 str(tmp_path / "out.tsv")]) == 0
    back, report = read_webanno(tmp_path / "out.tsv")
    assert [(d.tokens, [(e.start, e.end, e.type) for e in d.entities], d.relations) for d in back] == \
        [(d.tokens, [(e.start, e.end, e.type) for e in d.entities], d.relations) for d in documents[:2]] + \
        [(["a\\_b", "Acme-Soft"], [], [])] and not report.counts


def test_an_ambiguous_relation_and_a_layer_without_features(tmp_path):
    """A relation whose end is one of stacked spans but names no id cannot be placed: counted. A
    span layer without features marks spans of its own name."""
    header = ("#FORMAT=WebAnno TSV 3.3\n#T_SP=webanno.custom.Drug\n"
              "#T_RL=webanno.custom.Interacts|BT_webanno.custom.Drug\n\n\n")
    body = ("#Text=aspirin and warfarin\n1-1\t0-7\taspirin\t*\t_\t\n1-2\t8-11\tand\t_\t_\t\n"
            "1-3\t12-20\twarfarin\t*[1]|*[2]\t1-1\t\n")  # the relation: its source's address only
    documents, report = _read(tmp_path, header + body)
    assert [(e.start, e.type) for e in documents[0].entities] == [(0, "Drug"), (2, "Drug"), (2, "Drug")]
    assert documents[0].relations == []
    assert dict(report.counts) == {"relation to a skipped or missing span (skipped)": 1}


def test_a_file_without_a_span_layer_gives_its_words(tmp_path):
    documents, report = _read(tmp_path, "#FORMAT=WebAnno TSV 3.3\n#T_CH=x.Coref|referenceType|referenceRelation"
                                        "\n\n\n#Text=a b\n1-1\t0-1\ta\t_\t_\n1-2\t2-3\tb\t_\t_\n")
    assert [(d.tokens, d.entities) for d in documents] == [(["a", "b"], [])]
    assert dict(report.counts) == {"file without a span layer (its words read, no entity)": 1,
                                   "layer x.Coref (not read)": 1}


@pytest.mark.parametrize("text, message", [
    ("1-1\t0-4\tJohn\n", "not WebAnno TSV 3"),
    (HEADER + "#Text=a\n1-1\t0-1\ta\n", "row 1-1 has 3 columns; the header's layers need 8"),
    (HEADER + "#Text=a b\n1-1\t0-1\ta\t*\tX\tNN\t_\t_\t\n1-2\t2-3\tb\t_\t_\tNN\tR\tone\t\n",
     "'one' is not a row's address"),
])
def test_what_is_not_webanno_tsv_is_named(tmp_path, text, message):
    with pytest.raises(DataError, match=re.escape(message)):
        _read(tmp_path, text)


def test_a_project_export_is_read_from_its_curated_files_or_says_that_annotators_repeat_a_document(tmp_path):
    """INCEpTION's project export holds each annotator's file of a document and the curated one."""
    export = tmp_path / "export"
    for where in ("annotation/doc1/alice.tsv", "annotation/doc1/bob.tsv", "curation/doc1/CURATION_USER.tsv"):
        (export / where).parent.mkdir(parents=True, exist_ok=True)
        (export / where).write_text(HEADER + BODY, encoding="utf-8")
    documents, report = read_webanno(export)
    assert [d.orig_id for d in documents] == ["curation/doc1/CURATION_USER.tsv:1", "curation/doc1/CURATION_USER.tsv:2",
                                             "curation/doc1/CURATION_USER.tsv:3"]
    assert report.counts["file outside curation/ (not read: the curated files are)"] == 2
    (export / "curation" / "doc1" / "CURATION_USER.tsv").unlink()
    documents, report = read_webanno(export)
    assert len(documents) == 6
    assert report.counts["document with several annotators' files (each read: give one annotator's or curate)"] == 1


def test_written_as_inceptions_writer_writes_it(tmp_path):
    """tsv_file writes what INCEpTION's own writer (Tsv3XSerializer) writes for the same annotations,
    as in its TSV 3 reference suite: a span over several words, or beside another on a word, has an
    id (numbered as INCEpTION numbers them); a relation sits on its tail's first word, with its head's
    first word and, where either span has an id, both ids (0: none); values are escaped (Live_In),
    a sentence's text is split at its line breaks, offsets are counted in UTF-16 units (an emoji is
    two); the named-entity layer's identifier is left empty (*). What is written reads back."""
    text = "Ann Lee saw Oslo\nand 🙂 Oslo .\n\nBob ran ."
    words = [[(0, 3), (4, 7), (8, 11), (12, 16), (17, 20), (21, 22), (23, 27), (28, 29)],
             [(31, 34), (35, 38), (39, 40)]]
    entities = [(0, 2, "Peop"), (3, 4, "Loc"), (3, 4, "GPE"), (6, 7, "Loc"), (8, 9, "Peop")]
    relations = [(0, 1, "Live_In"), (0, 2, "Live_In"), (0, 3, "Visits->")]
    expected = (
        "#FORMAT=WebAnno TSV 3.3\n"
        "#T_SP=de.tudarmstadt.ukp.dkpro.core.api.ner.type.NamedEntity|identifier|value\n"
        "#T_RL=webanno.custom.Relation|label|BT_de.tudarmstadt.ukp.dkpro.core.api.ner.type.NamedEntity\n\n\n"
        "#Text=Ann Lee saw Oslo\n#Text=and 🙂 Oslo .\n"
        "1-1\t0-3\tAnn\t*[1]\tPeop[1]\t_\t_\t\n"
        "1-2\t4-7\tLee\t*[1]\tPeop[1]\t_\t_\t\n"
        "1-3\t8-11\tsaw\t_\t_\t_\t_\t\n"
        "1-4\t12-16\tOslo\t*[2]|*[3]\tLoc[2]|GPE[3]\tLive\\_In|Live\\_In\t1-1[1_2]|1-1[1_3]\t\n"
        "1-5\t17-20\tand\t_\t_\t_\t_\t\n"
        "1-6\t21-23\t🙂\t_\t_\t_\t_\t\n"
        "1-7\t24-28\tOslo\t*\tLoc\tVisits\\->\t1-1[1_0]\t\n"
        "1-8\t29-30\t.\t_\t_\t_\t_\t\n\n"
        "#Text=Bob ran .\n"
        "2-1\t32-35\tBob\t*\tPeop\t_\t_\t\n"
        "2-2\t36-39\tran\t_\t_\t_\t_\t\n"
        "2-3\t40-41\t.\t_\t_\t_\t_\t\n")
    assert tsv_file(text, words, entities, relations) == expected
    documents, report = _read(tmp_path, expected)
    assert [[(e.start, e.end, e.type) for e in d.entities] for d in documents] == [
        [(0, 2, "Peop"), (3, 4, "Loc"), (3, 4, "GPE"), (6, 7, "Loc")], [(0, 1, "Peop")]]
    assert [(r.head, r.tail, r.type) for r in documents[0].relations] == \
        [(0, 1, "Live_In"), (0, 2, "Live_In"), (0, 3, "Visits->")] and not report.counts
    # without the relation layer (an NER model); other layer names (INCEpTION's suite uses custom ones)
    assert "#T_RL" not in tsv_file(text, words, entities, [], with_relations=False)
    custom = tsv_file("This is", [[(0, 4), (5, 7)]], [(0, 1, "A")], [],
                      layers=TsvLayers("webanno.custom.Span", ("value",)), with_relations=False)
    assert custom == "#FORMAT=WebAnno TSV 3.3\n#T_SP=webanno.custom.Span|value\n\n\n#Text=This is\n" \
                     "1-1\t0-4\tThis\tA\t\n1-2\t5-7\tis\t_\t\n"


def test_a_sentence_text_is_escaped_and_a_word_with_a_tab_is_refused(tmp_path):
    """A sentence's text is escaped as INCEpTION escapes it (a tab, a backslash, a form feed; U+2028
    stays), and read back line by line as Java reads lines; a word that holds a tab cannot be a TSV token."""
    text = "a\tb c\\d e\x0cf g\u2028h"
    written = tsv_file(text, [[(0, 1), (2, 3), (4, 7), (8, 9), (10, 11), (12, 13), (14, 15)]], [(1, 2, "X")], [])
    assert "#Text=a\\tb c\\\\d e\\ff g\u2028h\n" in written
    documents, report = _read(tmp_path, written)
    assert documents[0].tokens == ["a", "b", "c\\d", "e", "f", "g", "h"] and documents[0].entities[0].type == "X"
    with pytest.raises(DataError, match="a TSV 3 token is one or more characters without a tab or a line break"):
        tsv_file("a\tb", [[(0, 3)]], [], [])


# any character but those that end a TSV row or part its columns (the writer refuses them in a word)
_CHARACTERS = st.characters(blacklist_characters="\t\n\r", blacklist_categories=("Cs",))


@st.composite
def _documents(draw):
    """SpERT documents of odd words and types: INCEpTION's escapes (\\ [ ] | _ ; * ->), emoji, stacked
    and overlapping entities of several words, relations among them."""
    documents = []
    for _ in range(draw(st.integers(1, 3))):
        tokens = draw(st.lists(st.text(_CHARACTERS, min_size=1, max_size=4), min_size=1, max_size=6))
        type_names = st.sampled_from(["Peop", "Live_In", "a|b", "*", "_", "x->y", "[1]", "A\\", "q;r", "é🙂"])
        spans = draw(st.lists(st.tuples(st.integers(0, len(tokens) - 1), st.integers(1, 3), type_names),
                              max_size=5, unique_by=lambda s: s[:2] + (s[2],)))
        entities = [Entity(start, min(start + width, len(tokens)), kind) for start, width, kind in spans]
        entities = list({(e.start, e.end, e.type): e for e in entities}.values())
        pairs = draw(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9), type_names), max_size=4)) \
            if len(entities) > 1 else []
        relations = list({(h % len(entities), t % len(entities), kind): Relation(h % len(entities), t % len(entities),
                                                                                 kind)
                          for h, t, kind in pairs if h % len(entities) != t % len(entities)}.values())
        documents.append(Document(tokens, entities, relations))
    return documents


def _in_any_order(doc):
    entity = [(e.start, e.end, e.type) for e in doc.entities]
    return doc.tokens, sorted(entity), sorted((entity[r.head], entity[r.tail], r.type) for r in doc.relations)


@settings(max_examples=300, deadline=None)
@given(documents=_documents())
def test_what_is_written_reads_back(documents):
    """Any words, types, stacks and relations written as TSV 3 read back the same (in file order)."""
    with tempfile.TemporaryDirectory() as folder:
        write_webanno(documents, Path(folder) / "a.tsv")
        back, report = read_webanno(Path(folder) / "a.tsv")
    assert [_in_any_order(d) for d in back] == [_in_any_order(d) for d in documents] and not report.counts
