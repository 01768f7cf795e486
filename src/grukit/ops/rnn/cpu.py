"""Fused CPU Elman RNN (numba): forward and backward, same plan as ``grukit.ops.gru.cpu``.

Forward: h' = act(gi + h W_hhᵀ + b_hh). Backward: a = (g) ⊙ act'(h'), with act' = 1 − h'²
for tanh and [h' > 0] for relu, ∂L/∂h_{t−1} = a W_hh; dW_hh = Σ_t aᵀ h_{t−1} after the loop.
Recurrent dropout d (B, H), or None: W_hh multiplies d ⊙ h_{t−1}, so dW_hh = Σ_t aᵀ (d ⊙ h_{t−1})
and ∂L/∂h_{t−1} = (a W_hh) ⊙ d.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import prange
from torch import Tensor

from .. import _pool
from .._cpu import arr, kernel_threads, lens_array
from .._cpu_math import copy_into, copy_masked, masked_rows, one, tanh
from .._fused import first_order_only, grad_or_zeros, run_fused
from .._gemm import gemm_address, gemm_scratch, mm, mm_w, transposes_pay
from .._jit import chunked_kernel


@chunked_kernel
def _fwd(gi, whh, w_t, bhh, h0, lens, relu, y, hn, drop, gemm, nchunk):
    """gi (B,T,H), whh = W_hh (H,H) as torch stores it, or with w_t its transposed copy
    (``mm_w``), bhh (H,), h0 (B,H) -> y (B,T,H), hn (B,H)."""
    batch, steps, hid = gi.shape
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        h = h0[b0:b1].copy()  # (nb, H)
        gh = np.empty_like(h)  # (nb, H)
        hm = np.empty_like(h)  # (nb, H): d ⊙ h, with recurrent dropout
        ints, ab = gemm_scratch(gi)
        for t in range(steps):
            if drop is None:
                mm_w(h, whh, w_t, gh, gemm, ints, ab)
            else:
                masked_rows(h, drop[b0:b1], hm)
                mm_w(hm, whh, w_t, gh, gemm, ints, ab)
            for k in range(b1 - b0):
                b = b0 + k
                yb = y[b, t]
                if t >= lens[b]:
                    yb[:] = 0
                    continue
                xk, ghk, hk = gi[b, t], gh[k], h[k]
                for j in range(hid):
                    a = xk[j] + ghk[j] + bhh[j]
                    hj = max(a, a * 0) if relu else tanh(a)
                    hk[j] = hj
                    yb[j] = hj
        hn[b0:b1] = h


@chunked_kernel
def _bwd(dy, dhn, whh, y, lens, relu, drop, dgi, dh0, gemm, nchunk):
    """dy (B,T,H), dhn (B,H), whh (H,H), y (B,T,H) -> dgi (B,T,H), dh0 (B,H)."""
    batch, steps, hid = dy.shape
    one_ = one(dy)
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        dh = dhn[b0:b1].copy()  # (nb, H)
        step = np.zeros_like(dh)  # (nb, H)
        back = np.empty_like(dh)
        ints, ab = gemm_scratch(dy)
        for t in range(steps - 1, -1, -1):
            for k in range(b1 - b0):
                b = b0 + k
                gk, st = dgi[b, t], step[k]
                if t >= lens[b]:
                    gk[:] = 0
                    st[:] = 0
                    continue
                yb, dyb, dhk = y[b, t], dy[b, t], dh[k]
                for j in range(hid):
                    g = dhk[j] + dyb[j]
                    hj = yb[j]
                    st[j] = (g if hj > 0 else g * 0) if relu else g * (one_ - hj * hj)
                copy_into(gk, st)
            mm(step, whh, back, gemm, ints, ab)
            for k in range(b1 - b0):
                if t < lens[b0 + k]:
                    if drop is None:
                        copy_into(dh[k], back[k])
                    else:
                        copy_masked(dh[k], back[k], drop[b0 + k])
        dh0[b0:b1] = dh


def _forward(gi: Tensor, w_hh: Tensor, b_hh: Tensor | None, h0: Tensor, lens: np.ndarray,
             relu: bool, drop=None):
    batch, steps, hid = gi.shape
    dt = gi.numpy().dtype
    y, hn = np.empty((batch, steps, hid), dt), np.empty((batch, hid), dt)
    bias = arr(b_hh) if b_hh is not None else np.zeros(hid, dt)
    gemm = gemm_address(dt)
    w, w_t = w_hh.detach(), transposes_pay(batch, steps, hid)
    with kernel_threads(batch, gemm) as nchunk:
        _fwd(gi.numpy(), arr(w.t() if w_t else w), w_t, bias, arr(h0), lens, relu, y, hn, drop,
             gemm, nchunk)
    return torch.from_numpy(y), torch.from_numpy(hn)


class _RNNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, lens, relu, state_mask):
        gi = _pool.linear(x, w_ih, b_ih)  # (B, T, H)
        drop = None if state_mask is None else arr(state_mask)  # (B, H)
        y, hn = _forward(gi, w_hh, b_hh, h0, lens, relu, drop)
        ctx.drop = drop
        # a copy: the caller may change y in place (relu_), as torch.nn.RNN's output allows
        ctx.save_for_backward(x, w_ih, w_hh, h0, y.clone() if any(ctx.needs_input_grad) else y)
        ctx.lens, ctx.relu, ctx.has_b = lens, relu, (b_ih is not None, b_hh is not None)
        return y, hn

    @staticmethod
    def backward(ctx, dy, dhn):
        first_order_only(ctx, "the fused CPU RNN kernel")
        x, w_ih, w_hh, h0, y = ctx.saved_tensors
        batch, steps, hid = y.shape
        dy, dhn = grad_or_zeros(dy, y), grad_or_zeros(dhn, h0)
        dgi = _pool.empty((batch, steps, hid), y.numpy().dtype)
        dh0 = np.empty((batch, hid), dgi.dtype)
        gemm = gemm_address(dgi.dtype)
        with kernel_threads(batch, gemm) as nchunk:
            _bwd(arr(dy), arr(dhn), arr(w_hh), y.numpy(), ctx.lens, ctx.relu, ctx.drop, dgi,
                 dh0, gemm, nchunk)
        hprev = torch.cat([h0.detach().unsqueeze(1), y[:, :-1]], dim=1)  # (B, T, H)
        if ctx.drop is not None:
            hprev = hprev * torch.from_numpy(ctx.drop).unsqueeze(1)  # d ⊙ h_{t−1}
        dg = torch.from_numpy(dgi).reshape(-1, hid)  # (B·T, H)
        db = dg.sum(0)
        dx = (dg @ w_ih.detach()).reshape(x.shape) if ctx.needs_input_grad[0] else None
        return (dx, dg.t() @ x.detach().reshape(-1, x.shape[2]), dg.t() @ hprev.reshape(-1, hid),
                db if ctx.has_b[0] else None, db if ctx.has_b[1] else None,
                torch.from_numpy(dh0), None, None, None)


def rnn_cpu_plain(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
                  bias_hh: Tensor | None, h0: Tensor | None,
                  nonlinearity: str) -> tuple[Tensor, Tensor]:
    """``rnn_cpu``'s inference for a call its entry found plain (``_cpu.plain``: no lengths,
    mask, reverse or gradient; valid shapes): x (B, T, I), h0 (B, H) or None (zeros) ->
    y (B, T, H), h_n (B, H)."""
    batch, steps = x.shape[0], x.shape[1]
    if h0 is None:
        h0 = x.new_zeros(batch, weight_hh.shape[1])  # (B, H)
    gi = _pool.linear(x, weight_ih, bias_ih)  # (B, T, H)
    return _forward(gi, weight_hh, bias_hh, h0, np.full(batch, steps, np.int64),
                    nonlinearity == "relu")


def rnn_cpu(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
            bias_hh: Tensor | None, *, h0: Tensor, lengths: Tensor | None, nonlinearity: str,
            reverse: bool, state_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The ``grukit.ops.rnn`` signature on the fused CPU kernels."""
    lens = lens_array(lengths, x.shape[0], x.shape[1])
    relu = nonlinearity == "relu"

    def train(xs: Tensor):
        drop = None if state_mask is None else state_mask.detach()
        y, hn = _RNNFunction.apply(xs, weight_ih, weight_hh, bias_ih, bias_hh, h0, lens, relu,
                                   drop)
        return y, (hn,)

    def infer(xs: Tensor):
        with torch.no_grad():
            gi = _pool.linear(xs, weight_ih, bias_ih)  # (B, T, H)
            drop = None if state_mask is None else arr(state_mask)  # (B, H)
            y, hn = _forward(gi, weight_hh, bias_hh, h0, lens, relu, drop)
        return y, (hn,)

    y, (hn,) = run_fused(x, lengths, reverse, (weight_ih, weight_hh, bias_ih, bias_hh, h0),
                         train, infer)
    return y, hn
