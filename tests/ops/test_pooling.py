"""span_max_pool, enumerate_span_max_pool and pair_context_max_pool: native kernels against the
pure-PyTorch fallbacks and a float64 loop oracle, values, arg-max and gradients."""

import pytest
import torch

from spertmt import ops
from spertmt.ops import reference
from spertmt.testing import DTYPES, random_ranges, random_words

from .util import NATIVE_DEVICES

native = pytest.mark.skipif(not ops.native_available("cpu"), reason="native kernels not built")


def oracle_pool(hidden, starts, ends):
    """Loops in float64: max and first arg-max over each range (0 / -1 when empty)."""
    hidden = hidden.double().cpu()
    B, S = starts.shape
    H = hidden.shape[2]
    out = torch.zeros(B, S, H, dtype=torch.float64)
    idx = torch.full((B, S, H), -1, dtype=torch.long)
    for b in range(B):
        for s in range(S):
            lo, hi = int(starts[b, s]), int(ends[b, s])
            if hi > lo:
                seg = hidden[b, lo:hi]
                out[b, s] = seg.max(0).values
                for h in range(H):  # first maximum
                    idx[b, s, h] = lo + int((seg[:, h] == seg[:, h].max()).nonzero()[0])
    return out, idx


def _hidden(B, T, H, dtype, device, generator, ties=False):
    h = torch.randn(B, T, H, generator=generator, dtype=torch.float64)
    if ties:  # few distinct values: many ties
        h = torch.randint(-2, 3, (B, T, H), generator=generator).double()
    return h.to(dtype=dtype, device=device)


@pytest.mark.parametrize("device", NATIVE_DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True])
def test_span_max_pool_matches_fallback_and_oracle(device, dtype, seed, ties):
    g = torch.Generator().manual_seed(seed)
    B, T, H, S = 1 + seed, 5 + 7 * seed, [1, 3, 64, 97][seed], 3 + 5 * seed
    hidden = _hidden(B, T, H, dtype, device, g, ties)
    starts, ends = random_ranges(B, S, T, max_len=6, generator=g, device=device)

    out, argmax = torch.ops.spertmt.span_max_pool(hidden, starts, ends, True)
    ref_out, ref_argmax = reference.span_max_pool(hidden.cpu(), starts.cpu(), ends.cpu(), True)
    oracle_out, oracle_argmax = oracle_pool(hidden, starts.cpu(), ends.cpu())
    # Max-pooling selects, it does not round: equality in every dtype.
    torch.testing.assert_close(out.cpu(), ref_out, rtol=0, atol=0)
    torch.testing.assert_close(out.cpu().double(), oracle_out, rtol=0, atol=0)
    assert torch.equal(argmax.cpu(), ref_argmax)
    assert torch.equal(argmax.cpu(), oracle_argmax)
    assert (out[(ends == starts)] == 0).all()


@pytest.mark.parametrize("device", NATIVE_DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_span_max_pool_gradient_matches_fallback(device, dtype):
    g = torch.Generator().manual_seed(1)
    B, T, H, S = 3, 31, 17, 40
    hidden = _hidden(B, T, H, dtype, device, g, ties=True)
    starts, ends = random_ranges(B, S, T, max_len=8, generator=g, device=device)
    grad_out = torch.randn(B, S, H, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)

    leaf = hidden.clone().requires_grad_()
    (grad,) = torch.autograd.grad(ops.span_max_pool(leaf, starts, ends), leaf, grad_out)
    leaf_ref = hidden.cpu().clone().requires_grad_()
    out_ref = reference.span_max_pool(leaf_ref, starts.cpu(), ends.cpu())[0]
    (grad_ref,) = torch.autograd.grad(out_ref, leaf_ref, grad_out.cpu())
    tol = dict(rtol=1.6e-2, atol=1e-2) if dtype == torch.bfloat16 else {}
    torch.testing.assert_close(grad.cpu(), grad_ref, **tol)
    # The gradient lands on the arg-max only: one position per (span, column) with a nonempty range.
    assert grad.shape == hidden.shape


@native
def test_ties_send_the_gradient_to_the_first_maximum():
    hidden = torch.tensor([[[1.0], [3.0], [3.0], [2.0]]], requires_grad=True)
    starts, ends = torch.tensor([[0]]), torch.tensor([[4]])
    for pool in (lambda *a: torch.ops.spertmt.span_max_pool(*a, True)[0],
                 lambda *a: reference.span_max_pool(*a)[0]):
        hidden.grad = None
        pool(hidden, starts, ends).sum().backward()
        assert hidden.grad.flatten().tolist() == [0.0, 1.0, 0.0, 0.0]


@native
def test_nan_propagates_like_torch_max():
    hidden = torch.tensor([[[1.0], [float("nan")], [5.0]]])
    out, argmax = torch.ops.spertmt.span_max_pool(hidden, torch.tensor([[0]]), torch.tensor([[3]]), True)
    ref_out, ref_argmax = reference.span_max_pool(hidden, torch.tensor([[0]]), torch.tensor([[3]]))
    assert out.isnan().all() and ref_out.isnan().all()
    assert argmax.item() == ref_argmax.item() == 1


@pytest.mark.parametrize("device", NATIVE_DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ties", [False, True])
def test_inference_path_without_argmax_gives_the_same_values(device, dtype, ties):
    """Without arg-max (inference) the kernels take a loop of their own: the same values as with it
    and as the fallback, NaN, ties and empty ranges included."""
    g = torch.Generator().manual_seed(23)
    B, T, H = 3, 30, 97
    hidden = _hidden(B, T, H, dtype, device, g, ties)
    hidden[0, 4, :5] = float("nan")
    starts, ends = random_ranges(B, 50, T, max_len=7, generator=g, device=device)
    head, tail = torch.stack([starts, ends], -1), torch.stack(random_ranges(B, 50, T, 7, g, device), -1)
    ws, we, nw, T_words = random_words(B, 12, 3, g, device)
    hidden_words = _hidden(B, T_words, H, dtype, device, g, ties)
    hidden_words[1, 2, 3:9] = float("nan")
    for op, args, ref in [
            (torch.ops.spertmt.span_max_pool, (hidden, starts, ends), reference.span_max_pool),
            (torch.ops.spertmt.pair_context_max_pool, (hidden, head, tail), reference.pair_context_max_pool),
            (torch.ops.spertmt.enumerate_span_max_pool, (hidden_words, ws, we, nw, 5),
             reference.enumerate_span_max_pool)]:
        fast, with_argmax = op(*args, False)[0], op(*args, True)[0]
        want = ref(*[a.cpu() if isinstance(a, torch.Tensor) else a for a in args], False)[0]
        assert torch.equal(fast.isnan(), with_argmax.isnan()) and fast.isnan().any()
        assert torch.equal(fast.nan_to_num(7.0), with_argmax.nan_to_num(7.0))
        assert torch.equal(fast.cpu().nan_to_num(7.0), want.nan_to_num(7.0))


@pytest.mark.parametrize("device", NATIVE_DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(3))
def test_enumerate_matches_span_max_pool_and_fallback(device, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    B, W, H, L = 2 + seed, [1, 7, 23][seed], [5, 32, 48][seed], [1, 3, 10][seed]
    word_starts, word_ends, num_words, T = random_words(B, W, 3, g, device)
    hidden = _hidden(B, T, H, dtype, device, g, ties=seed == 1)

    pooled, argmax, spans, mask = torch.ops.spertmt.enumerate_span_max_pool(
        hidden, word_starts, word_ends, num_words, L, True)
    ref = reference.enumerate_span_max_pool(hidden.cpu(), word_starts.cpu(), word_ends.cpu(), num_words.cpu(), L)
    for got, want in zip((pooled, argmax, spans, mask), ref):
        assert torch.equal(got.cpu(), want)

    # Same as pooling each span's piece range directly.
    expected_spans = [(i, i + w) for w in range(1, min(L, W) + 1) for i in range(W - w + 1)]
    assert spans.tolist() == [list(s) for s in expected_spans]
    first = word_starts[:, spans[:, 0]]
    last = word_ends[:, spans[:, 1] - 1]
    starts = torch.where(mask, first, 0)
    ends = torch.where(mask, last, 0)
    direct, direct_argmax = torch.ops.spertmt.span_max_pool(hidden, starts, ends, True)
    assert torch.equal(pooled, direct)
    assert torch.equal(argmax, direct_argmax)
    assert torch.equal(mask.cpu(), spans[:, 1].cpu().unsqueeze(0) <= num_words.cpu().unsqueeze(1))


@pytest.mark.parametrize("device", NATIVE_DEVICES)
def test_enumerate_gradient_matches_fallback(device):
    g = torch.Generator().manual_seed(5)
    word_starts, word_ends, num_words, T = random_words(3, 12, 3, g, device)
    hidden = _hidden(3, T, 24, torch.float64, device, g).requires_grad_()
    pooled = ops.enumerate_span_max_pool(hidden, word_starts, word_ends, num_words, 4).pooled
    grad_out = torch.randn(pooled.shape, generator=g, dtype=torch.float64).to(device)
    (grad,) = torch.autograd.grad(pooled, hidden, grad_out)
    leaf = hidden.detach().cpu().requires_grad_()
    ref = reference.enumerate_span_max_pool(leaf, word_starts.cpu(), word_ends.cpu(), num_words.cpu(), 4)[0]
    (grad_ref,) = torch.autograd.grad(ref, leaf, grad_out.cpu())
    torch.testing.assert_close(grad.cpu(), grad_ref)


@pytest.mark.parametrize("device", NATIVE_DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_pair_context_matches_fallback_and_definition(device, dtype):
    g = torch.Generator().manual_seed(3)
    B, T, H, P = 2, 40, 33, 60
    hidden = _hidden(B, T, H, dtype, device, g)
    hs, he = random_ranges(B, P, T, 5, g, device)
    ts, te = random_ranges(B, P, T, 5, g, device)
    head, tail = torch.stack([hs, he], -1), torch.stack([ts, te], -1)
    out, argmax = torch.ops.spertmt.pair_context_max_pool(hidden, head, tail, True)
    ref_out, ref_argmax = reference.pair_context_max_pool(hidden.cpu(), head.cpu(), tail.cpu())
    assert torch.equal(out.cpu(), ref_out) and torch.equal(argmax.cpu(), ref_argmax)
    # By definition: the pieces strictly between the two spans, in either order.
    for b in range(B):
        for p in range(P):
            (h0, h1), (t0, t1) = head[b, p].tolist(), tail[b, p].tolist()
            lo, hi = (h1, t0) if h1 <= t0 else (t1, h0) if t1 <= h0 else (0, 0)
            want = hidden[b, lo:hi].max(0).values if hi > lo else torch.zeros(H, dtype=dtype, device=device)
            assert torch.equal(out[b, p], want), (head[b, p], tail[b, p])


def test_pair_context_is_zero_for_adjacent_and_overlapping_spans():
    hidden = torch.randn(1, 10, 4) + 10  # all positive: a zero can only come from an empty context
    head = torch.tensor([[[1, 3], [2, 6], [1, 3], [5, 7], [1, 3]]])
    tail = torch.tensor([[[3, 5], [4, 8], [0, 9], [1, 3], [6, 9]]])
    out = ops.pair_context_max_pool(hidden, head, tail)
    assert (out[0, :3] == 0).all()  # adjacent, overlapping, nested
    torch.testing.assert_close(out[0, 3], hidden[0, 3:5].max(0).values)  # tail before head
    torch.testing.assert_close(out[0, 4], hidden[0, 3:6].max(0).values)


@pytest.mark.parametrize("device", NATIVE_DEVICES)
def test_gradcheck_float64(device):
    g = torch.Generator().manual_seed(7)
    hidden = torch.randn(2, 9, 3, generator=g, dtype=torch.float64).to(device).requires_grad_()
    starts, ends = random_ranges(2, 6, 9, 4, g, device)
    assert torch.autograd.gradcheck(lambda h: ops.span_max_pool(h, starts, ends), (hidden,))
    head, tail = torch.stack([starts, ends], -1), torch.stack(random_ranges(2, 6, 9, 4, g, device), -1)
    assert torch.autograd.gradcheck(lambda h: ops.pair_context_max_pool(h, head, tail), (hidden,))
    ws, we, nw, T = random_words(2, 4, 2, g, device)
    hidden = torch.randn(2, T, 3, generator=g, dtype=torch.float64).to(device).requires_grad_()
    assert torch.autograd.gradcheck(lambda h: ops.enumerate_span_max_pool(h, ws, we, nw, 3).pooled, (hidden,))


@pytest.mark.parametrize("device", NATIVE_DEVICES)
def test_opcheck(device):
    g = torch.Generator().manual_seed(11)
    hidden = torch.randn(2, 12, 5, generator=g).to(device)
    starts, ends = random_ranges(2, 7, 12, 4, g, device)
    head, tail = torch.stack([starts, ends], -1), torch.stack(random_ranges(2, 7, 12, 4, g, device), -1)
    ws, we, nw, T = random_words(2, 5, 2, g, device)
    hidden_w = torch.randn(2, T, 5, generator=g).to(device)
    for requires_grad in (False, True):
        h = hidden.clone().requires_grad_(requires_grad)
        hw = hidden_w.clone().requires_grad_(requires_grad)
        torch.library.opcheck(torch.ops.spertmt.span_max_pool, (h, starts, ends, True))
        torch.library.opcheck(torch.ops.spertmt.pair_context_max_pool, (h, head, tail, True))
        torch.library.opcheck(torch.ops.spertmt.enumerate_span_max_pool, (hw, ws, we, nw, 3, True))
    torch.library.opcheck(torch.ops.spertmt.span_max_pool, (hidden, starts, ends, False))
    _, argmax = torch.ops.spertmt.span_max_pool(hidden, starts, ends, True)
    grad = torch.randn(argmax.shape, generator=g).to(device)
    torch.library.opcheck(torch.ops.spertmt.max_pool_backward, (grad, argmax, 12))


@pytest.mark.parametrize("device", NATIVE_DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_max_pool_backward_matches_the_fallback(device, dtype):
    """The native backward op itself against reference.max_pool_backward: arg-max -1 (an empty
    range) sends nothing, and several spans sharing an arg-max piece add up there."""
    g = torch.Generator().manual_seed(17)
    argmax = torch.randint(-1, 9, (3, 40, 6), generator=g)  # 40 spans over 9 pieces: many collide
    grad_out = torch.randn(3, 40, 6, generator=g, dtype=dtype)
    want = reference.max_pool_backward(grad_out, argmax, 9)
    got = torch.ops.spertmt.max_pool_backward(grad_out.to(device), argmax.to(device), 9).cpu()
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(want.sum(1), torch.where(argmax >= 0, grad_out, 0).sum(1))  # nothing lost


@pytest.mark.parametrize("device", NATIVE_DEVICES)
def test_torch_compile_fullgraph_matches_eager(device):
    g = torch.Generator().manual_seed(13)
    hidden = torch.randn(2, 16, 8, generator=g).to(device)
    starts, ends = random_ranges(2, 9, 16, 5, g, device)
    head, tail = torch.stack([starts, ends], -1), torch.stack(random_ranges(2, 9, 16, 5, g, device), -1)

    def f(h):
        return (ops.span_max_pool(h, starts, ends).sum() * 2
                + ops.pair_context_max_pool(h, head, tail).square().sum())

    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    h1 = hidden.clone().requires_grad_()
    h2 = hidden.clone().requires_grad_()
    out_c, out_e = compiled(h1), f(h2)
    out_c.backward()
    out_e.backward()
    torch.testing.assert_close(out_c, out_e)
    torch.testing.assert_close(h1.grad, h2.grad)


def test_no_argmax_without_grad():
    hidden = torch.randn(1, 6, 4)
    starts, ends = torch.tensor([[0, 2]]), torch.tensor([[3, 6]])
    out = ops.span_max_pool(hidden, starts, ends)  # inference: no arg-max tensor needed
    torch.testing.assert_close(out, reference.span_max_pool(hidden, starts, ends)[0])
    if ops.native_available("cpu"):
        assert torch.ops.spertmt.span_max_pool(hidden, starts, ends, False)[1].numel() == 0


def test_empty_shapes():
    for S, T in ((0, 5), (3, 0)):
        hidden = torch.randn(2, T, 4)
        starts = torch.zeros(2, S, dtype=torch.long)
        out = ops.span_max_pool(hidden, starts, starts)
        assert out.shape == (2, S, 4) and (out == 0).all()
    pooled, spans, mask = ops.enumerate_span_max_pool(
        torch.randn(2, 3, 4), torch.zeros(2, 0, dtype=torch.long), torch.zeros(2, 0, dtype=torch.long),
        torch.zeros(2, dtype=torch.long), 10)
    assert pooled.shape == (2, 0, 4) and spans.shape == (0, 2) and mask.shape == (2, 0)


def test_int32_indices_and_noncontiguous_hidden():
    g = torch.Generator().manual_seed(2)
    hidden = torch.randn(2, 8, 10, generator=g).transpose(0, 0)[:, :, ::2]  # non-contiguous
    starts, ends = random_ranges(2, 5, 8, 3, g)
    out = ops.span_max_pool(hidden, starts.int(), ends.int())
    torch.testing.assert_close(out, reference.span_max_pool(hidden.contiguous(), starts, ends)[0])


BAD_INPUTS = [
    # (description, hidden, starts, ends, expected fragment)
    ("rank", torch.randn(8, 4), torch.zeros(1, 2, dtype=torch.long), torch.ones(1, 2, dtype=torch.long),
     "`hidden` has 2 dimensions"),
    ("dtype", torch.randn(1, 8, 4).half(), torch.zeros(1, 2, dtype=torch.long), torch.ones(1, 2, dtype=torch.long),
     "`hidden` has dtype"),
    ("index dtype", torch.randn(1, 8, 4), torch.zeros(1, 2), torch.ones(1, 2, dtype=torch.long), "`starts` has dtype"),
    ("batch", torch.randn(2, 8, 4), torch.zeros(1, 2, dtype=torch.long), torch.ones(1, 2, dtype=torch.long),
     "batch size of `hidden`"),
    ("spans", torch.randn(1, 8, 4), torch.zeros(1, 2, dtype=torch.long), torch.ones(1, 3, dtype=torch.long),
     "`ends` has size 3"),
    ("reversed", torch.randn(1, 8, 4), torch.tensor([[0, 5]]), torch.tensor([[1, 4]]), "reversed"),
    ("out of bounds", torch.randn(1, 8, 4), torch.tensor([[0, 5]]), torch.tensor([[1, 9]]), "out of bounds"),
    ("negative", torch.randn(1, 8, 4), torch.tensor([[-1, 5]]), torch.tensor([[1, 6]]), "0 <= start"),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
@pytest.mark.parametrize("impl", ["native", "reference"])
def test_bad_input_names_the_argument(case, impl):
    _, hidden, starts, ends, fragment = case
    if impl == "native":
        if not ops.native_available("cpu"):
            pytest.skip("native kernels not built")
        fn = torch.ops.spertmt.span_max_pool
    else:
        fn = reference.span_max_pool
    with pytest.raises(RuntimeError, match="spertmt.span_max_pool: .*" + fragment.replace("`", ".")):
        fn(hidden, starts, ends, True)


@pytest.mark.parametrize("impl", ["native", "reference"])
def test_bad_word_and_pair_ranges(impl):
    if impl == "native" and not ops.native_available("cpu"):
        pytest.skip("native kernels not built")
    mod = torch.ops.spertmt if impl == "native" else reference
    hidden = torch.randn(1, 8, 4)
    ws, we = torch.tensor([[1, 3, 2]]), torch.tensor([[3, 5, 4]])
    with pytest.raises(RuntimeError, match="words must be in order"):
        mod.enumerate_span_max_pool(hidden, ws, we, torch.tensor([3]), 2, True)
    with pytest.raises(RuntimeError, match="num_words"):
        mod.enumerate_span_max_pool(hidden, ws, we, torch.tensor([4]), 2, True)
    with pytest.raises(RuntimeError, match="max_width"):
        mod.enumerate_span_max_pool(hidden, ws, we, torch.tensor([1]), 0, True)
    # Padding words are never read: garbage there is fine.
    mod.enumerate_span_max_pool(hidden, torch.tensor([[1, 99]]), torch.tensor([[3, -5]]), torch.tensor([1]), 2, True)
    with pytest.raises(RuntimeError, match="tail_ranges"):
        mod.pair_context_max_pool(hidden, torch.tensor([[[0, 2]]]), torch.tensor([[[3, 12]]]), True)
    with pytest.raises(RuntimeError, match="head_ranges"):
        mod.pair_context_max_pool(hidden, torch.tensor([[[0, 2, 3]]]), torch.tensor([[[3, 5]]]), True)


@native
@pytest.mark.parametrize("call, message", [
    (lambda m: torch.ops.spertmt.span_max_pool(m(2, 5, 3), m(2, 4, dtype=torch.long), m(2, 3, dtype=torch.long), True),
     "`ends` has shape"),
    (lambda m: torch.ops.spertmt.span_max_pool(m(2, 5, 3, dtype=torch.long), m(2, 4, dtype=torch.long),
                                               m(2, 4, dtype=torch.long), True), "`hidden` has dtype"),
    (lambda m: torch.ops.spertmt.pair_context_max_pool(m(2, 5, 3), m(3, 4, 2, dtype=torch.long),
                                                       m(3, 4, 2, dtype=torch.long), True), "batch size of `hidden`"),
    (lambda m: torch.ops.spertmt.ranking_loss(m(4, 3), m(4, 3, dtype=torch.long), 2.5, 0.5, 2.0), "`gold` has dtype"),
    (lambda m: torch.ops.spertmt.span_en_iou(m(2, 4, 2, dtype=torch.long), m(2, 3, 2, dtype=torch.long),
                                             m(2, 4, dtype=torch.bool)), "`gold_mask` must have the shape"),
    (lambda m: torch.ops.spertmt.iou_scaled_bce(m(2, 4), m(2, 4), m(2, 5), 0.25), "`en_iou` has shape"),
])
def test_fakes_refuse_what_the_kernels_refuse(call, message):
    """Meta tensors (as torch.compile traces) get the kernels' argument errors, without data."""
    def meta(*shape, dtype=torch.float32):
        return torch.empty(*shape, dtype=dtype, device="meta")

    with pytest.raises(RuntimeError, match=message.replace("[", r"\[").replace("`", "`")):
        call(meta)


def test_availability_is_per_op():
    assert ops.native_available("cpu") == all(ops.native_available("cpu", op) for op in (
        "span_max_pool", "pair_context_max_pool", "enumerate_span_max_pool", "span_en_iou", "iou_scaled_bce",
        "ranking_loss"))
    assert not ops.native_available("tpu", "span_max_pool")


def test_fallbacks_only_runs_the_reference_within_its_block():
    """The public switch benchmarks use to time the fallbacks in the same process as the kernels."""
    was_native = ops.native_available("cpu")
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(2, 9, 4, generator=g)
    starts, ends = random_ranges(2, 5, 9, 4, g)
    with ops.fallbacks_only():
        assert not ops.native_available("cpu") and not ops.native_available("cpu", "adamw_no_bias_correction_")
        inside = ops.span_max_pool(hidden, starts, ends)
    assert ops.native_available("cpu") == was_native
    torch.testing.assert_close(inside, reference.span_max_pool(hidden, starts, ends)[0], rtol=0, atol=0)
