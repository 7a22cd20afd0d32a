"""The optimizer of SpERT's code (AdamW without bias correction) against a plain loop of its update."""

import pytest
import torch

from spertmt import ops
from spertmt.training.optim import AdamWNoBiasCorrection

IMPLEMENTATIONS = ["auto", "foreach", "loop"]
needs_native = pytest.mark.skipif(not ops.native_available("cpu"), reason="native kernels not built")


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


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_matches_the_update_written_out(implementation, dtype, weight_decay):
    """Random shapes: sizes that are not multiples of any vector width, and one above the kernel's
    parallel grain (16,384) so that several threads share a tensor."""
    torch.manual_seed(0)
    shapes = [(5, 3), (7,), (1,), (131, 257), (16,)]
    params = [torch.randn(*s, dtype=dtype, requires_grad=True) for s in shapes]
    start = [p.detach().clone() for p in params]
    grads_per_step = [[torch.randn_like(p) * 10 ** float(torch.randint(-4, 1, ())) for p in params]
                      for _ in range(6)]
    optimizer = AdamWNoBiasCorrection(params, lr=1e-2, eps=1e-6, weight_decay=weight_decay,
                                      implementation=implementation)
    for grads in grads_per_step:
        for p, g in zip(params, grads):
            p.grad = g.clone()
        optimizer.step()
    expected = _reference_steps(start, grads_per_step, 1e-2, (0.9, 0.999), 1e-6, weight_decay)
    tolerance = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-13)
    for p, e in zip(params, expected):
        torch.testing.assert_close(p.detach().double(), e, **tolerance)
    for i, p in enumerate(params):  # m_6 = sum_k (1 - b1) b1^(6 - k) g_k
        torch.testing.assert_close(optimizer.state[p]["exp_avg"].double(),
                                   sum(0.1 * 0.9 ** (5 - k) * g[i].double() for k, g in enumerate(grads_per_step)),
                                   **tolerance)


@needs_native
def test_native_kernel_agrees_with_the_foreach_fallback_bit_for_bit_in_float64():
    torch.manual_seed(1)
    tensors = [torch.randn(n, dtype=torch.float64) for n in (3, 1000, 40000)]
    grads = [torch.randn_like(t) for t in tensors]
    states = {}
    for name, step in (("native", torch.ops.spertmt.adamw_no_bias_correction_),
                       ("fallback", ops.reference.adamw_no_bias_correction_)):
        params = [t.clone() for t in tensors]
        torch.manual_seed(2)  # the same moments for both
        m, v = [torch.rand_like(t) for t in tensors], [torch.rand_like(t) for t in tensors]
        step(params, grads, m, v, 1e-3, 0.9, 0.999, 1e-6, 0.01)
        states[name] = params + m + v
    for a, b in zip(states["native"], states["fallback"]):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-15)


@needs_native
def test_opcheck():
    torch.manual_seed(0)
    params = [torch.randn(4, 3), torch.randn(5)]
    args = (params, [torch.randn_like(p) for p in params], [torch.zeros_like(p) for p in params],
            [torch.zeros_like(p) for p in params], 1e-3, 0.9, 0.999, 1e-6, 0.01)
    torch.library.opcheck(torch.ops.spertmt.adamw_no_bias_correction_.default, args)


@needs_native
def test_native_kernel_names_the_bad_argument():
    step = torch.ops.spertmt.adamw_no_bias_correction_
    p = [torch.zeros(4)]
    with pytest.raises(RuntimeError, match="same length"):
        step(p, [], [torch.zeros(4)], [torch.zeros(4)], 1e-3, 0.9, 0.999, 1e-6, 0.0)
    with pytest.raises(RuntimeError, match=r"params\[0\] must be float32 or float64"):
        step(
            [torch.zeros(4, dtype=torch.bfloat16)],
            [torch.zeros(4, dtype=torch.bfloat16)],
            [torch.zeros(4, dtype=torch.bfloat16)],
            [torch.zeros(4, dtype=torch.bfloat16)],
            1e-3,
            0.9,
            0.999,
            1e-6,
            0.0,
        )
    with pytest.raises(RuntimeError, match="must match its shape"):
        step(p, [torch.zeros(5)], [torch.zeros(4)], [torch.zeros(4)], 1e-3, 0.9, 0.999, 1e-6, 0.0)
    with pytest.raises(RuntimeError, match="contiguous"):
        step([torch.zeros(4, 2).t()], [torch.zeros(2, 4)], [torch.zeros(2, 4)], [torch.zeros(2, 4)],
             1e-3, 0.9, 0.999, 1e-6, 0.0)


def test_non_contiguous_and_bfloat16_parameters_take_the_fallback():
    """The wrapper only hands the kernel what it accepts; the rest goes through foreach ops."""
    p = torch.zeros(4, 2).t().requires_grad_()
    p.grad = torch.ones(2, 4)
    AdamWNoBiasCorrection([p], lr=1.0, eps=0.0).step()
    torch.testing.assert_close(p.detach(), torch.full((2, 4), -0.1 / 0.001 ** 0.5))
    q = torch.zeros(3, dtype=torch.bfloat16, requires_grad=True)
    q.grad = torch.ones(3, dtype=torch.bfloat16)
    AdamWNoBiasCorrection([q], lr=1.0, eps=0.0).step()
    assert torch.allclose(q.detach().float(), torch.full((3,), -3.1623), atol=0.02)


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
    with pytest.raises(ValueError, match="implementation"):
        AdamWNoBiasCorrection([torch.zeros(1, requires_grad=True)], implementation="fused")
