"""spertmt as a spaCy pipeline component (`pip install 'spertmt[spacy]'`).

    import spacy
    nlp = spacy.blank("en")
    nlp.add_pipe("spertmt", config={"model": "runs/conll04-short/best"})
    doc = nlp("John Smith works for Acme Corp in Berlin.")
    doc.ents                       # the entities, non-overlapping (the highest-scoring kept)
    doc.spans["spertmt"]           # every entity, nested ones too; .attrs["scores"], ["probabilities"]
    doc._.relations                # [SpacyRelation(head=Span, tail=Span, type, score, probability), ...]

Words are spaCy's tokens (whitespace tokens left out), so offsets are those of the doc. Relations are
found within a sentence: the doc's own sentences when a component set them (a parser, a sentencizer),
else spertmt's rules on the doc's text (spertmt.data.text), and a sentence longer than
`max_sentence_words` is extracted in pieces, as `Extractor.extract` does. `nlp.pipe(texts,
batch_size=...)` extracts each batch of docs together, in spertmt's batches of at most
`extract_batch_size` sentences (default: the engine's, as `Extractor.extract`). The relations are
stored as plain values (`doc._.spertmt_relations`: token offsets, labels, type, score, probability), so docs
serialise (DocBin, `n_process`); `doc._.relations` turns them into spans.
"""

# No `from __future__ import annotations`: spaCy before 3.8 validates a factory's arguments with
# pydantic v1 from the annotations, and a postponed one stays an unresolved ForwardRef there.

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from spacy.language import Language
from spacy.tokens import Doc, Span, SpanGroup
from spacy.util import minibatch

from ..data.text import split_sentences
from .decoding import non_overlapping
from .loading import load_extractor
from .texts import MAX_SENTENCE_WORDS


class SpacyRelation(NamedTuple):
    head: Span
    tail: Span
    type: str
    score: float | None
    probability: float | None = None  # calibrated where the model folder holds a calibration


def _relations(doc: Doc) -> list[SpacyRelation]:
    # 8 values: a doc stored before relations carried their probability
    return [SpacyRelation(Span(doc, hs, he, label=hl), Span(doc, ts, te, label=tl), *rest)
            for hs, he, hl, ts, te, tl, *rest in doc._.spertmt_relations or []]  # None: not run on it


if not Doc.has_extension("spertmt_relations"):
    Doc.set_extension("spertmt_relations", default=None)
if not Doc.has_extension("relations"):  # GLiREL's name too: theirs stays when it was registered first
    Doc.set_extension("relations", getter=_relations)


@Language.factory("spertmt", default_config={
    "model": None, "device": "auto", "precision": "fp32", "runtime": "torch", "threshold": None, "relations": True,
    "extract_batch_size": None, "max_sentence_words": MAX_SENTENCE_WORDS, "spans_key": "spertmt",
    "set_ents": True, "trust_remote_code": False})
def make_spertmt(nlp: Language, name: str, model: str | None, device: str, precision: str, runtime: str,
                 threshold: float | None, relations: bool, extract_batch_size: int | None, max_sentence_words: int,
                 spans_key: str, set_ents: bool, trust_remote_code: bool) -> "SpertmtComponent":
    if not model:
        raise ValueError('the spertmt component needs a model: nlp.add_pipe("spertmt", config={"model": FOLDER or '
                         'REPO_ID})')
    return SpertmtComponent(model, device=device, precision=precision, threshold=threshold, relations=relations,
                            extract_batch_size=extract_batch_size, max_sentence_words=max_sentence_words,
                            spans_key=spans_key, set_ents=set_ents, runtime=runtime,
                            trust_remote_code=trust_remote_code)


class SpertmtComponent:
    """Sets `doc.ents`, `doc.spans[spans_key]` and `doc._.relations` from a spertmt model."""

    def __init__(self, model, device: str = "auto", precision: str = "fp32", threshold: float | None = None,
                 relations: bool = True, extract_batch_size: int | None = None,
                 max_sentence_words: int = MAX_SENTENCE_WORDS,
                 spans_key: str = "spertmt", set_ents: bool = True, runtime: str = "torch",
                 trust_remote_code: bool = False):
        self.extractor = (load_extractor(model, device=device, precision=precision, runtime=runtime,
                                         trust_remote_code=trust_remote_code)
                          if isinstance(model, (str, Path)) else model)
        self.threshold, self.relations = threshold, relations
        self.extract_batch_size, self.max_sentence_words = extract_batch_size, max_sentence_words
        self.spans_key, self.set_ents = spans_key, set_ents

    def __call__(self, doc: Doc) -> Doc:
        return next(self.pipe([doc]))

    def pipe(self, docs: Iterable[Doc], batch_size: int = 32) -> Iterator[Doc]:
        for batch in minibatch(docs, size=batch_size):
            yield from self._annotate(list(batch))

    def _annotate(self, docs: list[Doc]) -> list[Doc]:
        for doc in docs:
            doc._.spertmt_relations = []
        pieces = [(d, words) for d, doc in enumerate(docs) for words in self._sentences(doc)]
        results = self.extractor.extract([[docs[d][i].text for i in words] for d, words in pieces],
                                         batch_size=self.extract_batch_size, threshold=self.threshold,
                                         relations=self.relations, max_sentence_words=self.max_sentence_words)
        found: list[tuple[list, list, list]] = [([], [], []) for _ in docs]
        for (d, words), result in zip(pieces, results):
            spans, scores, probabilities = found[d]
            first = len(spans)
            for e in result.entities:  # word offsets of this piece -> token offsets of the doc
                spans.append(Span(docs[d], words[e.token_start], words[e.token_end - 1] + 1, label=e.type))
                scores.append(e.score)
                probabilities.append(e.probability)
            for r in result.relations:
                head, tail = spans[first + r.head], spans[first + r.tail]
                docs[d]._.spertmt_relations.append((head.start, head.end, head.label_, tail.start, tail.end,
                                                    tail.label_, r.type, r.score, r.probability))
        for doc, (spans, scores, probabilities) in zip(docs, found):
            doc.spans[self.spans_key] = SpanGroup(doc, name=self.spans_key, spans=spans,
                                                  attrs={"scores": scores, "probabilities": probabilities})
            if self.set_ents:
                doc.ents = _non_overlapping(spans, scores)
        return docs

    def _sentences(self, doc: Doc) -> list[list[int]]:
        """Token indices of each sentence (whitespace tokens left out), pieces of at most
        max_sentence_words."""
        if doc.has_annotation("SENT_START"):
            ranges = [(s.start, s.end) for s in doc.sents]
        else:  # spertmt's sentence rules on the text, mapped to the tokens that start in each sentence
            ranges, token = [], 0
            for _, end in split_sentences(doc.text, by_lines=False):
                first = token
                while token < len(doc) and doc[token].idx < end:
                    token += 1
                ranges.append((first, token))
            if ranges:
                ranges[-1] = (ranges[-1][0], len(doc))
        sentences = [[i for i in range(a, b) if not doc[i].is_space] for a, b in ranges]
        size = self.max_sentence_words
        return [s[k:k + size] for s in sentences if s for k in range(0, len(s), size)]


def _non_overlapping(spans: list[Span], scores: list) -> list[Span]:
    """The highest-scoring spans that overlap none kept before, in text order (doc.ents allows no
    overlap): flat decoding's rule (pipeline.non_overlapping); a given entity (no score) wins."""
    kept = non_overlapping(list(range(len(spans))), [[span.start, span.end] for span in spans],
                           [score if score is not None else float("inf") for score in scores])
    return sorted((spans[k] for k in kept), key=lambda span: span.start)
