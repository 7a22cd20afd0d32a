"""The optimizer of SpERT's code: AdamW without bias correction.

SpERT (and SpERT.MT, built on its code) trains with `transformers.AdamW(..., correct_bias=False)`:
Adam's moments are not divided by (1 - beta^t), which makes the first few hundred steps larger
than torch's AdamW would (about 3x at step 100, 1.3x at step 900; the warm-up covers these), and
eps (1e-6) is added to sqrt(v) itself. The weight decay is decoupled and applied after the Adam
update, with the learning rate. `transformers.AdamW` is gone from transformers 5; this is the same
update with torch's `_foreach` kernels (one launch per group and operation, not per tensor).
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer


class AdamWNoBiasCorrection(Optimizer):
    """AdamW as `transformers.AdamW(correct_bias=False)`:

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g²;  p -= lr m / (sqrt(v) + eps);  p -= lr wd p
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.0):
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"invalid AdamW settings: lr={lr}, betas={betas}, eps={eps}, weight_decay={weight_decay}")
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
            grads = [p.grad for p in params]
            for p in params:
                if not self.state[p]:
                    self.state[p] = {"step": 0, "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
                self.state[p]["step"] += 1
            exp_avgs = [self.state[p]["exp_avg"] for p in params]
            exp_avg_sqs = [self.state[p]["exp_avg_sq"] for p in params]
            beta1, beta2 = group["betas"]
            torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta1)
            torch._foreach_mul_(exp_avg_sqs, beta2)
            torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - beta2)
            denom = torch._foreach_sqrt(exp_avg_sqs)
            torch._foreach_add_(denom, group["eps"])
            torch._foreach_addcdiv_(params, exp_avgs, denom, value=-group["lr"])
            if group["weight_decay"] > 0.0:
                torch._foreach_mul_(params, 1.0 - group["lr"] * group["weight_decay"])
        return loss
