"""The LSTM's int8 × int8 streaming kernel ("w8a8"): as the GRU's (``..gru.w8a8``), int8
weights times the input and the state quantised to bytes each step, int32 sums (AVX-512 VNNI
where the CPU has it; ``.._vnni``)::

    a = s_ih ⊙ s_x q_ih (u_x − 128) + b_ih + s_hh ⊙ s_h q_hh (u_h − 128) + b_hh   (4H,)

then the float kernel's unit math (``.cpu._unit``; gates i, f, g, o). The cell state c
stays float. Packed layout: ``.._vnni.pack_w8a8`` with one block of 4H rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import _stream
from .._vnni import (
    SIZES,
    check_sizes,
    dot_u8s8,
    layout,
    pack_w8a8,
    packed_size,
    pad64,
    quantize_input,
    quantize_u8,
    rescale,
    rescale_add,
)
from .cpu import _unit


@njit(fastmath=True, error_model="numpy", cache=True, _nrt=False)
def step_w8a8(x, h, params, c):
    """One LSTM step of every layer, int8 × int8: x (I,), h and c (L, H) float32 in place.
    Compiled without reference counting, as the GRU's (nothing here allocates)."""
    layers, hid = h.shape
    g = 4 * hid
    r = pad64(g)
    kh4 = (hid + 3) // 4
    if params.shape[0] != packed_size(x.shape[0], layers, hid, r, r) \
            or c.shape[0] != layers or c.shape[1] != hid:
        raise ValueError(SIZES)
    gi_, gh_, ai_, ah_, xw, xf, tmp, wb = layout(layers, r, r, (max(x.shape[0], hid) + 3) // 4)
    ints, qb, bits = params.view(np.int32), params.view(np.int8), h.view(np.int32)
    gi = params[gi_:gi_ + r]  # (R,) float scratch
    for layer in range(layers):
        f = layer * 6 * r
        s_ih, c_ih, b_ih = params[f:f + r], f + r, params[f + 2 * r:f + 3 * r]  # (R,)
        f += 3 * r  # c_ih, c_hh: where the int32 starts of the sums are
        s_hh, c_hh, b_hh = params[f:f + r], f + r, params[f + 2 * r:f + 3 * r]  # (R,)
        hl, cl = h[layer], c[layer]
        sx, ki4 = quantize_input(layer, x, h, bits, params, ints, tmp, xw, xf, kh4)
        dot_u8s8(ints, ai_, qb, wb, xw, r, ki4, c_ih)  # (R,) q_ih (u_x − 128)
        wb += r * 4 * ki4
        rescale(gi, ints[ai_:ai_ + r], s_ih, sx, b_ih, g)  # (4H,) W_ih x + b_ih
        sh = quantize_u8(hl, bits[layer], params, ints, tmp, xw)
        dot_u8s8(ints, ah_, qb, wb, xw, r, kh4, c_hh)  # (R,) q_hh (u_h − 128)
        wb += r * 4 * kh4
        rescale_add(gi, ints[ah_:ah_ + r], s_hh, sh, b_hh, g)  # (4H,) += W_hh h + b_hh
        for j in range(hid):
            _, _, _, _, cl[j], hl[j] = _unit(gi[j], gi[hid + j], gi[2 * hid + j],
                                             gi[3 * hid + j], cl[j])


def lstm_stream_w8a8(states: list[np.ndarray], input_size: int,
                     **_: object) -> _stream.StreamKernel:
    """The int8 × int8 streaming kernel for an LSTM stack whose states are h, c = states
    (L, H) float32; its ``pack`` takes the int8 layers ``..gru.quant.pack_int8`` describes."""
    h, c = states
    if h.dtype != np.float32:
        raise ValueError(f"the w8a8 LSTM kernel steps a float32 state; got {h.dtype}.")
    check_sizes(input_size, h.shape[1])

    def packer(layers):
        return pack_w8a8(layers, [layers[0]["weight_hh_int8"].shape[0]])

    return _stream.build(step_w8a8, h, input_size, c, packer)


__all__ = ["lstm_stream_w8a8", "step_w8a8"]
