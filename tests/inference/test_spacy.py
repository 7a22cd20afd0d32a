"""The spaCy component on a blank English pipeline with the tiny trained fixture model: the same
entities and relations as spertmt's own extraction, batched by nlp.pipe, doc.ents without overlaps,
relations within sentences, displaCy, and docs that serialise."""

import pytest
import spacy
from spacy import displacy
from spacy.tokens import DocBin

from spertmt.inference.extractor import load

from ..conftest import FIXTURES

MODEL = f"{FIXTURES}/model-format1"
THRESHOLD = -0.47  # the untrained-looking fixture scores about -0.45: some spans pass, some overlap
TEXTS = ["John Smith works for Acme Corp in Berlin. He lives in Potsdam.", "Mary visited Paris.",
         "Acme Corp hired John.", "Nothing here."]


@pytest.fixture(scope="module")
def nlp():
    nlp = spacy.blank("en")
    nlp.add_pipe("spertmt", config={"model": MODEL, "threshold": THRESHOLD, "device": "cpu"})
    return nlp


def _by_chars(doc):
    entities = sorted((s.start_char, s.end_char, s.label_) for s in doc.spans["spertmt"])
    relations = sorted(((r.head.start_char, r.head.end_char), (r.tail.start_char, r.tail.end_char), r.type)
                       for r in doc._.relations)
    return entities, relations


def test_the_component_finds_what_spertmt_finds(nlp):
    """On text that spaCy and spertmt split into the same words and sentences, the same entities
    (character offsets, types) and relations."""
    extractor = load(MODEL, device="cpu")
    for text in TEXTS:
        result = extractor.extract(text, threshold=THRESHOLD)[0]
        expected = (sorted((e.start, e.end, e.type) for e in result.entities),
                    sorted(((result.entities[r.head].start, result.entities[r.head].end),
                            (result.entities[r.tail].start, result.entities[r.tail].end), r.type)
                           for r in result.relations))
        assert _by_chars(nlp(text)) == expected
    assert _by_chars(nlp(TEXTS[0]))[1], "the fixture finds relations at this θ"


def test_pipe_extracts_each_batch_together_and_equals_one_doc_at_a_time(nlp, monkeypatch):
    one_by_one = [_by_chars(nlp(text)) for text in TEXTS]
    component = nlp.get_pipe("spertmt")
    calls = []
    extract = component.extractor.extract
    monkeypatch.setattr(
        component.extractor, "extract", lambda texts, **kw: calls.append(len(texts)) or extract(texts, **kw)
    )
    assert [_by_chars(doc) for doc in nlp.pipe(TEXTS, batch_size=3)] == one_by_one
    assert calls == [4, 1]  # sentences of docs 1-3 (the first has two), then of doc 4


def test_ents_do_not_overlap_and_keep_the_best_scores(nlp):
    doc = nlp(TEXTS[0])
    spans, scores = list(doc.spans["spertmt"]), doc.spans["spertmt"].attrs["scores"]
    assert len(spans) > len(doc.ents) > 0, "the fixture's spans overlap at this θ"
    probabilities = doc.spans["spertmt"].attrs["probabilities"]
    assert len(probabilities) == len(spans) and all(0 <= p <= 1 for p in probabilities)
    score = {(s.start, s.end, s.label_): v for s, v in zip(spans, scores)}
    ents = list(doc.ents)
    for a, b in zip(ents, ents[1:]):
        assert a.end <= b.start
    for span in spans:  # every span left out overlaps a kept one that scores at least as high
        key = (span.start, span.end, span.label_)
        if key not in {(e.start, e.end, e.label_) for e in ents}:
            assert any(e.start < span.end and span.start < e.end and score[(e.start, e.end, e.label_)] >= score[key]
                       for e in ents)


def test_relations_stay_within_the_pipelines_sentences_and_displacy_shows_entities():
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("spertmt", config={"model": MODEL, "threshold": THRESHOLD, "device": "cpu"})
    doc = nlp(TEXTS[0])
    assert len(list(doc.sents)) == 2 and doc._.relations
    for r in doc._.relations:
        assert r.head.sent == r.tail.sent
    html = displacy.render(doc, style="ent")
    assert all(e.label_ in html and e.text in html for e in doc.ents)


def test_docs_serialise_with_their_relations(nlp):
    doc = nlp(TEXTS[0])
    store = DocBin(store_user_data=True)
    store.add(doc)
    again = next(DocBin().from_bytes(store.to_bytes()).get_docs(nlp.vocab))
    assert _by_chars(again) == _by_chars(doc) and [e.text for e in again.ents] == [e.text for e in doc.ents]


def test_whitespace_tokens_are_left_out_and_a_missing_model_is_named():
    nlp = spacy.blank("en")
    nlp.add_pipe("spertmt", config={"model": MODEL, "threshold": -1e9, "device": "cpu", "relations": False})
    doc = nlp("John  Smith\n\nworks")
    assert doc[1].is_space and all(not doc[i].is_space for s in doc.spans["spertmt"] for i in (s.start, s.end - 1))
    with pytest.raises(ValueError, match="the spertmt component needs a model"):
        spacy.blank("en").add_pipe("spertmt")


def test_a_doc_the_component_did_not_see_has_no_relations(nlp):
    assert spacy.blank("en")("John works for Acme.")._.relations == []


def test_the_component_carries_a_model_folders_calibrated_probabilities(tmp_path):
    """A folder with calibration.json: the spans' "probabilities" attribute and the relations'
    `probability` hold the calibrated probabilities, as spertmt's own extraction reports them."""
    import shutil

    from spertmt.inference.calibration import Calibration, HeadCalibration, Platt, save_calibration

    folder = tmp_path / "model"
    shutil.copytree(MODEL, folder)
    save_calibration(folder, Calibration({"entity": HeadCalibration({"*": Platt(3.0, 1.0, False)}, "platt", False),
                                          "relation": HeadCalibration({"*": Platt(2.0, 0.5, False)}, "platt", False)}))
    calibrated = spacy.blank("en")
    calibrated.add_pipe("spertmt", config={"model": str(folder), "threshold": THRESHOLD, "device": "cpu"})
    doc = calibrated(TEXTS[0])
    want = {(e.start, e.end): e.probability for e in load(folder, device="cpu").extract(TEXTS[0],
                                                                                       threshold=THRESHOLD)[0].entities}
    spans = doc.spans["spertmt"]
    got = {(s.start_char, s.end_char): p for s, p in zip(spans, spans.attrs["probabilities"])}
    assert got and got == pytest.approx(want)
    own = {(e.start, e.end): e.probability for e in load(MODEL, device="cpu").extract(TEXTS[0],
                                                                                      threshold=THRESHOLD)[0].entities}
    assert got != pytest.approx(own)
    result = load(folder, device="cpu").extract(TEXTS[0], threshold=THRESHOLD)[0]
    want = {(result.entities[r.head].start, result.entities[r.tail].start, r.type): r.probability
            for r in result.relations}
    got = {(r.head.start_char, r.tail.start_char, r.type): r.probability for r in doc._.relations}
    assert got and got == pytest.approx(want)


def test_relations_stored_before_they_carried_a_probability_still_read():
    doc = spacy.blank("en")("John works for Acme.")
    doc._.spertmt_relations = [(0, 1, "Peop", 3, 4, "Org", "Work_For", 1.5)]  # 8 values, as docs stored them
    (relation,) = doc._.relations
    assert (relation.head.text, relation.tail.text, relation.type, relation.score, relation.probability) == (
        "John", "Acme", "Work_For", 1.5, None)


def test_the_factory_annotations_are_types_that_spacy_before_3_8_can_validate():
    """spaCy 3.5-3.7 check a factory's arguments with pydantic v1, which cannot resolve a postponed
    (string) annotation: `nlp.add_pipe("spertmt")` failed there with a ConfigError on "nlp"."""
    from spertmt.inference.spacy_pipe import make_spertmt

    arguments = {name: kind for name, kind in make_spertmt.__annotations__.items() if name != "return"}
    assert arguments and not [name for name, kind in arguments.items() if isinstance(kind, str)]
