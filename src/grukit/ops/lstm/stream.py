"""The LSTM's one-step streaming kernel (numba): every layer of one sequence per call.

Registered with dispatch as op ``"lstm_stream"``, backend "cpu" (see ``.._stream``); no
projection. The unit math is the batched kernel's (``cpu._unit``). Packed layout per layer:
[W_ihᵀ (In·4H), W_hhᵀ (H·4H), b_ih (4H), b_hh (4H)], row-major (gates i, f, g, o); then
4H elements the kernel writes each step.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numba import njit

from .. import _stream
from .._cpu_math import packed_layer, vecmat_add
from .cpu import _unit


@njit(fastmath=True, error_model="numpy", cache=True, _nrt=False)
def step(x, h, params, c):
    """One LSTM step of every layer: x (I,), h and c (L, H) updated in place (c last, so
    every streaming kernel takes (x, h, params, extra)). Compiled without reference counting
    as the GRU's (nothing allocates: the buffer is the last 4H elements of params)."""
    layers, hid = h.shape
    a = params[params.shape[0] - 4 * hid:]  # (4H,) the gates' pre-activations
    at = 0
    for layer in range(layers):
        xin = x if layer == 0 else h[layer - 1]
        wih_t, whh_t, b_ih, b_hh, at = packed_layer(params, at, xin.shape[0], hid, 4)
        for j in range(4 * hid):
            a[j] = b_ih[j] + b_hh[j]
        hl, cl = h[layer], c[layer]
        vecmat_add(a, xin, wih_t)
        vecmat_add(a, hl, whh_t)
        for j in range(hid):
            _, _, _, _, cl[j], hl[j] = _unit(a[j], a[hid + j], a[2 * hid + j],
                                             a[3 * hid + j], cl[j])


def _pack(layers, dtype) -> np.ndarray:
    packed = _stream.pack(layers, dtype, 4)
    hid = layers[0]["weight_hh"].shape[1]
    return np.concatenate([packed, np.zeros(4 * hid, packed.dtype)])  # + the buffer


def lstm_stream(states: list[np.ndarray], input_size: int, **_: object) -> _stream.StreamKernel:
    """The streaming kernel for an LSTM stack whose states are h, c = states (L, H) each."""
    h, c = states
    packer = partial(_pack, dtype=_stream.torch_dtype(h))
    return _stream.build(step, h, input_size, c, packer)
