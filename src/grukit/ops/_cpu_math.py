"""Scalar math for the fused CPU kernels (numba), fast where it can be exact enough.

float32: ``tanh`` is the [13/12] Padé approximant of Lambert's continued fraction

    tanh x = x / (1 + x²/(3 + x²/(5 + … + x²/25)))

written as x·N(x²)/D(x²), with x clamped to ±9.02 (tanh rounds to ±1 in float32 there).
Its largest error against float64 tanh is 3.3e-7 on all of float32 (tested), the size of
float32 rounding, and unlike ``math.tanh`` it has no call in it, so the gate loops vectorise.
``sigmoid(x) = (1 + tanh(x/2)) / 2``. float64 keeps the exact ``math`` functions.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

from . import _numba_cache  # noqa: F401  (kernels' cache stamps: before any kernel)

_F = np.float32
_CLAMP = _F(9.02)
_ONE, _HALF = _F(1.0), _F(0.5)
# N(u) and D(u), u = x², from the continued fraction above, divided by 1·3·5·…·25
_N0, _N1, _N2, _N3 = _F(1.0), _F(1.4666666667e-01), _F(5.2173913043e-03), _F(6.6252587992e-05)
_N4, _N5, _N6 = _F(3.2286836253e-07), _F(5.1797063508e-10), _F(1.2648855557e-13)
_D0, _D1, _D2, _D3 = _F(1.0), _F(4.8e-01), _F(3.1884057971e-02), _F(6.6252587992e-04)
_D4, _D5, _D6 = _F(5.230467473e-06), _F(1.5193805296e-08), _F(1.1510458557e-11)


@njit(fastmath=True, cache=True)
def tanh32(x):
    x = min(max(x, -_CLAMP), _CLAMP)
    u = x * x
    num = ((((((_N6 * u + _N5) * u + _N4) * u + _N3) * u + _N2) * u + _N1) * u + _N0)
    den = ((((((_D6 * u + _D5) * u + _D4) * u + _D3) * u + _D2) * u + _D1) * u + _D0)
    return min(max(x * num / den, -_ONE), _ONE)


def tanh(x):
    """tanh for the kernels: the rational form in float32, ``math.tanh`` in float64."""
    return math.tanh(x)


def sigmoid(x):
    """σ(x) = 1 / (1 + e^−x), with the float32 tanh identity where x is float32."""
    return 1.0 / (1.0 + math.exp(-x))


@overload(tanh, jit_options={"fastmath": True})
def _tanh_impl(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: tanh32(x)
    return lambda x: math.tanh(x)


@overload(sigmoid, jit_options={"fastmath": True})
def _sigmoid_impl(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: _HALF * tanh32(_HALF * x) + _HALF
    return lambda x: 1.0 / (1.0 + math.exp(-x))


def one(a):
    """1 in the dtype of array ``a``: ``1 - z`` with an int literal would turn float32 math
    into float64 in numba (and halve the vector width)."""
    return 1.0


@overload(one)
def _one_impl(a):
    if isinstance(a, types.Array) and a.dtype == types.float32:
        return lambda a: _ONE
    return lambda a: 1.0


@njit(inline="always", cache=True)
def copy_into(dst, src):
    """dst[:] = src as a plain loop: numba's slice assignment does not vectorise (~2 ns per
    element against ~0.1)."""
    for j in range(src.shape[0]):
        dst[j] = src[j]


@njit(inline="always", cache=True)
def add_into(dst, src):
    """dst += src as a plain loop (see copy_into)."""
    for j in range(src.shape[0]):
        dst[j] += src[j]


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def masked_rows(rows, mask, out):
    """out (nb, H) = rows (nb, H) ⊙ mask (nb, H): the state recurrent products read under
    recurrent dropout."""
    for i in range(out.shape[0]):
        ri, mi, oi = rows[i], mask[i], out[i]
        for j in range(oi.shape[0]):
            oi[j] = ri[j] * mi[j]


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def add_masked(dst, src, mask):
    """dst += src ⊙ mask as a plain loop (see copy_into)."""
    for j in range(src.shape[0]):
        dst[j] += src[j] * mask[j]


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def copy_masked(dst, src, mask):
    """dst = src ⊙ mask as a plain loop (see copy_into)."""
    for j in range(src.shape[0]):
        dst[j] = src[j] * mask[j]


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def vecmat_add(acc, v, w_t):
    """acc (G,) += v (K,) @ w_t (K, G), along contiguous rows of w_t, four rows at a time:
    each pass over acc then carries four products, so acc is loaded and stored a quarter as
    often (a batch-1 step at H=64 takes 0.9 µs instead of 1.4 here; no BLAS call)."""
    rows = v.shape[0]
    k = 0
    while k + 4 <= rows:
        v0, v1, v2, v3 = v[k], v[k + 1], v[k + 2], v[k + 3]
        w0, w1, w2, w3 = w_t[k], w_t[k + 1], w_t[k + 2], w_t[k + 3]
        for j in range(acc.shape[0]):
            acc[j] += (w0[j] * v0 + w1[j] * v1) + (w2[j] * v2 + w3[j] * v3)
        k += 4
    while k < rows:
        vk, wk = v[k], w_t[k]
        for j in range(acc.shape[0]):
            acc[j] += wk[j] * vk
        k += 1


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def matvec(out, w, v):
    """out (G,) = w (G, K) @ v (K,), four rows of w at a time (four sums per pass over v:
    1.1 µs for GRU(64)'s W_hh against 3.5 one row at a time; at H = 256 as fast as
    ``vecmat_add`` on Wᵀ)."""
    rows = w.shape[0]
    j = 0
    while j + 4 <= rows:
        r0, r1, r2, r3 = w[j], w[j + 1], w[j + 2], w[j + 3]
        s0 = s1 = s2 = s3 = out.dtype.type(0)
        for k in range(v.shape[0]):
            vk = v[k]
            s0 += r0[k] * vk
            s1 += r1[k] * vk
            s2 += r2[k] * vk
            s3 += r3[k] * vk
        out[j], out[j + 1], out[j + 2], out[j + 3] = s0, s1, s2, s3
        j += 4
    while j < rows:
        s = out.dtype.type(0)
        for k in range(v.shape[0]):
            s += w[j, k] * v[k]
        out[j] = s
        j += 1


@njit(inline="always", cache=True)
def packed_layer(params, at, inp, hid, gates):
    """One layer's views of a streaming kernel's packed parameters, starting at ``at``:
    W_ihᵀ (In, G·H), W_hhᵀ (H, G·H), b_ih (G·H,), b_hh (G·H,), and where the next layer starts."""
    g = gates * hid
    wih_t = params[at:at + g * inp].reshape((inp, g))
    at += g * inp
    whh_t = params[at:at + g * hid].reshape((hid, g))
    at += g * hid
    return wih_t, whh_t, params[at:at + g], params[at + g:at + 2 * g], at + 2 * g
