"""Documents and types in SpERT JSON, read with errors that name the file, the document and the problem.

A document: `{"tokens": [...], "entities": [{"type", "start", "end"}], "relations": [{"type", "head",
"tail"}], "orig_id": ...}`, `end` exclusive, `head`/`tail` indexing `entities`. A types file:
`{"entities": {NAME: {"short", "verbose"}}, "relations": {NAME: {"short", "verbose", "symmetric"}}}`;
the order of its names gives the type ids (0, 1, ... for the real types; SpERT's "none" is not
listed).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..files import open_binary, write_text_atomic

if TYPE_CHECKING:
    from ..config import Config


class DataError(ValueError):
    """A problem in an input file; the message says which file, which document and what."""


@dataclass(frozen=True)
class EntityType:
    name: str
    index: int
    short: str = ""
    verbose: str = ""


@dataclass(frozen=True)
class RelationType:
    name: str
    index: int
    short: str = ""
    verbose: str = ""
    symmetric: bool = False


@dataclass
class Types:
    """Entity and relation types, in types-file order (index = position)."""

    entities: list[EntityType]
    relations: list[RelationType]

    def __post_init__(self):
        self.entity_index = {t.name: t for t in self.entities}
        self.relation_index = {t.name: t for t in self.relations}

    @classmethod
    def from_dict(cls, data: dict, source: str = "<types>") -> Types:
        if not isinstance(data, dict) or "entities" not in data:
            raise DataError(f"{source}: a types file needs the key 'entities' (and 'relations', which an "
                            "entities-only corpus may leave out)")
        try:
            entities = [EntityType(name, i, str(v.get("short", name)), str(v.get("verbose", name)))
                        for i, (name, v) in enumerate(data["entities"].items())]
            relations = [RelationType(name, i, str(v.get("short", name)), str(v.get("verbose", name)),
                                      bool(v.get("symmetric", False)))
                         for i, (name, v) in enumerate(data.get("relations", {}).items())]
        except AttributeError as error:
            raise DataError(f"{source}: each type must map a name to an object ({error})") from None
        if not entities:
            raise DataError(f"{source}: no entity types")
        return cls(entities, relations)

    def to_dict(self) -> dict:
        return {
            "entities": {t.name: {"short": t.short, "verbose": t.verbose} for t in self.entities},
            "relations": {t.name: {"short": t.short, "verbose": t.verbose, "symmetric": t.symmetric}
                          for t in self.relations},
        }


def symmetric_types(types: Types | None) -> set[str]:
    """The names of the relation types that are symmetric (a relation there has no direction)."""
    return {t.name for t in types.relations if t.symmetric} if types is not None else set()


def symmetric_order(head, tail, symmetric: bool, start_of=lambda entity: entity[0]):
    """SpERT's rule for a relation of a symmetric type: the entity that starts first is the head.
    The one place where decoding, scoring, threshold tuning and the HTML view order them."""
    return (tail, head) if symmetric and start_of(head) > start_of(tail) else (head, tail)


def read_types(path: str | Path) -> Types:
    """Reads a SpERT types file."""
    return Types.from_dict(_load_json(path), str(path))


def collect_types(documents: Iterable[Document], symmetric: set[str] | None = None) -> Types:
    """A types file listing the types that occur, in order of first appearance."""
    documents = list(documents)
    entities = list(dict.fromkeys(e.type for d in documents for e in d.entities))
    relations = list(dict.fromkeys(r.type for d in documents for r in d.relations))
    symmetric = symmetric or set()
    return Types.from_dict({
        "entities": {t: {"short": t, "verbose": t} for t in entities},
        "relations": {t: {"short": t, "verbose": t, "symmetric": t in symmetric} for t in relations},
    })


def config_types(cfg: Config) -> Types:
    """The types a config trains and scores with: its types file, or where `types_path` is empty the
    types its data files use (train, dev and test, in order of first appearance; no relation type
    symmetric: a types file says which are)."""
    if cfg.types_path:
        return read_types(cfg.data_path("types_path"))
    paths = [cfg.data_path(key) for key in ("train_path", "dev_path", "test_path") if getattr(cfg, key)]
    documents = [document for path in paths for document in read_documents(path)]
    if not any(d.entities for d in documents):
        raise DataError(f"types_path is empty, so the types are those the data uses, but {', '.join(map(str, paths))} "
                        "hold no entity: give a types file (types_path)")
    return collect_types(documents)


@dataclass(frozen=True)
class Entity:
    """Words [start, end) of a document, with a type (and a score when predicted)."""

    start: int
    end: int
    type: str
    score: float | None = None
    probability: float | None = None  # in [0, 1], when predicted (heads.Head.probabilities)

    @property
    def span(self) -> tuple[int, int]:
        return self.start, self.end


@dataclass(frozen=True)
class Relation:
    """A typed relation between two entities of the same document (indices into its entities)."""

    head: int
    tail: int
    type: str
    score: float | None = None
    probability: float | None = None  # in [0, 1], when predicted


@dataclass
class Document:
    tokens: list[str]
    entities: list[Entity] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    orig_id: Any = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {
            "tokens": self.tokens,
            "entities": [_strip_none({"type": e.type, "start": e.start, "end": e.end, "score": e.score,
                                      "probability": e.probability})
                         for e in self.entities],
            "relations": [_strip_none({"type": r.type, "head": r.head, "tail": r.tail, "score": r.score,
                                       "probability": r.probability})
                          for r in self.relations],
        }
        if self.orig_id is not None:
            out["orig_id"] = self.orig_id
        return out


def _strip_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def _load_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        hint = ("" if path.parent.exists() else
                f" (nor its folder {path.parent}: fetch the benchmark datasets with `spertmt download conll04 scierc "
                "ade --dest datasets`, or set SPERTMT_DATA or data_root to the folder that holds them)")
        raise DataError(f"{path}: no such file{hint}")
    if path.is_dir():
        brat = " (a folder of brat files converts with `spertmt convert --from brat --to spert`)" \
            if next(path.rglob("*.ann"), None) else ""
        raise DataError(f"{path}: is a folder; give a SpERT JSON file (a list of documents){brat}")
    try:
        # -sig: a BOM (some Windows editors write one) is skipped; a .gz, .bz2 or .xz name is decompressed
        with io.TextIOWrapper(open_binary(path), encoding="utf-8-sig") as f:
            return json.load(f)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON: {error}{_json_lines_hint(error)}") from None
    except RecursionError as error:  # nested thousands deep
        raise DataError(f"{path}: not valid JSON: {error}") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: {not_utf8(error.object if error.start < 2 else b'', str(error))}") from None


def _json_lines_hint(error: json.JSONDecodeError) -> str:
    """Where a file that should hold one JSON value holds more (JSON lines: an export of doccano,
    Prodigy, DyGIE++), a hint that says so and, from the first, which converter reads it."""
    if error.msg != "Extra data":
        return ""
    try:
        first = json.JSONDecoder().raw_decode(error.doc.lstrip("\ufeff \t\r\n"))[0]
    except (json.JSONDecodeError, RecursionError):
        return ""
    return f" (JSON lines, a value a line, where SpERT JSON is one list{convert_hint(first, '; ')})"


# what convert reads, by a record's keys: how a file of another tool's format is told apart
OTHER_FORMATS = {"labelstudio": "Label Studio tasks", "dygie": "DyGIE++ documents", "prodigy": "Prodigy tasks",
                 "doccano": "doccano records"}


def other_format(raw: Any) -> str | None:
    """The name (convert's) of the annotation tool's format whose record `raw` looks like, or None:
    a SpERT document holds 'tokens', a list of words."""
    if not isinstance(raw, dict):
        return None
    tokens = raw.get("tokens")
    if "data" in raw and ("annotations" in raw or "predictions" in raw):
        return "labelstudio"
    if tokens is None and isinstance(raw.get("sentences"), list):
        return "dygie"
    if "text" in raw and ("spans" in raw or (isinstance(tokens, list) and any(isinstance(t, dict) for t in tokens))):
        return "prodigy"
    if tokens is None and "text" in raw and any(key in raw for key in ("entities", "label", "labels")):
        return "doccano"
    return None


def convert_hint(raw: Any, lead: str = " ") -> str:
    """`lead` and what converts a record of another format (other_format) to SpERT JSON, or ""."""
    name = other_format(raw)
    if name is None:
        return ""
    return f"{lead}it holds {OTHER_FORMATS[name]}: `spertmt convert --from {name} --to spert FILE OUT.json`"


def not_utf8(first_bytes: bytes, detail: str) -> str:
    """How a message says that a file is not UTF-8: "not UTF-8 text (`detail`)", or, where its first
    bytes are UTF-16's byte order mark (Windows Notepad's "Unicode" and Excel's "Unicode Text" save
    one), that it is UTF-16."""
    if first_bytes[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "UTF-16 text, not UTF-8 (it begins with UTF-16's byte order mark)"
    return f"not UTF-8 text ({detail})"


def utf8_lines(lines: Iterable[bytes], name: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 file's byte lines, a BOM at its start skipped (some Windows
    editors write one); a line that is not UTF-8 is a DataError naming `name` and the line."""
    for line_number, raw in enumerate(lines, 1):
        try:
            yield line_number, raw.decode("utf-8-sig" if line_number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            detail = f"{error.reason} at character {error.start + 1}"
            raise DataError(f"{name}, line {line_number}: {not_utf8(raw if line_number == 1 else b'', detail)}; "
                            "save the file as UTF-8") from None


def is_int(value: Any) -> bool:
    """A whole number, not a bool (JSON's and TOML's true is a Python int)."""
    return isinstance(value, int) and not isinstance(value, bool)


# What a file of raw texts in place of SpERT JSON is told (a list of strings, or of {"text": ...}).
RAW_TEXT_HINT = ("SpERT JSON holds documents of words ('tokens'); texts to extract from go to predict as .txt "
                 "lines, .jsonl lines of {\"text\": ...} or a .csv's 'text' column, and annotated text converts "
                 "with `spertmt convert --from doccano`")


def parse_document(raw: Any, types: Types | None, where: str) -> Document:
    """One document from its JSON object; `where` (file and index) starts every error message."""
    if other_format(raw):
        raise DataError(f"{where}: not a SpERT document;{convert_hint(raw)} makes SpERT JSON of it")
    if isinstance(raw, str) or (isinstance(raw, dict) and "text" in raw and "tokens" not in raw):
        raise DataError(f"{where}: a text, not a document: {RAW_TEXT_HINT}")
    if not isinstance(raw, dict):
        raise DataError(f"{where}: a document must be a JSON object, not {type(raw).__name__}")
    tokens = raw.get("tokens")
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise DataError(f"{where}: 'tokens' must be a list of strings")
    for key in ("entities", "relations"):
        if not isinstance(raw.get(key, []), list):
            raise DataError(f"{where}: '{key}' must be a list")
    entities = []
    for k, e in enumerate(raw.get("entities", [])):
        if not isinstance(e, dict) or not {"type", "start", "end"} <= e.keys():
            raise DataError(f"{where}: entity {k} needs 'type', 'start' and 'end'")
        start, end, name = e["start"], e["end"], e["type"]
        if not is_int(start) or not is_int(end):
            raise DataError(f"{where}: entity {k} has non-integer bounds {start!r}, {end!r}")
        if not isinstance(name, str):
            raise DataError(f"{where}: entity {k} has a type that is not a string: {name!r}")
        if end <= start:
            raise DataError(f"{where}: entity {k} has end {end} <= start {start} (end is exclusive)")
        if start < 0 or end > len(tokens):
            raise DataError(f"{where}: entity {k} [{start}, {end}) is out of range of {len(tokens)} tokens")
        if types is not None and name not in types.entity_index:
            raise DataError(f"{where}: entity {k} has unknown type {name!r} "
                            f"(the types known: {sorted(types.entity_index)})")
        entities.append(Entity(start, end, name))
    relations = []
    for k, r in enumerate(raw.get("relations", [])):
        if not isinstance(r, dict) or not {"type", "head", "tail"} <= r.keys():
            raise DataError(f"{where}: relation {k} needs 'type', 'head' and 'tail'")
        if not isinstance(r["type"], str):
            raise DataError(f"{where}: relation {k} has a type that is not a string: {r['type']!r}")
        for role in ("head", "tail"):
            if not is_int(r[role]) or not 0 <= r[role] < len(entities):
                raise DataError(f"{where}: relation {k} points at a missing entity ({role} = {r[role]!r}, "
                                f"the document has {len(entities)} entities)")
        if types is not None and r["type"] not in types.relation_index:
            raise DataError(f"{where}: relation {k} has unknown type {r['type']!r} "
                            f"(the types known: {sorted(types.relation_index)})")
        relations.append(Relation(r["head"], r["tail"], r["type"]))
    return Document(tokens, entities, relations, raw.get("orig_id"))


def read_documents(path: str | Path, types: Types | None = None) -> list[Document]:
    """Reads a SpERT JSON file (a list of documents), checking every document against `types`."""
    raw = _load_json(path)
    if not isinstance(raw, list):
        raise DataError(f"{path}: expected a JSON list of documents, found {type(raw).__name__}")
    return [parse_document(doc, types, f"{path}, document {i}") for i, doc in enumerate(raw)]


def as_documents(documents: Iterable[Document | dict], name: str = "documents",
                 types: Types | None = None) -> list[Document]:
    """Documents given in Python (to predict, evaluate, write) as Documents: SpERT JSON objects, as
    `json.load` reads a file, parsed (checked against `types` where given; a named DataError where one
    is not a document); raw text, or one document given for the list, named."""
    if isinstance(documents, (str, dict, Document)):
        raise TypeError(f"{name} must be a list of documents, not a {type(documents).__name__}"
                        + (": raw text goes to extract()" if isinstance(documents, str) else ": give [document]"))
    out = []
    for i, document in enumerate(documents):
        if isinstance(document, str):
            raise TypeError(f"{name}[{i}] is a str, not a document of words (a SpERT JSON object or a Document): "
                            "raw text goes to extract()")
        out.append(document if isinstance(document, Document) else parse_document(document, types, f"{name}[{i}]"))
    return out


def write_documents(path: str | Path, documents: Iterable[Document | dict]) -> None:
    """Writes documents (e.g. predictions, with scores; Documents or SpERT JSON objects) as SpERT JSON."""
    write_text_atomic(path, json.dumps([d.to_json() for d in as_documents(documents)], ensure_ascii=False))


def require_documents(documents: list[Document], path: str | Path, purpose: str) -> list[Document]:
    """`documents`, or a DataError when there are none: commands that learn or tune from a file
    refuse an empty one instead of training on nothing or writing thresholds from no data."""
    if not documents:
        raise DataError(f"{path}: no documents {purpose}")
    return documents


def words_seen(documents: list[Document], seen: list[Document] | None = None) -> list[int]:
    """The indices of `documents` whose words are those of a document of `seen` (a dev or test
    document that is also a training one), or, without `seen`, of an earlier document of their own."""
    if seen is not None:
        known = {tuple(d.tokens) for d in seen}
        return [i for i, d in enumerate(documents) if tuple(d.tokens) in known]
    earlier: set[tuple[str, ...]] = set()
    repeats = []
    for i, d in enumerate(documents):
        words = tuple(d.tokens)
        if words in earlier:
            repeats.append(i)
        earlier.add(words)
    return repeats


def hold_out(documents: list[Document], share: float) -> tuple[list[Document], list[Document]]:
    """(the rest, the held-out documents): every k-th document held out, k = round(1 / share), so that
    the held-out part spreads over the whole file and is the same for every seed."""
    if share <= 0:
        return documents, []
    every = max(2, round(1 / share))
    return ([d for i, d in enumerate(documents) if i % every != every - 1],
            [d for i, d in enumerate(documents) if i % every == every - 1])


def training_split(documents: list[Document], max_documents: int, share: float) -> tuple[list[Document],
                                                                                    list[Document]]:
    """(what a run trains on, what it holds out as its dev set) of its training file's `documents`: the
    first `max_documents` of them (0: all, Config.max_train_documents), then every k-th held out
    (hold_out, `share`: Config.dev_split)."""
    return hold_out(documents[:max_documents] if max_documents else documents, share)


def model_dev_set(config, types: Types) -> tuple[list[Document], str]:
    """A model's own dev set, from its config (spertmt.Config): the file `dev_path` names, or the
    training documents its run held out (`dev_split`, training_split); with words saying which. A
    DataError where the config names none or the file cannot be read here."""
    if config.dev_path:
        path = config.data_path("dev_path")
        return read_documents(path, types), str(path)
    if config.dev_split:
        path = config.data_path("train_path")
        held_out = training_split(read_documents(path, types), config.max_train_documents, config.dev_split)[1]
        return held_out, f"the {len(held_out)} documents of {path} its run held out (dev_split {config.dev_split})"
    raise DataError("the model's config names no dev set (no dev_path, no dev_split)")


def has_overlapping_entities(documents: list[Document]) -> bool:
    """Whether two entities of one document overlap anywhere in `documents` (training data)."""
    for doc in documents:
        spans = sorted((e.start, e.end) for e in doc.entities)
        if any(b[0] < a[1] for a, b in zip(spans, spans[1:])):
            return True
    return False


_HYPHENATED = re.compile(r"\w+(?:-\w+)+")


def count_hyphenated_words(documents: list[Document]) -> tuple[int, int]:
    """How many hyphenated words `documents` keep whole ("strife-torn") and write as words and
    hyphens ("strife - torn")."""
    whole = apart = 0
    for doc in documents:
        tokens = doc.tokens
        for i, token in enumerate(tokens):
            if _HYPHENATED.fullmatch(token):
                whole += 1
            elif token == "-" and 0 < i < len(tokens) - 1 and tokens[i - 1][-1:].isalnum() \
                    and tokens[i + 1][:1].isalnum():
                apart += 1
    return whole, apart


def more_often_whole(whole: int, apart: int) -> bool:
    """The rule for data whose hyphenated words were counted (count_hyphenated_words): whole more
    often than apart (a tie reads apart)."""
    return whole > apart


def joins_hyphenated_words(documents: list[Document]) -> bool:
    """Whether `documents` (training data) keep hyphenated words whole more often than apart: a
    model trained on them reads raw text's the same way (Config.hyphenated_words)."""
    return more_often_whole(*count_hyphenated_words(documents))
