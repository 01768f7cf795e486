"""Fused CPU minGRU (numba): forward and backward of the sequence, rows split between threads.

Plan per call (B batch, T steps, H hidden):

- the input projection of all steps is one GEMM in torch: gi = x W_ihᵀ + b_ih  (B, T, 2H),
  rows [k; v]; the gates read x only, so nothing else is a matrix product;
- the gates of all steps are torch's vectorised σ, two passes: σ(gi) = [z, σ(v)] and
  a = 1 − z = σ(−k) (not 1 − σ(k), which cancels to 0 where z is near 1). numba has no
  vector exp here (no SVML): an exp per element in the loop made the forward 2.3x slower, and
  the clamped rational σ of the GRU kernels loses the small z of a negative k (σ(−12) 0.9%,
  σ(−14) 7% off in float32: a long memory that fades at the wrong rate);
- the recurrence is elementwise: each thread runs the whole time loop of its chunk of rows
  (no per-step synchronisation), batch-major, so that a row's steps lie together::

      h̃ = g(v) = max(v + ½, σ(v)),   h_t = a ⊙ h_{t−1} + z ⊙ h̃

  (the reference's g, v + ½ for v ≥ 0 and σ(v) otherwise: v + ½ ≥ σ(v) exactly where
  v ≥ 0, as both are ½ at 0 and σ' ≤ ¼; a max vectorises, a branch does not);
- backward walks time in reverse (u = ∂L/∂h_t, starting from ∂L/∂h_n)::

      u ← u + ∂L/∂y_t
      dk = u ⊙ z a ⊙ (h̃ − h_{t−1})      dv = u ⊙ z ⊙ g'(v),  g'(v) = 1 (v ≥ 0), σ(v)(1 − σ(v))
      u ← u ⊙ a                          (∂L/∂h_0 = u after step 0)

  then dW_ih = dgiᵀ x, db_ih = Σ dgi and dx = dgi W_ih are single GEMMs in torch.

A saturated gate is exactly 0 or 1, never NaN. float32 computes in float32 and float64 in
float64, as the reference's ``mode="sequential"`` (its ``"parallel"`` scan runs in float64
and rounds once: over 5000 steps of a slow gate this kernel's float32 result was 1.9e-6
off the float64 one, the loop's 1.2e-6, the scan's 7.5e-8); both ``mode`` values run this
loop, as they agree. Steps at or past a sequence's length leave its state alone and output
0 (h_n is the state at its own last step, h0 for a length of 0); their gradients are 0.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import prange
from torch import Tensor

from .. import _pool
from .._cpu import arr, lens_array, threads
from .._cpu_math import add_into, one
from .._fused import first_order_only, run_fused
from .._jit import chunked_kernel


@chunked_kernel
def _fwd(gi, sg, a, h0, lens, y, hn, nchunk):
    """gi (B,T,2H) = [k, v], sg (B,T,2H) = σ(gi) = [z, σ(v)], a (B,T,H) = σ(−k), h0 (B,H),
    lens (B,) -> y (B,T,H) (0 past each length), hn (B,H) = each row's state at its own
    last step."""
    batch, steps, hid = y.shape
    half = y.dtype.type(0.5)
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        for b in range(b0, b1):
            n = lens[b]
            for t in range(n):
                hp = h0[b] if t == 0 else y[b, t - 1]  # (H,): h_{t−1}
                v, s, at, yt = gi[b, t, hid:], sg[b, t], a[b, t], y[b, t]
                for j in range(hid):
                    cand = max(v[j] + half, s[hid + j])  # g(v) (module docstring)
                    yt[j] = at[j] * hp[j] + s[j] * cand
            for t in range(n, steps):
                y[b, t, :] = 0
            hl = h0[b] if n == 0 else y[b, n - 1]
            for j in range(hid):
                hn[b, j] = hl[j]


@chunked_kernel
def _bwd(gi, sg, a, h0, lens, hs, dy, dhn, dgi, dh0, nchunk):
    """gi, sg, a and h0 as in _fwd, hs (B,T,H) the forward's states, dy (B,T,H) or None (y
    took no part in the loss), dhn (B,H) -> dgi (B,T,2H) = [dk, dv] (0 past each length),
    dh0 (B,H)."""
    batch, steps, hid = hs.shape
    one_ = one(hs)
    half = hs.dtype.type(0.5)
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        u = np.empty(hid, hs.dtype)  # (H,): ∂L/∂h_t
        for b in range(b0, b1):
            n = lens[b]
            for j in range(hid):
                u[j] = dhn[b, j]
            for t in range(n, steps):
                dgi[b, t, :] = 0
            for t in range(n - 1, -1, -1):
                hp = h0[b] if t == 0 else hs[b, t - 1]  # (H,): h_{t−1}
                v, s, at, drow = gi[b, t, hid:], sg[b, t], a[b, t], dgi[b, t]
                if dy is not None:  # ∂L/∂h_t = what came back from t + 1, plus dy_t
                    add_into(u, dy[b, t])
                for j in range(hid):
                    uj = u[j]
                    z, sv = s[j], s[hid + j]
                    cand = max(v[j] + half, sv)  # g(v) (module docstring)
                    dcand = one_ if v[j] >= 0 else sv * (one_ - sv)
                    drow[j] = uj * (z * at[j]) * (cand - hp[j])
                    drow[hid + j] = uj * z * dcand
                    u[j] = uj * at[j]
            for j in range(hid):
                dh0[b, j] = u[j]


def _gates(gi: Tensor) -> tuple[Tensor, Tensor]:
    """gi (B, T, 2H) -> σ(gi) = [z, σ(v)] (B, T, 2H) and a = σ(−k) (B, T, H), contiguous, by
    torch's vectorised σ (numba's exp is a scalar call per element here: no SVML)."""
    batch, steps, g2 = gi.shape
    sg = torch.sigmoid(gi, out=_pool.tensor((batch, steps, g2), gi.dtype))
    a = torch.neg(gi[..., :g2 // 2], out=_pool.tensor((batch, steps, g2 // 2), gi.dtype))
    return sg, a.sigmoid_()


def _forward(gi: Tensor, h0: Tensor, lens: np.ndarray):
    """gi (B, T, 2H) contiguous -> y (B, T, H), h_n (B, H) as numpy arrays, and the gates."""
    batch, steps, g2 = gi.shape
    dt = _pool.numpy_dtype(gi.dtype)
    sg, a = _gates(gi)
    y = _pool.empty((batch, steps, g2 // 2), dt)
    hn = np.empty((batch, g2 // 2), dt)
    _fwd(gi.numpy(), sg.numpy(), a.numpy(), arr(h0), lens, y, hn, threads(batch))
    return y, hn, sg, a


class _MinGRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_ih, b_ih, h0, lens):
        gi = _pool.linear(x, w_ih, b_ih)  # (B, T, 2H)
        y, hn, sg, a = _forward(gi, h0, lens)
        # the states a copy: the caller may change y in place, as torch.nn.GRU's output allows
        ctx.save_for_backward(x, w_ih, h0, gi, sg, a, torch.from_numpy(y.copy()))
        ctx.set_materialize_grads(False)  # an unused y or h_n: None, not a zero tensor
        ctx.lens, ctx.has_b = lens, b_ih is not None
        return torch.from_numpy(y), torch.from_numpy(hn)

    @staticmethod
    def backward(ctx, dy, dhn):
        first_order_only(ctx, "the fused CPU minGRU kernel")
        x, w_ih, h0, gi, sg, a, hs = ctx.saved_tensors
        batch, steps, hid = hs.shape
        dt = hs.numpy().dtype
        dgi = _pool.empty((batch, steps, 2 * hid), dt)
        dh0 = np.empty((batch, hid), dt)
        dhn = np.zeros((batch, hid), dt) if dhn is None else arr(dhn)
        _bwd(gi.numpy(), sg.numpy(), a.numpy(), arr(h0), ctx.lens, hs.numpy(),
             None if dy is None else arr(dy), dhn, dgi, dh0, threads(batch))
        dg = torch.from_numpy(dgi).reshape(-1, 2 * hid)  # (B·T, 2H)
        need = ctx.needs_input_grad
        dx = (dg @ w_ih.detach()).reshape(x.shape) if need[0] else None  # (B, T, I)
        dw = dg.t() @ x.detach().reshape(-1, x.shape[2]) if need[1] else None  # (2H, I)
        db = dg.sum(0) if ctx.has_b and need[2] else None  # (2H,)
        return dx, dw, db, torch.from_numpy(dh0) if need[3] else None, None


def mingru_cpu(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, *, h0: Tensor,
               lengths: Tensor | None, mode: str, reverse: bool) -> tuple[Tensor, Tensor]:
    """The ``grukit.ops.mingru`` signature on the fused CPU kernels. x (B, T, I) -> y, h_n.
    ``mode`` changes nothing: both modes compute this recurrence."""
    lens = lens_array(lengths, x.shape[0], x.shape[1])

    def train(xs: Tensor):
        y, hn = _MinGRUFunction.apply(xs, weight_ih, bias_ih, h0, lens)
        return y, (hn,)

    @torch.no_grad()
    def infer(xs: Tensor):
        y, hn, _, _ = _forward(_pool.linear(xs, weight_ih, bias_ih), h0, lens)  # (B, T, 2H)
        return torch.from_numpy(y), (torch.from_numpy(hn),)

    y, (hn,) = run_fused(x, lengths, reverse, (weight_ih, bias_ih, h0), train, infer)
    return y, hn
