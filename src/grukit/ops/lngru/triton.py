"""Fused LayerNorm-GRU on Triton: forward and backward, both reset-gate placements.

Plan (that of ``grukit.ops.gru.triton``, H in one block): the input side of all steps is
vectorised torch, recorded by autograd, gi = LN(x W_ihᵀ; g_ih, β_ih) + b_ih (B, T, 3H)
(``reference.input_gates``); ONE launch loops over the T steps, each program owning
``block_b`` batch rows and all H ≤ ``max_block_h`` units of them, so its state, the three
(H, H) gate blocks of W_hh and the row statistics of the normalisation stay in registers
for the whole sequence; backward is one launch walking time in reverse, then dW_hh and the
gains and shifts of the recurrent normalisation are single torch reductions. Larger H is
declined (``why_not_one_block``): the normalisation needs the whole row of a step at once.

Equations: see ``grukit.ops.lngru``. With p the recurrent products before normalisation,
p̂ = (p − mean p) · s, s = 1 / sqrt(var p + ε), gh = p̂ ⊙ g_hh + β_hh + b_hh, and g = ∂L/∂h_t:

    a_n = g (1 − z)(1 − n²)      a_z = g (h_{t−1} − n) z(1 − z)
    LN backward: ∂L/∂p = s · (d − mean(d) − p̂ ⊙ mean(d ⊙ p̂)),  d = ∂L/∂gh ⊙ g_hh

reset_after=True: a_r = a_n gh_n r(1 − r); ∂L/∂gi = [a_r, a_z, a_n], ∂L/∂gh = [a_r, a_z,
a_n ⊙ r] (one normalisation over the 3H rows); ∂L/∂h_{t−1} = g ⊙ z + ∂L/∂p W_hh.
reset_after=False: the n rows q = W_hn (r ⊙ h) normalised on their own: d(r ⊙ h) =
∂L/∂q W_hn, a_r = d(r ⊙ h) h_{t−1} r(1 − r), ∂L/∂gh = ∂L/∂gi = [a_r, a_z, a_n], the r, z rows
normalised over 2H; ∂L/∂h_{t−1} = g ⊙ z + d(r ⊙ h) ⊙ r + ∂L/∂p[r,z] W_h[r,z].
Steps at or past a sequence's length leave its state alone and pass g through unchanged.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor

from .. import _triton as tt
from .._fused import first_order_only, grad_or_zeros, run_fused
from .._triton_lang import _SUM, load_rows, sigmoid, store_rows, tanh, w_tile
from .reference import EPS, input_gates

INTERPRETED = bool(triton.knobs.runtime.interpret)
_EPS = tl.constexpr(EPS)  # a kernel reads module globals only as constexpr
_RSQRT_EPS = tl.constexpr(1.0 / math.sqrt(EPS))  # 1/σ of a row of equal values
# tl.max's and tl.min's combine functions, for the builtin tl.reduce (see _triton_lang._SUM)
_MAX = tl.standard._elementwise_max
_MIN = tl.standard._elementwise_min


@triton.jit
def _row_sum(v):
    """(BB, BH) -> (BB, 1): the sum of each row."""
    return tl.reduce(v, 1, _SUM)[:, None]


@triton.jit
def _norm(a, b, c, cm, G, PARTS: tl.constexpr):
    """Normalise the rows of the G values held in the first PARTS of a, b, c (BB, BH)
    (columns past H, cm False, left out; zero tiles for the other parts): (â, b̂, ĉ,
    s (BB,)) with v̂ = (v − mean) · s, s = 1 / sqrt(var + ε).

    Squares of float32 values past 1.8e19 overflow (var = inf, s = 0: the gates would be β
    alone), so the moments are those of u = (v − max v) / k, k the power of two at or
    below max |v| within [1, 2^126] (|u| ≤ 8; an exact scaling: rows under 2 are not
    scaled): var v = k² var u, and with ε_k = ε / k²

        v̂ = (u − mean u) / sqrt(var u + ε_k),    s = 1 / (k sqrt(var u + ε_k)).

    Shifting by the row's largest value makes a row of equal values exactly 0 (v̂ = 0,
    s = 1 / sqrt(ε), as in float64), where a float32 mean of them may miss them by an ulp
    (v̂ up to ±1 from |v| ≈ 3e4). All in registers: max, min, sum and sum of squares, four
    row reductions."""
    lo_a = tl.where(cm, a, float("inf"))  # (BB, BH): the row's values, +-inf past H
    hi_a = tl.where(cm, a, -float("inf"))
    if PARTS > 1:
        lo_a = tl.minimum(lo_a, tl.where(cm, b, float("inf")))
        hi_a = tl.maximum(hi_a, tl.where(cm, b, -float("inf")))
    if PARTS > 2:
        lo_a = tl.minimum(lo_a, tl.where(cm, c, float("inf")))
        hi_a = tl.maximum(hi_a, tl.where(cm, c, -float("inf")))
    hi = tl.reduce(hi_a, 1, _MAX)[:, None]  # (BB, 1): max v
    m = tl.maximum(hi, -tl.reduce(lo_a, 1, _MIN)[:, None])  # (BB, 1): max |v|
    k = (m.to(tl.int32, bitcast=True) & 0x7F800000).to(tl.float32, bitcast=True)  # 2^⌊log2 m⌋
    ik = 1.0 / tl.minimum(tl.maximum(k, 1.0), 2.0 ** 126)  # (BB, 1): 1 / k, exact
    top = hi * ik
    a = tl.where(cm, a * ik - top, 0.0)
    t = a
    if PARTS > 1:
        b = tl.where(cm, b * ik - top, 0.0)
        t += b
    if PARTS > 2:
        c = tl.where(cm, c * ik - top, 0.0)
        t += c
    mean = _row_sum(t) / G
    a = tl.where(cm, a - mean, 0.0)
    t = a * a
    if PARTS > 1:
        b = tl.where(cm, b - mean, 0.0)
        t += b * b
    if PARTS > 2:
        c = tl.where(cm, c - mean, 0.0)
        t += c * c
    var = _row_sum(t) / G  # (BB, 1): var u
    vk = var + _EPS * ik * ik  # var u + ε_k; 0 only where var u = 0 and ε_k underflows
    su = tl.where(vk > 0.0, 1.0 / tl.sqrt(vk), 0.0)  # 1 / sqrt(var u + ε_k); 0: u − mean = 0
    s = tl.where(var > 0.0, su * ik, _RSQRT_EPS)  # (BB, 1): 1 / sqrt(var v + ε)
    return a * su, b * su, c * su, tl.reduce(s, 1, _SUM)


@triton.jit
def _norm_back(da, db, dc, pa, pb, pc, s, cm, G):
    """∂L/∂v of the rows normalised by ``_norm`` from d = ∂L/∂v̂ (da, db, dc) and v̂ (pa, pb,
    pc), s (BB,): s · (d − mean(d) − v̂ ⊙ mean(d ⊙ v̂)), zero past H (zero tiles for parts
    not in the group; their results are to be ignored)."""
    md = (_row_sum(da) + _row_sum(db) + _row_sum(dc)) / G
    mp = (_row_sum(da * pa) + _row_sum(db * pb) + _row_sum(dc * pc)) / G
    s = s[:, None]
    return (tl.where(cm, s * (da - md - pa * mp), 0.0), tl.where(cm, s * (db - md - pb * mp), 0.0),
            tl.where(cm, s * (dc - md - pc * mp), 0.0))


@triton.jit
def _vec(p, off, cols, H):
    """(1, BH) fp32 row p[off + cols], zero past H."""
    return tl.load(p + off + cols, mask=cols < H, other=0.0)[None, :]


@triton.jit
def _fwd_kernel(gi, whh, gain, shift, h0, lens, y, hn, save, rstd, B, T, H, SG,
                RESET_AFTER: tl.constexpr, TRAIN: tl.constexpr, BB: tl.constexpr,
                BH: tl.constexpr, NB: tl.constexpr, DOT: tl.constexpr, PREC: tl.constexpr):
    """gi (B,T,3H), whh (3H,H), gain, shift (3H,) fp32 (g_hh; β_hh + b_hh), h0 (B,H) fp32
    -> y (B,T,H), hn (B,H) fp32; when TRAIN save (B,T,SG) fp32 = [r, z, n, gh_n, p̂_r, p̂_z,
    p̂_n] (SG = 7H) or [r, z, n, p̂_r, p̂_z, q̂] (SG = 6H, reset_before) and rstd (B,T,2) fp32
    = the s of the step's normalisations. NB = 1: H in one block of BH."""
    rows = tl.program_id(0) * BB + tl.arange(0, BB)
    rmask = rows < B
    lens_b = tl.load(lens + rows, mask=rmask, other=0)
    rows = rows.to(tl.int64)
    cols = tl.arange(0, BH)
    cm = (cols < H)[None, :]  # (1, BH)
    ld_gi = T * 3 * H  # row strides of gi, save, y
    ld_s = T * SG
    ld_y = T * H
    w_r = w_tile(whh, 0, 0, 0, H, cols, False, DOT)  # (BH, BH): W_hrᵀ, on chip throughout
    w_z = w_tile(whh, H, 0, 0, H, cols, False, DOT)
    w_n = w_tile(whh, 2 * H, 0, 0, H, cols, False, DOT)
    g_r, g_z, g_n = _vec(gain, 0, cols, H), _vec(gain, H, cols, H), _vec(gain, 2 * H, cols, H)
    b_r, b_z, b_n = _vec(shift, 0, cols, H), _vec(shift, H, cols, H), _vec(shift, 2 * H, cols, H)
    h = load_rows(h0, rows, rmask, H, 0, cols, H)  # (BB, BH) fp32, in registers throughout
    for t in range(T):
        active = (t < lens_b)[:, None]  # (BB, 1)
        g_t = gi + t * 3 * H
        x_r = load_rows(g_t, rows, rmask, ld_gi, 0, cols, H)
        x_z = load_rows(g_t + H, rows, rmask, ld_gi, 0, cols, H)
        x_n = load_rows(g_t + 2 * H, rows, rmask, ld_gi, 0, cols, H)
        zero = tl.full((BB, BH), 0.0, tl.float32)
        p_r = tl.dot(h.to(DOT), w_r, zero, input_precision=PREC)  # h W_hrᵀ (BB, BH)
        p_z = tl.dot(h.to(DOT), w_z, zero, input_precision=PREC)
        if RESET_AFTER:
            p_n = tl.dot(h.to(DOT), w_n, zero, input_precision=PREC)
            q_r, q_z, q_n, s1 = _norm(p_r, p_z, p_n, cm, 3 * H, 3)
            r = sigmoid(x_r + q_r * g_r + b_r)
            z = sigmoid(x_z + q_z * g_z + b_z)
            gh_n = q_n * g_n + b_n
            n = tanh(x_n + r * gh_n)
            s2 = s1
        else:
            q_r, q_z, _, s1 = _norm(p_r, p_z, zero, cm, 2 * H, 2)
            r = sigmoid(x_r + q_r * g_r + b_r)
            z = sigmoid(x_z + q_z * g_z + b_z)
            p_n = tl.dot((r * h).to(DOT), w_n, zero, input_precision=PREC)  # W_hn (r ⊙ h)
            q_n, _, _, s2 = _norm(p_n, zero, zero, cm, H, 1)
            gh_n = q_n * g_n + b_n
            n = tanh(x_n + gh_n)
        h_new = tl.where(cm, n + z * (h - n), 0.0)  # (1 − z) n + z h
        store_rows(y + t * H, tl.where(active, h_new, 0.0), rows, rmask, ld_y, 0, cols, H)
        if TRAIN:
            s_t = save + t * SG
            store_rows(s_t, r, rows, rmask, ld_s, 0, cols, H)
            store_rows(s_t + H, z, rows, rmask, ld_s, 0, cols, H)
            store_rows(s_t + 2 * H, n, rows, rmask, ld_s, 0, cols, H)
            o = 3 * H
            if RESET_AFTER:
                store_rows(s_t + o, gh_n, rows, rmask, ld_s, 0, cols, H)
                o = 4 * H
            store_rows(s_t + o, q_r, rows, rmask, ld_s, 0, cols, H)
            store_rows(s_t + o + H, q_z, rows, rmask, ld_s, 0, cols, H)
            store_rows(s_t + o + 2 * H, q_n, rows, rmask, ld_s, 0, cols, H)
            tl.store(rstd + rows * 2 * T + 2 * t, s1, mask=rmask)
            tl.store(rstd + rows * 2 * T + 2 * t + 1, s2, mask=rmask)
        h = tl.where(active, h_new, h)
    store_rows(hn, h, rows, rmask, H, 0, cols, H)


@triton.jit
def _bwd_kernel(dy, whh, gain, save, rstd, hprev, lens, dhn, dgi, dgh, dp, dh0, B, T, H, SG,
                RESET_AFTER: tl.constexpr, BB: tl.constexpr, BH: tl.constexpr,
                NB: tl.constexpr, DOT: tl.constexpr, PREC: tl.constexpr):
    """dy (B,T,H), whh (3H,H), gain (3H,) fp32, save and rstd as the forward wrote them,
    hprev (B,T,H) fp32 = h_{t−1}, dhn (B,H) fp32 = ∂L/∂h_n -> dgi (B,T,3H) fp32 = ∂L/∂gi,
    dgh (B,T,3H) fp32 = ∂L/∂gh (reset_after; it equals dgi otherwise), dp (B,T,3H) fp32 =
    ∂L/∂p (the n rows: ∂L/∂q), dh0 (B,H) fp32 = ∂L/∂h_0."""
    rows = tl.program_id(0) * BB + tl.arange(0, BB)
    rmask = rows < B
    lens_b = tl.load(lens + rows, mask=rmask, other=0)
    rows = rows.to(tl.int64)
    cols = tl.arange(0, BH)
    cm = (cols < H)[None, :]
    ld_g = T * 3 * H
    ld_s = T * SG
    ld_h = T * H
    w_r = w_tile(whh, 0, 0, 0, H, cols, True, DOT)  # (BH, BH): W_hr, d W_hr = (d h) rows
    w_z = w_tile(whh, H, 0, 0, H, cols, True, DOT)
    w_n = w_tile(whh, 2 * H, 0, 0, H, cols, True, DOT)
    g_r, g_z, g_n = _vec(gain, 0, cols, H), _vec(gain, H, cols, H), _vec(gain, 2 * H, cols, H)
    dh = load_rows(dhn, rows, rmask, H, 0, cols, H)  # ∂L/∂h_t from later steps (BB, BH)
    for s in range(T):
        t = T - 1 - s
        active = (t < lens_b)[:, None]
        s_t = save + t * SG
        g = dh + load_rows(dy + t * H, rows, rmask, ld_h, 0, cols, H)
        r = load_rows(s_t, rows, rmask, ld_s, 0, cols, H)
        z = load_rows(s_t + H, rows, rmask, ld_s, 0, cols, H)
        n = load_rows(s_t + 2 * H, rows, rmask, ld_s, 0, cols, H)
        hp = load_rows(hprev + t * H, rows, rmask, ld_h, 0, cols, H)
        s1 = tl.load(rstd + rows * 2 * T + 2 * t, mask=rmask, other=0.0)
        s2 = tl.load(rstd + rows * 2 * T + 2 * t + 1, mask=rmask, other=0.0)
        a_n = tl.where(active, g * (1.0 - z) * (1.0 - n * n), 0.0)
        a_z = tl.where(active, g * (hp - n) * z * (1.0 - z), 0.0)
        zero = tl.full((BB, BH), 0.0, tl.float32)
        acc = g * z
        if RESET_AFTER:
            gh_n = load_rows(s_t + 3 * H, rows, rmask, ld_s, 0, cols, H)
            q_r = load_rows(s_t + 4 * H, rows, rmask, ld_s, 0, cols, H)
            q_z = load_rows(s_t + 5 * H, rows, rmask, ld_s, 0, cols, H)
            q_n = load_rows(s_t + 6 * H, rows, rmask, ld_s, 0, cols, H)
            a_r = a_n * gh_n * r * (1.0 - r)
            e_n = a_n * r  # ∂L/∂gh_n
            d_r, d_z, d_n = _norm_back(a_r * g_r, a_z * g_z, e_n * g_n, q_r, q_z, q_n, s1, cm,
                                       3 * H)
            acc = tl.dot(d_n.to(DOT), w_n, acc, input_precision=PREC)
            store_rows(dgh + t * 3 * H, a_r, rows, rmask, ld_g, 0, cols, H)
            store_rows(dgh + t * 3 * H + H, a_z, rows, rmask, ld_g, 0, cols, H)
            store_rows(dgh + t * 3 * H + 2 * H, e_n, rows, rmask, ld_g, 0, cols, H)
        else:
            q_r = load_rows(s_t + 3 * H, rows, rmask, ld_s, 0, cols, H)
            q_z = load_rows(s_t + 4 * H, rows, rmask, ld_s, 0, cols, H)
            q_n = load_rows(s_t + 5 * H, rows, rmask, ld_s, 0, cols, H)
            d_n, _, _ = _norm_back(a_n * g_n, zero, zero, q_n, zero, zero, s2, cm, H)
            drh = tl.dot(d_n.to(DOT), w_n, zero, input_precision=PREC)  # d(r ⊙ h)
            a_r = drh * hp * r * (1.0 - r)
            d_r, d_z, _ = _norm_back(a_r * g_r, a_z * g_z, zero, q_r, q_z, zero, s1, cm, 2 * H)
            acc += drh * r
        acc = tl.dot(d_r.to(DOT), w_r, acc, input_precision=PREC)
        acc = tl.dot(d_z.to(DOT), w_z, acc, input_precision=PREC)
        g_t = dgi + t * 3 * H
        store_rows(g_t, a_r, rows, rmask, ld_g, 0, cols, H)
        store_rows(g_t + H, a_z, rows, rmask, ld_g, 0, cols, H)
        store_rows(g_t + 2 * H, a_n, rows, rmask, ld_g, 0, cols, H)
        p_t = dp + t * 3 * H
        store_rows(p_t, d_r, rows, rmask, ld_g, 0, cols, H)
        store_rows(p_t + H, d_z, rows, rmask, ld_g, 0, cols, H)
        store_rows(p_t + 2 * H, d_n, rows, rmask, ld_g, 0, cols, H)
        dh = tl.where(active, tl.where(cm, acc, 0.0), dh)
    store_rows(dh0, dh, rows, rmask, H, 0, cols, H)


def _gain_shift(g_hh: Tensor | None, be_hh: Tensor | None, b_hh: Tensor | None, g3: int,
                device) -> tuple[Tensor, Tensor]:
    """The recurrent gain (3H,) and the shift β_hh + b_hh (3H,), fp32 and contiguous."""
    gain = torch.ones(g3, dtype=torch.float32, device=device) if g_hh is None \
        else g_hh.detach().float().contiguous()
    shift = torch.zeros(g3, dtype=torch.float32, device=device)
    for v in (be_hh, b_hh):
        if v is not None:
            shift += v.detach().float()
    return gain, shift


def _forward(plan: tt.Plan, gi: Tensor, w_hh: Tensor, b_hh, g_hh, be_hh, h0: Tensor,
             lens: Tensor, reset_after: bool, train: bool):
    """gi (B, T, 3H) -> y (B, T, H), h_n (B, H) and, when train, (save, rstd) fp32."""
    batch, steps, g3 = gi.shape
    hid = g3 // 3
    dev = gi.device
    y = torch.empty(batch, steps, hid, dtype=gi.dtype, device=dev)
    hn = torch.empty(batch, hid, dtype=torch.float32, device=dev)
    sg = (7 if reset_after else 6) * hid
    save = torch.empty(batch, steps, sg, dtype=torch.float32, device=dev) if train else \
        torch.empty(1, dtype=torch.float32, device=dev)
    rstd = torch.empty(batch, steps, 2, dtype=torch.float32, device=dev) if train else save
    gain, shift = _gain_shift(g_hh, be_hh, b_hh, g3, dev)
    _fwd_kernel[plan.grid](gi, w_hh.detach().contiguous(), gain, shift,
                           h0.detach().float().contiguous(), lens, y, hn, save, rstd, batch,
                           steps, hid, sg, RESET_AFTER=reset_after, TRAIN=train, **plan.launch)
    return y, hn.to(gi.dtype), (save, rstd) if train else None


class _LNGRUFunction(torch.autograd.Function):
    """(gi (B, T, 3H), W_hh, b_hh, g_hh, β_hh, h0) -> y (B, T, H), h_n (B, H)."""

    @staticmethod
    def forward(ctx, gi, w_hh, b_hh, g_hh, be_hh, h0, lens, reset_after, plan):
        y, hn, (save, rstd) = _forward(plan, gi, w_hh, b_hh, g_hh, be_hh, h0, lens,
                                       reset_after, True)
        ctx.save_for_backward(w_hh, g_hh, h0, y, save, rstd, lens)
        ctx.reset_after, ctx.plan = reset_after, plan  # backward launches what forward chose
        ctx.has = (b_hh is not None, g_hh is not None, be_hh is not None)
        return y, hn

    @staticmethod
    def backward(ctx, dy, dhn):
        first_order_only(ctx, "the Triton LayerNorm-GRU kernel")
        w_hh, g_hh, h0, y, save, rstd, lens = ctx.saved_tensors
        batch, steps, hid = y.shape
        dev = y.device
        dy = grad_or_zeros(dy, y).contiguous()
        dhn = torch.zeros(batch, hid, dtype=torch.float32, device=dev) if dhn is None \
            else dhn.float().contiguous()
        hprev = torch.cat([h0.detach().float().unsqueeze(1), y[:, :-1].float()], 1)  # (B,T,H)
        dgi, dp = (torch.empty(batch, steps, 3 * hid, dtype=torch.float32, device=dev)
                   for _ in range(2))  # (B, T, 3H) each
        dgh = torch.empty_like(dgi) if ctx.reset_after else dgi
        dh0 = torch.empty(batch, hid, dtype=torch.float32, device=dev)
        gain, _ = _gain_shift(g_hh if ctx.has[1] else None, None, None, 3 * hid, dev)
        _bwd_kernel[ctx.plan.grid](dy, w_hh.detach().contiguous(), gain, save, rstd, hprev,
                                   lens, dhn, dgi, dgh, dp, dh0, batch, steps, hid,
                                   save.shape[2], RESET_AFTER=ctx.reset_after,
                                   **ctx.plan.launch)
        hp = hprev.reshape(-1, hid)  # (B·T, H)
        dpf = dp.reshape(-1, 3 * hid)  # (B·T, 3H)
        o = 4 * hid if ctx.reset_after else 3 * hid
        phat = save[..., o:o + 3 * hid].reshape(-1, 3 * hid)  # (B·T, 3H): p̂
        if ctx.reset_after:
            dw_hh = dpf.t() @ hp  # (3H, H)
        else:
            rh = save[..., :hid].reshape(-1, hid) * hp  # (B·T, H): r ⊙ h_{t−1}
            dw_hh = torch.cat([dpf[:, :2 * hid].t() @ hp, dpf[:, 2 * hid:].t() @ rh])
        dghf = dgh.reshape(-1, 3 * hid)  # (B·T, 3H)
        db = dghf.sum(0).to(w_hh.dtype) if ctx.has[0] or ctx.has[2] else None  # db_hh = dβ_hh
        dg_hh = (dghf * phat).sum(0).to(w_hh.dtype) if ctx.has[1] else None
        return (dgi.to(y.dtype), dw_hh.to(w_hh.dtype), db if ctx.has[0] else None, dg_hh,
                db if ctx.has[2] else None, dh0.to(h0.dtype), None, None, None)


def lngru_triton(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
                 bias_hh: Tensor | None, ln_ih_weight: Tensor | None, ln_ih_bias: Tensor | None,
                 ln_hh_weight: Tensor | None, ln_hh_bias: Tensor | None, *, h0: Tensor,
                 lengths: Tensor | None, reset_after: bool, reverse: bool,
                 settings: tt.TritonSettings | None = None) -> tuple[Tensor, Tensor]:
    """The ``grukit.ops.lngru`` signature on the fused Triton kernels. x (B, T, I) -> y, h_n.
    ``settings``: the kernel settings (None: those active, see ``triton_settings``)."""
    s = tt.resolve(settings)
    hid = weight_hh.shape[1]
    reason = tt.one_block_limit(hid, s)  # dispatch checked the rest (why_not_one_block)
    if reason is not None:
        raise ValueError(f"lngru: the triton backend cannot serve this call: {reason}")
    plan = tt.rows_plan(s, tt.target(x), x.shape[0], hid)  # chosen once, kept for backward
    lens = tt.lens_tensor(lengths, x.shape[0], x.shape[1], x.device)  # (B,) int32
    recurrent = (weight_hh, bias_hh, ln_hh_weight, ln_hh_bias)

    def train(xs: Tensor):
        gi = input_gates(xs, weight_ih, bias_ih, ln_ih_weight, ln_ih_bias)  # (B, T, 3H)
        y, hn = _LNGRUFunction.apply(gi.contiguous(), *recurrent, h0, lens, reset_after, plan)
        return y, (hn,)

    @torch.no_grad()
    def infer(xs: Tensor):
        gi = input_gates(xs, weight_ih, bias_ih, ln_ih_weight, ln_ih_bias)  # (B, T, 3H)
        y, hn, _ = _forward(plan, gi.contiguous(), *recurrent, h0, lens, reset_after, False)
        return y, (hn,)

    inputs = (weight_ih, bias_ih, ln_ih_weight, ln_ih_bias, *recurrent, h0)
    y, (hn,) = run_fused(x, lengths, reverse, inputs, train, infer)
    return y, hn
