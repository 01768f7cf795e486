"""The fused CPU GRU as torch operators (defined by ``.._oplib``, where a call costs least), so
that ``torch.compile(fullgraph=True)`` and ``torch.export`` trace it as one node instead of
breaking the graph at the numba call.

``grukit::gru_cpu_infer`` runs the forward with no graph; ``grukit::gru_cpu_train`` returns
what backward needs (the states hs = [h0, y] and the saved gates), y being the view hs[1:]
taken in the graph (no second buffer written; an in-place change of y is caught by autograd
as a change of hs), and carries its gradient through ``grukit::gru_cpu_backward``, itself
an op, so that a compiled training step traces its backward too (the training op alone has
an autograd kernel). Each op has a fake implementation (output shapes, dtypes and strides
from the inputs' metadata alone), which is all a tracer sees. The kernels and their math are
``.cpu``'s; the ``cpu`` backend calls these ops while ``torch.compiler.is_compiling()``
(compile and export) and its ``torch.autograd.Function`` otherwise.

Op inputs are what ``torch.library`` accepts: ``lengths`` an int64 tensor (B,) or None, the
masks optional tensors (``state_mask`` (B, H), ``zone`` (B, T, H) batch-first).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import _oplib
from .._cpu import lens_array
from .._fused import first_order_only
from . import cpu

# The ops' names carry the version of their signatures. torch's AOTAutograd cache (on disk,
# across processes) keys a compiled graph on its forward ops alone and keeps the backward it
# traced then: a backward op whose signature changed under the same forward name would meet
# that stale graph. Bump SCHEMA with any change of an op's signature or autograd formula.
SCHEMA = 4


def _buffers(x: Tensor, w_hh: Tensor, reset_after: bool):
    """Empty tensors shaped as the training forward's outputs: y (B, T, H) seen from a
    time-major (T, B, H) buffer, h_n (B, H), hs (T+1, B, H), save (T, B, 4H or 3H)."""
    batch, steps, hid = x.shape[0], x.shape[1], w_hh.shape[1]
    y = x.new_empty((steps, batch, hid)).transpose(0, 1)  # (B, T, H), time-major strides
    hn = x.new_empty((batch, hid))
    hs = x.new_empty((steps + 1, batch, hid))
    save = x.new_empty((steps, batch, (4 if reset_after else 3) * hid))
    return y, hn, hs, save


def _infer_fake(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, reset_after, state_mask, zone):
    return _buffers(x, w_hh, reset_after)[:2]


@_oplib.op(f"gru_cpu_infer_v{SCHEMA}", _infer_fake)
def gru_cpu_infer(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
                  b_hh: Tensor | None, h0: Tensor, lengths: Tensor | None, reset_after: bool,
                  state_mask: Tensor | None, zone: Tensor | None) -> tuple[Tensor, Tensor]:
    """x (B, T, I) -> y (B, T, H), h_n (B, H); no graph."""
    lens = lens_array(lengths, x.shape[0], x.shape[1])
    xt, gi = cpu._project(x, w_ih, b_ih)  # (T, B, I), (T, B, 3H) or None
    drop, zt = cpu._masks(state_mask, zone)
    y, hs, hn, _ = cpu._forward(xt, gi, w_ih, b_ih, w_hh, b_hh, h0, lens, reset_after, False,
                                drop, zt)
    # y is a view of hs (not returned): an op's outputs may not alias its inputs or each other
    return y, hn


def _backward_fake(dhs, dhn, x, w_ih, w_hh, hs, save, lengths, reset_after, state_mask, zone,
                   need_dx):
    g3 = w_hh.shape[0]
    return (torch.empty_like(x, memory_format=torch.contiguous_format) if need_dx
            else x.new_empty((0,)),
            w_ih.new_empty(w_ih.shape), w_hh.new_empty(w_hh.shape), w_hh.new_empty((g3,)),
            w_hh.new_empty((g3,)), hs.new_empty(hs.shape[1:]))


@_oplib.op(f"gru_cpu_backward_v{SCHEMA}", _backward_fake)
def gru_cpu_backward(dhs: Tensor | None, dhn: Tensor | None, x: Tensor, w_ih: Tensor,
                     w_hh: Tensor, hs: Tensor, save: Tensor, lengths: Tensor | None,
                     reset_after: bool, state_mask: Tensor | None, zone: Tensor | None,
                     need_dx: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor,
                                                   Tensor]:
    """-> dx (B, T, I), dW_ih (3H, I), dW_hh (3H, H), db_ih (3H,), db_hh (3H,), dh0 (B, H);
    db_hh is zeros for reset_after=False (no recurrent bias); dx is empty (0,) unless
    need_dx (its GEMM is skipped). dhs (T+1, B, H) is the gradient of hs = [h0, y]; dhs or
    dhn None: that output took no part in the loss (no zeros are made, filled and copied
    for it)."""
    lens = lens_array(lengths, x.shape[0], x.shape[1])
    xt = x.detach().transpose(0, 1).contiguous()  # (T, B, I)
    drop, zt = cpu._masks(state_mask, zone)
    dy = None if dhs is None else dhs[1:].transpose(0, 1)  # (B, T, H) of a time-major buffer
    dx, dw_ih, dw_hh, db_ih, db_hh, dh0 = cpu.backward(
        dy, dhn, xt, w_ih, w_hh, hs, save, lens, reset_after, drop, zt, (True, reset_after),
        need_dx)
    if dhs is not None:  # h0 is hs[0]: what reached it directly
        dh0 = dh0 + dhs[0]
    if db_hh is None:
        db_hh = db_ih.new_zeros(db_ih.shape)
    dx = x.new_empty((0,)) if dx is None else dx
    # db_hh is a slice of the bias sums (4H,) at offset H; the fake output, all a compiled
    # graph knows of it, starts its storage: a view of it in the graph would read db[:3H]
    return dx.contiguous(), dw_ih, dw_hh.contiguous(), db_ih, db_hh.clone(), dh0


def _setup(ctx, inputs, output):
    x, w_ih, w_hh, b_ih, b_hh, h0, lengths, reset_after, state_mask, zone = inputs
    _, hs, save = output
    ctx.save_for_backward(x, w_ih, w_hh, hs, save, lengths, state_mask, zone)
    ctx.reset_after = reset_after
    ctx.set_materialize_grads(False)  # no zeros for the saved buffers' unused gradients
    ctx.has_b = (b_ih is not None, b_hh is not None)


def _backward(ctx, dhn, dhs, _dsave):
    first_order_only(ctx, "the fused CPU GRU kernel")
    x, w_ih, w_hh, hs, save, lengths, state_mask, zone = ctx.saved_tensors
    dx, dw_ih, dw_hh, db_ih, db_hh, dh0 = gru_cpu_backward(
        dhs, dhn, x, w_ih, w_hh, hs, save, lengths, ctx.reset_after, state_mask, zone,
        ctx.needs_input_grad[0])
    return (dx if ctx.needs_input_grad[0] else None, dw_ih, dw_hh, db_ih if ctx.has_b[0] else None,
            db_hh if ctx.has_b[1] else None, dh0, None, None, None, None)


def _train_fake(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, reset_after, state_mask, zone):
    return _buffers(x, w_hh, reset_after)[1:]


@_oplib.op(f"gru_cpu_train_v{SCHEMA}", _train_fake, _backward, _setup)
def gru_cpu_train(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
                  b_hh: Tensor | None, h0: Tensor, lengths: Tensor | None, reset_after: bool,
                  state_mask: Tensor | None,
                  zone: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """x (B, T, I) -> h_n (B, H), hs (T+1, B, H) = [h0, y], saved gates (T, B, ·)."""
    lens = lens_array(lengths, x.shape[0], x.shape[1])
    xt, gi = cpu._project(x, w_ih, b_ih)  # (T, B, I), (T, B, 3H) or None
    drop, zt = cpu._masks(state_mask, zone)
    _, hs, hn, save = cpu._forward(xt, gi, w_ih, b_ih, w_hh, b_hh, h0, lens, reset_after, True,
                                   drop, zt, y_in_hs=True)
    return hn, hs, save


def traced_runs(w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None,
                h0: Tensor, lengths: Tensor | None, reset_after: bool,
                state_mask: Tensor | None):
    """``run_fused``'s train and infer on these ops (the cpu backend under a tracer); no
    numpy here, so that a traced time dimension stays symbolic."""
    drop = None if state_mask is None else state_mask.detach()  # masks get no gradient

    def train(xs: Tensor, *zm: Tensor):
        zone = zm[0].detach() if zm else None  # (B, T, H), in the direction of xs
        hn, hs, _ = gru_cpu_train(xs, w_ih, w_hh, b_ih, b_hh, h0, lengths, reset_after, drop,
                                  zone)
        return hs[1:].transpose(0, 1), (hn,)  # y (B, T, H): a view of hs

    def infer(xs: Tensor, *zm: Tensor):
        y, hn = gru_cpu_infer(xs, w_ih, w_hh, b_ih, b_hh, h0, lengths, reset_after, drop,
                              zm[0] if zm else None)
        return y, (hn,)

    return train, infer
