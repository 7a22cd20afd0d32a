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
                      flat: bool = False) -> list[Document]:
    """Predicts entities and relations for pre-tokenised documents, in input order (thresholds as
    in SpERTMT.predict; `precision` "bf16" runs under bf16 autocast; `flat` as `decode`: SpERT's
    nested decoding by default, as scoring against SpERT's evaluator wants)."""
    from tqdm.auto import tqdm

    from ..data.batching import Collator, DocumentDataset, encode_documents

    was_training = model.training
    model.eval()
    dataset = DocumentDataset(documents, encode_documents(tokenizer, documents), model.types, train=False)
    collate = Collator(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
    # Long documents together: less padding of pieces and candidate spans; results go back in input order.
    order = sorted(range(len(dataset)), key=lambda i: -len(dataset.encodings[i].input_ids))
    out: dict[int, Document] = {}
    with torch.inference_mode(), autocast(device, precision):
        for start in tqdm(range(0, len(order), batch_size), desc="predict", disable=not progress,
                          dynamic_ncols=True):
            chunk = order[start:start + batch_size]
            batch = collate([dataset[i] for i in chunk]).to(device)
            raw = model.predict(batch, threshold=threshold, entity_threshold=entity_threshold,
                                relation_threshold=relation_threshold, relations=relations)
            for i, predicted in zip(chunk, decode(raw, [documents[i] for i in chunk], model.types, flat=flat)):
                out[i] = predicted
    model.train(was_training)
    return [out[i] for i in range(len(dataset))]
