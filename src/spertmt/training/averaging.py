"""An exponential moving average of the trained weights (Polyak averaging), beyond the paper.

The averaged weights are the ones evaluated on dev after each epoch and saved as `best/` and
`last/`; training itself goes on with the raw weights. Averaging smooths the epoch-to-epoch noise
that makes choosing an epoch on a small dev set unreliable (docs/results.md, "Balancing SpERT.MT's
losses")."""

from __future__ import annotations

from contextlib import contextmanager

import torch


class WeightAverage:
    """Keeps `average = d * average + (1 - d) * weights` after every optimizer step, over the
    model's trainable parameters, with d = min(decay, (1 + t) / (10 + t)) at update t: the
    average spans about the last ninth of the steps so far until that reaches 1 / (1 - decay)
    steps, so the first epochs are not dominated by the initial weights."""

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay = {decay} must lie between 0 and 1 (0 turns averaging off)")
        self.decay = decay
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.average = [p.detach().clone() for p in self.params]
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self.average, [p.detach() for p in self.params], 1.0 - decay)
        self.updates += 1

    def copy_to_model(self) -> None:
        _copy_into(self.params, self.average)

    @contextmanager
    def applied(self):
        """The model holds the averaged weights inside the block, its trained ones again after it."""
        trained = [p.detach().clone() for p in self.params]
        self.copy_to_model()
        try:
            yield
        finally:
            _copy_into(self.params, trained)

    def state_dict(self) -> dict:
        return {"updates": self.updates, "average": dict(zip(self.names, self.average))}

    def load_state_dict(self, state: dict) -> None:
        self.updates = state["updates"]
        for name, average in zip(self.names, self.average):
            average.copy_(state["average"][name])


@torch.no_grad()
def _copy_into(params: list[torch.Tensor], values: list[torch.Tensor]) -> None:
    torch._foreach_copy_(params, values)
