"""span_en_iou, iou_scaled_bce and ranking_loss: values computed by hand from docs/method.md's formulas,
native kernels against the fallbacks, gradients, gradcheck, opcheck and bad input."""

import math

import pytest
import torch

from spertmt import ops
from spertmt.ops import reference
from spertmt.testing import DTYPES

from .util import NATIVE_DEVICES

IMPLS = ["reference"] + (["native"] if ops.native_available("cpu") else [])


def _impl(name):
    return torch.ops.spertmt if name == "native" else reference


def softplus(x):
    return math.log1p(math.exp(x)) if x < 30 else x


# ------------------------------------------------------------------------------------------
# ENIoU


@pytest.mark.parametrize("impl", IMPLS)
def test_en_iou_by_hand(impl):
    # docs/method.md: IoU over inclusive [i, j] = (min(j) - max(i) + 1) / (max(j) - min(i) + 1); here [start, end).
    gold = torch.tensor([[[2, 5], [7, 8]]])  # words 2..4 and 7
    cand = torch.tensor([[[2, 5], [3, 4], [1, 3], [5, 7], [6, 9], [0, 10], [4, 8]]])
    want = [1.0, 1 / 3, 1 / 4, 0.0, 1 / 3, max(3 / 10, 1 / 10), max(1 / 6, 1 / 4)]
    got = _impl(impl).span_en_iou(cand, gold, torch.ones(1, 2, dtype=torch.bool))
    torch.testing.assert_close(got, torch.tensor([want]))
    assert got.dtype == torch.float32


@pytest.mark.parametrize("impl", IMPLS)
def test_en_iou_masked_gold_and_no_gold(impl):
    cand = torch.tensor([[[0, 2], [1, 3]], [[0, 1], [0, 2]]])
    gold = torch.tensor([[[0, 2], [0, 0]], [[0, 1], [5, 6]]])
    mask = torch.tensor([[True, False], [False, False]])  # second document: no entity
    got = _impl(impl).span_en_iou(cand, gold, mask)
    torch.testing.assert_close(got, torch.tensor([[1.0, 1 / 3], [0.0, 0.0]]))


@pytest.mark.parametrize("device", NATIVE_DEVICES)
def test_en_iou_native_matches_fallback_random(device):
    g = torch.Generator().manual_seed(0)
    s = torch.randint(0, 30, (4, 200, 1), generator=g)
    cand = torch.cat([s, s + torch.randint(1, 11, s.shape, generator=g)], -1)
    gs = torch.randint(0, 30, (4, 9, 1), generator=g)
    gold = torch.cat([gs, gs + torch.randint(1, 6, gs.shape, generator=g)], -1)
    mask = torch.rand(4, 9, generator=g) > 0.3
    got = torch.ops.spertmt.span_en_iou(cand.to(device), gold.to(device), mask.to(device))
    torch.testing.assert_close(got.cpu(), reference.span_en_iou(cand, gold, mask))


@pytest.mark.parametrize("impl", IMPLS)
def test_en_iou_bad_input(impl):
    with pytest.raises(RuntimeError, match="span_en_iou: .*candidate_spans.*reversed"):
        _impl(impl).span_en_iou(torch.tensor([[[3, 1]]]), torch.tensor([[[0, 1]]]), torch.tensor([[True]]))
    with pytest.raises(RuntimeError, match="span_en_iou: .gold_mask. has dtype"):
        _impl(impl).span_en_iou(torch.tensor([[[0, 1]]]), torch.tensor([[[0, 1]]]), torch.tensor([[1]]))


# ------------------------------------------------------------------------------------------
# IoU-scaled BCE


@pytest.mark.parametrize("impl", IMPLS)
def test_iou_scaled_bce_by_hand(impl):
    delta = 0.25
    cases = [(1.5, 1.0, 0.0), (-0.7, 0.0, 0.5), (0.3, 0.0, 0.0), (2.0, 0.0, 1.0), (-40.0, 1.0, 0.0), (40.0, 0.0, 0.2)]
    x, q, u = (torch.tensor(c, dtype=torch.float64) for c in zip(*cases))
    got = _impl(impl).iou_scaled_bce(x, q, u, delta)
    for k, (xi, qi, ui) in enumerate(cases):
        p = 1 / (1 + math.exp(-xi))
        # -q (1 - delta) log p - delta (1 - q) (1 + ENIoU) log(1 - p), in the stable form
        want = qi * (1 - delta) * softplus(-xi) + delta * (1 - qi) * (1 + ui) * softplus(xi)
        if abs(xi) < 10:
            assert want == pytest.approx(
                -qi * (1 - delta) * math.log(p) - delta * (1 - qi) * (1 + ui) * math.log(1 - p)
            )
        assert got[k].item() == pytest.approx(want, rel=1e-12)
    # A hard negative (overlapping an entity) costs more than an easy one at the same logit.
    assert got[3] > _impl(impl).iou_scaled_bce(x[3:4], q[3:4], torch.zeros(1, dtype=torch.float64), delta)[0]


@pytest.mark.parametrize("device", NATIVE_DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_iou_scaled_bce_native_matches_fallback(device, dtype):
    g = torch.Generator().manual_seed(1)
    n = 1037
    x = (torch.randn(n, generator=g) * 4).to(dtype=dtype, device=device).requires_grad_()
    q = (torch.rand(n, generator=g) > 0.7).to(dtype=dtype, device=device)
    u = torch.rand(n, generator=g).to(dtype=dtype, device=device) * (1 - q)
    grad_out = torch.rand(n, generator=g).to(dtype=dtype, device=device)
    out = torch.ops.spertmt.iou_scaled_bce(x, q, u, 0.25)
    (grad,) = torch.autograd.grad(out, x, grad_out)
    xr = x.detach().cpu().requires_grad_()
    out_ref = reference.iou_scaled_bce(xr, q.cpu(), u.cpu(), 0.25)
    (grad_ref,) = torch.autograd.grad(out_ref, xr, grad_out.cpu())
    tol = dict(rtol=1.6e-2, atol=1e-2) if dtype == torch.bfloat16 else {}
    torch.testing.assert_close(out.cpu(), out_ref, **tol)
    torch.testing.assert_close(grad.cpu(), grad_ref, **tol)


# ------------------------------------------------------------------------------------------
# Ranking loss


def ranking_by_hand(scores, gold, m_pos=2.5, m_neg=0.5, gamma=2.0):
    loss = sum(math.log(1 + math.exp(gamma * (m_pos - scores[c]))) for c in gold)
    wrong = [s for c, s in enumerate(scores) if c not in gold]
    if wrong:
        loss += math.log(1 + math.exp(gamma * (m_neg + max(wrong))))
    return loss


@pytest.mark.parametrize("impl", IMPLS)
def test_ranking_loss_by_hand(impl):
    scores = torch.tensor([[0.2, 1.3, -0.4], [0.9, -2.0, 0.1], [3.0, 2.5, -1.0], [0.5, 0.5, 0.0]],
                          dtype=torch.float64)
    gold_sets = [{1}, set(), {0, 1}, {0, 1, 2}]  # positive, negative, two gold types, all gold
    gold = torch.tensor([[c in g for c in range(3)] for g in gold_sets])
    got = _impl(impl).ranking_loss(scores, gold, 2.5, 0.5, 2.0)
    want = [ranking_by_hand(scores[n].tolist(), gold_sets[n]) for n in range(4)]
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64))


def test_ranking_loss_wrapper_labels_and_reductions():
    scores = torch.tensor([[0.2, 1.3, -0.4], [0.9, -2.0, 0.1], [1.0, 0.0, 0.0]], dtype=torch.float64)
    labels = torch.tensor([1, -1, 0])
    per = ops.ranking_loss(scores, labels, reduction="none")
    want = [ranking_by_hand(scores[0].tolist(), {1}), ranking_by_hand(scores[1].tolist(), set()),
            ranking_by_hand(scores[2].tolist(), {0})]
    torch.testing.assert_close(per, torch.tensor(want, dtype=torch.float64))
    mask = torch.tensor([True, True, False])
    torch.testing.assert_close(ops.ranking_loss(scores, labels, mask=mask), per[:2].mean())
    torch.testing.assert_close(ops.ranking_loss(scores, labels, mask=mask, reduction="sum"), per[:2].sum())
    multi_hot = torch.tensor([[False, True, False], [False] * 3, [True, False, False]])
    torch.testing.assert_close(ops.ranking_loss(scores, multi_hot, reduction="none"), per)
    with pytest.raises(ValueError, match="labels must be -1"):
        ops.ranking_loss(scores, torch.tensor([3, 0, 0]))
    with pytest.raises(ValueError, match="reduction"):
        ops.ranking_loss(scores, labels, reduction="avg")


def test_ranking_loss_over_no_class_is_zero():
    """No class at all (data without relation types): the negative term's max over no wrong class is
    -inf, so each sample's loss is log(1 + 0) = 0, with a gradient of the scores' (empty) shape."""
    scores = torch.zeros(2, 3, 0, dtype=torch.float64, requires_grad=True)
    for labels in (torch.zeros(2, 3, 0, dtype=torch.bool), torch.full((2, 3), -1)):
        torch.testing.assert_close(ops.ranking_loss(scores, labels, reduction="none"),
                                   torch.zeros(2, 3, dtype=torch.float64))
    ops.ranking_loss(scores, torch.full((2, 3), -1), mask=torch.ones(2, 3, dtype=torch.bool)).backward()
    assert scores.grad.shape == (2, 3, 0)


def test_ranking_gradient_reaches_gold_and_best_wrong_only():
    scores = torch.tensor([[0.5, 2.0, 2.0, -1.0]], dtype=torch.float64, requires_grad=True)
    gold = torch.tensor([[True, False, False, False]])
    for impl in IMPLS:
        scores.grad = None
        _impl(impl).ranking_loss(scores, gold, 2.5, 0.5, 2.0).sum().backward()
        g = scores.grad[0]
        assert g[0] < 0 and g[1] > 0  # push the gold class up, the first best wrong class down
        assert g[2] == 0 and g[3] == 0  # the tied wrong class and the others: no gradient


@pytest.mark.parametrize("device", NATIVE_DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_ranking_native_matches_fallback(device, dtype):
    g = torch.Generator().manual_seed(2)
    N, C = 513, 7
    scores = (torch.randn(N, C, generator=g) * 3).to(dtype=dtype, device=device).requires_grad_()
    gold = (torch.rand(N, C, generator=g) > 0.8).to(device)
    gold[:50] = False
    gold[50:60] = True
    grad_out = torch.rand(N, generator=g).to(dtype=dtype, device=device)
    out = torch.ops.spertmt.ranking_loss(scores, gold, 2.5, 0.5, 2.0)
    (grad,) = torch.autograd.grad(out, scores, grad_out)
    sr = scores.detach().cpu().requires_grad_()
    out_ref = reference.ranking_loss(sr, gold.cpu(), 2.5, 0.5, 2.0)
    (grad_ref,) = torch.autograd.grad(out_ref, sr, grad_out.cpu())
    tol = dict(rtol=1.6e-2, atol=1e-2) if dtype == torch.bfloat16 else {}
    torch.testing.assert_close(out.cpu(), out_ref, **tol)
    torch.testing.assert_close(grad.cpu(), grad_ref, **tol)


@pytest.mark.parametrize("impl", IMPLS)
def test_ranking_bad_input(impl):
    with pytest.raises(RuntimeError, match="ranking_loss: .gold. has dtype"):
        _impl(impl).ranking_loss(torch.randn(3, 2), torch.zeros(3, 2), 2.5, 0.5, 2.0)
    with pytest.raises(RuntimeError, match="ranking_loss: .gold. has shape"):
        _impl(impl).ranking_loss(torch.randn(3, 2), torch.zeros(3, 3, dtype=torch.bool), 2.5, 0.5, 2.0)
    with pytest.raises(RuntimeError, match="iou_scaled_bce: .en_iou. has shape"):
        _impl(impl).iou_scaled_bce(torch.randn(3), torch.zeros(3), torch.zeros(4), 0.25)
    with pytest.raises(RuntimeError, match="iou_scaled_bce: .delta."):
        _impl(impl).iou_scaled_bce(torch.randn(3), torch.zeros(3), torch.zeros(3), 1.5)


# ------------------------------------------------------------------------------------------
# gradcheck, opcheck, compile


@pytest.mark.parametrize("device", NATIVE_DEVICES)
def test_loss_gradcheck_and_opcheck(device):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(20, generator=g, dtype=torch.float64).to(device).requires_grad_()
    q = (torch.rand(20, generator=g) > 0.5).double().to(device)
    u = torch.rand(20, generator=g, dtype=torch.float64).to(device)
    assert torch.autograd.gradcheck(lambda t: ops.iou_scaled_bce(t, q, u, reduction="none"), (x,))
    scores = torch.randn(12, 4, generator=g, dtype=torch.float64).to(device).requires_grad_()
    labels = torch.randint(-1, 4, (12,), generator=g).to(device)
    assert torch.autograd.gradcheck(lambda s: ops.ranking_loss(s, labels, reduction="none"), (scores,))

    gold = torch.rand(12, 4, generator=g).to(device) > 0.6
    cand = torch.tensor([[[0, 2], [1, 4], [3, 4]]], device=device)
    gold_spans = torch.tensor([[[1, 3]]], device=device)
    for requires_grad in (False, True):
        xx = x.detach().float().requires_grad_(requires_grad)
        ss = scores.detach().float().requires_grad_(requires_grad)
        torch.library.opcheck(torch.ops.spertmt.iou_scaled_bce, (xx, q.float(), u.float(), 0.25))
        torch.library.opcheck(torch.ops.spertmt.ranking_loss, (ss, gold, 2.5, 0.5, 2.0))
    torch.library.opcheck(torch.ops.spertmt.span_en_iou, (cand, gold_spans, torch.ones(1, 1, dtype=torch.bool,
                                                                                       device=device)))
    grad = torch.rand(20, generator=g, dtype=torch.float64).to(device)
    torch.library.opcheck(torch.ops.spertmt.iou_scaled_bce_backward, (grad, x.detach(), q, u, 0.25))
    torch.library.opcheck(torch.ops.spertmt.ranking_loss_backward,
                          (grad[:12], scores.detach(), gold, 2.5, 0.5, 2.0))


@pytest.mark.parametrize("device", NATIVE_DEVICES)
def test_losses_under_torch_compile(device):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(30, generator=g).to(device)
    q = (torch.rand(30, generator=g) > 0.5).float().to(device)
    u = torch.rand(30, generator=g).to(device)
    scores = torch.randn(30, 5, generator=g).to(device)
    labels = torch.randint(-1, 5, (30,), generator=g).to(device)

    def f(x, s):
        return ops.iou_scaled_bce(x, q, u) + ops.ranking_loss(s, labels)

    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    a = [x.clone().requires_grad_(), scores.clone().requires_grad_()]
    b = [x.clone().requires_grad_(), scores.clone().requires_grad_()]
    out_c, out_e = compiled(*a), f(*b)
    out_c.backward()
    out_e.backward()
    torch.testing.assert_close(out_c, out_e)
    for ta, tb in zip(a, b):
        torch.testing.assert_close(ta.grad, tb.grad)
