"""Every chunked kernel's parallel build (rows split over numba's threads) against its serial
build (one chunk), outputs and every gradient. The suite runs each test process at one
thread (tests/conftest.py), so the other tests reach the serial builds; these run each
kernel family at two threads as well."""

from __future__ import annotations

import numba
import pytest
import torch

from grukit import ops
from grukit.ops import _cpu
from grukit.ops.grud import grud

pytestmark = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                reason="numba has one thread on this machine")

B, T, H = 5, 6, 4
LENGTHS = torch.tensor([6, 2, 0, 5, 1])


def _t(g, *shape, scale=0.5):
    return (torch.randn(*shape, generator=g) * scale).requires_grad_()


def _gru(reset_after, masks, inputs):
    def run(g):
        x, wi, wh, bi = _t(g, B, T, inputs), _t(g, 3 * H, inputs), _t(g, 3 * H, H), _t(g, 3 * H)
        bh, h0 = _t(g, 3 * H) if reset_after else None, _t(g, B, H)
        drop = (torch.rand(B, H, generator=g) > 0.3).float() / 0.7 if masks else None
        zone = (torch.rand(B, T, H, generator=g) > 0.5).float() if masks else None
        y, h = ops.gru(x, wi, wh, bi, bh, h0=h0, lengths=LENGTHS, reset_after=reset_after,
                       state_mask=drop, zoneout_mask=zone, backend="cpu")
        return [y, h], [t for t in (x, wi, wh, bi, bh, h0) if t is not None]
    return run


def _lstm(g):
    x, wi, wh, bi, bh = _t(g, B, T, 3), _t(g, 4 * H, 3), _t(g, 4 * H, H), _t(g, 4 * H), \
        _t(g, 4 * H)
    h0, c0 = _t(g, B, H), _t(g, B, H)
    y, (h, c) = ops.lstm(x, wi, wh, bi, bh, h0=(h0, c0), lengths=LENGTHS, backend="cpu")
    return [y, h, c], [x, wi, wh, bi, bh, h0, c0]


def _rnn(g):
    x, wi, wh, bi, bh, h0 = _t(g, B, T, 3), _t(g, H, 3), _t(g, H, H), _t(g, H), _t(g, H), \
        _t(g, B, H)
    y, h = ops.rnn(x, wi, wh, bi, bh, h0=h0, lengths=LENGTHS, backend="cpu")
    return [y, h], [x, wi, wh, bi, bh, h0]


def _grud(reset_after):
    def run(g):
        d_in = 3
        m = (torch.rand(B, T, d_in, generator=g) < 0.5).float()
        x = torch.where(m > 0, torch.randn(B, T, d_in, generator=g), float("nan"))
        delta = torch.zeros(B, T, d_in)
        for t in range(1, T):
            delta[:, t] = 1 + (1 - m[:, t - 1]) * delta[:, t - 1]
        ws = [_t(g, d_in), _t(g, 3 * H, d_in), _t(g, 3 * H, H), _t(g, 3 * H),
              _t(g, 3 * H) if reset_after else None, _t(g, 3 * H, d_in), _t(g, d_in),
              _t(g, d_in), _t(g, H, d_in), _t(g, H)]
        h0 = _t(g, B, H)
        y, h = grud(x, m, delta, *ws, h0=h0, lengths=LENGTHS, reset_after=reset_after,
                    backend="cpu")
        return [y, h], [w for w in ws if w is not None] + [h0]
    return run


CASES = {
    "gru-reset_after": _gru(True, False, 3), "gru-reset_before": _gru(False, False, 3),
    "gru-reset_after-masks": _gru(True, True, 3),
    "gru-reset_before-masks": _gru(False, True, 3),
    "gru-reset_after-wide-input": _gru(True, False, 40),
    "gru-reset_before-wide-input": _gru(False, False, 40),
    "lstm": _lstm, "rnn": _rnn, "grud-reset_after": _grud(True),
    "grud-reset_before": _grud(False),
}


def _outputs_and_grads(run, threads):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        assert _cpu.threads(B) == threads
        outs, tensors = run(torch.Generator().manual_seed(0))
        w = torch.Generator().manual_seed(1)
        loss = sum((o * torch.randn(o.shape, generator=w)).sum() for o in outs)
        return [o.detach() for o in outs] + list(torch.autograd.grad(loss, tensors))
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("case", list(CASES))
def test_two_threads_give_what_one_thread_gives(case):
    one = _outputs_and_grads(CASES[case], 1)
    two = _outputs_and_grads(CASES[case], 2)
    for i, (a, b) in enumerate(zip(one, two, strict=True)):
        # the GEMMs' summation order may depend on their row count (chunks of 2-3 rows)
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5, msg=lambda s, i=i: f"#{i}: {s}")
