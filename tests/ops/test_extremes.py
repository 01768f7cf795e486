"""Inputs of huge magnitude and non-finite values through the fused CPU kernels (compiled
with fastmath, whose float32 tanh is a clamped rational form): they give what the plain
torch reference gives. A saturated gate is 0 or 1, never NaN (exp overflows to Inf there);
a NaN or ±Inf in x reaches the same outputs as in torch, no fewer."""

import pytest
import torch

import grukit.nn as gnn
from grukit import ops

CASES = [("gru", 3, {"reset_after": True}), ("gru", 3, {"reset_after": False}),
         ("lstm", 4, {}), ("rnn", 1, {}), ("rnn", 1, {"nonlinearity": "relu"}),
         ("lngru", 3, {"reset_after": True}), ("lngru", 3, {"reset_after": False})]


def _cid(c):
    return c[0] + "".join(f"-{k}={v}" for k, v in c[2].items())


def _case(op, gates, opts, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*s):
        return torch.randn(*s, generator=g, dtype=dtype)

    b, t, i, h = 3, 4, 2, 5
    ws = [r(gates * h, i), r(gates * h, h), r(gates * h),
          None if opts.get("reset_after") is False else r(gates * h)]
    if op == "lngru":
        ws += [1 + r(3 * h), r(3 * h), 1 + r(3 * h), r(3 * h)]
    h0 = (r(b, h), r(b, h)) if op == "lstm" else r(b, h)
    return r(b, t, i), ws, h0


def _run(op, x, ws, h0, opts, backend):
    y, hn = getattr(ops, op)(x, *ws, h0=h0, backend=backend, **opts)
    return [y, *(hn if op == "lstm" else (hn,))]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=_cid)
def test_huge_inputs_saturate_as_torch(case, dtype):
    op, gates, opts = case
    x, ws, h0 = _case(op, gates, opts, dtype)
    x = 1e4 * x  # pre-activations of ±1e4: exp(1e4) overflows, σ and tanh must not
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-9)
    if opts.get("nonlinearity") == "relu":  # unbounded: sums of terms of ~1e8 that cancel
        tol = dict(rtol=1e-4, atol=0) if dtype == torch.float32 else dict(rtol=1e-9, atol=0)

    def grads(backend):
        leaves = [x.clone().requires_grad_()] + [w.clone().requires_grad_() for w in ws
                                                 if w is not None]
        it = iter(leaves[1:])
        out = _run(op, leaves[0], [None if w is None else next(it) for w in ws], h0, opts,
                   backend)
        loss = sum((o * torch.linspace(-1, 1, o.numel(), dtype=dtype).view(o.shape)).sum()
                   for o in out)
        return [o.detach() for o in out] + list(torch.autograd.grad(loss, leaves))

    want, got = grads("reference"), grads("cpu")
    for a, b in zip(got, want, strict=True):
        assert not a.isnan().any()
        torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=_cid)
def test_nan_and_inf_in_x_reach_what_they_reach_in_torch(case, dtype):
    op, gates, opts = case
    x, ws, h0 = _case(op, gates, opts, dtype)
    x[0, 1, 0] = float("nan")
    x[1, 2, 1] = float("inf")
    x[2, 0, 0] = -float("inf")
    with torch.no_grad():
        want = _run(op, x, ws, h0, opts, "reference")
        got = _run(op, x, ws, h0, opts, "cpu")
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, equal_nan=True)


@pytest.mark.parametrize("cls,kw", [(gnn.GRU, {"reset_after": True}),
                                    (gnn.GRU, {"reset_after": False}), (gnn.LSTM, {}),
                                    (gnn.RNN, {})], ids=["gru", "gru-reset_before", "lstm",
                                                         "rnn"])
def test_stream_kernels_at_the_extremes(cls, kw):
    torch.manual_seed(0)
    m = cls(2, 5, num_layers=2, batch_first=True, **kw)
    x = 1e4 * torch.randn(1, 6, 2)
    x[0, 3, 1] = float("nan")
    with torch.no_grad():
        want, _ = m(x)
        s = gnn.Stream(m)
        got = torch.stack([torch.from_numpy(s.step(x[0, t].numpy())) for t in range(6)])
    torch.testing.assert_close(got, want[0], rtol=1e-5, atol=1e-5, equal_nan=True)
    assert got[:3].isfinite().all() and got[3:].isnan().all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_mingru_parallel_scan_equals_the_loop_at_the_extremes(dtype):
    """The log-space scan (mode="parallel") against the step loop ("sequential"): at
    |x| of 1e12 and 1e20 the scan's a* (Σ log(1 − z), about −|k| a step) cancelled to a
    wrong h (1e-3 and 100% off), and a z of exactly 1 (k = +Inf) made a* −Inf and h NaN where
    the loop restarts from h̃."""
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(8, 2, generator=g, dtype=dtype), torch.randn(8, generator=g, dtype=dtype)
    h0 = torch.randn(3, 4, generator=g, dtype=dtype)
    for scale in (1e4, 1e12, 1e20):
        x = scale * torch.randn(3, 50, 2, generator=g, dtype=dtype)
        got = ops.mingru(x, w, b, h0=h0, mode="parallel", backend="reference")
        want = ops.mingru(x, w, b, h0=h0, mode="sequential", backend="reference")
        for a, e in zip(got, want, strict=True):
            torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-5)
    x = torch.randn(3, 5, 2, generator=g, dtype=dtype)
    w = torch.tensor([[1.0, 1.0]] * 4 + [[-1.0, 1.0]] * 4, dtype=dtype)  # k = x₀ + x₁,
    x[0, 1, 0] = float("inf")  # z = 1, h̃ = σ(−Inf) = 0: h = 0, then on   # v = x₁ − x₀
    x[1, 2, 1] = -float("inf")  # z = 0 and h̃ = 0: h kept
    got = ops.mingru(x, w, None, h0=h0, mode="parallel", backend="reference")
    want = ops.mingru(x, w, None, h0=h0, mode="sequential", backend="reference")
    assert want[0].isfinite().all()
    for a, e in zip(got, want, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-6)
