"""torch.func transforms (vmap, grad: model ensembles, per-sample gradients) over the ops:
"auto" gives them a backend that runs under them (the fused kernels read plain tensors'
memory, which a transform's wrapped tensors do not have); a named fused backend refuses in
one sentence."""

import pytest
import torch

from grukit import ops

OPS = [("gru", 3), ("lstm", 4), ("rnn", 1), ("lngru", 3), ("mingru", 2)]


def _weights(op, gates, i, h, g):
    if op == "mingru":
        return [torch.randn(2 * h, i, generator=g), torch.randn(2 * h, generator=g)]
    return [torch.randn(gates * h, i, generator=g), torch.randn(gates * h, h, generator=g),
            torch.randn(gates * h, generator=g), torch.randn(gates * h, generator=g)]


def _y(op, x, ws, **kw):
    return getattr(ops, op)(x, *ws, **kw)[0]


@pytest.mark.parametrize("op,gates", OPS, ids=[o for o, _ in OPS])
def test_vmap_and_grad_under_auto_equal_the_reference(op, gates):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 5, 2, generator=g)  # 4 batches (vmapped) of (B, T, I) = (3, 5, 2)
    ws = _weights(op, gates, 2, 3, g)
    got = torch.vmap(lambda xb: _y(op, xb, ws))(x)
    want = torch.stack([_y(op, xb, ws, backend="reference") for xb in x])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)

    lengths = [5, 2, 0]
    got = torch.func.grad(lambda w: _y(op, x[0], [w, *ws[1:]], lengths=lengths).square()
                          .sum())(ws[0])
    w = ws[0].clone().requires_grad_()
    _y(op, x[0], [w, *ws[1:]], lengths=lengths, backend="reference").square().sum().backward()
    torch.testing.assert_close(got, w.grad, rtol=1e-5, atol=1e-5)


def test_named_fused_backend_under_vmap_refuses():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 5, 2, generator=g)
    ws = _weights("gru", 3, 2, 3, g)
    with pytest.raises(ValueError, match=r"backend='cpu' cannot serve this call: .*torch\.func "
                                         r"transform.*backend='reference'"):
        torch.vmap(lambda xb: _y("gru", xb, ws, backend="cpu"))(x)


@pytest.mark.parametrize("op,gates", OPS, ids=[o for o, _ in OPS])
def test_forward_mode_ad_tangents_equal_the_reference(op, gates):
    """torch.autograd.forward_ad: the fused kernels give no tangent (y came back without one,
    silently); "auto" takes the reference under a dual level."""
    import torch.autograd.forward_ad as fwad

    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 2, generator=g)
    ws = _weights(op, gates, 2, 3, g)
    tangent = torch.randn(ws[0].shape, generator=g)
    outs = {}
    for backend in ("reference", "auto"):
        with fwad.dual_level():
            w = fwad.make_dual(ws[0], tangent)
            y = _y(op, x, [w, *ws[1:]], lengths=[5, 2, 0], backend=backend)
            outs[backend] = fwad.unpack_dual(y)
    assert outs["auto"].tangent is not None
    torch.testing.assert_close(outs["auto"].primal, outs["reference"].primal)
    torch.testing.assert_close(outs["auto"].tangent, outs["reference"].tangent)
