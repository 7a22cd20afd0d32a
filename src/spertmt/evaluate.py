"""Scores predictions against gold documents exactly as SpERT's evaluator does (docs/method.md).

- NER: an entity counts when its span and type equal a gold entity's.
- RE (boundaries, "without NER"): head span, tail span and relation type match.
- RE+ (strict, "with NER"): additionally both entity types match.
Each document's gold and predicted tuples are compared as sets (a duplicate counts once); a
symmetric relation is put in start order first. Precision, recall and F1 per type, micro and
macro; the macro mean runs over the types that occur in the gold or the predictions of the
evaluated set (SpERT hands sklearn the observed labels only). With `overlapping=False`, an
entity overlapping another entity of the same list is dropped, and so is a relation whose head
and tail overlap; gold and predictions alike. Numbers are percentages.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path

from .data.documents import Document, Types, as_documents, symmetric_order, symmetric_types
from .files import write_text_atomic

NOTHING_TO_SCORE = "nothing to score: no item in the gold or the predictions"
SETTINGS = (("ner", "NER"), ("re", "RE (boundaries, without NER)"), ("re_strict", "RE+ (strict, with NER)"))


def _overlap(a: tuple, b: tuple) -> bool:
    """SpERT's _check_overlap on (start, end, type) tuples: identical tuples do not overlap."""
    return not (a == b or a[1] <= b[0] or b[1] <= a[0])


def relation_key(doc: Document, relation, symmetric: set[str]) -> tuple:
    """((start, end, type) of the head, the same of the tail, relation type), as scoring compares them."""
    head, tail = (doc.entities[k] for k in (relation.head, relation.tail))
    head, tail = symmetric_order((head.start, head.end, head.type), (tail.start, tail.end, tail.type),
                                 relation.type in symmetric)
    return head, tail, relation.type


def _tuples(doc: Document, symmetric: set[str], overlapping: bool):
    """(entities, relations without entity types, relations with entity types) as sets."""
    entities = [(e.start, e.end, e.type) for e in doc.entities]
    relations = [relation_key(doc, r, symmetric) for r in doc.relations]
    if not overlapping:
        entities = [e for e in entities if not any(_overlap(e, other) for other in entities)]
        relations = [r for r in relations if not _overlap(r[0], r[1])]
    strict = set(relations)
    boundaries = {((h[0], h[1]), (t[0], t[1]), name) for h, t, name in relations}
    return set(entities), boundaries, strict


def _prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": 100 * precision, "recall": 100 * recall, "f1": 100 * f1}


def score_sets(gold: list[set], pred: list[set]) -> dict:
    """Per-type, micro and macro P/R/F1 of per-document tuple sets whose last element is the type."""
    counts: dict[str, list[int]] = {}  # type -> [tp, fp, fn]
    for g, p in zip(gold, pred):
        for item in g | p:
            c = counts.setdefault(item[-1], [0, 0, 0])
            if item in g and item in p:
                c[0] += 1
            elif item in p:
                c[1] += 1
            else:
                c[2] += 1
    per_type = {name: {**_prf(*c), "support": c[0] + c[2]} for name, c in sorted(counts.items())}
    total = [sum(c[k] for c in counts.values()) for k in range(3)]
    n = len(per_type)
    macro = {key: sum(t[key] for t in per_type.values()) / n if n else 0.0 for key in ("precision", "recall", "f1")}
    return {"micro": _prf(*total), "macro": macro, "per_type": per_type}


def evaluate(gold: Sequence[Document | dict], pred: Sequence[Document | dict], types: Types | dict,
             overlapping: bool = True) -> dict:
    """`{"ner": {"micro", "macro", "per_type"}, "re": ..., "re_strict": ...}` in percent. The documents
    may be SpERT JSON objects and the types a types file's object, as `json.load` reads them."""
    types = Types.from_dict(types) if isinstance(types, dict) else types
    gold, pred = as_documents(gold, "gold", types), as_documents(pred, "pred", types)
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold documents but {len(pred)} predicted documents")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if g.tokens != p.tokens:
            raise ValueError(f"document {i}: the predicted document's tokens differ from the gold document's")
    symmetric = symmetric_types(types)
    gold_t = [_tuples(d, symmetric, overlapping) for d in gold]
    pred_t = [_tuples(d, symmetric, overlapping) for d in pred]
    return {key: score_sets([g[k] for g in gold_t], [p[k] for p in pred_t])
            for k, (key, _) in enumerate(SETTINGS)}


def sentence_counts(gold: list[Document], pred: list[Document], types: Types, overlapping: bool = True) -> dict:
    """`{"ner": [[tp, fp, fn], ...], "re": ..., "re_strict": ...}`: each document's counts over all
    types, matched as `evaluate` matches them (their sums give its micro scores). A paired bootstrap
    over documents resamples these (spertmt.experiment.intervals)."""
    symmetric = symmetric_types(types)
    out: dict[str, list[list[int]]] = {key: [] for key, _ in SETTINGS}
    for g_doc, p_doc in zip(gold, pred, strict=True):
        g_sets, p_sets = _tuples(g_doc, symmetric, overlapping), _tuples(p_doc, symmetric, overlapping)
        for (key, _), g, p in zip(SETTINGS, g_sets, p_sets):
            out[key].append([len(g & p), len(p - g), len(g - p)])
    return out


def format_metrics(metrics: dict) -> str:
    """SpERT-style tables: per type, then micro and macro, for NER, RE and RE+; a setting with no item
    in the gold or the predictions (relations of a corpus of entities only) says so in one line."""
    lines, scored = [], scored_settings(metrics)
    for key, title in SETTINGS:
        if key not in metrics:
            continue
        m = metrics[key]
        if key not in scored:
            lines += [f"--- {title} ---", NOTHING_TO_SCORE, ""]
            continue
        lines += [f"--- {title} ---", f"{'type':>24} {'precision':>10} {'recall':>10} {'f1-score':>10} {'support':>8}"]
        for name, t in m["per_type"].items():
            lines.append(f"{name:>24} {t['precision']:10.2f} {t['recall']:10.2f} {t['f1']:10.2f} {t['support']:8d}")
        lines.append("")
        for avg in ("micro", "macro"):
            a = m[avg]
            lines.append(f"{avg:>24} {a['precision']:10.2f} {a['recall']:10.2f} {a['f1']:10.2f}")
        lines.append("")
    return "\n".join(lines)


def summary(metrics: dict) -> str:
    """One line: micro F1 of NER, RE and RE+, leaving out a setting with nothing to score."""
    return " | ".join(f"{key} F1 {metrics[key]['micro']['f1']:.2f}" for key in scored_settings(metrics)) \
        or NOTHING_TO_SCORE


def scored_settings(metrics: dict) -> list[str]:
    """The settings of `metrics` (evaluate's) that had something to score: not the relations of a
    corpus of entities only, whose F1 of 0 says nothing about the model."""
    return [key for key, _ in SETTINGS if key in metrics and metrics[key].get("per_type") != {}]


def mean_std(metrics: list[dict]) -> dict:
    """{setting: {average: {key: {mean, std}}}} over several runs' metrics (seeds, folds); std 0 for one."""
    out: dict = {}
    for setting, _ in SETTINGS:
        for average in ("micro", "macro"):
            for key in ("precision", "recall", "f1"):
                values = [m[setting][average][key] for m in metrics]
                out.setdefault(setting, {}).setdefault(average, {})[key] = {
                    "mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}
    return out


def write_metrics(path: str | Path, metrics: dict) -> None:
    write_text_atomic(path, json.dumps(metrics, indent=2))
