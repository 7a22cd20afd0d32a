"""Extraction for users: raw text and word lists in, offsets mapped back; given entities;
entities only; files in and out (streamed); thresholds tuned on dev and used."""

import fcntl
import gzip
import json
import os
import unicodedata

import pytest
import torch

from spertmt.cli import main
from spertmt.data.documents import read_types
from spertmt.inference.extractor import load
from spertmt.inference.streaming import predict_file
from spertmt.inference.thresholds import _best_cut
from spertmt.model.encoder import load_encoder, load_tokenizer
from spertmt.model.folder import save_checkpoint
from spertmt.model.spertmt import SpERTMT

from ..conftest import FIXTURES

TEXT = "John Smith lives in Paris. Mary works for Acme Corp in Berlin.\nNothing here"


@pytest.fixture(scope="module")
def model_folder(tiny_encoder, tmp_path_factory):
    from spertmt.config import Config

    folder = tmp_path_factory.mktemp("model") / "best"
    config = Config(encoder=tiny_encoder, max_length=128, threshold=-100.0)  # an untrained model: keep everything
    types = read_types(f"{FIXTURES}/tiny_types.json")
    save_checkpoint(SpERTMT(config, types, load_encoder(tiny_encoder)), load_tokenizer(tiny_encoder), folder)
    return folder


def test_extract_raw_text_maps_offsets_back(model_folder):
    result = load(model_folder, device="cpu").extract(TEXT, batch_size=2)[0]
    assert result.text == TEXT and result.tokens[:3] == ["John", "Smith", "lives"]
    assert result.entities, "θ = -100 keeps every candidate span"
    for e in result.entities:
        assert TEXT[e.start:e.end] == e.text
        assert "".join(result.tokens[e.token_start:e.token_end]) == "".join(e.text.split())
        assert e.end - e.start > 0 and isinstance(e.score, float)
    assert {e.sentence for e in result.entities} == {0, 1, 2}
    for r in result.relations:  # relations stay within a sentence
        assert result.entities[r.head].sentence == result.entities[r.tail].sentence
    ordered = [(e.sentence, e.token_start, e.token_end) for e in result.entities]
    assert ordered == sorted(ordered)


def test_a_result_as_a_dict_is_what_asdict_makes_of_it(model_folder):
    import dataclasses

    result = load(model_folder, device="cpu").extract(TEXT)[0]
    assert result.entities and result.relations
    record = result.to_dict()
    assert record == dataclasses.asdict(result)
    assert json.dumps(record) == json.dumps(dataclasses.asdict(result))  # the same keys in the same order
    record["entities"][0]["type"] = "changed"
    record["tokens"].append("changed")
    assert result.entities[0].type != "changed" and result.tokens[-1] != "changed"  # a copy, as asdict's


def test_what_is_not_a_text_is_named_and_any_iterable_of_texts_is_taken(model_folder):
    import numpy as np

    extractor = load(model_folder, device="cpu")
    for texts, message in ((None, "texts must be a string or a list of texts, not NoneType"),
                           ([TEXT, None], r"texts\[1\] is None; each text must be a string or a list of words"),
                           ([3], r"texts\[0\] is 3;"), ([["Mary", 1]], r"texts\[0\] is \['Mary', 1\];")):
        with pytest.raises(TypeError, match=message):  # before: 'NoneType' object is not iterable, or str(1)
            extractor.extract(texts)
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"text": [TEXT]})
    with pytest.raises(TypeError, match=r"texts is a table \(DataFrame\); pass its column of texts"):
        extractor.extract(frame)  # before: one text, the column's name "text"
    assert [r.text for r in extractor.extract(frame["text"])] == [TEXT]
    # a lone surrogate (JSON's "\ud800" read as it is): before, the tokenizer's TypeError about its input types
    for texts, message in (([TEXT, "John \ud800 x"], r"texts\[1\] holds a lone surrogate at character 5"),
                           ([["Mary", "a\udc00"]], r"texts\[0\] holds a lone surrogate at word 1")):
        with pytest.raises(ValueError, match=message):
            extractor.extract(texts)

    def decisions(results):
        return [(r.tokens, [(e.start, e.end, e.type) for e in r.entities]) for r in results]

    expected = decisions(extractor.extract([TEXT, ["Mary", "lives", "in", "Oslo"]]))
    assert decisions(extractor.extract((TEXT, ("Mary", "lives", "in", "Oslo")))) == expected
    assert decisions(extractor.extract(iter([np.array([TEXT])[0], np.array(["Mary", "lives", "in", "Oslo"])]))) \
        == expected


def test_predict_takes_spert_json_objects_and_names_what_is_not_a_list_of_documents(model_folder):
    from spertmt.data.documents import DataError, Document

    extractor = load(model_folder, device="cpu")
    raw = [{"tokens": TEXT.split(), "entities": [{"type": "Peop", "start": 0, "end": 2}], "relations": []}]
    documents = [Document(TEXT.split())]
    assert [d.to_json() for d in extractor.predict(raw)] == [d.to_json() for d in extractor.predict(documents)]
    for documents, error, message in ((TEXT, TypeError, r"not a str: raw text goes to extract\(\)"),
                                      (raw[0], TypeError, r"not a dict: give \[document\]"),
                                      ([TEXT], TypeError, r"documents\[0\] is a str, not a document of words"),
                                      ([{"tokens": TEXT}], DataError, r"documents\[0\]: 'tokens' must be a list")):
        with pytest.raises(error, match=message):  # before: AttributeError: ... has no attribute 'tokens'
            extractor.predict(documents)


_FORKED: dict = {}  # what a forked child finds: its parent's memory


def _in_forked_child():
    wide = torch.nn.functional.layer_norm(torch.ones(64, 512, 384), (384,))  # the encoder's first op, at size
    entities = [(e.text, e.type) for e in _FORKED["extractor"].extract(TEXT)[0].entities]
    return torch.get_num_threads(), tuple(wide.shape), entities


def test_a_process_forked_after_the_model_ran_extracts(model_folder):
    """spaCy's nlp.pipe(n_process=2) and a multiprocessing Pool fork the process: the OpenMP threads
    torch ran the model on do not exist in the child, whose first parallel op (MiniLM's layer_norm)
    waited for them forever. A child forked after a model loaded runs on one thread."""
    import multiprocessing

    extractor = _FORKED["extractor"] = load(model_folder, device="cpu")
    expected = [(e.text, e.type) for e in extractor.extract(TEXT)[0].entities]
    own = torch.get_num_threads()  # the suite's share of the cores: one, where the hang needs two
    torch.set_num_threads(2)
    try:
        torch.nn.functional.layer_norm(torch.ones(64, 512, 384), (384,))  # this process's threads at work
        with multiprocessing.get_context("fork").Pool(1) as pool:
            threads, shape, entities = pool.apply_async(_in_forked_child).get(timeout=60)
    finally:
        torch.set_num_threads(own)
    assert (threads, shape, entities) == (1, (64, 512, 384), expected)


def test_results_do_not_depend_on_how_texts_are_batched(model_folder):
    extractor = load(model_folder, device="cpu")
    texts = [TEXT, "Acme Corp hired John .", "Paris", "Mary Smith of Berlin met John Smith of Paris in Rome ."]
    alone = [extractor.extract(t)[0] for t in texts]
    for rule in ({"batch_size": 16}, {"batch_size": 2}, {"batch_size": 16, "batch_pieces": 20}):
        together = extractor.extract(texts, **rule)
        for one, other in zip(alone, together):
            assert [(e.token_start, e.token_end, e.type) for e in one.entities] == \
                [(e.token_start, e.token_end, e.type) for e in other.entities]
            assert [e.score for e in one.entities] == pytest.approx([e.score for e in other.entities], abs=1e-4)
            assert [(r.head, r.tail, r.type) for r in one.relations] == \
                [(r.head, r.tail, r.type) for r in other.relations]


def test_given_entities_entities_only_and_word_lists(model_folder):
    extractor = load(model_folder, device="cpu")
    given = [[{"start": 0, "end": 10, "type": "Peop"}, {"start": 20, "end": 25, "type": "Loc"},
              {"start": 27, "end": 31, "type": "Peop"}]]
    result = extractor.extract([TEXT], given)[0]
    assert [(e.text, e.type) for e in result.entities] == [("John Smith", "Peop"), ("Paris", "Loc"),
                                                           ("Mary", "Peop")]
    assert {(r.head, r.tail) for r in result.relations} <= {(0, 1), (1, 0)}  # within sentence 0 only
    with pytest.raises(ValueError, match=r"entities\[0\]\[0\].*word boundaries"):
        extractor.extract([TEXT], [[{"start": 1, "end": 10, "type": "Peop"}]])
    with pytest.raises(ValueError, match=r"entities\[0\]\[0\] has type 'Person', which the model does not know; "
                                         r"its entity types: Loc, Org, Peop"):
        extractor.extract([TEXT], [[{"start": 0, "end": 10, "type": "Person"}]])
    with pytest.raises(ValueError, match=r"entities\[0\] is an entity \(.*\); entities holds one list of entities per "
                                         r"text"):  # before: entities[0][0] ('start') needs "type" ...
        extractor.extract(TEXT, [{"start": 0, "end": 10, "type": "Peop"}])
    only = extractor.extract(TEXT, relations=False)[0]
    assert only.entities and not only.relations
    words = extractor.extract([["Mary", "lives", "in", "Oslo", "."]])[0]
    assert words.text is None and words.entities[0].start is None and words.entities[0].text


def test_a_given_entity_may_end_before_or_after_an_abbreviations_full_stop(model_folder):
    extractor = load(model_folder, device="cpu")
    text = "Mr. Lee works for Acme Corp. in Oslo."
    for end in (27, 28):  # "Acme Corp" and "Acme Corp.": the word is "Corp."
        result = extractor.extract(text, [[{"start": 18, "end": end, "type": "Org"}]])[0]
        assert [(e.text, e.start, e.end) for e in result.entities] == [("Acme Corp.", 18, 28)]


def test_hyphenated_words_follow_the_models_setting(model_folder):
    extractor = load(model_folder, device="cpu")
    text = "John Smith of Paris met a strife-torn Acme Corp."
    assert extractor.config.hyphenated_words is None  # a folder written before the key: apart
    assert "strife-torn" not in extractor.extract(text)[0].tokens
    extractor.set_prediction_settings(hyphenated_words="joined")
    assert "strife-torn" in extractor.extract(text)[0].tokens


def _decisions(result: dict):
    return (result["id"], [(e["start"], e["end"], e["type"]) for e in result["entities"]],
            [(r["head"], r["tail"], r["type"]) for r in result["relations"]])


def test_a_stopped_resumable_predict_goes_on_where_it_stopped(model_folder, tmp_path, capsys):
    """`resume`: a run stopped by Ctrl-C keeps its whole results in <output>.partial (a line that a
    kill cut short is dropped), and `spertmt predict --resume` skips those inputs and ends with the
    results of one uninterrupted run."""
    extractor = load(model_folder, device="cpu")
    source, output, partial = tmp_path / "in.txt", tmp_path / "out.jsonl", tmp_path / "out.jsonl.partial"
    source.write_text("".join(f"Ann {i} met Bob in Oslo.\n" for i in range(10)))
    predict_file(extractor, source, tmp_path / "whole.jsonl", progress=False, chunk_size=3)

    class StoppedInTheThirdChunk:  # Ctrl-C while the third chunk is extracted
        calls = 0

        def extract(self, *args, **kwargs):
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            return extractor.extract(*args, **kwargs)

    with pytest.raises(KeyboardInterrupt):
        predict_file(StoppedInTheThirdChunk(), source, output, progress=False, chunk_size=3, resume=True)
    assert f"kept in {partial}" in capsys.readouterr().err and not output.exists()
    assert [json.loads(line)["id"] for line in partial.read_text().splitlines()] == [1, 2, 3, 4, 5, 6]
    with open(partial, "a") as f:
        f.write('{"id": 7, "te')  # a kill's cut line
    assert main(["predict", "--quiet", "--model", str(model_folder), "--input", str(source), "--output",
                 str(output), "--device", "cpu", "--resume"]) == 0
    assert "wrote 10 results" in capsys.readouterr().out and not partial.exists()
    whole = [json.loads(line) for line in (tmp_path / "whole.jsonl").read_text().splitlines()]
    resumed = [json.loads(line) for line in output.read_text().splitlines()]
    assert [_decisions(r) for r in resumed] == [_decisions(r) for r in whole]


def test_resume_refuses_a_partial_output_that_does_not_continue_the_input(model_folder, tmp_path):
    extractor = load(model_folder, device="cpu")
    source, output, partial = tmp_path / "in.txt", tmp_path / "out.jsonl", tmp_path / "out.jsonl.partial"
    source.write_text("Ann met Bob.\n" * 4)
    partial.write_text("".join(json.dumps({"id": k, "text": ""}) + "\n" for k in (1, 2, 4)))
    with pytest.raises(ValueError, match="does not continue .*in.txt: its last result has id 4, input 3 has 3"):
        predict_file(extractor, source, output, progress=False, resume=True)
    partial.write_text("".join(json.dumps({"id": k, "text": ""}) + "\n" for k in range(1, 7)))
    with pytest.raises(ValueError, match="holds 6 results, .*in.txt only 4 inputs"):
        predict_file(extractor, source, output, progress=False, resume=True)
    partial.write_text("not a result\n")
    with pytest.raises(ValueError, match="line 1: not a result of spertmt predict"):
        predict_file(extractor, source, output, progress=False, resume=True)
    partial.write_bytes(b'{"id": 1}\n\xff\n')
    with pytest.raises(ValueError, match="line 2: not a result of spertmt predict"):
        predict_file(extractor, source, output, progress=False, resume=True)
    partial.unlink()  # an input error before any result leaves no partial output behind
    (tmp_path / "bad.jsonl").write_text("[1, 2]\n")
    with pytest.raises(ValueError, match="bad.jsonl, line 1: expected an object"):
        predict_file(extractor, tmp_path / "bad.jsonl", output, progress=False, resume=True)
    assert not partial.exists()
    with pytest.raises(ValueError, match="resume continues a JSON lines output file of one process"):
        predict_file(extractor, source, tmp_path / "out.json", progress=False, resume=True)
    partial.write_text("")
    with open(partial) as held:  # a second writer of the same output waits its turn
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(ValueError, match="out.jsonl.partial: another process is writing it"):
            predict_file(extractor, source, output, progress=False, resume=True)
    assert not output.exists()


def test_an_input_error_anywhere_in_a_file_ends_predict_before_any_extraction(model_folder, tmp_path):
    """A bad input at the end of a long file (a writer killed mid-line, a lone surrogate, a row with
    a field too many, a given entity of a type the model does not know or off its words) is named
    before the first text is extracted: the work before it would be thrown away with the output that
    is never written."""
    extractor = load(model_folder, device="cpu")

    class Counting:  # the extractor, counting its calls
        calls = 0
        types, config = extractor.types, extractor.config

        def extract(self, *args, **kwargs):
            self.calls += 1
            return extractor.extract(*args, **kwargs)

    good = "".join(json.dumps({"text": f"Ann {i} met Bob."}) + "\n" for i in range(30))
    cases = {"cut.jsonl": (good + '{"text": "Ann me', "cut.jsonl, line 31: not valid JSON"),
             "surrogate.jsonl": (good + '{"text": "Ann \\ud800 met Bob."}\n',
                                 "surrogate.jsonl, line 31: text holds a lone surrogate at character 4"),
             "rows.csv": ("text\n" + "Ann met Bob.\n" * 30 + "Ann,met\n",
                          "rows.csv, line 32: 2 fields where the first line names 1"),
             "latin1.txt": ("Ann met Bob.\n" * 30 + "caf\xe9\n", "latin1.txt, line 31: not UTF-8 text"),
             "given.jsonl": (good + json.dumps({"text": "Ann met Bob.", "entities": [
                 {"type": "Peop", "start": 0, "end": 3}, {"type": "Pet", "start": 8, "end": 11}]}) + "\n",
                             "given.jsonl, line 31: entities\\[1\\] has type 'Pet', which the model does not know"),
             "off.jsonl": (good + json.dumps({"text": "Ann met Bob.", "entities": [
                 {"type": "Peop", "start": 0, "end": 2}]}) + "\n", "off.jsonl, line 31: entities\\[0\\]")}
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content.encode("latin-1" if name == "latin1.txt" else "utf-8"))
        counting = Counting()
        for resume in (False, True):
            with pytest.raises(ValueError, match=message):
                predict_file(counting, tmp_path / name, tmp_path / "out.jsonl", progress=False, chunk_size=8,
                             resume=resume)
        assert counting.calls == 0 and not list(tmp_path.glob("out.jsonl*"))


def test_predict_file_formats_and_streaming(model_folder, tmp_path):
    extractor = load(model_folder, device="cpu")
    (tmp_path / "in.txt").write_text("John Smith lives in Paris.\n\nMary works for Acme Corp.\nOslo.\n")
    n = predict_file(extractor, tmp_path / "in.txt", tmp_path / "out.jsonl", progress=False)
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    # One result per line, the empty line included (an empty result), so that results join lines by position.
    assert n == 4 and [line["id"] for line in lines] == [1, 2, 3, 4] and lines[2]["text"] == "Mary works for Acme Corp."
    assert lines[1]["text"] == "" and lines[1]["tokens"] == [] and lines[1]["entities"] == []
    # The same results when the input is read two lines at a time.
    # (Scores may differ in the last bits: other batches, other padding, other matrix shapes.)
    predict_file(extractor, tmp_path / "in.txt", tmp_path / "small.jsonl", progress=False, chunk_size=2)
    small = [json.loads(line) for line in (tmp_path / "small.jsonl").read_text().splitlines()]
    assert [_decisions(r) for r in small] == [_decisions(r) for r in lines]
    scores = [e["score"] for r in lines for e in r["entities"]]
    assert [e["score"] for r in small for e in r["entities"]] == pytest.approx(scores, abs=1e-5)
    records = [{"id": "a", "tokens": ["Ann", "met", "Bob", "."]}, {"id": "b", "text": "Bob met Ann."}]
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    predict_file(extractor, tmp_path / "in.jsonl", tmp_path / "out.json", progress=False, relations=False)
    docs = json.loads((tmp_path / "out.json").read_text())
    assert [d["orig_id"] for d in docs] == ["a", "b"] and docs[1]["tokens"] == ["Bob", "met", "Ann", "."]
    assert all(not d["relations"] for d in docs)
    (tmp_path / "bad.jsonl").write_text('{"txt": "x"}\n')
    with pytest.raises(ValueError, match="bad.jsonl, line 1: expected an object with 'text' or 'tokens'"):
        predict_file(extractor, tmp_path / "bad.jsonl", tmp_path / "x.jsonl", progress=False)
    assert not list(tmp_path.glob("x.jsonl*"))  # no output, no temporary left behind


def test_predict_reads_a_text_files_paragraphs(model_folder, tmp_path):
    from spertmt.inference.streaming import _scan_inputs

    extractor = load(model_folder, device="cpu")
    wrapped = "\ufeffJohn Smith lives in\r\nParis. Mary works for\r\nAcme Corp.\r\n\r\n  \r\nOslo is in\nNorway.\n\n"
    (tmp_path / "in.txt").write_bytes(wrapped.encode())
    assert _scan_inputs(tmp_path / "in.txt", "paragraphs") == 2
    n = predict_file(extractor, tmp_path / "in.txt", tmp_path / "out.jsonl", input_format="paragraphs",
                     progress=False)
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert n == 2 and [line["id"] for line in lines] == [1, 6]  # each paragraph's first line
    assert lines[0]["text"] == "John Smith lives in\r\nParis. Mary works for\r\nAcme Corp."
    assert lines[1]["text"] == "Oslo is in\nNorway."
    # the line breaks are spaces: the same decisions as the paragraph on one line
    flat = extractor.extract("John Smith lives in  Paris. Mary works for  Acme Corp.")[0]
    assert [(e["start"], e["end"], e["type"]) for e in lines[0]["entities"]] == \
        [(e.start, e.end, e.type) for e in flat.entities]
    assert [(r["head"], r["tail"], r["type"]) for r in lines[0]["relations"]] == \
        [(r.head, r.tail, r.type) for r in flat.relations]


def test_predict_reads_csv_and_tsv_rows(model_folder, tmp_path):
    """A spreadsheet's texts: the first line names the columns ('text', optionally 'id'; others are
    ignored), a quoted field may hold a line break, blank lines are skipped; bad rows are named."""
    from spertmt.inference.streaming import _scan_inputs, _table_rows

    extractor = load(model_folder, device="cpu")
    table = '\ufeffid,text,source\r\na1,"John Smith lives in\nParis.",web\r\n\r\nb2,Mary works for Acme Corp.,mail\r\n'
    (tmp_path / "in.csv").write_bytes(table.encode())
    assert _scan_inputs(tmp_path / "in.csv", "csv") == 2
    assert predict_file(extractor, tmp_path / "in.csv", tmp_path / "out.jsonl", progress=False) == 2
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines] == ["a1", "b2"]
    assert [line["text"] for line in lines] == ["John Smith lives in\nParis.", "Mary works for Acme Corp."]
    expected = extractor.extract([line["text"] for line in lines])
    assert [[(e["start"], e["end"], e["type"]) for e in line["entities"]] for line in lines] == \
        [[(e.start, e.end, e.type) for e in result.entities] for result in expected]
    (tmp_path / "in.tsv").write_text("text\nMary works for Acme Corp.\n")
    predict_file(extractor, tmp_path / "in.tsv", tmp_path / "tsv.jsonl", progress=False)
    assert [json.loads(line)["id"] for line in (tmp_path / "tsv.jsonl").read_text().splitlines()] == [2]
    for content, message in [("txt\nBob\n", "bad.csv, line 1: the first line must name the columns, one of them "
                                              "'text'"),
                             ("text,id\nBob,1\nAnn,2,3\n", "bad.csv, line 3: 3 fields where the first line names 2"),
                             ("id;text\n1;Bob\n", r"it has \['id;text'\] \(columns parted by ';'\? save the file "
                                                  r"with ','\)")]:
        (tmp_path / "bad.csv").write_text(content)
        with pytest.raises(ValueError, match=message):
            predict_file(extractor, tmp_path / "bad.csv", tmp_path / "x.jsonl", progress=False)
    assert not list(tmp_path.glob("x.jsonl*"))
    long = "Mary works for Acme Corp. " * 6000  # 156,000 characters in one cell: past csv's default limit
    (tmp_path / "long.csv").write_text(f'text\n"{long}"\n')
    assert _scan_inputs(tmp_path / "long.csv", "csv") == 1
    assert [row[1] for row in _table_rows(tmp_path / "long.csv", ",")] == [long]


def test_predict_reads_the_text_and_the_id_from_the_columns_named(model_folder, tmp_path, capsys):
    """`--text-column` and `--id-column`: a spreadsheet's or JSON lines' texts and ids under other names
    (a pandas export's 'Text', a corpus's 'content' and 'doc_id'); without them the error says how to
    name the text's column, and an id column named must be there."""
    from spertmt.cli import main

    (tmp_path / "in.csv").write_text('doc_id,Text\na1,"John Smith lives\nin Paris."\n')
    (tmp_path / "in.jsonl").write_text('{"content": "John Smith lives\\nin Paris.", "doc_id": "a1"}\n')
    expected = load(model_folder, device="cpu").extract("John Smith lives\nin Paris.")[0]
    for name, text in (("in.csv", "Text"), ("in.jsonl", "content")):
        out = tmp_path / f"{name}.out.jsonl"
        command = ["predict", "--model", str(model_folder), "--input", str(tmp_path / name), "--output", str(out),
                   "--quiet"]
        assert main(command) == 2
        error = capsys.readouterr().err
        assert f"{name}, line 1:" in error and "another" in error and "name it with --text-column" in error
        assert main([*command, "--text-column", text]) == 0  # the id: the line number
        assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [2 if name == "in.csv" else 1]
        assert main([*command, "--text-column", text, "--id-column", "doc_id"]) == 0
        (line,) = [json.loads(line) for line in out.read_text().splitlines()]
        assert (line["id"], line["text"]) == ("a1", "John Smith lives\nin Paris.")
        assert [(e["start"], e["end"], e["type"]) for e in line["entities"]] == \
            [(e.start, e.end, e.type) for e in expected.entities]
        assert main([*command, "--text-column", text, "--id-column", "key"]) == 2
        assert "'key'" in capsys.readouterr().err
    (tmp_path / "in.txt").write_text("John Smith lives in Paris.\n")
    with pytest.raises(ValueError, match="text_column and id_column name columns of CSV or TSV input or keys of "
                                         "JSON lines; .*in.txt is read as txt"):
        predict_file(load(model_folder, device="cpu"), tmp_path / "in.txt", tmp_path / "x.jsonl", text_column="Text")


def test_predict_reads_each_text_file_of_a_folder_as_a_text(model_folder, tmp_path):
    from spertmt.inference.streaming import _scan_inputs

    extractor = load(model_folder, device="cpu")
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "b.txt").write_text("John Smith lives in Paris.\n\nMary works for Acme Corp.\n")
    (corpus / "sub" / "a.txt").write_bytes("\ufeffOslo is in Norway.".encode())
    (corpus / "empty.txt").write_text("")
    (corpus / "c.txt.gz").write_bytes(gzip.compress(b"Ann met Bob in Rome."))  # read through its compression
    (corpus / "D.TXT").write_text("Mary met Ann.")  # as Windows names files
    for other in ("notes.md", "b.txt.bak", "c.txt.gz.part"):
        (corpus / other).write_text("not a text to read")
    (corpus / "folder.txt").mkdir()
    assert _scan_inputs(corpus, "folder") == 5
    import spertmt

    assert spertmt.predict_file is predict_file  # the public name
    assert spertmt.predict_file(extractor, corpus, tmp_path / "out.jsonl", progress=False) == 5
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines] == ["D.TXT", "b.txt", "c.txt.gz", "empty.txt", "sub/a.txt"]  # path order
    texts = ["Mary met Ann.", "John Smith lives in Paris.\n\nMary works for Acme Corp.\n", "Ann met Bob in Rome.",
             "", "Oslo is in Norway."]
    assert [line["text"] for line in lines] == texts
    assert [[(e["start"], e["end"], e["type"]) for e in line["entities"]] for line in lines] == \
        [[(e.start, e.end, e.type) for e in result.entities] for result in extractor.extract(texts)]
    (corpus / "sub" / "bad.txt").write_bytes(b"Oslo \xff")
    with pytest.raises(ValueError, match=r"sub/bad.txt, line 1: not UTF-8 text"):
        predict_file(extractor, corpus, tmp_path / "x.jsonl", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: a folder without .txt files"):
        predict_file(extractor, tmp_path / "empty", tmp_path / "x.jsonl", progress=False)
    with pytest.raises(ValueError, match=r"b.txt: not a folder \(--input-format folder reads"):
        predict_file(extractor, corpus / "b.txt", tmp_path / "x.jsonl", input_format="folder", progress=False)
    assert not list(tmp_path.glob("x.jsonl*"))


def test_predict_writes_doccano_records_that_convert_reads_back(model_folder, tmp_path):
    """Pre-annotation: doccano's relation-extraction JSON lines, raw texts at their own offsets and word
    lists joined by spaces; `convert --from doccano` reads the entities and relations back."""
    from spertmt.data.convert import read_doccano

    extractor = load(model_folder, device="cpu")
    records = [{"id": "a", "text": "John Smith lives in Paris. Mary works for Acme Corp."},
               {"id": "b", "tokens": ["Mary", "lives", "in", "Oslo", "."]}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    predict_file(extractor, tmp_path / "in.jsonl", tmp_path / "out.jsonl", output_format="doccano", progress=False,
                 threshold=-1.0)  # a low θ: entities and relations to carry
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    results = extractor.extract([records[0]["text"], records[1]["tokens"]], threshold=-1.0)
    assert [line["id"] for line in lines] == ["a", "b"] and lines[1]["text"] == "Mary lives in Oslo ."
    assert lines == [result.to_doccano(r["id"]) for result, r in zip(results, records)]
    for line, result in zip(lines, results):
        assert [line["text"][e["start_offset"]:e["end_offset"]] for e in line["entities"]] == \
            [e.text for e in result.entities]
    assert any(line["relations"] for line in lines)
    documents, report = read_doccano(tmp_path / "out.jsonl", words="unicode")
    assert not report.counts
    found = sorted((d.orig_id.split(":")[0], "".join(d.tokens[e.start:e.end]), e.type)
                   for d in documents for e in d.entities)
    assert found == sorted((r["id"], e.text.replace(" ", ""), e.type) for result, r in zip(results, records)
                           for e in result.entities)
    assert sum(len(d.relations) for d in documents) == sum(len(result.relations) for result in results)



def _predict_two_records(model_folder, tmp_path, text: str, output_format: str, output: str):
    """`predict_file` (θ -1: entities and relations to carry) in `output_format` on two records, a
    raw `text` with id "a" and a word list with id "b"; the records and what `extract` gives for them."""
    extractor = load(model_folder, device="cpu")
    records = [{"id": "a", "text": text}, {"id": "b", "tokens": ["Mary", "lives", "in", "Oslo", "."]}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert predict_file(extractor, tmp_path / "in.jsonl", tmp_path / output, output_format=output_format,
                        progress=False, threshold=-1.0) == 2
    return records, extractor.extract([records[0]["text"], records[1]["tokens"]], threshold=-1.0)


def test_predict_writes_label_studio_tasks_whose_corrected_annotations_convert_reads_back(model_folder, tmp_path):
    """Pre-annotation for Label Studio: a JSON list of tasks, each with one prediction whose regions
    and relations carry their probabilities and whose score is the lowest; once a reviewer accepts
    them (the prediction's result becomes the annotation's), `convert --from labelstudio` reads the
    entities and relations back. Not yet reviewed, a task is skipped and counted."""
    from spertmt.data.convert import read_labelstudio

    records, results = _predict_two_records(model_folder, tmp_path, "John Smith lives in Paris. Mary works for "
                                            "Acme Corp.", "labelstudio", "tasks.json")
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert tasks == [result.to_labelstudio(r["id"]) for result, r in zip(results, records)]
    assert [task["data"] for task in tasks] == [{"text": records[0]["text"], "id": "a"},
                                               {"text": "Mary lives in Oslo .", "id": "b"}]
    for task, result in zip(tasks, results):
        (prediction,) = task["predictions"]
        regions = [item for item in prediction["result"] if item["type"] == "labels"]
        assert [task["data"]["text"][r["value"]["start"]:r["value"]["end"]] for r in regions] == \
            [e.text for e in result.entities]
        assert [r["score"] for r in regions] == [e.probability for e in result.entities]
        assert prediction["score"] == min(item["score"] for item in prediction["result"])
    assert sum(item["type"] == "relation" for task in tasks for item in task["predictions"][0]["result"]) == \
        sum(len(result.relations) for result in results) > 0
    assert read_labelstudio(tmp_path / "tasks.json")[1].counts["task without an annotation (skipped)"] == 2
    for task in tasks:  # a reviewer accepts every prediction
        task["annotations"] = [{"result": task.pop("predictions")[0]["result"]}]
    (tmp_path / "reviewed.json").write_text(json.dumps(tasks))
    documents, report = read_labelstudio(tmp_path / "reviewed.json", words="unicode")
    found = sorted((d.orig_id.split(":")[0], "".join(d.tokens[e.start:e.end]), e.type)
                   for d in documents for e in d.entities)
    kept = [(e.text, e.type) for result in results for e in result.entities]
    assert len(found) + report.counts["entity across a sentence boundary (skipped)"] == len(kept)
    assert set(found) <= {(r["id"], e.text.replace(" ", ""), e.type) for result, r in zip(results, records)
                          for e in result.entities}


def test_predict_writes_prodigy_tasks_whose_tokens_are_the_words_extracted_from(model_folder, tmp_path):
    """Pre-annotation for Prodigy: a task per input whose tokens are the words the model read, by
    their characters in the text as it is (two spaces, a no-break space, an accent apart from its
    letter), each entity a span and each relation a relation with its probability as its score;
    `convert --from prodigy` reads the entities and relations back."""
    from spertmt.data.convert import read_prodigy

    records, results = _predict_two_records(model_folder, tmp_path, "John Smith lives in Paris.  Mary works for "
                                            "Acme\u00a0Corp. Cafe\u0301 owners met.", "prodigy", "tasks.jsonl")
    tasks = [json.loads(line) for line in (tmp_path / "tasks.jsonl").read_text().splitlines()]
    assert tasks == [result.to_prodigy(r["id"]) for result, r in zip(results, records)]
    assert [(task["text"], task["meta"]) for task in tasks] == [(records[0]["text"], {"id": "a"}),
                                                               ("Mary lives in Oslo .", {"id": "b"})]
    for task, result in zip(tasks, results):
        text, tokens, spans = task["text"], task["tokens"], task["spans"]
        assert [t["text"] for t in tokens] == [text[t["start"]:t["end"]] for t in tokens]
        assert [t["id"] for t in tokens] == list(range(len(result.tokens)))
        assert [t["ws"] for t in tokens] == [text[t["end"]:t["end"] + 1].isspace() for t in tokens]
        assert [(text[s["start"]:s["end"]], s["token_start"], s["token_end"] + 1, s["label"], s["score"])
                for s in spans] == [(e.text, e.token_start, e.token_end, e.type, e.probability)
                                    for e in result.entities]
        assert [(r["head"], r["child"], r["head_span"], r["label"], r["score"]) for r in task["relations"]] == [
            (spans[r.head]["token_end"], spans[r.tail]["token_end"], {k: v for k, v in spans[r.head].items()
                                                                      if k not in ("text", "score")},
             r.type, r.probability) for r in result.relations]
    assert "Cafe\u0301" in [t["text"] for t in tasks[0]["tokens"]]
    assert sum(len(task["relations"]) for task in tasks) > 0
    documents, report = read_prodigy(tmp_path / "tasks.jsonl")  # words as the text has them: "Cafe\u0301"
    assert not report.counts
    assert sorted((d.orig_id.split(":")[0], unicodedata.normalize("NFC", " ".join(d.tokens[e.start:e.end])), e.type)
                  for d in documents for e in d.entities) == sorted(
        (r["id"], " ".join(result.tokens[e.token_start:e.token_end]), e.type)
        for result, r in zip(results, records) for e in result.entities)
    assert sum(len(d.relations) for d in documents) == sum(len(result.relations) for result in results)


def _written_twice(extractor, texts: dict, tmp_path, output_format: str):
    """A folder of texts (a subfolder's too) and the folder output predict writes of it, twice: the
    second time over the folder the first wrote."""
    corpus, out = tmp_path / "corpus", tmp_path / output_format
    for name, text in texts.items():
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_bytes(text.encode())
    for _ in range(2):
        predict_file(extractor, corpus, out, output_format=output_format, progress=False, threshold=-1.0)
    return corpus, out


def test_predict_writes_brat_files_to_correct_beside_each_text(model_folder, tmp_path):
    """Pre-annotation for brat: each input's text and .ann (named by its id: a folder's files keep
    their paths), annotation.conf; convert --from brat reads the entities back. The folder is written
    whole, again over one predict wrote, never into the input or over another folder."""
    from spertmt.data.convert import read_brat

    extractor = load(model_folder, device="cpu")
    texts = {"b.txt": "John Smith lives in Paris.\r\nMary works for Acme Corp.\n", "sub/a.txt": "Oslo is in Norway."}
    corpus, out = _written_twice(extractor, texts, tmp_path, "brat")
    assert (out / "sub" / "a.txt").read_bytes() == texts["sub/a.txt"].encode()
    assert (out / "b.txt").read_bytes() == texts["b.txt"].replace("\r\n", "\n").encode()  # brat_files
    assert "[entities]\nPeop\nLoc\nOrg\n[relations]\n" in (out / "annotation.conf").read_text()
    assert not (out / "visual.conf").exists()  # every type stored by its name
    result = extractor.extract(texts["b.txt"], threshold=-1.0)[0]
    lines = (out / "b.ann").read_text().splitlines()
    assert [line.split("\t")[2] for line in lines if line.startswith("T")] == \
        [" ".join(e.text.split()) for e in result.entities]  # an entity across the line break: in fragments
    assert sum(line.startswith("R") for line in lines) == len(result.relations) > 0
    documents, _ = read_brat(out, words="unicode")
    assert sorted({d.orig_id.split(":")[0] for d in documents}) == ["b", "sub/a"]  # subfolders too
    # b.txt read back alone: θ = -1 keeps spans across sentences, which convert skips, named
    (tmp_path / "b").mkdir()
    for name in ("b.txt", "b.ann"):
        (tmp_path / "b" / name).write_bytes((out / name).read_bytes())
    documents, report = read_brat(tmp_path / "b", words="unicode")
    back = [("".join(d.tokens[e.start:e.end]), e.type) for d in documents for e in d.entities]
    assert back and set(back) <= {("".join(e.text.split()), e.type) for e in result.entities}
    assert len(back) + report.counts["entity not on word boundaries (skipped)"] + \
        report.counts["entity across a sentence boundary (skipped)"] == len(result.entities)
    for output, message in ((corpus / "pre", "the input .*corpus or inside it"),
                            (corpus, "the input"), (tmp_path / "corpus", "the input")):
        with pytest.raises(ValueError, match=message):
            predict_file(extractor, corpus, output, output_format="brat", progress=False)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("a user's file")
    with pytest.raises(FileExistsError, match="holds other files and is not a folder of brat files that predict"):
        predict_file(extractor, corpus, tmp_path / "mine", output_format="brat", progress=False)
    assert (tmp_path / "mine" / "notes.txt").exists()



def test_predict_writes_webanno_files_for_inception(model_folder, tmp_path):
    """Pre-annotation for INCEpTION: a WebAnno TSV 3 file per input (named by its id), the sentences
    and words extraction saw, offsets in the input text (UTF-16 units); convert --from webanno reads
    back each sentence's entities and relations as extract gave them. The folder is written whole,
    again over one predict wrote, never over another folder."""
    from spertmt.data.convert import read_webanno

    extractor = load(model_folder, device="cpu")
    texts = {"b.txt": "John Smith lives in Paris 🙂.\r\nMary works for Acme Corp.\n", "sub/a.txt": "Oslo is in Norway."}
    corpus, out = _written_twice(extractor, texts, tmp_path, "webanno")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == \
        [".spertmt-webanno", "b.tsv", "sub/a.tsv"]
    result = extractor.extract(texts["b.txt"], threshold=-1.0)[0]
    rows = [line.split("\t") for line in (out / "b.tsv").read_text(encoding="utf-8").split("\n")
            if line and not line.startswith("#")]
    utf16 = len(texts["b.txt"][:result.word_offsets[-1][0]].encode("utf-16-le")) // 2
    assert [r[2] for r in rows] == result.tokens and rows[-1][1] == f"{utf16}-{utf16 + len(result.tokens[-1])}"
    documents, report = read_webanno(out / "b.tsv")
    first = result.sentence_sizes[0]
    assert result.sentence_sizes == [7, 5] and [d.tokens for d in documents] == [result.tokens[:first],
                                                                               result.tokens[first:]]
    assert sorted((e.sentence, e.token_start - first * e.sentence, e.token_end - first * e.sentence, e.type)
                  for e in result.entities) == \
        sorted((k, e.start, e.end, e.type) for k, d in enumerate(documents) for e in d.entities)
    assert sum(len(d.relations) for d in documents) == len(result.relations) > 0 and not report.counts
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("a user's file")
    with pytest.raises(FileExistsError, match="holds other files and is not a folder of webanno files that predict"):
        predict_file(extractor, corpus, tmp_path / "mine", output_format="webanno", progress=False)


def test_two_inputs_naming_one_brat_file_end_predict_before_any_extraction(model_folder, tmp_path):
    """The pass before extraction knows each input's brat file: ids that name one (a.txt and a, a
    folder's a.txt and a.txt.gz) end the command at the second input, naming both, before the model
    runs; the brat folder is not written."""
    from spertmt.inference.streaming import output_name

    ids = ("a", "a.txt", "sub/a.txt.gz", "B.TXT", "../x y", 3, "/", "हिन्दी")
    assert [str(output_name(i, ".txt")) for i in ids] == \
        ["a.txt", "a.txt", "sub/a.txt", "B.txt", "x_y.txt", "3.txt", "_.txt", "हिन्दी.txt"]
    extractor = load(model_folder, device="cpu")
    extracted, extract = [], extractor.extract

    def spy(*args, **kwargs):
        extracted.append(args)
        return extract(*args, **kwargs)

    extractor.extract = spy
    (tmp_path / "in.jsonl").write_text('{"id": "a.txt", "text": "Oslo."}\n{"id": "b", "text": "Rome."}\n'
                                       '{"id": "a", "text": "Paris."}\n')
    with pytest.raises(ValueError, match=r"in.jsonl, line 3: its id 'a' names the brat file a.txt, as the id of "
                                         r".*in.jsonl, line 1 does: give each input an id of its own"):
        predict_file(extractor, tmp_path / "in.jsonl", tmp_path / "brat", output_format="brat", progress=False)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Oslo.")
    (corpus / "a.txt.gz").write_bytes(gzip.compress(b"Rome."))
    with pytest.raises(ValueError, match=r"a.txt.gz: its id 'a.txt.gz' names the brat file a.txt, as the id of "
                                         r".*a.txt does"):
        predict_file(extractor, corpus, tmp_path / "brat", output_format="brat", progress=False)
    assert not extracted and not (tmp_path / "brat").exists()
    predict_file(extractor, tmp_path / "in.jsonl", tmp_path / "out.jsonl", progress=False)  # other outputs: no check
    assert len(extracted) == 1

def test_predict_reads_standard_input_and_writes_standard_output(model_folder, tmp_path, capsys, monkeypatch):
    import io

    lines = "John Smith lives in Paris.\n\nMary works for Acme Corp.\n"
    (tmp_path / "in.txt").write_text(lines)
    assert main(["predict", "--quiet", "--model", str(model_folder), "--input", str(tmp_path / "in.txt"),
                 "--output", str(tmp_path / "out.jsonl")]) == 0
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    assert main(["predict", "--quiet", "--model", str(model_folder), "--input", "-", "--output", "-"]) == 0
    out, err = capsys.readouterr()
    assert out == (tmp_path / "out.jsonl").read_text()  # text lines in, JSON lines out, the file's results
    assert "wrote 3 results to standard output" in err  # the count on stderr, so the stream stays JSON
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"text": 3}\n')))
    assert main(["predict", "--quiet", "--model", str(model_folder), "--input", "-", "--input-format", "jsonl",
                 "--output", str(tmp_path / "bad.jsonl")]) == 2
    assert "standard input, line 1: 'text' is 3; expected a string" in capsys.readouterr().err
    # a missing text (pandas' to_json writes NaN as null) is an empty text with an empty result, as in Ray
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"text": null, "id": "a"}\n')))
    assert main(["predict", "--quiet", "--model", str(model_folder), "--input", "-", "--input-format", "jsonl",
                 "--output", "-"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["id"], result["text"], result["entities"], result["relations"]) == ("a", "", [], [])
    words = b'{"text": null, "tokens": ["Mary", "met", "John"]}\n'
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(words)))
    assert main(["predict", "--quiet", "--model", str(model_folder), "--input", "-", "--input-format", "jsonl",
                 "--output", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"] == ["Mary", "met", "John"]  # the words, where given


def test_predict_reads_and_writes_compressed_files_by_their_names(model_folder, tmp_path, capsys):
    """A .gz, .bz2 or .xz input is read as the plain file (its format told by the extension before
    the compression's), an output so named is written compressed (so are a resumed one and merged
    parts), and what does not decompress is named."""
    import bz2
    import lzma

    from spertmt.inference.streaming import _scan_inputs, merge_parts

    extractor = load(model_folder, device="cpu")
    texts = "".join(f"Ann {i} met Bob in Oslo.\n" for i in range(5))
    (tmp_path / "in.txt").write_text(texts)
    predict_file(extractor, tmp_path / "in.txt", tmp_path / "plain.jsonl", progress=False)
    plain = [_decisions(json.loads(line)) for line in (tmp_path / "plain.jsonl").read_text().splitlines()]

    def results(path, opener):
        with opener(path, "rt", encoding="utf-8") as f:
            return [_decisions(json.loads(line)) for line in f]

    for module, ext in ((gzip, ".gz"), (bz2, ".bz2"), (lzma, ".xz")):
        source, output = tmp_path / f"in.txt{ext}", tmp_path / f"out.jsonl{ext}"
        source.write_bytes(module.compress(texts.encode()))
        assert _scan_inputs(source, "txt") == 5
        assert predict_file(extractor, source, output, progress=False) == 5
        assert results(output, module.open) == plain
    with gzip.open(tmp_path / "in.csv.gz", "wt") as f:  # the format from the extension under .gz
        f.write("id,text\n" + "".join(f"{i + 1},Ann {i} met Bob in Oslo.\n" for i in range(5)))
    predict_file(extractor, tmp_path / "in.csv.gz", tmp_path / "out.json.bz2", progress=False)
    with bz2.open(tmp_path / "out.json.bz2", "rt") as f:
        assert [d["orig_id"] for d in json.load(f)] == ["1", "2", "3", "4", "5"]
    # resumed: the partial output is plain JSON lines, compressed into the output at the end
    partial = tmp_path / "resumed.jsonl.gz.partial"
    partial.write_text((tmp_path / "plain.jsonl").read_text().splitlines(keepends=True)[0])
    predict_file(extractor, tmp_path / "in.txt", tmp_path / "resumed.jsonl.gz", progress=False, resume=True)
    assert results(tmp_path / "resumed.jsonl.gz", gzip.open) == plain and not partial.exists()
    for rank in (0, 1):  # two processes' parts (plain), merged into a compressed output
        predict_file(extractor, tmp_path / "in.txt", tmp_path / "merged.jsonl.xz", progress=False, rank=rank, world=2)
    assert merge_parts(tmp_path / "merged.jsonl.xz", 2) == 5
    assert results(tmp_path / "merged.jsonl.xz", lzma.open) == plain
    (tmp_path / "not.txt.gz").write_text(texts)  # named .gz, not compressed
    with pytest.raises(ValueError, match="not.txt.gz: named .gz but does not decompress as gzip"):
        predict_file(extractor, tmp_path / "not.txt.gz", tmp_path / "x.jsonl", progress=False)
    whole = gzip.compress("".join(os.urandom(20).hex() + "\n" for _ in range(5000)).encode())
    (tmp_path / "cut.txt.gz").write_bytes(whole[: len(whole) // 2])  # a download that stopped half-way
    assert main(["predict", "--quiet", "--model", str(model_folder), "--input", str(tmp_path / "cut.txt.gz"),
                 "--output", str(tmp_path / "x.jsonl")]) == 2
    assert "cut.txt.gz: named .gz but does not decompress as gzip (Compressed file ended" in capsys.readouterr().err
    assert not list(tmp_path.glob("x.jsonl*"))


def test_predict_into_a_pipe_that_closes_early_ends_quietly(model_folder, tmp_path):
    """`spertmt predict ... --output - | head -1`: the reader goes away, the command ends with 141
    (128 + SIGPIPE, as a shell reports it) and no traceback."""
    import subprocess
    import sys

    (tmp_path / "in.txt").write_text("John Smith lives in Paris.\n" * 2000)
    command = [sys.executable, "-m", "spertmt", "predict", "--quiet", "--model", str(model_folder), "--input",
               str(tmp_path / "in.txt"), "--output", "-", "--device", "cpu"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    first = process.stdout.readline()
    process.stdout.close()  # as `head -1` does
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141, err
    assert json.loads(first)["id"] == 1 and "Traceback" not in err and "Broken pipe" not in err


def test_best_cut_by_hand():
    # scores with correctness; 3 gold items. Cuts: k=1 -> tp 1 (F1 2/4), k=2 -> tp 1 (2/5), k=3 -> tp 2 (4/6).
    theta, quality = _best_cut([(0.9, True), (0.7, False), (0.5, True), (0.1, False)], 3)
    assert theta == 0.5 and quality["f1"] == pytest.approx(100 * 4 / 6)
    theta, _ = _best_cut([(0.9, True), (0.9, False)], 1)  # equal scores cannot be separated
    assert theta == 0.9


def test_tune_threshold_writes_values_that_extraction_uses(model_folder, tmp_path, capsys):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(model_folder, folder)
    assert main(["tune-threshold", "--quiet", "--model", str(folder), "--data", f"{FIXTURES}/tiny_train.json"]) == 0
    out = capsys.readouterr().out
    assert "entity threshold" in out and "relation threshold" in out
    stored = json.loads((folder / "thresholds.json").read_text())
    assert set(stored) == {"entity", "relation"} and "*" in stored["entity"]
    # Extraction reads them: a θ nothing reaches removes every entity; an explicit θ overrides.
    (folder / "thresholds.json").write_text(json.dumps({"entity": {"*": 1e9}, "relation": {"*": 1e9}}))
    extractor = load(folder, device="cpu")
    assert not extractor.extract(TEXT)[0].entities
    assert extractor.extract(TEXT, threshold=-100.0)[0].entities


def test_one_command_from_raw_text_to_html(model_folder, tmp_path):
    (tmp_path / "paragraph.txt").write_text("John Smith lives in Paris. Mary works for Acme Corp in Berlin.\n")
    assert main(["predict", "--quiet", "--model", str(model_folder), "--input", str(tmp_path / "paragraph.txt"),
                 "--output", str(tmp_path / "out.jsonl"), "--html", str(tmp_path / "view.html")]) == 0
    page = (tmp_path / "view.html").read_text()
    assert page.count("<svg") == 1 and "Paris" in page
    assert main(["visualize", "--pred", str(tmp_path / "out.jsonl"), "--output", str(tmp_path / "again.html")]) == 0
    assert (tmp_path / "again.html").read_text().count("<svg") == 1


def test_bf16_extraction_keeps_the_same_candidates_with_close_scores(model_folder):
    """θ = -100 keeps every span and pair, so both precisions return the same candidates; their
    scores differ by bf16's rounding only (which may flip a pair's best type where two are close,
    and with it the merging of a symmetric relation's two directions)."""
    fp32 = load(model_folder, device="cpu").extract(TEXT)[0]
    bf16 = load(model_folder, device="cpu", precision="bf16").extract(TEXT)[0]
    assert [(e.start, e.end) for e in bf16.entities] == [(e.start, e.end) for e in fp32.entities]
    assert abs(len(bf16.relations) - len(fp32.relations)) <= 0.01 * len(fp32.relations)
    assert fp32.relations
    for a, b in zip(fp32.entities, bf16.entities):
        assert b.score == pytest.approx(a.score, abs=0.05)
    with pytest.raises(ValueError, match="precision"):
        load(model_folder, device="cpu", precision="fp8")


def test_bf16_casts_the_encoder_once_and_refuses_to_save_it(model_folder, tmp_path):
    """bf16 casts the encoder's weights when loading (not on every batch under autocast); the heads
    stay in fp32, and the cast weights are never saved as if they were the trained ones."""
    extractor = load(model_folder, device="cpu", precision="bf16")
    assert {p.dtype for p in extractor.model.encoder.parameters()} == {torch.bfloat16}
    heads = [p for name, p in extractor.model.named_parameters() if not name.startswith("encoder.")]
    assert heads and {p.dtype for p in heads} == {torch.float32}
    with pytest.raises(ValueError, match="runs in bf16 .* save from a model loaded with precision fp32"):
        extractor.save_pretrained(tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


def test_eval_and_predict_take_a_precision(model_folder, tmp_path):
    assert main(["eval", "--model", str(model_folder), "--data", f"{FIXTURES}/tiny_train.json",
                 "--precision", "bf16", "--quiet"]) == 0
    source = tmp_path / "in.txt"
    source.write_text(TEXT)
    assert main(["predict", "--model", str(model_folder), "--input", str(source), "--output",
                 str(tmp_path / "out.jsonl"), "--precision", "bf16", "--quiet"]) == 0
    assert json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])["entities"]


def test_bf16_on_a_cpu_without_bf16_units_warns(model_folder, monkeypatch):
    import warnings

    from spertmt import runtime

    monkeypatch.setattr(runtime, "cpu_bf16_units", lambda: False)
    with pytest.warns(UserWarning, match="precision bf16 on this CPU .* is emulated and slower than fp32"):
        load(model_folder, device="cpu", precision="bf16")
    monkeypatch.setattr(runtime, "cpu_bf16_units", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(model_folder, device="cpu", precision="bf16")
        load(model_folder, device="cpu")


def test_a_sentence_without_end_is_extracted_in_pieces(model_folder):
    """A text with no sentence punctuation is cut into pieces of max_sentence_words words: offsets
    stay exact and relations stay within a piece; a word list (the user's document) stays whole."""
    extractor = load(model_folder, device="cpu")
    text = " ".join(["John Smith lives in Paris and works for Acme Corp in Berlin"] * 10)  # 120 words, no stop
    result = extractor.extract(text, max_sentence_words=20, relations=True)[0]
    assert len(result.tokens) == 120 and result.entities
    assert max(e.sentence for e in result.entities) == 5  # 6 pieces of at most 20 words
    for e in result.entities:
        assert text[e.start:e.end] == e.text and e.token_start // 20 == e.sentence
        assert e.token_end - 1 < (e.sentence + 1) * 20
    assert all(result.entities[r.head].sentence == result.entities[r.tail].sentence for r in result.relations)
    # word lists stay whole (no relations: a 120-word piece would pair every entity with every other)
    words = extractor.extract([text.split()], max_sentence_words=20, relations=False)[0]
    assert {e.sentence for e in words.entities} == {0}
    with pytest.raises(ValueError, match="max_sentence_words must be at least 1"):
        extractor.extract(text, max_sentence_words=0)


def test_raw_text_words_follow_unicode_word_boundaries_with_exact_offsets(model_folder):
    """Issue 25, item 7: numbers with separators stay whole, BOMs and zero-width characters are no
    words, decomposed accents stay in their word (matched as NFC, offsets into the original), and
    Chinese is split into its ideographs (as BERT's own tokenizer does)."""
    text = "\ufeffAcme paid 3,000 dollars\u200b to Jose\u0301 in 北京."
    result = load(model_folder, device="cpu").extract(text, relations=False, threshold=-1e9)[0]
    assert result.tokens == ["Acme", "paid", "3,000", "dollars", "to", "José", "in", "北", "京", "."]
    spans = {(e.token_start, e.token_end): e for e in result.entities}
    assert text[spans[(5, 6)].start:spans[(5, 6)].end] == "Jose\u0301" and spans[(5, 6)].text == "Jose\u0301"
    assert spans[(0, 1)].start == 1  # after the BOM
    assert spans[(2, 3)].text == "3,000" and spans[(7, 9)].text == "北京"


def test_predict_batches_long_documents_together_and_keeps_input_order(model_folder):
    from spertmt.data.documents import Document

    extractor = load(model_folder, device="cpu")
    lengths = [3, 9, 1, 6, 12, 2, 7]  # batches of 3 in length order mix documents from all over the input
    documents = [Document([f"w{n}x{k}" for k in range(n)], orig_id=n) for n in lengths]
    together = extractor.predict(documents, batch_size=3)
    alone = [extractor.predict([d], batch_size=1)[0] for d in documents]
    assert [d.orig_id for d in together] == lengths and sum(len(d.relations) for d in together) > 100
    for a, b in zip(together, alone):
        assert a.tokens == b.tokens and a.entities
        assert [(e.start, e.end, e.type) for e in a.entities] == [(e.start, e.end, e.type) for e in b.entities]
        assert [e.score for e in a.entities] == pytest.approx([e.score for e in b.entities], abs=1e-5)
        assert {(r.head, r.tail, r.type) for r in a.relations} == {(r.head, r.tail, r.type) for r in b.relations}


def test_the_progress_bar_knows_how_many_inputs_a_file_holds(tmp_path):
    from spertmt.inference.streaming import _read_inputs, _scan_inputs

    (tmp_path / "in.txt").write_text("a\n\nb\nc")  # an empty line, no newline at the end
    (tmp_path / "in.jsonl").write_text('{"text": "a"}\n\n{"text": "b"}\n')
    for name, form in (("in.txt", "txt"), ("in.jsonl", "jsonl")):
        inputs = list(_read_inputs(tmp_path / name, form))
        assert _scan_inputs(tmp_path / name, form) == len(inputs)
        assert [_scan_inputs(tmp_path / name, form, rank, 2) for rank in (0, 1)] == [
            len(inputs[0::2]), len(inputs[1::2])]
