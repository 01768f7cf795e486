"""Fused CPU GRU (numba): forward and backward, both reset-gate placements.

Plan per call (B batch, T steps, H hidden):

- the input projection of all steps is one GEMM in torch: gi = x W_ihᵀ + b_ih  (B, T, 3H);
- the serial loop does one small GEMM per step, h W_hhᵀ (two for reset_after=False: the
  r, z rows, then W_hn (r ⊙ h)), with the gate math fused in one pass over (rows, H);
- rows are split into one chunk per thread *outside* the time loop, so each thread runs the
  whole recurrence of its rows with no per-step synchronisation;
- backward walks time in reverse producing dgi (= ∂L/∂(W_ih x + b_ih)) and dgh per step; the
  weight gradients are then single GEMMs in torch: dW_hh = Σ_t dghᵀ h_{t−1}, dW_ih = dgiᵀ x.

Equations: see ``grukit.ops.gru``. Backward, reset_after=True (a = pre-activations, g = ∂L/∂h_t):

    dz = g ⊙ (h_{t−1} − n)     a_n = g ⊙ (1 − z) ⊙ (1 − n²)
    a_r = a_n ⊙ gh_n ⊙ r(1 − r)   a_z = dz ⊙ z(1 − z)
    dgi = [a_r, a_z, a_n]   dgh = [a_r, a_z, a_n ⊙ r]   ∂L/∂h_{t−1} = g ⊙ z + dgh W_hh

reset_after=False: d(r ⊙ h) = a_n W_hn, a_r = d(r ⊙ h) ⊙ h_{t−1} ⊙ r(1 − r),
∂L/∂h_{t−1} = g ⊙ z + d(r ⊙ h) ⊙ r + [a_r, a_z] W_hh[:2H].
Steps at or past a sequence's length leave its state alone and pass g through unchanged.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from numba import njit, prange
from torch import Tensor

from .._cpu import arr, kernel_threads, lens_array, needs_grad
from .._cpu_math import add_into, copy_into, one, sigmoid, tanh
from .._jit import chunked_kernel
from .._seq import run_directed

# Buffers are batch-major, (B, T, ·), so x, y and their gradients need no transposes. Gate
# loops index 1-D row views (gi[b, t, :H], ...) with the range variable j only: numba then
# needs no negative-index checks and LLVM vectorises the loop (about 8x faster).


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _unit_after(xr, xz, xn, hr, hz, hn, br, bz, bn, h):
    """One unit of a reset_after step -> (r, z, n, gh_n, h')."""
    r = sigmoid(xr + hr + br)
    z = sigmoid(xz + hz + bz)
    ghn = hn + bn
    n = tanh(xn + r * ghn)
    return r, z, n, ghn, n + z * (h - n)  # h' = (1 − z) n + z h


@chunked_kernel
def _fwd_after(gi, whh_t, bhh, h0, lens, y, hn, save, train, nchunk):
    """gi (B,T,3H), whh_t (H,3H), bhh (3H,), h0 (B,H), lens (B,) -> y (B,T,H), hn (B,H),
    save (B,T,4H) = [r, z, n, gh_n] when train."""
    batch, steps, g3 = gi.shape
    hid = g3 // 3
    br, bz, bn = bhh[:hid], bhh[hid:2 * hid], bhh[2 * hid:]
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        h = h0[b0:b1].copy()  # (nb, H)
        gh = np.empty((b1 - b0, g3), gi.dtype)  # (nb, 3H)
        for t in range(steps):
            np.dot(h, whh_t, gh)
            for i in range(b1 - b0):
                b = b0 + i
                yb = y[b, t]
                if t >= lens[b]:
                    yb[:] = 0
                    continue
                xr, xz, xn = gi[b, t, :hid], gi[b, t, hid:2 * hid], gi[b, t, 2 * hid:]
                hr, hz, hn_ = gh[i, :hid], gh[i, hid:2 * hid], gh[i, 2 * hid:]
                hi = h[i]
                if train:  # two copies of the loop: a store under a branch blocks vectorising
                    sr, sz = save[b, t, :hid], save[b, t, hid:2 * hid]
                    sn, sg = save[b, t, 2 * hid:3 * hid], save[b, t, 3 * hid:]
                    for j in range(hid):
                        r, z, n, ghn, hj = _unit_after(xr[j], xz[j], xn[j], hr[j], hz[j],
                                                       hn_[j], br[j], bz[j], bn[j], hi[j])
                        hi[j] = hj
                        yb[j] = hj
                        sr[j] = r
                        sz[j] = z
                        sn[j] = n
                        sg[j] = ghn
                else:
                    for j in range(hid):
                        hj = _unit_after(xr[j], xz[j], xn[j], hr[j], hz[j], hn_[j], br[j],
                                         bz[j], bn[j], hi[j])[4]
                        hi[j] = hj
                        yb[j] = hj
        hn[b0:b1] = h


@chunked_kernel
def _bwd_after(dy, dhn, whh, h0, y, save, lens, dgi, dghn, dh0, nchunk):
    """dy (B,T,H), dhn (B,H), whh (3H,H) -> dgi (B,T,3H), dghn (B,T,H) = a_n ⊙ r (the n
    block of dgh; its r, z blocks equal dgi's), dh0 (B,H)."""
    batch, steps, hid = dy.shape
    one_ = one(dy)
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        dh = dhn[b0:b1].copy()  # (nb, H)
        step = np.zeros((b1 - b0, 3 * hid), dy.dtype)  # (nb, 3H): dgh at step t
        back = np.empty_like(dh)  # (nb, H)
        for t in range(steps - 1, -1, -1):
            for i in range(b1 - b0):
                b = b0 + i
                gi_, gh_, ghn_ = dgi[b, t], step[i], dghn[b, t]
                if t >= lens[b]:
                    gi_[:] = 0
                    gh_[:] = 0
                    ghn_[:] = 0
                    continue
                sr, sz = save[b, t, :hid], save[b, t, hid:2 * hid]
                sn, sg = save[b, t, 2 * hid:3 * hid], save[b, t, 3 * hid:]
                dyb, dhi = dy[b, t], dh[i]
                hp = y[b, t - 1] if t > 0 else h0[b]
                ar_, az_, an_ = gh_[:hid], gh_[hid:2 * hid], gh_[2 * hid:]
                for j in range(hid):
                    g = dhi[j] + dyb[j]
                    r, z, n = sr[j], sz[j], sn[j]
                    an = g * (one_ - z) * (one_ - n * n)
                    ar_[j] = an * sg[j] * r * (one_ - r)
                    az_[j] = g * (hp[j] - n) * z * (one_ - z)
                    an_[j] = an
                    dhi[j] = g * z
                copy_into(gi_, gh_)  # dgi = [a_r, a_z, a_n]
                for j in range(hid):
                    an_[j] *= sr[j]  # dgh = [a_r, a_z, a_n ⊙ r]
                copy_into(ghn_, an_)
            np.dot(step, whh, back)
            for i in range(b1 - b0):
                if t < lens[b0 + i]:
                    add_into(dh[i], back[i])
        dh0[b0:b1] = dh


@chunked_kernel
def _fwd_before(gi, wrz_t, wn_t, h0, lens, y, hn, save, train, nchunk):
    """reset_after=False. wrz_t (H,2H) = W_hh[:2H]ᵀ, wn_t (H,H) = W_hh[2H:]ᵀ;
    save (B,T,3H) = [r, z, n] when train."""
    batch, steps, g3 = gi.shape
    hid = g3 // 3
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        nb = b1 - b0
        h = h0[b0:b1].copy()  # (nb, H)
        ghrz = np.empty((nb, 2 * hid), gi.dtype)  # (nb, 2H)
        rh = np.empty((nb, hid), gi.dtype)  # (nb, H): r ⊙ h
        rs = np.empty((nb, hid), gi.dtype)
        zs = np.empty((nb, hid), gi.dtype)
        q = np.empty((nb, hid), gi.dtype)  # (nb, H): W_hn (r ⊙ h), then n
        for t in range(steps):
            np.dot(h, wrz_t, ghrz)
            for i in range(nb):
                b = b0 + i
                xr, xz = gi[b, t, :hid], gi[b, t, hid:2 * hid]
                hr, hz = ghrz[i, :hid], ghrz[i, hid:]
                hi, rhi, ri, zi = h[i], rh[i], rs[i], zs[i]
                for j in range(hid):
                    ri[j] = sigmoid(xr[j] + hr[j])
                    zi[j] = sigmoid(xz[j] + hz[j])
                    rhi[j] = ri[j] * hi[j]
                if train:  # stored outside the gate loop (see _fwd_after)
                    copy_into(save[b, t, :hid], ri)
                    copy_into(save[b, t, hid:2 * hid], zi)
            np.dot(rh, wn_t, q)
            for i in range(nb):
                b = b0 + i
                yb = y[b, t]
                if t >= lens[b]:
                    yb[:] = 0
                    continue
                xn, qi, hi, zi = gi[b, t, 2 * hid:], q[i], h[i], zs[i]
                for j in range(hid):
                    n = tanh(xn[j] + qi[j])
                    hj = n + zi[j] * (hi[j] - n)
                    hi[j] = hj
                    yb[j] = hj
                    qi[j] = n
                if train:
                    copy_into(save[b, t, 2 * hid:], qi)
        hn[b0:b1] = h


@chunked_kernel
def _bwd_before(dy, dhn, wrz, wn, h0, y, save, lens, dgi, dh0, nchunk):
    """reset_after=False. wrz (2H,H) = W_hh[:2H], wn (H,H) = W_hh[2H:] -> dgi (B,T,3H), dh0."""
    batch, steps, hid = dy.shape
    one_ = one(dy)
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        nb = b1 - b0
        dh = dhn[b0:b1].copy()  # (nb, H)
        gs = np.empty_like(dh)  # ∂L/∂h_t
        an = np.empty_like(dh)  # a_n
        drh = np.empty_like(dh)  # ∂L/∂(r ⊙ h)
        arz = np.empty((nb, 2 * hid), dy.dtype)  # [a_r, a_z]
        back = np.empty_like(dh)
        for t in range(steps - 1, -1, -1):
            for i in range(nb):
                b = b0 + i
                if t >= lens[b]:
                    an[i] = 0
                    continue
                sz, sn = save[b, t, hid:2 * hid], save[b, t, 2 * hid:]
                dyb, dhi = dy[b, t], dh[i]
                hp = y[b, t - 1] if t > 0 else h0[b]
                gi_, ani, azi = gs[i], an[i], arz[i, hid:]
                for j in range(hid):
                    g = dhi[j] + dyb[j]
                    z, n = sz[j], sn[j]
                    gi_[j] = g
                    ani[j] = g * (one_ - z) * (one_ - n * n)
                    azi[j] = g * (hp[j] - n) * z * (one_ - z)
            np.dot(an, wn, drh)
            for i in range(nb):
                b = b0 + i
                dgb = dgi[b, t]
                if t >= lens[b]:
                    dgb[:] = 0
                    arz[i] = 0
                    continue
                sr, sz = save[b, t, :hid], save[b, t, hid:2 * hid]
                hp = y[b, t - 1] if t > 0 else h0[b]
                dhi, dri, gi_, ani = dh[i], drh[i], gs[i], an[i]
                ari, azi = arz[i, :hid], arz[i, hid:]
                for j in range(hid):
                    r = sr[j]
                    ari[j] = dri[j] * hp[j] * r * (one_ - r)
                    dhi[j] = gi_[j] * sz[j] + dri[j] * r
                copy_into(dgb[:2 * hid], arz[i])
                copy_into(dgb[2 * hid:], ani)
            np.dot(arz, wrz, back)
            for i in range(nb):
                if t < lens[b0 + i]:
                    add_into(dh[i], back[i])
        dh0[b0:b1] = dh


def _forward(gi: Tensor, w_hh: Tensor, b_hh: Tensor | None, h0: Tensor, lens: np.ndarray,
             reset_after: bool, train: bool):
    """gi (B, T, 3H) -> y (B, T, H), h_n (B, H), saved gates (B, T, 4H or 3H) or None."""
    batch, steps, g3 = gi.shape
    hid = g3 // 3
    y = np.empty((batch, steps, hid), gi.numpy().dtype)
    hn = np.empty((batch, hid), y.dtype)
    save = np.empty((batch, steps, 4 * hid if reset_after else 3 * hid) if train else (1, 1, 1),
                    y.dtype)
    w = w_hh.detach()
    with kernel_threads(batch) as nchunk:
        if reset_after:
            bias = arr(b_hh) if b_hh is not None else np.zeros(g3, y.dtype)
            _fwd_after(gi.numpy(), arr(w.t()), bias, arr(h0), lens, y, hn, save, train, nchunk)
        else:
            _fwd_before(gi.numpy(), arr(w[:2 * hid].t()), arr(w[2 * hid:].t()), arr(h0), lens,
                        y, hn, save, train, nchunk)
    return torch.from_numpy(y), torch.from_numpy(hn), torch.from_numpy(save) if train else None


class _GRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, lens, reset_after):
        gi = F.linear(x, w_ih, b_ih).contiguous()  # (B, T, 3H)
        y, hn, save = _forward(gi, w_hh, b_hh, h0, lens, reset_after, True)
        ctx.save_for_backward(x, w_ih, w_hh, h0, y, save)
        ctx.lens, ctx.reset_after = lens, reset_after
        ctx.has_b = (b_ih is not None, b_hh is not None)
        return y, hn

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy, dhn):
        x, w_ih, w_hh, h0, y, save = ctx.saved_tensors
        batch, steps, hid = y.shape
        dy = torch.zeros_like(y) if dy is None else dy
        dhn = torch.zeros_like(h0) if dhn is None else dhn
        dgi = np.empty((batch, steps, 3 * hid), y.numpy().dtype)
        dh0 = np.empty((batch, hid), dgi.dtype)
        hprev = torch.cat([h0.detach().unsqueeze(1), y[:, :-1]], dim=1)  # (B, T, H)
        w = w_hh.detach()
        with kernel_threads(batch) as nchunk:
            if ctx.reset_after:
                dghn = np.empty((batch, steps, hid), dgi.dtype)
                _bwd_after(arr(dy), arr(dhn), arr(w), arr(h0), y.numpy(), save.numpy(),
                           ctx.lens, dgi, dghn, dh0, nchunk)
            else:
                _bwd_before(arr(dy), arr(dhn), arr(w[:2 * hid]), arr(w[2 * hid:]), arr(h0),
                            y.numpy(), save.numpy(), ctx.lens, dgi, dh0, nchunk)
        dg = torch.from_numpy(dgi).reshape(-1, 3 * hid)  # (B·T, 3H)
        hp = hprev.reshape(-1, hid)  # (B·T, H)
        db_hh = None
        if ctx.reset_after:  # dgh = [a_r, a_z, a_n ⊙ r]
            dgn = torch.from_numpy(dghn).reshape(-1, hid)  # (B·T, H)
            dw_hh = torch.cat([dg[:, :2 * hid].t() @ hp, dgn.t() @ hp])  # (3H, H)
            if ctx.has_b[1]:
                db_hh = torch.cat([dg[:, :2 * hid].sum(0), dgn.sum(0)])
        else:
            rh = (save[..., :hid] * hprev).reshape(-1, hid)  # r ⊙ h_{t−1}
            dw_hh = torch.cat([dg[:, :2 * hid].t() @ hp, dg[:, 2 * hid:].t() @ rh])  # (3H, H)
        dx = (dg @ w_ih.detach()).reshape(x.shape) if ctx.needs_input_grad[0] else None
        dw_ih = dg.t() @ x.detach().reshape(-1, x.shape[2])  # (3H, I)
        db_ih = dg.sum(0) if ctx.has_b[0] else None
        return dx, dw_ih, dw_hh, db_ih, db_hh, torch.from_numpy(dh0), None, None


def gru_cpu(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
            bias_hh: Tensor | None, *, h0: Tensor, lengths: Tensor | None,
            reset_after: bool, reverse: bool) -> tuple[Tensor, Tensor]:
    """The ``grukit.ops.gru`` signature on the fused CPU kernels. x (B, T, I) -> y, h_n."""
    lens = lens_array(lengths, x.shape[0], x.shape[1])

    def run(xs: Tensor):
        if needs_grad(xs, weight_ih, weight_hh, bias_ih, bias_hh, h0):
            y, hn = _GRUFunction.apply(xs, weight_ih, weight_hh, bias_ih, bias_hh, h0, lens,
                                       reset_after)
        else:
            with torch.no_grad():
                gi = F.linear(xs, weight_ih, bias_ih).contiguous()  # (B, T, 3H)
                y, hn, _ = _forward(gi, weight_hh, bias_hh, h0, lens, reset_after, False)
        return y, (hn,)

    y, (hn,) = run_directed(run, x, lengths, reverse)
    return y, hn


@njit(fastmath=True, error_model="numpy", cache=True)
def stream_step(x, h, params, reset_after):
    """One GRU step of every layer for a single sequence: x (I,), h (L, H) updated in place.

    ``params`` packs each layer as [W_ihᵀ (In·3H), W_hhᵀ (H·3H), b_ih (3H), b_hh (3H)],
    row-major, layer after layer; the products run along contiguous rows of the transposed
    weights (vectorised axpy, no BLAS call). One call per step: the streaming fast path.
    """
    layers, hid = h.shape
    g3 = 3 * hid
    at = 0
    for layer in range(layers):
        xin = x if layer == 0 else h[layer - 1]
        inp = xin.shape[0]
        wih_t = params[at:at + g3 * inp].reshape((inp, g3))
        at += g3 * inp
        whh_t = params[at:at + g3 * hid].reshape((hid, g3))
        at += g3 * hid
        gi = params[at:at + g3].copy()  # (3H,): W_ih x + b_ih
        gh = params[at + g3:at + 2 * g3].copy()  # (3H,): W_hh h + b_hh
        at += 2 * g3
        hl = h[layer]
        for k in range(inp):
            xk, row = xin[k], wih_t[k]
            for j in range(g3):
                gi[j] += row[j] * xk
        gir, giz, gin = gi[:hid], gi[hid:2 * hid], gi[2 * hid:]
        ghr, ghz, ghn = gh[:hid], gh[hid:2 * hid], gh[2 * hid:]
        if reset_after:
            for k in range(hid):
                hk, row = hl[k], whh_t[k]
                for j in range(g3):
                    gh[j] += row[j] * hk
            for j in range(hid):
                r = sigmoid(gir[j] + ghr[j])
                z = sigmoid(giz[j] + ghz[j])
                n = tanh(gin[j] + r * ghn[j])
                hl[j] = n + z * (hl[j] - n)
        else:  # no recurrent bias: gh = [W_hr h; W_hz h; W_hn (r ⊙ h)]
            gh[:] = 0
            for k in range(hid):
                hk, row = hl[k], whh_t[k, :2 * hid]
                for j in range(2 * hid):
                    gh[j] += row[j] * hk
            rh = np.empty(hid, h.dtype)
            for j in range(hid):
                rh[j] = sigmoid(gir[j] + ghr[j]) * hl[j]
            for k in range(hid):
                rk, row = rh[k], whh_t[k, 2 * hid:]
                for j in range(hid):
                    ghn[j] += row[j] * rk
            for j in range(hid):
                z = sigmoid(giz[j] + ghz[j])
                n = tanh(gin[j] + ghn[j])
                hl[j] = n + z * (hl[j] - n)
