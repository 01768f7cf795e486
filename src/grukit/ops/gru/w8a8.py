"""The GRU's int8 × int8 streaming kernel ("w8a8"): int8 weights and, each step, the input
and the state quantised to bytes, multiplied with int32 sums (AVX-512 VNNI where the CPU has
it; ``.._vnni``)::

    gi = s_ih ⊙ s_x q_ih (u_x − 128) + b_ih        (3H,)   u_x = round(x / s_x) + 128
    gh = s_hh ⊙ s_h q_hh (u_h − 128)               (3H,)   u_h = round(h / s_h) + 128

with s_x = max|x| / 127 and s_h = max|h| / 127 taken each step (the products exact in
int32: VNNI multiplies unsigned by signed bytes, so the sums start at −128 Σ_k q_jk), then
the unit math of the float kernel (``cpu._unit_after``; reset_after=False:
``_gates_before``, then W_hn (r ⊙ h) the same way with r ⊙ h quantised in turn, then
``_unit_before``). Packed layout: ``.._vnni.pack_w8a8``.

Registered behind op ``"gru_stream_int8"`` (``.quant.gru_stream_int8`` picks it where VNNI
is available; the float-product int8 kernel elsewhere).
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numba import njit

from .. import _stream
from .._vnni import (
    SIZES,
    check_sizes,
    dot_u8s8,
    layout,
    packed_size,
    pad64,
    quantize_input,
    quantize_u8,
    rescale,
    rescale_add,
)
from .cpu import _gates_before, _unit_after, _unit_before


@njit(fastmath=True, error_model="numpy", cache=True, _nrt=False)
def step_w8a8(x, h, params, reset_after):
    """One GRU step of every layer, int8 × int8: x (I,), h (L, H) float32 updated in place.
    Compiled without numba's reference counting (``_nrt=False``: nothing here allocates),
    which would cost two atomic updates per array view, ~0.2 µs of a step."""
    layers, hid = h.shape
    g = 3 * hid
    ri = pad64(g)
    r2 = pad64(2 * hid)  # reset_after=False: W_hh is [W_h(r,z) (r2 rows); W_hn]
    rh = ri if reset_after else r2 + pad64(hid)
    kh4 = (hid + 3) // 4
    if params.shape[0] != packed_size(x.shape[0], layers, hid, ri, rh):
        raise ValueError(SIZES)
    gi_, gh_, ai_, ah_, xw, xf, tmp, wb = layout(layers, ri, rh,
                                                 (max(x.shape[0], hid) + 3) // 4)
    ints, qb, bits = params.view(np.int32), params.view(np.int8), h.view(np.int32)
    gi, gh = params[gi_:gi_ + ri], params[gh_:gh_ + rh]  # (Ri,), (Rh,) float scratch
    for layer in range(layers):
        f = layer * 3 * (ri + rh)
        s_ih, c_ih, b_ih = params[f:f + ri], f + ri, params[f + 2 * ri:f + 3 * ri]  # (Ri,)
        f += 3 * ri  # c_ih, c_hh: where the int32 starts of the sums are
        s_hh, c_hh, b_hh = params[f:f + rh], f + rh, params[f + 2 * rh:f + 3 * rh]  # (Rh,)
        hl = h[layer]
        sx, ki4 = quantize_input(layer, x, h, bits, params, ints, tmp, xw, xf, kh4)
        dot_u8s8(ints, ai_, qb, wb, xw, ri, ki4, c_ih)  # (Ri,) q_ih (u_x − 128)
        wb += ri * 4 * ki4
        rescale(gi, ints[ai_:ai_ + ri], s_ih, sx, b_ih, g)  # (3H,) W_ih x + b_ih
        sh = quantize_u8(hl, bits[layer], params, ints, tmp, xw)
        acc = ints[ah_:ah_ + rh]  # (Rh,) int32 sums of the recurrent products
        if reset_after:
            dot_u8s8(ints, ah_, qb, wb, xw, ri, kh4, c_hh)  # (Ri,) q_hh (u_h − 128)
            rescale_add(gi, acc, s_hh, sh, b_hh, 2 * hid)  # (2H,) += W_h(r,z) h + b
            ghn = gh[2 * hid:]  # (H,) W_hn h + b_hn
            rescale(ghn, acc[2 * hid:], s_hh[2 * hid:], sh, b_hh[2 * hid:], hid)
            zero = np.float32(0)
            for j in range(hid):
                hl[j] = _unit_after(gi[j], gi[hid + j], gi[2 * hid + j], zero, zero, ghn[j],
                                    zero, zero, zero, hl[j])[4]
        else:
            dot_u8s8(ints, ah_, qb, wb, xw, r2, kh4, c_hh)  # (r2,) q_h(r,z) (u_h − 128)
            rescale_add(gi, acc, s_hh, sh, b_hh, 2 * hid)  # (2H,) += W_h(r,z) h
            rh_, zs = gh[:hid], gh[hid:2 * hid]  # (H,) each: r ⊙ h and z
            zero = np.float32(0)
            for j in range(hid):
                _, zs[j], rh_[j] = _gates_before(gi[j], gi[hid + j], zero, zero, hl[j])
            srh = quantize_u8(rh_, ints[gh_:gh_ + hid], params, ints, tmp, xw)
            ghn = gh[r2:]  # (H,) W_hn (r ⊙ h)
            dot_u8s8(ints, ah_ + r2, qb, wb + r2 * 4 * kh4, xw, rh - r2, kh4, c_hh + r2)
            rescale(ghn, acc[r2:], s_hh[r2:], srh, b_hh[r2:], hid)  # W_hn (r ⊙ h)
            for j in range(hid):
                hl[j] = _unit_before(gi[2 * hid + j], ghn[j], zs[j], hl[j])[1]
        wb += rh * 4 * kh4


def _packer(layers, reset_after: bool) -> np.ndarray:
    from .._vnni import pack_w8a8

    hid = layers[0]["weight_hh_int8"].shape[1]
    return pack_w8a8(layers, [3 * hid] if reset_after else [2 * hid, hid])


def gru_stream_w8a8(states: list[np.ndarray], input_size: int, *, reset_after: bool = True,
                    **_: object) -> _stream.StreamKernel:
    """The int8 × int8 streaming kernel for a GRU stack whose state is states[0] (L, H);
    its ``pack`` takes the int8 layers ``.quant.pack_int8`` describes."""
    h = states[0]
    if h.dtype != np.float32:
        raise ValueError(f"the w8a8 GRU kernel steps a float32 state; got {h.dtype}.")
    check_sizes(input_size, h.shape[1])
    packer = partial(_packer, reset_after=bool(reset_after))
    return _stream.build(step_w8a8, h, input_size, bool(reset_after), packer)


__all__ = ["gru_stream_w8a8", "step_w8a8"]
