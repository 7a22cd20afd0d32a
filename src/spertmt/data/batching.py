"""Datasets of samples and their collation into padded batches with sample masks."""

from __future__ import annotations

import random
from dataclasses import dataclass, fields

import torch
from torch.utils.data import Dataset

from ..config import Config
from .documents import Document, Types
from .encoding import Encoding, encode_word_lists
from .sampling import SPERTMT_DEFAULTS, Sample, make_sample


@dataclass
class Batch:
    """Padded tensors of several documents; `*_mask` marks the real rows."""

    doc_indices: torch.Tensor  # [B] index of each document in its dataset
    input_ids: torch.Tensor  # [B, T]
    attention_mask: torch.Tensor  # [B, T]
    word_starts: torch.Tensor  # [B, W]
    word_ends: torch.Tensor  # [B, W]
    num_words: torch.Tensor  # [B]
    gold_spans: torch.Tensor  # [B, G, 2]
    gold_mask: torch.Tensor  # [B, G]
    entity_spans: torch.Tensor  # [B, E, 2]
    entity_labels: torch.Tensor  # [B, E, C_ent]
    entity_mask: torch.Tensor  # [B, E]
    rel_pairs: torch.Tensor  # [B, R, 2]
    rel_labels: torch.Tensor  # [B, R, C_rel]
    rel_mask: torch.Tensor  # [B, R]

    def to(self, device) -> Batch:
        return Batch(**{f.name: getattr(self, f.name).to(device, non_blocking=True) for f in fields(self)})

    def __len__(self) -> int:
        return self.input_ids.shape[0]


def _pad(tensors: list[torch.Tensor], value=0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacks tensors of different first sizes -> (padded, mask of the real rows)."""
    longest = max((t.shape[0] for t in tensors), default=0)
    out = tensors[0].new_full((len(tensors), longest) + tuple(tensors[0].shape[1:]), value)
    mask = torch.zeros(len(tensors), longest, dtype=torch.bool)
    for i, t in enumerate(tensors):
        out[i, : t.shape[0]] = t
        mask[i, : t.shape[0]] = True
    return out, mask


class Collator:
    """Pads a list of samples into a Batch (pieces padded with the tokenizer's pad id)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    @classmethod
    def for_tokenizer(cls, tokenizer) -> Collator:
        """Padding with the tokenizer's pad id (0 for a tokenizer without one)."""
        return cls(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)

    def __call__(self, samples: list[Sample]) -> Batch:
        input_ids, attention_mask = _pad([s.input_ids for s in samples], self.pad_id)
        word_starts, word_mask = _pad([s.word_starts for s in samples])
        word_ends, _ = _pad([s.word_ends for s in samples])
        gold_spans, gold_mask = _pad([s.gold_spans for s in samples])
        entity_spans, entity_mask = _pad([s.entity_spans for s in samples])
        entity_labels, _ = _pad([s.entity_labels for s in samples], False)
        rel_pairs, rel_mask = _pad([s.rel_pairs for s in samples])
        rel_labels, _ = _pad([s.rel_labels for s in samples], False)
        return Batch(
            doc_indices=torch.tensor([s.doc_index for s in samples]),
            input_ids=input_ids, attention_mask=attention_mask.long(),
            word_starts=word_starts, word_ends=word_ends, num_words=word_mask.sum(1),
            gold_spans=gold_spans, gold_mask=gold_mask,
            entity_spans=entity_spans, entity_labels=entity_labels, entity_mask=entity_mask,
            rel_pairs=rel_pairs, rel_labels=rel_labels, rel_mask=rel_mask,
        )


def encode_documents(tokenizer, documents: list[Document]) -> list[Encoding]:
    return encode_word_lists(tokenizer, [doc.tokens for doc in documents])


class DocumentDataset(Dataset):
    """Documents as samples. Training samples draw new negatives every epoch: the draw depends on
    (seed, epoch, document index) only, so it is the same with any number of DataLoader workers."""

    def __init__(self, documents: list[Document], encodings: list[Encoding], types: Types, *, train: bool,
                 max_span_width: int = Config.max_span_width,
                 neg_entity_count: int = SPERTMT_DEFAULTS["neg_entity_count"],
                 neg_relation_count: int = SPERTMT_DEFAULTS["neg_relation_count"], seed: int = 0):
        self.documents, self.encodings, self.types, self.train = documents, encodings, types, train
        self.max_span_width, self.neg_entity_count, self.neg_relation_count = (
            max_span_width, neg_entity_count, neg_relation_count)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.documents)

    def __getitem__(self, index: int) -> Sample:
        rng = random.Random(f"{self.seed}/{self.epoch}/{index}")
        return make_sample(index, self.documents[index], self.encodings[index], self.types, train=self.train,
                           max_span_width=self.max_span_width, neg_entity_count=self.neg_entity_count,
                           neg_relation_count=self.neg_relation_count, rng=rng)


class LengthBucketSampler(torch.utils.data.Sampler):
    """Batches of documents of similar length (less padding, so faster steps), still random:
    each epoch shuffles the documents, cuts them into pools of `pool` batches, sorts each pool by
    length, cuts it into batches and shuffles the batches. Deterministic given the generator's
    state, so a resumed run draws the same batches. Yields lists of indices (a batch_sampler)."""

    def __init__(self, lengths: list[int], batch_size: int, generator: torch.Generator, pool: int = 50):
        self.lengths, self.batch_size, self.generator, self.pool = lengths, batch_size, generator, pool

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        order = torch.randperm(len(self.lengths), generator=self.generator).tolist()
        batches = []
        span = self.batch_size * self.pool
        for start in range(0, len(order), span):
            pool = sorted(order[start:start + span], key=lambda i: self.lengths[i])
            batches += [pool[k:k + self.batch_size] for k in range(0, len(pool), self.batch_size)]
        for k in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[k]
