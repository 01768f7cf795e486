"""The LSTM's int8 streaming kernel: weights int8 with one scale per row (per output unit),
as ``grukit.ops.gru.quant`` describes (the same packed layout with G = 4, gates i, f, g, o)::

    a = s_ih ⊙ (q_ih x) + b_ih + s_hh ⊙ (q_hh h) + b_hh        (4H,)

The unit math is the batched kernel's (``.cpu._unit``); the batch path runs the fused kernels
on ``dequantize_rows`` of the weights.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numba import njit

from .. import _stream
from ..gru.quant import SIZES, int8_bytes, int8_layer, int8_size, pack_int8, vecmat_q
from .cpu import _unit


@njit(fastmath=True, error_model="numpy", cache=True, _nrt=False)
def step_int8(x, h, params, c):
    """One LSTM step of every layer with int8 weights: x (I,), h and c (L, H) in place.
    Compiled without reference counting, as the GRU's (the buffers: params' last 8H)."""
    layers, hid = h.shape
    g = 4 * hid
    if params.shape[0] != int8_size(x.shape[0], layers, hid, g, params.itemsize) \
            or c.shape[0] != layers or c.shape[1] != hid:
        raise ValueError(SIZES)
    qb = int8_bytes(params, layers, g)
    end = params.shape[0]
    ai = params[end - 8 * hid:end - 4 * hid]  # (4H,): q_ih x
    ah = params[end - 4 * hid:]  # (4H,): q_hh h
    atf, atq = 0, 0
    for layer in range(layers):
        xin = x if layer == 0 else h[layer - 1]
        s_ih, b_ih, s_hh, b_hh, q_ih, q_hh, atf, atq = int8_layer(params, qb, atf, atq,
                                                                  xin.shape[0], hid, g)
        for j in range(g):
            ai[j] = 0
            ah[j] = 0
        hl, cl = h[layer], c[layer]
        vecmat_q(ai, xin, q_ih)
        vecmat_q(ah, hl, q_hh)
        for j in range(g):
            ai[j] = s_ih[j] * ai[j] + b_ih[j] + s_hh[j] * ah[j] + b_hh[j]
        for j in range(hid):
            _, _, _, _, cl[j], hl[j] = _unit(ai[j], ai[hid + j], ai[2 * hid + j],
                                             ai[3 * hid + j], cl[j])


def lstm_stream_int8(states: list[np.ndarray], input_size: int, *, w8a8: bool | None = None,
                     **_: object) -> _stream.StreamKernel:
    """The int8 streaming kernel for an LSTM stack whose states are h, c = states (L, H).
    ``w8a8`` as ``..gru.quant.gru_stream_int8``'s: True for int8 × int8 (``.w8a8``; float32
    state), False for float products of the int8 weights, None for int8 × int8 where the CPU
    has AVX-512 VNNI and the state is float32."""
    h, c = states
    if w8a8 is None:
        from .._vnni import MAX_K, VNNI

        w8a8 = VNNI and h.dtype == np.float32 and max(input_size, h.shape[1]) <= MAX_K
    if w8a8:
        if h.dtype != np.float32:
            raise ValueError(f"lstm_stream_int8: w8a8=True needs a float32 state; got "
                             f"{h.dtype}. Use w8a8=False (float products) for float64.")
        from .w8a8 import lstm_stream_w8a8

        return lstm_stream_w8a8(states, input_size)
    packer = partial(pack_int8, dtype=_stream.torch_dtype(h))
    return _stream.build(step_int8, h, input_size, c, packer)


__all__ = ["lstm_stream_int8"]
