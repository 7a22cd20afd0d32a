"""The optimizer of SpERT's code (AdamW without bias correction) against a plain loop of its update."""

import pytest
import torch

from spertmt.optim import AdamWNoBiasCorrection


def _reference_steps(params, grads_per_step, lr, betas, eps, weight_decay):
    """transformers.AdamW(correct_bias=False) written out one tensor at a time, in float64."""
    params = [p.detach().double().clone() for p in params]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    for grads in grads_per_step:
        for p, g, m_, v_ in zip(params, grads, m, v):
            g = g.double()
            m_.mul_(betas[0]).add_(g, alpha=1 - betas[0])
            v_.mul_(betas[1]).addcmul_(g, g, value=1 - betas[1])
            p.addcdiv_(m_, v_.sqrt().add_(eps), value=-lr)
            p.add_(p, alpha=-lr * weight_decay)
    return params


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_matches_the_update_written_out(weight_decay):
    torch.manual_seed(0)
    params = [torch.randn(5, 3, requires_grad=True), torch.randn(7, requires_grad=True)]
    start = [p.detach().clone() for p in params]
    grads_per_step = [[torch.randn_like(p) for p in params] for _ in range(6)]
    optimizer = AdamWNoBiasCorrection(params, lr=1e-2, eps=1e-6, weight_decay=weight_decay)
    for grads in grads_per_step:
        for p, g in zip(params, grads):
            p.grad = g.clone()
        optimizer.step()
    expected = _reference_steps(start, grads_per_step, 1e-2, (0.9, 0.999), 1e-6, weight_decay)
    for p, e in zip(params, expected):
        torch.testing.assert_close(p.detach().double(), e, rtol=1e-5, atol=1e-6)


def test_first_step_is_larger_than_bias_corrected_adamw_after_warm_up():
    """Without bias correction the step at t = 1 is (1 - b1) / sqrt(1 - b2) ≈ 3.16 times lr."""
    param = torch.zeros(4, requires_grad=True)
    param.grad = torch.ones(4)
    AdamWNoBiasCorrection([param], lr=1.0, eps=0.0).step()
    torch.testing.assert_close(param.detach(), torch.full((4,), -0.1 / 0.001 ** 0.5))


def test_state_round_trips_and_params_without_gradients_are_left_alone():
    a, b = torch.ones(3, requires_grad=True), torch.ones(2, requires_grad=True)
    optimizer = AdamWNoBiasCorrection([a, b], lr=0.1)
    a.grad = torch.ones(3)
    optimizer.step()
    torch.testing.assert_close(b.detach(), torch.ones(2))
    copy = AdamWNoBiasCorrection([a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()], lr=0.1)
    copy.load_state_dict(optimizer.state_dict())
    assert copy.state_dict()["state"][0]["step"] == 1
    torch.testing.assert_close(copy.state_dict()["state"][0]["exp_avg"], torch.full((3,), 0.1))


def test_rejects_bad_settings():
    with pytest.raises(ValueError, match="betas"):
        AdamWNoBiasCorrection([torch.zeros(1, requires_grad=True)], betas=(0.9, 1.0))
