"""Fused GRU on Triton: forward and backward, both reset-gate placements.

Plan (shared with the LSTM, see ``grukit.ops._triton``): gi = x W_ihᵀ + b_ih for all steps
is one torch GEMM; one launch loops over T with each program owning BLOCK_B batch rows;
backward is one launch walking time in reverse, then dW_hh, dW_ih are single GEMMs.

Equations: see ``grukit.ops.gru``. Backward, reset_after=True (a = pre-activations,
g = ∂L/∂h_t):

    a_n = g ⊙ (1 − z) ⊙ (1 − n²)     a_z = g ⊙ (h_{t−1} − n) ⊙ z(1 − z)
    a_r = a_n ⊙ gh_n ⊙ r(1 − r)
    dgi = [a_r, a_z, a_n]   dgh = [a_r, a_z, a_n ⊙ r]   ∂L/∂h_{t−1} = g ⊙ z + dgh W_hh

reset_after=False: d(r ⊙ h) = a_n W_hn, a_r = d(r ⊙ h) ⊙ h_{t−1} ⊙ r(1 − r),
∂L/∂h_{t−1} = g ⊙ z + d(r ⊙ h) ⊙ r + [a_r, a_z] W_hh[:2H].
Steps at or past a sequence's length leave its state alone and pass g through unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from torch import Tensor

from .. import _triton as tt
from .._fused import first_order_only, grad_or_zeros, run_fused
from .._triton_lang import load_rows, rec, resident, sigmoid, store_rows, tanh
from . import triton_split

INTERPRETED = bool(triton.knobs.runtime.interpret)


@triton.jit
def _fwd_kernel(gi, whh, bhh, hbuf, lens, y, save, rhz, B, T, H, SG,
                RESET_AFTER: tl.constexpr, TRAIN: tl.constexpr, BB: tl.constexpr,
                BH: tl.constexpr, NB: tl.constexpr, DOT: tl.constexpr, PREC: tl.constexpr):
    """gi (B,T,3H), whh (3H,H), bhh (3H,) fp32, hbuf (2,B,H) fp32 holding h0 in hbuf[0]
    -> y (B,T,H), h_n in hbuf[T % 2]; save (B,T,SG) fp32 = [r, z, n, gh_n] (SG = 4H) or
    [r, z, n] (SG = 3H, reset_before) when TRAIN; rhz (2,B,H) fp32 scratch [r ⊙ h, z]."""
    rows = tl.program_id(0) * BB + tl.arange(0, BB)
    rmask = rows < B
    lens_b = tl.load(lens + rows, mask=rmask, other=0)
    rows = rows.to(tl.int64)
    cols = tl.arange(0, BH)
    ld_gi = T * 3 * H  # row strides of gi, save, y
    ld_s = T * SG
    ld_y = T * H
    w_r = resident(whh, 0, H, cols, NB, False, DOT)
    w_z = resident(whh, H, H, cols, NB, False, DOT)
    w_n = resident(whh, 2 * H, H, cols, NB, False, DOT)
    for t in range(T):
        src = hbuf + (t % 2) * B * H  # h_{t−1} (B, H)
        dst = hbuf + ((t + 1) % 2) * B * H  # h_t (B, H)
        active = (t < lens_b)[:, None]  # (BB, 1)
        g_t = gi + t * 3 * H
        s_t = save + t * SG
        for nb in range(NB):
            n0 = nb * BH
            zero = tl.full((BB, BH), 0.0, tl.float32)
            a_r = rec(zero, src, rows, rmask, H, whh, 0, n0, H, cols, w_r, BH, NB, False,
                      DOT, PREC)
            a_z = rec(zero, src, rows, rmask, H, whh, H, n0, H, cols, w_z, BH, NB, False,
                      DOT, PREC)
            hp = load_rows(src, rows, rmask, H, n0, cols, H)
            b_r = tl.load(bhh + n0 + cols, mask=n0 + cols < H, other=0.0)[None, :]
            b_z = tl.load(bhh + H + n0 + cols, mask=n0 + cols < H, other=0.0)[None, :]
            r = sigmoid(load_rows(g_t, rows, rmask, ld_gi, n0, cols, H) + a_r + b_r)
            z = sigmoid(load_rows(g_t + H, rows, rmask, ld_gi, n0, cols, H) + a_z + b_z)
            if TRAIN:
                store_rows(s_t, r, rows, rmask, ld_s, n0, cols, H)
                store_rows(s_t + H, z, rows, rmask, ld_s, n0, cols, H)
            if RESET_AFTER:
                b_n = tl.load(bhh + 2 * H + n0 + cols, mask=n0 + cols < H, other=0.0)[None, :]
                gh_n = rec(zero, src, rows, rmask, H, whh, 2 * H, n0, H, cols, w_n, BH, NB,
                           False, DOT, PREC) + b_n
                n = tanh(load_rows(g_t + 2 * H, rows, rmask, ld_gi, n0, cols, H) + r * gh_n)
                h = n + z * (hp - n)  # (1 − z) n + z h
                store_rows(dst, tl.where(active, h, hp), rows, rmask, H, n0, cols, H)
                store_rows(y + t * H, tl.where(active, h, 0.0), rows, rmask, ld_y, n0, cols, H)
                if TRAIN:
                    store_rows(s_t + 2 * H, n, rows, rmask, ld_s, n0, cols, H)
                    store_rows(s_t + 3 * H, gh_n, rows, rmask, ld_s, n0, cols, H)
            else:
                store_rows(rhz, r * hp, rows, rmask, H, n0, cols, H)
                store_rows(rhz + B * H, z, rows, rmask, H, n0, cols, H)
        if not RESET_AFTER:
            tl.debug_barrier()  # every unit's r ⊙ h is in rhz before W_hn reads it
            for nb in range(NB):
                n0 = nb * BH
                zero = tl.full((BB, BH), 0.0, tl.float32)
                q = rec(zero, rhz, rows, rmask, H, whh, 2 * H, n0, H, cols, w_n, BH, NB,
                        False, DOT, PREC)  # W_hn (r ⊙ h)
                n = tanh(load_rows(g_t + 2 * H, rows, rmask, ld_gi, n0, cols, H) + q)
                z = load_rows(rhz + B * H, rows, rmask, H, n0, cols, H)
                hp = load_rows(src, rows, rmask, H, n0, cols, H)
                h = n + z * (hp - n)
                store_rows(dst, tl.where(active, h, hp), rows, rmask, H, n0, cols, H)
                store_rows(y + t * H, tl.where(active, h, 0.0), rows, rmask, ld_y, n0, cols, H)
                if TRAIN:
                    store_rows(s_t + 2 * H, n, rows, rmask, ld_s, n0, cols, H)
        tl.debug_barrier()  # h_t complete before step t + 1 reads it


@triton.jit
def _bwd_kernel(dy, whh, save, hprev, lens, dhbuf, dgi, dghn, B, T, H, SG,
                RESET_AFTER: tl.constexpr, BB: tl.constexpr, BH: tl.constexpr,
                NB: tl.constexpr, DOT: tl.constexpr, PREC: tl.constexpr):
    """dy (B,T,H), whh (3H,H), save (B,T,SG) fp32, hprev (B,T,H) fp32 = h_{t−1},
    dhbuf (2,B,H) fp32 holding ∂L/∂h_n in dhbuf[0] -> dgi (B,T,3H) fp32 = [a_r, a_z, a_n],
    dghn (B,T,H) fp32 = a_n ⊙ r (reset_after), ∂L/∂h_0 in dhbuf[T % 2]."""
    rows = tl.program_id(0) * BB + tl.arange(0, BB)
    rmask = rows < B
    lens_b = tl.load(lens + rows, mask=rmask, other=0)
    rows = rows.to(tl.int64)
    cols = tl.arange(0, BH)
    ld_g = T * 3 * H
    ld_s = T * SG
    ld_h = T * H
    w_r = resident(whh, 0, H, cols, NB, True, DOT)
    w_z = resident(whh, H, H, cols, NB, True, DOT)
    w_n = resident(whh, 2 * H, H, cols, NB, True, DOT)
    for s in range(T):
        t = T - 1 - s
        src = dhbuf + (s % 2) * B * H  # ∂L/∂h_t from later steps (B, H)
        dst = dhbuf + ((s + 1) % 2) * B * H  # ∂L/∂h_{t−1} (B, H)
        active = (t < lens_b)[:, None]
        g_t = dgi + t * 3 * H
        s_t = save + t * SG
        for nb in range(NB):  # gate gradients, elementwise
            n0 = nb * BH
            dh = load_rows(src, rows, rmask, H, n0, cols, H)
            g = dh + load_rows(dy + t * H, rows, rmask, ld_h, n0, cols, H)
            r = load_rows(s_t, rows, rmask, ld_s, n0, cols, H)
            z = load_rows(s_t + H, rows, rmask, ld_s, n0, cols, H)
            n = load_rows(s_t + 2 * H, rows, rmask, ld_s, n0, cols, H)
            hp = load_rows(hprev + t * H, rows, rmask, ld_h, n0, cols, H)
            a_n = tl.where(active, g * (1.0 - z) * (1.0 - n * n), 0.0)
            a_z = tl.where(active, g * (hp - n) * z * (1.0 - z), 0.0)
            store_rows(g_t + H, a_z, rows, rmask, ld_g, n0, cols, H)
            store_rows(g_t + 2 * H, a_n, rows, rmask, ld_g, n0, cols, H)
            store_rows(dst, tl.where(active, g * z, dh), rows, rmask, H, n0, cols, H)
            if RESET_AFTER:
                gh_n = load_rows(s_t + 3 * H, rows, rmask, ld_s, n0, cols, H)
                store_rows(g_t, a_n * gh_n * r * (1.0 - r), rows, rmask, ld_g, n0, cols, H)
                store_rows(dghn + t * H, a_n * r, rows, rmask, ld_h, n0, cols, H)
        tl.debug_barrier()
        if not RESET_AFTER:
            for nb in range(NB):  # d(r ⊙ h) = a_n W_hn, then a_r
                n0 = nb * BH
                zero = tl.full((BB, BH), 0.0, tl.float32)
                drh = rec(zero, g_t + 2 * H, rows, rmask, ld_g, whh, 2 * H, n0, H, cols, w_n,
                          BH, NB, True, DOT, PREC)
                r = load_rows(s_t, rows, rmask, ld_s, n0, cols, H)
                hp = load_rows(hprev + t * H, rows, rmask, ld_h, n0, cols, H)
                store_rows(g_t, tl.where(active, drh * hp * r * (1.0 - r), 0.0), rows, rmask,
                           ld_g, n0, cols, H)
                dh = load_rows(dst, rows, rmask, H, n0, cols, H)
                store_rows(dst, dh + tl.where(active, drh * r, 0.0), rows, rmask, H, n0, cols,
                           H)
            tl.debug_barrier()
        for nb in range(NB):  # ∂L/∂h_{t−1} += dgh W_hh (zero rows past a sequence's end)
            n0 = nb * BH
            acc = load_rows(dst, rows, rmask, H, n0, cols, H)
            acc = rec(acc, g_t, rows, rmask, ld_g, whh, 0, n0, H, cols, w_r, BH, NB, True,
                      DOT, PREC)
            acc = rec(acc, g_t + H, rows, rmask, ld_g, whh, H, n0, H, cols, w_z, BH, NB, True,
                      DOT, PREC)
            if RESET_AFTER:
                acc = rec(acc, dghn + t * H, rows, rmask, ld_h, whh, 2 * H, n0, H, cols, w_n,
                          BH, NB, True, DOT, PREC)
            store_rows(dst, acc, rows, rmask, H, n0, cols, H)
        tl.debug_barrier()


def _forward(plan: tt.Plan, gi: Tensor, w_hh: Tensor, b_hh: Tensor | None, h0: Tensor,
             lens: Tensor, reset_after: bool, train: bool):
    """gi (B, T, 3H) -> y (B, T, H), h_n (B, H), saved gates (B, T, 4H or 3H) fp32 or None."""
    batch, steps, g3 = gi.shape
    hid = g3 // 3
    dev = gi.device
    y = torch.empty(batch, steps, hid, dtype=gi.dtype, device=dev)
    hbuf = torch.empty(2, batch, hid, dtype=torch.float32, device=dev)  # (2, B, H)
    hbuf[0] = h0
    sg = (4 if reset_after else 3) * hid
    save = torch.empty(batch, steps, sg, dtype=torch.float32, device=dev) if train else \
        torch.empty(1, dtype=torch.float32, device=dev)
    rhz = torch.empty(2, batch, hid, dtype=torch.float32, device=dev) if not reset_after \
        else save  # (2, B, H): [r ⊙ h, z]
    bias = torch.zeros(g3, dtype=torch.float32, device=dev) if b_hh is None \
        else b_hh.detach().float().contiguous()  # (3H,)
    w = w_hh.detach().contiguous()  # (3H, H)
    if plan.kind == "split":
        triton_split.forward(plan, gi, w, bias, hbuf, rhz, lens, y, save, reset_after, train)
    else:
        _fwd_kernel[plan.grid](gi, w, bias, hbuf, lens, y, save, rhz, batch, steps, hid, sg,
                               RESET_AFTER=reset_after, TRAIN=train, **plan.launch)
    return y, hbuf[steps % 2].to(gi.dtype), save if train else None


class _GRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, lens, reset_after, plan):
        gi = F.linear(x, w_ih, b_ih).contiguous()  # (B, T, 3H)
        y, hn, save = _forward(plan, gi, w_hh, b_hh, h0, lens, reset_after, True)
        ctx.save_for_backward(x, w_ih, w_hh, h0, y, save, lens)
        ctx.reset_after = reset_after
        ctx.plan = plan  # backward launches what forward chose
        ctx.has_b = (b_ih is not None, b_hh is not None)
        return y, hn

    @staticmethod
    def backward(ctx, dy, dhn):
        first_order_only(ctx, "the Triton GRU kernel")
        x, w_ih, w_hh, h0, y, save, lens = ctx.saved_tensors
        batch, steps, hid = y.shape
        dev = y.device
        dy = grad_or_zeros(dy, y).contiguous()
        dhbuf = torch.empty(2, batch, hid, dtype=torch.float32, device=dev)  # (2, B, H)
        dhbuf[0] = 0 if dhn is None else dhn
        hprev = torch.cat([h0.detach().float().unsqueeze(1), y[:, :-1].float()], 1)  # (B,T,H)
        dgi = torch.empty(batch, steps, 3 * hid, dtype=torch.float32, device=dev)
        dghn = torch.empty(batch, steps, hid, dtype=torch.float32, device=dev) \
            if ctx.reset_after else dgi
        w = w_hh.detach().contiguous()  # (3H, H)
        plan = ctx.plan
        if plan.kind == "split":  # dhbuf[0]: ∂L/∂h_n in, ∂L/∂h_0 out
            triton_split.backward(plan, dy, w, save, hprev, lens, dhbuf[0], dgi, dghn,
                                  ctx.reset_after)
            dh0 = dhbuf[0].to(h0.dtype)
        else:
            _bwd_kernel[plan.grid](dy, w, save, hprev, lens, dhbuf, dgi, dghn, batch, steps,
                                   hid, save.shape[2], RESET_AFTER=ctx.reset_after,
                                   **plan.launch)
            dh0 = dhbuf[steps % 2].to(h0.dtype)
        dg = dgi.reshape(-1, 3 * hid)  # (B·T, 3H)
        hp = hprev.reshape(-1, hid)  # (B·T, H)
        db_hh = None
        if ctx.reset_after:  # dgh = [a_r, a_z, a_n ⊙ r]
            dgn = dghn.reshape(-1, hid)  # (B·T, H)
            dw_hh = torch.cat([dg[:, :2 * hid].t() @ hp, dgn.t() @ hp])  # (3H, H)
            if ctx.has_b[1]:
                db_hh = torch.cat([dg[:, :2 * hid].sum(0), dgn.sum(0)]).to(w_hh.dtype)
        else:
            rh = save[..., :hid].reshape(-1, hid) * hp  # r ⊙ h_{t−1} (B·T, H)
            dw_hh = torch.cat([dg[:, :2 * hid].t() @ hp, dg[:, 2 * hid:].t() @ rh])  # (3H, H)
        dx, dw_ih, db_ih = tt.input_grads(ctx, dg, x, w_ih, ctx.has_b[0])
        return dx, dw_ih, dw_hh.to(w_hh.dtype), db_ih, db_hh, dh0, None, None, None


def gru_triton(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
               bias_hh: Tensor | None, *, h0: Tensor, lengths: Tensor | None,
               reset_after: bool, reverse: bool,
               settings: tt.TritonSettings | None = None) -> tuple[Tensor, Tensor]:
    """The ``grukit.ops.gru`` signature on the fused Triton kernels. x (B, T, I) -> y, h_n.
    ``settings``: the kernel settings (None: those active, see ``triton_settings``)."""
    lens = tt.lens_tensor(lengths, x.shape[0], x.shape[1], x.device)  # (B,) int32
    plan = tt.plan(x, weight_hh.shape[1], 3, settings)  # chosen once, kept for backward

    def train(xs: Tensor):
        y, hn = _GRUFunction.apply(xs, weight_ih, weight_hh, bias_ih, bias_hh, h0, lens,
                                   reset_after, plan)
        return y, (hn,)

    @torch.no_grad()
    def infer(xs: Tensor):
        gi = F.linear(xs, weight_ih, bias_ih).contiguous()  # (B, T, 3H)
        y, hn, _ = _forward(plan, gi, weight_hh, bias_hh, h0, lens, reset_after, False)
        return y, (hn,)

    y, (hn,) = run_fused(x, lengths, reverse, (weight_ih, weight_hh, bias_ih, bias_hh, h0),
                         train, infer)
    return y, hn
