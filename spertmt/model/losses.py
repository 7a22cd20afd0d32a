"""The training losses of both heads, in every mode (SPEC.md, "Multi-task heads" and "Baseline").

Each function takes a head's outputs over its samples ([B, N, ...]) with the sample mask and
returns a scalar: by default normalised by the number of real samples, as SpERT does
(`reduction="mean"`), or their plain sum, the paper's Σ (`reduction="sum"`).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from .. import ops


def _reduce(per_sample: Tensor, mask: Tensor, reduction: str = "mean") -> Tensor:
    """Sum over the real samples, divided by their number for "mean". Under DistributedDataParallel
    the number is that of the whole global batch, scaled by the world size (and a sum is scaled by
    the world size): DDP's gradient average then equals the gradient of one process that saw the
    whole batch."""
    total = (per_sample * mask).sum()
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    if reduction == "sum":
        return total * world
    count = mask.sum()
    if world > 1:
        count = count.detach().clone()
        dist.all_reduce(count)
        return total / (count.clamp(min=1) / world)
    return total / count.clamp(min=1)


def multitask_loss(ident_logits: Tensor, scores: Tensor, labels: Tensor, mask: Tensor, *, alpha: float,
                   beta: float, m_pos: float, m_neg: float, gamma: float,
                   en_iou: Tensor | None = None, delta: float = 0.25, reduction: str = "mean",
                   negative_weight: float = 1.0, separate: bool = False) -> Tensor:
    """alpha * identification + beta * ranking over one head's samples.

    Identification: the IoU-scaled BCE when `en_iou` is given (entities), else plain BCE
    (relations, and entities under -EIL). Ranking: over the gold classes in `labels` ([B, N, C]
    bool); the samples with no gold class weigh `negative_weight`, and with `separate` the
    positives' and the negatives' ranking losses are averaged apart and added (both beyond the
    paper: config keys negative_ranking_weight and ranking_average).
    """
    # Losses in float32 whatever the autocast dtype (the fused ops take fp32, fp64 and bf16 only).
    ident_logits, scores = ident_logits.float(), scores.float()
    positive = labels.any(-1)
    target = positive.to(ident_logits.dtype)
    if en_iou is not None:
        ident = ops.iou_scaled_bce(ident_logits, target, en_iou.to(ident_logits.dtype), delta, reduction="none")
    else:
        ident = F.binary_cross_entropy_with_logits(ident_logits, target, reduction="none")
    ranking = ops.ranking_loss(scores, labels, m_pos, m_neg, gamma, reduction="none")
    if separate:
        ranking_loss = (_reduce(ranking, mask * target, "mean")
                        + negative_weight * _reduce(ranking, mask * (1 - target), "mean"))
    else:
        if negative_weight != 1.0:
            ranking = ranking * torch.where(positive, 1.0, negative_weight)
        ranking_loss = _reduce(ranking, mask, reduction)
    return alpha * _reduce(ident, mask, reduction) + beta * ranking_loss


def none_class_cross_entropy(logits: Tensor, labels: Tensor, mask: Tensor, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy over [none, class 1, ...] (SpERT's entity loss, and -MTL's).

    A sample with several gold classes takes the first one (a softmax has one answer).
    """
    has_class = labels.any(-1)
    target = torch.where(has_class, labels.to(torch.uint8).argmax(-1) + 1, 0)
    per_sample = F.cross_entropy(logits.flatten(0, -2).float(), target.flatten(), reduction="none")
    return _reduce(per_sample.view(target.shape), mask, reduction)


def multilabel_bce(logits: Tensor, labels: Tensor, mask: Tensor, reduction: str = "mean") -> Tensor:
    """SpERT's relation loss: sigmoid BCE per type, averaged over types, then over samples."""
    per_type = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none")
    return _reduce(per_type.mean(-1), mask, reduction)
