"""What a user needs to know about a dataset before training (`spertmt validate`).

Reads every document (collecting every reader error rather than stopping at the first) and
counts documents, words, entities and relations per type, nested and crossing entity pairs,
duplicate entities, multi-label and duplicate relations, spans wider than the max span width
(never predictable), empty documents, blank words (empty or spaces), repeated documents (the same
words), given a tokenizer, documents longer than the encoder's window, and given a training file,
documents that have the words of a training one (a dev or test set's sentences a model has seen).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from ..config import Config
from .documents import (
    DataError,
    Document,
    Types,
    _load_json,
    count_hyphenated_words,
    more_often_whole,
    parse_document,
    read_documents,
    symmetric_order,
    symmetric_types,
    words_seen,
)
from .encoding import encode_words


def validate(path: str | Path, types: Types | None = None, max_span_width: int = Config.max_span_width,
             tokenizer=None, max_length: int = Config.max_length, train: str | Path | None = None) -> dict:
    """A report dict; `report["errors"]` lists every problem found (empty when the data is valid).
    With `train` (a training file, for a dev or test set), the documents that have the words of a
    training one are counted too."""
    errors: list[str] = []
    documents: list[Document] = []
    try:
        raw = _load_json(path)
    except DataError as error:
        return {"path": str(path), "errors": [str(error)]}
    if not isinstance(raw, list):
        return {"path": str(path), "errors": [f"{path}: expected a JSON list of documents"]}
    if not raw:
        errors.append(f"{path}: no documents (an empty list)")
    stats = Counter()
    symmetric = symmetric_types(types)
    entity_types, relation_types = Counter(), Counter()
    too_wide, empty, long_docs = [], [], []
    for i, item in enumerate(raw):
        try:
            doc = parse_document(item, types, f"{path}, document {i}")
        except DataError as error:
            errors.append(str(error))
            continue
        documents.append(doc)
        stats["documents"] += 1
        stats["words"] += len(doc.tokens)
        if not doc.tokens:
            empty.append(i)
        blank = sum(1 for word in doc.tokens if not word.strip())  # no piece to read: a converter's slip
        if blank:
            stats["blank words (empty or spaces)"] += blank
        if not doc.entities:
            stats["documents without entities"] += 1
        entity_types.update(e.type for e in doc.entities)
        relation_types.update(r.type for r in doc.relations)
        too_wide += [i for e in doc.entities if e.end - e.start > max_span_width]
        for a, e1 in enumerate(doc.entities):
            for e2 in doc.entities[a + 1:]:
                if e1.span == e2.span:
                    stats["duplicate entities" if e1.type == e2.type else "same span with two types"] += 1
                elif e1.start < e2.end and e2.start < e1.end:
                    inside = (e1.start <= e2.start and e2.end <= e1.end) or (e2.start <= e1.start and e1.end <= e2.end)
                    stats["nested entity pairs" if inside else "crossing entity pairs"] += 1
        types_of_pair = defaultdict(set)
        for r in doc.relations:
            types_of_pair[(r.head, r.tail)].add(r.type)
        stats["multi-label relation pairs"] += sum(1 for kinds in types_of_pair.values() if len(kinds) > 1)
        # by what the relations join (span and type), as the evaluator compares them: a duplicate entity's
        # relation repeats its twin's, a symmetric one written both ways itself
        joined = {(*symmetric_order((doc.entities[r.head].span, doc.entities[r.head].type),
                                    (doc.entities[r.tail].span, doc.entities[r.tail].type), r.type in symmetric),
                   r.type) for r in doc.relations}
        stats["duplicate relations"] += len(doc.relations) - len(joined)
        stats["self relations"] += sum(1 for r in doc.relations if r.head == r.tail)
        whole, apart = count_hyphenated_words([doc])
        stats["hyphenated words, whole"] += whole
        stats["hyphenated words, apart"] += apart
        if tokenizer is not None and doc.tokens:
            pieces = len(encode_words(tokenizer, doc.tokens).input_ids)
            if pieces > max_length:
                long_docs.append(i)
    stats["entities"] = sum(entity_types.values())
    stats["relations"] = sum(relation_types.values())
    stats["repeated documents (same words)"] = len(words_seen(documents))
    if empty:
        errors.append(f"{path}: {len(empty)} empty document(s), e.g. {empty[:5]}")
    in_training = None
    if train is not None:
        try:
            seen = words_seen(documents, read_documents(train, types))
            in_training = {"train": str(train), "count": len(seen), "documents": seen[:20]}
        except DataError as error:
            errors.append(str(error))
    return {
        "path": str(path),
        "counts": dict(stats),
        "entities_per_type": dict(entity_types),
        "relations_per_type": dict(relation_types),
        "entities_wider_than_max_span_width": {"max_span_width": max_span_width, "count": len(too_wide),
                                               "documents": sorted(set(too_wide))[:20]},
        "documents_longer_than_window": ({"max_length": max_length, "count": len(long_docs),
                                          "documents": long_docs[:20]} if tokenizer is not None else None),
        "documents_in_training_data": in_training,
        "errors": errors,
    }


def format_report(report: dict) -> str:
    lines = [f"{report['path']}"]
    for key, value in report.get("counts", {}).items():
        lines.append(f"  {key:32} {value}")
    for title, key in (("entities per type", "entities_per_type"), ("relations per type", "relations_per_type")):
        if report.get(key):
            lines.append(f"  {title}: " + ", ".join(f"{t} {n}" for t, n in report[key].items()))
    wide = report.get("entities_wider_than_max_span_width")
    if wide and wide["count"]:
        lines.append(f"  {wide['count']} entities are wider than max_span_width = {wide['max_span_width']} words: "
                     f"they can never be predicted (documents {wide['documents']})")
    counts = report.get("counts", {})
    if counts.get("hyphenated words, whole") or counts.get("hyphenated words, apart"):
        way = "whole" if more_often_whole(counts["hyphenated words, whole"], counts["hyphenated words, apart"]) \
            else "apart"
        lines.append(f"  a model trained on this reads raw text's hyphenated words {way} (hyphenated_words)")
    long_docs = report.get("documents_longer_than_window")
    if long_docs and long_docs["count"]:
        lines.append(f"  {long_docs['count']} documents are longer than the encoder's window of "
                     f"{long_docs['max_length']} pieces: they are encoded in overlapping windows "
                     f"(documents {long_docs['documents']})")
    seen = report.get("documents_in_training_data")
    if seen:
        lines.append(f"  {seen['count']} documents have the words of a document of {seen['train']}"
                     + (f": a model trained on it has seen them (documents {seen['documents']})" if seen["count"]
                        else ""))
    errors = report.get("errors", [])
    lines.append(f"  {len(errors)} error(s)" + (":" if errors else ""))
    lines += [f"    {e}" for e in errors]
    return "\n".join(lines)


def report_json(report: dict) -> str:
    return json.dumps(report, indent=2)
