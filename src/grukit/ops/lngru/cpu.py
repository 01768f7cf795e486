"""Fused CPU LayerNorm-GRU (numba): forward and backward, both reset-gate placements.

Plan per call (B batch, T steps, H hidden), as ``grukit.ops.gru.cpu``:

- the input side of all steps is vectorised torch, recorded by autograd: the time-major
  gates gi = LN(x W_ihᵀ; g_ih, β_ih + b_ih)  (T, B, 3H) (b_ih folded into the shift);
- the serial loop (``_kernels``) does one small GEMM per step, h W_hhᵀ (two for
  reset_after=False: the r, z rows, then W_hn (r ⊙ h)), normalises each row of it and runs
  the gate math, one chunk of rows per thread for the whole recurrence;
- backward walks time in reverse producing, per step, ∂L/∂gi and ∂L/∂p for the recurrent
  products p before normalisation; the weight, gain and shift gradients are then single
  torch reductions: dW_hh = Σ_t dpᵀ h_{t−1}, dg_hh = Σ ∂L/∂gh ⊙ p̂, dβ_hh = db_hh = Σ ∂L/∂gh.

Normalisation backward, for p̂ = (p − mean p) · s, s = 1 / sqrt(var p + ε):

    ∂L/∂p = s · (d − mean(d) − p̂ ⊙ mean(d ⊙ p̂)),   d = ∂L/∂gh ⊙ g_hh

GRU part, reset_after=True (g = ∂L/∂h_t): dz = g ⊙ (h_{t−1} − n), a_n = g (1 − z)(1 − n²),
a_r = a_n ⊙ gh_n ⊙ r(1 − r), a_z = dz ⊙ z(1 − z); ∂L/∂gi = [a_r, a_z, a_n], ∂L/∂gh =
[a_r, a_z, a_n ⊙ r], ∂L/∂h_{t−1} = g ⊙ z + ∂L/∂p W_hh. reset_after=False: ∂L/∂gh = ∂L/∂gi
= [a_r, a_z, a_n]; d(r ⊙ h) = ∂L/∂q W_hn for q = W_hn (r ⊙ h), a_r = d(r ⊙ h) ⊙ h_{t−1} ⊙
r(1 − r), ∂L/∂h_{t−1} = g ⊙ z + d(r ⊙ h) ⊙ r + ∂L/∂a W_h[r,z] for a = W_h[r,z] h_{t−1}.

With a state mask m (B, H) (recurrent dropout) the recurrent products read hm = h_{t−1} ⊙ m
in place of h_{t−1} (in r ⊙ h too), so their terms of ∂L/∂h_{t−1} are multiplied by m and
dW_hh is summed against hm; the update (1 − z) n + z h_{t−1} keeps h_{t−1}.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _pool
from .._cpu import arr, kernel_threads, lens_array
from .._fused import first_order_only, grad_or_zeros, run_fused
from .._gemm import gemm_address, transposes_pay
from . import _kernels as K
from .reference import layer_norm


def _gain(g: Tensor | None, size: int, dtype) -> np.ndarray:
    """The recurrent gain g_hh (3H,) as a numpy array; ones when None."""
    return np.ones(size, dtype) if g is None else arr(g)


def _shift(beta: Tensor | None, bias: Tensor | None, size: int, dtype) -> np.ndarray:
    """β_hh + b_hh (3H,), the one shift the gate math adds; zeros for each None."""
    out = np.zeros(size, dtype)
    for v in (beta, bias):
        if v is not None:
            out += arr(v)
    return out


def _input_gates(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None,
                 ln_ih_weight: Tensor | None, ln_ih_bias: Tensor | None) -> Tensor:
    """``reference.input_gates`` with b_ih folded into the shift of the normalisation,
    LN(W_ih x; g_ih, β_ih + b_ih): one pass over (T, B, 3H) less (a fifth of the forward at
    the mid shape on one thread)."""
    if bias_ih is None or ln_ih_bias is None:
        return layer_norm(F.linear(x, weight_ih), ln_ih_weight,
                          bias_ih if ln_ih_bias is None else ln_ih_bias)
    return layer_norm(F.linear(x, weight_ih), ln_ih_weight, ln_ih_bias + bias_ih)


def _mask(state_mask: Tensor | None, batch: int, hid: int, dtype) -> np.ndarray:
    """The (B, H) multiplier of the state fed to the recurrent products; ones without one."""
    return np.ones((batch, hid), dtype) if state_mask is None else arr(state_mask)


def _forward(gi: Tensor, w_hh: Tensor, b_hh, g_hh, be_hh, h0: Tensor, mask: np.ndarray,
             lens: np.ndarray, reset_after: bool, train: bool):
    """gi (T, B, 3H), mask (B, H) -> y (B, T, H), hs (T+1, B, H) = [h0, y], h_n (B, H) and,
    when train, the saved (save, phat, rstd) for backward."""
    steps, batch, g3 = gi.shape
    hid = g3 // 3
    gin = arr(gi)  # (T, B, 3H)
    dt = gin.dtype
    hs = _pool.empty((steps + 1, batch, hid), dt)  # (T+1, B, H)
    hs[0] = arr(h0)
    hn = np.empty((batch, hid), dt)
    rows = steps if train else 1  # inference rewrites one row of scratch per step
    y = _pool.empty((rows, batch, hid), dt)
    save = _pool.empty((rows, batch, 4 * hid if reset_after else 3 * hid), dt)
    phat = _pool.empty((rows, batch, 3 * hid), dt)
    rstd = _pool.empty((rows, batch) if reset_after else (rows, batch, 2), dt)
    w = w_hh.detach()
    gain, shift = _gain(g_hh, g3, dt), _shift(be_hh, b_hh, g3, dt)
    gemm = gemm_address(dt)
    w_t = transposes_pay(batch, steps, hid)  # W_hh as stored, or its transposed copy
    with kernel_threads(batch, gemm) as nchunk:
        if reset_after:
            K.fwd_after(gin, arr(w.t() if w_t else w), w_t, gain, shift, hs, mask, lens, hn,
                        y, save, phat, rstd, train, gemm, nchunk)
        else:
            wrz, wn = w[:2 * hid], w[2 * hid:]
            K.fwd_before(gin, arr(wrz.t() if w_t else wrz), arr(wn.t() if w_t else wn), w_t,
                         gain, shift, hs, mask, lens, hn, y, save, phat, rstd, train, gemm,
                         nchunk)
    yt = y if train else hs[1:]  # (T, B, H)
    yb = torch.from_numpy(yt.transpose(1, 0, 2))  # (B, T, H), not a torch view in training
    saved = (torch.from_numpy(save), torch.from_numpy(phat), torch.from_numpy(rstd))
    return yb, torch.from_numpy(hs), torch.from_numpy(hn), saved if train else None


class _LNGRUFunction(torch.autograd.Function):
    """(gi (T, B, 3H), W_hh, b_hh, g_hh, β_hh, h0) -> y (B, T, H), h_n (B, H); ``mask``
    (B, H) numpy, the state mask (no gradient)."""

    @staticmethod
    def forward(ctx, gi, w_hh, b_hh, g_hh, be_hh, h0, mask, lens, reset_after):
        y, hs, hn, (save, phat, rstd) = _forward(gi, w_hh, b_hh, g_hh, be_hh, h0, mask, lens,
                                                 reset_after, True)
        ctx.save_for_backward(w_hh, g_hh, hs, save, phat, rstd)
        ctx.mask, ctx.lens, ctx.reset_after = mask, lens, reset_after
        ctx.has = (b_hh is not None, g_hh is not None, be_hh is not None)
        return y, hn

    @staticmethod
    def backward(ctx, dy, dhn):
        first_order_only(ctx, "the fused CPU LayerNorm-GRU kernel")
        w_hh, g_hh, hs, save, phat, rstd = ctx.saved_tensors
        steps, batch, hid = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        dt = save.numpy().dtype
        y_like = torch.empty((batch, steps, hid), dtype=save.dtype)
        dyt = arr(grad_or_zeros(dy, y_like).transpose(0, 1))  # (T, B, H)
        dhn = arr(grad_or_zeros(dhn, hs[0]))  # (B, H)
        dh0 = np.empty((batch, hid), dt)
        dp = _pool.empty((steps, batch, 3 * hid), dt)  # (T, B, 3H): ∂L/∂ recurrent products
        w = w_hh.detach()
        gain = _gain(g_hh if ctx.has[1] else None, 3 * hid, dt)
        gemm = gemm_address(dt)
        hp = (hs[:-1] * torch.from_numpy(ctx.mask)).reshape(-1, hid)  # (T·B, H): h_{t−1} ⊙ m
        ph = phat.reshape(-1, 3 * hid)  # (T·B, 3H): p̂
        dpf = torch.from_numpy(dp).reshape(-1, 3 * hid)  # (T·B, 3H)
        if ctx.reset_after:
            dg = _pool.empty((steps, batch, 4 * hid), dt)  # [a_r, a_z, a_n, a_n ⊙ r]
            with kernel_threads(batch, gemm) as nchunk:
                K.bwd_after(dyt, dhn, arr(w), gain, hs.numpy(), ctx.mask, save.numpy(),
                            phat.numpy(), rstd.numpy(), ctx.lens, dg, dp, dh0, gemm, nchunk)
            dg4 = torch.from_numpy(dg)
            dgi = dg4[..., :3 * hid]  # (T, B, 3H)
            dgh = torch.cat([dg4[..., :2 * hid], dg4[..., 3 * hid:]], 2).reshape(-1, 3 * hid)
            dw_hh = dpf.t() @ hp  # (3H, H)
        else:
            dg = _pool.empty((steps, batch, 3 * hid), dt)  # [a_r, a_z, a_n]
            with kernel_threads(batch, gemm) as nchunk:
                K.bwd_before(dyt, dhn, arr(w[:2 * hid]), arr(w[2 * hid:]), gain, hs.numpy(),
                             ctx.mask, save.numpy(), phat.numpy(), rstd.numpy(), ctx.lens, dg,
                             dp, dh0, gemm, nchunk)
            dgi = torch.from_numpy(dg)  # (T, B, 3H)
            dgh = dgi.reshape(-1, 3 * hid)
            rh = save[..., :hid].reshape(-1, hid) * hp  # (T·B, H): r ⊙ h_{t−1} ⊙ m
            dw_hh = torch.cat([dpf[:, :2 * hid].t() @ hp, dpf[:, 2 * hid:].t() @ rh])
        db = dgh.sum(0) if ctx.has[0] or ctx.has[2] else None  # (3H,): db_hh = dβ_hh
        dg_hh = (dgh * ph).sum(0) if ctx.has[1] else None
        return (dgi, dw_hh, db if ctx.has[0] else None, dg_hh, db if ctx.has[2] else None,
                torch.from_numpy(dh0), None, None, None)


def lngru_cpu(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
              bias_hh: Tensor | None, ln_ih_weight: Tensor | None, ln_ih_bias: Tensor | None,
              ln_hh_weight: Tensor | None, ln_hh_bias: Tensor | None, *, h0: Tensor,
              lengths: Tensor | None, reset_after: bool, reverse: bool,
              state_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The ``grukit.ops.lngru`` signature on the fused CPU kernels. x (B, T, I) -> y, h_n.
    ``state_mask`` (B, H) gets no gradient (dispatch declines one that requires it)."""
    lens = lens_array(lengths, x.shape[0], x.shape[1])
    mask = _mask(state_mask, x.shape[0], weight_hh.shape[1], arr(h0).dtype)  # (B, H)
    recurrent = (weight_hh, bias_hh, ln_hh_weight, ln_hh_bias)

    def gates(xs: Tensor) -> Tensor:  # (T, B, 3H), time-major
        return _input_gates(xs.transpose(0, 1), weight_ih, bias_ih, ln_ih_weight, ln_ih_bias)

    def train(xs: Tensor):
        y, hn = _LNGRUFunction.apply(gates(xs), *recurrent, h0, mask, lens, reset_after)
        return y, (hn,)

    @torch.no_grad()
    def infer(xs: Tensor):
        y, _, hn, _ = _forward(gates(xs), *recurrent, h0, mask, lens, reset_after, False)
        return y, (hn,)

    inputs = (weight_ih, bias_ih, ln_ih_weight, ln_ih_bias, *recurrent, h0)
    y, (hn,) = run_fused(x, lengths, reverse, inputs, train, infer)
    return y, hn
