"""The training losses of both heads, in every mode (SPEC.md, "Multi-task heads" and "Baseline").

Each function takes a head's outputs over its samples ([B, N, ...]) with the sample mask and
returns a scalar normalised by the number of real samples, as SpERT does.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from .. import ops


def _masked_mean(per_sample: Tensor, mask: Tensor) -> Tensor:
    """Sum over the real samples / their number. Under DistributedDataParallel the number is that
    of the whole global batch, scaled by the world size: DDP's gradient average then equals the
    gradient of one process that saw the whole batch."""
    count = mask.sum()
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        count = count.detach().clone()
        dist.all_reduce(count)
        return (per_sample * mask).sum() / (count.clamp(min=1) / dist.get_world_size())
    return (per_sample * mask).sum() / count.clamp(min=1)


def multitask_loss(ident_logits: Tensor, scores: Tensor, labels: Tensor, mask: Tensor, *, alpha: float,
                   beta: float, m_pos: float, m_neg: float, gamma: float,
                   en_iou: Tensor | None = None, delta: float = 0.25) -> Tensor:
    """alpha * identification + beta * ranking over one head's samples.

    Identification: the IoU-scaled BCE when `en_iou` is given (entities), else plain BCE
    (relations, and entities under -EIL). Ranking: over the gold classes in `labels` ([B, N, C] bool).
    """
    # Losses in float32 whatever the autocast dtype (the fused ops take fp32, fp64 and bf16 only).
    ident_logits, scores = ident_logits.float(), scores.float()
    target = labels.any(-1).to(ident_logits.dtype)
    if en_iou is not None:
        ident = ops.iou_scaled_bce(ident_logits, target, en_iou.to(ident_logits.dtype), delta, reduction="none")
    else:
        ident = F.binary_cross_entropy_with_logits(ident_logits, target, reduction="none")
    ranking = ops.ranking_loss(scores, labels, m_pos, m_neg, gamma, reduction="none")
    return alpha * _masked_mean(ident, mask) + beta * _masked_mean(ranking, mask)


def none_class_cross_entropy(logits: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
    """Softmax cross-entropy over [none, class 1, ...] (SpERT's entity loss, and -MTL's).

    A sample with several gold classes takes the first one (a softmax has one answer).
    """
    has_class = labels.any(-1)
    target = torch.where(has_class, labels.to(torch.uint8).argmax(-1) + 1, 0)
    per_sample = F.cross_entropy(logits.flatten(0, -2).float(), target.flatten(), reduction="none")
    return _masked_mean(per_sample.view(target.shape), mask)


def multilabel_bce(logits: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
    """SpERT's relation loss: sigmoid BCE per type, averaged over types, then over samples."""
    per_type = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none")
    return _masked_mean(per_type.mean(-1), mask)
