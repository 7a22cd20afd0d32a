"""Pure-PyTorch fallbacks of the spertmt ops, with the native kernels' semantics.

Each function takes the same arguments and returns the same tensors as `torch.ops.spertmt.<op>`,
so the tests can compare the two directly; the public wrappers in `spertmt.ops` use these when
the kernels are not built, not available for the device, or disabled.

Semantics shared with the kernels (csrc/spertmt.cpp):
- ranges are [start, end), end exclusive; 0 <= start <= end <= limit is checked;
- a max keeps the first maximum (lowest index) on ties and the first NaN if there is one; the
  gradient flows to that one position; an empty range pools to 0 with arg-max -1.

Memory stays O(S * H): the pooling loops over piece offsets within the ranges (the longest range
sets the number of steps) instead of building SpERT's [B, S, T, H] masked tensor.
"""

from __future__ import annotations

import torch
from torch import Tensor

_FLOAT_DTYPES = (torch.float32, torch.float64, torch.bfloat16)


# --------------------------------------------------------------------------------------------
# Checks (same conditions and wording as csrc/checks.h)


def _check(cond: bool, op: str, message: str) -> None:
    if not cond:
        raise RuntimeError(f"spertmt.{op}: {message}")


def _check_dim(t: Tensor, dim: int, op: str, name: str, shape: str) -> None:
    _check(t.dim() == dim, op, f"`{name}` has {t.dim()} dimensions, expected {dim} ({shape})")


def _check_floating(t: Tensor, op: str, name: str) -> None:
    _check(t.dtype in _FLOAT_DTYPES, op,
           f"`{name}` has dtype {t.dtype}, expected float32, float64 or bfloat16")


def _check_index(t: Tensor, op: str, name: str) -> None:
    _check(t.dtype in (torch.int64, torch.int32), op,
           f"`{name}` has dtype {t.dtype}, expected int64 (or int32)")


def _check_batched_index(hidden: Tensor, t: Tensor, dim: int, op: str, name: str, shape: str) -> None:
    _check_dim(t, dim, op, name, shape)
    _check_index(t, op, name)
    _check(t.device == hidden.device, op, f"`{name}` is on {t.device} but `hidden` is on {hidden.device}")
    _check(t.shape[0] == hidden.shape[0], op,
           f"`{name}` has size {t.shape[0]} in dimension 0 but the batch size of `hidden` is {hidden.shape[0]}")


def _check_ranges(starts: Tensor, ends: Tensor, limit: int | None, op: str, starts_name: str,
                  ends_name: str, limit_name: str) -> None:
    if starts.numel() == 0:
        return
    bad = (starts < 0) | (ends < starts)
    if limit is not None:
        bad |= ends > limit
    if not bool(bad.any()):
        return
    first = int(bad.reshape(-1).nonzero()[0, 0])
    s, e = int(starts.reshape(-1)[first]), int(ends.reshape(-1)[first])
    why = "the range is reversed" if e < s else "out of bounds"
    raise RuntimeError(
        f"spertmt.{op}: range {first} (flattened) is [{s}, {e}) from `{starts_name}` and "
        f"`{ends_name}`; ranges must satisfy 0 <= start <= end <= {limit_name} = {limit} ({why})"
    )


def _check_hidden(hidden: Tensor, op: str) -> None:
    _check_dim(hidden, 3, op, "hidden", "[B, T, H]")
    _check_floating(hidden, op, "hidden")


# --------------------------------------------------------------------------------------------
# Pooling


def _pool_ranges(hidden: Tensor, starts: Tensor, ends: Tensor, with_argmax: bool):
    """Max over hidden[b, starts[b, s]:ends[b, s]] for validated ranges -> (out, argmax)."""
    B, T, H = hidden.shape
    S = starts.shape[1]
    starts, ends = starts.long(), ends.long()
    with torch.no_grad():
        best = hidden.new_zeros(B, S, H)
        idx = torch.full((B, S, H), -1, dtype=torch.long, device=hidden.device)
        longest = int((ends - starts).max()) if starts.numel() else 0
        for k in range(longest):
            pos = starts + k  # [B, S]
            inside = (pos < ends).unsqueeze(-1)
            pos_h = pos.clamp(max=T - 1).unsqueeze(-1).expand(B, S, H)
            v = hidden.gather(1, pos_h)
            take = inside & ((idx < 0) | (v > best) | (v.isnan() & ~best.isnan()))
            best = torch.where(take, v, best)
            idx = torch.where(take, pos_h, idx)
    found = idx >= 0
    # Gather again outside no_grad so that autograd routes the gradient to the arg-max only.
    out = hidden.gather(1, idx.clamp(min=0)) if T > 0 else hidden.new_zeros(B, S, H)
    out = torch.where(found, out, out.new_zeros(()))
    argmax = idx if with_argmax else torch.empty(0, dtype=torch.long, device=hidden.device)
    return out, argmax


def span_max_pool(hidden: Tensor, starts: Tensor, ends: Tensor, with_argmax: bool = True):
    op = "span_max_pool"
    _check_hidden(hidden, op)
    _check_batched_index(hidden, starts, 2, op, "starts", "[B, S]")
    _check_batched_index(hidden, ends, 2, op, "ends", "[B, S]")
    _check(ends.shape[1] == starts.shape[1], op,
           f"`ends` has size {ends.shape[1]} in dimension 1 but the number of spans in `starts` is {starts.shape[1]}")
    _check_ranges(starts, ends, hidden.shape[1], op, "starts", "ends", "hidden.size(1)")
    return _pool_ranges(hidden, starts, ends, with_argmax)


def pair_context_ranges(head_ranges: Tensor, tail_ranges: Tensor) -> tuple[Tensor, Tensor]:
    """Pieces strictly between two ranges: [min(ends), max(starts)), empty when they touch or overlap."""
    start = torch.minimum(head_ranges[..., 1], tail_ranges[..., 1])
    end = torch.maximum(torch.maximum(head_ranges[..., 0], tail_ranges[..., 0]), start)
    return start, end


def pair_context_max_pool(hidden: Tensor, head_ranges: Tensor, tail_ranges: Tensor,
                          with_argmax: bool = True):
    op = "pair_context_max_pool"
    _check_hidden(hidden, op)
    _check_batched_index(hidden, head_ranges, 3, op, "head_ranges", "[B, P, 2]")
    _check_batched_index(hidden, tail_ranges, 3, op, "tail_ranges", "[B, P, 2]")
    _check(head_ranges.shape[2] == 2, op, "`head_ranges` must end in a (start, end) dimension of size 2")
    _check(tail_ranges.shape[2] == 2, op, "`tail_ranges` must end in a (start, end) dimension of size 2")
    _check(tail_ranges.shape[1] == head_ranges.shape[1], op,
           f"`tail_ranges` has size {tail_ranges.shape[1]} in dimension 1 but the number of pairs in "
           f"`head_ranges` is {head_ranges.shape[1]}")
    T = hidden.shape[1]
    _check_ranges(head_ranges[..., 0], head_ranges[..., 1], T, op, "head_ranges[..., 0]",
                  "head_ranges[..., 1]", "hidden.size(1)")
    _check_ranges(tail_ranges[..., 0], tail_ranges[..., 1], T, op, "tail_ranges[..., 0]",
                  "tail_ranges[..., 1]", "hidden.size(1)")
    start, end = pair_context_ranges(head_ranges.long(), tail_ranges.long())
    return _pool_ranges(hidden, start, end, with_argmax)


def enumerate_spans(num_words: int, max_width: int, device=None) -> Tensor:
    """All word spans [start, end) of width 1..max_width, width-major then start (SpERT's order)."""
    spans = [(i, i + w) for w in range(1, min(max_width, num_words) + 1) for i in range(num_words - w + 1)]
    return torch.tensor(spans, dtype=torch.long, device=device).reshape(-1, 2)


def enumerate_span_max_pool(hidden: Tensor, word_starts: Tensor, word_ends: Tensor, num_words: Tensor,
                            max_width: int, with_argmax: bool = True):
    op = "enumerate_span_max_pool"
    _check_hidden(hidden, op)
    _check_batched_index(hidden, word_starts, 2, op, "word_starts", "[B, W]")
    _check_batched_index(hidden, word_ends, 2, op, "word_ends", "[B, W]")
    _check_batched_index(hidden, num_words, 1, op, "num_words", "[B]")
    _check(word_ends.shape[1] == word_starts.shape[1], op,
           f"`word_ends` has size {word_ends.shape[1]} in dimension 1 but the number of words in "
           f"`word_starts` is {word_starts.shape[1]}")
    _check(max_width >= 1, op, f"`max_width` is {max_width}, expected >= 1")
    B, W = word_starts.shape
    num_words = num_words.long()
    _check(not bool(((num_words < 0) | (num_words > W)).any()), op,
           f"`num_words` must lie in [0, W] with W = word_starts.size(1) = {W}")
    real = torch.arange(W, device=hidden.device).unsqueeze(0) < num_words.unsqueeze(1)
    ws = torch.where(real, word_starts.long(), 0)
    we = torch.where(real, word_ends.long(), 0)
    _check_ranges(ws, we, hidden.shape[1], op, "word_starts", "word_ends", "hidden.size(1)")
    if W > 1:
        unordered = real[:, 1:] & (ws[:, 1:] < we[:, :-1])
        _check(not bool(unordered.any()), op,
               "words must be in order: `word_starts[b, w + 1]` must be >= `word_ends[b, w]`")

    spans = enumerate_spans(W, max_width, hidden.device)  # [S, 2]
    mask = spans[:, 1].unsqueeze(0) <= num_words.unsqueeze(1)  # [B, S]
    # A span covers its first word's first piece to its last word's last piece; spans that run
    # into padding become empty ranges (pooled to 0).
    first = ws[:, spans[:, 0]] if W else ws.new_zeros(B, 0)
    last = we[:, spans[:, 1] - 1] if W else ws.new_zeros(B, 0)
    starts = torch.where(mask, first, 0)
    ends = torch.where(mask, torch.maximum(last, first), 0)
    out, argmax = _pool_ranges(hidden, starts, ends, with_argmax)
    return out, argmax, spans, mask


def max_pool_backward(grad_out: Tensor, argmax: Tensor, num_pieces: int) -> Tensor:
    """grad_hidden[b, argmax[b, s, h], h] += grad_out[b, s, h] (arg-max -1: nothing)."""
    B, S, H = grad_out.shape
    grad = grad_out.new_zeros(B, num_pieces + 1, H)  # slot num_pieces collects the empty ranges
    index = torch.where(argmax >= 0, argmax, num_pieces)
    grad.scatter_add_(1, index, grad_out)
    return grad[:, :num_pieces]


# --------------------------------------------------------------------------------------------
# Losses


def span_en_iou(candidate_spans: Tensor, gold_spans: Tensor, gold_mask: Tensor) -> Tensor:
    """ENIoU = max over gold spans of IoU, for [start, end) word spans; 0 with no gold span. [B, S]."""
    op = "span_en_iou"
    _check_dim(candidate_spans, 3, op, "candidate_spans", "[B, S, 2]")
    _check_dim(gold_spans, 3, op, "gold_spans", "[B, G, 2]")
    _check_dim(gold_mask, 2, op, "gold_mask", "[B, G]")
    _check(gold_mask.dtype == torch.bool, op, f"`gold_mask` has dtype {gold_mask.dtype}, expected bool")
    _check(gold_spans.shape[0] == candidate_spans.shape[0], op,
           "`gold_spans` and `candidate_spans` have different batch sizes")
    _check(tuple(gold_mask.shape) == tuple(gold_spans.shape[:2]), op,
           "`gold_mask` must have the shape [B, G] of `gold_spans`")
    _check_ranges(candidate_spans[..., 0], candidate_spans[..., 1], None, op,
                  "candidate_spans[..., 0]", "candidate_spans[..., 1]", "int64 max")
    _check_ranges(torch.where(gold_mask, gold_spans[..., 0], 0), torch.where(gold_mask, gold_spans[..., 1], 0),
                  None, op, "gold_spans[..., 0]", "gold_spans[..., 1]", "int64 max")
    c = candidate_spans.long().unsqueeze(2)  # [B, S, 1, 2]
    g = gold_spans.long().unsqueeze(1)  # [B, 1, G, 2]
    inter = torch.minimum(c[..., 1], g[..., 1]) - torch.maximum(c[..., 0], g[..., 0])
    union = torch.maximum(c[..., 1], g[..., 1]) - torch.minimum(c[..., 0], g[..., 0])
    iou = torch.where(inter > 0, inter.float() / union.clamp(min=1).float(), 0.0)
    iou = torch.where(gold_mask.unsqueeze(1), iou, 0.0)
    return iou.amax(dim=2) if iou.shape[2] else iou.new_zeros(iou.shape[:2])


def iou_scaled_bce(logits: Tensor, targets: Tensor, en_iou: Tensor, delta: float) -> Tensor:
    """Per-sample -q(1-d) log p - d(1-q)(1+ENIoU) log(1-p), p = sigmoid(logits)."""
    op = "iou_scaled_bce"
    for t, name in ((logits, "logits"), (targets, "targets"), (en_iou, "en_iou")):
        _check_floating(t, op, name)
    _check(targets.shape == logits.shape, op,
           f"`targets` has shape {list(targets.shape)} but `logits` has shape {list(logits.shape)}")
    _check(en_iou.shape == logits.shape, op,
           f"`en_iou` has shape {list(en_iou.shape)} but `logits` has shape {list(logits.shape)}")
    _check(0.0 <= delta <= 1.0, op, f"`delta` is {delta}, expected a weight in [0, 1]")
    x = logits.float() if logits.dtype == torch.bfloat16 else logits
    q, u = targets.to(x.dtype), en_iou.to(x.dtype)
    F = torch.nn.functional
    loss = q * (1 - delta) * F.softplus(-x) + delta * (1 - q) * (1 + u) * F.softplus(x)
    return loss.to(logits.dtype)


def ranking_loss(scores: Tensor, gold: Tensor, m_pos: float, m_neg: float, gamma: float) -> Tensor:
    """Per-sample pairwise ranking loss; `gold` is a [N, C] bool multi-hot (none = all false)."""
    op = "ranking_loss"
    _check_dim(scores, 2, op, "scores", "[N, C]")
    _check_floating(scores, op, "scores")
    _check(gold.dtype == torch.bool, op, f"`gold` has dtype {gold.dtype}, expected bool [N, C]")
    _check(gold.shape == scores.shape, op,
           f"`gold` has shape {list(gold.shape)} but `scores` has shape {list(scores.shape)}")
    s = scores.float() if scores.dtype == torch.bfloat16 else scores
    F = torch.nn.functional
    pos = torch.where(gold, F.softplus(gamma * (m_pos - s)), 0.0).sum(-1)
    has_wrong = ~gold.all(-1) if gold.shape[1] else torch.zeros_like(pos, dtype=torch.bool)
    if s.shape[1] == 0:
        return pos.to(scores.dtype)
    with torch.no_grad():  # highest-scoring non-gold class; first on ties, NaN wins
        masked = s.masked_fill(gold, float("-inf"))
        masked = torch.where(masked.isnan(), float("inf"), masked)
        wrong = masked.argmax(-1, keepdim=True)
    neg = F.softplus(gamma * (m_neg + s.gather(1, wrong).squeeze(1)))
    return (pos + torch.where(has_wrong, neg, 0.0)).to(scores.dtype)


def adamw_no_bias_correction_(params, grads, exp_avgs, exp_avg_sqs, lr: float, beta1: float, beta2: float,
                              eps: float, weight_decay: float) -> None:
    """SpERT's AdamW step with torch's foreach ops (the update of transformers.AdamW(correct_bias=False))."""
    if not params:
        return
    torch._foreach_mul_(exp_avgs, beta1)
    torch._foreach_add_(exp_avgs, grads, alpha=1.0 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - beta2)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_add_(denom, eps)
    torch._foreach_addcdiv_(params, exp_avgs, denom, value=-lr)
    if weight_decay > 0.0:
        torch._foreach_mul_(params, 1.0 - lr * weight_decay)
