"""Raw text in, extractions out, whatever runs the model (torch: Extractor; ONNX Runtime without
torch: spertmt.inference.portable): texts split into sentences and words with character offsets
kept (spertmt.data.text), long sentences cut, a user's own entities placed, and each sentence's
predicted document mapped back to the text. Imports no torch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..config import Config
from ..data.documents import Document, Types, is_int
from ..data.text import Word, joined_spans, joined_words, split_sentences, unicode_words, word_ends

MAX_SENTENCE_WORDS = 128  # longer sentences are extracted in pieces (Extractor.extract)


@dataclass
class ExtractedEntity:
    text: str
    type: str
    token_start: int  # word offsets in the input's word list, end exclusive
    token_end: int
    start: int | None = None  # character offsets in the input text (None for pre-tokenised input)
    end: int | None = None
    score: float | None = None  # compared with θ; not a probability in spertmt mode (docs/using.md, "Scores")
    sentence: int = 0
    probability: float | None = None  # in [0, 1]: the model's probability that this is an entity


@dataclass
class ExtractedRelation:
    head: int  # index into the result's entities
    tail: int
    type: str
    score: float | None = None
    probability: float | None = None  # in [0, 1]: the model's probability of a relation between the two


@dataclass
class Extraction:
    """Entities and relations of one input text."""

    text: str | None
    tokens: list[str]
    entities: list[ExtractedEntity] = field(default_factory=list)
    relations: list[ExtractedRelation] = field(default_factory=list)

    def __post_init__(self):
        # each word's characters in a raw text that extraction split (else None): not a field, so in
        # neither to_dict's record nor asdict's (to_prodigy's tokens need them)
        self.word_offsets: list[tuple[int, int]] | None = None
        self.sentence_sizes: list[int] | None = None  # the words of each sentence extraction saw (to_webanno's)

    def to_dict(self) -> dict:
        """The record as plain JSON types, what `dataclasses.asdict` gives, without its recursive
        deep copy (a server turns every answer into one on its event loop)."""
        return {"text": self.text, "tokens": list(self.tokens),
                "entities": [dict(vars(e)) for e in self.entities],
                "relations": [dict(vars(r)) for r in self.relations]}

    def _text_and_spans(self) -> tuple[str, list[tuple[int, int]]]:
        """The text and each entity's characters in it: a raw text's own, a word list's words joined
        by single spaces."""
        if self.text is None:
            return joined_spans(self.tokens, [(e.token_start, e.token_end) for e in self.entities])
        return self.text, [(e.start, e.end) for e in self.entities]  # type: ignore[misc]  # raw text: set

    def to_doccano(self, identifier=None) -> dict:
        """The record in doccano's relation-extraction JSON lines, what doccano imports as annotations
        to correct and `spertmt convert --from doccano` reads: the text (a word list's words joined
        by single spaces), entities by character offsets, relations by entity ids; `identifier`, where
        given, as its "id"."""
        text, spans = self._text_and_spans()
        return {**({} if identifier is None else {"id": identifier}), "text": text,
                "entities": [{"id": i, "label": e.type, "start_offset": start, "end_offset": end}
                             for i, (e, (start, end)) in enumerate(zip(self.entities, spans))],
                "relations": [{"id": i, "from_id": r.head, "to_id": r.tail, "type": r.type}
                              for i, r in enumerate(self.relations)]}

    def to_labelstudio(self, identifier=None) -> dict:
        """The task that Label Studio imports as pre-annotations to correct, for its relation-extraction
        template (data.convert.write_labelstudio): the text (a word list's words joined by single
        spaces; `identifier`, where given, as its data's "id") and one prediction
        (`labelstudio_prediction`)."""
        text, _ = self._text_and_spans()
        return {"data": {"text": text, **({} if identifier is None else {"id": identifier})},
                "predictions": [self.labelstudio_prediction()]}

    def to_prodigy(self, identifier=None) -> dict:
        """The task that Prodigy shows with its relations interface to correct (`prodigy mark DATASET
        FILE --view-id relations`; data.convert.prodigy_task): the text (a word list's words joined by
        single spaces), its words as tokens, each entity a span and each relation a relation with its
        probability as its score; `identifier`, where given, as its meta "id"."""
        from ..data.convert import prodigy_task

        # a word list (or a result made by hand): its words joined by single spaces
        text, words = ((self.text, self.word_offsets) if self.text is not None and self.word_offsets is not None
                       else joined_words(self.tokens))
        task = prodigy_task(text, words, [(e.type, e.token_start, e.token_end, e.probability) for e in self.entities],
                            [(r.head, r.tail, r.type, r.probability) for r in self.relations])
        return task if identifier is None else {**task, "meta": {"id": identifier}}

    def to_webanno(self, with_relations: bool = True) -> str:
        """The text as a WebAnno TSV 3 file that INCEpTION imports as annotations to correct
        (data.webanno.tsv_file): the sentences and words extraction saw (a word list's words joined
        by single spaces, one sentence), entities on INCEpTION's named-entity layer and, `with_relations`,
        relations on a relation layer `webanno.custom.Relation` with a feature `label` (docs/using.md)."""
        from ..data.webanno import tsv_file

        text, words = ((self.text, self.word_offsets) if self.text is not None and self.word_offsets is not None
                       else joined_words(self.tokens))
        sizes = self.sentence_sizes if self.text is not None and self.sentence_sizes is not None else [len(words)]
        sentences, at = [], 0
        for size in sizes:
            if size:  # a sentence without words (an empty text) is no TSV sentence
                sentences.append(words[at:at + size])
            at += size
        return tsv_file(text, sentences, [(e.token_start, e.token_end, e.type) for e in self.entities],
                        [(r.head, r.tail, r.type) for r in self.relations], with_relations)

    def labelstudio_prediction(self, names: dict[str, str] | None = None, entity_types=None,
                               relation_types=None) -> dict:
        """A Label Studio prediction: its regions and relations, each with its probability as its score,
        and as the prediction's score the lowest of them (sorting by it in Label Studio brings first the
        tasks whose least sure item is least sure). `names`: the labeling config's from_name and to_name
        (its relation-extraction template's by default); `entity_types`, `relation_types`: where given,
        the labels the config has, the only ones kept (a relation also needs both its entities kept)."""
        from ..data.convert import LABEL_STUDIO_NAMES, labelstudio_results

        text, spans = self._text_and_spans()
        kept: dict[int, int] = {}  # an entity's index -> its index among those kept
        for i, e in enumerate(self.entities):
            if entity_types is None or e.type in entity_types:
                kept[i] = len(kept)
        result = labelstudio_results(
            text, [(e.type, *spans[i], e.probability) for i, e in enumerate(self.entities) if i in kept],
            [(kept[r.head], kept[r.tail], r.type, r.probability) for r in self.relations
             if r.head in kept and r.tail in kept and (relation_types is None or r.type in relation_types)],
            names or LABEL_STUDIO_NAMES)
        probabilities = [item["score"] for item in result if item.get("score") is not None]
        return {"result": result, **({"score": min(probabilities)} if probabilities else {})}


@runtime_checkable
class ExtractorLike(Protocol):
    """What every loaded model offers, whichever engine runs it (`spertmt.load` returns one:
    spertmt.Extractor on PyTorch, PortableExtractor on ONNX Runtime without torch)."""

    @property
    def config(self) -> Config: ...

    @property
    def types(self) -> Types: ...

    def extract(self, texts: str | Sequence[str] | Sequence[Sequence[str]], entities: Sequence | None = None, *,
                batch_size: int = ..., threshold: float | None = None, relations: bool = True,
                progress: bool = False, max_sentence_words: int = ...,
                flat_ner: bool | None = None) -> list[Extraction]: ...

    def predict(self, documents: Sequence[Document | dict], batch_size: int = ..., threshold: float | None = None,
                progress: bool = False, flat_ner: bool = False) -> list[Document]: ...

    def set_prediction_settings(self, **settings) -> None: ...


@dataclass
class _Sentence:
    """One sentence of one input, as the model sees it."""

    item: int
    index: int
    words: list[Word]
    token_offset: int
    given: list[tuple[int, int, str]] | None = None  # word spans and types of user entities


@dataclass
class PreparedTexts:
    """Texts as the model sees them (`documents`, one per sentence, and `given`: per document the
    word spans of the user's entities, None when the model finds them), and how to map each
    sentence's predicted document back to its text (`results`)."""

    documents: list[Document]
    given: list[list[tuple[int, int]]] | None
    _extractions: list[Extraction]
    _sentences: list[_Sentence]

    def results(self, predicted: list[Document]) -> list[Extraction]:
        """One Extraction per text from the predicted documents (in `documents`' order); call it once."""
        results = self._extractions
        for sentence, document in zip(self._sentences, predicted):
            _merge(results[sentence.item], sentence, document)
        for result in results:  # sentences were processed out of order: entities in text order
            by_position = sorted(range(len(result.entities)), key=lambda k: (result.entities[k].sentence,
                                                                           result.entities[k].token_start,
                                                                           result.entities[k].token_end))
            new_index = {old: new for new, old in enumerate(by_position)}
            result.entities = [result.entities[k] for k in by_position]
            for r in result.relations:
                r.head, r.tail = new_index[r.head], new_index[r.tail]
            result.relations.sort(key=lambda r: (r.head, r.tail, r.type))
        return results


def prepare_texts(texts: str | Sequence[str] | Sequence[Sequence[str]], entities: Sequence | None, types: Types,
                  config: Config, max_sentence_words: int) -> PreparedTexts:
    """Extractor.extract's work before the model (see its docstring) for a model of `types` and
    `config`: texts split into sentences and words (hyphenated words whole where the config's
    `hyphenated_words` is "joined"), long sentences cut, the user's entities placed."""
    join_hyphens = config.hyphenated_words == "joined"
    if max_sentence_words < 1:
        raise ValueError(f"max_sentence_words must be at least 1, not {max_sentence_words}")
    texts = as_texts(texts)
    if entities is not None and len(entities) != len(texts):
        raise ValueError(f"entities has {len(entities)} lists for {len(texts)} texts")
    results: list[Extraction] = []
    sentences: list[_Sentence] = []
    for i, item in enumerate(texts):
        if isinstance(item, str):
            ranges = split_sentences(item, by_lines=False)
            words = [piece for a, b in ranges
                     for piece in _pieces(unicode_words(item[a:b], a, join_hyphens), max_sentence_words)]
            results.append(Extraction(item, [w.text for ws in words for w in ws]))
            results[-1].word_offsets = [(w.start, w.end) for ws in words for w in ws]
            results[-1].sentence_sizes = [len(ws) for ws in words]
        else:
            words = [[Word(str(t), -1, -1) for t in item]]
            results.append(Extraction(None, [str(t) for t in item]))
        offset, first = 0, len(sentences)
        for k, ws in enumerate(words):
            if ws:
                sentences.append(_Sentence(i, k, ws, offset))
            offset += len(ws)
        if entities is not None:
            _place_given(i, entities[i], sentences[first:], results[i].text is not None,
                         {t.name for t in types.entities})
    documents = [Document([w.text for w in s.words]) for s in sentences]
    given = [[g[:2] for g in s.given or []] for s in sentences] if entities is not None else None
    return PreparedTexts(documents, given, results, sentences)


def lone_surrogate(text: str | Sequence[str]) -> str | None:
    """Where a text (a string, or a list of words) holds a lone surrogate, half of a UTF-16 pair
    (JSON's "\\ud800" and Python allow one; no tokenizer reads it): "character 5" or "word 2"; or None."""
    for k, piece in enumerate([text] if isinstance(text, str) else text):
        try:
            piece.encode("utf-8")
        except UnicodeEncodeError as error:
            return f"character {error.start}" if isinstance(text, str) else f"word {k}"
    return None


def as_texts(texts) -> list:
    """`extract`'s texts as a list, each a string or a list of words (any iterable of strings: a list,
    a tuple, a numpy array); a TypeError names what is neither, a TextError a text that holds a
    lone surrogate."""
    if isinstance(texts, str):
        return [texts]
    if hasattr(texts, "columns"):  # a DataFrame (pandas, polars) iterates over its column names or columns
        raise TypeError(f"texts is a table ({type(texts).__name__}); pass its column of texts, e.g. "
                        "extract(frame['text'])")
    if not _iterable(texts):
        raise TypeError(f"texts must be a string or a list of texts, not {type(texts).__name__}")
    found = []
    for i, item in enumerate(texts):
        words = item if isinstance(item, str) else list(item) if _iterable(item) else None
        if words is None or not (isinstance(words, str) or all(isinstance(w, str) for w in words)):
            raise TypeError(f"texts[{i}] is {item!r:.80}; each text must be a string or a list of words (strings)")
        place = lone_surrogate(words)
        if place is not None:
            raise TextError(i, f"texts[{i}] holds a lone surrogate at {place} (half of a UTF-16 pair, as a bad "
                               "'\\ud800' escape makes one), which is not text: mend or drop it")
        found.append(words)
    return found


def _iterable(value) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes, dict))


def _pieces(words: list, size: int) -> list[list]:
    """A sentence's words in pieces of at most `size` (an empty sentence stays one empty piece)."""
    return [words[a:a + size] for a in range(0, max(len(words), 1), size)]


class TextError(ValueError):
    """A text of the call that cannot be extracted; `item` is its index in the call (so that a file
    reader can name the text's line instead)."""

    def __init__(self, item: int, message: str):
        super().__init__(message)
        self.item = item


class GivenEntityError(TextError):
    """A given entity that cannot be used; `item` is the index of its text in the call."""


def _place_given(item: int, given: Iterable[dict], own: list[_Sentence], by_chars: bool, known: set[str]) -> None:
    """Maps a text's own entities to word spans of its sentences (`own`); entities of an unknown type
    or off word boundaries are errors (GivenEntityError)."""
    if isinstance(given, dict):  # one text's entities given without the list around each text's
        raise GivenEntityError(item, f"entities[{item}] is an entity ({given!r}); entities holds one list of "
                                     "entities per text: [[{...}, ...], ...]")
    placed: list[list[tuple[int, int, str]]] = [[] for _ in own]
    for s, mine in zip(own, placed):
        s.given = mine
    keys = ("start", "end") if by_chars else ("token_start", "token_end")
    bounds = [({w.start: k for k, w in enumerate(s.words)}, word_ends(s.words)) for s in own] if by_chars else []
    for j, e in enumerate(given):
        where = f"entities[{item}][{j}]"
        if not isinstance(e, dict) or not all(is_int(e.get(k)) for k in keys) or "type" not in e:
            raise GivenEntityError(item, f"{where} ({e!r}) needs \"type\" and whole-number \"{keys[0]}\" and "
                                         f"\"{keys[1]}\"")
        if e["type"] not in known:
            raise GivenEntityError(item, f"{where} has type {e['type']!r}, which the model does not know; "
                                         f"its entity types: {', '.join(sorted(known))}")
        for n, (s, mine) in enumerate(zip(own, placed)):
            if by_chars:
                starts, ends = bounds[n]  # each sentence's word offsets, made once for all the entities
                if e["start"] in starts and e["end"] in ends:
                    mine.append((starts[e["start"]], ends[e["end"]] + 1, e["type"]))
                    break
            elif 0 <= e["token_start"] < e["token_end"] <= len(s.words):
                mine.append((e["token_start"], e["token_end"], e["type"]))
                break
        else:
            raise GivenEntityError(item, f"{where} ({e}) {_why_not_placed(e, own, by_chars)}")


def _why_not_placed(e: dict, own: list[_Sentence], by_chars: bool) -> str:
    """What is wrong with a given entity that no sentence of its text holds, for its error."""
    start, end = (e["start"], e["end"]) if by_chars else (e["token_start"], e["token_end"])
    if end <= start:
        return "ends where or before it starts"
    if by_chars:
        last = max((s.words[-1].end for s in own if s.words), default=0)
        if start < 0 or end > last:
            return f"reaches beyond the text's words, which lie within characters 0 to {last}"
    else:
        words = sum(len(s.words) for s in own)
        if start < 0 or end > words:
            return f"reaches beyond the text's {words} words"
    return "does not fall on word boundaries within one sentence"


def _merge(result: Extraction, sentence: _Sentence, predicted: Document) -> None:
    """Adds one sentence's predictions to its text's result, offsets mapped back to the input."""
    base = len(result.entities)
    for k, e in enumerate(predicted.entities):
        words = sentence.words[e.start:e.end]
        start, end = (words[0].start, words[-1].end) if result.text is not None else (None, None)
        text = result.text[start:end] if result.text is not None else " ".join(w.text for w in words)
        entity_type, score, probability = e.type, e.score, e.probability
        if sentence.given is not None:  # the user's entity (decode keeps the given rows' order)
            entity_type, score, probability = sentence.given[k][2], None, None
        result.entities.append(ExtractedEntity(text, entity_type, sentence.token_offset + e.start,
                                               sentence.token_offset + e.end, start, end, score, sentence.index,
                                               probability))
    for r in predicted.relations:
        result.relations.append(ExtractedRelation(base + r.head, base + r.tail, r.type, r.score, r.probability))
