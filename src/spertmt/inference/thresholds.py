"""Tuning θ on a dev set (`spertmt tune-threshold`), globally and per type.

Two passes over the dev documents: (1) entities only, with no threshold, so every candidate span
comes back with its best type and score; θ is chosen where NER F1 peaks, for all types at once
(the head's global θ) and for each type alone. (2) With those entity thresholds, relations with
no threshold; θ is chosen where RE+ (strict) F1 peaks, globally and per type. Candidates are
swept exactly (every distinct score is a possible cut), so no grid hides the optimum. The values
land in `<model>/thresholds.json`, which `spertmt.load` reads; an explicit threshold overrides.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..config import Config
from ..data.documents import Document
from ..evaluate import relation_key, symmetric_types
from ..files import write_text_atomic
from ..layout import ModelFiles
from .decoding import thresholds_to_apply
from .pipeline import predict_documents

if TYPE_CHECKING:  # a type only: extractor.py imports this module
    from .extractor import Extractor


def threshold_args(model, tuned: dict | None, threshold: float | None = None) -> dict:
    """The keyword arguments of SpERTMT.predict and predict_documents for the θ that applies
    (decoding.thresholds_to_apply: explicit, else tuned, else the config's)."""
    entity, relation = thresholds_to_apply(model.config.threshold, [t.name for t in model.types.entities],
                                           [t.name for t in model.types.relations], tuned, threshold)
    if not isinstance(entity, list) and not isinstance(relation, list) and entity == relation:
        return {"threshold": entity}
    return {"entity_threshold": torch.tensor(entity) if isinstance(entity, list) else entity,
            "relation_threshold": torch.tensor(relation) if isinstance(relation, list) else relation}


def _best_cut(candidates: list[tuple[float, bool]], num_gold: int) -> tuple[float, dict]:
    """θ maximising F1 over (score, correct) candidates; ties keep the higher θ."""
    best = (0.0, float("inf"), 0, 0)  # f1, theta, tp, kept
    tp = 0
    ranked = sorted(candidates, key=lambda c: -c[0])
    for k, (score, correct) in enumerate(ranked, 1):
        tp += correct
        if k < len(ranked) and ranked[k][0] == score:
            continue  # a cut cannot separate equal scores
        f1 = 2 * tp / (k + num_gold) if k + num_gold else 0.0
        if f1 > best[0]:
            best = (f1, score, tp, k)
    f1, theta, tp, kept = best
    precision = tp / kept if kept else 0.0
    recall = tp / num_gold if num_gold else 0.0
    return theta, {"f1": 100 * f1, "precision": 100 * precision, "recall": 100 * recall}


def _tune(candidates: dict[str, list[tuple[float, bool]]], gold: dict[str, int]) -> dict:
    """{"*": global θ, type: θ} with the dev F1 each reaches."""
    everything = [c for cs in candidates.values() for c in cs]
    theta, quality = _best_cut(everything, sum(gold.values()))
    chosen = {"*": {"threshold": theta, **quality}}
    for name, cs in candidates.items():
        if gold.get(name):
            t, q = _best_cut(cs, gold[name])
            if q["f1"] > 0:  # no cut finds anything right: keep the head's global θ for this type
                chosen[name] = {"threshold": t, **q}
    return chosen


def tradeoff(candidates: dict[str, list[tuple[float, bool]]], gold: dict[str, int], thetas: list[float]) -> list[dict]:
    """Precision, recall and F1 of all types together at each θ."""
    everything = [c for cs in candidates.values() for c in cs]
    total = sum(gold.values())
    rows = []
    for theta in thetas:
        kept = [c for c in everything if c[0] >= theta]
        tp = sum(c[1] for c in kept)
        p = tp / len(kept) if kept else 0.0
        r = tp / total if total else 0.0
        rows.append({"threshold": theta, "precision": 100 * p, "recall": 100 * r,
                     "f1": 100 * (2 * p * r / (p + r) if p + r else 0.0)})
    return rows


def _entity_candidates(predicted: list[Document], gold: list[Document]):
    candidates, counts = defaultdict(list), defaultdict(int)
    for p, g in zip(predicted, gold):
        gold_set = {(e.start, e.end, e.type) for e in g.entities}
        for e in gold_set:
            counts[e[2]] += 1
        for e in p.entities:
            candidates[e.type].append((e.score, (e.start, e.end, e.type) in gold_set))
    return candidates, counts


def _relation_candidates(predicted: list[Document], gold: list[Document], symmetric: set[str]):
    candidates, counts = defaultdict(list), defaultdict(int)
    for p, g in zip(predicted, gold):
        gold_set = {relation_key(g, r, symmetric) for r in g.relations}
        for r in gold_set:
            counts[r[2]] += 1
        for r in p.relations:
            candidates[r.type].append((r.score, relation_key(p, r, symmetric) in gold_set))
    return candidates, counts


def tune_thresholds(extractor: Extractor, documents: list[Document], batch_size: int = Config.eval_batch_size,
                    progress: bool = False, per_type: bool = True) -> dict:
    """Chooses θ per head on `documents` (dev); returns {"entity": ..., "relation": ..., "tradeoff": ...}.
    The relations are tuned over the entities that the chosen entity θ keeps: per type, or the
    head's global θ when `per_type` is False."""
    model = extractor.model
    entity_head, relation_head = model.entity_head, model.relation_head
    if not (entity_head.thresholded or relation_head.thresholded):
        raise ValueError("this model (-MTL) predicts by argmax over a 'none' class: it has no threshold to tune")
    common = dict(batch_size=batch_size, device=extractor.device, progress=progress)
    result: dict = {}
    if entity_head.thresholded:
        entities = predict_documents(model, extractor.tokenizer, documents, threshold=entity_head.lowest_threshold,
                                     relations=False,
                                     **common)
        candidates, counts = _entity_candidates(entities, documents)
        result["entity"] = _tune(candidates, counts)
        result["entity_tradeoff"] = tradeoff(candidates, counts, list(entity_head.tradeoff_thresholds))
        names = [t.name for t in extractor.types.entities]
        chosen = result["entity"] if per_type else {"*": result["entity"]["*"]}
        entity_threshold = torch.tensor([chosen.get(n, chosen["*"])["threshold"] for n in names])
    else:
        entity_threshold = None  # SpERT's entities: argmax over "none" and the types
    relations = predict_documents(model, extractor.tokenizer, documents, entity_threshold=entity_threshold,
                                  relation_threshold=relation_head.lowest_threshold, **common)
    candidates, counts = _relation_candidates(relations, documents, symmetric_types(extractor.types))
    result["relation"] = _tune(candidates, counts)
    result["relation_tradeoff"] = tradeoff(candidates, counts, list(relation_head.tradeoff_thresholds))
    return result


def thresholds_file_content(tuned: dict, per_type: bool = True) -> dict:
    """What `thresholds.json` stores: {"entity": {"*": θ, type: θ}, "relation": {...}}."""
    out = {}
    for head in ("entity", "relation"):
        if head in tuned:
            # a head where no cut finds anything right (θ = inf) keeps the config's θ
            out[head] = {name: v["threshold"] for name, v in tuned[head].items()
                         if (per_type or name == "*") and v["f1"] > 0}
    return out


def save_thresholds(folder: str | Path, content: dict) -> Path:
    path = Path(folder) / ModelFiles.THRESHOLDS
    write_text_atomic(path, json.dumps(content, indent=2))
    return path


def format_tuning(tuned: dict) -> str:
    lines = []
    for head in ("entity", "relation"):
        if head not in tuned:
            continue
        lines.append(f"--- {head} threshold (dev, {'NER' if head == 'entity' else 'RE+ strict'} F1) ---")
        lines.append(f"{'threshold':>10} {'precision':>10} {'recall':>10} {'f1':>8}")
        for row in tuned[f"{head}_tradeoff"]:
            lines.append(f"{row['threshold']:10.2f} {row['precision']:10.2f} {row['recall']:10.2f} {row['f1']:8.2f}")
        lines.append("chosen:")
        for name, v in tuned[head].items():
            label = "all types" if name == "*" else name
            lines.append(f"  {label:>24}  θ = {v['threshold']:.4f}  P {v['precision']:.2f}  R {v['recall']:.2f}  "
                         f"F1 {v['f1']:.2f}")
        lines.append("")
    return "\n".join(lines)
