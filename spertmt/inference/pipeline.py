"""Turning a batch's raw predictions into documents with typed, scored entities and relations.

As SpERT's prediction.py: entities keep overlapping spans (nested predictions are allowed); a
relation of a symmetric type is put in start order (head = the entity that starts first), and
a relation predicted twice after that (both directions) is kept once, with its higher score.
"""

from __future__ import annotations

import torch

from ..data.documents import Document, Entity, Relation, Types
from ..evaluate import symmetric_order
from ..model.spertmt import RawPredictions
from ..runtime import autocast


def decode(raw: RawPredictions, documents: list[Document], types: Types, flat: bool = False) -> list[Document]:
    """One predicted Document per input document (same tokens and orig_id). `flat`: no two entities
    overlap (the best-scoring span of overlapping ones is kept) and relations join kept entities only."""
    spans = raw.spans.cpu()
    keep, etypes, escores = raw.entity_keep.cpu(), raw.entity_types.cpu(), raw.entity_scores.float().cpu()
    eprobs = raw.entity_probabilities.float().cpu()
    pairs = raw.pairs.cpu()
    rel_keep, rel_scores = raw.relation_keep.cpu(), raw.relation_scores.float().cpu()
    rel_probs = raw.relation_probabilities.float().cpu()
    out = []
    for b, doc in enumerate(documents):
        rows = keep[b].nonzero().flatten().tolist()
        if flat:
            rows = non_overlapping(rows, spans[b].tolist(), escores[b].tolist())
        entity_of_row = {row: k for k, row in enumerate(rows)}
        entities = [Entity(int(spans[b, row, 0]), int(spans[b, row, 1]), types.entities[int(etypes[b, row])].name,
                           float(escores[b, row]), float(eprobs[b, row])) for row in rows]
        relations: dict[tuple[int, int, str], tuple[float, float]] = {}  # (score, probability)
        for p, r in rel_keep[b].nonzero().tolist():
            head, tail = entity_of_row.get(int(pairs[b, p, 0])), entity_of_row.get(int(pairs[b, p, 1]))
            if head is None or tail is None:  # an entity that flat decoding dropped
                continue
            rel_type = types.relations[r]
            head, tail = symmetric_order(head, tail, rel_type.symmetric, start_of=lambda k: entities[k].start)
            key = (head, tail, rel_type.name)
            found = (float(rel_scores[b, p, r]), float(rel_probs[b, p, r]))
            relations[key] = max(relations.get(key, found), found)  # both directions: the higher score
        out.append(Document(list(doc.tokens), entities,
                            [Relation(h, t, name, score, probability)
                             for (h, t, name), (score, probability) in relations.items()],
                            doc.orig_id))
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


def predict_documents(model, tokenizer, documents: list[Document], *, batch_size: int = 8, device="cpu",
                      threshold: float | None = None, entity_threshold=None, relation_threshold=None,
                      relations: bool = True, progress: bool = False, precision: str = "fp32",
                      flat: bool = False, given: list[list[tuple[int, int]]] | None = None,
                      desc: str = "predict") -> list[Document]:
    """The inference loop (dev and test scoring, θ tuning, `Extractor.predict` and `extract`, and
    through them files, spaCy and Ray): pre-tokenised documents batched longest first (by pieces:
    less padding of pieces and candidate spans), predicted and decoded; results in input order.

    Thresholds as in SpERTMT.predict; `precision` "bf16" runs under bf16 autocast; `flat` as
    `decode` (SpERT's nested decoding by default, as scoring against SpERT's evaluator wants);
    `given`: per document, word spans taken as its entities (only relations among them predicted)."""
    from tqdm.auto import tqdm

    from ..data.batching import Collator, encode_documents
    from ..data.sampling import make_sample

    was_training = model.training
    model.eval()
    encodings = encode_documents(tokenizer, documents)
    collate = Collator.for_tokenizer(tokenizer)
    order = sorted(range(len(documents)), key=lambda i: -len(encodings[i].input_ids))
    out: dict[int, Document] = {}
    with torch.inference_mode(), autocast(device, precision):
        for start in tqdm(range(0, len(order), batch_size), desc=desc, disable=not progress, dynamic_ncols=True):
            chunk = order[start:start + batch_size]
            batch = collate([make_sample(i, documents[i], encodings[i], model.types, train=False) for i in chunk])
            spans = _given_spans([given[i] for i in chunk], device) if given is not None else {}
            raw = model.predict(batch.to(device), threshold=threshold, entity_threshold=entity_threshold,
                                relation_threshold=relation_threshold, relations=relations, **spans)
            for i, predicted in zip(chunk, decode(raw, [documents[i] for i in chunk], model.types, flat=flat)):
                out[i] = predicted
    model.train(was_training)
    return [out[i] for i in range(len(documents))]


def _given_spans(spans: list[list[tuple[int, int]]], device) -> dict:
    """A batch's given entities as SpERTMT.predict takes them: [B, E, 2] word spans and a [B, E] mask."""
    longest = max(len(x) for x in spans)
    entity_spans = torch.zeros(len(spans), longest, 2, dtype=torch.long)
    entity_mask = torch.zeros(len(spans), longest, dtype=torch.bool)
    for k, x in enumerate(spans):
        if x:
            entity_spans[k, : len(x)] = torch.tensor(x, dtype=torch.long).reshape(-1, 2)
            entity_mask[k, : len(x)] = True
    return {"entity_spans": entity_spans.to(device), "entity_mask": entity_mask.to(device)}
