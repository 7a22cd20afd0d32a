"""The PyTorch engine: the model (spertmt.model.SpERTMT) decides a batch on its device (encoder,
span pooling, heads, θ, pairs: no loop over pairs, nothing leaves a GPU until the decisions are
made), and the decisions come back as numpy arrays for decoding (base.predict_documents)."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from ...config import EXTRACT_BATCHING
from ...data.batching import Collator, encode_documents
from ...data.documents import Document
from ...data.encoding import Encoding
from ...data.sampling import make_sample
from ...model.spertmt import RawPredictions
from ...runtime import autocast


class TorchEngine:
    """base.Engine for a SpERTMT model and its tokenizer on `device`; `precision` "bf16" runs the
    batches under bf16 autocast (the encoder swapped for int8 or ONNX Runtime runs as it is)."""

    def __init__(self, model, tokenizer, device, precision: str = "fp32"):
        self.model, self.tokenizer, self.device, self.precision = model, tokenizer, torch.device(device), precision
        self.collate = Collator.for_tokenizer(tokenizer)

    @property
    def types(self):
        return self.model.types

    @property
    def config(self):
        return self.model.config

    @property
    def extract_batching(self) -> tuple[int, int | None]:
        return EXTRACT_BATCHING["cpu" if self.device.type == "cpu" else "gpu"]

    def set_prediction_settings(self, **settings) -> None:
        self.model.set_prediction_settings(**settings)

    @contextlib.contextmanager
    def running(self):
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), autocast(self.device, self.precision):
                yield
        finally:
            self.model.train(was_training)

    def encode(self, documents: list[Document]) -> list[Encoding]:
        return encode_documents(self.tokenizer, documents)

    def predict_batch(self, documents: list[Document], encodings: list[Encoding], entity_threshold,
                      relation_threshold, relations: bool, given: list | None) -> list[np.ndarray]:
        batch = self.collate([make_sample(k, doc, encoding, self.types, train=False)
                              for k, (doc, encoding) in enumerate(zip(documents, encodings))])
        spans = given_spans(given, self.device) if given is not None else {}
        raw = self.model.predict(batch.to(self.device), entity_threshold=_per_type(entity_threshold),
                                 relation_threshold=_per_type(relation_threshold), relations=relations, **spans)
        return arrays(raw)


def _per_type(theta):
    """A θ as SpERTMT.predict takes it: a list (one per type) as a tensor."""
    return torch.tensor(theta) if isinstance(theta, list) else theta


def arrays(raw: RawPredictions) -> list[np.ndarray]:
    """RawPredictions' fields as numpy arrays on the CPU, in decoding.decode_arrays' order (scores
    and probabilities widened to fp32)."""
    fields = [raw.spans, raw.entity_keep, raw.entity_types, raw.entity_scores.float(),
              raw.entity_probabilities.float(), raw.pairs, raw.relation_keep, raw.relation_scores.float(),
              raw.relation_probabilities.float()]
    return [t.cpu().numpy() for t in fields]


def given_spans(spans: list[list[tuple[int, int]]], device) -> dict:
    """A batch's given entities as SpERTMT.predict takes them: [B, E, 2] word spans and a [B, E] mask."""
    longest = max(len(x) for x in spans)
    entity_spans = torch.zeros(len(spans), longest, 2, dtype=torch.long)
    entity_mask = torch.zeros(len(spans), longest, dtype=torch.bool)
    for k, x in enumerate(spans):
        if x:
            entity_spans[k, : len(x)] = torch.tensor(x, dtype=torch.long).reshape(-1, 2)
            entity_mask[k, : len(x)] = True
    return {"entity_spans": entity_spans.to(device), "entity_mask": entity_mask.to(device)}
