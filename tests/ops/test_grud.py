"""grukit.ops.grud: the reference against autograd (gradcheck), the fused CPU kernel against
the reference (outputs and every gradient), the reduction to a GRU on [x, m], bad input."""

from __future__ import annotations

import pytest
import torch

from grukit.ops import dispatch, gru
from grukit.ops.grud import final_observed, grud

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-10)}


def _series(batch, steps, dims, dtype, seed=0, observed=0.5):
    """x with NaN where unobserved, mask, δ counted in steps since the last observation."""
    g = torch.Generator().manual_seed(seed)
    m = (torch.rand(batch, steps, dims, generator=g) < observed).to(dtype)
    x = torch.randn(batch, steps, dims, generator=g, dtype=dtype)
    x = torch.where(m > 0, x, torch.full_like(x, float("nan")))
    delta = torch.zeros(batch, steps, dims, dtype=dtype)
    for t in range(1, steps):
        delta[:, t] = 1 + (1 - m[:, t - 1]) * delta[:, t - 1]
    return x, m, delta


def _weights(dims, hidden, dtype, reset_after, seed=1):
    g = torch.Generator().manual_seed(seed)

    def w(*shape, scale=0.4):
        return (torch.randn(*shape, generator=g, dtype=dtype) * scale).requires_grad_()

    return dict(x_mean=w(dims), weight_ih=w(3 * hidden, dims), weight_hh=w(3 * hidden, hidden),
                bias_ih=w(3 * hidden), bias_hh=w(3 * hidden) if reset_after else None,
                weight_mh=w(3 * hidden, dims), decay_x_weight=w(dims, scale=1.0),
                decay_x_bias=w(dims), decay_h_weight=w(hidden, dims), decay_h_bias=w(hidden))


def _call(x, m, d, ws, **kw):
    return grud(x, m, d, ws["x_mean"], ws["weight_ih"], ws["weight_hh"], ws["bias_ih"],
                ws["bias_hh"], ws["weight_mh"], ws["decay_x_weight"], ws["decay_x_bias"],
                ws["decay_h_weight"], ws["decay_h_bias"], **kw)


def _fused_equals_reference(x, m, d, dtype, reset_after, **masks):
    """Run reference and fused cpu on the same series, weights (D = 4, H = 5), h0, lengths
    [7, 4, 0] and dropout masks; assert equal outputs and every gradient within TOL."""
    out = {}
    for backend in ("reference", "cpu"):
        ws = _weights(4, 5, dtype, reset_after)
        h0 = (torch.randn(3, 5, generator=torch.Generator().manual_seed(6), dtype=dtype)
              .requires_grad_())
        y, hn = _call(x, m, d, ws, h0=h0, lengths=[7, 4, 0], reset_after=reset_after,
                      backend=backend, **masks)
        (y.square().sum() + (hn * torch.arange(5, dtype=dtype)).sum()).backward()
        names = [k for k, v in ws.items() if v is not None]
        out[backend] = [y, hn, h0.grad] + [ws[k].grad for k in names]
    for a, b in zip(out["reference"], out["cpu"], strict=True):
        torch.testing.assert_close(a, b, **TOL[dtype])


def _placement(reset_after):
    return "reset_after" if reset_after else "reset_before"


@pytest.mark.parametrize("reset_after", [False, True], ids=_placement)
def test_reference_gradcheck_float64(reset_after):
    x, m, d = _series(2, 4, 3, torch.float64)
    x.requires_grad_()
    ws = _weights(3, 2, torch.float64, reset_after)
    h0 = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    names = [k for k, v in ws.items() if v is not None]

    def f(xi, h, *vals):
        kw = dict(ws) | dict(zip(names, vals, strict=True))
        y, hn = _call(xi, m, d, kw, h0=h, lengths=[4, 3], reset_after=reset_after,
                      backend="reference")
        return y, hn

    # gradcheck perturbs every entry of x: feed it NaN-free values where unobserved (the
    # entry zeroes them; their gradient is 0)
    xf = torch.where(m > 0, x.detach(), torch.zeros_like(x)).requires_grad_()
    assert torch.autograd.gradcheck(f, (xf, h0, *(ws[k] for k in names)))


def _grads(backend, x, m, d, ws, h0, lengths, reset_after, x_last0=None):
    x = x.clone().requires_grad_()
    h0 = h0.clone().requires_grad_()
    carried = [] if x_last0 is None else [x_last0.clone().requires_grad_()]
    y, hn = _call(x, m, d, ws, h0=h0, lengths=lengths, reset_after=reset_after,
                  backend=backend, x_last0=carried[0] if carried else None)
    g = torch.Generator().manual_seed(5)
    loss = (y * torch.randn(y.shape, generator=g, dtype=y.dtype)).sum() + (hn * hn).sum()
    tensors = [x, h0] + [v for v in ws.values() if v is not None] + carried
    grads = torch.autograd.grad(loss, tensors)
    return y.detach(), hn.detach(), grads


@pytest.mark.parametrize("reset_after", [False, True], ids=_placement)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("shape", [(3, 7, 4, 5), (1, 5, 2, 3)],
                         ids=lambda s: "B{}-T{}-D{}-H{}".format(*s))
def test_cpu_matches_reference(shape, dtype, reset_after):
    batch, steps, dims, hidden = shape
    x, m, d = _series(batch, steps, dims, dtype)
    ws = _weights(dims, hidden, dtype, reset_after)
    h0 = torch.randn(batch, hidden, dtype=dtype)
    lengths = [steps, 0, steps - 3] if batch == 3 else [steps - 1]
    # float64 also starts from values carried in from an earlier chunk (x_last0)
    x_last0 = torch.randn(batch, dims, dtype=dtype) if dtype == torch.float64 else None
    ref = _grads("reference", x, m, d, ws, h0, lengths, reset_after, x_last0)
    cpu = _grads("cpu", x, m, d, ws, h0, lengths, reset_after, x_last0)
    torch.testing.assert_close(cpu[0], ref[0], **TOL[dtype])
    torch.testing.assert_close(cpu[1], ref[1], **TOL[dtype])
    names = ["x", "h0"] + [k for k, v in ws.items() if v is not None]
    names += [] if x_last0 is None else ["x_last0"]
    for name, a, b in zip(names, cpu[2], ref[2], strict=True):
        assert torch.isfinite(a).all(), name
        torch.testing.assert_close(a, b, **TOL[dtype], msg=lambda s, n=name: f"{n}: {s}")
    xg = cpu[2][0]
    assert (xg[m == 0] == 0).all()  # no gradient to unobserved values


def test_cpu_inference_matches_training_forward():
    x, m, d = _series(4, 6, 3, torch.float32)
    ws = {k: (v.detach() if v is not None else None)
          for k, v in _weights(3, 5, torch.float32, False).items()}
    with torch.no_grad():
        a = _call(x, m, d, ws, lengths=[6, 2, 0, 5], backend="cpu")
    b = _call(x, m, d, ws, lengths=[6, 2, 0, 5], backend="reference")
    torch.testing.assert_close(a[0], b[0], **TOL[torch.float32])
    torch.testing.assert_close(a[1], b[1], **TOL[torch.float32])


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_chunks_carrying_h_and_last_values_equal_the_whole_series(backend):
    """Two chunks, the second from the first's h_n and final_observed, give the whole series'
    outputs and h_n (what streaming relies on)."""
    x, m, d = _series(3, 8, 4, torch.float64, observed=0.3)
    ws = {k: (v.detach() if v is not None else None)
          for k, v in _weights(4, 5, torch.float64, False).items()}
    lengths = torch.tensor([8, 5, 2])
    y, hn = _call(x, m, d, ws, lengths=lengths, backend=backend)
    first = lengths.clamp(max=4)
    y1, h1 = _call(x[:, :4], m[:, :4], d[:, :4], ws, lengths=first, backend=backend)
    carried = final_observed(x[:, :4], m[:, :4], ws["x_mean"], first)
    y2, h2 = _call(x[:, 4:], m[:, 4:], d[:, 4:], ws, h0=h1, x_last0=carried,
                   lengths=lengths - first, backend=backend)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y, **TOL[torch.float64])
    torch.testing.assert_close(h2, hn, **TOL[torch.float64])
    # without the carried values the second chunk imputes from x̄: a different answer
    y3, _ = _call(x[:, 4:], m[:, 4:], d[:, 4:], ws, h0=h1, lengths=lengths - first,
                  backend=backend)
    assert not torch.allclose(y3, y2)


def test_boolean_mask_equals_float_mask():
    x, m, d = _series(2, 5, 3, torch.float32)
    ws = {k: (v.detach() if v is not None else None)
          for k, v in _weights(3, 4, torch.float32, False).items()}
    a = _call(x, m.bool(), d, ws, backend="cpu")
    b = _call(x, m, d, ws, backend="cpu")
    torch.testing.assert_close(a, b)  # same code twice


def test_auto_picks_cpu_for_cpu_tensors():
    x, m, d = _series(2, 3, 2, torch.float32)
    name, _ = dispatch.explain("grud", "auto", x=x, h0=None, lengths=None, reset_after=False)
    assert name == "cpu"


@pytest.mark.parametrize("reset_after", [False, True], ids=_placement)
@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_all_observed_no_decay_is_gru_on_x_and_mask(backend, reset_after):
    """m = 1 and δ = 0 with b_γh ≤ 0: x̂ = x and ĥ = h, so GRU-D is a GRU on [x, m]."""
    batch, steps, dims, hidden = 3, 6, 4, 5
    x = torch.randn(batch, steps, dims, dtype=torch.float64)
    m = torch.ones_like(x)
    d = torch.zeros_like(x)
    ws = {k: (v.detach() if v is not None else None)
          for k, v in _weights(dims, hidden, torch.float64, reset_after).items()}
    ws["decay_h_bias"] = -ws["decay_h_bias"].abs()
    h0 = torch.randn(batch, hidden, dtype=torch.float64)
    y, hn = _call(x, m, d, ws, h0=h0, lengths=[6, 4, 1], reset_after=reset_after,
                  backend=backend)
    w_ih = torch.cat([ws["weight_ih"], ws["weight_mh"]], dim=1)  # (3H, 2D) on [x, m]
    y2, hn2 = gru(torch.cat([x, m], dim=2), w_ih, ws["weight_hh"], ws["bias_ih"],
                  ws["bias_hh"], h0=h0, lengths=[6, 4, 1], reset_after=reset_after,
                  backend="reference")
    torch.testing.assert_close(y, y2, **TOL[torch.float64])
    torch.testing.assert_close(hn, hn2, **TOL[torch.float64])


def test_missing_value_is_imputed_by_decay_toward_mean():
    """One variable seen at t=0 then missing: x̂ moves from x_0 toward x̄ as δ grows (the
    paper's eq. 5), seen through the first gate pre-activation of a one-unit GRU-D."""
    from grukit.ops.grud import input_side

    x = torch.tensor([[[2.0], [float("nan")], [float("nan")]]], dtype=torch.float64)
    m = torch.tensor([[[1.0], [0.0], [0.0]]], dtype=torch.float64)
    d = torch.tensor([[[0.0], [1.0], [2.0]]], dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    gi, gam = input_side(x, m, d, one * 0.5, torch.ones(3, 1, dtype=torch.float64), None,
                         torch.zeros(3, 1, dtype=torch.float64), one * 0.7, None,
                         torch.ones(1, 1, dtype=torch.float64), None)
    gx = torch.exp(-0.7 * d[0, :, 0])
    expected = gx * 2.0 + (1 - gx) * 0.5
    torch.testing.assert_close(gi[0, :, 0], expected)
    torch.testing.assert_close(gam[0, :, 0], torch.exp(-d[0, :, 0]))


def _ok(dtype=torch.float32):
    x, m, d = _series(2, 3, 2, dtype)
    return x, m, d, {k: (v.detach() if v is not None else None)
                     for k, v in _weights(2, 4, dtype, False).items()}


@pytest.mark.parametrize("case, match", [
    ("mask_shape", "mask must have the shape of x"),
    ("delta_shape", "delta must have the shape of x"),
    ("mask_values", "mask must hold only 0"),
    ("delta_negative", "delta .* must be finite and ≥ 0"),
    ("delta_nan", "delta .* must be finite and ≥ 0"),
    ("nan_observed", "x is NaN where mask is 1"),
    ("x_mean_shape", "x_mean must have shape"),
    ("decay_h_shape", "decay_h_weight must have shape"),
    ("weight_mh_shape", "weight_mh must have shape"),
    ("reverse", "reverse=True is not supported"),
    ("x_last0_shape", "x_last0 must have shape"),
    ("weight_dtype", "weight_hh is torch.float64 on cpu but x is torch.float32"),
    ("delta_dtype", "delta is torch.float64 but x is torch.float32"),
    ("mask_dtype", "mask must be boolean or floating"),
    ("bias_hh_before", "reset_after=False has no recurrent bias"),
])
def test_bad_input_one_sentence(case, match):
    x, m, d, ws = _ok()
    kw = {}
    if case == "mask_shape":
        m = m[:, :2]
    elif case == "delta_shape":
        d = d[..., :1]
    elif case == "mask_values":
        m = m * 2
    elif case == "delta_negative":
        d = d - 5
    elif case == "delta_nan":
        d = d.clone()
        d[0, 0, 0] = float("nan")
    elif case == "nan_observed":
        m = torch.ones_like(m)
    elif case == "x_mean_shape":
        ws["x_mean"] = torch.zeros(3)
    elif case == "decay_h_shape":
        ws["decay_h_weight"] = torch.zeros(2, 4)
    elif case == "weight_mh_shape":
        ws["weight_mh"] = torch.zeros(12, 3)
    elif case == "weight_dtype":
        ws["weight_hh"] = ws["weight_hh"].double()
    elif case == "delta_dtype":
        d = d.double()
    elif case == "mask_dtype":
        m = m.int()
    elif case == "x_last0_shape":
        kw["x_last0"] = torch.zeros(2, 3)
    elif case == "reverse":
        kw["reverse"] = True
    elif case == "bias_hh_before":
        ws["bias_hh"] = torch.zeros(12)
    with pytest.raises((ValueError, TypeError), match=match) as err:
        _call(x, m, d, ws, **kw)
    assert "\n" not in str(err.value)


def test_gradient_of_a_gradient_through_the_fused_kernel_says_to_use_reference():
    """create_graph=True through the fused backward would drop the second-order term; it is
    refused in one sentence naming the reference backend, which gives it."""
    x, m, d = _series(3, 7, 4, torch.float64)
    ws = _weights(4, 5, torch.float64, True)

    def grad_penalty(backend):
        y, _ = _call(x, m, d, ws, backend=backend, reset_after=True)
        gw, = torch.autograd.grad((y ** 2).sum(), ws["weight_ih"], create_graph=True)
        return torch.autograd.grad((gw ** 2).sum(), ws["weight_hh"], allow_unused=True)[0]

    with pytest.raises(RuntimeError, match="GRU-D kernel gives first derivatives only"):
        grad_penalty("cpu")
    assert grad_penalty("reference").abs().sum() > 0
