"""INCEpTION's (and WebAnno's) TSV 3 export, read into SpERT documents (`convert --from webanno`).

The format (INCEpTION's user guide, "WebAnno TSV 3.3 File format"): a header naming the layers
(`#T_SP=` span layers, `#T_CH=` chains, `#T_RL=` relation layers, each with its features, a relation
layer's last one `BT_` and the span layer it joins), then each sentence's `#Text=` and a row per
token (`1-3`) or sub-token (`1-3.1`): its id, characters and text, then a column per feature of each
layer in the header's order. A span over several rows, or stacked with another on a row, carries an
id (`PER[3]`); stacked values are parted by `|`. A relation sits on the first row of its target span,
its last column the first row of its source span (`1-1`, or `1-1[2_3]`: the source's and the target's
ids where a row holds more than one span; 0 where one of them needs none).

One span layer is read as the entities: the layer that the first relation layer joins, else the
named-entity layer, else the first span layer without slot features; its `value` feature (else its
first) is the type, a layer without features gives its own name (a file without a span layer gives
its words). Relations come from the relation
layers that join it. A span on sub-tokens, across sentences or without a value is skipped, as is a
relation to one, and counted.

`tsv_file` writes the format as INCEpTION's own writer does (`convert --to webanno`, `predict
--output-format webanno`): entities on the named-entity layer (`NamedEntity`, its `value` the type)
and relations on a relation layer `webanno.custom.Relation` joining it (its `label` the type), which
an INCEpTION project must have to import the file (docs/data.md).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .documents import DataError, Document, Entity, Relation
from .text import utf16_offsets

if TYPE_CHECKING:
    from .convert import Report

_ESCAPED = re.compile(r"\\(->|[\\\[\]|_;*tnr])")
_UNESCAPED = {"t": "\t", "n": "\n", "r": "\r"}
_STACK_PART = re.compile(r"(?:\\.|[^|\\]|\\$)*")  # a stacked value: escapes (\| \\) kept whole, up to a bar
_VALUE_ID = re.compile(r"^(.*?)(?:\[(\d+)\])?$", re.S)
_ADDRESS = re.compile(r"^(\d+-\d+(?:\.\d+)?)(?:\[(\d+)_(\d+)\])?$")


def stacked(column: str) -> list[str]:
    """A column's stacked values, parted by the bars that are not a value's own (escaped: `a\\|b`
    is one value, `a\\\\|b` two, the first ending with a backslash)."""
    return [match.group(0) for match in _STACK_PART.finditer(column) if match.start() == 0 or
            column[match.start() - 1] == "|"]


def unescape(text: str) -> str:
    return _ESCAPED.sub(lambda m: _UNESCAPED.get(m.group(1), m.group(1)), text)


@dataclass
class _Layer:
    kind: str  # "SP", "CH" or "RL"
    name: str
    features: list[str]
    first_column: int = 0

    @property
    def columns(self) -> int:
        return 2 if self.kind == "CH" else max(1, len(self.features))

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def has_slots(self) -> bool:
        return any(f.startswith("ROLE_") for f in self.features)

    def label_column(self) -> int | None:
        """The column of the feature read as the type (`value`, else the first), None for a layer
        without features (a slot's two columns, its role and its target, are none)."""
        slot_targets = {k + 1 for k, f in enumerate(self.features) if f.startswith("ROLE_")}
        features = [f for k, f in enumerate(self.features)
                    if k not in slot_targets and not f.startswith(("BT_", "ROLE_"))]
        if not features:
            return None
        return self.first_column + self.features.index("value" if "value" in features else features[0])


@dataclass
class _Span:
    label: str | None
    rows: list[str] = field(default_factory=list)


def _header(lines: list[str], where: str) -> list[_Layer]:
    if not lines or not lines[0].startswith("#FORMAT=WebAnno TSV 3"):
        raise DataError(f"{where}: not WebAnno TSV 3 (its first line is not '#FORMAT=WebAnno TSV 3...', as INCEpTION "
                        "exports it)")
    layers, column = [], 3
    for line in lines[1:]:
        match = re.match(r"#T_(SP|CH|RL)=([^|]+)\|?(.*)$", line)
        if not match:
            break
        layer = _Layer(match.group(1), match.group(2), match.group(3).split("|") if match.group(3) else [], column)
        layers.append(layer)
        column += layer.columns
    return layers


def _choose_layers(layers: list[_Layer]) -> tuple[_Layer | None, list[_Layer]]:
    """The span layer read as the entities (None where there is none) and the relation layers that join it."""
    spans = [layer for layer in layers if layer.kind == "SP"]
    if not spans:
        return None, []
    joined = [layer.features[-1][3:] for layer in layers if layer.kind == "RL" and layer.features]
    by_name = {layer.name: layer for layer in spans}
    entity = (by_name.get(joined[0]) if joined and joined[0] in by_name else None) or next(
        (layer for layer in spans if layer.name.endswith(".NamedEntity")), None) or next(
        (layer for layer in spans if not layer.has_slots), spans[0])
    relations = [layer for layer in layers if layer.kind == "RL" and layer.features
                 and layer.features[-1] == f"BT_{entity.name}"]
    return entity, relations


def _sentences(lines: list[str]) -> list[list[list[str]]]:
    """The rows (each a list of its columns) of each sentence of the body."""
    sentences: list[list[list[str]]] = []
    rows: list[list[str]] = []
    for line in lines:
        if line.startswith("#Text=") and rows:  # a sentence's text (a line of it) after the rows before it
            sentences.append(rows)
            rows = []
        elif line and not line.startswith("#"):
            rows.append(line.split("\t"))
    return sentences + [rows] if rows else sentences


def tsv_documents(text: str, where: str, name: str, report: Report) -> list[Document]:
    """The documents (one per sentence, orig_id `name:sentence number`) of one TSV 3 file's `text`;
    `where` names the file in messages and the report."""
    # lines as Java reads them: a sentence's text may hold a form feed or U+2028, which splitlines() would part
    lines = re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff"))
    layers = _header(lines, where)
    entity_layer, relation_layers = _choose_layers(layers)
    if entity_layer is None:
        report.add("file without a span layer (its words read, no entity)", where)
    for layer in layers:
        if layer is not entity_layer and layer not in relation_layers:
            report.add(f"layer {layer.name} (not read)", where)
    needed = layers[-1].first_column + layers[-1].columns if layers else 3  # the columns a row holds
    spans: dict[tuple, _Span] = {}
    covering: dict[str, list[tuple]] = {}  # a row's id -> the spans on it
    sentence_of: dict[str, int] = {}
    word_of: dict[str, int] = {}
    sentences: list[list[str]] = []
    relation_rows: list[tuple[str, list[str], _Layer]] = []
    for number, rows in enumerate(_sentences(lines)):
        words: list[str] = []
        for columns in rows:
            row = columns[0]
            if len(columns) < needed:
                raise DataError(f"{where}: row {row} has {len(columns)} columns; the header's layers need {needed}")
            sentence_of[row] = number
            if "." not in row:  # a token, not a sub-token
                word_of[row] = len(words)
                words.append(columns[2])  # as INCEpTION writes it: the text's characters, not escaped
            if entity_layer is not None:
                _read_spans(row, columns, entity_layer, spans, covering)
            relation_rows += [(row, columns, layer) for layer in relation_layers
                              if columns[layer.first_column + layer.columns - 1] not in ("_", "")]
        sentences.append(words)

    documents = [Document(words, [], [], f"{name}:{k + 1}") for k, words in enumerate(sentences)]
    placed: dict[tuple, tuple[int, int]] = {}  # span key -> (document, entity index)
    for key, span in spans.items():
        if span.label is None:
            report.add("span without a value (skipped)", f"{where} row {span.rows[0]}")
        elif any("." in row for row in span.rows):
            report.add("span on sub-tokens (skipped)", f"{where} row {span.rows[0]}")
        elif len({sentence_of[row] for row in span.rows}) > 1:
            report.add("span across sentences (skipped)", f"{where} row {span.rows[0]}")
        else:
            doc = documents[sentence_of[span.rows[0]]]
            first, last = word_of[span.rows[0]], word_of[span.rows[-1]]
            placed[key] = (sentence_of[span.rows[0]], len(doc.entities))
            doc.entities.append(Entity(first, last + 1, span.label))
    for row, columns, layer in relation_rows:
        _read_relations(row, columns, layer, covering, placed, documents, f"{where} row {row}", report)
    return documents


def _read_spans(row: str, columns: list[str], layer: _Layer, spans: dict[tuple, _Span],
                covering: dict[str, list[tuple]]) -> None:
    """The spans of `layer` on one row, each added to `spans` by its id (or, without one, by the row
    and its place in the stack) and to the row's `covering`."""
    label_column = layer.label_column()
    value = columns[layer.first_column if label_column is None else label_column]
    if value == "_":
        return
    for stack, item in enumerate(stacked(value)):
        label, span_id = _VALUE_ID.match(item).groups()  # type: ignore[union-attr]  # it matches anything
        key = ("id", span_id) if span_id else ("row", row, stack)
        if label_column is None:  # a layer without features: its name is the type
            label = layer.short_name
        spans.setdefault(key, _Span(None if label == "*" else unescape(label))).rows.append(row)
        covering.setdefault(row, []).append(key)


def _read_relations(row: str, columns: list[str], layer: _Layer, covering: dict, placed: dict,
                    documents: list[Document], where: str, report: Report) -> None:
    """The relations of `layer` on one row (its target spans' first row)."""
    label_column = layer.label_column()
    sources = stacked(columns[layer.first_column + layer.columns - 1])
    labels = stacked(columns[label_column]) if label_column is not None else [layer.short_name] * len(sources)
    for label, source in zip(labels, sources):
        address = _ADDRESS.match(source)
        if address is None:
            raise DataError(f"{where}: {source!r} is not a row's address (1-3, or 1-3[1_2])")
        source_row, source_id, target_id = address.groups()
        head, tail = _span_at(covering, source_row, source_id), _span_at(covering, row, target_id)
        if label in ("*", "_"):
            report.add("relation without a value (skipped)", where)
        elif head not in placed or tail not in placed:
            report.add("relation to a skipped or missing span (skipped)", where)
        elif placed[head][0] != placed[tail][0]:
            report.add("relation across sentences (skipped)", where)
        else:
            documents[placed[head][0]].relations.append(Relation(placed[head][1], placed[tail][1], unescape(label)))


def _span_at(covering: dict[str, list[tuple]], row: str, span_id: str | None) -> tuple | None:
    """The span a relation names on `row`: by its id, or, where it gives none (or 0), the one span
    on the row (None where there are several)."""
    if span_id and span_id != "0":
        return ("id", span_id)
    on_row = covering.get(row, [])
    return on_row[0] if len(on_row) == 1 else None


# ---------------------------------------------------------------------------------------------
# Writing

NAMED_ENTITY = "de.tudarmstadt.ukp.dkpro.core.api.ner.type.NamedEntity"  # INCEpTION's built-in layer


@dataclass(frozen=True)
class TsvLayers:
    """The layers a written file names: a span layer and its features (`value` holds the type, any
    other is left empty) and a relation layer joining it, with the one feature that holds the type."""

    span: str = NAMED_ENTITY
    span_features: tuple[str, ...] = ("identifier", "value")
    relation: str = "webanno.custom.Relation"
    relation_feature: str = "label"


# INCEpTION's Escaping: a feature's value, and a line of a sentence's text (control characters too)
_VALUE_ESCAPES = {c: "\\" + c for c in "\\[]|_;*"} | {"->": "\\->", "\t": "\\t", "\n": "\\n"}
_VALUE_SPECIAL = re.compile(r"->|[\\\[\]|_;*\t\n]")
_TEXT_ESCAPES = {"\t": "\\t", "\f": "\\f", "\r": "\\r", "\b": "\\b", "\\": "\\\\"} | {
    chr(i): "\\" + chr(i) for i in range(32) if not 7 < i < 14}
_TEXT_SPECIAL = re.compile("[" + re.escape("".join(_TEXT_ESCAPES)) + "]")


def escape_value(value: str) -> str:
    return _VALUE_SPECIAL.sub(lambda m: _VALUE_ESCAPES[m.group(0)], value)


def escape_text(line: str) -> str:
    return _TEXT_SPECIAL.sub(lambda m: _TEXT_ESCAPES[m.group(0)], line)


def tsv_file(text: str, sentences: list[list[tuple[int, int]]], entities: list[tuple[int, int, str]],
             relations: list[tuple[int, int, str]], with_relations: bool = True,
             layers: TsvLayers = TsvLayers()) -> str:
    """One document as a TSV 3.3 file: `text`, its `sentences` (each a list of its words' characters
    [start, end) in `text`), `entities` (first word, end word exclusive, type; words counted over the
    whole document, within one sentence) and `relations` (head entity, tail entity, type); the
    relation layer only `with_relations`. Offsets are counted in UTF-16 units, as INCEpTION (Java)
    counts them. A span over several words, or beside another on a word, carries an id."""
    rows = [f"{s + 1}-{k + 1}" for s, words in enumerate(sentences) for k in range(len(words))]
    covering: list[list[int]] = [[] for _ in rows]  # each word's entities, in order
    for i, (start, end, _) in sorted(enumerate(entities), key=lambda item: (item[1][:2], item[0])):
        for word in range(start, end):
            covering[word].append(i)
    ids: dict[int, int] = {}
    for on_word in covering:
        for i in on_word:
            if i not in ids and (entities[i][1] - entities[i][0] > 1 or len(on_word) > 1):
                ids[i] = len(ids) + 1
    targets: dict[int, list[tuple[int, int, str]]] = defaultdict(list)  # a tail's first word -> its relations
    for head, tail, label in relations:
        targets[entities[tail][0]].append((head, tail, label))

    def span_columns(word: int) -> list[str]:
        if not covering[word]:
            return ["_"] * len(layers.span_features)
        return ["|".join((escape_value(entities[i][2]) if feature == "value" else "*")
                         + (f"[{ids[i]}]" if i in ids else "") for i in covering[word])
                for feature in layers.span_features]

    def relation_columns(word: int) -> list[str]:
        if not targets[word]:
            return ["_", "_"]
        return ["|".join(escape_value(label) for _, _, label in targets[word]),
                "|".join(rows[entities[head][0]] + (f"[{ids.get(head, 0)}_{ids.get(tail, 0)}]"
                                                    if head in ids or tail in ids else "")
                         for head, tail, _ in targets[word])]

    utf16 = utf16_offsets(text)
    out = [f"#FORMAT=WebAnno TSV 3.3\n#T_SP={'|'.join((layers.span, *layers.span_features))}\n"]
    if with_relations:
        out.append(f"#T_RL={layers.relation}|{layers.relation_feature}|BT_{layers.span}\n")
    out.append("\n")
    word = 0
    for words in sentences:
        out.append("\n" + "".join(f"#Text={escape_text(line)}\n"
                                   for line in text[words[0][0]:words[-1][1]].split("\n")))
        for start, end in words:
            if not 0 <= start < end <= len(text) or any(c in text[start:end] for c in "\t\n\r"):
                raise DataError(f"word {text[start:end]!r} at characters {start}-{end}: a TSV 3 token is "
                                "one or more characters without a tab or a line break")
            columns = span_columns(word) + (relation_columns(word) if with_relations else [])
            out.append("\t".join([rows[word], f"{utf16[start]}-{utf16[end]}", text[start:end], *columns]) + "\t\n")
            word += 1
    return "".join(out)
