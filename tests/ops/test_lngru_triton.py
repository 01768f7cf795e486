"""The Triton LayerNorm-GRU against its reference: outputs and every gradient (x, the
weights, biases, gains and shifts of both normalisations, h0), both reset placements, with
lengths, h0 and reverse; on CUDA with a GPU, else on the CPU under Triton's interpreter."""

import itertools

import pytest
import torch

pytest.importorskip("triton", reason="triton is not installed (pip install triton)")

from triton_cases import DEVICE, grads, use_interpreter  # noqa: E402

from grukit.ops import TritonSettings, dispatch, triton_settings  # noqa: E402
from grukit.ops.lngru.reference import lngru_reference  # noqa: E402

_interpreter = pytest.fixture(scope="module", autouse=True)(use_interpreter)

NAMES = ["x", "w_ih", "w_hh", "b_ih", "b_hh", "g_ih", "be_ih", "g_hh", "be_hh", "h0"]


def _make(shape, reset_after, seed=0):
    """Inputs (B, T, I, H) requiring grad; gains near 1, shifts near 0, as after training."""
    g = torch.Generator().manual_seed(seed)
    b, t, i, h = shape

    def r(*s, scale=1.0, offset=0.0):
        v = torch.randn(*s, generator=g) * scale + offset
        return v.to(DEVICE).requires_grad_()

    p = dict(x=r(b, t, i), w_ih=r(3 * h, i, scale=0.7), w_hh=r(3 * h, h, scale=0.5),
             b_ih=r(3 * h, scale=0.3), b_hh=r(3 * h, scale=0.3) if reset_after else None,
             g_ih=r(3 * h, scale=0.2, offset=1.0), be_ih=r(3 * h, scale=0.2),
             g_hh=r(3 * h, scale=0.2, offset=1.0), be_hh=r(3 * h, scale=0.2), h0=r(b, h))
    return p


def _call(fn, p, lengths, reset_after, reverse, use_h0=True, **kw):
    h = p["w_hh"].shape[1]
    h0 = p["h0"] if use_h0 else p["x"].new_zeros(p["x"].shape[0], h)
    lens = None if lengths is None else torch.tensor(lengths)
    return fn(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["g_ih"], p["be_ih"],
              p["g_hh"], p["be_hh"], h0=h0, lengths=lens, reset_after=reset_after,
              reverse=reverse, **kw)


def _triton(*args, **kw):
    from grukit.ops.lngru.triton import lngru_triton

    return lngru_triton(*args, **kw)


def _compare(p, lengths, reset_after, reverse, use_h0=True, settings=None):
    """Triton (float32) against the reference (rtol 1e-4, atol 1e-5): outputs and the
    gradients of a random projection of them with respect to every input that has one. The
    reference runs in float64 on the same values: in float32 its own rounding reaches 6e-5
    (2e-5 relative) here (the normalisation over H = 4 values of reset_before); the kernel's
    stays under 2e-5 under the interpreter and reached the same 6e-5 on an H200."""
    keys = [k for k in NAMES if p[k] is not None and (use_h0 or k != "h0")]
    p64 = {k: None if v is None else v.detach().double().requires_grad_() for k, v in p.items()}
    ref = grads(lambda: _call(lngru_reference, p64, lengths, reset_after, reverse, use_h0),
                [p64[k] for k in keys])
    got = grads(lambda: _call(_triton, p, lengths, reset_after, reverse, use_h0,
                              settings=settings), [p[k] for k in keys])
    for name, a, b in zip(["y", "h_n", *keys], ref[0] + ref[1], got[0] + got[1], strict=True):
        assert b.dtype == torch.float32
        torch.testing.assert_close(b.double(), a, rtol=1e-4, atol=1e-5,
                                   msg=lambda m, n=name: f"{n}: {m}")


# B = 17: two programs, the second mostly padding; H = 20 padded to a block of 32
CASES = [((3, 5, 2, 4), [5, 2, 0]),
         ((17, 4, 3, 20), [4, 1, 3, 4, 2, 0, 4, 4, 1, 2, 3, 4, 4, 4, 2, 3, 1])]
GRID = list(itertools.product(range(len(CASES)), [True, False], [False, True]))


def _id(c):
    k, use_len, reverse = c
    b, t, i, h = CASES[k][0]
    return f"B{b}-T{t}-I{i}-H{h}-{'len' if use_len else 'full'}-{'rev' if reverse else 'fwd'}"


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("case", GRID, ids=_id)
def test_lngru_triton_matches_reference(case, reset_after):
    k, use_len, reverse = case
    shape, lengths = CASES[k]
    _compare(_make(shape, reset_after), lengths if use_len else None, reset_after, reverse,
             use_h0=use_len)


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_lngru_triton_without_biases_gains_or_shifts(reset_after):
    """None for every bias, gain and shift: gain 1, shift 0 (haste's initial values)."""
    p = _make((4, 3, 2, 6), reset_after, seed=1)
    for k in ("b_ih", "b_hh", "g_ih", "be_ih", "g_hh", "be_hh"):
        p[k] = None
    _compare(p, [3, 1, 2, 0], reset_after, reverse=False)


def test_lngru_triton_inference_equals_training():
    """The no-grad forward (nothing saved) gives the training forward's values exactly."""
    p = _make((5, 4, 3, 8), True, seed=2)
    train = [o.detach() for o in _call(_triton, p, [4, 1, 0, 3, 2], True, True)]
    with torch.no_grad():
        inf = _call(_triton, p, [4, 1, 0, 3, 2], True, True)
    for a, b in zip(train, inf, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=0)
    y, _ = _call(_triton, p, None, True, False)
    assert y.grad_fn.plan.kind == "rows" and y.grad_fn.plan.launch["NB"] == 1


def test_lngru_triton_declines_hidden_past_one_block():
    """H above max_block_h: refused in one sentence naming h0's units and the limit."""
    p = _make((2, 3, 2, 20), True)
    with pytest.raises(ValueError, match=r"h0 has 20 units.*at most max_block_h = 16"):
        _call(_triton, p, None, True, False, settings=TritonSettings(max_block_h=16))
    with triton_settings(max_block_h=16), pytest.raises(ValueError, match="max_block_h = 16"):
        _call(_triton, p, None, True, False)


def test_dispatch_reason_for_hidden_past_one_block():
    """The why_not a registration uses: one sentence for H past the block, None within."""
    from grukit.ops._triton import why_not_one_block

    x = torch.zeros(2, 3, 4, device=DEVICE)
    reason = why_not_one_block(x, h0=torch.zeros(2, 80, device=DEVICE), reset_after=True)
    assert reason.startswith("h0 has 80 units") and "max_block_h = 64" in reason
    assert why_not_one_block(x, h0=torch.zeros(2, 64, device=DEVICE)) is None
    with triton_settings(max_block_h=128):
        assert why_not_one_block(x, h0=torch.zeros(2, 80, device=DEVICE)) is None


def test_lngru_named_triton_backend_when_registered():
    """Once ``grukit.ops.lngru`` registers this backend, backend="triton" runs it."""
    if "triton" not in dispatch.backends("lngru"):
        pytest.skip("grukit.ops.lngru does not register its triton backend yet")
    from grukit.ops.lngru import lngru

    p = _make((3, 4, 2, 5), False, seed=3)
    y, hn = lngru(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], None, p["g_ih"], p["be_ih"],
                      p["g_hh"], p["be_hh"], h0=p["h0"], reset_after=False, backend="triton")
    ref = _call(lngru_reference, {k: None if v is None else v.detach().double()
                                  for k, v in p.items()}, None, False, False)
    torch.testing.assert_close(y.double(), ref[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(hn.double(), ref[1], rtol=1e-5, atol=1e-5)


# --- the recurrent normalisation at the edges of float32 ----------------------------------

def _compare_to_float64(p, lengths, reset_after):
    """Outputs and every gradient of the kernel (float32) against the float64 reference on
    the same values, atol relative to each tensor's largest magnitude: the float32 rounding
    of values around 1e20 is itself around 1e13."""
    keys = [k for k in NAMES if p[k] is not None]
    p64 = {k: None if v is None else v.detach().double().requires_grad_() for k, v in p.items()}
    ref = grads(lambda: _call(lngru_reference, p64, lengths, reset_after, False),
                [p64[k] for k in keys])
    got = grads(lambda: _call(_triton, p, lengths, reset_after, False), [p[k] for k in keys])
    for name, a, b in zip(["y", "h_n", *keys], ref[0] + ref[1], got[0] + got[1], strict=True):
        assert torch.isfinite(b).all(), name
        torch.testing.assert_close(b.double(), a, rtol=1e-4,
                                   atol=1e-5 * max(1.0, a.abs().max().item()),
                                   msg=lambda m, n=name: f"{n}: {m}")


def _scaled(reset_after, x=1.0, w_hh=1.0, seed=4):
    p = _make((3, 4, 2, 5), reset_after, seed=seed)
    with torch.no_grad():
        p["x"].mul_(x)
        p["w_hh"].mul_(w_hh)
    return p


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("scale", [(1e20, 1e20), (1.0, 1e37)], ids=["x-w_hh-1e20", "w_hh-1e37"])
def test_lngru_triton_huge_pre_activations_give_the_float64_result(scale, reset_after):
    """W_hh h around 1e20 (and 1e37): float32 squares of the recurrent products overflowed,
    s = 1/σ came out 0 and the recurrent gates were β alone (0.98 off); now outputs and
    every gradient are the float64 reference's."""
    _compare_to_float64(_scaled(reset_after, *scale), [4, 2, 3], reset_after)


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_lngru_triton_row_of_equal_values_normalises_to_zero(reset_after):
    """W_hh of one value and h0 one-hot: every recurrent product is 30000.01 exactly, whose
    normalisation is 0 (the gates β_hh + b_hh), as the float64 reference gives; a float32
    mean of them missed them by an ulp, and that ulp (0.002), normalised, moved the outputs
    by 0.39. (Only
    outputs: through W_hh of one value the gradients are sums that cancel exactly, times
    3e4, which float32 rounding, torch's own layer norm included, cannot give.)"""
    p = _make((2, 1, 3, 5), reset_after, seed=5)
    with torch.no_grad():
        p["w_hh"].fill_(30000.01)
        p["h0"].zero_()[:, 1] = 1.0
        p64 = {k: None if v is None else v.double() for k, v in p.items()}
        want = _call(lngru_reference, p64, None, reset_after, False)
        got = _call(_triton, p, None, reset_after, False)
    for a, b in zip(want, got, strict=True):
        torch.testing.assert_close(b.double(), a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("case", ["zeros", "H1", "tiny"])
def test_lngru_triton_zeros_one_unit_and_tiny_products_equal_the_reference(case, reset_after):
    """x = h0 = 0 (every product 0: variance 0, ε alone), H = 1 (reset_before normalises the
    n row over one value) and products around 1e-30 (their squares underflow): outputs and
    gradients are the float64 reference's."""
    p = _make((3, 4, 2, 1 if case == "H1" else 5), reset_after, seed=6)
    with torch.no_grad():
        if case == "zeros":
            p["x"].zero_()
            p["h0"].zero_()
        if case == "tiny":
            p["w_ih"].mul_(1e-30)
            p["w_hh"].mul_(1e-30)
    _compare_to_float64(p, [4, 1, 3], reset_after)
