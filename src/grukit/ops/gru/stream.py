"""The GRU's one-step streaming kernel (numba): every layer of one sequence per call.

Registered with dispatch as op ``"gru_stream"``, backend "cpu" (see ``.._stream``). The unit
math is the batched kernel's (``cpu._unit_after`` / ``cpu._gates_before`` and
``cpu._unit_before``); only the products differ: one row, so ``vecmat_add`` along contiguous
rows of the transposed weights, no BLAS call.

Packed layout per layer: [W_ihᵀ (In·3H), W_hhᵀ (H·3H), b_ih (3H), b_hh (3H)], row-major,
then 8H elements the kernel writes each step (its buffers).
reset_after=False packs its W_hhᵀ block as [W_h(r,z)ᵀ (H·2H), W_hnᵀ (H·H)], so each product
reads whole contiguous rows (a column slice of one (H, 3H) array has strided rows numba does
not vectorise: 3x slower), and its b_hh as zeros.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from numba import njit
from torch import Tensor

from .. import _stream
from .._cpu_math import packed_layer, vecmat_add
from .cpu import _gates_before, _unit_after, _unit_before


@njit(fastmath=True, error_model="numpy", cache=True, _nrt=False)
def step(x, h, params, reset_after):
    """One GRU step of every layer: x (I,), h (L, H) updated in place. Compiled without
    numba's reference counting (``_nrt=False``; nothing here allocates: the buffers are the
    last 8H elements of params), which would cost two atomic updates per array view."""
    layers, hid = h.shape
    end = params.shape[0]
    gi = params[end - 8 * hid:end - 5 * hid]  # (3H,): W_ih x + b_ih
    gh = params[end - 5 * hid:end - 2 * hid]  # (3H,): W_hh h (the bias goes in the unit)
    rh = params[end - 2 * hid:end - hid]  # (H,): r ⊙ h (reset_after=False)
    zs = params[end - hid:]  # (H,): z (reset_after=False)
    at = 0
    for layer in range(layers):
        xin = x if layer == 0 else h[layer - 1]
        wih_t, whh_t, b_ih, b_hh, at = packed_layer(params, at, xin.shape[0], hid, 3)
        for j in range(3 * hid):
            gi[j] = b_ih[j]
            gh[j] = 0
        hl = h[layer]
        vecmat_add(gi, xin, wih_t)
        gir, giz, gin = gi[:hid], gi[hid:2 * hid], gi[2 * hid:]
        ghr, ghz, ghn = gh[:hid], gh[hid:2 * hid], gh[2 * hid:]
        if reset_after:
            vecmat_add(gh, hl, whh_t)
            br, bz, bn = b_hh[:hid], b_hh[hid:2 * hid], b_hh[2 * hid:]
            for j in range(hid):
                hl[j] = _unit_after(gir[j], giz[j], gin[j], ghr[j], ghz[j], ghn[j], br[j],
                                    bz[j], bn[j], hl[j])[4]
        else:  # gh = [W_hr h; W_hz h; W_hn (r ⊙ h)]
            flat = whh_t.reshape(3 * hid * hid)
            vecmat_add(gh[:2 * hid], hl, flat[:2 * hid * hid].reshape((hid, 2 * hid)))
            for j in range(hid):
                _, zs[j], rh[j] = _gates_before(gir[j], giz[j], ghr[j], ghz[j], hl[j])
            vecmat_add(ghn, rh, flat[2 * hid * hid:].reshape((hid, hid)))
            for j in range(hid):
                hl[j] = _unit_before(gin[j], ghn[j], zs[j], hl[j])[1]


def _whh_before(w: Tensor) -> Tensor:
    """reset_after=False's W_hhᵀ block: [W_h(r,z)ᵀ, W_hnᵀ], each contiguous."""
    rz = 2 * w.shape[1]
    return torch.cat([w[:rz].t().reshape(-1), w[rz:].t().reshape(-1)])


def _pack(layers, dtype, whh_t) -> np.ndarray:
    packed = _stream.pack(layers, dtype, 3, whh_t)
    hid = layers[0]["weight_hh"].shape[1]
    return np.concatenate([packed, np.zeros(8 * hid, packed.dtype)])  # + the buffers


def gru_stream(states: list[np.ndarray], input_size: int, *,
               reset_after: bool = True, **_: object) -> _stream.StreamKernel:
    """The streaming kernel for a GRU stack whose state is states[0] (L, H)."""
    h = states[0]
    packer = partial(_pack, dtype=_stream.torch_dtype(h),
                     whh_t=(lambda w: w.t()) if reset_after else _whh_before)
    return _stream.build(step, h, input_size, bool(reset_after), packer)
