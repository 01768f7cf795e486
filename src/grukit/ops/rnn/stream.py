"""The Elman RNN's one-step streaming kernel (numba): every layer of one sequence per call.

Registered with dispatch as op ``"rnn_stream"``, backend "cpu" (see ``.._stream``).
h' = act(W_ih x + b_ih + W_hh h + b_hh). Packed layout per layer: [W_ihᵀ (In·H),
W_hhᵀ (H·H), b_ih (H), b_hh (H)], row-major.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numba import njit

from .. import _stream
from .._cpu_math import packed_layer, tanh, vecmat_add


@njit(fastmath=True, error_model="numpy", cache=True)
def step(x, h, params, relu):
    """One Elman step of every layer: x (I,), h (L, H) updated in place."""
    layers, hid = h.shape
    at = 0
    for layer in range(layers):
        xin = x if layer == 0 else h[layer - 1]
        wih_t, whh_t, b_ih, b_hh, at = packed_layer(params, at, xin.shape[0], hid, 1)
        a = b_ih + b_hh  # (H,)
        hl = h[layer]
        vecmat_add(a, xin, wih_t)
        vecmat_add(a, hl, whh_t)
        for j in range(hid):
            hl[j] = max(a[j], 0.0) if relu else tanh(a[j])


def rnn_stream(states: list[np.ndarray], input_size: int, *, nonlinearity: str = "tanh",
               **_: object) -> _stream.StreamKernel:
    """The streaming kernel for an RNN stack whose state is states[0] (L, H)."""
    h = states[0]
    packer = partial(_stream.pack, dtype=_stream.torch_dtype(h), gates=1)
    return _stream.build(step, h, input_size, nonlinearity == "relu", packer)
