"""The fused CPU LSTM as torch custom ops (see ``grukit.ops.gru.library``): one node for
``torch.compile(fullgraph=True)`` and ``torch.export``, fake implementations for their
tracers, and a backward that is an op too, so that a compiled training step traces it.

``lengths`` is an int64 tensor (B,) or None, ``state_mask`` (B, H) or None.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import _oplib, _pool
from .._cpu import arr, lens_array
from .._fused import first_order_only
from . import cpu

SCHEMA = 3  # the version of the ops' signatures (see grukit.ops.gru.library.SCHEMA)



def _forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, state_mask, train: bool):
    lens = lens_array(lengths, x.shape[0], x.shape[1])
    with torch.no_grad():
        gi = _pool.linear(x, w_ih, b_ih)  # (B, T, 4H)
        drop = None if state_mask is None else arr(state_mask)  # (B, H)
        return cpu._forward(gi, w_hh, b_hh, h0, c0, lens, train, drop)


def _infer_fake(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, state_mask):
    batch, steps, hid = x.shape[0], x.shape[1], w_hh.shape[1]
    return (x.new_empty((batch, steps, hid)), x.new_empty((batch, hid)),
            x.new_empty((batch, hid)))


@_oplib.op(f"lstm_cpu_infer_v{SCHEMA}", _infer_fake)
def lstm_cpu_infer(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
                   b_hh: Tensor | None, h0: Tensor, c0: Tensor, lengths: Tensor | None,
                   state_mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """x (B, T, I) -> y (B, T, H), h_n, c_n (B, H); no graph."""
    return _forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, state_mask, False)[:3]


def _backward_fake(dy, dhn, dcn, x, w_ih, w_hh, h0, c0, y, save, cs, lengths, state_mask, need_dx):
    return (torch.empty_like(x, memory_format=torch.contiguous_format) if need_dx
            else x.new_empty((0,)),
            w_ih.new_empty(w_ih.shape), w_hh.new_empty(w_hh.shape),
            w_hh.new_empty((w_hh.shape[0],)), h0.new_empty(h0.shape), c0.new_empty(c0.shape))


@_oplib.op(f"lstm_cpu_backward_v{SCHEMA}", _backward_fake)
def lstm_cpu_backward(dy: Tensor | None, dhn: Tensor | None, dcn: Tensor | None, x: Tensor,
                      w_ih: Tensor, w_hh: Tensor, h0: Tensor, c0: Tensor, y: Tensor, save: Tensor,
                      cs: Tensor, lengths: Tensor | None, state_mask: Tensor | None,
                      need_dx: bool) -> tuple[Tensor, Tensor, Tensor, Tensor,
                                                          Tensor, Tensor]:
    """-> dx (B, T, I), dW_ih (4H, I), dW_hh (4H, H), db (4H,), dh0, dc0 (B, H); dx is
    empty (0,) unless need_dx (its GEMM is skipped). A gradient None: that output took no
    part in the loss (no zeros are made for it here)."""
    lens = lens_array(lengths, x.shape[0], x.shape[1])
    drop = None if state_mask is None else arr(state_mask)  # (B, H)
    dx, dw_ih, dw_hh, db, dh0, dc0 = cpu.backward(dy, dhn, dcn, x, w_ih, w_hh, h0, c0, y,
                                                  save, cs, lens, drop, need_dx)
    dx = x.new_empty((0,)) if dx is None else dx.contiguous()
    return dx, dw_ih, dw_hh, db, dh0, dc0


def _setup(ctx, inputs, output):
    x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, state_mask = inputs
    y, _, _, save, cs = output
    ctx.save_for_backward(x, w_ih, w_hh, h0, c0, y, save, cs, lengths, state_mask)
    ctx.has_b = (b_ih is not None, b_hh is not None)
    ctx.set_materialize_grads(False)  # no zeros for the saved buffers' unused gradients


def _backward(ctx, dy, dhn, dcn, _dsave, _dcs):
    first_order_only(ctx, "the fused CPU LSTM kernel")
    x, w_ih, w_hh, h0, c0, y, save, cs, lengths, state_mask = ctx.saved_tensors
    dx, dw_ih, dw_hh, db, dh0, dc0 = lstm_cpu_backward(dy, dhn, dcn, x, w_ih, w_hh, h0, c0, y,
                                                       save, cs, lengths, state_mask,
                                                       ctx.needs_input_grad[0])
    return (dx if ctx.needs_input_grad[0] else None, dw_ih, dw_hh,
            db if ctx.has_b[0] else None, db if ctx.has_b[1] else None, dh0, dc0, None, None)


def _train_fake(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, state_mask):
    batch, steps, hid = x.shape[0], x.shape[1], w_hh.shape[1]
    return (x.new_empty((batch, steps, hid)), x.new_empty((batch, hid)),
            x.new_empty((batch, hid)), x.new_empty((batch, steps, 4 * hid)),
            x.new_empty((batch, steps, hid)))


@_oplib.op(f"lstm_cpu_train_v{SCHEMA}", _train_fake, _backward, _setup)
def lstm_cpu_train(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
                   b_hh: Tensor | None, h0: Tensor, c0: Tensor, lengths: Tensor | None,
                   state_mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """x (B, T, I) -> y (B, T, H), h_n, c_n (B, H), gates (B, T, 4H), cells c_t (B, T, H)."""
    return _forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, state_mask, True)


def traced_runs(w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None,
                h0: Tensor, c0: Tensor, lengths: Tensor | None, state_mask: Tensor | None):
    """``run_fused``'s train and infer on these ops (the cpu backend under a tracer)."""
    drop = None if state_mask is None else state_mask.detach()  # masks get no gradient

    def train(xs: Tensor):
        y, hn, cn, _, _ = lstm_cpu_train(xs, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, drop)
        return y, (hn, cn)

    def infer(xs: Tensor):
        y, hn, cn = lstm_cpu_infer(xs, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, drop)
        return y, (hn, cn)

    return train, infer
