"""numba kernels of the fused CPU LayerNorm-GRU (see ``cpu`` for the plan and the math).

Buffers are time-major, (T, B, ·), as in ``grukit.ops.gru.cpu``: hs (T+1, B, H) holds
[h0, h_1, ..., h_T]; rows past a sequence's length hold 0 and never restart. Each chunk of
rows runs the whole recurrence on one thread. The forward kernels take ``train``: when it
is False the saved buffers (y, save, phat, rstd) have one time row, rewritten every step
(a store under a branch would keep LLVM from vectorising the gate loops). ``mask`` (B, H)
multiplies the state fed to the recurrent products (recurrent dropout; ones without it):
they read hm = h_{t−1} ⊙ m, the update reads h_{t−1}.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .._cpu_math import copy_into, one, sigmoid, tanh
from .._gemm import gemm_scratch, mm, mm_w
from .._jit import chunked_kernel
from .reference import EPS


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _normalise(v, out):
    """out (G,) = (v − mean v) · s for v (G,) (out may be v); returns s = 1 / sqrt(var v + ε)
    (float64 moments, two passes, of v − v[0]: a row of equal values gives exactly 0,
    where a float64 mean of them may miss them by an ulp, normalised to up to ±1)."""
    g = v.shape[0]
    v0 = np.float64(v[0])
    acc = 0.0
    for j in range(g):
        acc += v[j] - v0
    mean = acc / g  # mean v − v[0]
    acc = 0.0
    for j in range(g):
        d = (v[j] - v0) - mean
        acc += d * d
    s = 1.0 / math.sqrt(acc / g + EPS)
    for j in range(g):
        out[j] = ((v[j] - v0) - mean) * s
    return s


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _normalise_back(d, ph, s):
    """In place: d (G,) = ∂L/∂v̂ becomes ∂L/∂v for v̂ = ph = (v − mean v) · s, i.e.
    s · (d − mean(d) − v̂ ⊙ mean(d ⊙ v̂))."""
    g = d.shape[0]
    a = 0.0
    c = 0.0
    for j in range(g):
        a += d[j]
        c += d[j] * ph[j]
    a /= g
    c /= g
    for j in range(g):
        d[j] = s * (d[j] - a - ph[j] * c)


@njit(inline="always", cache=True)
def _zero(row):
    for j in range(row.shape[0]):
        row[j] = 0


@njit(inline="always", cache=True)
def _masked_rows(hm, hs_t, mask, b0):
    """hm (nb, H) = hs_t[b0:b0+nb] ⊙ mask[b0:b0+nb]: the states the recurrent GEMM reads."""
    for i in range(hm.shape[0]):
        hi, mi, out = hs_t[b0 + i], mask[b0 + i], hm[i]
        for j in range(out.shape[0]):
            out[j] = hi[j] * mi[j]


@njit(inline="always", cache=True)
def _add_masked(dst, src, m):
    """dst += src ⊙ m as a plain loop."""
    for j in range(dst.shape[0]):
        dst[j] += src[j] * m[j]


@chunked_kernel
def fwd_after(gi, whh, w_t, g_hh, c_hh, hs, mask, lens, hn, y, save, phat, rstd, train,
              gemm, nchunk):
    """reset_after=True. gi (T,B,3H) normalised input gates (+ b_ih), whh = W_hh (3H,H) as
    torch stores it, or with w_t its transposed copy (H,3H) (``mm_w``),
    g_hh (3H,) recurrent gain, c_hh (3H,) = β_hh + b_hh, hs (T+1,B,H) with hs[0] = h0 ->
    hs[1:], hn (B,H) = each row's state at its own last step; y (T',B,H) = hs[1:], save
    (T',B,4H) = [r, z, n, gh_n], phat (T',B,3H) = normalised W_hh h_{t−1}, rstd (T',B)."""
    steps, batch, g3 = gi.shape
    hid = g3 // 3
    gr, gz, gn = g_hh[:hid], g_hh[hid:2 * hid], g_hh[2 * hid:]
    cr, cz, cn = c_hh[:hid], c_hh[hid:2 * hid], c_hh[2 * hid:]
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        p = np.empty((b1 - b0, g3), gi.dtype)  # (nb, 3H): W_hh (h_{t−1} ⊙ m)
        hm = np.empty((b1 - b0, hid), gi.dtype)  # (nb, H): h_{t−1} ⊙ m
        ints, ab = gemm_scratch(gi)
        for t in range(steps):
            ts = t if train else 0
            _masked_rows(hm, hs[t], mask, b0)
            mm_w(hm, whh, w_t, p, gemm, ints, ab)
            for i in range(b1 - b0):
                b = b0 + i
                hi, ho, yb, ph = hs[t, b], hs[t + 1, b], y[ts, b], phat[ts, b]
                if t >= lens[b]:
                    _zero(ho)
                    _zero(yb)
                    _zero(ph)  # read by the gain's gradient (times 0): no stale NaN
                    continue
                rstd[ts, b] = _normalise(p[i], ph)
                sv = save[ts, b]
                xr, xz, xn = gi[t, b, :hid], gi[t, b, hid:2 * hid], gi[t, b, 2 * hid:]
                pr, pz, pn = ph[:hid], ph[hid:2 * hid], ph[2 * hid:]
                for j in range(hid):
                    r = sigmoid(xr[j] + pr[j] * gr[j] + cr[j])
                    z = sigmoid(xz[j] + pz[j] * gz[j] + cz[j])
                    ghn = pn[j] * gn[j] + cn[j]
                    n = tanh(xn[j] + r * ghn)
                    hj = n + z * (hi[j] - n)  # h' = (1 − z) n + z h
                    ho[j] = hj
                    yb[j] = hj
                    sv[j] = r
                    sv[hid + j] = z
                    sv[2 * hid + j] = n
                    sv[3 * hid + j] = ghn
        for b in range(b0, b1):
            copy_into(hn[b], hs[lens[b], b])


@chunked_kernel
def bwd_after(dy, dhn, whh, g_hh, hs, mask, save, phat, rstd, lens, dg, dp, dh0, gemm,
              nchunk):
    """dy (T,B,H), dhn (B,H), whh (3H,H) -> dg (T,B,4H) = [a_r, a_z, a_n, a_n ⊙ r] (dgi =
    dg[..., :3H]; ∂L/∂gh = [a_r, a_z, a_n ⊙ r]), dp (T,B,3H) = ∂L/∂(W_hh hm), dh0 (B,H)."""
    steps, batch, hid = dy.shape
    one_ = one(dy)
    gr, gz, gn = g_hh[:hid], g_hh[hid:2 * hid], g_hh[2 * hid:]
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        dh = dhn[b0:b1].copy()  # (nb, H): ∂L/∂h_t from later steps
        back = np.empty_like(dh)  # (nb, H)
        ints, ab = gemm_scratch(dy)
        for t in range(steps - 1, -1, -1):
            for i in range(b1 - b0):
                b = b0 + i
                dgb, dpb = dg[t, b], dp[t, b]
                if t >= lens[b]:
                    _zero(dgb)
                    _zero(dpb)
                    continue
                sv, dyb, dhi, hp = save[t, b], dy[t, b], dh[i], hs[t, b]
                for j in range(hid):
                    g = dhi[j] + dyb[j]
                    r, z, n = sv[j], sv[hid + j], sv[2 * hid + j]
                    an = g * (one_ - z) * (one_ - n * n)
                    ar = an * sv[3 * hid + j] * r * (one_ - r)
                    az = g * (hp[j] - n) * z * (one_ - z)
                    anr = an * r
                    dgb[j] = ar
                    dgb[hid + j] = az
                    dgb[2 * hid + j] = an
                    dgb[3 * hid + j] = anr
                    dpb[j] = ar * gr[j]  # ∂L/∂(normalised W_hh h)
                    dpb[hid + j] = az * gz[j]
                    dpb[2 * hid + j] = anr * gn[j]
                    dhi[j] = g * z
                _normalise_back(dpb, phat[t, b], rstd[t, b])
            mm(dp[t, b0:b1], whh, back, gemm, ints, ab)
            for i in range(b1 - b0):
                if t < lens[b0 + i]:
                    _add_masked(dh[i], back[i], mask[b0 + i])
        dh0[b0:b1] = dh


@chunked_kernel
def fwd_before(gi, wrz, wn, w_t, g_hh, c_hh, hs, mask, lens, hn, y, save, phat, rstd,
               train, gemm, nchunk):
    """reset_after=False. wrz = W_h[r,z] (2H,H), wn = W_hn (H,H), or with w_t their
    transposed copies (``mm_w``), c_hh (3H,) = β_hh;
    as fwd_after but save (T',B,3H) = [r, z, n], phat (T',B,3H) = [normalised W_h[r,z] h,
    normalised W_hn (r ⊙ hm)] and rstd (T',B,2) their two 1/σ."""
    steps, batch, g3 = gi.shape
    hid = g3 // 3
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        nb = b1 - b0
        a = np.empty((nb, 2 * hid), gi.dtype)  # (nb, 2H): W_h[r,z] hm
        hm = np.empty((nb, hid), gi.dtype)  # (nb, H): hm = h_{t−1} ⊙ m
        rh = np.zeros((nb, hid), gi.dtype)  # (nb, H): r ⊙ hm
        zs = np.empty((nb, hid), gi.dtype)  # (nb, H): z
        q = np.empty((nb, hid), gi.dtype)  # (nb, H): W_hn (r ⊙ hm)
        ints, ab = gemm_scratch(gi)
        for t in range(steps):
            ts = t if train else 0
            _masked_rows(hm, hs[t], mask, b0)
            mm_w(hm, wrz, w_t, a, gemm, ints, ab)
            for i in range(nb):
                b = b0 + i
                sv, ph = save[ts, b], phat[ts, b]
                if t >= lens[b]:  # backward forms r ⊙ h_{t−1} and p̂ ⊙ ∂: no stale NaN there
                    _zero(sv)
                    _zero(ph)
                    continue
                rstd[ts, b, 0] = _normalise(a[i], ph[:2 * hid])
                xr, xz = gi[t, b, :hid], gi[t, b, hid:2 * hid]
                hmi, rhi, zi = hm[i], rh[i], zs[i]
                for j in range(hid):
                    r = sigmoid(xr[j] + ph[j] * g_hh[j] + c_hh[j])
                    z = sigmoid(xz[j] + ph[hid + j] * g_hh[hid + j] + c_hh[hid + j])
                    rhi[j] = r * hmi[j]
                    zi[j] = z
                    sv[j] = r
                    sv[hid + j] = z
            mm_w(rh, wn, w_t, q, gemm, ints, ab)
            for i in range(nb):
                b = b0 + i
                ho, yb = hs[t + 1, b], y[ts, b]
                if t >= lens[b]:
                    _zero(ho)
                    _zero(yb)
                    continue
                pn = phat[ts, b, 2 * hid:]
                rstd[ts, b, 1] = _normalise(q[i], pn)
                xn, hi, zi, sn = gi[t, b, 2 * hid:], hs[t, b], zs[i], save[ts, b, 2 * hid:]
                gn, cn = g_hh[2 * hid:], c_hh[2 * hid:]
                for j in range(hid):
                    n = tanh(xn[j] + pn[j] * gn[j] + cn[j])
                    hj = n + zi[j] * (hi[j] - n)
                    ho[j] = hj
                    yb[j] = hj
                    sn[j] = n
        for b in range(b0, b1):
            copy_into(hn[b], hs[lens[b], b])


@chunked_kernel
def bwd_before(dy, dhn, wrz, wn, g_hh, hs, mask, save, phat, rstd, lens, dg, dp, dh0, gemm,
               nchunk):
    """reset_after=False. wrz (2H,H) = W_h[r,z], wn (H,H) = W_hn -> dg (T,B,3H) = [a_r, a_z,
    a_n] (= dgi = ∂L/∂gh), dp (T,B,3H) = [∂L/∂(W_h[r,z] hm), ∂L/∂(W_hn (r ⊙ hm))] with
    hm = h_{t−1} ⊙ m, dh0 (B,H)."""
    steps, batch, hid = dy.shape
    one_ = one(dy)
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        nb = b1 - b0
        dh = dhn[b0:b1].copy()  # (nb, H)
        gs = np.empty_like(dh)  # (nb, H): ∂L/∂h_t
        dq = np.zeros_like(dh)  # (nb, H): ∂L/∂(W_hn (r ⊙ h))
        drh = np.empty_like(dh)  # (nb, H): ∂L/∂(r ⊙ hm)
        da = np.zeros((nb, 2 * hid), dy.dtype)  # (nb, 2H): ∂L/∂(W_h[r,z] h)
        back = np.empty_like(dh)  # (nb, H)
        ints, ab = gemm_scratch(dy)
        for t in range(steps - 1, -1, -1):
            for i in range(nb):
                b = b0 + i
                if t >= lens[b]:
                    continue  # its rows of dq, da are never added to dh
                sv, dyb, dhi, hp, dgb = save[t, b], dy[t, b], dh[i], hs[t, b], dg[t, b]
                gi_, dqi = gs[i], dq[i]
                for j in range(hid):
                    g = dhi[j] + dyb[j]
                    z, n = sv[hid + j], sv[2 * hid + j]
                    an = g * (one_ - z) * (one_ - n * n)
                    gi_[j] = g
                    dgb[hid + j] = g * (hp[j] - n) * z * (one_ - z)
                    dgb[2 * hid + j] = an
                    dqi[j] = an * g_hh[2 * hid + j]
                _normalise_back(dqi, phat[t, b, 2 * hid:], rstd[t, b, 1])
            mm(dq, wn, drh, gemm, ints, ab)
            for i in range(nb):
                b = b0 + i
                dgb, dpb = dg[t, b], dp[t, b]
                if t >= lens[b]:
                    _zero(dgb)
                    _zero(dpb)
                    continue
                sv, hp, mb = save[t, b], hs[t, b], mask[b]
                dhi, dri, gi_, dai = dh[i], drh[i], gs[i], da[i]
                for j in range(hid):
                    r = sv[j]
                    ar = dri[j] * hp[j] * mb[j] * r * (one_ - r)
                    dgb[j] = ar
                    dai[j] = ar * g_hh[j]
                    dai[hid + j] = dgb[hid + j] * g_hh[hid + j]
                    dhi[j] = gi_[j] * sv[hid + j] + dri[j] * r * mb[j]
                _normalise_back(dai, phat[t, b, :2 * hid], rstd[t, b, 0])
                copy_into(dpb[:2 * hid], dai)
                copy_into(dpb[2 * hid:], dq[i])
            mm(da, wrz, back, gemm, ints, ab)
            for i in range(nb):
                if t < lens[b0 + i]:
                    _add_masked(dh[i], back[i], mask[b0 + i])
        dh0[b0:b1] = dh
