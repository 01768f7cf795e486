"""Fused CPU GRU (numba): forward and backward, both reset-gate placements.

Plan per call (B batch, T steps, H hidden):

- the input projection of all steps is one GEMM in torch: gi = x W_ihᵀ + b_ih  (B, T, 3H);
  inputs at most ``NARROW`` wide (a univariate series: I = 1) are projected inside the gate
  loop instead, one row at a time, so that no (T, B, 3H) buffer is written and read back;
- the serial loop does one small GEMM per step, h W_hhᵀ (two for reset_after=False: the
  r, z rows, then W_hn (r ⊙ h)), with the gate math fused in one pass over (rows, H);
- rows are split into one chunk per thread *outside* the time loop, so each thread runs the
  whole recurrence of its rows with no per-step synchronisation;
- backward walks time in reverse producing dgi (= ∂L/∂(W_ih x + b_ih)) and dgh per step; the
  weight gradients are then single GEMMs in torch: dW_hh = Σ_t dghᵀ h_{t−1}, dW_ih = dgiᵀ x.
  For reset_after=True both live in one buffer ordered [a_n, a_r, a_z, a_n ⊙ r], so that
  dgi (gates in n, r, z order) and dgh (r, z, n order) are each a contiguous slice of it.

Equations: see ``grukit.ops.gru``. Backward, reset_after=True (a = pre-activations, g = ∂L/∂h_t):

    dz = g ⊙ (h_{t−1} − n)     a_n = g ⊙ (1 − z) ⊙ (1 − n²)
    a_r = a_n ⊙ gh_n ⊙ r(1 − r)   a_z = dz ⊙ z(1 − z)
    dgi = [a_r, a_z, a_n]   dgh = [a_r, a_z, a_n ⊙ r]   ∂L/∂h_{t−1} = g ⊙ z + dgh W_hh

reset_after=False: d(r ⊙ h) = a_n W_hn, a_r = d(r ⊙ h) ⊙ h_{t−1} ⊙ r(1 − r),
∂L/∂h_{t−1} = g ⊙ z + d(r ⊙ h) ⊙ r + [a_r, a_z] W_hh[:2H].
Steps at or past a sequence's length leave its state alone and pass g through unchanged.

Masks (each optional; a kernel built for ``None`` has no trace of it, numba prunes the
branch). Recurrent dropout d (B, H) multiplies the state fed to W_hh: the products read
ĥ = d ⊙ h_{t−1} (and r ⊙ ĥ for reset_after=False), the update still uses h_{t−1}; so
dW_hh = Σ_t dghᵀ ĥ and the recurrent part of ∂L/∂h_{t−1} is multiplied by d. Zoneout m
(T, B, H): h_t = m ⊙ h_{t−1} + (1 − m) ⊙ h̃_t, so the gates see g̃ = g ⊙ (1 − m) in place of g
and ∂L/∂h_{t−1} gains g ⊙ m. Backward kernels: ``cpu_backward``.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange
from torch import Tensor

from .. import _pool
from .._cpu import arr, kernel_threads, lens_array
from .._cpu_math import copy_into, masked_rows, sigmoid, tanh
from .._fused import first_order_only, run_fused
from .._gemm import gemm_address, gemm_scratch, mm_w, transposes_pay
from .._jit import chunked_kernel
from .cpu_backward import bwd_after, bwd_before

# Inputs at most this wide are projected inside the gate loop (see the plan above): at I = 1
# the (T, B, 3H) projection GEMM is a broadcast of the bias and a rank-1 update, memory-bound.
# A training step at B = 32, T = 100, H = 64, one thread, CPU time: 0.84-0.92 of the GEMM
# path's for I = 1, 4, 8 and 16 (loaded machine; both settings of NARROW timed interleaved
# in one process).
NARROW = 16

# Buffers are time-major, (T, B, ·): the rows one step touches lie together, which the
# hardware prefetcher follows (batch-major rows sit T·3H apart; 20-30% slower here). The
# states live in one buffer hs (T+1, B, H) with hs[0] = h0, so the h_{t−1} the backward pass
# needs is hs[:-1], a view. Inference returns y = hs[1:]; training also writes y to a buffer
# of its own, so a caller may modify y in place as with torch.nn.GRU (never two stores to one
# row in a gate loop: LLVM then finds the rows alias and does not vectorise). Rows past a
# sequence's length hold 0 (the output there); a finished row never restarts, so the GEMM may
# read them freely. Gate loops index 1-D row views with the range variable j only: numba then
# needs no negative-index checks and LLVM vectorises the loop (about 8x faster).


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _unit_after(xr, xz, xn, hr, hz, hn, br, bz, bn, h):
    """One unit of a reset_after step -> (r, z, n, gh_n, h')."""
    r = sigmoid(xr + hr + br)
    z = sigmoid(xz + hz + bz)
    ghn = hn + bn
    n = tanh(xn + r * ghn)
    return r, z, n, ghn, n + z * (h - n)  # h' = (1 − z) n + z h


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _gates_before(xr, xz, hr, hz, h):
    """The gates of one unit of a reset_after=False step -> (r, z, r ⊙ h)."""
    r = sigmoid(xr + hr)
    return r, sigmoid(xz + hz), r * h


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _unit_before(xn, q, z, h):
    """The rest of that unit, q = (W_hn (r ⊙ h))_j -> (n, h')."""
    n = tanh(xn + q)
    return n, n + z * (h - n)  # h' = (1 − z) n + z h


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _project_row(xr, wi_t, bi, out):
    """out (3H,) = xr (I,) @ wi_t (I, 3H) + bi: one row's input projection (narrow inputs)."""
    for j in range(out.shape[0]):
        out[j] = bi[j]
    for k in range(xr.shape[0]):
        xk, wk = xr[k], wi_t[k]
        for j in range(out.shape[0]):
            out[j] += xk * wk[j]


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _zone(m, h, h_new):
    """Zoneout of one unit: m ⊙ h + (1 − m) ⊙ h̃ (Krueger et al. 2017)."""
    return h_new + m * (h - h_new)


@chunked_kernel
def _fwd_after(gi, xk, wi_t, bih, whh, w_t, bhh, hs, lens, hn, y, save, drop, zone, train,
               gemm, nchunk):
    """gi (T,B,3H) = x W_ihᵀ + b_ih; or, for a narrow input, gi (1,B,3H) scratch with
    xk (T,B,I), wi_t (I,3H), bih (3H,) to project each row in the loop (xk etc. None
    otherwise: a numba branch on an argument that is None is pruned); the gate loops read
    rows of the argument gi either way (a row of a local array makes LLVM check it against
    every store of the training loop, and it then does not vectorise); whh = W_hh (3H,H),
    or with w_t its transposed copy (H,3H) (``mm_w``); bhh (3H,),
    hs (T+1,B,H) with hs[0] = h0 ->
    hs[1:] filled, hn (B,H) = each row's state at its own last step; when train also
    save (T,B,4H) = [r, z, n, gh_n] and, unless y is None, y (T,B,H) = hs[1:] (a buffer of
    its own). drop (B,H) and zone (T,B,H): masks, or None."""
    steps, batch, g3 = hs.shape[0] - 1, gi.shape[1], gi.shape[2]
    hid = g3 // 3  # from gi's width: LLVM then vectorises the gate loops over its slices
    br, bz, bn = bhh[:hid], bhh[hid:2 * hid], bhh[2 * hid:]
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        gh = np.empty((b1 - b0, g3), hs.dtype)  # (nb, 3H)
        hm = np.empty((b1 - b0, hid), hs.dtype)  # (nb, H): d ⊙ h, with recurrent dropout
        ints, ab = gemm_scratch(hs)
        for t in range(steps):
            if drop is None:
                mm_w(hs[t, b0:b1], whh, w_t, gh, gemm, ints, ab)
            else:
                masked_rows(hs[t, b0:b1], drop[b0:b1], hm)
                mm_w(hm, whh, w_t, gh, gemm, ints, ab)
            tt = t if gi.shape[0] == steps else 0  # gi's step: t, or 0 for the scratch
            if xk is not None:  # narrow input: this step's projections, before the gates
                for b in range(b0, b1):
                    _project_row(xk[t, b], wi_t, bih, gi[0, b])
            for i in range(b1 - b0):
                b = b0 + i
                hi, ho = hs[t, b], hs[t + 1, b]
                if t >= lens[b]:
                    ho[:] = 0
                    if y is not None:
                        y[t, b, :] = 0
                    continue
                row = gi[tt, b]  # (3H,)
                xr, xz, xn = row[:hid], row[hid:2 * hid], row[2 * hid:]
                hr, hz, hn_ = gh[i, :hid], gh[i, hid:2 * hid], gh[i, 2 * hid:]
                if zone is not None:
                    mz = zone[t, b]
                if train:  # two copies of the loop: a store under a branch blocks vectorising
                    sv = save[t, b]
                    for j in range(hid):
                        r, z, n, ghn, hj = _unit_after(xr[j], xz[j], xn[j], hr[j], hz[j],
                                                       hn_[j], br[j], bz[j], bn[j], hi[j])
                        if zone is not None:
                            hj = _zone(mz[j], hi[j], hj)
                        ho[j] = hj
                        sv[j] = r
                        sv[hid + j] = z
                        sv[2 * hid + j] = n
                        sv[3 * hid + j] = ghn
                    if y is not None:  # after the loop: a second store in it, where y may
                        copy_into(y[t, b], ho)  # be hs, keeps LLVM from vectorising it
                else:
                    for j in range(hid):
                        hj = _unit_after(xr[j], xz[j], xn[j], hr[j], hz[j], hn_[j], br[j],
                                         bz[j], bn[j], hi[j])[4]
                        if zone is not None:
                            hj = _zone(mz[j], hi[j], hj)
                        ho[j] = hj
        for b in range(b0, b1):  # each row's state at its own last step
            copy_into(hn[b], hs[lens[b], b])


@chunked_kernel
def _fwd_before(gi, xk, wi_t, bih, wrz, wn, w_t, hs, lens, hn, y, save, drop, zone, train,
                gemm, nchunk):
    """reset_after=False. gi, or xk, wi_t and bih, as in _fwd_after; wrz = W_hh[:2H] (2H,H),
    wn = W_hh[2H:] (H,H), or with w_t their transposed copies (H,2H) and (H,H); hs, hn, drop
    and zone as in _fwd_after; when train
    also y and save (T,B,3H) = [r, z, n]."""
    steps, batch, g3 = hs.shape[0] - 1, gi.shape[1], gi.shape[2]
    hid = g3 // 3  # from gi's width: LLVM then vectorises the gate loops over its slices
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        nb = b1 - b0
        ghrz = np.empty((nb, 2 * hid), hs.dtype)  # (nb, 2H)
        rh = np.zeros((nb, hid), hs.dtype)  # (nb, H): r ⊙ h (r ⊙ d ⊙ h with dropout)
        zs = np.empty((nb, hid), hs.dtype)
        q = np.empty((nb, hid), hs.dtype)  # (nb, H): W_hn (r ⊙ h)
        hm = np.empty((nb, hid), hs.dtype)  # (nb, H): d ⊙ h, with recurrent dropout
        ints, ab = gemm_scratch(hs)
        for t in range(steps):
            if drop is None:
                mm_w(hs[t, b0:b1], wrz, w_t, ghrz, gemm, ints, ab)
                hv = hs[t, b0:b1]  # (nb, H): the state the products read
            else:
                masked_rows(hs[t, b0:b1], drop[b0:b1], hm)
                mm_w(hm, wrz, w_t, ghrz, gemm, ints, ab)
                hv = hm
            for i in range(nb):
                b = b0 + i
                if t >= lens[b]:
                    if train:  # backward forms r ⊙ h_{t−1} from it: no stale NaN there
                        save[t, b, :] = 0
                    continue
                row = gi[t if gi.shape[0] == steps else 0, b]  # (3H,), as in _fwd_after
                if xk is not None:
                    _project_row(xk[t, b], wi_t, bih, row)
                xr, xz = row[:hid], row[hid:2 * hid]
                hr, hz = ghrz[i, :hid], ghrz[i, hid:]
                hi, rhi, zi = hv[i], rh[i], zs[i]
                if train:
                    sv = save[t, b]
                    for j in range(hid):
                        r, z, rhi[j] = _gates_before(xr[j], xz[j], hr[j], hz[j], hi[j])
                        zi[j] = z
                        sv[j] = r
                        sv[hid + j] = z
                else:
                    for j in range(hid):
                        _, zi[j], rhi[j] = _gates_before(xr[j], xz[j], hr[j], hz[j], hi[j])
            mm_w(rh, wn, w_t, q, gemm, ints, ab)
            for i in range(nb):
                b = b0 + i
                ho = hs[t + 1, b]
                if t >= lens[b]:
                    ho[:] = 0
                    if y is not None:
                        y[t, b, :] = 0
                    continue
                xn = gi[t if gi.shape[0] == steps else 0, b, 2 * hid:]
                qi, hi, zi = q[i], hs[t, b], zs[i]
                if zone is not None:
                    mz = zone[t, b]
                if train:
                    sn = save[t, b, 2 * hid:]
                    for j in range(hid):
                        n, hj = _unit_before(xn[j], qi[j], zi[j], hi[j])
                        if zone is not None:
                            hj = _zone(mz[j], hi[j], hj)
                        ho[j] = hj
                        sn[j] = n
                    if y is not None:  # after the loop, as in _fwd_after
                        copy_into(y[t, b], ho)
                else:
                    for j in range(hid):
                        hj = _unit_before(xn[j], qi[j], zi[j], hi[j])[1]
                        if zone is not None:
                            hj = _zone(mz[j], hi[j], hj)
                        ho[j] = hj
        for b in range(b0, b1):  # each row's state at its own last step
            copy_into(hn[b], hs[lens[b], b])


def _masks(state_mask: Tensor | None, zone_bt: Tensor | None):
    """The kernels' masks: drop (B, H) and zone time-major (T, B, H), C-contiguous, or None."""
    drop = None if state_mask is None else arr(state_mask)  # (B, H)
    zone = None if zone_bt is None else arr(zone_bt.transpose(0, 1))  # (T, B, H)
    return drop, zone


def _forward(xt: Tensor, gi: Tensor | None, w_ih: Tensor, b_ih: Tensor | None, w_hh: Tensor,
             b_hh: Tensor | None, h0: Tensor, lens: np.ndarray, reset_after: bool, train: bool,
             drop=None, zone=None, y_in_hs: bool = False):
    """xt (T, B, I) and gi (T, B, 3H), or gi None for a narrow input (projected in the
    kernel from xt, w_ih and b_ih) -> y (B, T, H) (a time-major buffer seen batch-first;
    hs[1:] unless train, or with y_in_hs), hs (T+1, B, H) = [h0, y], h_n (B, H), saved gates
    or None. drop (B, H) and zone (T, B, H): numpy masks or None."""
    steps, batch, hid = xt.shape[0], xt.shape[1], w_hh.shape[1]
    g3 = 3 * hid
    dtype = _pool.numpy_dtype(xt.dtype)
    hs = _pool.empty((steps + 1, batch, hid), dtype)
    hs[0] = h0.detach().numpy()
    hn = np.empty((batch, hid), hs.dtype)
    own = train and not y_in_hs  # y a buffer of its own, written beside hs
    yk = _pool.empty((steps, batch, hid), hs.dtype) if own else None
    y = yk if own else hs[1:]
    save = (_pool.empty((steps, batch, 4 * hid if reset_after else 3 * hid), dtype) if train
            else np.empty((1, 1, 1), dtype))  # not written in inference
    w = w_hh.detach()
    if gi is None:  # the kernel projects each row: x (T, B, I), W_ihᵀ (I, 3H), b_ih (3H,)
        proj = (np.empty((1, batch, g3), dtype), xt.numpy(), arr(w_ih.t()),
                arr(b_ih) if b_ih is not None else np.zeros(g3, dtype))
    else:
        proj = (gi.numpy(), None, None, None)
    gemm = gemm_address(hs.dtype)
    w_t = transposes_pay(batch, steps, hid)
    with kernel_threads(batch, gemm) as nchunk:
        if reset_after:
            bias = arr(b_hh) if b_hh is not None else np.zeros(g3, hs.dtype)
            _fwd_after(*proj, arr(w.t() if w_t else w), w_t, bias, hs, lens, hn, yk, save,
                       drop, zone, train, gemm, nchunk)
        else:
            wrz, wn = w[:2 * hid], w[2 * hid:]
            _fwd_before(*proj, arr(wrz.t() if w_t else wrz), arr(wn.t() if w_t else wn), w_t,
                        hs, lens, hn, yk, save, drop, zone, train, gemm, nchunk)
    saved = torch.from_numpy(save) if train else None
    yb = torch.from_numpy(y.transpose(1, 0, 2))  # not a torch view: callers may modify it
    return yb, torch.from_numpy(hs), torch.from_numpy(hn), saved


def _project(x: Tensor, w_ih: Tensor, b_ih: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """x (B, T, I) -> x time-major (T, B, I) and gi = x W_ihᵀ + b_ih (T, B, 3H), contiguous;
    gi is None for inputs at most ``NARROW`` wide (the kernel projects them)."""
    xt = x.detach().transpose(0, 1).contiguous()  # (T, B, I)
    if xt.shape[2] <= NARROW:
        return xt, None
    return xt, _pool.linear(xt, w_ih, b_ih)


class _GRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, lens, reset_after, state_mask, zone_bt):
        xt, gi = _project(x, w_ih, b_ih)
        drop, zone = _masks(state_mask, zone_bt)
        y, hs, hn, save = _forward(xt, gi, w_ih, b_ih, w_hh, b_hh, h0, lens, reset_after, True,
                                   drop, zone)
        ctx.save_for_backward(xt, w_ih, w_hh, hs, save)
        ctx.set_materialize_grads(False)  # an unused y or h_n: None, not a zero tensor to copy
        ctx.lens, ctx.reset_after, ctx.drop, ctx.zone = lens, reset_after, drop, zone
        ctx.has_b = (b_ih is not None, b_hh is not None)
        return y, hn

    @staticmethod
    def backward(ctx, dy, dhn):
        first_order_only(ctx, "the fused CPU GRU kernel")
        xt, w_ih, w_hh, hs, save = ctx.saved_tensors
        grads = backward(dy, dhn, xt, w_ih, w_hh, hs, save, ctx.lens, ctx.reset_after,
                         ctx.drop, ctx.zone, ctx.has_b, ctx.needs_input_grad[0])
        return (*grads, None, None, None, None)


def backward(dy: Tensor | None, dhn: Tensor | None, xt: Tensor, w_ih: Tensor, w_hh: Tensor,
             hs: Tensor, save: Tensor, lens: np.ndarray, reset_after: bool, drop, zone,
             has_b: tuple[bool, bool], need_dx: bool):
    """Gradients of one training forward (xt (T, B, I), hs (T+1, B, H) and the saved gates)
    -> dx (B, T, I) or None, dW_ih, dW_hh, db_ih or None, db_hh or None, dh0 (B, H)."""
    steps, batch, hid = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    dtype = save.numpy().dtype
    dyt = None if dy is None else arr(dy.transpose(0, 1))  # (T, B, H): none made for None
    dhn = np.zeros((batch, hid), dtype) if dhn is None else arr(dhn)
    dh0 = np.empty((batch, hid), dtype)
    hp = hs[:-1]  # (T, B, H): h_{t−1}
    if drop is not None:
        hp = torch.mul(hp, torch.from_numpy(drop),  # ĥ = d ⊙ h_{t−1}: what W_hh multiplied
                       out=_pool.tensor(tuple(hp.shape), hp.dtype))
    hp = hp.reshape(-1, hid)  # (T·B, H)
    xf = xt.reshape(-1, xt.shape[2])  # (T·B, I)
    w, wi = w_hh.detach(), w_ih.detach()
    gemm = gemm_address(dtype)
    if reset_after:
        dgb = _pool.empty((steps, batch, 4 * hid), dtype)
        with kernel_threads(batch, gemm) as nchunk:
            dbc = np.zeros((nchunk, 4 * hid), dtype)  # per-chunk bias sums
            bwd_after(dyt, dhn, arr(w), hs.numpy(), save.numpy(), lens, drop, zone, dgb, dbc,
                      dh0, gemm, nchunk)
        dg4 = torch.from_numpy(dgb).reshape(-1, 4 * hid)  # (T·B, 4H) = [n, r, z, n ⊙ r]
        dgi = dg4[:, :3 * hid]  # (T·B, 3H), gates in n, r, z order
        dw_hh = dg4[:, hid:].t() @ hp  # (3H, H)
        db = torch.from_numpy(dbc.sum(0)) if any(has_b) else None  # (4H,)
        db_hh = db[hid:] if has_b[1] else None
        db_ih = torch.cat([db[hid:3 * hid], db[:hid]]) if has_b[0] else None
        dw_nrz = dgi.t() @ xf  # (3H, I), rows n, r, z
        dw_ih = torch.cat([dw_nrz[hid:], dw_nrz[:hid]])
        wi = torch.cat([wi[2 * hid:], wi[:2 * hid]])  # rows n, r, z, to meet dgi
    else:
        dgn = _pool.empty((steps, batch, 3 * hid), dtype)
        with kernel_threads(batch, gemm) as nchunk:
            bwd_before(dyt, dhn, arr(w[:2 * hid]), arr(w[2 * hid:]), hs.numpy(), save.numpy(),
                       lens, drop, zone, dgn, dh0, gemm, nchunk)
        dgi = torch.from_numpy(dgn).reshape(-1, 3 * hid)  # (T·B, 3H)
        rh = save[..., :hid].reshape(-1, hid) * hp  # (T·B, H): r ⊙ ĥ
        dw_hh = torch.cat([dgi[:, :2 * hid].t() @ hp, dgi[:, 2 * hid:].t() @ rh])
        db_hh = None  # reset_after=False has no recurrent bias
        db_ih = dgi.sum(0) if has_b[0] else None
        dw_ih = dgi.t() @ xf  # (3H, I)
    dx = None
    if need_dx:
        dx = (dgi @ wi).reshape(steps, batch, -1).transpose(0, 1)  # (B, T, I)
    return dx, dw_ih, dw_hh, db_ih, db_hh, torch.from_numpy(dh0)


def gru_cpu_plain(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
                  bias_hh: Tensor | None, h0: Tensor | None,
                  reset_after: bool) -> tuple[Tensor, Tensor]:
    """``gru_cpu``'s inference for a call its entry found plain (``_cpu.plain``: no
    lengths, masks, reverse or gradient; valid shapes): x (B, T, I), h0 (B, H) or None
    (zeros) -> y (B, T, H), h_n (B, H)."""
    batch, steps = x.shape[0], x.shape[1]
    if h0 is None:
        h0 = x.new_zeros(batch, weight_hh.shape[1])  # (B, H)
    xt, gi = _project(x, weight_ih, bias_ih)  # (T, B, I), (T, B, 3H) or None
    y, _, hn, _ = _forward(xt, gi, weight_ih, bias_ih, weight_hh, bias_hh, h0,
                           np.full(batch, steps, np.int64), reset_after, False)
    return y, hn


def gru_cpu(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
            bias_hh: Tensor | None, *, h0: Tensor, lengths: Tensor | None,
            reset_after: bool, reverse: bool, state_mask: Tensor | None = None,
            zoneout_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The ``grukit.ops.gru`` signature on the fused CPU kernels. x (B, T, I) -> y, h_n.
    Masks get no gradient (the entry's why_not refuses masks that require one)."""
    along = () if zoneout_mask is None else (zoneout_mask,)
    grad_inputs = (weight_ih, weight_hh, bias_ih, bias_hh, h0)
    if torch.compiler.is_compiling():  # compile and export trace the ops of .library
        from .library import traced_runs

        train, infer = traced_runs(weight_ih, weight_hh, bias_ih, bias_hh, h0, lengths,
                                   reset_after, state_mask)
        y, (hn,) = run_fused(x, lengths, reverse, grad_inputs, train, infer, along)
        return y, hn
    lens = lens_array(lengths, x.shape[0], x.shape[1])

    def train(xs: Tensor, *zm: Tensor):
        zone = zm[0].detach() if zm else None  # (B, T, H), in the direction of xs
        drop = None if state_mask is None else state_mask.detach()
        y, hn = _GRUFunction.apply(xs, weight_ih, weight_hh, bias_ih, bias_hh, h0, lens,
                                   reset_after, drop, zone)
        return y, (hn,)

    def infer(xs: Tensor, *zm: Tensor):  # every tensor is detached on the way in
        xt, gi = _project(xs, weight_ih, bias_ih)  # (T, B, I), (T, B, 3H) or None
        drop, zone = _masks(state_mask, zm[0] if zm else None)
        y, _, hn, _ = _forward(xt, gi, weight_ih, bias_ih, weight_hh, bias_hh, h0, lens,
                               reset_after, False, drop, zone)
        return y, (hn,)

    y, (hn,) = run_fused(x, lengths, reverse, grad_inputs, train, infer, along)
    return y, hn
