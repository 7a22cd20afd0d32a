"""The engine without torch: ONNX Runtime runs the graphs of a folder written by `spertmt export
--format onnx` (the encoder, and the heads with their decision rules), and numpy does what lies
between them, as the PyTorch model does it (SpERTMT._decide): words to pieces, max pooling over
piece ranges, candidate spans, `score >= θ`, pairs of kept entities. Reading the folder is
portable.py's; decoding, θ and raw text are base.py's, shared with the PyTorch engine."""

from __future__ import annotations

import contextlib

import numpy as np

from ...config import EXTRACT_BATCHING, Config
from ...data.documents import Document, Types
from ...data.encoding import Encoding, align_pieces, candidate_spans, window_plan

# Graph rewrites ONNX Runtime's CPU sessions are told to leave out. Fusing each residual Add with the
# LayerNormalization after it (SkipLayerNormalization) made both encoders slower: on this project's
# x86 CPUs ONNX Runtime 1.32's fused kernel took about 6x the time of the Add and the plain
# LayerNormalization (0.6 ms against 0.09 ms for 340 pieces of width 384, one thread), 12 times per
# MiniLM run (bench/results/ort-layer-norm.json).
CPU_DISABLED_OPTIMIZERS = ["SkipLayerNormFusion"]


class OnnxEngine:
    """base.Engine over ONNX Runtime sessions: `encoder`, `entity_graph`, `relation_graph`, the
    tokenizers library's `tokenizer` and the export's `manifest` (window, pad id, which θ the graphs
    apply)."""

    def __init__(self, encoder, entity_graph, relation_graph, tokenizer, manifest: dict, config: Config,
                 types: Types):
        self.encoder, self.entity_graph, self.relation_graph = encoder, entity_graph, relation_graph
        self.tokenizer, self.manifest, self.config, self.types = tokenizer, manifest, config, types
        self.pad_id = manifest["pad_id"]
        self.relation_inputs = {i.name for i in relation_graph.get_inputs()}

    @property
    def extract_batching(self) -> tuple[int, int | None]:
        return EXTRACT_BATCHING["cpu"]  # its sessions run on ONNX Runtime's CPU provider

    def running(self):
        return contextlib.nullcontext()

    def set_prediction_settings(self, **settings) -> None:
        """As the PyTorch engine's, but for what the exported graphs hold (one relation type per pair
        or several): export again from a model with the other setting."""
        baked = [key for key in ("multi_label_relations",)
                 if key in settings and settings[key] != getattr(self.config, key)]
        if baked:
            raise ValueError(f"{baked[0]} is fixed in the exported graphs; export the model again with "
                             f"{baked[0]} = {settings[baked[0]]!r}")
        self.config = self.config.with_prediction_settings(**settings)

    def encode(self, documents: list[Document]) -> list[Encoding]:
        """Words to pieces with their ranges (data.encoding's alignment, from the tokenizers library)."""
        word_lists = [list(doc.tokens) for doc in documents]
        encoded = self.tokenizer.encode_batch(word_lists, is_pretokenized=True, add_special_tokens=True)
        return [align_pieces(e.ids, e.word_ids, len(words)) for e, words in zip(encoded, word_lists)]

    def _theta(self, theta) -> np.ndarray:
        """A θ as the numpy comparisons take it (None: the config's)."""
        return np.float32(self.config.threshold) if theta is None else np.asarray(theta, dtype=np.float32)

    def predict_batch(self, documents: list[Document], encodings: list[Encoding], entity_threshold,
                      relation_threshold, relations: bool, given: list | None) -> list[np.ndarray]:
        """RawPredictions' fields (numpy) of one batch, as SpERTMT.predict computes them."""
        entity_theta, relation_theta = self._theta(entity_threshold), self._theta(relation_threshold)
        B = len(encodings)
        T = max(len(e.input_ids) for e in encodings)
        W = max(e.num_words for e in encodings)
        input_ids = np.full((B, T), self.pad_id, dtype=np.int64)
        attention = np.zeros((B, T), dtype=np.int64)
        word_starts = np.zeros((B, W), dtype=np.int64)
        word_ends = np.zeros((B, W), dtype=np.int64)
        num_words = np.array([e.num_words for e in encodings], dtype=np.int64)
        for b, e in enumerate(encodings):
            input_ids[b, : len(e.input_ids)] = e.input_ids
            attention[b, : len(e.input_ids)] = 1
            word_starts[b, : e.num_words] = e.word_starts
            word_ends[b, : e.num_words] = e.word_ends
        window = self.manifest["window"]
        if T <= window:
            hidden = self.encoder.run(None, {"input_ids": input_ids, "attention_mask": attention})[0]
        else:  # overlapping windows, stitched (as SpERTMT.encode)
            ids, mask, source = window_plan(input_ids, attention.sum(1).tolist(), window)
            out = self.encoder.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            hidden = np.concatenate([out.reshape(-1, out.shape[-1]), np.zeros((1, out.shape[-1]), out.dtype)])[source]
        hidden = hidden.astype(np.float32, copy=False)

        if given is None:
            # [S, 2], the same for every document
            spans = np.array(candidate_spans(W, self.config.max_span_width), dtype=np.int64).reshape(-1, 2)
            span_mask = spans[None, :, 1] <= num_words[:, None]
            spans = np.broadcast_to(spans, (B,) + spans.shape)
        else:
            longest = max(len(g) for g in given)
            spans = np.zeros((B, longest, 2), dtype=np.int64)
            span_mask = np.zeros((B, longest), dtype=bool)
            for b, g in enumerate(given):
                if g:
                    spans[b, : len(g)] = g
                    span_mask[b, : len(g)] = True
        ranges = piece_ranges(word_starts, word_ends, spans)
        if given is None:  # every candidate: widths built up from the words' maxima
            pooled = enumerated_max_pool(hidden, word_starts, word_ends, self.config.max_span_width)
        else:
            pooled = max_pool(hidden, ranges)
        c, type_scores, gate, types, scores, probabilities = self.entity_graph.run(None, {
            "pooled": pooled, "widths": (spans[..., 1] - spans[..., 0]).astype(np.int64),
            "cls": np.ascontiguousarray(hidden[:, 0])})
        if given is not None:
            keep = span_mask
        else:
            keep = gate & span_mask
            if self.manifest["entity_thresholded"]:
                keep &= scores >= (entity_theta[types] if entity_theta.ndim else entity_theta)
        R = len(self.types.relations)
        pairs, pair_mask, flat = ordered_pairs(keep) if relations else (np.zeros((B, 0, 2), np.int64),
                                                                         np.zeros((B, 0), bool), None)
        relation_keep = np.zeros(pairs.shape[:2] + (R,), dtype=bool)
        relation_scores = np.zeros(pairs.shape[:2] + (R,), dtype=np.float32)
        relation_probabilities = np.zeros(pairs.shape[:2] + (R,), dtype=np.float32)
        if flat is not None and len(flat[0]) and R:
            doc, head, tail, slot = flat
            max_pairs = self.config.max_pairs
            for start in range(0, len(doc), max_pairs):  # bounded memory, as the PyTorch path chunks
                part = slice(start, start + max_pairs)
                d, h, t = doc[part], head[part], tail[part]
                # the batch as one sequence, as SpERTMT._decide: piece ranges shift by document * T
                between = pair_context_ranges(ranges[d, h], ranges[d, t]) + (d * T)[:, None]
                context = max_pool(hidden.reshape(1, B * T, -1), between[None])[0]
                inputs = {"head": c[d, h], "context": context, "tail": c[d, t], "head_types": type_scores[d, h],
                          "tail_types": type_scores[d, t]}
                rel_gate, rel_scores, rel_probabilities = self.relation_graph.run(
                    None, {k: np.ascontiguousarray(v) for k, v in inputs.items() if k in self.relation_inputs})
                kept = rel_gate
                if self.manifest["relation_thresholded"]:
                    kept = kept & (rel_scores >= relation_theta)
                relation_keep[d, slot[part]] = kept
                relation_scores[d, slot[part]] = rel_scores
                relation_probabilities[d, slot[part]] = rel_probabilities
        relation_keep &= pair_mask[..., None]
        return [np.asarray(spans), keep, types, scores, probabilities, pairs, relation_keep, relation_scores,
                relation_probabilities]



def piece_ranges(word_starts: np.ndarray, word_ends: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """[B, N, 2] word spans -> piece ranges (first word's first piece, last word's end), as
    SpERTMT.piece_ranges."""
    if word_starts.shape[1] == 0:
        return np.zeros_like(spans)
    last = word_starts.shape[1] - 1
    first_word = np.clip(spans[..., 0], 0, last)
    last_word = np.clip(spans[..., 1] - 1, 0, last)
    starts = np.take_along_axis(word_starts, first_word, 1)
    ends = np.maximum(np.take_along_axis(word_ends, last_word, 1), starts)
    return np.stack([starts, ends], -1)


def pair_context_ranges(head: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """Pieces strictly between two ranges, empty when they touch or overlap (ops.reference)."""
    start = np.minimum(head[..., 1], tail[..., 1])
    end = np.maximum(np.maximum(head[..., 0], tail[..., 0]), start)
    return np.stack([start, end], -1)


def enumerated_max_pool(hidden: np.ndarray, word_starts: np.ndarray, word_ends: np.ndarray,
                        max_width: int) -> np.ndarray:
    """[B, S, H]: max_pool over every candidate span of `data.encoding.candidate_spans(W, max_width)`, in its order
    (ops.enumerate_span_max_pool), computed from each word's maximum: a span's pieces are its words'
    pieces, so the span of width w starting at i is the maximum of the one of width w - 1 and word
    i + w - 1 (exact: a maximum does not depend on the order it is taken in)."""
    words = word_maxima(hidden, word_starts, word_ends)
    B, W, H = words.shape
    counts = [W - w + 1 for w in range(1, min(max_width, W) + 1)]  # spans of each width
    pooled = np.empty((B, sum(counts), H), dtype=words.dtype)
    empty = np.empty((B, sum(counts)), dtype=bool)  # spans of words without pieces: zeros
    pooled[:, :W], empty[:, :W] = words, word_ends[:, :W] <= word_starts[:, :W]
    start = 0  # the spans one word shorter
    for w, count in enumerate(counts[1:], 2):
        shorter, start = slice(start, start + count), start + count + 1
        np.maximum(pooled[:, shorter], words[:, w - 1:], out=pooled[:, start:start + count])
        np.logical_and(empty[:, shorter], empty[:, w - 1:W], out=empty[:, start:start + count])
    pooled[empty] = 0
    return pooled


# words of at most this many pieces are pooled by gathering piece by piece (word_maxima), longer ones
# by max_pool's one pass
GATHERED_PIECES = 8


def word_maxima(hidden: np.ndarray, word_starts: np.ndarray, word_ends: np.ndarray) -> np.ndarray:
    """[B, W, H]: each word's maximum over its pieces, -inf for a word without pieces. Most words are
    one or two pieces: the k-th piece of every word at once (its last piece where it has fewer: a
    maximum does not mind repeats), k up to the longest word, is many times faster than max_pool
    over such batches."""
    longest = int((word_ends - word_starts).max(initial=0))
    if longest > GATHERED_PIECES:
        return max_pool(hidden, np.stack([word_starts, word_ends], -1), empty=-np.inf)
    rows = np.arange(hidden.shape[0])[:, None]
    last = np.maximum(word_ends - 1, word_starts)
    words = hidden[rows, np.minimum(word_starts, hidden.shape[1] - 1)]
    for k in range(1, longest):
        np.maximum(words, hidden[rows, np.minimum(word_starts + k, last)], out=words)
    words[word_ends <= word_starts] = -np.inf
    return words


def max_pool(hidden: np.ndarray, ranges: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """[B, N, H]: the maximum of hidden[b, start:end] over each range of [B, N, 2], `empty` for an
    empty range (zeros: ops.span_max_pool). One numpy maximum per range: numpy's maximum.reduceat
    over the rows of the flattened pieces does all ranges in one call but was several times slower
    for the hundreds of pairs' contexts of a batch."""
    B, T, H = hidden.shape
    N = ranges.shape[1]
    flat = hidden.reshape(B * T, H)
    offset = (np.arange(B) * T)[:, None]
    lo, hi = (ranges[..., 0] + offset).reshape(-1), (ranges[..., 1] + offset).reshape(-1)
    pooled = np.full((B * N, H), empty, dtype=hidden.dtype)
    rows = np.flatnonzero(lo < hi)  # the ranges that hold pieces
    for row, start, end in zip(rows.tolist(), lo[rows].tolist(), hi[rows].tolist()):
        np.max(flat[start:end], axis=0, out=pooled[row])
    return pooled.reshape(B, N, H)


def ordered_pairs(keep: np.ndarray):
    """All ordered pairs (i, j), i != j, of the kept rows of each document, head-major over the kept
    rows in their order (SpERTMT's ordered_pairs): ([B, P, 2] pairs, [B, P] mask, (document, head,
    tail, slot) each [N])."""
    B = keep.shape[0]
    per_doc = [np.flatnonzero(keep[b]) for b in range(B)]
    lists = [[(i, j) for i in rows for j in rows if i != j] for rows in per_doc]
    P = max((len(x) for x in lists), default=0)
    pairs = np.zeros((B, P, 2), dtype=np.int64)
    mask = np.zeros((B, P), dtype=bool)
    doc, head, tail, slot = [], [], [], []
    for b, found in enumerate(lists):
        if found:
            pairs[b, : len(found)] = found
            mask[b, : len(found)] = True
            doc += [b] * len(found)
            head += [i for i, _ in found]
            tail += [j for _, j in found]
            slot += list(range(len(found)))
    return pairs, mask, tuple(np.array(x, dtype=np.int64) for x in (doc, head, tail, slot))
