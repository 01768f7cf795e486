"""Reference recurrences: float64 gradcheck, variable length, reverse, minGRU paths.

Each test names its backend ("auto" would give the fused kernel for most of these calls):
the reference loop, and the fused CPU kernel where it serves the call; ``backend_calls``
(tests/conftest.py) proves which ran.
"""

import pytest
import torch
from torch.autograd import gradcheck

from conftest import ran_only
from grukit import ops

DT = torch.float64


def _gru_args(b, t, i, h, reset_after, bias=True):
    g = torch.Generator().manual_seed(0)

    def r(*s):
        return torch.randn(*s, generator=g, dtype=DT, requires_grad=True)

    return dict(x=r(b, t, i), weight_ih=r(3 * h, i), weight_hh=r(3 * h, h),
                bias_ih=r(3 * h) if bias else None,
                bias_hh=r(3 * h) if bias and reset_after else None, h0=r(b, h))


GRID = [(2, 5, 3, 4), (3, 1, 2, 3), (1, 7, 1, 2)]


def grid_id(p):
    return "B{}-T{}-I{}-H{}".format(*p)


BACKENDS = ["reference", "cpu"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", GRID, ids=grid_id)
@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_gru_gradcheck(shape, reset_after, reverse, backend, backend_calls):
    a = _gru_args(*shape, reset_after)
    lengths = torch.randint(0, shape[1] + 1, (shape[0],), generator=torch.Generator()
                            .manual_seed(1))
    names = [k for k, v in a.items() if v is not None]

    def f(*tensors):
        kw = dict(zip(names, tensors, strict=True))
        y, h = ops.gru(kw.pop("x"), kw.pop("weight_ih"), kw.pop("weight_hh"),
                       kw.pop("bias_ih", None), kw.pop("bias_hh", None), h0=kw.pop("h0"),
                       lengths=lengths, reset_after=reset_after, reverse=reverse,
                       backend=backend)
        return y, h

    assert gradcheck(f, tuple(a[k] for k in names))
    ran_only(backend_calls, backend)


# the fused CPU LSTM has no projection: proj2 is the reference's alone
@pytest.mark.parametrize("proj,backend", [(0, "reference"), (0, "cpu"), (2, "reference")],
                         ids=["noproj-reference", "noproj-cpu", "proj2-reference"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_lstm_gradcheck(proj, reverse, backend, backend_calls):
    g = torch.Generator().manual_seed(0)
    b, t, i, h = 2, 4, 3, 3
    p = proj or h

    def r(*s):
        return torch.randn(*s, generator=g, dtype=DT, requires_grad=True)

    args = [r(b, t, i), r(4 * h, i), r(4 * h, p), r(4 * h), r(4 * h), r(b, p), r(b, h)]
    if proj:
        args.append(r(proj, h))

    def f(x, wi, wh, bi, bh, h0, c0, *wr):
        y, (hn, cn) = ops.lstm(x, wi, wh, bi, bh, h0=(h0, c0), lengths=[4, 2],
                               weight_hr=wr[0] if wr else None, reverse=reverse,
                               backend=backend)
        return y, hn, cn

    assert gradcheck(f, tuple(args))
    ran_only(backend_calls, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_gradcheck(nonlinearity, backend, backend_calls):
    g = torch.Generator().manual_seed(0)

    def r(*s):
        return torch.randn(*s, generator=g, dtype=DT, requires_grad=True)

    args = (r(2, 5, 3), r(4, 3), r(4, 4) * 0.3, r(4), r(4), r(2, 4))

    def f(x, wi, wh, bi, bh, h0):
        return ops.rnn(x, wi, wh, bi, bh, h0=h0, lengths=[5, 3], nonlinearity=nonlinearity,
                       backend=backend)

    assert gradcheck(f, args)
    ran_only(backend_calls, backend)


@pytest.mark.parametrize("mode", ["parallel", "sequential"])
def test_mingru_gradcheck(mode):
    g = torch.Generator().manual_seed(0)

    def r(*s):
        return torch.randn(*s, generator=g, dtype=DT, requires_grad=True)

    args = (r(2, 6, 3), r(8, 3), r(8), r(2, 4))

    def f(x, w, b, h0):
        return ops.mingru(x, w, b, h0=h0, lengths=[6, 2], mode=mode)

    assert gradcheck(f, args)


def _run(op, x, lengths=None, h0=None, reverse=False, backend="reference"):
    """Each op with fixed random weights (float64), returning (y, h_n-as-tensor). A sequence
    with no steps runs on the reference (no CPU kernel takes one)."""
    g = torch.Generator().manual_seed(3)
    i, h = x.shape[2], 4
    if x.shape[1] == 0:
        backend = "reference"

    def r(*s):
        return torch.randn(*s, generator=g, dtype=DT)

    if op == "gru_after":
        return ops.gru(x, r(3 * h, i), r(3 * h, h), r(3 * h), r(3 * h), h0=h0,
                       lengths=lengths, reverse=reverse, backend=backend)
    if op == "gru_before":
        return ops.gru(x, r(3 * h, i), r(3 * h, h), r(3 * h), None, h0=h0, lengths=lengths,
                       reset_after=False, reverse=reverse, backend=backend)
    if op == "lstm":
        hc = None if h0 is None else (h0, h0 * 0.5)
        y, (hn, cn) = ops.lstm(x, r(4 * h, i), r(4 * h, h), r(4 * h), r(4 * h), h0=hc,
                               lengths=lengths, reverse=reverse, backend=backend)
        return y, torch.cat([hn, cn], 1)
    if op == "rnn":
        return ops.rnn(x, r(h, i), r(h, h), r(h), r(h), h0=h0, lengths=lengths,
                       reverse=reverse, backend=backend)
    return ops.mingru(x, r(2 * h, i), r(2 * h), h0=h0, lengths=lengths, reverse=reverse,
                      mode=op.split("_")[1], backend=backend)


OPS = ["gru_after", "gru_before", "lstm", "rnn", "mingru_parallel", "mingru_sequential"]
CASES = [(op, be) for op in OPS for be in BACKENDS]


@pytest.mark.parametrize("op,backend", CASES, ids=[f"{o}-{b}" for o, b in CASES])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_padded_batch_equals_each_sequence_alone(op, backend, reverse, backend_calls):
    g = torch.Generator().manual_seed(5)
    lengths = [6, 2, 4, 1, 0]
    x = torch.randn(len(lengths), 6, 3, generator=g, dtype=DT)
    h0 = torch.randn(len(lengths), 4, generator=g, dtype=DT)
    y, hn = _run(op, x, torch.tensor(lengths), h0, reverse, backend)
    ran_only(backend_calls, backend)
    for b, n in enumerate(lengths):
        # padding in x must not leak: garbage beyond the end changes nothing
        y_alone, h_alone = _run(op, x[b:b + 1, :n], None, h0[b:b + 1], reverse, backend)
        torch.testing.assert_close(y[b, :n], y_alone[0])
        assert torch.all(y[b, n:] == 0)
        torch.testing.assert_close(hn[b], h_alone[0])  # length 0: the initial state


@pytest.mark.parametrize("op,backend", CASES, ids=[f"{o}-{b}" for o, b in CASES])
def test_padding_values_do_not_leak(op, backend, backend_calls):
    x = torch.randn(2, 5, 3, dtype=DT)
    x2 = x.clone()
    x2[1, 3:] = 1e6
    a = _run(op, x, torch.tensor([5, 3]), reverse=True, backend=backend)
    b = _run(op, x2, torch.tensor([5, 3]), reverse=True, backend=backend)
    torch.testing.assert_close(a, b)
    ran_only(backend_calls, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_reverse_without_lengths_is_flip(backend, backend_calls):
    x = torch.randn(3, 6, 2, dtype=DT)
    y_rev, h_rev = _run("gru_after", x, reverse=True, backend=backend)
    y_flip, h_flip = _run("gru_after", x.flip(1), backend=backend)
    torch.testing.assert_close(y_rev, y_flip.flip(1))
    torch.testing.assert_close(h_rev, h_flip)
    ran_only(backend_calls, backend)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mingru_parallel_equals_sequential(dtype):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(4, 300, 5, generator=g).to(dtype)
    w, b = torch.randn(16, 5, generator=g).to(dtype), torch.randn(16, generator=g).to(dtype)
    h0 = torch.randn(4, 8, generator=g).to(dtype)  # signed initial state
    for lengths in (None, [300, 17, 1, 0]):
        for reverse in (False, True):
            yp, hp = ops.mingru(x, w, b, h0=h0, lengths=lengths, reverse=reverse)
            ys, hs = ops.mingru(x, w, b, h0=h0, lengths=lengths, reverse=reverse,
                                mode="sequential")
            tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
            torch.testing.assert_close(yp, ys, **tol)
            torch.testing.assert_close(hp, hs, **tol)


def test_mingru_parallel_keeps_float32_precision_over_long_sequences():
    """The log-space scan's a* falls like −0.7·T; in float32 its cancellation cost 3e-4 in y
    and 1e-2 in dW at T = 2000. float32 parallel against float64 (outputs and gradients),
    within what the float32 sequential loop meets, and against that loop."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 2000, 3, generator=g, dtype=DT)
    w, b = torch.randn(16, 3, generator=g, dtype=DT), torch.randn(16, generator=g, dtype=DT)
    h0 = torch.randn(2, 8, generator=g, dtype=DT)

    def run(dtype, mode):
        p = [t.detach().to(dtype).requires_grad_() for t in (x, w, b, h0)]
        y, h = ops.mingru(*p[:3], h0=p[3], mode=mode, backend="reference")
        (y.sin().sum() + h.sum()).backward()
        return [y.detach(), h.detach()] + [t.grad for t in p]

    want = run(DT, "parallel")
    par, seq = run(torch.float32, "parallel"), run(torch.float32, "sequential")
    for got32, ref in zip(par, want, strict=True):
        torch.testing.assert_close(got32.double(), ref, rtol=1e-5,
                                   atol=1e-5 * ref.abs().max().item())
    for a, b_ in zip(par, seq, strict=True):
        torch.testing.assert_close(a, b_, rtol=1e-5, atol=1e-5 * b_.abs().max().item())


@pytest.mark.parametrize("backend", BACKENDS)
def test_gru_reset_before_matches_textbook_equations(backend, backend_calls):
    """reset_after=False written out from Cho et al. (2014), independent of the step code."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 4, generator=g, dtype=DT)
    wi, wh, bi = (torch.randn(9, 4, generator=g, dtype=DT),
                  torch.randn(9, 3, generator=g, dtype=DT), torch.randn(9, generator=g,
                                                                        dtype=DT))
    y, _ = ops.gru(x, wi, wh, bi, None, reset_after=False, backend=backend)
    ran_only(backend_calls, backend)
    h = torch.zeros(2, 3, dtype=DT)
    W = dict(zip("rzn", wi.split(3), strict=True))
    U = dict(zip("rzn", wh.split(3), strict=True))
    c = dict(zip("rzn", bi.split(3), strict=True))
    for t in range(3):
        xt = x[:, t]
        r = torch.sigmoid(xt @ W["r"].T + c["r"] + h @ U["r"].T)
        z = torch.sigmoid(xt @ W["z"].T + c["z"] + h @ U["z"].T)
        n = torch.tanh(xt @ W["n"].T + c["n"] + (r * h) @ U["n"].T)
        h = (1 - z) * n + z * h
        torch.testing.assert_close(y[:, t], h)
