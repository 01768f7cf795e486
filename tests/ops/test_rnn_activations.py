"""``grukit.ops.rnn`` with Keras' other activations (``nonlinearity="sigmoid"``, "elu",
"linear", ...): they run on the reference backend ("auto" takes it, a fused backend named is
refused), and outputs and every gradient equal torch autograd of a plain loop
``h' = act(W_ih x + b_ih + W_hh h + b_hh)`` written here, with lengths and reverse."""

import pytest
import torch
from torch.autograd import gradcheck

from grukit import ops
from grukit.ops.activations import ELEMENTWISE

OTHERS = sorted(k for k in ELEMENTWISE if k not in (None, "tanh", "relu"))


def _loop(x, wi, wh, bi, bh, h0, lengths, act, reverse):
    """The plain loop, one sequence at a time over its own steps: y (B, T, H), h_n (B, H)."""
    fn = ELEMENTWISE[act] or (lambda t: t)
    ys, hs = [], []
    for b in range(x.shape[0]):
        n, h = int(lengths[b]), h0[b]
        steps = range(n - 1, -1, -1) if reverse else range(n)
        out = [torch.zeros_like(h) for _ in range(x.shape[1])]
        for t in steps:
            h = fn(x[b, t] @ wi.T + bi + h @ wh.T + bh)
            out[t] = h
        ys.append(torch.stack(out))
        hs.append(h)
    return torch.stack(ys), torch.stack(hs)


def _args(dtype=torch.float32, seed=0, recurrent=0.2):
    g = torch.Generator().manual_seed(seed)

    def r(*s, scale=1.0):
        return (torch.randn(*s, generator=g, dtype=dtype) * scale).requires_grad_()

    return (r(3, 6, 2, scale=0.5), r(4, 2, scale=0.5), r(4, 4, scale=recurrent), r(4, scale=0.3),
            r(4, scale=0.3), r(3, 4, scale=0.5))


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("act", OTHERS)
def test_outputs_and_gradients_equal_a_plain_loop(act, reverse, backend_calls):
    lengths = torch.tensor([6, 2, 4])
    args = _args(recurrent=0.02 if act == "exponential" else 0.2)  # exp stays finite
    y, h = ops.rnn(*args[:5], h0=args[5], lengths=lengths, nonlinearity=act, reverse=reverse)
    assert backend_calls == [("rnn", "reference")]  # "auto" takes the reference
    want_y, want_h = _loop(*args, lengths, act, reverse)
    torch.testing.assert_close(y, want_y, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h, want_h, rtol=1e-5, atol=1e-6)
    w = torch.randn_like(y)
    got = torch.autograd.grad((y * w).sum() + h.sum(), args)
    want = torch.autograd.grad((want_y * w).sum() + want_h.sum(), args)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("act", ["sigmoid", "elu", "linear", "softplus"])
def test_gradcheck_float64(act):
    args = _args(torch.float64)

    def f(x, wi, wh, bi, bh, h0):
        return ops.rnn(x, wi, wh, bi, bh, h0=h0, lengths=[6, 3, 1], nonlinearity=act)

    assert gradcheck(f, args)


def test_the_activation_is_computed_not_tanh():
    # a sigmoid RNN's outputs lie in (0, 1); tanh's would be negative somewhere
    args = [a.detach() for a in _args()]
    y, _ = ops.rnn(*args[:5], h0=args[5], nonlinearity="sigmoid")
    assert bool((y > 0).all()) and bool((y < 1).all())
    # the plain inference call (no gradient, no lengths) skips dispatch for tanh and relu only
    torch.testing.assert_close(y, _loop(*args, [6] * 3, "sigmoid", False)[0])
    # torch's functions and Keras' names alike; None is "linear"
    lin, _ = ops.rnn(*args[:5], h0=args[5], nonlinearity=None)
    torch.testing.assert_close(lin, ops.rnn(*args[:5], h0=args[5], nonlinearity="linear")[0])
    torch.testing.assert_close(ops.rnn(*args[:5], h0=args[5], nonlinearity=torch.sigmoid)[0], y)


def test_a_fused_backend_named_is_refused_in_one_sentence():
    x, wi, wh, bi, bh, h0 = (a.detach() for a in _args())
    with pytest.raises(ValueError, match=r"^rnn: backend='cpu' computes tanh and relu only; "
                                         r"nonlinearity='elu' runs on backend='reference' "
                                         r"\(what 'auto' takes\)\.$"):
        ops.rnn(x, wi, wh, bi, bh, nonlinearity="elu", backend="cpu")
    ops.rnn(x, wi, wh, bi, bh, nonlinearity="elu", backend="reference")
    with pytest.raises(ValueError, match="unknown backend"):
        ops.rnn(x, wi, wh, bi, bh, nonlinearity="elu", backend="fast")


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_tanh_and_relu_keep_the_fused_kernel(act, backend_calls):
    x, wi, wh, bi, bh, h0 = _args()
    ops.rnn(x, wi, wh, bi, bh, h0=h0, lengths=[6, 2, 4], nonlinearity=act)
    assert backend_calls == [("rnn", "cpu")]
