"""Fused LSTM on Triton: forward and backward, same plan as ``grukit.ops.gru.triton``.

Forward per step: [i; f; g; o] = gi_t + h W_hhᵀ + b_hh, then c' and h' fused per unit block.
Backward (a = pre-activations, g = ∂L/∂h_t, dc = ∂L/∂c_t carried)::

    dc += g ⊙ o ⊙ (1 − tanh²c_t)
    a_i = dc ⊙ g_t ⊙ i(1 − i)    a_f = dc ⊙ c_{t−1} ⊙ f(1 − f)
    a_g = dc ⊙ i ⊙ (1 − g_t²)    a_o = g ⊙ tanh c_t ⊙ o(1 − o)
    ∂L/∂c_{t−1} = dc ⊙ f         ∂L/∂h_{t−1} = [a_i, a_f, a_g, a_o] W_hh

dW_hh = Σ_t aᵀ h_{t−1} and dW_ih = Σ_t aᵀ x_t are single GEMMs after the loop. The
projection (``proj_size``) is not fused: such calls go elsewhere.
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
def _fwd_kernel(gi, whh, bhh, hbuf, cbuf, lens, y, save, B, T, H, TRAIN: tl.constexpr,
                BB: tl.constexpr, BH: tl.constexpr, NB: tl.constexpr, DOT: tl.constexpr,
                PREC: tl.constexpr):
    """gi (B,T,4H), whh (4H,H), bhh (4H,) fp32, hbuf (2,B,H) fp32 holding h0 in hbuf[0],
    cbuf (B,H) fp32 = c0, updated in place -> y (B,T,H), h_n in hbuf[T % 2], c_n in cbuf;
    save (B,T,5H) fp32 = [i, f, g, o, c_t] when TRAIN."""
    rows = tl.program_id(0) * BB + tl.arange(0, BB)
    rmask = rows < B
    lens_b = tl.load(lens + rows, mask=rmask, other=0)
    rows = rows.to(tl.int64)
    cols = tl.arange(0, BH)
    ld_gi = T * 4 * H  # row strides of gi, save, y
    ld_s = T * 5 * H
    ld_y = T * H
    w_i = resident(whh, 0, H, cols, NB, False, DOT)
    w_f = resident(whh, H, H, cols, NB, False, DOT)
    w_g = resident(whh, 2 * H, H, cols, NB, False, DOT)
    w_o = resident(whh, 3 * H, H, cols, NB, False, DOT)
    for t in range(T):
        src = hbuf + (t % 2) * B * H  # h_{t−1} (B, H)
        dst = hbuf + ((t + 1) % 2) * B * H  # h_t (B, H)
        active = (t < lens_b)[:, None]  # (BB, 1)
        g_t = gi + t * 4 * H
        s_t = save + t * 5 * H
        for nb in range(NB):
            n0 = nb * BH
            u = n0 + cols
            # each product starts from zero and the input part is added after: accumulating
            # into the loaded gi tile made Triton 3.9's LLVM abort (an SLP-vectoriser
            # assertion) on exact-fp32 dots with resident weights (tests/ops/triton_gpu_compile.py)
            zero = tl.full((BB, BH), 0.0, tl.float32)
            a_i = rec(zero, src, rows, rmask, H, whh, 0, n0, H, cols, w_i, BH, NB, False, DOT,
                      PREC) + load_rows(g_t, rows, rmask, ld_gi, n0, cols, H) + \
                tl.load(bhh + u, mask=u < H, other=0.0)[None, :]
            a_f = rec(zero, src, rows, rmask, H, whh, H, n0, H, cols, w_f, BH, NB, False, DOT,
                      PREC) + load_rows(g_t + H, rows, rmask, ld_gi, n0, cols, H) + \
                tl.load(bhh + H + u, mask=u < H, other=0.0)[None, :]
            a_g = rec(zero, src, rows, rmask, H, whh, 2 * H, n0, H, cols, w_g, BH, NB, False,
                      DOT, PREC) + load_rows(g_t + 2 * H, rows, rmask, ld_gi, n0, cols, H) + \
                tl.load(bhh + 2 * H + u, mask=u < H, other=0.0)[None, :]
            a_o = rec(zero, src, rows, rmask, H, whh, 3 * H, n0, H, cols, w_o, BH, NB, False,
                      DOT, PREC) + load_rows(g_t + 3 * H, rows, rmask, ld_gi, n0, cols, H) + \
                tl.load(bhh + 3 * H + u, mask=u < H, other=0.0)[None, :]
            i = sigmoid(a_i)
            f = sigmoid(a_f)
            g = tanh(a_g)
            o = sigmoid(a_o)
            cp = load_rows(cbuf, rows, rmask, H, n0, cols, H)
            hp = load_rows(src, rows, rmask, H, n0, cols, H)
            c = f * cp + i * g
            h = o * tanh(c)
            store_rows(cbuf, tl.where(active, c, cp), rows, rmask, H, n0, cols, H)
            store_rows(dst, tl.where(active, h, hp), rows, rmask, H, n0, cols, H)
            store_rows(y + t * H, tl.where(active, h, 0.0), rows, rmask, ld_y, n0, cols, H)
            if TRAIN:
                store_rows(s_t, i, rows, rmask, ld_s, n0, cols, H)
                store_rows(s_t + H, f, rows, rmask, ld_s, n0, cols, H)
                store_rows(s_t + 2 * H, g, rows, rmask, ld_s, n0, cols, H)
                store_rows(s_t + 3 * H, o, rows, rmask, ld_s, n0, cols, H)
                store_rows(s_t + 4 * H, c, rows, rmask, ld_s, n0, cols, H)
        tl.debug_barrier()  # h_t complete before step t + 1 reads it


@triton.jit
def _bwd_kernel(dy, whh, save, cprev, lens, dhbuf, dcbuf, dgi, B, T, H, BB: tl.constexpr,
                BH: tl.constexpr, NB: tl.constexpr, DOT: tl.constexpr, PREC: tl.constexpr):
    """dy (B,T,H), whh (4H,H), save (B,T,5H) fp32, cprev (B,T,H) fp32 = c_{t−1},
    dhbuf (2,B,H) fp32 holding ∂L/∂h_n in dhbuf[0], dcbuf (B,H) fp32 = ∂L/∂c_n (in place)
    -> dgi (B,T,4H) fp32 = [a_i, a_f, a_g, a_o], ∂L/∂h_0 in dhbuf[T % 2], ∂L/∂c_0 in dcbuf."""
    rows = tl.program_id(0) * BB + tl.arange(0, BB)
    rmask = rows < B
    lens_b = tl.load(lens + rows, mask=rmask, other=0)
    rows = rows.to(tl.int64)
    cols = tl.arange(0, BH)
    ld_g = T * 4 * H
    ld_s = T * 5 * H
    ld_h = T * H
    w_i = resident(whh, 0, H, cols, NB, True, DOT)
    w_f = resident(whh, H, H, cols, NB, True, DOT)
    w_g = resident(whh, 2 * H, H, cols, NB, True, DOT)
    w_o = resident(whh, 3 * H, H, cols, NB, True, DOT)
    for s in range(T):
        t = T - 1 - s
        src = dhbuf + (s % 2) * B * H  # ∂L/∂h_t from later steps (B, H)
        dst = dhbuf + ((s + 1) % 2) * B * H  # ∂L/∂h_{t−1} (B, H)
        active = (t < lens_b)[:, None]
        g_t = dgi + t * 4 * H
        s_t = save + t * 5 * H
        for nb in range(NB):  # gate gradients, elementwise
            n0 = nb * BH
            dh = load_rows(src, rows, rmask, H, n0, cols, H)
            g = dh + load_rows(dy + t * H, rows, rmask, ld_h, n0, cols, H)
            i = load_rows(s_t, rows, rmask, ld_s, n0, cols, H)
            f = load_rows(s_t + H, rows, rmask, ld_s, n0, cols, H)
            gg = load_rows(s_t + 2 * H, rows, rmask, ld_s, n0, cols, H)
            o = load_rows(s_t + 3 * H, rows, rmask, ld_s, n0, cols, H)
            tc = tanh(load_rows(s_t + 4 * H, rows, rmask, ld_s, n0, cols, H))
            cp = load_rows(cprev + t * H, rows, rmask, ld_h, n0, cols, H)
            dc_in = load_rows(dcbuf, rows, rmask, H, n0, cols, H)
            dc = dc_in + g * o * (1.0 - tc * tc)
            store_rows(g_t, tl.where(active, dc * gg * i * (1.0 - i), 0.0), rows, rmask, ld_g,
                       n0, cols, H)
            store_rows(g_t + H, tl.where(active, dc * cp * f * (1.0 - f), 0.0), rows, rmask,
                       ld_g, n0, cols, H)
            store_rows(g_t + 2 * H, tl.where(active, dc * i * (1.0 - gg * gg), 0.0), rows,
                       rmask, ld_g, n0, cols, H)
            store_rows(g_t + 3 * H, tl.where(active, g * tc * o * (1.0 - o), 0.0), rows, rmask,
                       ld_g, n0, cols, H)
            store_rows(dcbuf, tl.where(active, dc * f, dc_in), rows, rmask, H, n0, cols, H)
            store_rows(dst, tl.where(active, 0.0, dh), rows, rmask, H, n0, cols, H)
        tl.debug_barrier()
        for nb in range(NB):  # ∂L/∂h_{t−1} += [a_i, a_f, a_g, a_o] W_hh
            n0 = nb * BH
            acc = load_rows(dst, rows, rmask, H, n0, cols, H)
            acc = rec(acc, g_t, rows, rmask, ld_g, whh, 0, n0, H, cols, w_i, BH, NB, True,
                      DOT, PREC)
            acc = rec(acc, g_t + H, rows, rmask, ld_g, whh, H, n0, H, cols, w_f, BH, NB, True,
                      DOT, PREC)
            acc = rec(acc, g_t + 2 * H, rows, rmask, ld_g, whh, 2 * H, n0, H, cols, w_g, BH,
                      NB, True, DOT, PREC)
            acc = rec(acc, g_t + 3 * H, rows, rmask, ld_g, whh, 3 * H, n0, H, cols, w_o, BH,
                      NB, True, DOT, PREC)
            store_rows(dst, acc, rows, rmask, H, n0, cols, H)
        tl.debug_barrier()


def _forward(plan: tt.Plan, gi: Tensor, w_hh: Tensor, b_hh: Tensor | None, h0: Tensor,
             c0: Tensor, lens: Tensor, train: bool):
    """gi (B, T, 4H) -> y (B, T, H), h_n, c_n (B, H), saved [i, f, g, o, c] (B, T, 5H) or None."""
    batch, steps, g4 = gi.shape
    hid = g4 // 4
    dev = gi.device
    y = torch.empty(batch, steps, hid, dtype=gi.dtype, device=dev)
    hbuf = torch.empty(2, batch, hid, dtype=torch.float32, device=dev)  # (2, B, H)
    hbuf[0] = h0
    cbuf = c0.detach().float().clone().contiguous()  # (B, H)
    save = torch.empty(batch, steps, 5 * hid, dtype=torch.float32, device=dev) if train else \
        torch.empty(1, dtype=torch.float32, device=dev)
    bias = torch.zeros(g4, dtype=torch.float32, device=dev) if b_hh is None \
        else b_hh.detach().float().contiguous()  # (4H,)
    w = w_hh.detach().contiguous()  # (4H, H)
    if plan.kind == "split":
        triton_split.forward(plan, gi, w, bias, hbuf, cbuf, lens, y, save, train)
    else:
        _fwd_kernel[plan.grid](gi, w, bias, hbuf, cbuf, lens, y, save, batch, steps, hid,
                               TRAIN=train, **plan.launch)
    hn, cn = hbuf[steps % 2].to(gi.dtype), cbuf.to(gi.dtype)
    return y, hn, cn, save if train else None


class _LSTMFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lens, plan):
        gi = F.linear(x, w_ih, b_ih).contiguous()  # (B, T, 4H)
        y, hn, cn, save = _forward(plan, gi, w_hh, b_hh, h0, c0, lens, True)
        ctx.plan = plan  # backward launches what forward chose
        ctx.save_for_backward(x, w_ih, w_hh, h0, c0, y, save, lens)
        ctx.has_b = (b_ih is not None, b_hh is not None)
        return y, hn, cn

    @staticmethod
    def backward(ctx, dy, dhn, dcn):
        first_order_only(ctx, "the Triton LSTM kernel")
        x, w_ih, w_hh, h0, c0, y, save, lens = ctx.saved_tensors
        batch, steps, hid = y.shape
        dev = y.device
        dy = grad_or_zeros(dy, y).contiguous()
        dhbuf = torch.empty(2, batch, hid, dtype=torch.float32, device=dev)  # (2, B, H)
        dhbuf[0] = 0 if dhn is None else dhn
        dcbuf = torch.zeros(batch, hid, dtype=torch.float32, device=dev)  # (B, H)
        if dcn is not None:
            dcbuf.copy_(dcn)
        cs = save[..., 4 * hid:]  # (B, T, H): c_t
        cprev = torch.cat([c0.detach().float().unsqueeze(1), cs[:, :-1]], 1).contiguous()
        dgi = torch.empty(batch, steps, 4 * hid, dtype=torch.float32, device=dev)
        w = w_hh.detach().contiguous()  # (4H, H)
        plan = ctx.plan
        if plan.kind == "split":  # dhbuf[0]: ∂L/∂h_n in, ∂L/∂h_0 out
            triton_split.backward(plan, dy, w, save, cprev, lens, dhbuf[0], dcbuf, dgi)
            dh0 = dhbuf[0].to(h0.dtype)
        else:
            _bwd_kernel[plan.grid](dy, w, save, cprev, lens, dhbuf, dcbuf, dgi, batch, steps,
                                   hid, **plan.launch)
            dh0 = dhbuf[steps % 2].to(h0.dtype)
        dg = dgi.reshape(-1, 4 * hid)  # (B·T, 4H)
        hprev = torch.cat([h0.detach().float().unsqueeze(1), y[:, :-1].float()], 1)  # (B,T,H)
        dw_hh = (dg.t() @ hprev.reshape(-1, hid)).to(w_hh.dtype)  # (4H, H)
        db_hh = dg.sum(0).to(w_hh.dtype) if ctx.has_b[1] else None
        dx, dw_ih, db_ih = tt.input_grads(ctx, dg, x, w_ih, ctx.has_b[0])
        dc0 = dcbuf.to(c0.dtype)
        return dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0, None, None


def lstm_triton(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
                bias_hh: Tensor | None, *, h0: tuple[Tensor, Tensor], lengths: Tensor | None,
                weight_hr: Tensor | None, reverse: bool,
                settings: tt.TritonSettings | None = None):
    """The ``grukit.ops.lstm`` signature on the fused Triton kernels (no projection).
    x (B, T, I) -> y (B, T, H), (h_n, c_n). ``settings``: the kernel settings (None: those
    active, see ``triton_settings``)."""
    lens = tt.lens_tensor(lengths, x.shape[0], x.shape[1], x.device)  # (B,) int32
    plan = tt.plan(x, weight_hh.shape[1], 4, settings)  # chosen once, kept for backward
    h0_, c0_ = h0

    def train(xs: Tensor):
        y, hn, cn = _LSTMFunction.apply(xs, weight_ih, weight_hh, bias_ih, bias_hh, h0_, c0_,
                                        lens, plan)
        return y, (hn, cn)

    @torch.no_grad()
    def infer(xs: Tensor):
        gi = F.linear(xs, weight_ih, bias_ih).contiguous()  # (B, T, 4H)
        y, hn, cn, _ = _forward(plan, gi, weight_hh, bias_hh, h0_, c0_, lens, False)
        return y, (hn, cn)

    y, (hn, cn) = run_fused(x, lengths, reverse,
                            (weight_ih, weight_hh, bias_ih, bias_hh, h0_, c0_), train, infer)
    return y, (hn, cn)
