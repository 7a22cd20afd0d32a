"""Turning a batch's predictions into documents with typed, scored entities and relations, from
arrays (numpy): every engine's decisions are decoded by this one function (engines/base.py).

As SpERT's prediction.py: entities keep overlapping spans (nested predictions are allowed); a
relation of a symmetric type is put in start order (head = the entity that starts first), and
a relation predicted twice after that (both directions) is kept once, with its higher score.
"""

from __future__ import annotations

import json
import math

import numpy as np

from ..config import check_threshold
from ..data.documents import Document, Entity, Relation, Types, symmetric_order
from .calibration import JOINT_SCORE, Calibration

# thresholds.json's key for cuts on relations' joint score (a precision target's; thresholds.py)
JOINT = "relation_joint"


def check_thresholds(content, where: str) -> dict:
    """thresholds.json's content read from `where`, checked as thresholds_to_apply reads it: per
    head ("entity", "relation", "relation_joint") a map from type names (and "*") to θ, a number or
    null; a precision target's "target_precision" beside them. Anything else is one named error."""
    fix = "tune θ again (spertmt tune-threshold) or delete the file"
    if not isinstance(content, dict):
        raise ValueError(f"{where}: not an object of θ per head; {fix}")
    for head, values in content.items():
        if head == "target_precision":
            continue
        if head not in ("entity", "relation", JOINT):
            raise ValueError(f"{where}: unknown entry {head!r} (known: entity, relation, {JOINT}, target_precision); "
                             f"{fix}")
        if not isinstance(values, dict) or not all(
                isinstance(name, str) and (theta is None or (isinstance(theta, (int, float))
                                                            and not isinstance(theta, bool) and not math.isnan(theta)))
                for name, theta in values.items()):
            raise ValueError(f"{where}: {head!r} must map type names (and \"*\") to θ, a number or null, not "
                             f"{json.dumps(values)[:80]}; {fix}")
    return content


def thresholds_to_apply(config_threshold: float, entity_types: list[str], relation_types: list[str],
                        tuned: dict | None, threshold: float | None = None) -> tuple:
    """Which θ applies, the one rule for every runtime: an explicit `threshold` (both heads) wins; else
    the θ tuned on dev (`tuned`, thresholds.json: {"entity": {"*": θ, type: θ, ...}, "relation": {...}}),
    one per type; else the model config's (set per mode by Config.resolved). Returns (entity θ, relation
    θ), each a number or a list with one θ per type (None: the explicit or the config's θ). A tuned θ
    of null (a precision target no θ reaches on dev) is +inf: nothing of that type is extracted.
    Where relations are decided on their joint score (`joint_cuts`), every relation score passes
    (-inf) and the joint cut decides."""
    if threshold is not None:
        check_threshold(threshold)
    if threshold is not None or not tuned:
        return threshold, threshold
    if JOINT in tuned:
        relation = [-math.inf] * len(relation_types)
    else:
        relation = per_type(tuned, "relation", relation_types, config_threshold)
    return per_type(tuned, "entity", entity_types, config_threshold), relation


def joint_cuts(relation_types: list[str], tuned: dict | None, threshold: float | None = None) -> list[float] | None:
    """The cut on each relation type's joint score (joint_score: the relation's times its two
    entities'), where a precision target chose relations on it (thresholds.json's "relation_joint"); None where
    relations are decided by their score alone (an explicit `threshold`, θ tuned for F1, no file)."""
    if threshold is not None or not tuned or JOINT not in tuned:
        return None
    return per_type(tuned, JOINT, relation_types, -math.inf)


def per_type(tuned: dict, head: str, names: list[str], default: float) -> list[float] | None:
    """thresholds.json's values of one head, one per type (a type it does not name: its "*", else
    `default`; null: +inf, nothing of that type is kept)."""
    values = tuned.get(head)
    if not values:
        return None
    fallback = values.get("*", default)
    return [float("inf") if theta is None else float(theta) for theta in (values.get(n, fallback) for n in names)]


def threshold_arguments(config, types: Types, tuned: dict | None, threshold: float | None = None) -> dict:
    """thresholds_to_apply and joint_cuts for a model's `config` and `types`, as the keyword
    arguments of engines.base.predict_documents (`entity_threshold`, `relation_threshold`,
    `relation_joint_cut`)."""
    names = [t.name for t in types.relations]
    entity, relation = thresholds_to_apply(config.threshold, [t.name for t in types.entities], names, tuned,
                                           threshold)
    return {"entity_threshold": entity, "relation_threshold": relation,
            "relation_joint_cut": joint_cuts(names, tuned, threshold)}


def decode_arrays(spans: np.ndarray, entity_keep: np.ndarray, entity_types: np.ndarray, entity_scores: np.ndarray,
                  entity_probabilities: np.ndarray, pairs: np.ndarray, relation_keep: np.ndarray,
                  relation_scores: np.ndarray, relation_probabilities: np.ndarray, documents: list[Document],
                  types: Types, flat: bool = False, calibration: Calibration | None = None,
                  relation_joint_cut: list[float] | None = None, given: bool = False,
                  margins: bool = False) -> list[Document]:
    """One predicted Document per input document (same tokens and orig_id), from RawPredictions'
    fields as arrays: spans [B, S, 2]; entity keep, type, score, probability [B, S]; pairs [B, P, 2];
    relation keep, score, probability [B, P, R]. `flat`: no two entities overlap (the best-scoring
    span of overlapping ones is kept) and relations join kept entities only. `calibration` (the model
    folder's calibration.json) replaces the model's probabilities by calibrated ones.
    `relation_joint_cut`: one per relation type, a relation is kept only where its joint score
    (joint_score) reaches its type's cut; `given`: the entities were given (each then counts as
    certain); `margins`: the heads' scores are margins (Config.multitask_heads)."""
    cuts = None if relation_joint_cut is None else np.asarray(relation_joint_cut, dtype=np.float64)
    joint = None  # [B, P, R] joint scores, where a cut or the calibration reads them
    if needs_joint_scores(relation_joint_cut, calibration):
        entity = np.ones(entity_scores.shape) if given else unit_scores(entity_scores, margins)
        joint = (unit_scores(relation_scores, margins) * np.take_along_axis(entity, pairs[..., 0], 1)[..., None]
                 * np.take_along_axis(entity, pairs[..., 1], 1)[..., None])
    if cuts is not None:  # a first sieve, a hair below each cut (the exact test is joint_score's, below)
        symmetric = np.array([t.symmetric for t in types.relations], dtype=bool)  # both directions merged first
        relation_keep = relation_keep & ((joint >= cuts * (1 - 1e-9) - 1e-12) | symmetric)
    if calibration is not None:  # the kept items only: the rest is never read
        entity_names = np.array([t.name for t in types.entities], dtype=object)
        relation_names = np.array([t.name for t in types.relations], dtype=object)
        entity_probabilities = _calibrated(calibration, "entity", entity_keep, entity_scores, entity_probabilities,
                                           lambda keep: entity_names[entity_types[keep]])
        relation_probabilities = _calibrated(calibration, "relation", relation_keep, relation_scores,
                                             relation_probabilities,
                                             lambda keep: np.broadcast_to(relation_names, relation_keep.shape)[keep],
                                             joint)
    out = []
    for b, doc in enumerate(documents):
        rows = np.flatnonzero(entity_keep[b]).tolist()
        doc_spans, scores = spans[b].tolist(), entity_scores[b].tolist()
        if flat:
            rows = non_overlapping(rows, doc_spans, scores)
        entity_of_row = {row: k for k, row in enumerate(rows)}
        etypes, eprobs = entity_types[b].tolist(), entity_probabilities[b].tolist()
        entities = [Entity(doc_spans[row][0], doc_spans[row][1], types.entities[etypes[row]].name, scores[row],
                           eprobs[row]) for row in rows]
        # each entity's factor of a joint score, where a cut needs it
        certain = [1.0 if given else unit_score(scores[row], margins) for row in rows] if cuts is not None else []
        relations: dict[tuple[int, int, str], tuple] = {}  # (score, probability, joint score, type)
        for p, r in np.argwhere(relation_keep[b]).tolist():
            head, tail = entity_of_row.get(int(pairs[b, p, 0])), entity_of_row.get(int(pairs[b, p, 1]))
            if head is None or tail is None:  # an entity that flat decoding dropped
                continue
            rel_type = types.relations[r]
            head, tail = symmetric_order(head, tail, rel_type.symmetric, start_of=lambda k: entities[k].start)
            key = (head, tail, rel_type.name)
            score = float(relation_scores[b, p, r])
            joint = joint_score(score, certain[head], certain[tail], margins) if cuts is not None else 0.0
            found = (score, float(relation_probabilities[b, p, r]), joint, r)
            relations[key] = max(relations.get(key, found), found)  # both directions: the higher score
        out.append(Document(list(doc.tokens), entities,
                            [Relation(h, t, name, score, probability)
                             for (h, t, name), (score, probability, joint, r) in relations.items()
                             if cuts is None or joint >= cuts[r]],
                            doc.orig_id))
    return out


def needs_joint_scores(relation_joint_cut: list[float] | None, calibration: Calibration | None) -> bool:
    """Whether decoding computes relations' joint scores: a precision target's cut, or a relation
    calibration that reads them."""
    return relation_joint_cut is not None or (calibration is not None and calibration.reads("relation") == JOINT_SCORE)


def unit_score(score: float, margins: bool) -> float:
    """A head's score as a number in [0, 1] that orders as the score does: the score itself where it
    is a probability, its logistic where it is a margin (SpERT.MT's heads)."""
    if not margins:
        return score
    return 0.0 if score < -700 else 1.0 / (1.0 + math.exp(-score))


def unit_scores(scores: np.ndarray, margins: bool) -> np.ndarray:
    """unit_score over an array, in float64 (within an ulp of it: for a sieve, not a decision)."""
    scores = np.asarray(scores, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-np.maximum(scores, -700.0))) if margins else scores


def joint_score(relation_score: float, head: float, tail: float, margins: bool) -> float:
    """A relation's joint score: its unit_score times its head entity's and then its tail's (`head`,
    `tail`: theirs, or 1.0 for a given entity). A relation is right under RE+ only
    where both its entities are, which the relation head's score does not see: ranked by this
    product, the relations most often right come first (docs/using.md, "Probabilities"). Scores,
    not the calibrated probabilities: calibration is fitted under the θ a target chooses. One
    function for choosing a cut (thresholds.relation_joint) and applying it (decode_arrays), so that
    a cut keeps in extraction exactly what it kept on dev."""
    return unit_score(relation_score, margins) * head * tail


def _calibrated(calibration: Calibration, head: str, keep: np.ndarray, scores: np.ndarray, probabilities: np.ndarray,
                names_of, joint: np.ndarray | None = None) -> np.ndarray:
    """`probabilities` with the kept items' replaced by their calibrated ones (`joint`: the items'
    joint scores, for a calibration that reads them)."""
    out = np.array(probabilities, dtype=np.float32, copy=True)
    if keep.any():
        out[keep] = calibration.probabilities(head, scores[keep], names_of(keep), out[keep],
                                              None if joint is None else joint[keep])
    return out


def non_overlapping(rows: list[int], spans: list[list[int]], scores: list[float]) -> list[int]:
    """The rows whose word spans overlap no better-scoring kept span, in their original order
    (greedy by score; on equal scores the earlier row wins)."""
    kept: list[int] = []
    for row in sorted(rows, key=lambda r: (-scores[r], r)):
        start, end = spans[row]
        if all(end <= spans[k][0] or spans[k][1] <= start for k in kept):
            kept.append(row)
    return sorted(kept)
