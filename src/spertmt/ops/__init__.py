"""Span and loss operators of SpERT.MT, native (C++/CUDA) where built, pure PyTorch otherwise.

This module is the one place that chooses between the compiled kernels (`torch.ops.spertmt.*`)
and the fallbacks (`spertmt.ops.reference`): per device type, once, at import. Both compute the
same values and gradients. Set `SPERTMT_DISABLE_NATIVE=1` before importing to force the fallbacks.

Ranges are [start, end) with end exclusive. Max-pooling keeps the first maximum (lowest piece
index) on ties and sends the whole gradient there; an empty range pools to zeros.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import Tensor

from . import _native, reference
from ._native import FallbackWarning

__all__ = [
    "EnumeratedSpans",
    "FallbackWarning",
    "adamw_no_bias_correction_",
    "enumerate_span_max_pool",
    "iou_scaled_bce",
    "native_available",
    "native_load_error",
    "native_library",
    "native_load_source",
    "pair_context_max_pool",
    "ranking_loss",
    "span_en_iou",
    "span_max_pool",
]

DEVICES = ("cpu", "cuda")
# Per op and device: the op runs natively when it has a kernel there and so has the op its
# backward calls (a library built without some kernel falls back for that op alone).
_NATIVE = {(op, device): _native.has_kernel(op, device) and _native.has_kernel(_native.BACKWARD.get(op, op), device)
           for op in _native.OPS for device in DEVICES}
# The optimizer's fused step exists for the CPU only (torch's foreach ops elsewhere, by design).
_MODEL_OPS = tuple(op for op in _native.OPS if op != "adamw_no_bias_correction_")


def native_available(device_type: str = "cpu", op: str | None = None) -> bool:
    """Whether the compiled kernels are in use for `device_type` ("cpu" or "cuda"): for one `op`,
    or (None) for every op the model runs."""
    return all(_NATIVE.get((name, str(device_type)), False) for name in ((op,) if op else _MODEL_OPS))


@contextlib.contextmanager
def fallbacks_only() -> Iterator[None]:
    """Within the block every op runs its pure-PyTorch fallback, as without the compiled kernels
    (benchmarks and checks compare the two in one process); the kernels are back after it."""
    saved = dict(_NATIVE)
    _NATIVE.update(dict.fromkeys(_NATIVE, False))
    try:
        yield
    finally:
        _NATIVE.update(saved)


def native_load_error() -> str | None:
    """Why the compiled kernels were not loaded, or None when they were."""
    return _native.load_error()


def native_library() -> str | None:
    """The loaded kernels' library file (spertmt.ops.device_code reads its GPU code), None when unknown."""
    return _native.library_path()


def native_load_source() -> str | None:
    """Where the loaded kernels came from (the prebuilt library, SPERTMT_LIBRARY, a just-in-time
    build), or None when the fallbacks run."""
    return _native.load_source()


def _native_for(t: Tensor, op: str) -> bool:
    return _NATIVE.get((op, t.device.type), False)


def _needs_argmax(hidden: Tensor) -> bool:
    return hidden.requires_grad and torch.is_grad_enabled()


def span_max_pool(hidden: Tensor, starts: Tensor, ends: Tensor) -> Tensor:
    """Max-pools piece ranges.

    Args:
        hidden: (B, T, H) float32, float64 or bfloat16 piece embeddings.
        starts: (B, S) int64 first piece of each span.
        ends: (B, S) int64 one past the last piece; `ends == starts` is an empty span.

    Returns:
        (B, S, H): the max over hidden[b, starts[b, s]:ends[b, s]]; zeros for empty spans.
    """
    if _native_for(hidden, "span_max_pool"):
        return torch.ops.spertmt.span_max_pool(hidden, starts, ends, _needs_argmax(hidden))[0]
    return reference.span_max_pool(hidden, starts, ends, _needs_argmax(hidden))[0]


class EnumeratedSpans(NamedTuple):
    """Result of `enumerate_span_max_pool`."""

    pooled: Tensor
    """(B, S, H) max over each span's pieces; zeros where `mask` is false."""
    spans: Tensor
    """(S, 2) word range [start, end) of each span, width-major then start (SpERT's order)."""
    mask: Tensor
    """(B, S) bool: the span lies inside the document (end <= num_words[b])."""


def enumerate_span_max_pool(hidden: Tensor, word_starts: Tensor, word_ends: Tensor, num_words: Tensor,
                            max_width: int) -> EnumeratedSpans:
    """Pools every word span of width 1..max_width at once, without masks.

    A span of words i..j covers pieces word_starts[i] to word_ends[j]; it is grown one word at a
    time, so the cost is O(B * W * pieces-per-span-start * H) and memory O(S * H).

    Args:
        hidden: (B, T, H) piece embeddings.
        word_starts, word_ends: (B, W) int64 piece range of each word, words in order.
        num_words: (B,) int64 real words per document (the rest of W is padding).
        max_width: the longest span, in words.
    """
    args = (hidden, word_starts, word_ends, num_words, int(max_width), _needs_argmax(hidden))
    if _native_for(hidden, "enumerate_span_max_pool"):
        pooled, _, spans, mask = torch.ops.spertmt.enumerate_span_max_pool(*args)
    else:
        pooled, _, spans, mask = reference.enumerate_span_max_pool(*args)
    return EnumeratedSpans(pooled, spans, mask)


def pair_context_max_pool(hidden: Tensor, head_ranges: Tensor, tail_ranges: Tensor) -> Tensor:
    """Max-pools the pieces strictly between the head and the tail of each ordered pair.

    Args:
        hidden: (B, T, H) piece embeddings.
        head_ranges, tail_ranges: (B, P, 2) int64 piece ranges [start, end) of the two spans.

    Returns:
        (B, P, H); zeros where nothing lies between (adjacent or overlapping spans).
    """
    if _native_for(hidden, "pair_context_max_pool"):
        return torch.ops.spertmt.pair_context_max_pool(hidden, head_ranges, tail_ranges,
                                                       _needs_argmax(hidden))[0]
    return reference.pair_context_max_pool(hidden, head_ranges, tail_ranges, _needs_argmax(hidden))[0]


def span_en_iou(candidate_spans: Tensor, gold_spans: Tensor, gold_mask: Tensor | None = None) -> Tensor:
    """ENIoU of each candidate: the max IoU with any gold span, 0 when there is none (no gradient).

    Args:
        candidate_spans: (B, S, 2) int64 word ranges [start, end).
        gold_spans: (B, G, 2) int64 gold entity word ranges.
        gold_mask: (B, G) bool, which gold rows are real (default: all).

    Returns:
        (B, S) float32.
    """
    if gold_mask is None:
        gold_mask = torch.ones(gold_spans.shape[:2], dtype=torch.bool, device=gold_spans.device)
    if _native_for(candidate_spans, "span_en_iou"):
        return torch.ops.spertmt.span_en_iou(candidate_spans, gold_spans, gold_mask)
    return reference.span_en_iou(candidate_spans, gold_spans, gold_mask)


def _reduce(per_sample: Tensor, mask: Tensor | None, reduction: str) -> Tensor:
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"reduction must be 'none', 'sum' or 'mean', not {reduction!r}")
    if mask is not None:
        if mask.shape != per_sample.shape:
            raise ValueError(f"mask has shape {list(mask.shape)}, expected {list(per_sample.shape)}")
        per_sample = per_sample * mask.to(per_sample.dtype)
    if reduction == "none":
        return per_sample
    total = per_sample.sum()
    if reduction == "sum":
        return total
    count = mask.sum() if mask is not None else torch.tensor(per_sample.numel(), device=total.device)
    return total / count.clamp(min=1).to(total.dtype)


def iou_scaled_bce(logits: Tensor, targets: Tensor, en_iou: Tensor, delta: float = 0.25,
                   mask: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """IoU-scaled binary cross-entropy of SpERT.MT's entity identification (docs/method.md).

    loss = -q (1 - delta) log p - delta (1 - q) (1 + ENIoU) log(1 - p), p = sigmoid(logits).

    Args:
        logits: (...) identification logits.
        targets: (...) 1 for an entity, 0 otherwise (soft targets allowed).
        en_iou: (...) ENIoU of each span (from `span_en_iou`).
        delta: the weight δ (0.25 in the paper).
        mask: (...) bool, real samples (padding excluded from sums and counts).
        reduction: "none" (per sample, masked to 0), "sum", or "mean" over the real samples.
    """
    if _native_for(logits, "iou_scaled_bce"):
        per_sample = torch.ops.spertmt.iou_scaled_bce(logits, targets, en_iou, float(delta))
    else:
        per_sample = reference.iou_scaled_bce(logits, targets, en_iou, float(delta))
    return _reduce(per_sample, mask, reduction)


def ranking_loss(scores: Tensor, labels: Tensor, m_pos: float = 2.5, m_neg: float = 0.5,
                 gamma: float = 2.0, mask: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """Pairwise ranking loss (Santos et al. 2015) over class scores (docs/method.md).

    Per sample: log(1 + exp(gamma (m_pos - s_y))) for each gold class y, plus
    log(1 + exp(gamma (m_neg + max_{c not gold} s_c))); a sample with no class gets the second
    term only.

    Args:
        scores: (..., C) class scores (no "none" class).
        labels: (...) int64 class index, -1 for none; or (..., C) bool multi-hot for samples with
            several gold classes.
        mask: (...) bool, real samples.
        reduction: "none", "sum", or "mean" over the real samples.
    """
    C = scores.shape[-1]
    if labels.dtype == torch.bool:
        gold = labels
    else:
        if labels.shape != scores.shape[:-1]:
            raise ValueError(f"labels has shape {list(labels.shape)}, expected {list(scores.shape[:-1])} "
                             "(class indices) or the shape of scores (a bool multi-hot)")
        checkable = labels.device.type == "cpu" and not torch.compiler.is_compiling()
        if checkable and labels.numel() and bool(((labels < -1) | (labels >= C)).any()):
            raise ValueError(f"labels must be -1 (none) or a class index in [0, {C})")
        # A comparison rather than one_hot: no host synchronisation on a GPU; -1 matches nothing.
        gold = labels.unsqueeze(-1) == torch.arange(C, device=labels.device)
    if gold.shape != scores.shape:
        raise ValueError(f"gold multi-hot has shape {list(gold.shape)}, expected {list(scores.shape)}")
    if C == 0:  # no class (data without relation types): the max over no class is -inf, each term 0
        return _reduce(scores.sum(-1) * 0, mask, reduction)
    flat_scores, flat_gold = scores.reshape(-1, C), gold.reshape(-1, C)
    if _native_for(scores, "ranking_loss"):
        per_sample = torch.ops.spertmt.ranking_loss(flat_scores, flat_gold, float(m_pos), float(m_neg),
                                                    float(gamma))
    else:
        per_sample = reference.ranking_loss(flat_scores, flat_gold, float(m_pos), float(m_neg), float(gamma))
    return _reduce(per_sample.reshape(scores.shape[:-1]), mask, reduction)


def adamw_no_bias_correction_(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                              exp_avg_sqs: list[Tensor], lr: float, beta1: float, beta2: float, eps: float,
                              weight_decay: float) -> None:
    """One step of SpERT's AdamW (no bias correction, weight decay after the update), in place:

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g²;  p -= lr m / (sqrt(v) + eps);  p -= lr wd p

    One fused pass per tensor on the CPU (float32/float64, contiguous); torch's foreach kernels
    otherwise (CUDA, other dtypes, or without the compiled library).
    """
    native = (_NATIVE[("adamw_no_bias_correction_", "cpu")] and bool(params) and all(
        p.device.type == "cpu" and p.dtype in (torch.float32, torch.float64) and p.is_contiguous()
        for p in params))
    if native:
        torch.ops.spertmt.adamw_no_bias_correction_(params, grads, exp_avgs, exp_avg_sqs, float(lr), float(beta1),
                                                    float(beta2), float(eps), float(weight_decay))
    else:
        reference.adamw_no_bias_correction_(params, grads, exp_avgs, exp_avg_sqs, lr, beta1, beta2, eps,
                                            weight_decay)
