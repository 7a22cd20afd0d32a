"""Turning a batch's predictions into documents with typed, scored entities and relations, from
arrays (numpy): every engine's decisions are decoded by this one function (engines/base.py).

As SpERT's prediction.py: entities keep overlapping spans (nested predictions are allowed); a
relation of a symmetric type is put in start order (head = the entity that starts first), and
a relation predicted twice after that (both directions) is kept once, with its higher score.
"""

from __future__ import annotations

import numpy as np

from ..config import check_threshold
from ..data.documents import Document, Entity, Relation, Types
from ..evaluate import symmetric_order
from .calibration import Calibration


def thresholds_to_apply(config_threshold: float, entity_types: list[str], relation_types: list[str],
                        tuned: dict | None, threshold: float | None = None) -> tuple:
    """Which θ applies, the one rule for every runtime: an explicit `threshold` (both heads) wins; else
    the θ tuned on dev (`tuned`, thresholds.json: {"entity": {"*": θ, type: θ, ...}, "relation": {...}}),
    one per type; else the model config's (set per mode by Config.resolved). Returns (entity θ, relation
    θ), each a number or a list with one θ per type (None: the explicit or the config's θ). A tuned θ
    of null (a precision target no θ reaches on dev) is +inf: nothing of that type is extracted."""
    if threshold is not None:
        check_threshold(threshold)
    if threshold is not None or not tuned:
        return threshold, threshold

    def per_type(head: str, names: list[str]) -> list[float] | None:
        values = tuned.get(head)
        if not values:
            return None
        default = values.get("*", config_threshold)
        chosen = [values.get(name, default) for name in names]
        return [float("inf") if theta is None else float(theta) for theta in chosen]

    return per_type("entity", entity_types), per_type("relation", relation_types)


def threshold_arguments(config, types: Types, tuned: dict | None, threshold: float | None = None) -> dict:
    """thresholds_to_apply for a model's `config` and `types`, as the keyword arguments of
    engines.base.predict_documents (`entity_threshold`, `relation_threshold`)."""
    entity, relation = thresholds_to_apply(config.threshold, [t.name for t in types.entities],
                                           [t.name for t in types.relations], tuned, threshold)
    return {"entity_threshold": entity, "relation_threshold": relation}


def decode_arrays(spans: np.ndarray, entity_keep: np.ndarray, entity_types: np.ndarray, entity_scores: np.ndarray,
                  entity_probabilities: np.ndarray, pairs: np.ndarray, relation_keep: np.ndarray,
                  relation_scores: np.ndarray, relation_probabilities: np.ndarray, documents: list[Document],
                  types: Types, flat: bool = False, calibration: Calibration | None = None) -> list[Document]:
    """One predicted Document per input document (same tokens and orig_id), from RawPredictions'
    fields as arrays: spans [B, S, 2]; entity keep, type, score, probability [B, S]; pairs [B, P, 2];
    relation keep, score, probability [B, P, R]. `flat`: no two entities overlap (the best-scoring
    span of overlapping ones is kept) and relations join kept entities only. `calibration` (the model
    folder's calibration.json) replaces the model's probabilities by calibrated ones."""
    if calibration is not None:  # the kept items only: the rest is never read
        entity_names = np.array([t.name for t in types.entities], dtype=object)
        relation_names = np.array([t.name for t in types.relations], dtype=object)
        entity_probabilities = _calibrated(calibration, "entity", entity_keep, entity_scores, entity_probabilities,
                                           lambda keep: entity_names[entity_types[keep]])
        relation_probabilities = _calibrated(calibration, "relation", relation_keep, relation_scores,
                                             relation_probabilities,
                                             lambda keep: np.broadcast_to(relation_names, relation_keep.shape)[keep])
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
        relations: dict[tuple[int, int, str], tuple[float, float]] = {}  # (score, probability)
        for p, r in np.argwhere(relation_keep[b]).tolist():
            head, tail = entity_of_row.get(int(pairs[b, p, 0])), entity_of_row.get(int(pairs[b, p, 1]))
            if head is None or tail is None:  # an entity that flat decoding dropped
                continue
            rel_type = types.relations[r]
            head, tail = symmetric_order(head, tail, rel_type.symmetric, start_of=lambda k: entities[k].start)
            key = (head, tail, rel_type.name)
            found = (float(relation_scores[b, p, r]), float(relation_probabilities[b, p, r]))
            relations[key] = max(relations.get(key, found), found)  # both directions: the higher score
        out.append(Document(list(doc.tokens), entities,
                            [Relation(h, t, name, score, probability)
                             for (h, t, name), (score, probability) in relations.items()],
                            doc.orig_id))
    return out


def _calibrated(calibration: Calibration, head: str, keep: np.ndarray, scores: np.ndarray, probabilities: np.ndarray,
                names_of) -> np.ndarray:
    """`probabilities` with the kept items' replaced by their calibrated ones."""
    out = np.array(probabilities, dtype=np.float32, copy=True)
    if keep.any():
        out[keep] = calibration.probabilities(head, scores[keep], names_of(keep), out[keep])
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
