"""The optimizer of SpERT's code: AdamW without bias correction.

SpERT (and SpERT.MT, built on its code) trains with `transformers.AdamW(..., correct_bias=False)`:
Adam's moments are not divided by (1 - beta^t), which makes the first few hundred steps larger
than torch's AdamW would (about 3x at step 100, 1.3x at step 900; the warm-up covers these), and
eps (1e-6) is added to sqrt(v) itself. The weight decay is decoupled and applied after the Adam
update, with the learning rate. `transformers.AdamW` is gone from transformers 5; this is the same
update, as one fused pass per tensor on the CPU (`spertmt.ops.adamw_no_bias_correction_`; about
5x faster than torch's foreach AdamW there, where the step is memory-bound) and torch's foreach
kernels elsewhere. `implementation="loop"` runs it tensor by tensor as transformers did (benchmarks).
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer

from .. import ops
from ..ops import reference


class AdamWNoBiasCorrection(Optimizer):
    """AdamW as `transformers.AdamW(correct_bias=False)`:

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g²;  p -= lr m / (sqrt(v) + eps);  p -= lr wd p

    Args:
        implementation: "auto" (the native kernel where it applies, else foreach), "foreach"
            (torch's foreach ops), or "loop" (one tensor at a time, as transformers.AdamW).
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.0, implementation: str = "auto"):
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"invalid AdamW settings: lr={lr}, betas={betas}, eps={eps}, weight_decay={weight_decay}")
        if implementation not in ("auto", "foreach", "loop"):
            raise ValueError(f"implementation must be auto, foreach or loop, not {implementation!r}")
        self.implementation = implementation
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if any(p.grad.is_sparse for p in params):
                raise RuntimeError("AdamWNoBiasCorrection does not support sparse gradients")
            for p in params:
                if not self.state[p]:
                    self.state[p] = {"step": 0, "exp_avg": torch.zeros_like(p, memory_format=torch.contiguous_format),
                                     "exp_avg_sq": torch.zeros_like(p, memory_format=torch.contiguous_format)}
                self.state[p]["step"] += 1
            args = ([p.grad for p in params], [self.state[p]["exp_avg"] for p in params],
                    [self.state[p]["exp_avg_sq"] for p in params], group["lr"], *group["betas"], group["eps"],
                    group["weight_decay"])
            if self.implementation == "auto":
                ops.adamw_no_bias_correction_(params, *args)
            elif self.implementation == "foreach":
                reference.adamw_no_bias_correction_(params, *args)
            else:
                for k, p in enumerate(params):
                    reference.adamw_no_bias_correction_([p], *([a[k]] for a in args[:3]), *args[3:])
        return loss
