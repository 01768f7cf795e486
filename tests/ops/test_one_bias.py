"""One bias given and the other None (the functional entry points accept either alone): every
backend that serves the call adds the one given, as the reference does."""

import pytest
import torch

from grukit import ops
from grukit.ops import dispatch

OPS = [("gru", 3), ("lstm", 4), ("rnn", 1), ("lngru", 3)]


@pytest.mark.parametrize("given", ["bias_ih", "bias_hh"])
@pytest.mark.parametrize("op,gates", OPS, ids=[o for o, _ in OPS])
def test_a_lone_bias_is_added_by_every_backend(op, gates, given):
    g = torch.Generator().manual_seed(0)
    b, t, i, h = 3, 4, 2, 5  # a batch above one: "auto" gives an LSTM torch's own
    x = torch.randn(b, t, i, generator=g)
    w_ih, w_hh = torch.randn(gates * h, i, generator=g), torch.randn(gates * h, h, generator=g)
    bias = 3 * torch.randn(gates * h, generator=g)

    def run(backend):
        b = bias.clone().requires_grad_()
        biases = (b, None) if given == "bias_ih" else (None, b)
        y, _ = getattr(ops, op)(x, w_ih, w_hh, *biases, backend=backend)
        (y * y).sum().backward()
        return y.detach(), b.grad

    want = run("reference")
    without, _ = getattr(ops, op)(x, w_ih, w_hh, backend="reference")
    assert not torch.allclose(want[0], without)  # the bias matters here
    for backend in ["auto", *dispatch.backends(op)]:
        if backend in ("reference", "triton"):  # triton: tests/ops/test_triton_kernels.py
            continue
        for got, ref in zip(run(backend), want, strict=True):
            torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5,
                                       msg=lambda m, name=backend: f"backend={name!r}: {m}")
