"""The training losses of both heads, in every mode (docs/method.md, "Multi-task heads" and "Baseline").

Each function takes a head's outputs over its samples ([B, N, ...]) with the sample mask and
returns a scalar made by a `SampleReduction`: by default the sum over the real samples divided by
their number, as SpERT does (loss_reduction = "mean"), or the plain sum, the paper's Σ ("sum").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import ops


@dataclass(frozen=True)
class SampleReduction:
    """How a loss over samples becomes a scalar: "mean" or "sum" over the real samples.

    The model does not know how it is trained: a run of several processes (DistributedDataParallel,
    which averages the processes' gradients) gives `world` and `global_count`, which turns this
    process's sample count into the whole global batch's (an all-reduce,
    runtime.Distributed.sum_over_processes). The
    mean is then divided by that count over `world`, and a sum multiplied by `world`, so that DDP's
    average equals the gradient of one process that saw the whole batch."""

    reduction: str = "mean"
    world: int = 1
    global_count: Callable[[Tensor], Tensor] | None = None

    def __call__(self, per_sample: Tensor, mask: Tensor) -> Tensor:
        total = (per_sample * mask).sum()
        if self.reduction == "sum":
            return total * self.world
        count = mask.sum()
        if self.world > 1 and self.global_count is not None:
            return total / (self.global_count(count.detach().clone()).clamp(min=1) / self.world)
        return total / count.clamp(min=1)


MEAN = SampleReduction()


def multitask_loss(ident_logits: Tensor, scores: Tensor, labels: Tensor, mask: Tensor, *, alpha: float,
                   beta: float, m_pos: float, m_neg: float, gamma: float, delta: float,
                   en_iou: Tensor | None = None, reduce: SampleReduction = MEAN,
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
        ranking_loss = reduce(ranking, mask * target) + negative_weight * reduce(ranking, mask * (1 - target))
    else:
        if negative_weight != 1.0:
            ranking = ranking * torch.where(positive, 1.0, negative_weight)
        ranking_loss = reduce(ranking, mask)
    return alpha * reduce(ident, mask) + beta * ranking_loss


def none_class_cross_entropy(logits: Tensor, labels: Tensor, mask: Tensor, reduce: SampleReduction = MEAN) -> Tensor:
    """Softmax cross-entropy over [none, class 1, ...] (SpERT's entity loss, and -MTL's).

    A sample with several gold classes takes the first one (a softmax has one answer).
    """
    has_class = labels.any(-1)
    if labels.shape[-1] == 0:  # no class (data without relation types): every sample is "none"
        target = torch.zeros_like(has_class, dtype=torch.long)
    else:
        target = torch.where(has_class, labels.to(torch.uint8).argmax(-1) + 1, 0)
    per_sample = F.cross_entropy(logits.flatten(0, -2).float(), target.flatten(), reduction="none")
    return reduce(per_sample.view(target.shape), mask)


def multilabel_bce(logits: Tensor, labels: Tensor, mask: Tensor, reduce: SampleReduction = MEAN) -> Tensor:
    """SpERT's relation loss: sigmoid BCE per type, averaged over types, then over samples."""
    per_type = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none")
    # No type (data without relation types): nothing to learn, where a mean over none is NaN.
    return reduce(per_type.mean(-1) if per_type.shape[-1] else per_type.sum(-1), mask)
