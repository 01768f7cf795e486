"""minGRU on Triton: a chunked linear scan, forward and backward (Feng et al. 2024).

The gates depend on x only, so with a = 1 − z = σ(−k) and b = z ⊙ g(v) the recurrence
h_t = a_t h_{t−1} + b_t is linear. gi = W_ih x + b_ih (B, T, 2H) is one torch GEMM; then each
program owns one sequence and BH hidden units (no program waits for another) and walks time
in chunks of CT steps: within a chunk ``tl.associative_scan`` composes the affine maps
(a, b) in registers, (a₁, b₁) ∘ (a₂, b₂) = (a₁a₂, a₂b₁ + b₂), and the chunk's last state
carries into the next. Steps past a sequence's length are the identity (a = 1, b = 0), so
h_n is the state at its own last step, and their outputs are zero.

Backward is the same scan run from the last chunk to the first on time-reversed tiles:

    ∂L/∂h_t = dy_t + a_{t+1} ∂L/∂h_{t+1}     (a_T := 1 with ∂L/∂h_T := ∂L/∂h_n)
    dk = z(1 − z) ⊙ (∂h ⊙ g(v) − ∂h ⊙ h_{t−1})     dv = ∂h ⊙ z ⊙ g'(v)
    ∂L/∂h_0 = a_0 ∂L/∂h_0'

then dW_ih and dx are single GEMMs. Both ``mode`` values run this kernel (they agree).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from torch import Tensor

from .. import _triton as tt
from .._fused import first_order_only, grad_or_zeros, run_fused
from .._triton_lang import sigmoid

INTERPRETED = bool(triton.knobs.runtime.interpret)


@triton.jit
def _affine(a1, b1, a2, b2):
    """(a₁, b₁) then (a₂, b₂): h ↦ a₂(a₁h + b₁) + b₂."""
    return a1 * a2, a2 * b1 + b2


@triton.jit
def _add(p, q):
    return p + q


@triton.jit
def _fwd_kernel(gi, h0, lens, y, hn, T, H, CT: tl.constexpr, BH: tl.constexpr):
    """gi (B,T,2H) = [k, v], h0 (B,H) fp32, lens (B,) -> y (B,T,H), hn (B,H) fp32."""
    row = tl.program_id(0).to(tl.int64)
    j = tl.program_id(1) * BH + tl.arange(0, BH)
    jm = j < H
    n_b = tl.load(lens + row)
    h = tl.load(h0 + row * H + j, mask=jm, other=0.0)  # (BH,)
    g_b = gi + row * T * 2 * H
    y_b = y + row * T * H
    for c in range((T + CT - 1) // CT):
        t = c * CT + tl.arange(0, CT)  # (CT,)
        m = (t < T)[:, None] & jm[None, :]
        on = (t < n_b)[:, None] & m  # (CT, BH)
        off = t[:, None] * 2 * H + j[None, :]
        k = tl.load(g_b + off, mask=m, other=0.0).to(tl.float32)
        v = tl.load(g_b + off + H, mask=m, other=0.0).to(tl.float32)
        a = tl.where(on, sigmoid(-k), 1.0)
        b = tl.where(on, sigmoid(k) * tl.where(v >= 0, v + 0.5, sigmoid(v)), 0.0)
        pa, pb = tl.associative_scan((a, b), 0, _affine)  # (CT, BH) each
        hs = pa * h[None, :] + pb
        tl.store(y_b + t[:, None] * H + j[None, :], tl.where(on, hs, 0.0).to(
            y.dtype.element_ty), mask=m)
        last = tl.minimum(c * CT + CT, T) - 1
        h = tl.reduce(tl.where((t == last)[:, None], hs, 0.0), 0, _add)  # state at the end
    tl.store(hn + row * H + j, h, mask=jm)


@triton.jit
def _bwd_kernel(gi, h0, lens, y, dy, dhn, dgi, dh0, T, H, CT: tl.constexpr, BH: tl.constexpr):
    """gi (B,T,2H), h0 (B,H) fp32, y (B,T,H), dy (B,T,H), dhn (B,H) fp32
    -> dgi (B,T,2H) fp32 = [dk, dv], dh0 (B,H) fp32."""
    row = tl.program_id(0).to(tl.int64)
    j = tl.program_id(1) * BH + tl.arange(0, BH)
    jm = j < H
    n_b = tl.load(lens + row)
    u = tl.load(dhn + row * H + j, mask=jm, other=0.0)  # ∂L/∂h after the chunk (BH,)
    h_init = tl.load(h0 + row * H + j, mask=jm, other=0.0)
    g_b = gi + row * T * 2 * H
    d_b = dgi + row * T * 2 * H
    y_b = y + row * T * H
    dy_b = dy + row * T * H
    n_c = (T + CT - 1) // CT
    for cc in range(n_c):
        t0 = (n_c - 1 - cc) * CT
        t = t0 + CT - 1 - tl.arange(0, CT)  # time-reversed tile (CT,)
        m = (t < T)[:, None] & jm[None, :]
        on = (t < n_b)[:, None] & m
        off = t[:, None] * 2 * H + j[None, :]
        k = tl.load(g_b + off, mask=m, other=0.0).to(tl.float32)
        v = tl.load(g_b + off + H, mask=m, other=0.0).to(tl.float32)
        m1 = (t + 1 < T)[:, None] & jm[None, :]
        on1 = (t + 1 < n_b)[:, None] & m1
        k1 = tl.load(g_b + off + 2 * H, mask=m1, other=0.0).to(tl.float32)
        a_next = tl.where(on1, sigmoid(-k1), 1.0)  # a_{t+1}; 1 past the end
        d_y = tl.where(on, tl.load(dy_b + t[:, None] * H + j[None, :], mask=m,
                                   other=0.0).to(tl.float32), 0.0)
        pa, pb = tl.associative_scan((a_next, d_y), 0, _affine)
        dh = pa * u[None, :] + pb  # ∂L/∂h_t (CT, BH)
        mp = ((t >= 1) & (t < T))[:, None] & jm[None, :]
        hp = tl.load(y_b + (t[:, None] - 1) * H + j[None, :], mask=mp, other=0.0)
        hp = tl.where((t == 0)[:, None], h_init[None, :], hp.to(tl.float32))  # h_{t−1}
        z = sigmoid(k)
        sv = sigmoid(v)
        gv = tl.where(v >= 0, v + 0.5, sv)
        dgv = tl.where(v >= 0, 1.0, sv * (1.0 - sv))
        dk = tl.where(on, z * (1.0 - z) * dh * (gv - hp), 0.0)
        dv = tl.where(on, dh * z * dgv, 0.0)
        tl.store(d_b + off, dk, mask=m)
        tl.store(d_b + off + H, dv, mask=m)
        u = tl.reduce(tl.where((t == t0)[:, None], dh, 0.0), 0, _add)  # ∂L/∂h_{t0}
    k0 = tl.load(g_b + j, mask=jm, other=0.0).to(tl.float32)
    a0 = tl.where(n_b > 0, sigmoid(-k0), 1.0)
    tl.store(dh0 + row * H + j, a0 * u, mask=jm)


def _forward(plan: tt.Plan, gi: Tensor, h0: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
    """gi (B, T, 2H) -> y (B, T, H), h_n (B, H)."""
    batch, steps, g2 = gi.shape
    hid = g2 // 2
    y = torch.empty(batch, steps, hid, dtype=gi.dtype, device=gi.device)
    hn = torch.empty(batch, hid, dtype=torch.float32, device=gi.device)
    _fwd_kernel[plan.grid](gi, h0.detach().float().contiguous(), lens, y, hn, steps, hid,
                           **plan.launch)
    return y, hn.to(gi.dtype)


class _MinGRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_ih, b_ih, h0, lens, plan):
        gi = F.linear(x, w_ih, b_ih).contiguous()  # (B, T, 2H)
        y, hn = _forward(plan, gi, h0, lens)
        ctx.plan = plan  # backward launches what forward chose
        ctx.save_for_backward(x, w_ih, h0, gi, y, lens)
        ctx.has_b = b_ih is not None
        return y, hn

    @staticmethod
    def backward(ctx, dy, dhn):
        first_order_only(ctx, "the Triton minGRU kernel")
        x, w_ih, h0, gi, y, lens = ctx.saved_tensors
        batch, steps, hid = y.shape
        dy = grad_or_zeros(dy, y).contiguous()
        dhn = torch.zeros(batch, hid, device=y.device) if dhn is None else dhn.float()
        dgi = torch.empty(batch, steps, 2 * hid, dtype=torch.float32, device=y.device)
        dh0 = torch.empty(batch, hid, dtype=torch.float32, device=y.device)
        _bwd_kernel[ctx.plan.grid](gi, h0.detach().float().contiguous(), lens, y, dy,
                                   dhn.contiguous(), dgi, dh0, steps, hid, **ctx.plan.launch)
        dx, dw_ih, db_ih = tt.input_grads(ctx, dgi.reshape(-1, 2 * hid), x, w_ih, ctx.has_b)
        return dx, dw_ih, db_ih, dh0.to(h0.dtype), None, None


def mingru_triton(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, *, h0: Tensor,
                  lengths: Tensor | None, mode: str, reverse: bool,
                  settings: tt.TritonSettings | None = None) -> tuple[Tensor, Tensor]:
    """The ``grukit.ops.mingru`` signature on the Triton scan. x (B, T, I) -> y, h_n.
    ``settings``: the kernel settings (None: those active, see ``triton_settings``)."""
    lens = tt.lens_tensor(lengths, x.shape[0], x.shape[1], x.device)  # (B,) int32
    plan = tt.scan_plan(x, weight_ih.shape[0] // 2, settings)  # chosen once, kept for backward

    def train(xs: Tensor):
        y, hn = _MinGRUFunction.apply(xs, weight_ih, bias_ih, h0, lens, plan)
        return y, (hn,)

    @torch.no_grad()
    def infer(xs: Tensor):
        y, hn = _forward(plan, F.linear(xs, weight_ih, bias_ih).contiguous(), h0, lens)
        return y, (hn,)

    y, (hn,) = run_fused(x, lengths, reverse, (weight_ih, bias_ih, h0), train, infer)
    return y, hn
