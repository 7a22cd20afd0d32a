"""Our own re-implementation of the reference SpERT's pooling, for comparison only.

SpERT (lavis-nlp/spert, spert/models.py) pools a span by adding a mask of -1e30 outside the span
to the hidden states repeated once per span, a [B, S, T, H] tensor, and taking the max over T;
the relation context is pooled the same way over a per-pair mask. Its data loader builds the
[S, T] masks (spert/sampling.py); here they are built outside the timed region, which favours
the baseline.
"""

from __future__ import annotations

import torch
from torch import Tensor


def ranges_to_masks(starts: Tensor, ends: Tensor, num_pieces: int) -> Tensor:
    """[B, S] piece ranges -> [B, S, T] bool masks, as SpERT's sampler creates them."""
    positions = torch.arange(num_pieces, device=starts.device)
    return (positions >= starts.unsqueeze(-1)) & (positions < ends.unsqueeze(-1))


def spert_max_pool(hidden: Tensor, masks: Tensor) -> Tensor:
    """SpERT's `_classify_entities` pooling: (masks == 0) * -1e30 + h repeated per span, max over T."""
    m = (masks.unsqueeze(-1) == 0).to(hidden.dtype) * (-1e30)
    pooled = m + hidden.unsqueeze(1).repeat(1, masks.shape[1], 1, 1)
    pooled = pooled.max(dim=2)[0]
    # SpERT leaves an empty context at -1e30 and zeroes it afterwards
    # (`rel_ctx[rel_masks.to(torch.uint8).any(-1) == 0] = 0`).
    return torch.where(masks.any(-1, keepdim=True), pooled, pooled.new_zeros(()))
