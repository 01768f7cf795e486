"""torch's oneDNN LSTM layer (``aten::mkldnn_rnn_layer``, the kernel ``torch.nn.LSTM`` runs
on a CPU for float32) as grukit custom ops, so that a compiled training step runs the same
kernel as the eager one.

Inductor cannot lower the backward of ``aten::lstm`` on a CPU, so without these ops a
compiled LSTM had to take the fused numba kernel, 1.6× slower than oneDNN's at one thread.
Behind an op the tracer sees only the fake implementation (shapes from the inputs' metadata).
oneDNN's workspace is a byte tensor whose size only oneDNN knows. The fake implementation
decides it: where the shapes are concrete, a probe call of the kernel on zeros of those
shapes measures it once, so the graph has static shapes throughout; where they are symbolic
(``torch.compile`` makes a shape dynamic when it changes, ``torch.export`` takes a ``Dim``),
its size is unbacked, which a compiled graph carries from the forward op to the backward op
without a break.

Everything is time-major, as oneDNN's layer takes it (its ``batch_first`` path gives wrong
results): x (T, B, I) contiguous -> y (T, B, H), h_n (B, H), c_n (B, H), workspace; the
caller transposes in the graph, where autograd and inductor see it. The gate equations are
``ops.lstm.reference``'s (torch's gate order i, f, g, o).
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from .. import _oplib
from .._fused import first_order_only

SCHEMA = 2  # bump with any change of an op's signature or autograd formula
_MODE_LSTM = 2  # oneDNN's cell kind in aten's RNN mode numbering


_BUILT = torch.backends.mkldnn.is_available()  # read once: a tracer cannot call it


def available(x: Tensor) -> bool:
    """Whether these ops serve ``x``: float32 on a CPU, in a torch built with oneDNN."""
    return _BUILT and x.device.type == "cpu" and x.dtype == torch.float32



def _layer(x, w_ih, w_hh, b_ih, b_hh, h0, c0):
    with torch.enable_grad():  # oneDNN keeps its workspace only where grad mode is on
        return torch.ops.aten.mkldnn_rnn_layer(
            x, w_ih, w_hh, b_ih, b_hh, h0, c0, False, [], _MODE_LSTM, w_hh.shape[1], 1, True,
            False, False, True)


@functools.cache
def _probe(steps: int, batch: int, inputs: int, hidden: int) -> int:
    from torch._subclasses.fake_tensor import unset_fake_temporarily

    with unset_fake_temporarily(), torch.no_grad():  # real tensors, even inside a tracer
        z = functools.partial(torch.zeros, dtype=torch.float32)
        ws = _layer(z(steps, batch, inputs), z(4 * hidden, inputs), z(4 * hidden, hidden),
                    z(4 * hidden), z(4 * hidden), z(batch, hidden), z(batch, hidden))[3]
        return int(ws.numel())


def workspace_bytes(steps: int, batch: int, inputs: int, hidden: int) -> int:
    """The bytes of oneDNN's workspace for a float32 layer of these sizes, measured by a
    call on zeros (once per sizes)."""
    return _probe(steps, batch, inputs, hidden)


def _backward_fake(dy, dhn, dcn, x, w_ih, w_hh, b_ih, b_hh, h0, c0, y, hn, cn, ws):
    return tuple(t.new_empty(t.shape) for t in (x, w_ih, w_hh, b_ih, b_hh, h0, c0))


@_oplib.op(f"lstm_onednn_backward_v{SCHEMA}", _backward_fake)
def lstm_onednn_backward(dy: Tensor | None, dhn: Tensor | None, dcn: Tensor | None, x: Tensor,
                         w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor, h0: Tensor,
                         c0: Tensor, y: Tensor, hn: Tensor, cn: Tensor, ws: Tensor
                         ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """-> dx (T, B, I), dW_ih, dW_hh, db_ih, db_hh, dh0, dc0; a gradient None: that output
    took no part in the loss."""
    dy = None if dy is None else dy.contiguous()
    out = torch.ops.aten.mkldnn_rnn_layer_backward(
        x, w_ih, w_hh, b_ih, b_hh, h0, c0, y, hn, cn, dy, dhn, dcn, False, _MODE_LSTM,
        w_hh.shape[1], 1, True, True, False, [], False, ws)
    return tuple(t.contiguous() for t in out)


def _setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs[:7], *output)  # not ws_bytes, an int
    ctx.set_materialize_grads(False)  # an output outside the loss sends None, not zeros


def _backward(ctx, dy, dhn, dcn, _dws):
    first_order_only(ctx, "oneDNN's LSTM kernel")
    saved = ctx.saved_tensors  # x, w_ih, w_hh, b_ih, b_hh, h0, c0, y, h_n, c_n, workspace
    return (*lstm_onednn_backward(dy, dhn, dcn, *saved), None)  # ws_bytes: no gradient


def _train_fake(x, w_ih, w_hh, b_ih, b_hh, h0, c0, ws_bytes):
    steps, batch, hid = x.shape[0], x.shape[1], w_hh.shape[1]
    sizes = (steps, batch, x.shape[2], hid)
    if ws_bytes >= 0:
        n = ws_bytes
    elif any(isinstance(d, torch.SymInt) for d in sizes):  # a dynamic shape: unbacked
        n = torch.library.get_ctx().new_dynamic_size()
    else:  # here, unlike in code Dynamo traces, a symbolic size is no int
        n = workspace_bytes(*sizes)
    return (x.new_empty((steps, batch, hid)), x.new_empty((batch, hid)),
            x.new_empty((batch, hid)), x.new_empty((n,), dtype=torch.uint8))


@_oplib.op(f"lstm_onednn_train_v{SCHEMA}", _train_fake, _backward, _setup)
def lstm_onednn_train(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor,
                      h0: Tensor, c0: Tensor, ws_bytes: int
                      ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """x (T, B, I) -> y (T, B, H), h_n (B, H), c_n (B, H), oneDNN's workspace (bytes);
    ``ws_bytes``: its size as ``workspace_bytes`` measured it, or -1 (the fake
    implementation measures it where the shapes are concrete)."""
    y, hn, cn, ws = _layer(x, w_ih, w_hh, b_ih, b_hh, h0, c0)
    if ws_bytes >= 0 and ws.numel() != ws_bytes:
        raise RuntimeError(f"oneDNN's LSTM workspace is {ws.numel()} bytes, but {ws_bytes} "
                           f"were measured when the graph was traced; compile the model again "
                           f"(torch._dynamo.reset()) or use backend='cpu'.")
    return y, hn, cn, ws


def lstm_onednn(xs: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
                b_hh: Tensor | None, h0: Tensor, c0: Tensor):
    """xs (B, T, I) -> y (B, T, H), (h_n, c_n) through the ops (one layer, one direction);
    a missing bias is zeros (and gets no gradient: it is no parameter)."""
    hid = w_hh.shape[1]
    zero = w_hh.new_zeros((4 * hid,))
    # the workspace's size: -1, for the fake implementation to measure (under Dynamo a
    # dynamic shape passes for an int, so this code cannot tell the two apart)
    y, hn, cn, _ = lstm_onednn_train(xs.transpose(0, 1).contiguous(), w_ih, w_hh,
                                     zero if b_ih is None else b_ih,
                                     zero if b_hh is None else b_hh, h0, c0, -1)
    return y.transpose(0, 1), (hn, cn)  # (B, T, H): a view of the time-major output
