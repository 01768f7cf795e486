"""The minGRU's one-step streaming kernel (numba): every layer of one sequence per call.

Registered with dispatch as op ``"mingru_stream"``, backend "cpu" (see ``.._stream``)::

    k, v = split(W_ih x + b_ih)        z = σ(k)        h̃ = g(v)
    h' = (1 − z) ⊙ h + z ⊙ h̃,          g(v) = v + 0.5 if v ≥ 0 else σ(v)

(the reference's ``mingru_step``). The gates read x only, so a step is one vector-matrix
product per layer. Packed layout per layer: [W_ihᵀ (In·2H), b_ih (2H)], row-major, layer
after layer, then 2H elements the kernel writes each step (its buffer).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numba import njit

from .. import _stream
from .._cpu_math import sigmoid, vecmat_add


@njit(fastmath=True, error_model="numpy", cache=True, _nrt=False)
def step(x, h, params, mode):
    """One minGRU step of every layer: x (I,), h (L, H) updated in place (``mode`` unused:
    the sequential and parallel forms agree)."""
    layers, hid = h.shape
    end = params.shape[0]
    gi = params[end - 2 * hid:]  # (2H,): W_ih x + b_ih
    at = 0
    for layer in range(layers):
        xin = x if layer == 0 else h[layer - 1]  # the layer below's new output
        inp = xin.shape[0]
        wih_t = params[at:at + 2 * hid * inp].reshape((inp, 2 * hid))
        at += 2 * hid * inp
        for j in range(2 * hid):
            gi[j] = params[at + j]
        at += 2 * hid
        vecmat_add(gi, xin, wih_t)
        hl = h[layer]
        for j in range(hid):
            z = sigmoid(gi[j])
            v = gi[hid + j]
            cand = v + 0.5 if v >= 0 else sigmoid(v)
            hl[j] = hl[j] + z * (cand - hl[j])  # (1 − z) h + z h̃


def pack(layers: Sequence[_stream.Layer], dtype: torch.dtype) -> np.ndarray:
    """[W_ihᵀ, b_ih] per layer (a missing bias as zeros), then the 2H buffer."""
    parts = []
    for p in layers:
        w = p["weight_ih"].detach()  # (2H, In)
        b = p["bias_ih"]
        parts += [w.t(), torch.zeros(w.shape[0], dtype=dtype) if b is None else b.detach()]
    hid2 = layers[0]["weight_ih"].shape[0]
    packed = torch.cat([t.reshape(-1).to(dtype) for t in parts]).numpy()
    return np.concatenate([packed, np.zeros(hid2, packed.dtype)])


def mingru_stream(states: list[np.ndarray], input_size: int, *, mode: str = "parallel",
                  **_: object) -> _stream.StreamKernel:
    """The streaming kernel for a minGRU stack whose state is states[0] (L, H)."""
    h = states[0]
    dtype = _stream.torch_dtype(h)
    return _stream.build(step, h, input_size, 0, lambda layers: pack(layers, dtype))
