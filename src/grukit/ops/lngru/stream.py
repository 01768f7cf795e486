"""The LayerNorm-GRU's one-step streaming kernel (numba): every layer of one sequence per call.

Registered with dispatch as op ``"lngru_stream"``, backend "cpu" (see ``.._stream``). The
math is the reference's (``reference.input_gates`` and ``lngru_step``), with
LN(v; g, β) = (v − mean v) / sqrt(var v + 1e-5) ⊙ g + β (biased variance, moments in
float64 as the fused CPU kernel's ``_kernels._normalise``), gate order r, z, n.
``reset_after=True``::

    gi = LN(W_ih x; g_ih, β_ih) + b_ih        gh = LN(W_hh h; g_hh, β_hh) + b_hh   (3H each)
    r = σ(gi_r + gh_r)    z = σ(gi_z + gh_z)    n = tanh(gi_n + r ⊙ gh_n)
    h' = (1 − z) ⊙ n + z ⊙ h

``reset_after=False`` (no b_hh): the recurrent rows are normalised in two groups::

    [gh_r; gh_z] = LN(W_h[r,z] h; g_hh[:2H], β_hh[:2H])                          (2H)
    n = tanh(gi_n + LN(W_hn (r ⊙ h); g_hh[2H:], β_hh[2H:]))                      (H)

A missing gain is 1, a missing shift or bias 0 (``bias=False``). The shifts and the biases
that follow them are packed as one sum, c_ih = β_ih + b_ih and c_hh = β_hh + b_hh (as the
fused CPU kernel folds them).

Packed layout per layer: [W_ihᵀ (In·3H), W_hhᵀ (H·3H), g_ih (3H), c_ih (3H), g_hh (3H),
c_hh (3H)], row-major, layer after layer, then 8H elements the kernel writes each step (its
buffers). reset_after=False packs its W_hhᵀ block as [W_h(r,z)ᵀ (H·2H), W_hnᵀ (H·H)], so
each product reads whole contiguous rows (see ``grukit.ops.gru.stream``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import torch
from numba import njit
from torch import Tensor

from .. import _stream
from .._cpu_math import packed_layer, sigmoid, tanh, vecmat_add
from ._kernels import _normalise


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _layer_norm(v, g, c):
    """In place: v (G,) = LN(v; g, c) = (v − mean v) / sqrt(var v + ε) ⊙ g + c."""
    _normalise(v, v)
    for j in range(v.shape[0]):
        v[j] = v[j] * g[j] + c[j]


@njit(fastmath=True, error_model="numpy", cache=True, _nrt=False)
def step(x, h, params, reset_after):
    """One LayerNorm-GRU step of every layer: x (I,), h (L, H) updated in place. Nothing
    here allocates (``_nrt=False``): the buffers are the last 8H elements of params."""
    layers, hid = h.shape
    g3 = 3 * hid
    end = params.shape[0]
    gi = params[end - 8 * hid:end - 5 * hid]  # (3H,): LN(W_ih x; g_ih, c_ih)
    gh = params[end - 5 * hid:end - 2 * hid]  # (3H,): the recurrent gates after their LN
    rh = params[end - 2 * hid:end - hid]  # (H,): r ⊙ h (reset_after=False)
    zs = params[end - hid:]  # (H,): z (reset_after=False)
    at = 0
    for layer in range(layers):
        xin = x if layer == 0 else h[layer - 1]  # the layer below's new output
        wih_t, whh_t, g_ih, c_ih, at = packed_layer(params, at, xin.shape[0], hid, 3)
        g_hh, c_hh = params[at:at + g3], params[at + g3:at + 2 * g3]
        at += 2 * g3
        for j in range(g3):
            gi[j] = 0
            gh[j] = 0
        vecmat_add(gi, xin, wih_t)  # W_ih x
        _layer_norm(gi, g_ih, c_ih)
        hl = h[layer]
        if reset_after:
            vecmat_add(gh, hl, whh_t)  # W_hh h
            _layer_norm(gh, g_hh, c_hh)
            for j in range(hid):
                r = sigmoid(gi[j] + gh[j])
                z = sigmoid(gi[hid + j] + gh[hid + j])
                n = tanh(gi[2 * hid + j] + r * gh[2 * hid + j])
                hl[j] = n + z * (hl[j] - n)  # (1 − z) n + z h
        else:
            flat = whh_t.reshape(g3 * hid)
            grz = gh[:2 * hid]  # (2H,): W_h[r,z] h, then its LN
            vecmat_add(grz, hl, flat[:2 * hid * hid].reshape((hid, 2 * hid)))
            _layer_norm(grz, g_hh[:2 * hid], c_hh[:2 * hid])
            for j in range(hid):
                r = sigmoid(gi[j] + gh[j])
                zs[j] = sigmoid(gi[hid + j] + gh[hid + j])
                rh[j] = r * hl[j]
            ghn = gh[2 * hid:]  # (H,): W_hn (r ⊙ h), then its LN
            vecmat_add(ghn, rh, flat[2 * hid * hid:].reshape((hid, hid)))
            _layer_norm(ghn, g_hh[2 * hid:], c_hh[2 * hid:])
            for j in range(hid):
                n = tanh(gi[2 * hid + j] + ghn[j])
                hl[j] = n + zs[j] * (hl[j] - n)


def _whh_before(w: Tensor) -> Tensor:
    """reset_after=False's W_hhᵀ block: [W_h(r,z)ᵀ, W_hnᵀ], each contiguous."""
    rz = 2 * w.shape[1]
    return torch.cat([w[:rz].t().reshape(-1), w[rz:].t().reshape(-1)])


def _vec(layer: _stream.Layer, name: str, fill: float, *, size: int,
         dtype: torch.dtype) -> Tensor:
    """The layer's vector ``name`` (3H,) in ``dtype``, or ``fill`` where it has none."""
    t = layer.get(name)
    return torch.full((size,), fill, dtype=dtype) if t is None else t.detach().to(dtype)


def pack(layers: Sequence[_stream.Layer], dtype: torch.dtype, reset_after: bool) -> np.ndarray:
    """[W_ihᵀ, W_hhᵀ, g_ih, β_ih + b_ih, g_hh, β_hh + b_hh] per layer in ``dtype`` (a missing
    gain as ones, a missing shift or bias as zeros), then the 8H buffers."""
    parts = []
    for p in layers:
        w_hh = p["weight_hh"].detach()  # (3H, H)
        vec = partial(_vec, p, size=w_hh.shape[0], dtype=dtype)
        parts += [p["weight_ih"].detach().t(), w_hh.t() if reset_after else _whh_before(w_hh),
                  vec("ln_ih_weight", 1.0), vec("ln_ih_bias", 0.0) + vec("bias_ih", 0.0),
                  vec("ln_hh_weight", 1.0), vec("ln_hh_bias", 0.0) + vec("bias_hh", 0.0)]
    packed = torch.cat([t.reshape(-1).to(dtype) for t in parts]).numpy()
    hid = layers[0]["weight_hh"].shape[1]
    return np.concatenate([packed, np.zeros(8 * hid, packed.dtype)])  # + the buffers


def lngru_stream(states: list[np.ndarray], input_size: int, *, reset_after: bool = True,
                 **_: object) -> _stream.StreamKernel:
    """The streaming kernel for a LayerNorm-GRU stack whose state is states[0] (L, H)."""
    h = states[0]
    packer = partial(pack, dtype=_stream.torch_dtype(h), reset_after=bool(reset_after))
    return _stream.build(step, h, input_size, bool(reset_after), packer)
