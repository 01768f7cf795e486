"""Recurrent dropout (``state_mask``) and zoneout (``zoneout_mask``) in ``grukit.ops.gru``.

The reference defines them (float64 gradcheck, a hand-written loop); every backend that
serves them must equal the reference with the same fixed masks.
"""

import pytest
import torch
from torch.autograd import gradcheck

from conftest import ran_only
from grukit import ops
from grukit.ops import dispatch

DT = torch.float64


def _args(b, t, i, h, reset_after, dtype=DT, seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*s):
        return torch.randn(*s, generator=g, dtype=dtype).requires_grad_()

    return dict(x=r(b, t, i), weight_ih=r(3 * h, i), weight_hh=r(3 * h, h), bias_ih=r(3 * h),
                bias_hh=r(3 * h) if reset_after else None, h0=r(b, h))


def _masks(b, t, h, dtype=DT, seed=1, p=0.3):
    g = torch.Generator().manual_seed(seed)
    keep = (torch.rand(b, h, generator=g) > p).to(dtype) / (1 - p)  # (B, H), Keras scaling
    zone = (torch.rand(b, t, h, generator=g) < p).to(dtype)  # (B, T, H)
    return keep, zone


def _run(a, backend, **kw):
    return ops.gru(a["x"], a["weight_ih"], a["weight_hh"], a["bias_ih"], a["bias_hh"],
                   h0=a["h0"], backend=backend, **kw)


def _manual(a, reset_after, zone, lengths=None):
    """Zoneout by hand: the plain GRU step of ``ops.gru_step``, then h = m h + (1 − m) h̃,
    and a frozen state (zero output) past each sequence's length."""
    x, h = a["x"], a["h0"]
    b, t = x.shape[:2]
    gi = torch.nn.functional.linear(x, a["weight_ih"], a["bias_ih"])  # (B, T, 3H)
    ys = []
    for s in range(t):
        cand = ops.gru_step(gi[:, s], h, a["weight_hh"], a["bias_hh"], reset_after)
        new = zone[:, s] * h + (1 - zone[:, s]) * cand
        live = torch.ones(b, 1, dtype=x.dtype) if lengths is None else \
            (s < lengths).unsqueeze(1).to(x.dtype)
        h = live * new + (1 - live) * h
        ys.append(live * new)
    return torch.stack(ys, 1), h


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_zoneout_reference_equals_hand_written_loop(reset_after):
    a = _args(3, 6, 2, 4, reset_after)
    _, zone = _masks(3, 6, 4)
    lengths = torch.tensor([6, 3, 0])
    y, h = _run(a, "reference", reset_after=reset_after, zoneout_mask=zone, lengths=lengths)
    y_ref, h_ref = _manual(a, reset_after, zone, lengths)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(h, h_ref, rtol=0, atol=1e-12)


def test_zoneout_all_ones_keeps_h0_and_all_zeros_is_plain_gru():
    a = _args(2, 5, 3, 4, True)
    ones = torch.ones(2, 5, 4, dtype=DT)
    y, h = _run(a, "reference", zoneout_mask=ones)
    torch.testing.assert_close(h, a["h0"], rtol=0, atol=0)
    torch.testing.assert_close(y, a["h0"].unsqueeze(1).expand(2, 5, 4), rtol=0, atol=0)
    y0, h0 = _run(a, "reference", zoneout_mask=torch.zeros_like(ones))
    y1, h1 = _run(a, "reference")
    torch.testing.assert_close(y0, y1, rtol=0, atol=1e-14)
    torch.testing.assert_close(h0, h1, rtol=0, atol=1e-14)


def test_zoneout_mask_goes_with_its_input_step_in_reverse():
    """reverse=True on (x, m) equals the forward run on each sequence reversed in time,
    with its mask reversed the same way."""
    a = _args(2, 5, 2, 3, True)
    _, zone = _masks(2, 5, 3)
    lengths = torch.tensor([5, 3])
    y, h = _run(a, "reference", zoneout_mask=zone, lengths=lengths, reverse=True)
    for b in range(2):
        n = int(lengths[b])
        ab = dict(a, x=a["x"][b:b + 1, :n].flip(1), h0=a["h0"][b:b + 1])
        yb, hb = _run(ab, "reference", zoneout_mask=zone[b:b + 1, :n].flip(1))
        torch.testing.assert_close(y[b:b + 1, :n], yb.flip(1), rtol=0, atol=1e-12)
        torch.testing.assert_close(h[b:b + 1], hb, rtol=0, atol=1e-12)


# gradcheck on the oracle (DESIGN §3.1); the fused cpu kernel's gradients are checked against
# it in float64 at 1e-10 (test_fused_cpu_with_*_equals_reference, each mask alone and both, in
# both directions); its own gradchecks added ~74 s to this file on a cold numba cache
@pytest.mark.parametrize("backend", ["reference"])
@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("dropout", [False, True], ids=["zoneout", "zoneout+dropout"])
def test_zoneout_gradcheck(reset_after, reverse, dropout, backend, backend_calls):
    a = _args(2, 4, 2, 3, reset_after)
    keep, zone = _masks(2, 4, 3, p=0.4)
    lengths = torch.tensor([4, 2])
    names = [k for k, v in a.items() if v is not None]

    def f(*tensors):
        kw = dict(zip(names, tensors, strict=True))
        return ops.gru(kw.pop("x"), kw.pop("weight_ih"), kw.pop("weight_hh"),
                       kw.pop("bias_ih"), kw.pop("bias_hh", None), h0=kw.pop("h0"),
                       lengths=lengths, reset_after=reset_after, reverse=reverse,
                       state_mask=keep if dropout else None, zoneout_mask=zone,
                       backend=backend)

    assert gradcheck(f, tuple(a[k] for k in names))
    ran_only(backend_calls, backend)


def _loss_and_grads(a, y, h):
    """A loss that weighs every output differently, and the gradient of every input."""
    w = torch.arange(y.numel(), dtype=y.dtype).reshape(y.shape).sin()
    ((y * w).sum() + (h * h).sum()).backward()
    names = [k for k, v in a.items() if v is not None]
    grads = {k: a[k].grad.clone() for k in names}
    for k in names:
        a[k].grad = None
    return grads


TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def _fused_equals_reference(dtype, reset_after, reverse, drop, zone, backend_calls):
    b, t, i, h = 3, 7, 2, 5
    a = _args(b, t, i, h, reset_after, dtype=dtype)
    keep, mz = _masks(b, t, h, dtype=dtype)
    kw = dict(lengths=torch.tensor([7, 4, 0]), reset_after=reset_after, reverse=reverse,
              state_mask=keep if drop else None, zoneout_mask=mz if zone else None)
    out = {}
    for backend in ("reference", "cpu"):
        y, hn = _run(a, backend, **kw)
        out[backend] = (y.detach(), hn.detach(), _loss_and_grads(a, y, hn))
        with torch.no_grad():  # the inference path of the kernel too
            yi, hi = _run(a, backend, **kw)
        torch.testing.assert_close(yi, out[backend][0], rtol=0, atol=TOL[dtype])
        torch.testing.assert_close(hi, out[backend][1], rtol=0, atol=TOL[dtype])
    (y0, h0, g0), (y1, h1, g1) = out["reference"], out["cpu"]
    tol = TOL[dtype]
    torch.testing.assert_close(y1, y0, rtol=tol, atol=tol)
    torch.testing.assert_close(h1, h0, rtol=tol, atol=tol)
    for k in g0:
        torch.testing.assert_close(g1[k], g0[k], rtol=tol, atol=tol, msg=f"d{k}")
    assert backend_calls.count(("gru", "cpu")) == 2


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_fused_cpu_with_both_masks_equals_reference(dtype, reset_after, reverse,
                                                    backend_calls):
    """Recurrent dropout and zoneout together, lengths (one empty sequence), h0: outputs,
    final state and the gradient of x, every weight, bias and h0."""
    _fused_equals_reference(dtype, reset_after, reverse, True, True, backend_calls)


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("mask", ["state_mask", "zoneout_mask"])
def test_fused_cpu_with_one_mask_equals_reference(reset_after, reverse, mask, backend_calls):
    _fused_equals_reference(torch.float64, reset_after, reverse, mask == "state_mask",
                            mask == "zoneout_mask", backend_calls)


def test_auto_takes_the_fused_kernel_for_masks(backend_calls):
    a = _args(2, 4, 1, 3, True, dtype=torch.float32)
    keep, zone = _masks(2, 4, 3, dtype=torch.float32)
    _run(a, "auto", state_mask=keep, zoneout_mask=zone)
    ran_only(backend_calls, "cpu")


def test_masks_that_require_grad_go_to_the_reference():
    a = _args(2, 4, 1, 3, True)
    keep, zone = _masks(2, 4, 3)
    zone.requires_grad_()
    name, skipped = dispatch.explain("gru", "auto", x=a["x"], h0=a["h0"], lengths=None,
                                     reset_after=True, state_mask=keep, zoneout_mask=zone)
    assert name == "reference"
    assert "zoneout_mask requires grad" in skipped["cpu"]
    with pytest.raises(ValueError, match="zoneout_mask requires grad.*detach"):
        _run(a, "cpu", zoneout_mask=zone)


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_backends_without_zoneout_decline_it(backend):
    x = torch.zeros(2, 3, 1)
    zone = torch.zeros(2, 3, 4)
    with pytest.raises(ValueError, match=f"backend='{backend}' cannot serve.*zoneout"):
        dispatch.explain("gru", backend, x=x, h0=torch.zeros(2, 4), lengths=None,
                         reset_after=True, zoneout_mask=zone)


@pytest.mark.parametrize("mask, match", [
    ([[0.0]], "zoneout_mask must be a torch.Tensor of shape \\(2, 3, 4\\)"),
    (torch.zeros(2, 4), "zoneout_mask must have shape \\(2, 3, 4\\); got \\(2, 4\\)"),
    (torch.zeros(2, 3, 4, dtype=DT), "zoneout_mask is torch.float64 .* move it with"),
    (torch.zeros(2, 3, 4, dtype=torch.int64), "zoneout_mask is torch.int64"),
], ids=["list", "rank", "dtype", "int"])
def test_bad_zoneout_mask_is_refused_in_one_sentence(mask, match):
    x = torch.zeros(2, 3, 1)
    w_ih, w_hh = torch.zeros(12, 1), torch.zeros(12, 4)
    with pytest.raises((TypeError, ValueError), match=match):
        ops.gru(x, w_ih, w_hh, zoneout_mask=mask)


# -- recurrent dropout in the fused LSTM and RNN ---------------------------------------------
def _lstm_rnn_args(op, b, t, i, h, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    gates = 4 if op == "lstm" else 1

    def r(*s):
        return torch.randn(*s, generator=g, dtype=dtype).requires_grad_()

    a = dict(x=r(b, t, i), weight_ih=r(gates * h, i), weight_hh=r(gates * h, h),
             bias_ih=r(gates * h), bias_hh=r(gates * h), h0=r(b, h))
    if op == "lstm":
        a["c0"] = r(b, h)
    return a


def _run_op(op, a, backend, **kw):
    h0 = (a["h0"], a["c0"]) if op == "lstm" else a["h0"]
    y, hn = getattr(ops, op)(a["x"], a["weight_ih"], a["weight_hh"], a["bias_ih"],
                             a["bias_hh"], h0=h0, backend=backend, **kw)
    return y, (hn[0] + hn[1] if op == "lstm" else hn)


@pytest.mark.parametrize("op", ["lstm", "rnn"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_fused_lstm_rnn_with_state_mask_equal_reference(op, dtype, reverse, backend_calls):
    b, t, h = 3, 6, 4
    a = _lstm_rnn_args(op, b, t, 2, h, dtype)
    keep, _ = _masks(b, t, h, dtype=dtype)
    kw = dict(lengths=torch.tensor([6, 2, 0]), reverse=reverse, state_mask=keep)
    out = {}
    for backend in ("reference", "cpu"):
        y, hn = _run_op(op, a, backend, **kw)
        out[backend] = (y.detach(), hn.detach(), _loss_and_grads(a, y, hn))
        with torch.no_grad():
            yi, _ = _run_op(op, a, backend, **kw)
        torch.testing.assert_close(yi, out[backend][0], rtol=0, atol=TOL[dtype])
    (y0, h0, g0), (y1, h1, g1) = out["reference"], out["cpu"]
    tol = TOL[dtype]
    torch.testing.assert_close(y1, y0, rtol=tol, atol=tol)
    torch.testing.assert_close(h1, h0, rtol=tol, atol=tol)
    for k in g0:
        torch.testing.assert_close(g1[k], g0[k], rtol=tol, atol=tol, msg=f"d{k}")
    assert backend_calls.count((op, "cpu")) == 2
