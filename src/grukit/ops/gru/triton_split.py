"""Split-H GRU on Triton: forward and backward kernels for H above one block (CUDA).

The kernels of ``triton.py`` give a program whole rows of the state, so above H = 64 each
program streams all of W_hh from L2 every step. Here a program owns BH hidden units of BB
batch rows (of NBJ blocks of BB rows, served one after another, where B is too large for
one block a group), grid (groups, ⌈H/BH⌉) (``grukit.ops._triton.split_plan``), and loads once,
before the time loop, the slice of W_hh its units need: forward the three gate rows of its
units (W_g[units, :]ᵀ, (HP, BH) each), backward the three gate columns (W_g[:, units]).
Where that slice does not fit on chip (H > 512, ``split_plan``), STREAM reads it from L2
every step instead, in chunks of KC rows of K, each chunk of the state read once for all
gates. Each step it reads the whole state of its rows (BB, H) from L2, computes its own units,
writes them, and waits at a counter barrier for the other programs of its group
(``grid_barrier``): one barrier a step, two for reset_after=False (W_hn needs r ⊙ h of
every unit) and in its backward (a_r needs a_n W_hn of every unit first).

Equations, the saved gates (B, T, SG) and the gradient GEMMs after the backward kernel are
those of ``triton.py``; only the recurrent kernels differ.

Phases: PHASE=0 runs steps [t0, t1) with every phase and barrier (one launch, the GPU).
PHASE=k runs only phase k of steps [t0, t1), without barriers: the host launches phase after
phase, step by step, and the launch boundary is the barrier. That is how the interpreter,
which runs a grid's programs one after another (a barrier would never open), checks this
same code on the CPU. Values a phase or step hands to the next then go through the
program's own units of hbuf/rhz/dhbuf, as they do in one launch when a program serves
several batch blocks; with one block they stay in registers.
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
def _fwd_split_kernel(gi, whh, bhh, hbuf, rhz, lens, y, save, sync, B, T, H, SG, t0, t1,
                      limit, RESET_AFTER: tl.constexpr, TRAIN: tl.constexpr,
                      PHASE: tl.constexpr, BB: tl.constexpr, NBJ: tl.constexpr,
                      BH: tl.constexpr, HP: tl.constexpr, DOT: tl.constexpr,
                      PREC: tl.constexpr, SUM: tl.constexpr, PREFETCH: tl.constexpr,
                      KC: tl.constexpr, STREAM: tl.constexpr):
    """gi (B,T,3H), whh (3H,H), bhh (3H,) fp32, hbuf (2,B,H) fp32 with h_{t0−1} in
    hbuf[t0 % 2] -> y (B,T,H), h_{t1−1} in hbuf[t1 % 2]; save (B,T,SG) fp32 as in
    ``triton.py`` when TRAIN; rhz (2,B,H) fp32 [r ⊙ h, z] (reset_after=False);
    sync (groups + 1,) int32 zeros: a barrier counter per batch group, then the flag.
    Program (g, p) serves units [p·BH, (p+1)·BH) of the NBJ batch blocks g·NBJ + j.
    PREFETCH (one block, one launch): the next step's gi is read while the barrier waits."""
    pg, ns, u0, cols, k, kmask, cnt, err = split_program(sync, H, BH, HP)
    umask = u0 + cols < H
    WT: tl.constexpr = tl.float32 if SUM else DOT
    w_r = w_held(whh, 0, H, u0, cols, k, kmask, False, WT, STREAM)  # (HP, BH)
    w_z = w_held(whh, H, H, u0, cols, k, kmask, False, WT, STREAM)
    w_n = w_held(whh, 2 * H, H, u0, cols, k, kmask, False, WT, STREAM)
    b_r = tl.load(bhh + u0 + cols, mask=umask, other=0.0)[None, :]  # (1, BH)
    b_z = tl.load(bhh + H + u0 + cols, mask=umask, other=0.0)[None, :]
    b_n = tl.load(bhh + 2 * H + u0 + cols, mask=umask, other=0.0)[None, :]
    ld_gi = T * 3 * H  # row strides of gi, save, y
    ld_s = T * SG
    ld_y = T * H
    NBAR: tl.constexpr = 1 if RESET_AFTER else 2  # barriers a step
    PRE: tl.constexpr = PREFETCH and NBJ == 1 and PHASE == 0
    rows, rmask, active = block_rows(pg, 0, NBJ, BB, B, lens, t0)
    hp = load_rows(hbuf + (t0 % 2) * B * H, rows, rmask, H, u0, cols, H)  # own h_{t−1}
    x_r = load_rows(gi + t0 * 3 * H, rows, rmask, ld_gi, u0, cols, H)  # own gi_t (BB, BH)
    x_z = load_rows(gi + t0 * 3 * H + H, rows, rmask, ld_gi, u0, cols, H)
    x_n = load_rows(gi + t0 * 3 * H + 2 * H, rows, rmask, ld_gi, u0, cols, H)
    for t in range(t0, t1):
        src = hbuf + (t % 2) * B * H  # h_{t−1} (B, H)
        dst = hbuf + ((t + 1) % 2) * B * H  # h_t (B, H)
        g_t = gi + t * 3 * H
        s_t = save + t * SG
        bar = (t - t0) * NBAR  # barriers passed before this step
        if PHASE != 2:  # r, z (and for reset_after the whole step)
            for j in range(NBJ):
                rows, rmask, active = block_rows(pg, j, NBJ, BB, B, lens, t)
                if NBJ > 1:  # one block's state fits the registers, not several
                    hp = load_rows(src, rows, rmask, H, u0, cols, H)
                if not PRE:
                    x_r = load_rows(g_t, rows, rmask, ld_gi, u0, cols, H)
                    x_z = load_rows(g_t + H, rows, rmask, ld_gi, u0, cols, H)
                    x_n = load_rows(g_t + 2 * H, rows, rmask, ld_gi, u0, cols, H)
                if STREAM:
                    a_r, a_z, a_n, _ = prod_gates(src, rows, rmask, H, whh, u0, cols, HP, KC,
                                                  3 if RESET_AFTER else 2, WT, DOT, PREC, SUM)
                else:
                    hf = load_all(src, rows, rmask, H, k, kmask)  # h_{t−1} of all (BB, HP)
                    a_r = rowmm(hf, w_r, DOT, PREC, SUM)
                    a_z = rowmm(hf, w_z, DOT, PREC, SUM)
                    if RESET_AFTER:
                        a_n = rowmm(hf, w_n, DOT, PREC, SUM)
                r = sigmoid(x_r + a_r + b_r)
                z = sigmoid(x_z + a_z + b_z)
                if TRAIN:
                    store_rows(s_t, r, rows, rmask, ld_s, u0, cols, H)
                    store_rows(s_t + H, z, rows, rmask, ld_s, u0, cols, H)
                if RESET_AFTER:
                    gh_n = a_n + b_n
                    n = tanh(x_n + r * gh_n)
                    hp = tl.where(active, n + z * (hp - n), hp)  # (1 − z) n + z h
                    store_rows(dst, hp, rows, rmask, H, u0, cols, H)
                    store_rows(y + t * H, tl.where(active, hp, 0.0), rows, rmask, ld_y, u0,
                               cols, H)
                    if TRAIN:
                        store_rows(s_t + 2 * H, n, rows, rmask, ld_s, u0, cols, H)
                        store_rows(s_t + 3 * H, gh_n, rows, rmask, ld_s, u0, cols, H)
                else:
                    store_rows(rhz, r * hp, rows, rmask, H, u0, cols, H)
                    store_rows(rhz + B * H, z, rows, rmask, H, u0, cols, H)
        if not RESET_AFTER:
            if PHASE == 0:
                limit = grid_barrier(cnt, err, ns * (bar + 1), limit)  # r ⊙ h of every unit written
            if PHASE != 1:  # z and h_{t−1} of own units come back from memory
                for j in range(NBJ):
                    rows, rmask, active = block_rows(pg, j, NBJ, BB, B, lens, t)
                    z = load_rows(rhz + B * H, rows, rmask, H, u0, cols, H)
                    hp = load_rows(src, rows, rmask, H, u0, cols, H)
                    if not PRE:
                        x_n = load_rows(g_t + 2 * H, rows, rmask, ld_gi, u0, cols, H)
                    q = prod(rhz, rows, rmask, H, H, whh, 2 * H, u0, cols, w_n, HP, KC, False,
                             STREAM, WT, DOT, PREC, SUM)
                    n = tanh(x_n + q)
                    hp = tl.where(active, n + z * (hp - n), hp)
                    store_rows(dst, hp, rows, rmask, H, u0, cols, H)
                    store_rows(y + t * H, tl.where(active, hp, 0.0), rows, rmask, ld_y, u0,
                               cols, H)
                    if TRAIN:
                        store_rows(s_t + 2 * H, n, rows, rmask, ld_s, u0, cols, H)
        if PRE:  # the next step's gi, read while the barrier waits
            g_nx = gi + tl.minimum(t + 1, T - 1) * 3 * H
            x_r = load_rows(g_nx, rows, rmask, ld_gi, u0, cols, H)
            x_z = load_rows(g_nx + H, rows, rmask, ld_gi, u0, cols, H)
            x_n = load_rows(g_nx + 2 * H, rows, rmask, ld_gi, u0, cols, H)
        if PHASE == 0:
            limit = grid_barrier(cnt, err, ns * (bar + NBAR), limit)  # h_t of every unit written


@triton.jit
def _bwd_inputs(dy, save, hprev, t, T, H, SG, rows, rmask, u0, cols,
                RESET_AFTER: tl.constexpr):
    """Step t's elementwise inputs for own units, (BB, BH) fp32 each: ∂L/∂y_t, r, z, n,
    gh_n (reset_after; n again otherwise) and h_{t−1}."""
    s_t = save + t * SG
    n = load_rows(s_t + 2 * H, rows, rmask, T * SG, u0, cols, H)
    gh_n = load_rows(s_t + 3 * H, rows, rmask, T * SG, u0, cols, H) if RESET_AFTER else n
    return (load_rows(dy + t * H, rows, rmask, T * H, u0, cols, H),
            load_rows(s_t, rows, rmask, T * SG, u0, cols, H),
            load_rows(s_t + H, rows, rmask, T * SG, u0, cols, H), n, gh_n,
            load_rows(hprev + t * H, rows, rmask, T * H, u0, cols, H))


@triton.jit
def _bwd_split_kernel(dy, whh, save, hprev, lens, dhbuf, dgi, dghn, sync, B, T, H, SG, s0, s1,
                      limit, RESET_AFTER: tl.constexpr, PHASE: tl.constexpr,
                      BB: tl.constexpr, NBJ: tl.constexpr, BH: tl.constexpr,
                      HP: tl.constexpr, DOT: tl.constexpr, PREC: tl.constexpr,
                      SUM: tl.constexpr, PREFETCH: tl.constexpr, KC: tl.constexpr,
                      STREAM: tl.constexpr):
    """dy (B,T,H), whh (3H,H), save (B,T,SG) fp32, hprev (B,T,H) fp32 = h_{t−1}, dhbuf (B,H)
    fp32 with ∂L/∂h_t of step s0 (t = T − 1 − s) -> dgi (B,T,3H) fp32 = [a_r, a_z, a_n],
    dghn (B,T,H) fp32 = a_n ⊙ r (reset_after), dhbuf: the gradient of step s1 (∂L/∂h_0 when
    s1 = T). A program reads and writes only its own units of dhbuf; with one batch block
    (NBJ = 1) the gradient stays in registers between phases and steps, with several it
    goes through dhbuf ("keep" below). PREFETCH (one block, one launch): the next step's
    elementwise inputs are read while the barrier waits."""
    pg, ns, u0, cols, k, kmask, cnt, err = split_program(sync, H, BH, HP)
    WT: tl.constexpr = tl.float32 if SUM else DOT
    w_r = w_held(whh, 0, H, u0, cols, k, kmask, True, WT, STREAM)  # (HP, BH) = W_hr[:, units]
    w_z = w_held(whh, H, H, u0, cols, k, kmask, True, WT, STREAM)
    w_n = w_held(whh, 2 * H, H, u0, cols, k, kmask, True, WT, STREAM)
    ld_g = T * 3 * H
    ld_s = T * SG
    ld_h = T * H
    NBAR: tl.constexpr = 1 if RESET_AFTER else 2
    keep: tl.constexpr = NBJ > 1 or PHASE != 0  # hand ∂L/∂h over through dhbuf
    PRE: tl.constexpr = PREFETCH and not keep
    rows, rmask, active = block_rows(pg, 0, NBJ, BB, B, lens, 0)
    base = load_rows(dhbuf, rows, rmask, H, u0, cols, H)  # ∂L/∂h_t from later steps (BB, BH)
    if PRE:
        nx = _bwd_inputs(dy, save, hprev, T - 1 - s0, T, H, SG, rows, rmask, u0, cols,
                         RESET_AFTER)
    for s in range(s0, s1):
        t = T - 1 - s
        g_t = dgi + t * 3 * H
        s_t = save + t * SG
        bar = (s - s0) * NBAR
        if keep and PHASE == 0:
            tl.debug_barrier()  # the last step's dhbuf stores before this step's loads
        if PHASE <= 1:  # gate gradients of own units, elementwise
            for j in range(NBJ):
                rows, rmask, active = block_rows(pg, j, NBJ, BB, B, lens, t)
                if keep:
                    base = load_rows(dhbuf, rows, rmask, H, u0, cols, H)
                if PRE:
                    d, r, z, n, gh_n, hp = nx
                else:
                    d, r, z, n, gh_n, hp = _bwd_inputs(dy, save, hprev, t, T, H, SG, rows,
                                                       rmask, u0, cols, RESET_AFTER)
                g = base + d
                a_n = tl.where(active, g * (1.0 - z) * (1.0 - n * n), 0.0)
                a_z = tl.where(active, g * (hp - n) * z * (1.0 - z), 0.0)
                store_rows(g_t + H, a_z, rows, rmask, ld_g, u0, cols, H)
                store_rows(g_t + 2 * H, a_n, rows, rmask, ld_g, u0, cols, H)
                if RESET_AFTER:
                    store_rows(g_t, a_n * gh_n * r * (1.0 - r), rows, rmask, ld_g, u0, cols, H)
                    store_rows(dghn + t * H, a_n * r, rows, rmask, ld_h, u0, cols, H)
                base = tl.where(active, g * z, base)  # ∂L/∂h_{t−1} before the products
                if keep:
                    store_rows(dhbuf, base, rows, rmask, H, u0, cols, H)
        if PRE:  # the next step's inputs, read while the barrier waits
            nx = _bwd_inputs(dy, save, hprev, tl.maximum(t - 1, 0), T, H, SG, rows, rmask, u0,
                             cols, RESET_AFTER)
        if PHASE == 0:
            # this step's gate gradients written
            limit = grid_barrier(cnt, err, ns * (bar + 1), limit)
        if not RESET_AFTER and (PHASE == 0 or PHASE == 2):
            for j in range(NBJ):  # d(r ⊙ h) = a_n W_hn for own units, then a_r
                rows, rmask, active = block_rows(pg, j, NBJ, BB, B, lens, t)
                if keep:
                    base = load_rows(dhbuf, rows, rmask, H, u0, cols, H)
                drh = prod(g_t + 2 * H, rows, rmask, ld_g, H, whh, 2 * H, u0, cols, w_n, HP, KC,
                           True, STREAM, WT, DOT, PREC, SUM)
                r = load_rows(s_t, rows, rmask, ld_s, u0, cols, H)
                hp = load_rows(hprev + t * H, rows, rmask, ld_h, u0, cols, H)
                store_rows(g_t, tl.where(active, drh * hp * r * (1.0 - r), 0.0), rows, rmask,
                           ld_g, u0, cols, H)
                base += tl.where(active, drh * r, 0.0)
                if keep:
                    store_rows(dhbuf, base, rows, rmask, H, u0, cols, H)
            if PHASE == 0:
                limit = grid_barrier(cnt, err, ns * (bar + 2), limit)  # a_r of every unit written
        if PHASE == 0 or PHASE == NBAR + 1:  # += dgh W_hh (zero rows past a length)
            for j in range(NBJ):
                rows, rmask, active = block_rows(pg, j, NBJ, BB, B, lens, t)
                if keep:
                    base = load_rows(dhbuf, rows, rmask, H, u0, cols, H)
                base += prod(g_t, rows, rmask, ld_g, H, whh, 0, u0, cols, w_r, HP, KC, True,
                             STREAM, WT, DOT, PREC, SUM)
                base += prod(g_t + H, rows, rmask, ld_g, H, whh, H, u0, cols, w_z, HP, KC, True,
                             STREAM, WT, DOT, PREC, SUM)
                if RESET_AFTER:  # [a_r, a_z, a_n ⊙ r] W_hh; reset_before: [a_r, a_z] W_hh[:2H]
                    base += prod(dghn + t * H, rows, rmask, ld_h, H, whh, 2 * H, u0, cols, w_n,
                                 HP, KC, True, STREAM, WT, DOT, PREC, SUM)
                if keep:
                    store_rows(dhbuf, base, rows, rmask, H, u0, cols, H)
    if not keep:
        store_rows(dhbuf, base, rows, rmask, H, u0, cols, H)


def forward(plan, gi: Tensor, w_hh: Tensor, bias: Tensor, hbuf: Tensor, rhz: Tensor,
            lens: Tensor, y: Tensor, save: Tensor, reset_after: bool, train: bool) -> None:
    """Fill y (B, T, H), hbuf[T % 2] = h_n and, when train, save from gi (B, T, 3H)."""
    batch, steps, g3 = gi.shape
    dims = (batch, steps, g3 // 3, save.shape[2] if train else 0)  # B, T, H, SG
    tt.run_split(_fwd_split_kernel, plan, (gi, w_hh, bias, hbuf, rhz, lens, y, save), dims,
         1 if reset_after else 2, dict(RESET_AFTER=reset_after, TRAIN=train),
         "grukit's GRU forward (split-H Triton kernel)")


def backward(plan, dy: Tensor, w_hh: Tensor, save: Tensor, hprev: Tensor, lens: Tensor,
             dh: Tensor, dgi: Tensor, dghn: Tensor, reset_after: bool) -> None:
    """Fill dgi (B, T, 3H), dghn (B, T, H) and turn dh (B, H) from ∂L/∂h_n into ∂L/∂h_0."""
    batch, steps, hid = hprev.shape
    tt.run_split(_bwd_split_kernel, plan, (dy, w_hh, save, hprev, lens, dh, dgi, dghn),
         (batch, steps, hid, save.shape[2]), 2 if reset_after else 3,
         dict(RESET_AFTER=reset_after), "grukit's GRU backward (split-H Triton kernel)")
