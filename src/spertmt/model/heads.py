"""The classifier heads, one class per kind: how a head scores its samples, its training loss and
its decision rule. The model picks a kind per head from its mode (SpERTMT.__init__) and never
asks again.

- MultiTaskHead (SpERT.MT): an identification logit a·x + b and class scores x·W (no bias, no
  "none" class); trained with α·(IoU-scaled) BCE + β·pairwise ranking; a sample is kept with
  argmax_c score_c when max_c score_c >= θ.
- NoneClassHead (SpERT's entities, and both heads under -MTL): a softmax over ["none", types],
  cross-entropy; a sample is kept with its argmax when that is not "none". No θ.
- SigmoidHead (SpERT's relations): one sigmoid per type, BCE averaged over types; every type whose
  probability reaches θ is kept (multi-label).

Weights are drawn from N(0, 0.02) and biases are 0 (BERT's initialisation, as SpERT applies it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .losses import SampleReduction, multilabel_bce, multitask_loss, none_class_cross_entropy


def _init_linear(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    """A linear layer with weights from N(0, 0.02) and zero biases."""
    with warnings.catch_warnings():  # no outputs (data without relation types): nothing to initialise
        warnings.filterwarnings("ignore", "Initializing zero-element tensors is a no-op")
        layer = nn.Linear(in_features, out_features, bias=bias)
        nn.init.normal_(layer.weight, std=0.02)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def linear(layer: nn.Linear, x: Tensor | list[Tensor]) -> Tensor:
    """`layer(x)`; for a list of parts, `layer(torch.cat(parts, -1))` without building the
    concatenation: each part meets its slice of the weight, and the parts broadcast, so a part of
    shape [B, 1, d] (a sentence's [CLS]) is multiplied once, not once per row."""
    if isinstance(x, Tensor):
        return layer(x)
    out, start = None, 0
    for part in x:
        width = part.shape[-1]
        y = nn.functional.linear(part, layer.weight[:, start:start + width])
        out = y if out is None else out + y
        start += width
    if start != layer.in_features:
        raise ValueError(f"the parts have {start} features, the layer takes {layer.in_features}")
    return out + layer.bias if layer.bias is not None else out


@dataclass
class LossOptions:
    """The multi-task loss's settings, from the config (alpha, beta, margin_pos, margin_neg, gamma, delta,
    negative_ranking_weight, ranking_average), where their defaults are."""

    alpha: float
    beta: float
    m_pos: float
    m_neg: float
    gamma: float
    delta: float
    negative_weight: float
    separate: bool


class Head(nn.Module):
    """Scores samples (`forward` -> (identification logits or None, outputs); its input is a tensor,
    or the parts of one along the last dimension, see `linear`), trains (`loss`) and
    decides (`best_type`: one type per sample, for entities; `kept_types`: the kept types of each
    sample, for relations). `thresholded`: whether a θ decides (and so can be tuned on dev);
    `lowest_threshold`: a θ every sample passes; `tradeoff_thresholds`: where `spertmt
    tune-threshold` prints precision and recall; `uses_en_iou`: whether its loss takes ENIoU;
    `scores_are_probabilities`: whether its scores lie in [0, 1] (calibration then fits on their logit)."""

    thresholded = True
    scores_are_probabilities = False
    lowest_threshold = -1e9
    tradeoff_thresholds = (0.0, 0.25, 0.5, 0.75, 0.85, 1.0, 1.5, 2.0, 2.5)
    uses_en_iou = False

    def type_scores(self, outputs: Tensor) -> Tensor:
        """Per-type scores, without any "none" class (what p(s) is for an entity head)."""
        return outputs

    def loss(self, ident: Tensor | None, outputs: Tensor, labels: Tensor, mask: Tensor, reduce: SampleReduction,
             options: LossOptions, en_iou: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def best_type(self, outputs: Tensor, threshold) -> tuple[Tensor, Tensor, Tensor]:
        """(kept [..], type index [..], score [..]) with one type per sample."""
        raise NotImplementedError(f"{type(self).__name__} does not decide entities")

    def kept_types(self, outputs: Tensor, threshold, multi_label: bool) -> tuple[Tensor, Tensor]:
        """(kept [.., C] bool, scores [.., C]) per sample and type."""
        raise NotImplementedError

    def probabilities(self, ident: Tensor | None, outputs: Tensor) -> Tensor:
        """[.., C]: the probability the head gives each sample and type, in [0, 1] (scores need not
        be probabilities: a ranking head's are margins)."""
        raise NotImplementedError


class MultiTaskHead(Head):
    uses_en_iou = True

    def __init__(self, in_features: int, num_types: int):
        super().__init__()
        self.identifier = _init_linear(in_features, 1)
        self.classifier = _init_linear(in_features, num_types, bias=False)

    def forward(self, x: Tensor | list[Tensor]) -> tuple[Tensor | None, Tensor]:
        return linear(self.identifier, x).squeeze(-1), linear(self.classifier, x)

    def loss(self, ident, outputs, labels, mask, reduce, options, en_iou=None):
        return multitask_loss(ident, outputs, labels, mask, alpha=options.alpha, beta=options.beta,
                              m_pos=options.m_pos, m_neg=options.m_neg, gamma=options.gamma, en_iou=en_iou,
                              delta=options.delta, reduce=reduce, negative_weight=options.negative_weight,
                              separate=options.separate)

    def best_type(self, outputs, threshold):
        scores, types = outputs.max(-1)
        return passes(scores, types, threshold), types, scores

    def kept_types(self, outputs, threshold, multi_label):
        keep = passes(outputs, None, threshold)
        return (keep if multi_label else one_hot_best(outputs) & keep), outputs

    def probabilities(self, ident, outputs):
        # The identification head's: that the sample is an entity (relation) at all, whatever its type.
        return ident.sigmoid().unsqueeze(-1).expand(outputs.shape)


class NoneClassHead(Head):
    thresholded = False
    scores_are_probabilities = True

    def __init__(self, in_features: int, num_types: int):
        super().__init__()
        self.classifier = _init_linear(in_features, num_types + 1)  # index 0: "none"

    def forward(self, x: Tensor | list[Tensor]) -> tuple[Tensor | None, Tensor]:
        return None, linear(self.classifier, x)

    def type_scores(self, outputs):
        return outputs[..., 1:]

    def loss(self, ident, outputs, labels, mask, reduce, options, en_iou=None):
        return none_class_cross_entropy(outputs, labels, mask, reduce)

    def best_type(self, outputs, threshold):
        scores, best = outputs.softmax(-1).max(-1)
        return best > 0, (best - 1).clamp(min=0), scores

    def kept_types(self, outputs, threshold, multi_label):
        probs = outputs.softmax(-1)
        return one_hot_best(probs)[..., 1:], probs[..., 1:]

    def probabilities(self, ident, outputs):
        return outputs.softmax(-1)[..., 1:]


class SigmoidHead(Head):
    scores_are_probabilities = True
    lowest_threshold = 0.0  # probabilities
    tradeoff_thresholds = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

    def __init__(self, in_features: int, num_types: int):
        super().__init__()
        self.classifier = _init_linear(in_features, num_types)

    def forward(self, x: Tensor | list[Tensor]) -> tuple[Tensor | None, Tensor]:
        return None, linear(self.classifier, x)

    def loss(self, ident, outputs, labels, mask, reduce, options, en_iou=None):
        return multilabel_bce(outputs, labels, mask, reduce)

    def kept_types(self, outputs, threshold, multi_label):
        scores = outputs.sigmoid()
        return passes(scores, None, threshold), scores

    def probabilities(self, ident, outputs):
        return outputs.sigmoid()


def passes(scores: Tensor, types: Tensor | None, threshold: float | Tensor) -> Tensor:
    """scores >= θ, with θ a number or a per-type tensor (indexed by `types`, or along the last dim)."""
    if not isinstance(threshold, Tensor):
        return scores >= threshold
    threshold = threshold.to(device=scores.device, dtype=scores.dtype)
    return scores >= (threshold[types] if types is not None else threshold)


def one_hot_best(scores: Tensor) -> Tensor:
    if scores.shape[-1] == 0:  # no type (data without relation types): nothing to mark
        return torch.zeros_like(scores, dtype=torch.bool)
    return torch.zeros_like(scores, dtype=torch.bool).scatter_(-1, scores.argmax(-1, keepdim=True), True)
