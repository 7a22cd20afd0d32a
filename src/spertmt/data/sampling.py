"""Training and evaluation samples: word ranges and labels, never masks.

Training (docs/method.md, "Training"): every gold entity plus up to `neg_entity_count` negatives drawn
uniformly from the other candidate spans (all word ranges of width 1..max_span_width); every
related pair of gold entities plus up to `neg_relation_count` ordered pairs of gold entities that
hold no relation (SpERT's strong negatives; the reverse of a symmetric gold relation is not a
negative). Entity and relation labels are multi-hot, so a span with two gold types or a pair with
two gold relation types is one sample with both (SpERT builds one sample per type and thereby
contradicting targets, lavis-nlp/spert#46).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from ..config import MODE_DEFAULTS, Config
from .documents import Document, Types
from .encoding import Encoding, candidate_spans


@dataclass
class Sample:
    """One document's tensors. Training fields are empty for evaluation samples."""

    doc_index: int
    input_ids: torch.Tensor  # [T]
    word_starts: torch.Tensor  # [W] piece range of each word
    word_ends: torch.Tensor  # [W]
    gold_spans: torch.Tensor  # [G, 2] word ranges of the gold entities (for ENIoU)
    entity_spans: torch.Tensor  # [E, 2] word ranges of the entity samples (gold first)
    entity_labels: torch.Tensor  # [E, num_entity_types] bool multi-hot; all false = no entity
    rel_pairs: torch.Tensor  # [R, 2] indices into entity_spans (head, tail)
    rel_labels: torch.Tensor  # [R, num_relation_types] bool multi-hot; all false = no relation


def _gold_entities(doc: Document, types: Types, num_words: int):
    """Deduplicated gold spans (within the encoded words) with multi-hot types, and a map from the
    document's entity index to the span's position (None when cut by truncation)."""
    spans: list[tuple[int, int]] = []
    labels: list[list[bool]] = []
    position: list[int | None] = []
    where: dict[tuple[int, int], int] = {}
    for e in doc.entities:
        if e.end > num_words:
            position.append(None)
            continue
        if e.span not in where:
            where[e.span] = len(spans)
            spans.append(e.span)
            labels.append([False] * len(types.entities))
        labels[where[e.span]][types.entity_index[e.type].index] = True
        position.append(where[e.span])
    return spans, labels, position


def _gold_relations(doc: Document, types: Types, position: list[int | None]):
    """{(head, tail): multi-hot} over entity-sample positions, and the symmetric positive pairs."""
    pairs: dict[tuple[int, int], list[bool]] = {}
    symmetric: set[tuple[int, int]] = set()
    for r in doc.relations:
        head, tail = position[r.head], position[r.tail]
        if head is None or tail is None:
            continue
        rel_type = types.relation_index[r.type]
        pairs.setdefault((head, tail), [False] * len(types.relations))[rel_type.index] = True
        if rel_type.symmetric:
            symmetric.add((head, tail))
    return pairs, symmetric


def _tensor(rows, width: int, dtype) -> torch.Tensor:
    return torch.tensor(rows, dtype=dtype).reshape(len(rows), width)  # width 0: no relation types

SPERTMT_DEFAULTS = MODE_DEFAULTS["spertmt"]  # the training-only arguments' defaults are the config's


def make_sample(doc_index: int, doc: Document, encoding: Encoding, types: Types, *, train: bool,
                max_span_width: int = Config.max_span_width,
                neg_entity_count: int = SPERTMT_DEFAULTS["neg_entity_count"],
                neg_relation_count: int = SPERTMT_DEFAULTS["neg_relation_count"],
                rng: random.Random | None = None) -> Sample:
    """Builds a document's sample; `train=False` leaves out the sampled entities and relations."""
    num_words = encoding.num_words
    gold_spans, gold_labels, position = _gold_entities(doc, types, num_words)
    base = dict(
        doc_index=doc_index,
        input_ids=torch.tensor(encoding.input_ids, dtype=torch.long),
        word_starts=torch.tensor(encoding.word_starts, dtype=torch.long),
        word_ends=torch.tensor(encoding.word_ends, dtype=torch.long),
        gold_spans=_tensor(gold_spans, 2, torch.long),
    )
    num_e, num_r = len(types.entities), len(types.relations)
    if not train:
        return Sample(**base, entity_spans=torch.zeros(0, 2, dtype=torch.long),
                      entity_labels=torch.zeros(0, num_e, dtype=torch.bool),
                      rel_pairs=torch.zeros(0, 2, dtype=torch.long),
                      rel_labels=torch.zeros(0, num_r, dtype=torch.bool))
    rng = rng or random.Random(0)

    gold_set = set(gold_spans)
    negatives = [s for s in candidate_spans(num_words, max_span_width) if s not in gold_set]
    negatives = rng.sample(negatives, min(neg_entity_count, len(negatives)))
    entity_spans = gold_spans + negatives
    entity_labels = gold_labels + [[False] * num_e for _ in negatives]

    positive, symmetric = _gold_relations(doc, types, position)
    strong_negatives = [(i, j) for i in range(len(gold_spans)) for j in range(len(gold_spans))
                        if i != j and (i, j) not in positive and (j, i) not in symmetric]
    strong_negatives = rng.sample(strong_negatives, min(neg_relation_count, len(strong_negatives)))
    rel_pairs = list(positive) + strong_negatives
    rel_labels = list(positive.values()) + [[False] * num_r for _ in strong_negatives]

    return Sample(**base, entity_spans=_tensor(entity_spans, 2, torch.long),
                  entity_labels=_tensor(entity_labels, num_e, torch.bool),
                  rel_pairs=_tensor(rel_pairs, 2, torch.long),
                  rel_labels=_tensor(rel_labels, num_r, torch.bool))
