"""Tuning θ on a dev set (`spertmt tune-threshold`), globally and per type.

Two passes over the dev documents: (1) entities only, with no threshold, so every candidate span
comes back with its best type and score; θ is chosen where NER F1 peaks, for all types at once
(the head's global θ) and for each type alone. (2) With those entity thresholds, relations with
no threshold; θ is chosen where RE+ (strict) F1 peaks, globally and per type. Candidates are
swept exactly (every distinct score is a possible cut), so no grid hides the optimum. The values
land in `<model>/thresholds.json`, which `spertmt.load` reads; an explicit threshold overrides.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..config import Config
from ..data.documents import Document, symmetric_types
from ..evaluate import relation_key
from ..files import write_text_atomic
from ..layout import ModelFiles
from .calibration import FOLDS
from .decoding import JOINT, joint_cuts, joint_score, thresholds_to_apply, unit_score
from .engines.base import predict_documents

if TYPE_CHECKING:  # a type only: extractor.py imports this module
    from .extractor import Extractor


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


def _entity_rows(predicted: list[Document], gold: list[Document]):
    """Every predicted entity as (type, score, right, document index, probability), and the gold count per type."""
    rows, counts = [], defaultdict(int)
    for d, (p, g) in enumerate(zip(predicted, gold)):
        gold_set = {(e.start, e.end, e.type) for e in g.entities}
        for e in gold_set:
            counts[e[2]] += 1
        rows += [(e.type, e.score, (e.start, e.end, e.type) in gold_set, d, e.probability) for e in p.entities]
    return rows, counts


def _relation_rows(predicted: list[Document], gold: list[Document], symmetric: set[str]):
    """Every predicted relation as (type, score, right under RE+, document index, probability), and the gold
    count per type."""
    rows, counts = [], defaultdict(int)
    for d, (p, g) in enumerate(zip(predicted, gold)):
        gold_set = {relation_key(g, r, symmetric) for r in g.relations}
        for r in gold_set:
            counts[r[2]] += 1
        rows += [(r.type, r.score, relation_key(p, r, symmetric) in gold_set, d, r.probability) for r in p.relations]
    return rows, counts


def _groups(rows) -> dict[str, list]:
    """Rows by their type (the first field)."""
    groups = defaultdict(list)
    for row in rows:
        groups[row[0]].append(row)
    return groups


def _by_type(rows) -> dict[str, list[tuple[float, bool]]]:
    """(score, right) per type, what the F1 sweep takes."""
    return {name: [(r[1], r[2]) for r in group] for name, group in _groups(rows).items()}


def entity_candidates(extractor: Extractor, documents: list[Document], batch_size: int, progress: bool = False):
    """Every candidate span with its best type and score, no θ (SpERT's argmax entities for a head
    without θ): (rows, gold counts) as _entity_rows."""
    lowest = extractor.model.entity_head.lowest_threshold
    entities = predict_documents(extractor.engine, documents, entity_threshold=lowest, relation_threshold=lowest,
                                 relations=False, batch_size=batch_size, progress=progress, desc="dev entities")
    return _entity_rows(entities, documents)


def relation_candidates(extractor: Extractor, documents: list[Document], entity_threshold, batch_size: int,
                        progress: bool = False):
    """Every pair of the entities `entity_threshold` keeps, with each type the relation head can keep
    at its lowest θ: (rows, gold counts) as _relation_rows, each row with the relation's joint score
    (relation_joint) added last."""
    relations = predict_documents(extractor.engine, documents, entity_threshold=entity_threshold,
                                  relation_threshold=extractor.model.relation_head.lowest_threshold,
                                  batch_size=batch_size, progress=progress, desc="dev relations")
    rows, counts = _relation_rows(relations, documents, symmetric_types(extractor.types))
    joint = relation_joint(relations, extractor.config.multitask_heads)
    return [(*row, value) for row, value in zip(rows, joint)], counts


def relation_joint(predicted: list[Document], margins: bool) -> list[float]:
    """Each predicted relation's joint score (decoding.joint_score, as extraction
    computes it), in _relation_rows' order; `margins`: Config.multitask_heads."""
    return [joint_score(r.score, unit_score(d.entities[r.head].score, margins),
                        unit_score(d.entities[r.tail].score, margins), margins)
            for d in predicted for r in d.relations]


def _per_type_tensor(chosen: dict, names: list[str], value=lambda v: v):
    """θ per type (the "*" value for a type without its own; None, no θ reaching a target, is +inf)."""
    thetas = [value(chosen.get(n, chosen["*"])) for n in names]
    return torch.tensor([float("inf") if t is None else t for t in thetas])


def tune_thresholds(extractor: Extractor, documents: list[Document], batch_size: int = Config.eval_batch_size,
                    progress: bool = False, per_type: bool = True) -> dict:
    """Chooses θ per head on `documents` (dev); returns {"entity": ..., "relation": ..., "tradeoff": ...}.
    The relations are tuned over the entities that the chosen entity θ keeps: per type, or the
    head's global θ when `per_type` is False."""
    model = extractor.model
    entity_head, relation_head = model.entity_head, model.relation_head
    if not (entity_head.thresholded or relation_head.thresholded):
        raise ValueError("this model (-MTL) predicts by argmax over a 'none' class: it has no threshold to tune")
    result: dict = {}
    if entity_head.thresholded:
        rows, counts = entity_candidates(extractor, documents, batch_size, progress)
        candidates = _by_type(rows)
        result["entity"] = _tune(candidates, counts)
        result["entity_tradeoff"] = tradeoff(candidates, counts, list(entity_head.tradeoff_thresholds))
        chosen = result["entity"] if per_type else {"*": result["entity"]["*"]}
        entity_threshold = _per_type_tensor(chosen, [t.name for t in extractor.types.entities],
                                            lambda v: v["threshold"])
    else:
        entity_threshold = None  # SpERT's entities: argmax over "none" and the types
    rows, counts = relation_candidates(extractor, documents, entity_threshold, batch_size, progress)
    candidates = _by_type(rows)
    result["relation"] = _tune(candidates, counts)
    result["relation_tradeoff"] = tradeoff(candidates, counts, list(relation_head.tradeoff_thresholds))
    return result


def tune_for_precision(extractor: Extractor, documents: list[Document], target: float, confidence: float = 0.95,
                       batch_size: int = Config.eval_batch_size, progress: bool = False, per_type: bool = True,
                       relations_on: str = "joint") -> dict:
    """θ per head and type chosen on `documents` (dev) so that precision reaches `target` with
    `confidence` (calibration.cut_for_precision: a Clopper-Pearson bound over the dev items, one
    per type and cut, not corrected for the number of cuts or types); "*" is the head's one θ over
    all types, for a type dev does not have (and for every type when `per_type` is False).
    Relations are chosen over the entities the entity θ keeps, and cut on their joint score
    (`relations_on` "joint": the relation's times its two entities', decoding.joint_score; on the
    dev sets measured it kept more at the same bound, as an RE+ relation is right only where its
    entities are) or on their score ("score").
    Returns {"entity": {name: cut}, "relation": {...}, "relations_on": ..., "skipped": [why]}; a
    cut's θ is None where no θ reaches the target (nothing of that type is then extracted)."""
    from .calibration import cut_for_precision

    if not 0 < target < 1 or not 0 < confidence < 1:
        raise ValueError(f"target precision and confidence must lie in (0, 1), not {target} and {confidence}")
    if relations_on not in ("joint", "score"):
        raise ValueError(f"relations_on is 'joint' or 'score', not {relations_on!r}")
    model = extractor.model
    if not (model.entity_head.thresholded or model.relation_head.thresholded):
        raise ValueError("this model (-MTL) predicts by argmax over a 'none' class: it has no θ to choose for a "
                         "precision")

    def cuts(rows, counts, score: int = 1) -> dict:  # `score`: the rows' field cut on
        chosen = {}
        for name, group in [("*", rows)] + sorted(_groups(rows).items()):
            num_gold = sum(counts.values()) if name == "*" else counts.get(name, 0)
            chosen[name] = cut_for_precision(np.array([r[score] for r in group]), np.array([r[2] for r in group]),
                                             num_gold, target, confidence)
        return chosen

    result: dict = {"target": {"precision": target, "confidence": confidence}, "skipped": []}
    entity_threshold = None
    if model.entity_head.thresholded:
        result["entity"] = cuts(*entity_candidates(extractor, documents, batch_size, progress))
        applied = result["entity"] if per_type else {"*": result["entity"]["*"]}
        entity_threshold = _per_type_tensor(applied, [t.name for t in extractor.types.entities],
                                            lambda v: v["threshold"])
    else:
        result["skipped"].append("entities: this model decides them by argmax over a 'none' class (no θ), so the "
                                 "target applies to relations only")
    if model.relation_head.thresholded:
        rows, counts = relation_candidates(extractor, documents, entity_threshold, batch_size, progress)
        result["relation"] = cuts(rows, counts, score=-1 if relations_on == "joint" else 1)
        result["relations_on"] = relations_on
    return result


def format_precision_cuts(chosen: dict, per_type: bool = True) -> str:
    """The θ chosen for a precision target, per head and type (the head's one only, where `per_type`
    is False, as precision_thresholds_content stores it), with what dev says each keeps."""
    target = chosen["target"]
    lines = [f"θ for precision {target['precision']:.2f} with confidence {target['confidence']:.2f} "
             "(one-sided Clopper-Pearson bound on dev):"]
    for head in ("entity", "relation"):
        for name, cut in chosen.get(head, {}).items():
            if not per_type and name != "*":
                continue
            label = f"{head} {'all types' if name == '*' else name}"
            if cut["threshold"] is None:
                lines.append(f"  {label:>32}  no θ reaches it: nothing of this type is extracted")
            else:
                lines.append(f"  {label:>32}  θ = {cut['threshold']:.4f}  dev P {100 * cut['precision']:.2f} "
                             f"(bound {100 * cut['bound']:.2f})  R {100 * cut['recall']:.2f}  kept {cut['kept']}")
    if chosen.get("relations_on") == "joint":
        lines.append("  note: a relation's θ is on its joint score (its own times its two entities')")
    lines += [f"  note: {why}" for why in chosen.get("skipped", [])]
    return "\n".join(lines)


def precision_thresholds_content(chosen: dict, per_type: bool = True) -> dict:
    """What `thresholds.json` stores for a precision target: θ per type (null: nothing of that type
    is extracted), or the head's one θ only (`per_type` False), and the target."""
    out: dict = {"target_precision": chosen["target"]}
    for head in ("entity", "relation"):
        if head in chosen:
            key = JOINT if head == "relation" and chosen.get("relations_on") == "joint" else head
            out[key] = {name: cut["threshold"] for name, cut in chosen[head].items() if per_type or name == "*"}
    return out


def applied_thresholds(model, tuned: dict | None) -> tuple[list[float], list[float]]:
    """θ per entity type and per relation type that decoding applies (thresholds_to_apply: the tuned
    values, else the config's), as numbers (+inf: nothing of the type is extracted)."""
    entity, relation = thresholds_to_apply(model.config.threshold, [t.name for t in model.types.entities],
                                           [t.name for t in model.types.relations], tuned)
    entity = entity if entity is not None else [model.config.threshold] * len(model.types.entities)
    relation = relation if relation is not None else [model.config.threshold] * len(model.types.relations)
    return entity, relation


def calibrate(extractor: Extractor, documents: list[Document], batch_size: int = Config.eval_batch_size,
              progress: bool = False):
    """Calibration of both heads fitted on `documents` (dev), under the θ the extractor applies:
    (calibration.Calibration, the cross-validated quality of each method on dev). The entity
    candidates are every span (its best type, no θ); the relation candidates every pair of the
    entities the entity θ keeps; "returned" are those the θ keeps (and a precision target's cut on
    relations' joint score), which choose the method. A relation's maps read its score, or its
    joint score (decoding.joint_score) where that gives the lower cross-validated Brier score: the
    probability is that the whole triple is right, and the score alone does not see its entities."""
    from .calibration import JOINT_SCORE, OWN, Calibration, Candidates, choose_and_fit

    model = extractor.model
    entity_theta, relation_theta = applied_thresholds(model, extractor.thresholds)
    relation_names = [t.name for t in model.types.relations]
    joint_cut = dict(zip(relation_names, joint_cuts(relation_names, extractor.thresholds) or []))
    heads, report = {}, {}
    for head, found, thetas, names in (
            ("entity", entity_candidates(extractor, documents, batch_size, progress)[0], entity_theta,
             [t.name for t in model.types.entities]),
            ("relation", relation_candidates(extractor, documents, torch.tensor(entity_theta)
                                             if model.entity_head.thresholded else None, batch_size, progress)[0],
             relation_theta, relation_names)):
        theta = dict(zip(names, thetas))
        module = model.entity_head if head == "entity" else model.relation_head
        rows = [(name, score, right, d, probability, (not module.thresholded or score >= theta[name])
                 and (not joint or joint[0] >= joint_cut.get(name, -math.inf)))
                for name, score, right, d, probability, *joint in found]  # joint: relations' (relation_joint)
        candidates = Candidates.from_rows(rows)
        if candidates.correct.all() or not candidates.correct.any():
            missing = "no wrong" if len(rows) and candidates.correct.all() else "no right"
            report[head] = {"skipped": f"dev has {missing} {head} candidates to fit on"}
            continue
        heads[head], measured = choose_and_fit(candidates, logit_input=module.scores_are_probabilities)
        if head == "relation":  # maps on the joint score, which sees the entities' confidence, where they do better
            on_joint = dataclasses.replace(candidates, scores=np.array([row[-1] for row in found], dtype=np.float64))
            joint_head, joint_measured = choose_and_fit(on_joint, logit_input=True)
            if joint_measured[_choice(joint_head)]["brier"] < measured[_choice(heads[head])]["brier"]:
                heads[head] = joint_head
                heads[head].reads = JOINT_SCORE
            measured.update({f"{name}, {JOINT_SCORE}": q for name, q in joint_measured.items() if name != OWN})
            measured[OWN] = measured.pop(OWN)  # last, below the choices
        report[head] = {"chosen": _choice(heads[head]) + ("" if heads[head].reads == "score" else f", {JOINT_SCORE}"),
                        "candidates": len(rows), "returned": int(candidates.returned.sum()),
                        "cross_validated": measured}
    return Calibration(heads, {"fitted_on": {"documents": len(documents)}}), report


def _choice(head) -> str:
    """A fitted head calibration's name in choose_and_fit's report ("isotonic per type")."""
    return head.method + (" per type" if head.per_type else "")


def calibration_quality(predicted: list[Document], gold: list[Document], types, calibration,
                        margins: bool) -> dict:
    """ECE, Brier score and reliability bins of the predicted items (what extraction returned, with
    the model's raw probabilities) before and after `calibration`, per head; with the ECE that perfect
    calibration would show on those items (calibration.ece_if_calibrated), the floor of what can be
    told apart on that many items. `margins`: Config.multitask_heads (for the joint scores)."""
    from .calibration import Candidates, ece_if_calibrated, quality, reliability_bins

    out = {}
    joint = {"entity": None, "relation": np.array(relation_joint(predicted, margins), dtype=np.float64)}
    for head, (rows, _) in (("entity", _entity_rows(predicted, gold)),
                            ("relation", _relation_rows(predicted, gold, symmetric_types(types)))):
        candidates = Candidates.from_rows([(*row, True) for row in rows])  # every predicted item is returned
        after = calibration.probabilities(head, candidates.scores, candidates.types, candidates.raw, joint[head])
        own, right = candidates.raw, candidates.correct
        out[head] = {"before": quality(own, right), "after": {**quality(after, right),
                                                               "ece_if_calibrated": ece_if_calibrated(after)},
                     "bins_before": reliability_bins(own, right), "bins_after": reliability_bins(after, right)}
    return out


def format_calibration(report: dict) -> str:
    """Per head: the method chosen and the cross-validated dev quality of each (the returned items)."""
    lines = []
    for head, found in report.items():
        if "skipped" in found:
            lines.append(f"--- {head}: not calibrated, {found['skipped']} ---")
            continue
        lines.append(f"--- {head}: {found['chosen']} (chosen by the Brier score of the {found['returned']} items "
                     f"returned on dev, {FOLDS}-fold cross-validated; fitted on {found['candidates']} candidates) ---")
        lines.append(f"{'':>32} {'ECE':>8} {'Brier':>8} {'mean p':>8} {'right':>8}")
        for name, q in found["cross_validated"].items():
            mean = "-" if q["mean_probability"] is None else f"{q['mean_probability']:.3f}"
            right = "-" if q["right"] is None else f"{q['right']:.3f}"
            lines.append(f"{name:>32} {q['ece']:8.3f} {q['brier']:8.3f} {mean:>8} {right:>8}")
        lines.append("")
    return "\n".join(lines)


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
