"""Converters between SpERT JSON, DyGIE++ / PURE / PL-Marker JSON lines, brat standoff, doccano,
Label Studio, Prodigy, INCEpTION's TSV and CoNLL columns.

Every reader returns `(documents, report)`: the report counts what was skipped and why (a
discontinuous brat entity, an entity off word boundaries, a relation across sentences, ...),
so nothing is dropped silently. SpERT documents are sentences; relations are intra-sentence.

- DyGIE++ (`sentences`, document-level token offsets, inclusive ends in `ner` and `relations`):
  one SpERT document per sentence, `orig_id` = the doc_key (with `#i` for sentence i of a
  multi-sentence document); written back one sentence per DyGIE document.
- brat standoff (a folder of `.txt` + `.ann`): text split into sentences and words with character
  offsets kept. Written one sentence a line, words joined by single spaces, so the `whitespace`
  splitter reads it back exactly.
- doccano JSON lines (a record's `text` with entities in characters, and relations): split as
  brat's text is; written one record per document, words joined by single spaces.
- Label Studio's JSON export (tasks: `data` with the text, `annotations` whose `result` holds
  `labels` regions by characters and `relation`s between them): split as brat's text is, the first
  annotation of each task that was not cancelled; written as tasks for its relation-extraction
  template (`label`, `text`), words joined by single spaces.
- Prodigy's JSON lines (tasks of its ner.manual, spans.manual and rel.manual recipes: `text`,
  `tokens`, `spans` by characters, `relations` between spans): split as brat's text is, but into
  the task's own tokens, the tasks not rejected or ignored; written as accepted rel.manual tasks,
  words joined by single spaces.
- INCEpTION's (WebAnno's) TSV 3 export (spertmt.data.webanno): a sentence a document; written as one
  file, a document a sentence, words joined by single spaces.
- CoNLL columns (CoNLL-2003's NER files): a word a line, its BIO, IOB1 or BIOES tag in the last
  column, a blank line between sentences; entities only. Written as word, tab, BIO tag; what the
  columns cannot hold (relations, an entity over another's words) is in the write's report.

Each format is a `Format` in the registry `FORMATS`, by name; `register_format` adds one (a
package can also name one in its `spertmt.formats` entry points), and `convert` and `spertmt
convert` then take it (docs/development.md, "Extending").
"""

from __future__ import annotations

import bisect
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..files import atomic_output, check_input, open_binary, uncompressed, write_text_atomic
from .documents import (
    DataError,
    Document,
    Entity,
    Relation,
    Types,
    _load_json,
    collect_types,
    not_utf8,
    parse_document,
    utf8_lines,
)
from .text import WORD_SPLITTERS, Word, joined_spans, joined_words, split_sentences, word_ends


@dataclass
class Report:
    """What a conversion skipped or ignored, with counts and the first few examples."""

    counts: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)

    def add(self, what: str, example: str) -> None:
        self.counts[what] += 1
        self.examples.setdefault(what, [])
        if len(self.examples[what]) < 5:
            self.examples[what].append(example)

    def extend(self, other: Report) -> None:
        for what, n in other.counts.items():
            self.counts[what] += n
            self.examples.setdefault(what, [])
            self.examples[what] += other.examples[what][:5 - len(self.examples[what])]

    def __str__(self) -> str:
        if not self.counts:
            return "nothing skipped"
        return "\n".join(f"{what}: {n} (e.g. {'; '.join(self.examples[what])})" for what, n in self.counts.items())


# ---------------------------------------------------------------------------------------------
# SpERT JSON


def read_spert(path: str | Path, types: Types | None = None) -> tuple[list[Document], Report]:
    from .documents import read_documents

    return read_documents(path, types), Report()


def write_spert(documents: list[Document], path: str | Path) -> None:
    from .documents import write_documents

    write_documents(path, documents)


def check_types(documents: list[Document], types: Types, source: str) -> None:
    """Every type used by the documents must be in `types`."""
    for i, doc in enumerate(documents):
        for e in doc.entities:
            if e.type not in types.entity_index:
                raise DataError(f"{source}, document {i}: entity type {e.type!r} is not in the types file")
        for r in doc.relations:
            if r.type not in types.relation_index:
                raise DataError(f"{source}, document {i}: relation type {r.type!r} is not in the types file")


# ---------------------------------------------------------------------------------------------
# DyGIE++ / PURE / PL-Marker


def _not_a_folder(path: str | Path) -> None:
    if Path(path).is_dir():
        raise DataError(f"{path}: a folder; this format is read from a file (brat's is a folder)")


def _utf8_lines(path: str | Path):
    """(line number, line) of a UTF-8 file (documents.utf8_lines)."""
    _not_a_folder(path)
    with open_binary(path) as f:
        yield from utf8_lines(f, str(path))


def _utf8_text(path: Path) -> str:
    """A UTF-8 file's text as it is (brat's offsets count a BOM too); a DataError names the file
    that is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: {not_utf8(error.object, f'{error.reason} at byte {error.start}')}; save the file "
                        "as UTF-8") from None


def _json_lines(path: str | Path):
    """(where, line number, value) of each non-blank line of a JSON lines file."""
    for line_number, line in _utf8_lines(path):
        if not line.strip():
            continue
        where = f"{path}, line {line_number}"
        try:
            yield where, line_number, json.loads(line)
        except (json.JSONDecodeError, RecursionError) as error:  # the latter: nested thousands deep
            raise DataError(f"{where}: not valid JSON: {error}") from None


def read_dygie(path: str | Path) -> tuple[list[Document], Report]:
    report = Report()
    documents = []
    for where, line_number, raw in _json_lines(path):
        sentences = raw.get("sentences") if isinstance(raw, dict) else None
        if not isinstance(sentences, list):
            raise DataError(f"{where}: needs 'sentences', a list of token lists")
        ner = raw.get("ner", [[] for _ in sentences])
        relations = raw.get("relations", [[] for _ in sentences])
        if not isinstance(ner, list) or not isinstance(relations, list) or len(ner) != len(sentences) or \
                len(relations) != len(sentences):
            raise DataError(f"{where}: 'ner' and 'relations' need one list per sentence")
        key = raw.get("doc_key", line_number - 1)
        try:
            documents += _dygie_documents(sentences, ner, relations, key, where, report)
        except (TypeError, ValueError, IndexError) as error:  # a span or label of the wrong shape or type
            raise DataError(f"{where}: 'ner' holds [start, end, label] and 'relations' [start, end, start, end, "
                            f"label] lists of each sentence ({error})") from None
    return documents, report


def _dygie_documents(sentences: list, ner: list, relations: list, key, where: str, report: Report) -> list[Document]:
    """One SpERT document per sentence of a DyGIE++ record (document-level token offsets,
    inclusive ends)."""
    documents = []
    offset = 0
    for i, tokens in enumerate(sentences):
        sentence_where = f"{where}, sentence {i}"
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise DataError(f"{sentence_where}: a sentence is a list of words (strings), not {tokens!r:.60}")
        entities: list[Entity] = []
        index: dict[tuple[int, int], int] = {}
        for item in ner[i]:
            start, end, label = item[0] - offset, item[1] - offset + 1, item[2]
            if not 0 <= start < end <= len(tokens):
                raise DataError(f"{sentence_where}: entity {item} lies outside the sentence")
            index.setdefault((start, end), len(entities))
            entities.append(Entity(start, end, label))
        typed = Counter(e.span for e in entities)
        rels = []
        for item in relations[i]:
            head_span, tail_span = (item[0] - offset, item[1] - offset + 1), (item[2] - offset, item[3] - offset + 1)
            head, tail = index.get(head_span), index.get(tail_span)
            if head is None or tail is None:
                report.add("relation whose argument is not an entity (skipped)", f"{sentence_where}: {item}")
                continue
            if typed[head_span] > 1 or typed[tail_span] > 1:  # DyGIE names a relation's arguments by span alone
                report.add("relation of a span with several types (joined to the span's first)",
                           f"{sentence_where}: {item}")
            rels.append(Relation(head, tail, item[4]))
        orig_id = key if len(sentences) == 1 else f"{key}#{i}"
        documents.append(Document(list(tokens), entities, rels, orig_id))
        offset += len(tokens)
    return documents


def write_dygie(documents: list[Document], path: str | Path) -> None:
    """One DyGIE document per SpERT document (sentence); doc_key = orig_id (or the index)."""
    with atomic_output(path) as f:  # which makes the output's folder where it is missing
        for i, doc in enumerate(documents):
            ner = [[e.start, e.end - 1, e.type] for e in doc.entities]
            rels = [[doc.entities[r.head].start, doc.entities[r.head].end - 1, doc.entities[r.tail].start,
                     doc.entities[r.tail].end - 1, r.type] for r in doc.relations]
            record = {"doc_key": doc.orig_id if doc.orig_id is not None else i, "sentences": [doc.tokens],
                      "ner": [ner], "relations": [rels]}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------
# brat standoff


def _parse_ann(text: str, where: str, report: Report, source: str):
    """-> ({id: (type, start, end)}, [(type, arg1, arg2)]) from an .ann file; `source`: the text of its
    .txt, where an entity in fragments with only a line break or spaces between them is one span
    (brat writes an entity across a line break so)."""
    entities: dict[str, tuple[str, int, int]] = {}
    relations: list[tuple[str, str, str, str]] = []
    for line_number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        here = f"{where}, line {line_number}"
        kind = line[0]
        fields = line.split("\t")
        if kind == "T":
            if len(fields) < 2 or len(fields[1].split(" ", 1)) < 2:
                raise DataError(f"{here}: malformed entity line {line!r}")
            label, offsets = fields[1].split(" ", 1)
            try:
                fragments = [tuple(int(x) for x in fragment.split()) for fragment in offsets.split(";")]
                if any(len(fragment) != 2 for fragment in fragments):
                    raise ValueError
            except ValueError:
                raise DataError(f"{here}: malformed offsets {offsets!r}") from None
            if not all(source[end:start].isspace() for (_, end), (start, _) in zip(fragments, fragments[1:])):
                report.add("discontinuous entity (skipped)", f"{here}: {fields[0]} {offsets}")
                continue
            entities[fields[0]] = (label, fragments[0][0], fragments[-1][1])
        elif kind == "R":
            parts = fields[1].split() if len(fields) > 1 else []
            if len(parts) != 3 or not all(":" in p for p in parts[1:]):
                raise DataError(f"{here}: malformed relation line {line!r}")
            relations.append((fields[0], parts[0], parts[1].split(":", 1)[1], parts[2].split(":", 1)[1]))
        elif kind in "*EAMN#":
            report.add(f"'{kind}' line (ignored)", here)
        else:
            raise DataError(f"{here}: unknown annotation line {line!r}")
    return entities, relations


def read_brat(folder: str | Path, words: str = "simple", sentences: str | None = None) -> tuple[list[Document], Report]:
    """Reads every `.txt` with its `.ann` in `folder` and its subfolders (a brat collection's layout;
    sorted by path), one SpERT document per sentence, named by the file's path in the folder.

    Args:
        words: "simple" (words and punctuation), "unicode" (Unicode word boundaries, as raw-text
            extraction splits: spertmt.data.text) or "whitespace".
        sentences: "lines" (one sentence per line) or "punctuation" (as raw-text extraction splits:
            paragraphs, split after . ! ?; spertmt.data.text);
            default "lines" with the whitespace splitter, else "punctuation".
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; brat's collection is a folder of .txt and .ann files")
    split = _RawTextSplit(words, sentences)
    report = Report()
    documents: list[Document] = []
    texts = sorted(folder.rglob("*.txt"), key=lambda txt: txt.relative_to(folder).parts)
    if not texts:
        raise DataError(f"{folder}: no .txt files")
    for txt in texts:
        ann = txt.with_suffix(".ann")
        text = _utf8_text(txt)
        entities, relations = _parse_ann(_utf8_text(ann) if ann.exists() else "", str(ann), report, text)
        entities = dict(sorted(entities.items(), key=lambda kv: _id_number(kv[0])))
        relations = sorted(relations, key=lambda r: _id_number(r[0]))
        name = txt.relative_to(folder).as_posix()
        documents += split.documents(text, entities, relations, name, name.removesuffix(".txt"), report)
    return documents, report


@dataclass(frozen=True)
class _RawTextSplit:
    """How annotated raw text (brat, doccano) becomes SpERT documents: `words` and `sentences` as
    read_brat takes them."""

    words: str
    sentences: str | None

    def __post_init__(self):
        if self.words not in WORD_SPLITTERS:
            raise ValueError(f"words must be one of {sorted(WORD_SPLITTERS)}, not {self.words!r}")

    @property
    def by_lines(self) -> bool:
        """One sentence a line: asked for, or by default with the whitespace splitter."""
        return (self.sentences or ("lines" if self.words == "whitespace" else "punctuation")) == "lines"

    def documents(self, text: str, entities: dict[str, tuple[str, int, int]],
                  relations: list[tuple[str, str, str, str]], where: str, name: str, report: Report,
                  words: list[Word] | None = None) -> list[Document]:
        """One document per sentence of `text` (orig_id `name:first character`), with the
        `entities` ({id: (type, start, end)} in characters) and `relations` ([(id, type, head id,
        tail id)]) that fall within one; the rest is reported, `where` naming the text. `words`: the
        text's own words (an annotation tool's tokens), which the sentences then never cut, instead
        of the splitter's."""
        ranges = split_sentences(text, self.by_lines)
        sentence_words = None if words is None else _by_sentence(words, ranges)
        if sentence_words is not None:
            ranges = [(w[0].start, w[-1].end) for w in sentence_words]
        sentence_starts = [start for start, _ in ranges]
        by_sentence: dict[int, list[str]] = {}
        for entity_id, (_, start, _) in entities.items():
            k = bisect.bisect_right(sentence_starts, start) - 1
            if k < 0 or start >= ranges[k][1]:
                report.add("entity outside every sentence (skipped)", f"{where} {entity_id}")
                continue
            by_sentence.setdefault(k, []).append(entity_id)
        documents: list[Document] = []
        placed: dict[str, tuple[int, int]] = {}  # entity id -> (document number, entity index)
        for k, (s_start, s_end) in enumerate(ranges):
            these = (WORD_SPLITTERS[self.words](text[s_start:s_end], s_start) if sentence_words is None
                     else sentence_words[k])
            starts = {w.start: n for n, w in enumerate(these)}
            ends = word_ends(these)
            doc = Document([w.text for w in these], [], [], f"{name}:{s_start}")
            for entity_id in by_sentence.get(k, []):
                label, start, end = entities[entity_id]
                if end > s_end:
                    report.add("entity across a sentence boundary (skipped)", f"{where} {entity_id}")
                    continue
                if start not in starts or end not in ends:
                    report.add("entity not on word boundaries (skipped)", f"{where} {entity_id} {text[start:end]!r}")
                    continue
                placed[entity_id] = (len(documents), len(doc.entities))
                doc.entities.append(Entity(starts[start], ends[end] + 1, label))
            documents.append(doc)
        for rel_id, label, arg1, arg2 in relations:
            if arg1 not in placed or arg2 not in placed:
                report.add("relation to a skipped or missing entity (skipped)", f"{where} {rel_id}")
                continue
            (d1, head), (d2, tail) = placed[arg1], placed[arg2]
            if d1 != d2:
                report.add("relation across sentences (skipped)", f"{where} {rel_id}")
                continue
            documents[d1].relations.append(Relation(head, tail, label))
        return documents


def _by_sentence(words: list[Word], ranges: list[tuple[int, int]]) -> list[list[Word]]:
    """`words` grouped by the sentence (of `ranges`) that each begins in: a sentence that would end
    inside a word ends after it."""
    starts = [start for start, _ in ranges]
    groups: dict[int, list[Word]] = {}
    for word in words:
        groups.setdefault(max(bisect.bisect_right(starts, word.start) - 1, 0), []).append(word)
    return [groups[k] for k in sorted(groups)]


def _id_number(identifier: str) -> int:
    digits = re.sub(r"\D", "", identifier)
    return int(digits) if digits else 0


def brat_names(names) -> dict[str, str]:
    """Each type name as brat stores it: brat reads a type of annotation.conf only in [A-Za-z0-9_-]
    (another name it rewrites with _, and the .ann files' type then names none), so accents go (é as
    e) and each run of other characters becomes _; two names that come out alike (人物 and 地点,
    both _) are told apart by _2, _3, ... in the order given."""
    stored: dict[str, str] = {}
    for name in dict.fromkeys(names):
        plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
        form = base = re.sub(r"[^A-Za-z0-9_-]+", "_", plain) or "_"
        number = 1
        while form in stored.values():
            number += 1
            form = f"{base.rstrip('_')}_{number}"
        stored[name] = form
    return stored


def brat_types(types: Types) -> tuple[dict[str, str], dict[str, str]]:
    """A model's entity and relation type names as brat stores them (`brat_names`)."""
    return brat_names(t.name for t in types.entities), brat_names(t.name for t in types.relations)


def brat_configuration(entities: dict[str, str], relations: dict[str, str]) -> dict[str, str]:
    """brat's configuration files for these types (each name -> its stored name, `brat_names`):
    annotation.conf (any entity type on either side of a relation) and, where a name is stored
    otherwise, visual.conf, whose labels show the names as they are."""
    conf = ("[entities]\n" + "".join(f"{s}\n" for s in entities.values()) + "[relations]\n"
            + "".join(f"{s}\tArg1:<ENTITY>, Arg2:<ENTITY>\n" for s in relations.values()) + "[events]\n[attributes]\n")
    files = {"annotation.conf": conf}
    renamed = {s: name for name, s in (*entities.items(), *relations.items()) if s != name}
    if renamed:  # a label is any text but a tab or |, which part a line's fields
        labels = {s: " ".join(re.split(r"[|\s]+", name)).strip() or s for s, name in renamed.items()}
        files["visual.conf"] = "[labels]\n" + "".join(f"{s} | {label}\n" for s, label in labels.items()) + "[drawing]\n"
    return files


def write_brat(documents: list[Document], folder: str | Path, sentences_per_file: int = 1000) -> Report:
    """Writes `doc_00000.txt/.ann`, ...: one sentence a line, words joined by single spaces; and the
    types' annotation.conf (and visual.conf where a name is stored otherwise) where the folder has
    none of its own. A type that brat cannot store as it is is written as `brat_names` says, and counted."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    report = Report()
    entity_names = brat_names(sorted({e.type for doc in documents for e in doc.entities}))
    relation_names = brat_names(sorted({r.type for doc in documents for r in doc.relations}))
    for name, stored in (*entity_names.items(), *relation_names.items()):
        if stored != name:
            report.add("type renamed for brat (its types hold A-Z, a-z, 0-9, _ and - only; visual.conf shows the "
                       "name)", f"{name!r} as {stored}")
    for name, content in brat_configuration(entity_names, relation_names).items():
        if (folder / name).exists():
            report.add("brat configuration left as it was (the folder's own)", str(folder / name))
        else:
            (folder / name).write_text(content, encoding="utf-8")
    for number, first in enumerate(range(0, len(documents), sentences_per_file)):
        lines, ann, position, t, r = [], [], 0, 0, 0
        for doc in documents[first:first + sentences_per_file]:
            line, spans = joined_spans(doc.tokens, [e.span for e in doc.entities])
            ids = []
            for e, (start, end) in zip(doc.entities, spans):
                t += 1
                ids.append(f"T{t}")
                ann.append(f"T{t}\t{entity_names[e.type]} {position + start} {position + end}\t{line[start:end]}")
            for rel in doc.relations:
                r += 1
                ann.append(f"R{r}\t{relation_names[rel.type]} Arg1:{ids[rel.head]} Arg2:{ids[rel.tail]}")
            lines.append(line)
            position += len(line) + 1
        (folder / f"doc_{number:05d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (folder / f"doc_{number:05d}.ann").write_text("\n".join(ann) + ("\n" if ann else ""), encoding="utf-8")
    return report


def brat_files(record: dict, entity_names: dict[str, str], relation_names: dict[str, str]) -> tuple[str, str]:
    """The .txt and .ann files of one text, from a doccano-style record (Extraction.to_doccano:
    "text", "entities" by character offsets with ids, "relations" by entity ids): the text with each
    line break a line feed (so that readers that take CR LF for one character and readers that do not
    count the same offsets), a T line per entity (one across a line break in fragments, as brat
    writes them) and an R line per relation, each type as brat stores it (`brat_types`)."""
    dropped = [m.start() for m in re.finditer("\r\n", record["text"])]  # each CR of a CR LF goes
    text = record["text"].replace("\r\n", "\n").replace("\r", "\n")
    lines, names = [], {}
    for k, e in enumerate(record["entities"], 1):
        names[e["id"]] = f"T{k}"
        start, end = (offset - bisect.bisect_left(dropped, offset) for offset in (e["start_offset"], e["end_offset"]))
        fragments = [(start + m.start(), start + m.end()) for m in re.finditer(r"[^\n]+", text[start:end])]
        lines.append(f"T{k}\t{entity_names[e['label']]} {';'.join(f'{a} {b}' for a, b in fragments)}\t"
                     f"{' '.join(text[a:b] for a, b in fragments)}")
    for k, r in enumerate(record["relations"], 1):
        lines.append(f"R{k}\t{relation_names[r['type']]} Arg1:{names[r['from_id']]} Arg2:{names[r['to_id']]}")
    return text, "".join(line + "\n" for line in lines)


# ---------------------------------------------------------------------------------------------
# doccano JSON lines


def _text_records(path: Path, what: str):
    """(where, line number, record) of each record of a JSON lines file of objects with a string
    "text" (doccano's records, Prodigy's tasks: `what`, in the error a line that is not one gets)."""
    for where, line_number, record in _json_lines(path):
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise DataError(f"{where}: expected {what}, an object with a string 'text'")
        yield where, line_number, record


def read_doccano(path: str | Path, words: str = "simple",
                 sentences: str | None = None) -> tuple[list[Document], Report]:
    """Reads doccano's JSON lines, one SpERT document per sentence of each record's "text": its
    relation-extraction export (`"entities"`: objects with "id", "label", "start_offset" and
    "end_offset", characters; `"relations"`: objects with "from_id", "to_id" and "type") or its
    sequence-labelling export (`"label"` or `"labels"`: [start, end, label] lists). `words` and
    `sentences` as read_brat takes them; each document's orig_id is the record's "id" (else its line
    number) and the sentence's first character."""
    path = Path(path)
    split = _RawTextSplit(words, sentences)
    report = Report()
    documents: list[Document] = []
    for where, line_number, record in _text_records(path, "a doccano record"):
        text, entities, relations = _doccano_record(record, where)
        name = str(line_number if record.get("id") is None else record["id"])
        documents += split.documents(text, entities, relations, where, name, report)
    return documents, report


def _doccano_record(record: dict, where: str) -> tuple[str, dict, list]:
    """(text, {id: (label, start, end)}, [(id, type, head id, tail id)]) of one doccano record, checked."""
    text = record["text"]
    try:
        if "entities" in record:
            entities = {str(e["id"]): (str(e["label"]), e["start_offset"], e["end_offset"]) for e in record["entities"]}
        else:
            labels = record.get("label", record.get("labels", []))  # older doccano: "label"; newer: "labels"
            entities = {f"label {k}": (str(label), start, end) for k, (start, end, label) in enumerate(labels)}
        relations = [(str(r.get("id", k)), str(r["type"]), str(r["from_id"]), str(r["to_id"]))
                     for k, r in enumerate(record.get("relations", []))]
    except (KeyError, TypeError, ValueError, AttributeError) as error:  # a field of another shape
        raise DataError(f"{where}: an entity needs 'id', 'label', 'start_offset' and 'end_offset' (or 'labels' are "
                        f"[start, end, label] lists), a relation 'from_id', 'to_id' and 'type' ({error!r})") from None
    _check_offsets(entities, text, where, "entity")
    return text, entities, relations


def _check_offsets(entities: dict[str, tuple[str, int, int]], text: str, where: str, kind: str) -> None:
    """Each entity's characters (`kind`: what the tool calls one) are whole numbers within `text`."""
    for entity_id, (_, start, end) in entities.items():
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            raise DataError(f"{where}: {kind} {entity_id} has offsets {start!r}-{end!r} outside its text of "
                            f"{len(text)} characters")


def write_doccano(documents: list[Document], path: str | Path) -> None:
    """Writes doccano's relation-extraction JSON lines: one record per document, its words joined by
    single spaces (read back with `words="whitespace"`)."""
    lines = []
    for k, doc in enumerate(documents):
        text, spans = joined_spans(doc.tokens, [e.span for e in doc.entities])
        entities = [{"id": i, "label": e.type, "start_offset": start, "end_offset": end}
                    for i, (e, (start, end)) in enumerate(zip(doc.entities, spans))]
        relations = [{"id": i, "from_id": r.head, "to_id": r.tail, "type": r.type} for i, r in enumerate(doc.relations)]
        lines.append(json.dumps({"id": doc.orig_id if doc.orig_id is not None else k, "text": text,
                                 "entities": entities, "relations": relations}, ensure_ascii=False))
    write_text_atomic(Path(path), "".join(line + "\n" for line in lines))


# ---------------------------------------------------------------------------------------------
# Label Studio

# the names of its relation-extraction template: <Labels name="label" toName="text">, <Text name="text">
LABEL_STUDIO_NAMES = {"from_name": "label", "to_name": "text"}


def read_labelstudio(path: str | Path, words: str = "simple",
                     sentences: str | None = None) -> tuple[list[Document], Report]:
    """Reads Label Studio's JSON export (a list of tasks, or one task), one SpERT document per
    sentence of each task's text: the first annotation that was not cancelled, its `labels` regions
    (characters) as entities and its `relation`s (direction right: from -> to; left: to -> from) as
    relations, one per label. A task without an annotation is skipped (an export holds the tasks not
    yet labelled too), as is what is neither (choices, text areas); the report counts each. `words`
    and `sentences` as read_brat takes them; each document's orig_id is the task's data "id" (else
    its "id", else its place) and the sentence's first character."""
    _not_a_folder(path)
    tasks = _load_json(path)
    tasks = [tasks] if isinstance(tasks, dict) else tasks
    if not isinstance(tasks, list):
        raise DataError(f"{path}: expected Label Studio's JSON export, a list of tasks")
    split = _RawTextSplit(words, sentences)
    report = Report()
    documents: list[Document] = []
    for k, task in enumerate(tasks):
        where = f"{path}, task {k}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise DataError(f"{where}: expected a task with 'data' and 'annotations' (Label Studio's JSON export; "
                            "JSON-MIN holds no relations)")
        if not isinstance(task.get("annotations") or [], list):
            raise DataError(f"{where}: its 'annotations' must be a list (Label Studio's JSON export)")
        annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
        if not annotations:
            report.add("task without an annotation (skipped)", where)
            continue
        if len(annotations) > 1:
            report.add("task with several annotations (the first read)", where)
        results = annotations[0].get("result") or []
        if not isinstance(results, list):
            raise DataError(f"{where}: its annotation's 'result' must be a list of regions and relations")
        text, entities, relations = _labelstudio_task(task["data"], results, where, report)
        name = str(task["data"].get("id", task.get("id", k)))
        documents += split.documents(text, entities, relations, where, name, report)
    return documents, report


def _labelstudio_task(data: dict, results: list, where: str, report: Report):
    """(text, {region id: (label, start, end)}, [(relation id, type, head id, tail id)]) of one
    annotation's results, checked."""
    regions = [r for r in results if isinstance(r, dict) and r.get("type") == "labels"]
    key = regions[0].get("to_name", "text") if regions else "text"
    text = data.get(key, data.get("text"))
    if not isinstance(text, str):
        raise DataError(f"{where}: its data has no text under {key!r} (the name its regions give)")
    entities, relations = {}, []
    for r in results:
        kind = r.get("type") if isinstance(r, dict) else None
        try:
            if kind == "labels":
                value = r["value"]
                labels, start, end = value["labels"], value["start"], value["end"]
                if len(labels) > 1:
                    report.add("region with several labels (the first read)", f"{where} {r['id']}")
                entities[str(r["id"])] = (str(labels[0]), start, end)
            elif kind == "relation":
                head, tail = (r["to_id"], r["from_id"]) if r.get("direction") == "left" else (r["from_id"], r["to_id"])
                if r.get("direction") == "bi":
                    report.add("relation in both directions (read from -> to)", where)
                if not r.get("labels"):
                    report.add("relation without a label (skipped)", where)
                relations += [(f"relation {len(relations)}", str(label), str(head), str(tail))
                              for label in r.get("labels") or []]
            else:
                report.add(f"result of type {kind!r} (neither a region nor a relation; skipped)", where)
        except (KeyError, IndexError, TypeError) as error:
            raise DataError(f"{where}: a region needs 'id' and a 'value' with 'start', 'end' and 'labels', a relation "
                            f"'from_id' and 'to_id' ({error!r})") from None
    _check_offsets(entities, text, where, "region")
    return text, entities, relations


def write_labelstudio(documents: list[Document], path: str | Path) -> None:
    """Writes tasks that Label Studio imports as annotations, for its relation-extraction template:
    each document a task (`data`: its words joined by single spaces, and its orig_id as "id"), its
    entities `labels` regions and its relations `relation`s."""
    tasks = []
    for k, doc in enumerate(documents):
        text, spans = joined_spans(doc.tokens, [e.span for e in doc.entities])
        tasks.append({"data": {"text": text, "id": doc.orig_id if doc.orig_id is not None else k},
                      "annotations": [{"result": labelstudio_results(
                          text, [(e.type, start, end, None) for e, (start, end) in zip(doc.entities, spans)],
                          [(r.head, r.tail, r.type, None) for r in doc.relations])}]})
    with atomic_output(path) as f:
        json.dump(tasks, f, ensure_ascii=False)


def labelstudio_results(text: str, entities: list[tuple[str, int, int, float | None]],
                        relations: list[tuple[int, int, str, float | None]],
                        names: dict[str, str] = LABEL_STUDIO_NAMES) -> list[dict]:
    """Label Studio's `result` items: a `labels` region per entity ((type, start, end, score), in
    characters) and a `relation` per relation ((head, tail, type, score), entity indices), region ids
    "e" and the entity's index (an id names a region within its annotation); a score, where given,
    on its item. `names`: the `from_name` and `to_name` of the project's labeling config."""
    def scored(item: dict, score: float | None) -> dict:
        return item if score is None else {**item, "score": score}

    return ([scored({"id": f"e{i}", **names, "type": "labels",
                     "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]}}, score)
             for i, (label, start, end, score) in enumerate(entities)]
            + [scored({"from_id": f"e{head}", "to_id": f"e{tail}", "type": "relation",
                       "direction": "right", "labels": [label]}, score) for head, tail, label, score in relations])


# ---------------------------------------------------------------------------------------------
# Prodigy JSON lines

PRODIGY_SKIPPED = ("reject", "ignore")  # the answers whose tasks hold no annotation to train on


def read_prodigy(path: str | Path, words: str = "simple",
                 sentences: str | None = None) -> tuple[list[Document], Report]:
    """Reads Prodigy's JSON lines (its `db-out` export, or a file of tasks), the tasks of its
    ner.manual, spans.manual and rel.manual recipes: each task's `text` split into sentences and into
    words at its `tokens` (the splitter `words` where it has none), its `spans` (characters) as
    entities and its `relations` (`head_span` -> `child_span`; without those, the spans that end at
    the `head` and `child` tokens) as relations. Tasks answered reject or
    ignore are skipped, as are relations between words that are not a span; the report counts both.
    `sentences` as read_brat takes it; each document's orig_id is the task's meta "id" (else its line
    number) and the sentence's first character."""
    path = Path(path)
    split = _RawTextSplit(words, sentences)
    report = Report()
    documents: list[Document] = []
    for where, line_number, task in _text_records(path, "a Prodigy task"):
        if task.get("answer") in PRODIGY_SKIPPED:
            report.add(f"task answered {task['answer']!r} (skipped)", where)
            continue
        text, tokens, entities, relations = _prodigy_task(task, where, report)
        meta = task.get("meta")
        name = str(meta["id"] if isinstance(meta, dict) and "id" in meta else line_number)
        documents += split.documents(text, entities, relations, where, name, report, tokens)
    return documents, report


def _prodigy_task(task: dict, where: str, report: Report):
    """(text, its words or None, {span id: (label, start, end)}, [(relation id, label, head id, tail
    id)]) of one Prodigy task, checked."""
    text = task["text"]
    try:
        tokens = None
        if task.get("tokens"):
            tokens = [Word(t["text"], t["start"], t["end"]) for t in task["tokens"]]
            for k, token in enumerate(tokens):
                if not (isinstance(token.start, int) and isinstance(token.end, int)
                        and text[token.start:token.end] == token.text):
                    raise DataError(f"{where}: token {k} ({token.text!r}) is not its text's characters "
                                    f"{token.start!r}-{token.end!r}")
            tokens = [token for token in tokens if token.text.strip()]  # spaCy's whitespace tokens
        spans = {f"span {k}": (str(s["label"]), s["start"], s["end"]) for k, s in enumerate(task.get("spans") or [])}
        by_characters: dict[tuple, str] = {}  # (start, end, label) and (start, end) -> the first such span
        for span_key, (label, start, end) in spans.items():
            by_characters.setdefault((start, end, label), span_key)
            by_characters.setdefault((start, end), span_key)
        by_last_token = {s.get("token_end"): f"span {k}" for k, s in enumerate(task.get("spans") or [])}

        def span_id(relation: dict, side: str, token: str) -> str | None:
            """The span a relation names by its characters and label (`side`; one span may have two
            labels), or only by its last token (`token`)."""
            if side in relation:
                named = relation[side]
                return by_characters.get((named["start"], named["end"], str(named.get("label"))),
                                         by_characters.get((named["start"], named["end"])))
            return by_last_token.get(relation[token])

        relations = []
        for k, r in enumerate(task.get("relations") or []):
            head, tail = span_id(r, "head_span", "head"), span_id(r, "child_span", "child")
            if head is None or tail is None:
                report.add("relation between words that are not a span (skipped)", f"{where} relation {k}")
                continue
            relations.append((f"relation {k}", str(r["label"]), head, tail))
    except (KeyError, TypeError) as error:
        raise DataError(f"{where}: a token needs 'text', 'start' and 'end', a span 'start', 'end' and 'label', a "
                        f"relation 'head_span' and 'child_span' (each with 'start' and 'end', or 'head' and 'child') "
                        f"and 'label' ({error!r})") from None
    _check_offsets(spans, text, where, "span")
    return text, tokens, spans, relations


def write_prodigy(documents: list[Document], path: str | Path) -> None:
    """Writes Prodigy's JSON lines, tasks its rel.manual recipe shows and `prodigy db-in` stores as
    accepted annotations: each document's words joined by single spaces, as `tokens`, its entities
    `spans` and its relations `relations`; its orig_id as the meta "id"."""
    lines = []
    for doc in documents:
        text, words = joined_words(doc.tokens)
        task = prodigy_task(text, words, [(e.type, e.start, e.end, None) for e in doc.entities],
                            [(r.head, r.tail, r.type, None) for r in doc.relations])
        meta = {} if doc.orig_id is None else {"meta": {"id": doc.orig_id}}
        lines.append(json.dumps({**task, "answer": "accept", **meta}, ensure_ascii=False))
    write_text_atomic(Path(path), "".join(line + "\n" for line in lines))


def prodigy_task(text: str, words: list[tuple[int, int]], entities: list[tuple[str, int, int, float | None]],
                 relations: list[tuple[int, int, str, float | None]]) -> dict:
    """A Prodigy task of rel.manual's shape: `text`, its `words` (characters) as `tokens`, a span
    per entity ((type, first word, word after the last, score)) and a relation per relation ((head,
    tail, type, score), entity indices; Prodigy's `head` and `child` are the last words of the two
    spans); a score, where given, on its span or relation."""
    def scored(item: dict, score: float | None) -> dict:
        return item if score is None else {**item, "score": score}

    spans = [{"start": words[first][0], "end": words[after - 1][1], "token_start": first, "token_end": after - 1,
              "label": label} for label, first, after, _ in entities]
    return {"text": text,
            "tokens": [{"text": text[start:end], "start": start, "end": end, "id": k,
                        "ws": k + 1 < len(words) and words[k + 1][0] > end} for k, (start, end) in enumerate(words)],
            "spans": [scored({**span, "text": text[span["start"]:span["end"]]}, entity[3])
                      for span, entity in zip(spans, entities)],
            "relations": [scored({"head": spans[head]["token_end"], "child": spans[tail]["token_end"],
                                  "head_span": spans[head], "child_span": spans[tail], "label": label}, score)
                          for head, tail, label, score in relations]}


# ---------------------------------------------------------------------------------------------
# INCEpTION's WebAnno TSV 3


def read_webanno(path: str | Path) -> tuple[list[Document], Report]:
    """Reads INCEpTION's (and WebAnno's) TSV 3 export (spertmt.data.webanno): a file, or every
    `.tsv` of a folder and its subfolders (sorted by path, each named by its path in the folder),
    one document per sentence, its words the tokens. A project's export holds each annotator's
    file of a document (`annotation/DOC/USER.tsv`) and the curated one (`curation/DOC/...`): where
    there are curated files only they are read; else a document's several annotators' files are
    each read, and counted."""
    from . import webanno

    path = Path(path)
    report = Report()
    files = sorted(path.rglob("*.tsv"), key=lambda f: f.relative_to(path).parts) if path.is_dir() else [path]
    if not files:
        raise DataError(f"{path}: no .tsv files")
    curated = [f for f in files if "curation" in f.relative_to(path).parts[:-1]] if path.is_dir() else []
    for file in files if curated else []:
        if file not in curated:
            report.add("file outside curation/ (not read: the curated files are)", str(file))
    files = curated or files
    for folder, count in Counter(f.parent for f in files if "annotation" in f.relative_to(path).parts[:-1]).items():
        if count > 1:
            report.add("document with several annotators' files (each read: give one annotator's or curate)",
                       str(folder))
    documents = []
    for file in files:
        name = file.relative_to(path).as_posix() if path.is_dir() else file.name
        documents += webanno.tsv_documents(_utf8_text(file), str(file), name, report)
    return documents, report


def write_webanno(documents: list[Document], path: str | Path) -> Report:
    """Writes one WebAnno TSV 3 file for INCEpTION (spertmt.data.webanno.tsv_file): each document a
    sentence, its words joined by single spaces, the sentences by line breaks; the relation layer
    where some document has a relation. A document without words (no TSV sentence) is counted."""
    from . import webanno

    report = Report()
    text, sentences, entities, relations, at, word_count = [], [], [], [], 0, 0
    for k, doc in enumerate(documents):
        if not doc.tokens:
            report.add("document without words (not written: a TSV 3 sentence has a word)", f"document {k}")
            continue
        line, words = joined_words(doc.tokens)
        first_entity = len(entities)
        sentences.append([(at + start, at + end) for start, end in words])
        entities += [(word_count + e.start, word_count + e.end, e.type) for e in doc.entities]
        relations += [(first_entity + r.head, first_entity + r.tail, r.type) for r in doc.relations]
        text.append(line)
        at, word_count = at + len(line) + 1, word_count + len(words)
    write_text_atomic(Path(path), webanno.tsv_file("\n".join(text), sentences, entities, relations,
                                                   with_relations=bool(relations)))
    return report


# ---------------------------------------------------------------------------------------------
# CoNLL columns (CoNLL-2003 NER)

CONLL_PREFIXES = {"B": "begin", "I": "inside", "E": "end", "L": "end", "S": "single", "U": "single"}


def read_conll(path: str | Path) -> tuple[list[Document], Report]:
    """Reads CoNLL column files: a word a line (the first column) and its tag (the last; columns
    parted by a tab where the line has one, else by spaces), a blank line between sentences,
    `-DOCSTART-` lines skipped. Tags are O or a prefix and a type: B-, I-, and E-/L- and S-/U- of
    BIOES/BILOU. An I- (or E-) that does not continue an entity of its type begins one, as
    conlleval reads IOB1 and BIO that an annotator broke. One document per sentence, its orig_id
    the line number of its first word."""
    documents: list[Document] = []
    words: list[str] = []
    tags: list[tuple[str, str, int]] = []  # (prefix, type, line number)

    def end_sentence():
        if words:
            documents.append(Document(list(words), _bio_entities(tags), [], tags[0][2]))
            words.clear()
            tags.clear()

    for line_number, line in _utf8_lines(path):
        line = line.rstrip("\r\n")
        columns = line.split("\t") if "\t" in line else line.split()
        if not line.strip() or columns[0] == "-DOCSTART-":
            end_sentence()
            continue
        where = f"{path}, line {line_number}"
        json_hint = " (this looks like JSON: SpERT JSON is --from spert)" if line.lstrip()[:2] in ('[{', '{"') else ""
        if len(columns) < 2:
            raise DataError(f"{where}: expected a word and its tag in columns parted by a tab or spaces, got "
                            f"{line[:60]!r}{json_hint}")
        tag = columns[-1].strip()
        prefix, _, type_name = tag.partition("-")
        if tag != "O" and (prefix not in CONLL_PREFIXES or not type_name):
            raise DataError(f"{where}: tag {tag!r} is neither O nor a prefix (B-, I-, E-, S-, L-, U-) and a "
                            f"type{json_hint}")
        words.append(columns[0])
        tags.append(("O", "", line_number) if tag == "O" else (prefix, type_name, line_number))
    end_sentence()
    return documents, Report()


def _bio_entities(tags: list[tuple[str, str, int]]) -> list[Entity]:
    entities: list[Entity] = []
    start, current = None, ""
    for k, (prefix, type_name, _) in enumerate(tags):
        role = CONLL_PREFIXES.get(prefix, "outside")
        continues = start is not None and type_name == current and role in ("inside", "end")
        if start is not None and not continues:
            entities.append(Entity(start, k, current))
            start = None
        if role != "outside" and start is None:
            start, current = k, type_name
        if role in ("end", "single"):
            entities.append(Entity(start, k + 1, current))
            start = None
    if start is not None:
        entities.append(Entity(start, len(tags), current))
    return entities


def write_conll(documents: list[Document], path: str | Path) -> Report:
    """Writes CoNLL columns: each word and its BIO tag parted by a tab, a blank line after each
    document. BIO gives a word one tag: of entities over one another the first (the longer where two
    begin together) is written and the others are in the report, as every relation is."""
    report = Report()
    lines = []
    for k, doc in enumerate(documents):
        name = f"document {doc.orig_id if doc.orig_id is not None else k}"
        for word in doc.tokens:
            if re.search(r"[\t\n\r]", word):
                raise DataError(f"{name}: the word {word!r} holds a tab or a line break, which CoNLL columns "
                                "cannot hold")
        tags = ["O"] * len(doc.tokens)
        for e in sorted(doc.entities, key=lambda e: (e.start, -e.end)):
            if any(tag != "O" for tag in tags[e.start:e.end]):
                report.add("entity over another's words (BIO gives a word one tag; not written)",
                           f"{name}: {' '.join(doc.tokens[e.start:e.end])!r} {e.type}")
                continue
            tags[e.start:e.end] = [f"B-{e.type}"] + [f"I-{e.type}"] * (e.end - e.start - 1)
        for r in doc.relations:
            report.add("relation (CoNLL columns hold entities only; not written)", f"{name}: {r.type}")
        lines += [f"{word}\t{tag}\n" for word, tag in zip(doc.tokens, tags)] + ["\n"]
    with atomic_output(path) as f:
        f.writelines(lines)
    return report


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadOptions:
    """What a reader may use besides the path: the types to check against (or None), and for raw
    text the word and sentence splitters (spertmt.data.text)."""

    types: Types | None = None
    words: str = "simple"
    sentences: str | None = None


@dataclass(frozen=True)
class Format:
    """A data format: `read(path, options) -> (documents, report)` and `write(documents, path)`,
    which returns a Report of what the format could not hold (or None where it holds everything)."""

    name: str
    read: Callable[[Path, ReadOptions], tuple[list[Document], Report]]
    write: Callable[[list[Document], Path], Report | None] | None  # None: read only
    description: str = ""


FORMATS: dict[str, Format] = {}
_PLUGINS_LOADED = False


def register_format(name: str, read, write, description: str = "") -> Format:
    """Adds a format to the registry (a name already there is replaced: a user's own reader of
    "brat", say; `write` None: read only); returns it."""
    FORMATS[name] = Format(name, read, write, description)
    return FORMATS[name]


def formats() -> dict[str, Format]:
    """The registry, with the formats that installed packages name in their `spertmt.formats` entry
    points (each a function that calls register_format) loaded once."""
    global _PLUGINS_LOADED
    if not _PLUGINS_LOADED:
        from importlib.metadata import entry_points

        _PLUGINS_LOADED = True
        for entry in entry_points(group="spertmt.formats"):
            entry.load()()
    return FORMATS


register_format("spert", lambda path, options: read_spert(path, options.types), write_spert,
                "SpERT JSON: a list of documents (tokens, entities, relations)")
register_format("dygie", lambda path, options: read_dygie(path), write_dygie,
                "DyGIE++ / PURE / PL-Marker JSON lines")
register_format("brat", lambda path, options: read_brat(path, options.words, options.sentences), write_brat,
                "brat standoff: a folder of .txt and .ann files")
register_format("doccano", lambda path, options: read_doccano(path, options.words, options.sentences),
                write_doccano, "doccano's JSON lines (text, entities by character, relations)")
register_format("labelstudio", lambda path, options: read_labelstudio(path, options.words, options.sentences),
                write_labelstudio, "Label Studio's JSON export (tasks: text, labels regions, relations)")
register_format("prodigy", lambda path, options: read_prodigy(path, options.words, options.sentences),
                write_prodigy, "Prodigy's JSON lines (text, tokens, spans by character, relations)")
register_format("webanno", lambda path, options: read_webanno(path), write_webanno,
                "INCEpTION's WebAnno TSV 3 (a span layer's spans, the relations joining them)")
register_format("conll", lambda path, options: read_conll(path), write_conll,
                "CoNLL-2003 columns: a word a line, its BIO, IOB1 or BIOES tag last (entities only)")


def convert(source: str, target: str, input_path: str | Path, output_path: str | Path, *,
            types_path: str | Path | None = None, words: str = "simple", sentences: str | None = None) -> Report:
    """Converts between formats (`formats()`: spert, dygie, brat and any registered); to SpERT,
    also writes `<output>_types.json` unless `types_path` is given, in which case every type must
    be in it (documents without any entity, text not annotated yet, get no types file: the report
    says so)."""
    known = formats()
    if source not in known or target not in known:
        raise ValueError(f"formats are {', '.join(known)}; got {source!r} -> {target!r}")
    write = known[target].write
    if write is None:
        raise ValueError(f"{target} is read, not written: convert to another format")
    check_input(input_path)
    types = None
    if types_path:
        from .documents import read_types

        types = read_types(types_path)
    documents, report = known[source].read(Path(input_path), ReadOptions(types, words, sentences))
    for i, doc in enumerate(documents):  # the converted documents must be valid SpERT documents
        parse_document(doc.to_json(), None, f"{input_path}, converted document {i}")
    if target == "spert":
        if types is not None:
            check_types(documents, types, str(input_path))
        elif not any(d.entities for d in documents):  # text not annotated yet: a types file lists one type at least
            report.add("no types file written (no document has an entity)", str(input_path))
        else:
            out = uncompressed(output_path)  # train.json.gz's types: train_types.json
            write_text_atomic(out.with_name(out.stem + "_types.json"), json.dumps(collect_types(documents).to_dict(),
                                                                                 indent=1))
    written = write(documents, Path(output_path))
    if written is not None:
        report.extend(written)
    return report
