"""Split-H LSTM on Triton: forward and backward kernels for H above one block (CUDA).

Same plan as ``grukit.ops.gru.triton_split``: a program owns BH units of NBJ blocks of BB
rows, grid (groups, ⌈H/BH⌉), and keeps the four gate slices of W_hh its units need on chip for the
whole sequence (forward W_g[units, :]ᵀ, backward W_g[:, units], (HP, BH) each). The cell
state c and its gradient belong to one unit each, so they stay in the program's registers;
only h (forward) and the gate gradients (backward) are exchanged, one barrier a step.
STREAM: the weight slices read in chunks every step, as for the GRU.

Equations, the saved [i, f, g, o, c_t] (B, T, 5H) and the GEMMs after the backward kernel
are those of ``triton.py``. PHASE as in the GRU's split kernels: 0 = one launch with
barriers; k = phase k of steps [t0, t1) only, launched step by step under the interpreter,
with c, ∂L/∂c and the hand-over of ∂L/∂h in the program's own units of cbuf/dcbuf/dhbuf.
"""

from __future__ import annotations

import triton
import triton.language as tl
from torch import Tensor

from .. import _triton as tt
from .._triton_lang import (
    block_rows,
    grid_barrier,
    load_all,
    load_rows,
    prod,
    prod_gates,
    rowmm,
    sigmoid,
    split_program,
    store_rows,
    tanh,
    w_held,
)


@triton.jit
def _gates_in(p, rows, rmask, ld, u0, cols, H):
    """Four (BB, BH) fp32 gate tiles p[rows, g·H + u0 + cols], g = 0..3 (i, f, g, o)."""
    return (load_rows(p, rows, rmask, ld, u0, cols, H),
            load_rows(p + H, rows, rmask, ld, u0, cols, H),
            load_rows(p + 2 * H, rows, rmask, ld, u0, cols, H),
            load_rows(p + 3 * H, rows, rmask, ld, u0, cols, H))


@triton.jit
def _fwd_split_kernel(gi, whh, bhh, hbuf, cbuf, lens, y, save, sync, B, T, H, t0, t1, limit,
                      TRAIN: tl.constexpr, PHASE: tl.constexpr, BB: tl.constexpr,
                      NBJ: tl.constexpr, BH: tl.constexpr, HP: tl.constexpr,
                      DOT: tl.constexpr, PREC: tl.constexpr, SUM: tl.constexpr,
                      PREFETCH: tl.constexpr, KC: tl.constexpr, STREAM: tl.constexpr):
    """gi (B,T,4H), whh (4H,H), bhh (4H,) fp32, hbuf (2,B,H) fp32 with h_{t0−1} in
    hbuf[t0 % 2], cbuf (B,H) fp32 = c_{t0−1} -> y (B,T,H), h_{t1−1} in hbuf[t1 % 2],
    cbuf = c_{t1−1}; save (B,T,5H) fp32 = [i, f, g, o, c_t] when TRAIN; sync as for the GRU.
    With several batch blocks a program (NBJ > 1), h and c of its units go through memory
    between steps instead of staying in registers. PREFETCH (one block, one launch): the
    next step's gi is read while the barrier waits."""
    pg, ns, u0, cols, k, kmask, cnt, err = split_program(sync, H, BH, HP)
    umask = u0 + cols < H
    WT: tl.constexpr = tl.float32 if SUM else DOT
    w_i = w_held(whh, 0, H, u0, cols, k, kmask, False, WT, STREAM)  # (HP, BH)
    w_f = w_held(whh, H, H, u0, cols, k, kmask, False, WT, STREAM)
    w_g = w_held(whh, 2 * H, H, u0, cols, k, kmask, False, WT, STREAM)
    w_o = w_held(whh, 3 * H, H, u0, cols, k, kmask, False, WT, STREAM)
    b_i = tl.load(bhh + u0 + cols, mask=umask, other=0.0)[None, :]  # (1, BH)
    b_f = tl.load(bhh + H + u0 + cols, mask=umask, other=0.0)[None, :]
    b_g = tl.load(bhh + 2 * H + u0 + cols, mask=umask, other=0.0)[None, :]
    b_o = tl.load(bhh + 3 * H + u0 + cols, mask=umask, other=0.0)[None, :]
    ld_gi = T * 4 * H  # row strides of gi, save, y
    ld_s = T * 5 * H
    ld_y = T * H
    rows, rmask, active = block_rows(pg, 0, NBJ, BB, B, lens, t0)
    hp = load_rows(hbuf + (t0 % 2) * B * H, rows, rmask, H, u0, cols, H)  # own h_{t−1}
    cp = load_rows(cbuf, rows, rmask, H, u0, cols, H)  # own c_{t−1}
    PRE: tl.constexpr = PREFETCH and NBJ == 1 and PHASE == 0
    if PRE:
        nx = _gates_in(gi + t0 * 4 * H, rows, rmask, ld_gi, u0, cols, H)
    for t in range(t0, t1):
        src = hbuf + (t % 2) * B * H
        dst = hbuf + ((t + 1) % 2) * B * H  # h_t (B, H)
        for j in range(NBJ):
            rows, rmask, active = block_rows(pg, j, NBJ, BB, B, lens, t)
            if NBJ > 1:
                hp = load_rows(src, rows, rmask, H, u0, cols, H)
                cp = load_rows(cbuf, rows, rmask, H, u0, cols, H)
            if PRE:
                x_i, x_f, x_g, x_o = nx
            else:
                x_i, x_f, x_g, x_o = _gates_in(gi + t * 4 * H, rows, rmask, ld_gi, u0, cols, H)
            if STREAM:
                a_i, a_f, a_g, a_o = prod_gates(src, rows, rmask, H, whh, u0, cols, HP, KC, 4,
                                                WT, DOT, PREC, SUM)
            else:
                hf = load_all(src, rows, rmask, H, k, kmask)  # h_{t−1} of every unit (BB, HP)
                a_i = rowmm(hf, w_i, DOT, PREC, SUM)
                a_f = rowmm(hf, w_f, DOT, PREC, SUM)
                a_g = rowmm(hf, w_g, DOT, PREC, SUM)
                a_o = rowmm(hf, w_o, DOT, PREC, SUM)
            i = sigmoid(x_i + a_i + b_i)
            f = sigmoid(x_f + a_f + b_f)
            g = tanh(x_g + a_g + b_g)
            o = sigmoid(x_o + a_o + b_o)
            c = f * cp + i * g
            h = o * tanh(c)
            cp = tl.where(active, c, cp)
            hp = tl.where(active, h, hp)
            store_rows(dst, hp, rows, rmask, H, u0, cols, H)
            store_rows(y + t * H, tl.where(active, h, 0.0), rows, rmask, ld_y, u0, cols, H)
            if NBJ > 1:
                store_rows(cbuf, cp, rows, rmask, H, u0, cols, H)
            if TRAIN:
                s_t = save + t * 5 * H
                store_rows(s_t, i, rows, rmask, ld_s, u0, cols, H)
                store_rows(s_t + H, f, rows, rmask, ld_s, u0, cols, H)
                store_rows(s_t + 2 * H, g, rows, rmask, ld_s, u0, cols, H)
                store_rows(s_t + 3 * H, o, rows, rmask, ld_s, u0, cols, H)
                store_rows(s_t + 4 * H, c, rows, rmask, ld_s, u0, cols, H)
        if PRE:  # the next step's gi, read while the barrier waits
            nx = _gates_in(gi + tl.minimum(t + 1, T - 1) * 4 * H, rows, rmask, ld_gi, u0,
                           cols, H)
        if PHASE == 0:
            limit = grid_barrier(cnt, err, ns * (t - t0 + 1), limit)  # h_t of every unit written
    if NBJ == 1:
        store_rows(cbuf, cp, rows, rmask, H, u0, cols, H)


@triton.jit
def _bwd_inputs(dy, save, cprev, t, T, H, rows, rmask, u0, cols):
    """Step t's elementwise inputs for own units, (BB, BH) fp32 each: ∂L/∂y_t, i, f, g, o,
    c_t and c_{t−1}."""
    i, f, g, o = _gates_in(save + t * 5 * H, rows, rmask, T * 5 * H, u0, cols, H)
    return (load_rows(dy + t * H, rows, rmask, T * H, u0, cols, H), i, f, g, o,
            load_rows(save + t * 5 * H + 4 * H, rows, rmask, T * 5 * H, u0, cols, H),
            load_rows(cprev + t * H, rows, rmask, T * H, u0, cols, H))


@triton.jit
def _bwd_split_kernel(dy, whh, save, cprev, lens, dhbuf, dcbuf, dgi, sync, B, T, H, s0, s1,
                      limit, PHASE: tl.constexpr, BB: tl.constexpr, NBJ: tl.constexpr,
                      BH: tl.constexpr, HP: tl.constexpr, DOT: tl.constexpr,
                      PREC: tl.constexpr, SUM: tl.constexpr, PREFETCH: tl.constexpr,
                      KC: tl.constexpr, STREAM: tl.constexpr):
    """dy (B,T,H), whh (4H,H), save (B,T,5H) fp32, cprev (B,T,H) fp32 = c_{t−1}, dhbuf and
    dcbuf (B,H) fp32 with ∂L/∂h_t, ∂L/∂c_t of step s0 (t = T − 1 − s) -> dgi (B,T,4H) fp32
    = [a_i, a_f, a_g, a_o]; dhbuf, dcbuf: the gradients of step s1 (of h_0, c_0 when
    s1 = T). A program reads and writes only its own units of dhbuf and dcbuf; they stay in
    registers with one batch block and a launch for all steps, else go through memory.
    PREFETCH (then): the next step's elementwise inputs are read while the barrier waits."""
    pg, ns, u0, cols, k, kmask, cnt, err = split_program(sync, H, BH, HP)
    WT: tl.constexpr = tl.float32 if SUM else DOT
    w_i = w_held(whh, 0, H, u0, cols, k, kmask, True, WT, STREAM)  # (HP, BH) = W_hi[:, units]
    w_f = w_held(whh, H, H, u0, cols, k, kmask, True, WT, STREAM)
    w_g = w_held(whh, 2 * H, H, u0, cols, k, kmask, True, WT, STREAM)
    w_o = w_held(whh, 3 * H, H, u0, cols, k, kmask, True, WT, STREAM)
    ld_g = T * 4 * H
    keep: tl.constexpr = NBJ > 1 or PHASE != 0  # hand the gradients over through memory
    rows, rmask, active = block_rows(pg, 0, NBJ, BB, B, lens, 0)
    dh = load_rows(dhbuf, rows, rmask, H, u0, cols, H)  # own ∂L/∂h_t (BB, BH)
    dc = load_rows(dcbuf, rows, rmask, H, u0, cols, H)  # own ∂L/∂c_t
    PRE: tl.constexpr = PREFETCH and not keep
    if PRE:
        nx = _bwd_inputs(dy, save, cprev, T - 1 - s0, T, H, rows, rmask, u0, cols)
    for s in range(s0, s1):
        t = T - 1 - s
        g_t = dgi + t * 4 * H
        if keep and PHASE == 0:
            tl.debug_barrier()  # the last step's dhbuf stores before this step's loads
        if PHASE <= 1:  # gate gradients of own units, elementwise
            for j in range(NBJ):
                rows, rmask, active = block_rows(pg, j, NBJ, BB, B, lens, t)
                if keep:
                    dh = load_rows(dhbuf, rows, rmask, H, u0, cols, H)
                    dc = load_rows(dcbuf, rows, rmask, H, u0, cols, H)
                if PRE:
                    d, i, f, gg, o, c, cp = nx
                else:
                    d, i, f, gg, o, c, cp = _bwd_inputs(dy, save, cprev, t, T, H, rows, rmask,
                                                        u0, cols)
                g = dh + d
                tc = tanh(c)
                dct = dc + g * o * (1.0 - tc * tc)
                store_rows(g_t, tl.where(active, dct * gg * i * (1.0 - i), 0.0), rows, rmask,
                           ld_g, u0, cols, H)
                store_rows(g_t + H, tl.where(active, dct * cp * f * (1.0 - f), 0.0), rows,
                           rmask, ld_g, u0, cols, H)
                store_rows(g_t + 2 * H, tl.where(active, dct * i * (1.0 - gg * gg), 0.0), rows,
                           rmask, ld_g, u0, cols, H)
                store_rows(g_t + 3 * H, tl.where(active, g * tc * o * (1.0 - o), 0.0), rows,
                           rmask, ld_g, u0, cols, H)
                dc = tl.where(active, dct * f, dc)
                dh = tl.where(active, 0.0, dh)  # ∂L/∂h_{t−1} before the products
                if keep:
                    store_rows(dhbuf, dh, rows, rmask, H, u0, cols, H)
                    store_rows(dcbuf, dc, rows, rmask, H, u0, cols, H)
        if PRE:  # the next step's inputs, read while the barrier waits
            nx = _bwd_inputs(dy, save, cprev, tl.maximum(t - 1, 0), T, H, rows, rmask, u0,
                             cols)
        if PHASE == 0:
            limit = grid_barrier(cnt, err, ns * (s - s0 + 1), limit)  # gate gradients written
        if PHASE != 1:  # ∂L/∂h_{t−1} += [a_i, a_f, a_g, a_o] W_hh (zero past a length)
            for j in range(NBJ):
                rows, rmask, active = block_rows(pg, j, NBJ, BB, B, lens, t)
                if keep:
                    dh = load_rows(dhbuf, rows, rmask, H, u0, cols, H)
                dh += prod(g_t, rows, rmask, ld_g, H, whh, 0, u0, cols, w_i, HP, KC, True,
                           STREAM, WT, DOT, PREC, SUM)
                dh += prod(g_t + H, rows, rmask, ld_g, H, whh, H, u0, cols, w_f, HP, KC, True,
                           STREAM, WT, DOT, PREC, SUM)
                dh += prod(g_t + 2 * H, rows, rmask, ld_g, H, whh, 2 * H, u0, cols, w_g, HP, KC,
                           True, STREAM, WT, DOT, PREC, SUM)
                dh += prod(g_t + 3 * H, rows, rmask, ld_g, H, whh, 3 * H, u0, cols, w_o, HP, KC,
                           True, STREAM, WT, DOT, PREC, SUM)
                if keep:
                    store_rows(dhbuf, dh, rows, rmask, H, u0, cols, H)
    if not keep:
        store_rows(dhbuf, dh, rows, rmask, H, u0, cols, H)
        store_rows(dcbuf, dc, rows, rmask, H, u0, cols, H)


def forward(plan, gi: Tensor, w_hh: Tensor, bias: Tensor, hbuf: Tensor, cbuf: Tensor,
            lens: Tensor, y: Tensor, save: Tensor, train: bool) -> None:
    """Fill y (B, T, H), hbuf[T % 2] = h_n, cbuf = c_n and, when train, save."""
    batch, steps, g4 = gi.shape
    tt.run_split(_fwd_split_kernel, plan, (gi, w_hh, bias, hbuf, cbuf, lens, y, save),
                 (batch, steps, g4 // 4), 1, dict(TRAIN=train),
                 "grukit's LSTM forward (split-H Triton kernel)")


def backward(plan, dy: Tensor, w_hh: Tensor, save: Tensor, cprev: Tensor, lens: Tensor,
             dh: Tensor, dc: Tensor, dgi: Tensor) -> None:
    """Fill dgi (B, T, 4H); turn dh, dc (B, H) from the gradients of h_n, c_n into those
    of h_0, c_0."""
    batch, steps, hid = cprev.shape
    tt.run_split(_bwd_split_kernel, plan, (dy, w_hh, save, cprev, lens, dh, dc, dgi),
                 (batch, steps, hid), 2, {}, "grukit's LSTM backward (split-H Triton kernel)")
