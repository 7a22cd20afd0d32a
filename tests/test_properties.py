"""Property-based tests (hypothesis): the reader and every op with random and degenerate inputs.
A Python exception with a message is fine; a crash, a hang, a wrong shape or a disagreement
between the native kernels and the fallbacks is not."""

import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spertmt import ops
from spertmt.data.documents import DataError, Types, parse_document, read_documents
from spertmt.data.encoding import encode_words
from spertmt.ops import reference

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NATIVE = ops.native_available("cpu")
TYPES = Types.from_dict({"entities": {"A": {}, "B": {}}, "relations": {"R": {}}})


def _both(name, *args):
    """Runs the native op and the fallback: both raise (with a spertmt message) or both agree."""
    outcomes = []
    for impl in ([getattr(torch.ops.spertmt, name)] if NATIVE else []) + [getattr(reference, name)]:
        try:
            outcomes.append(impl(*args))
        except RuntimeError as error:
            assert f"spertmt.{name}" in str(error), str(error)
            outcomes.append(None)
    assert all((o is None) == (outcomes[0] is None) for o in outcomes), "one implementation raised, one did not"
    return outcomes


@SETTINGS
@given(B=st.integers(0, 3), T=st.integers(0, 8), H=st.integers(1, 5), S=st.integers(0, 6),
       low=st.integers(-2, 0), high=st.integers(0, 10), data=st.data())
def test_span_max_pool_any_ranges(B, T, H, S, low, high, data):
    starts = torch.tensor(data.draw(st.lists(st.integers(low, high), min_size=B * S, max_size=B * S))).reshape(B, S)
    ends = torch.tensor(data.draw(st.lists(st.integers(low, high), min_size=B * S, max_size=B * S))).reshape(B, S)
    hidden = torch.randn(B, T, H)
    outcomes = _both("span_max_pool", hidden, starts.long(), ends.long(), True)
    if outcomes[0] is not None:
        for out, argmax in outcomes:
            assert out.shape == (B, S, H) and argmax.shape == (B, S, H)
        assert all(torch.equal(o[0], outcomes[0][0]) and torch.equal(o[1], outcomes[0][1]) for o in outcomes)


@SETTINGS
@given(B=st.integers(1, 3), W=st.integers(0, 6), L=st.integers(-1, 12), data=st.data())
def test_enumerate_any_words(B, W, L, data):
    bounds = st.integers(-1, 12)
    ws = torch.tensor(data.draw(st.lists(bounds, min_size=B * W, max_size=B * W))).reshape(B, W).long()
    we = torch.tensor(data.draw(st.lists(bounds, min_size=B * W, max_size=B * W))).reshape(B, W).long()
    nw = torch.tensor(data.draw(st.lists(st.integers(-1, W + 1), min_size=B, max_size=B))).long()
    hidden = torch.randn(B, 10, 3)
    outcomes = _both("enumerate_span_max_pool", hidden, ws, we, nw, L, True)
    if outcomes[0] is not None:
        S = sum(W - w + 1 for w in range(1, min(L, W) + 1))
        for pooled, _argmax, spans, mask in outcomes:
            assert pooled.shape == (B, S, 3) and spans.shape == (S, 2) and mask.shape == (B, S)
        assert all(torch.equal(o[0], outcomes[0][0]) for o in outcomes)


@SETTINGS
@given(P=st.integers(0, 5), data=st.data())
def test_pair_context_any_ranges(P, data):
    values = st.integers(-1, 9)
    head = torch.tensor(data.draw(st.lists(values, min_size=2 * P, max_size=2 * P))).reshape(1, P, 2).long()
    tail = torch.tensor(data.draw(st.lists(values, min_size=2 * P, max_size=2 * P))).reshape(1, P, 2).long()
    outcomes = _both("pair_context_max_pool", torch.randn(1, 8, 4), head, tail, True)
    if outcomes[0] is not None:
        assert all(o[0].shape == (1, P, 4) and torch.equal(o[0], outcomes[0][0]) for o in outcomes)


@SETTINGS
@given(S=st.integers(0, 5), G=st.integers(0, 4), data=st.data())
def test_en_iou_any_spans(S, G, data):
    values = st.integers(-1, 9)
    cand = torch.tensor(data.draw(st.lists(values, min_size=2 * S, max_size=2 * S))).reshape(1, S, 2).long()
    gold = torch.tensor(data.draw(st.lists(values, min_size=2 * G, max_size=2 * G))).reshape(1, G, 2).long()
    mask = torch.tensor(data.draw(st.lists(st.booleans(), min_size=G, max_size=G)), dtype=torch.bool).reshape(1, G)
    outcomes = _both("span_en_iou", cand, gold, mask)
    if outcomes[0] is not None:
        for o in outcomes:
            assert o.shape == (1, S) and ((o >= 0) & (o <= 1)).all()
            torch.testing.assert_close(o, outcomes[0])


@SETTINGS
@given(N=st.integers(0, 6), C=st.integers(0, 4), extreme=st.sampled_from([0.0, 1e4, float("inf"), float("nan")]),
       data=st.data())
def test_losses_any_values(N, C, extreme, data):
    scores = torch.randn(N, C)
    if N and C:
        scores[0, 0] = extreme
    gold = torch.tensor(data.draw(st.lists(st.booleans(), min_size=N * C, max_size=N * C)),
                        dtype=torch.bool).reshape(N, C)
    outcomes = _both("ranking_loss", scores, gold, 2.5, 0.5, 2.0)
    assert all(o.shape == (N,) for o in outcomes)
    torch.testing.assert_close(outcomes[0], outcomes[-1], equal_nan=True)
    logits = torch.randn(N)
    if N:
        logits[0] = extreme
    q = torch.tensor(data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=N, max_size=N)))
    u = torch.rand(N)
    outcomes = _both("iou_scaled_bce", logits, q, u, 0.25)
    assert all(o.shape == (N,) for o in outcomes)
    torch.testing.assert_close(outcomes[0], outcomes[-1], equal_nan=True)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 12) | st.text(max_size=4),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
documents = st.fixed_dictionaries(
    {"tokens": st.one_of(st.lists(st.text(max_size=5), max_size=8), json_values)},
    optional={
        "entities": st.one_of(json_values, st.lists(st.fixed_dictionaries(
            {"type": st.sampled_from(["A", "B", "C", 3]), "start": st.integers(-2, 9),
             "end": st.one_of(st.integers(-2, 10), st.none())}), max_size=4)),
        "relations": st.one_of(json_values, st.lists(st.fixed_dictionaries(
            {"type": st.sampled_from(["R", "Q"]), "head": st.integers(-1, 4), "tail": st.integers(-1, 4)}),
            max_size=3)),
    },
)


@SETTINGS
@given(raw=st.one_of(documents, json_values))
def test_reader_any_document(raw):
    try:
        doc = parse_document(raw, TYPES, "file.json, document 0")
    except DataError as error:
        assert str(error).startswith("file.json, document 0: ")
        return
    for e in doc.entities:
        assert 0 <= e.start < e.end <= len(doc.tokens)
    for r in doc.relations:
        assert 0 <= r.head < len(doc.entities) and 0 <= r.tail < len(doc.entities)


@SETTINGS
@given(text=st.text(max_size=40))
def test_reader_any_file_content(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("data") / "data.json"
    path.write_text(text, encoding="utf-8")
    try:
        read_documents(path, TYPES)
    except DataError as error:
        assert str(path) in str(error)


@pytest.fixture(scope="module")
def tokenizer():
    from spertmt.model.encoder import load_tokenizer

    return load_tokenizer("offline:all-MiniLM-L6-v2")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.text(max_size=6), max_size=10))
def test_alignment_any_unicode_words(tokenizer, words):
    """Odd unicode and whitespace tokens: every word gets an in-order, in-bounds piece range."""
    enc = encode_words(tokenizer, words)
    assert len(enc.word_starts) == len(words)
    previous = 1
    for s, e in zip(enc.word_starts, enc.word_ends):
        assert previous <= s <= e <= len(enc.input_ids) - 1
        previous = e
    json.dumps(enc.input_ids)


_PIECES = [*"Aa Bb.!?…。-\n\r\t\"'()2 ", "Mr", "U.S", "No", "\u200b", "e\u0301"]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=60).map("".join)


@SETTINGS
@given(text=_TEXT)
def test_sentences_and_words_of_any_text(text):
    """Sentences are ordered, do not overlap and hold every visible character once; words lie inside
    their text with exact offsets, ordered, whether hyphenated words are joined or not."""
    from spertmt.data.text import split_sentences, unicode_words

    for by_lines in (False, True):
        ranges = split_sentences(text, by_lines)
        assert all(0 <= a < b <= len(text) for a, b in ranges)
        assert all(b <= c for (_, b), (c, _) in zip(ranges, ranges[1:]))
        covered = {i for a, b in ranges for i in range(a, b)}
        assert all(i in covered for i, ch in enumerate(text) if not ch.isspace() and ch != "\u200b"), ranges
    for join in (False, True):
        words = unicode_words(text, 3, join_hyphens=join)
        assert all(3 <= w.start < w.end <= len(text) + 3 for w in words)
        assert all(a.end <= b.start for a, b in zip(words, words[1:]))
        assert all(w.text.strip() for w in words)


_RAW = st.lists(st.sampled_from([*_PIECES, "🙂", "C:\\temp", "a|b", "Live_In", "[1]", "*", "\u2028", "\x0c"]),
                max_size=40).map("".join)


@pytest.fixture(scope="module")
def extractor():
    from spertmt import load

    from .conftest import FIXTURES

    return load(f"{FIXTURES}/model-format1", device="cpu")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_RAW, min_size=1, max_size=3))
def test_extraction_of_any_text_and_its_files_agree(extractor, texts):
    """Whatever the text, every entity's characters are its words' and its text; the sentences hold
    every word once; and the files written for annotation tools (WebAnno TSV, doccano, Prodigy)
    carry the same words (the text's characters; a word is their NFC form), entities and relations
    (θ = -1: many of each)."""
    import unicodedata

    from spertmt.data.convert import Report
    from spertmt.data.webanno import tsv_documents

    for result in extractor.extract(texts, threshold=-1.0):
        words = result.word_offsets
        assert sum(result.sentence_sizes) == len(result.tokens) == len(words)
        characters = [result.text[a:b] for a, b in words]
        assert [unicodedata.normalize("NFC", w) for w in characters] == result.tokens
        for e in result.entities:
            assert (e.start, e.end) == (words[e.token_start][0], words[e.token_end - 1][1])
            assert e.text == result.text[e.start:e.end]
        documents = tsv_documents(result.to_webanno(), "r.tsv", "r.tsv", Report())
        sizes = [n for n in result.sentence_sizes if n]
        assert [len(d.tokens) for d in documents] == sizes
        assert sum((d.tokens for d in documents), []) == characters
        firsts = [sum(sizes[:k]) for k in range(len(sizes))]
        back = sorted((firsts[k] + e.start, firsts[k] + e.end, e.type) for k, d in enumerate(documents)
                      for e in d.entities)
        assert back == sorted((e.token_start, e.token_end, e.type) for e in result.entities)
        assert sum(len(d.relations) for d in documents) == len(result.relations)
        doccano = result.to_doccano()
        assert [doccano["text"][x["start_offset"]:x["end_offset"]] for x in doccano["entities"]] == \
            [e.text for e in result.entities]
        prodigy = result.to_prodigy()
        assert [t["text"] for t in prodigy["tokens"]] == characters
        assert len(prodigy["relations"]) == len(result.relations)
