"""Fused CPU GRU-D (numba): forward and backward, both reset-gate placements.

Plan per call (B batch, T steps, D variables, H hidden), as ``grukit.ops.gru.cpu``:

- the input side depends on x, m, δ only, so it is vectorised torch for all steps, recorded
  by autograd (``reference.input_side``): the decays γ_x (B, T, D) and γ_h (B, T, H), the
  carried-forward x_last, x̂, and the gates gi = W_ih x̂ + W_mh m + b_ih (B, T, 3H); its
  gradients (x where observed, x̄, W_ih, W_mh, b_ih and the four decay parameters) are
  autograd's;
- the serial loop (``_kernels``) does ĥ = γ_h ⊙ h_{t−1} and the GRU step on ĥ, one small
  GEMM per step (two for reset_after=False), one chunk of rows per thread;
- backward walks time in reverse producing ∂L/∂gi, ∂L/∂γ_h and the recurrent-product
  gradients; dW_hh and db_hh are then single torch reductions against s ⊙ ĥ;
- recurrent dropout: ``state_mask`` s (B, H) multiplies ĥ where W_hh reads it (ones when
  None), the blend reads ĥ; below, with it, every ĥ that W_hh reads is s ⊙ ĥ, and the
  gradient reaching ĥ through W_hh is multiplied by s. With one mask per gate (B, 3H) =
  [s_r, s_z, s_n], gate k's block W_hk reads s_k ⊙ ĥ: the recurrent product becomes one
  (nb, H) @ (H, H) GEMM per gate (the shared mask keeps its single GEMM), the gradient
  reaching ĥ is Σ_k s_k ⊙ (∂L/∂p_k W_hk) and dW_hk = ∂L/∂p_kᵀ (s_k ⊙ ĥ). The masks get no
  gradient.

Backward of a step, g = ∂L/∂h_t, reset_after=True: a_n = g (1 − z)(1 − n²), a_r = a_n ⊙
gh_n ⊙ r(1 − r), a_z = g (ĥ − n) z(1 − z); ∂L/∂gi = [a_r, a_z, a_n], ∂L/∂gh = [a_r, a_z,
a_n ⊙ r] (gh = W_hh ĥ + b_hh), ∂L/∂ĥ = g ⊙ z + ∂L/∂gh W_hh. reset_after=False: with q =
W_hn (r ⊙ ĥ), ∂L/∂q = a_n, d(r ⊙ ĥ) = a_n W_hn, a_r = d(r ⊙ ĥ) ⊙ ĥ ⊙ r(1 − r), ∂L/∂ĥ = g ⊙ z
+ d(r ⊙ ĥ) ⊙ r + [a_r, a_z] W_h[r,z]. Then ∂L/∂γ_h = ∂L/∂ĥ ⊙ h_{t−1} and ∂L/∂h_{t−1} =
∂L/∂ĥ ⊙ γ_h.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .. import _pool
from .._cpu import arr, kernel_threads, lens_array
from .._fused import first_order_only, grad_or_zeros, run_fused
from .._gemm import gemm_address
from . import _kernels as K
from .reference import input_side


def _forward(gi: Tensor, gam: Tensor, w_hh: Tensor, b_hh: Tensor | None, smask: np.ndarray,
             h0: Tensor, lens: np.ndarray, reset_after: bool, train: bool):
    """smask (B, G, H): G = 1 shared by the gates, 3 one per gate."""
    """gi (T, B, 3H), gam (T, B, H) -> y (B, T, H), hs (T+1, B, H) = [h0, y], h_n (B, H) and,
    when train, the saved gate values (T, B, 4H or 3H)."""
    steps, batch, g3 = gi.shape
    hid = g3 // 3
    gin, gmn = arr(gi), arr(gam)  # (T, B, 3H), (T, B, H)
    dt = gin.dtype
    hs = _pool.empty((steps + 1, batch, hid), dt)  # (T+1, B, H)
    hs[0] = arr(h0)
    hn = np.empty((batch, hid), dt)
    rows = steps if train else 1  # inference rewrites one row of scratch per step
    y = _pool.empty((rows, batch, hid), dt)
    save = _pool.empty((rows, batch, 4 * hid if reset_after else 3 * hid), dt)
    w = w_hh.detach()
    gemm = gemm_address(dt)
    w3t = arr(w.reshape(3, hid, hid).transpose(1, 2)) if smask.shape[1] > 1 \
        else np.empty((3, 0, 0), dt)  # (3, H, H): W_hkᵀ, per-gate masks only
    with kernel_threads(batch, gemm) as nchunk:
        if reset_after:
            bias = np.zeros(g3, dt) if b_hh is None else arr(b_hh)
            K.fwd_after(gin, gmn, arr(w.t()), w3t, bias, smask, hs, lens, hn, y, save, train,
                        gemm, nchunk)
        else:
            K.fwd_before(gin, gmn, arr(w[:2 * hid].t()), arr(w[2 * hid:].t()), w3t, smask, hs,
                         lens, hn, y, save, train, gemm, nchunk)
    yt = y if train else hs[1:]  # (T, B, H)
    yb = torch.from_numpy(yt.transpose(1, 0, 2))  # (B, T, H)
    return yb, torch.from_numpy(hs), torch.from_numpy(hn), torch.from_numpy(save)


def _per_gate(dp: Tensor, hds: list[Tensor], gates: int) -> Tensor:
    """dW of the first ``gates`` blocks of W_hh (gates·H, H) from dp (N, gates·H) and what
    they read, hds: [s ⊙ ĥ] (N, H) shared, or [s_k ⊙ ĥ] one per gate."""
    if len(hds) == 1:
        return dp.t() @ hds[0]
    hid = hds[0].shape[1]
    return torch.cat([dp[:, k * hid:(k + 1) * hid].t() @ hds[k] for k in range(gates)])


class _GRUDFunction(torch.autograd.Function):
    """(gi (T, B, 3H), γ_h (T, B, H), W_hh, b_hh, h0) -> y (B, T, H), h_n (B, H); smask
    (B, G, H) the recurrent-dropout multiplier, shared (G = 1) or per gate (G = 3) (numpy,
    no gradient)."""

    @staticmethod
    def forward(ctx, gi, gam, w_hh, b_hh, h0, lens, reset_after, smask):
        y, hs, hn, save = _forward(gi, gam, w_hh, b_hh, smask, h0, lens, reset_after, True)
        ctx.save_for_backward(gam, w_hh, hs, save)
        ctx.lens, ctx.reset_after, ctx.has_bias = lens, reset_after, b_hh is not None
        ctx.smask = smask
        return y, hn

    @staticmethod
    def backward(ctx, dy, dhn):
        first_order_only(ctx, "the fused CPU GRU-D kernel")
        gam, w_hh, hs, save = ctx.saved_tensors
        steps, batch, hid = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        dt = save.numpy().dtype
        y_like = torch.empty((batch, steps, hid), dtype=save.dtype)
        dyt = arr(grad_or_zeros(dy, y_like).transpose(0, 1))  # (T, B, H)
        dhn = arr(grad_or_zeros(dhn, hs[0]))  # (B, H)
        gmn = arr(gam)  # (T, B, H)
        dh0 = np.empty((batch, hid), dt)
        dgi = _pool.empty((steps, batch, 3 * hid), dt)  # (T, B, 3H)
        dgam = _pool.empty((steps, batch, hid), dt)  # (T, B, H)
        w = w_hh.detach()
        gemm = gemm_address(dt)
        sm = ctx.smask  # (B, G, H)
        w3 = arr(w.reshape(3, hid, hid)) if sm.shape[1] > 1 else np.empty((3, 0, 0), dt)
        # hds[k] (T·B, H): s_k ⊙ ĥ, what W_hh (gate k's block) read
        ghs = torch.from_numpy(gmn) * hs[:-1]  # (T, B, H): ĥ
        hds = [(ghs * torch.from_numpy(sm[:, k])).reshape(-1, hid) for k in range(sm.shape[1])]
        if ctx.reset_after:
            dgh = _pool.empty((steps, batch, 3 * hid), dt)  # (T, B, 3H): ∂L/∂(W_hh ĥ + b_hh)
            with kernel_threads(batch, gemm) as nchunk:
                K.bwd_after(dyt, dhn, arr(w), w3, gmn, sm, hs.numpy(), save.numpy(), ctx.lens,
                            dgi, dgh, dgam, dh0, gemm, nchunk)
            dp = torch.from_numpy(dgh).reshape(-1, 3 * hid)  # (T·B, 3H)
            dw_hh = _per_gate(dp, hds, 3)  # (3H, H)
            db_hh = dp.sum(0) if ctx.has_bias else None
        else:
            dq = _pool.empty((steps, batch, hid), dt)  # (T, B, H): ∂L/∂(W_hn (r ⊙ ĥ))
            with kernel_threads(batch, gemm) as nchunk:
                K.bwd_before(dyt, dhn, arr(w[:2 * hid]), arr(w[2 * hid:]), w3, gmn, sm,
                             hs.numpy(), save.numpy(), ctx.lens, dgi, dq, dgam, dh0, gemm,
                             nchunk)
            da = torch.from_numpy(dgi)[..., :2 * hid].reshape(-1, 2 * hid)  # (T·B, 2H)
            rh = save[..., :hid].reshape(-1, hid) * hds[-1]  # (T·B, H): r ⊙ s_n ⊙ ĥ
            dqf = torch.from_numpy(dq).reshape(-1, hid)  # (T·B, H)
            dw_hh = torch.cat([_per_gate(da, hds, 2), dqf.t() @ rh])  # (3H, H)
            db_hh = None
        return (torch.from_numpy(dgi), torch.from_numpy(dgam), dw_hh, db_hh,
                torch.from_numpy(dh0), None, None, None)


def grud_cpu(x: Tensor, mask: Tensor, delta: Tensor, x_mean: Tensor, x_last0: Tensor | None,
             weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None,
             weight_mh: Tensor, decay_x_weight: Tensor, decay_x_bias: Tensor | None,
             decay_h_weight: Tensor, decay_h_bias: Tensor | None, *, h0: Tensor,
             lengths: Tensor | None, reset_after: bool,
             reverse: bool = False, input_mask: Tensor | None = None,
             state_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The ``grukit.ops.grud`` signature on the fused CPU kernels (forward only: the entry
    refuses ``reverse``). x, mask, delta (B, T, D) -> y (B, T, H), h_n (B, H)."""
    lens = lens_array(lengths, x.shape[0], x.shape[1])
    hid = weight_hh.shape[1]
    smask = (np.ones((x.shape[0], 1, hid), arr(h0).dtype) if state_mask is None
             else np.ascontiguousarray(arr(state_mask.detach()).reshape(x.shape[0], -1, hid)))
    # smask (B, G, H): G = 1 shared by the gates, 3 one per gate
    side = (mask, delta, x_mean, weight_ih, bias_ih, weight_mh, decay_x_weight, decay_x_bias,
            decay_h_weight, decay_h_bias, x_last0, input_mask)

    def gates(xs: Tensor) -> tuple[Tensor, Tensor]:  # (T, B, 3H), (T, B, H), time-major
        gi, gam = input_side(xs, *side)
        return gi.transpose(0, 1), gam.transpose(0, 1)

    def train(xs: Tensor):
        y, hn = _GRUDFunction.apply(*gates(xs), weight_hh, bias_hh, h0, lens, reset_after,
                                    smask)
        return y, (hn,)

    @torch.no_grad()
    def infer(xs: Tensor):
        y, _, hn, _ = _forward(*gates(xs), weight_hh, bias_hh, smask, h0, lens, reset_after,
                               False)
        return y, (hn,)

    # everything a gradient may be wanted for (the input side runs in torch, so a float mask
    # and input_mask get theirs there; the train path must run for them as for the weights)
    inputs = (mask, delta, x_mean, weight_ih, weight_hh, bias_ih, bias_hh, weight_mh,
              decay_x_weight, decay_x_bias, decay_h_weight, decay_h_bias, h0, x_last0,
              input_mask)
    y, (hn,) = run_fused(x, lengths, False, inputs, train, infer)
    return y, hn
