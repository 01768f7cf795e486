"""The steps past each sequence's length are never read: NaN or Inf there (what a series
reindexed by pandas pads with) leaves outputs, states and every gradient as zero padding
does, as ``pack_padded_sequence`` gives in torch.nn."""

import pytest
import torch

from grukit import ops

LENGTHS = [4, 2, 0]


def _case(op, gates, seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*s):
        return torch.randn(*s, generator=g, dtype=torch.float64)

    b, t, i, h = 3, 4, 2, 3
    x = r(b, t, i)
    for s, n in enumerate(LENGTHS):
        x[s, n:] = 0.0
    weights = [r(gates * h, i)] if op == "mingru" else [r(gates * h, i), r(gates * h, h),
                                                       r(gates * h), r(gates * h)]
    h0 = (r(b, h), r(b, h)) if op == "lstm" else r(b, h)
    return x, weights, h0


def _run(op, backend, x, weights, h0, reverse):
    x = x.clone().requires_grad_()
    weights = [w.clone().requires_grad_() for w in weights]
    states = [s.clone().requires_grad_() for s in (h0 if op == "lstm" else (h0,))]
    h0 = tuple(states) if op == "lstm" else states[0]
    y, hn = getattr(ops, op)(x, *weights, h0=h0, lengths=LENGTHS, reverse=reverse,
                             backend=backend)
    outs = [y, *(hn if op == "lstm" else (hn,))]
    gen = torch.Generator().manual_seed(3)
    loss = sum((o * torch.randn(o.shape, generator=gen, dtype=o.dtype)).sum() for o in outs)
    grads = torch.autograd.grad(loss, [x, *weights, *states])
    return [o.detach() for o in outs], grads


CASES = [("gru", 3, "reference"), ("gru", 3, "cpu"), ("lstm", 4, "reference"),
         ("lstm", 4, "cpu"), ("rnn", 1, "reference"), ("rnn", 1, "cpu"),
         ("lngru", 3, "reference"), ("lngru", 3, "cpu"), ("mingru", 2, "reference")]


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[2]}")
@pytest.mark.parametrize("pad", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_padding_is_never_read(case, pad, reverse):
    op, gates, backend = case
    x, weights, h0 = _case(op, gates)
    want_out, want_grads = _run(op, backend, x, weights, h0, reverse)
    padded = x.clone()
    for s, n in enumerate(LENGTHS):
        padded[s, n:] = pad
    got_out, got_grads = _run(op, backend, padded, weights, h0, reverse)
    for got, want in zip(got_out + list(got_grads), want_out + list(want_grads), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_check_finite_looks_inside_the_lengths_only():
    x, weights, h0 = _case("gru", 3)
    padded = x.clone()
    padded[1, 3] = float("nan")  # past length 2
    y, _ = ops.gru(padded, *weights, h0=h0, lengths=LENGTHS, check_finite=True)
    want, _ = ops.gru(x, *weights, h0=h0, lengths=LENGTHS)
    torch.testing.assert_close(y, want, rtol=1e-10, atol=1e-12)
    padded[1, 1] = float("nan")  # inside it
    with pytest.raises(ValueError, match="NaN/Inf"):
        ops.gru(padded, *weights, h0=h0, lengths=LENGTHS, check_finite=True)
