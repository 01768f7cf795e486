"""int8 weights for CPU inference: per-row quantisation and the GRU's int8 streaming kernel.

Each weight matrix W (G·H, K) is stored as int8 with one float scale per row (per output
unit), symmetric, round to nearest::

    s_j = max_k |W_jk| / 127   (1 where the row is all zero)     q_jk = round(W_jk / s_j)
    W_jk ≈ s_j q_jk,   so   (W v)_j ≈ s_j Σ_k q_jk v_k

The scale of a row multiplies its dot product once, after the sum, so the kernel reads int8
weights only (a quarter of the bytes of float32: GRU(64)'s recurrent block is 12 KiB instead
of 48, inside L1) and converts each to float as it multiplies. That is no faster than
float32; where the CPU has AVX-512 VNNI, ``gru_stream_int8`` gives the int8 × int8 kernel
instead (``.w8a8``: the state quantised too, int32 sums, about twice as fast). The batch
path does not need a kernel of its own: ``dequantize_rows`` gives the float weights, and the
fused kernels then run one GEMM per step, which beats any per-element int8 loop at batch > 1.

Streaming packed layout (one array of the state's dtype; ``pack_int8``):
[per layer: s_ih (G·H), b_ih (G·H), s_hh (G·H), b_hh (G·H)] then the int8 bytes
[per layer: q_ihᵀ (In·G·H), q_hhᵀ (H·G·H)] padded to whole elements of the dtype and read by
the kernel through ``params.view(np.int8)``, then 8H elements the kernels write each step.
reset_after=False lays q_hhᵀ out as [q_h(r,z)ᵀ (H·2H), q_hnᵀ (H·H)] as the float kernel
does (``.stream``), with b_hh zeros.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import torch
from numba import njit
from torch import Tensor

from .. import _stream
from .cpu import _gates_before, _unit_after, _unit_before

QMAX = 127
SIZES = ("the int8 step's x (input_size,), state h (layers, hidden) and packed weights "
         "disagree in size (a step would read and write outside them); pass the state the "
         "kernel was made for, an x of its input_size and the weights its pack gave.")


def quantize_rows(w: Tensor) -> tuple[Tensor, Tensor]:
    """w (R, C) float -> (q (R, C) int8, scale (R,) float32), one symmetric scale per row."""
    if not isinstance(w, Tensor) or w.dim() != 2 or not w.is_floating_point():
        raise ValueError(f"quantize_rows takes a 2-D floating-point weight (rows, columns); "
                         f"got {type(w).__name__} of shape {tuple(getattr(w, 'shape', ()))}.")
    w = w.detach()
    if not torch.isfinite(w).all():
        raise ValueError("quantize_rows: the weight holds NaN or Inf; int8 cannot store it.")
    big = w.abs().amax().item() if w.numel() else 0.0
    if big > torch.finfo(torch.float32).max:  # a float64 weight: its scale would be Inf
        raise ValueError(f"quantize_rows: the weight holds {big:.3g}, beyond the range of "
                         f"float32, which the row scales are kept in; keep this model in float.")
    w = w.to(torch.float32)
    amax = w.abs().amax(dim=1)  # (R,)
    scale = torch.where(amax > 0, amax / QMAX, torch.ones_like(amax))  # (R,)
    q = torch.round(w / scale[:, None]).clamp_(-QMAX, QMAX).to(torch.int8)  # (R, C)
    return q, scale


def dequantize_rows(q: Tensor, scale: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """q (R, C) int8, scale (R,) -> s_j q_jk (R, C) in ``dtype``, rounded once: the product is
    taken in float32 at least (in bfloat16 its factors' rounding took the error to 0.996 of
    a quantization step, where one rounding leaves it within half a bfloat16 step of s q)."""
    wide = torch.promote_types(dtype, torch.float32)
    return (q.to(wide) * scale.to(wide)[:, None]).to(dtype)


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def vecmat_q(acc, v, q_t):
    """acc (G,) += v (K,) @ q_t (K, G) for int8 q_t, four rows a pass (as ``vecmat_add``)."""
    rows = v.shape[0]
    k = 0
    while k + 4 <= rows:
        v0, v1, v2, v3 = v[k], v[k + 1], v[k + 2], v[k + 3]
        w0, w1, w2, w3 = q_t[k], q_t[k + 1], q_t[k + 2], q_t[k + 3]
        for j in range(acc.shape[0]):
            acc[j] += (w0[j] * v0 + w1[j] * v1) + (w2[j] * v2 + w3[j] * v3)
        k += 4
    while k < rows:
        vk, wk = v[k], q_t[k]
        for j in range(acc.shape[0]):
            acc[j] += wk[j] * vk
        k += 1


@njit(inline="always", cache=True)
def int8_size(inp, layers, hid, g, itemsize):
    """The length of a packed array (``pack_int8``) for an input of ``inp`` features and a
    state (layers, hid) with g = G·H rows a layer: what a step checks its arguments by."""
    nbytes = g * (inp + hid) + (layers - 1) * 2 * g * hid  # the int8 weights
    return layers * 4 * g + (nbytes + itemsize - 1) // itemsize + 8 * hid


@njit(inline="always", cache=True)
def int8_bytes(params, layers, g):
    """The int8 part of a packed array whose float part holds 4·g values per layer."""
    return params.view(np.int8)[layers * 4 * g * params.itemsize:]


@njit(inline="always", cache=True)
def int8_layer(params, qb, atf, atq, inp, hid, g):
    """One layer's views: s_ih, b_ih, s_hh, b_hh (g,), q_ihᵀ (In, g), q_hhᵀ (H, g), and
    where the next layer starts in the float and the int8 parts."""
    s_ih, b_ih = params[atf:atf + g], params[atf + g:atf + 2 * g]
    s_hh, b_hh = params[atf + 2 * g:atf + 3 * g], params[atf + 3 * g:atf + 4 * g]
    q_ih = qb[atq:atq + g * inp].reshape((inp, g))
    atq += g * inp
    q_hh = qb[atq:atq + g * hid].reshape((hid, g))
    return s_ih, b_ih, s_hh, b_hh, q_ih, q_hh, atf + 4 * g, atq + g * hid


@njit(fastmath=True, error_model="numpy", cache=True, _nrt=False)
def step_int8(x, h, params, reset_after):
    """One GRU step of every layer with int8 weights: x (I,), h (L, H) updated in place.
    Compiled without reference counting (nothing allocates: the buffers are the last 8H
    elements of params), which would cost two atomic updates per array view."""
    layers, hid = h.shape
    g = 3 * hid
    if params.shape[0] != int8_size(x.shape[0], layers, hid, g, params.itemsize):
        raise ValueError(SIZES)
    qb = int8_bytes(params, layers, g)
    end = params.shape[0]
    gi = params[end - 8 * hid:end - 5 * hid]  # (3H,): q_ih x; W_ih x + b_ih = s_ih ⊙ gi + b_ih
    gh = params[end - 5 * hid:end - 2 * hid]  # (3H,): q_hh h; W_hh h = s_hh ⊙ gh
    rh = params[end - 2 * hid:end - hid]  # (H,): r ⊙ h (reset_after=False)
    zs = params[end - hid:]  # (H,): z (reset_after=False)
    atf, atq = 0, 0
    for layer in range(layers):
        xin = x if layer == 0 else h[layer - 1]
        s_ih, b_ih, s_hh, b_hh, q_ih, q_hh, atf, atq = int8_layer(params, qb, atf, atq,
                                                                  xin.shape[0], hid, g)
        for j in range(g):
            gi[j] = 0
            gh[j] = 0
        hl = h[layer]
        vecmat_q(gi, xin, q_ih)
        if reset_after:
            vecmat_q(gh, hl, q_hh)
            for j in range(hid):
                r, z, n = j, hid + j, 2 * hid + j
                hl[j] = _unit_after(s_ih[r] * gi[r] + b_ih[r], s_ih[z] * gi[z] + b_ih[z],
                                    s_ih[n] * gi[n] + b_ih[n], s_hh[r] * gh[r],
                                    s_hh[z] * gh[z], s_hh[n] * gh[n], b_hh[r], b_hh[z],
                                    b_hh[n], hl[j])[4]
        else:  # gh = [q_hr h; q_hz h; q_hn (r ⊙ h)]
            flat = q_hh.reshape(g * hid)
            vecmat_q(gh[:2 * hid], hl, flat[:2 * hid * hid].reshape((hid, 2 * hid)))
            for j in range(hid):
                r, z = j, hid + j
                _, zs[j], rh[j] = _gates_before(s_ih[r] * gi[r] + b_ih[r],
                                                s_ih[z] * gi[z] + b_ih[z], s_hh[r] * gh[r],
                                                s_hh[z] * gh[z], hl[j])
            ghn = gh[2 * hid:]
            vecmat_q(ghn, rh, flat[2 * hid * hid:].reshape((hid, hid)))
            for j in range(hid):
                n = 2 * hid + j
                hl[j] = _unit_before(s_ih[n] * gi[n] + b_ih[n], s_hh[n] * ghn[j], zs[j],
                                     hl[j])[1]


def _t(q: Tensor) -> Tensor:
    return q.t()


def _t_before(q: Tensor) -> Tensor:
    """reset_after=False's q_hhᵀ: [q_h(r,z)ᵀ, q_hnᵀ], each contiguous."""
    rz = 2 * q.shape[1]
    return torch.cat([q[:rz].t().reshape(-1), q[rz:].t().reshape(-1)])


def pack_int8(layers: Sequence[dict], dtype: torch.dtype,
              hh_t: Callable[[Tensor], Tensor] = _t) -> np.ndarray:
    """The streaming layout above from layers of int8 weights: each a dict with
    ``weight_ih_int8`` (G·H, In), ``weight_ih_scale`` (G·H,), ``weight_hh_int8`` (G·H, H),
    ``weight_hh_scale``, ``bias_ih`` and ``bias_hh`` (G·H,) or None (zeros)."""
    floats, ints = [], []
    for p in layers:
        g = p["weight_hh_int8"].shape[0]
        zeros = torch.zeros(g, dtype=dtype)  # (G·H,)
        floats += [p["weight_ih_scale"], zeros if p["bias_ih"] is None else p["bias_ih"],
                   p["weight_hh_scale"], zeros if p["bias_hh"] is None else p["bias_hh"]]
        ints += [p["weight_ih_int8"].t().reshape(-1), hh_t(p["weight_hh_int8"]).reshape(-1)]
    head = torch.cat([t.detach().reshape(-1).to(dtype) for t in floats]).numpy()
    body = torch.cat(ints).numpy()  # int8
    size = head.itemsize
    tail = np.zeros(-(-body.size // size) * size, np.int8)  # whole elements of dtype
    tail[:body.size] = body
    hid = layers[0]["weight_hh_int8"].shape[1]
    buffers = np.zeros(8 * hid, head.dtype)  # what the kernels write each step
    return np.concatenate([head, tail.view(head.dtype), buffers])


def gru_stream_int8(states: list[np.ndarray], input_size: int, *, reset_after: bool = True,
                    w8a8: bool | None = None, **_: object) -> _stream.StreamKernel:
    """The int8 streaming kernel for a GRU stack whose state is states[0] (L, H); its
    ``pack`` takes the int8 layers ``pack_int8`` describes. ``w8a8``: True for the int8 ×
    int8 kernel (``.w8a8``: the input and state quantised each step too; float32 state),
    False for this module's (float products of the int8 weights), None for int8 × int8
    where it is fast (a CPU with AVX-512 VNNI, float32 state)."""
    h = states[0]
    if w8a8 is None:
        from .._vnni import MAX_K, VNNI

        w8a8 = VNNI and h.dtype == np.float32 and max(input_size, h.shape[1]) <= MAX_K
    if w8a8:
        if h.dtype != np.float32:
            raise ValueError(f"gru_stream_int8: w8a8=True needs a float32 state; got "
                             f"{h.dtype}. Use w8a8=False (float products) for float64.")
        from .w8a8 import gru_stream_w8a8

        return gru_stream_w8a8(states, input_size, reset_after=reset_after)
    packer = partial(pack_int8, dtype=_stream.torch_dtype(h),
                     hh_t=_t if reset_after else _t_before)
    return _stream.build(step_int8, h, input_size, bool(reset_after), packer)


__all__ = ["dequantize_rows", "gru_stream_int8", "pack_int8", "quantize_rows"]
