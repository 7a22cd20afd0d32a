"""The inference loop: documents batched, predicted and decoded (decoding.py)."""

from __future__ import annotations

import torch

from ..config import Config
from ..data.documents import Document, Types
from ..model.spertmt import RawPredictions
from ..runtime import autocast
from .calibration import Calibration
from .decoding import decode_arrays


def decode(raw: RawPredictions, documents: list[Document], types: Types, flat: bool = False,
           calibration: Calibration | None = None) -> list[Document]:
    """One predicted Document per input document (decoding.decode_arrays, on the predictions' CPU copies)."""
    arrays = [t.cpu() for t in (raw.spans, raw.entity_keep, raw.entity_types)]
    arrays += [t.float().cpu() for t in (raw.entity_scores, raw.entity_probabilities)]
    arrays += [t.cpu() for t in (raw.pairs, raw.relation_keep)]
    arrays += [t.float().cpu() for t in (raw.relation_scores, raw.relation_probabilities)]
    return decode_arrays(*(t.numpy() for t in arrays), documents, types, flat=flat, calibration=calibration)


def predict_documents(model, tokenizer, documents: list[Document], *, batch_size: int = Config.eval_batch_size,
                      device="cpu", threshold: float | None = None, entity_threshold=None, relation_threshold=None,
                      relations: bool = True, progress: bool = False, precision: str = "fp32",
                      flat: bool = False, given: list[list[tuple[int, int]]] | None = None,
                      desc: str = "predict", calibration: Calibration | None = None) -> list[Document]:
    """The inference loop (dev and test scoring, θ tuning, `Extractor.predict` and `extract`, and
    through them files, spaCy and Ray): pre-tokenised documents batched longest first (by pieces:
    less padding of pieces and candidate spans), predicted and decoded; results in input order.

    Thresholds as in SpERTMT.predict; `precision` "bf16" runs under bf16 autocast; `flat` as
    `decode` (SpERT's nested decoding by default, as scoring against SpERT's evaluator wants);
    `given`: per document, word spans taken as its entities (only relations among them predicted);
    `calibration`: the model folder's, for calibrated probabilities (scoring needs none)."""
    from tqdm.auto import tqdm

    from ..data.batching import Collator, encode_documents
    from ..data.encoding import longest_first
    from ..data.sampling import make_sample

    was_training = model.training
    model.eval()
    encodings = encode_documents(tokenizer, documents)
    collate = Collator.for_tokenizer(tokenizer)
    out: dict[int, Document] = {}
    with torch.inference_mode(), autocast(device, precision):
        for chunk in tqdm(longest_first(encodings, batch_size), desc=desc, disable=not progress, dynamic_ncols=True):
            batch = collate([make_sample(i, documents[i], encodings[i], model.types, train=False) for i in chunk])
            spans = _given_spans([given[i] for i in chunk], device) if given is not None else {}
            raw = model.predict(batch.to(device), threshold=threshold, entity_threshold=entity_threshold,
                                relation_threshold=relation_threshold, relations=relations, **spans)
            for i, predicted in zip(chunk, decode(raw, [documents[i] for i in chunk], model.types, flat=flat,
                                                  calibration=calibration)):
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
