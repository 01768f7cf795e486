"""numba kernels of the fused CPU GRU-D (see ``cpu`` for the plan and the math).

Buffers are time-major, (T, B, ·), as in ``grukit.ops.gru.cpu``: hs (T+1, B, H) holds
[h0, h_1, ..., h_T]; rows past a sequence's length hold 0 and never restart. gam (T, B, H) is
the hidden decay γ_h of each step; the recurrence reads ĥ = γ_h ⊙ h_{t−1}. smask (B, G, H) is
the recurrent-dropout multiplier s of ĥ where W_hh reads it (ones for none): G = 1 shared by
the gates (one GEMM on s ⊙ ĥ), G = 3 one per gate [s_r, s_z, s_n] (one (nb, H) @ (H, H) GEMM
per gate, with w3 (3, H, H) the gates' blocks of W_hh, transposed for the forward); the blend
reads ĥ itself. Each chunk of rows
runs the whole recurrence on one thread. The forward kernels take ``train``: when it is False
the saved buffers (y, save) have one time row, rewritten every step.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._cpu_math import copy_into, one, sigmoid, tanh
from .._gemm import gemm_scratch, mm
from .._jit import FLAGS, chunked_kernel

njit_cached = njit(**FLAGS)


@njit_cached
def decayed(gam, hs, hd):
    """hd (nb, H) = ĥ = γ_h ⊙ h_{t−1} from gam, hs (nb, H)."""
    for i in range(hd.shape[0]):
        gm, hi, hdi = gam[i], hs[i], hd[i]
        for j in range(hd.shape[1]):
            hdi[j] = gm[j] * hi[j]


@njit_cached
def recurrent(hd, smask, w_t, w3t, out, hm, po, gates, gemm, ints, ab):
    """out (nb, gates·H) = the first ``gates`` blocks of W_hh read on s ⊙ ĥ: one GEMM on
    hd ⊙ s with w_t (H, gates·H) when smask (nb, 1, H) is shared; with one mask per gate
    (nb, 3, H), gate k's block out[:, kH:(k+1)H] = (s_k ⊙ ĥ) w3t[k] (w3t (3, H, H) = W_hkᵀ).
    hm, po (nb, H) are scratch."""
    nb, hid = hd.shape
    per_gate = smask.shape[1] > 1
    for k in range(gates if per_gate else 1):
        for i in range(nb):
            hdi, hmi, si = hd[i], hm[i], smask[i, k]
            for j in range(hid):
                hmi[j] = hdi[j] * si[j]
        if not per_gate:
            mm(hm, w_t, out, gemm, ints, ab)
        else:
            mm(hm, w3t[k], po, gemm, ints, ab)
            for i in range(nb):
                oi, pi = out[i], po[i]
                for j in range(hid):
                    oi[k * hid + j] = pi[j]


@njit_cached
def back_through(dp, smask, w, w3, back, gates, gemm, ints, ab):
    """back (G, nb, H): ∂L/∂(s_k ⊙ ĥ) from dp (nb, gates·H) = ∂L/∂ of the first ``gates``
    blocks of W_hh (s ⊙ ĥ): dp @ w (gates·H, H) when shared (G = 1), or dp_k @ w3[k] per
    gate (w3 (3, H, H) = W_hk)."""
    hid = back.shape[2]
    if smask.shape[1] == 1:
        mm(dp, w, back[0], gemm, ints, ab)
    else:
        for k in range(gates):
            mm(dp[:, k * hid:(k + 1) * hid], w3[k], back[k], gemm, ints, ab)


@njit_cached
def to_previous(dh, back, smask, hs, gam, dgam, lens, t, gates):
    """With dh (nb, H) holding ∂L/∂ĥ but for W_hh: ∂L/∂ĥ = dh + Σ_k s_k ⊙ back[k] (the
    first ``gates`` gates, or back[0] shared), then dgam = ∂L/∂ĥ ⊙ h_{t−1} and dh =
    ∂L/∂h_{t−1} = ∂L/∂ĥ ⊙ γ_h, for the rows still running at step t."""
    nb, hid = dh.shape
    per_gate = smask.shape[1] > 1
    for i in range(nb):
        if t >= lens[i]:
            continue
        dhi, hp, gm, dgm = dh[i], hs[i], gam[i], dgam[i]
        for j in range(hid):
            if per_gate:
                dhd = dhi[j]
                for k in range(gates):
                    dhd += smask[i, k, j] * back[k, i, j]
            else:
                dhd = dhi[j] + smask[i, 0, j] * back[0, i, j]  # ∂L/∂ĥ
            dgm[j] = dhd * hp[j]
            dhi[j] = dhd * gm[j]


@chunked_kernel
def fwd_after(gi, gam, whh_t, w3t, b_hh, smask, hs, lens, hn, y, save, train, gemm, nchunk):
    """reset_after=True. gi (T,B,3H) = W_ih x̂ + W_mh m + b_ih, gam (T,B,H), whh_t (H,3H) =
    W_hhᵀ, b_hh (3H,), hs (T+1,B,H) with hs[0] = h0 -> hs[1:], hn (B,H) (each row's state at
    its own last step); y (T',B,H) = hs[1:], save (T',B,4H) = [r, z, n, W_hn ĥ + b_hn]."""
    steps, batch, g3 = gi.shape
    hid = g3 // 3
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        nb = b1 - b0
        p = np.empty((nb, g3), gi.dtype)  # (nb, 3H): W_hh (s ⊙ ĥ)
        hd = np.empty((nb, hid), gi.dtype)  # (nb, H): ĥ = γ_h ⊙ h_{t−1}
        hm = np.empty((nb, hid), gi.dtype)  # (nb, H): s ⊙ ĥ
        po = np.empty((nb, hid), gi.dtype)  # (nb, H): one gate's product (per-gate masks)
        ints, ab = gemm_scratch(gi)
        for t in range(steps):
            ts = t if train else 0
            decayed(gam[t, b0:b1], hs[t, b0:b1], hd)
            recurrent(hd, smask[b0:b1], whh_t, w3t, p, hm, po, 3, gemm, ints, ab)
            for i in range(nb):
                b = b0 + i
                ho, yb, sv = hs[t + 1, b], y[ts, b], save[ts, b]
                if t >= lens[b]:
                    for j in range(hid):
                        ho[j] = 0
                        yb[j] = 0
                    continue
                x, pi, hdi = gi[t, b], p[i], hd[i]
                for j in range(hid):
                    r = sigmoid(x[j] + pi[j] + b_hh[j])
                    z = sigmoid(x[hid + j] + pi[hid + j] + b_hh[hid + j])
                    ghn = pi[2 * hid + j] + b_hh[2 * hid + j]
                    n = tanh(x[2 * hid + j] + r * ghn)
                    hj = n + z * (hdi[j] - n)  # h' = (1 − z) n + z ĥ
                    ho[j] = hj
                    yb[j] = hj
                    sv[j] = r
                    sv[hid + j] = z
                    sv[2 * hid + j] = n
                    sv[3 * hid + j] = ghn
        for b in range(b0, b1):
            copy_into(hn[b], hs[lens[b], b])


@chunked_kernel
def bwd_after(dy, dhn, whh, w3, gam, smask, hs, save, lens, dgi, dgh, dgam, dh0, gemm,
              nchunk):
    """dy (T,B,H), dhn (B,H), whh (3H,H) -> dgi (T,B,3H) = [a_r, a_z, a_n], dgh (T,B,3H) =
    [a_r, a_z, a_n ⊙ r] = ∂L/∂(W_hh (s ⊙ ĥ) + b_hh), dgam (T,B,H) = ∂L/∂γ_h, dh0 (B,H)."""
    steps, batch, hid = dy.shape
    one_ = one(dy)
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        nb = b1 - b0
        dh = dhn[b0:b1].copy()  # (nb, H): ∂L/∂h_t from later steps, then ∂L/∂ĥ
        back = np.empty((smask.shape[1], nb, hid), dy.dtype)  # (G, nb, H)
        ints, ab = gemm_scratch(dy)
        for t in range(steps - 1, -1, -1):
            for i in range(nb):
                b = b0 + i
                di, dp, dgm = dgi[t, b], dgh[t, b], dgam[t, b]
                if t >= lens[b]:
                    for j in range(3 * hid):
                        di[j] = 0
                        dp[j] = 0
                    for j in range(hid):
                        dgm[j] = 0
                    continue
                sv, dyb, dhi, hp, gm = save[t, b], dy[t, b], dh[i], hs[t, b], gam[t, b]
                for j in range(hid):
                    g = dhi[j] + dyb[j]
                    r, z, n = sv[j], sv[hid + j], sv[2 * hid + j]
                    an = g * (one_ - z) * (one_ - n * n)
                    ar = an * sv[3 * hid + j] * r * (one_ - r)
                    az = g * (gm[j] * hp[j] - n) * z * (one_ - z)
                    di[j] = ar
                    di[hid + j] = az
                    di[2 * hid + j] = an
                    dp[j] = ar
                    dp[hid + j] = az
                    dp[2 * hid + j] = an * r
                    dhi[j] = g * z
            back_through(dgh[t, b0:b1], smask[b0:b1], whh, w3, back, 3, gemm, ints, ab)
            to_previous(dh, back, smask[b0:b1], hs[t, b0:b1], gam[t, b0:b1], dgam[t, b0:b1],
                        lens[b0:b1], t, 3)
        dh0[b0:b1] = dh


@chunked_kernel
def fwd_before(gi, gam, wrz_t, wn_t, w3t, smask, hs, lens, hn, y, save, train, gemm, nchunk):
    """reset_after=False. wrz_t (H,2H) = W_h[r,z]ᵀ, wn_t (H,H) = W_hnᵀ; as fwd_after but save
    (T',B,3H) = [r, z, n] (zero past a sequence's end)."""
    steps, batch, g3 = gi.shape
    hid = g3 // 3
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        nb = b1 - b0
        hd = np.empty((nb, hid), gi.dtype)  # (nb, H): ĥ
        hm = np.empty((nb, hid), gi.dtype)  # (nb, H): s ⊙ ĥ
        po = np.empty((nb, hid), gi.dtype)  # (nb, H): one gate's product (per-gate masks)
        a = np.empty((nb, 2 * hid), gi.dtype)  # (nb, 2H): W_h[r,z] (s ⊙ ĥ)
        rh = np.zeros((nb, hid), gi.dtype)  # (nb, H): r ⊙ s ⊙ ĥ
        zs = np.empty((nb, hid), gi.dtype)  # (nb, H): z
        q = np.empty((nb, hid), gi.dtype)  # (nb, H): W_hn (r ⊙ s ⊙ ĥ)
        ints, ab = gemm_scratch(gi)
        kn = smask.shape[1] - 1  # s_n: the last mask
        for t in range(steps):
            ts = t if train else 0
            decayed(gam[t, b0:b1], hs[t, b0:b1], hd)
            recurrent(hd, smask[b0:b1], wrz_t, w3t, a, hm, po, 2, gemm, ints, ab)
            for i in range(nb):
                b = b0 + i
                sv = save[ts, b]
                if t >= lens[b]:  # backward reads r past the end (times 0): no stale NaN
                    for j in range(3 * hid):
                        sv[j] = 0
                    continue
                x, ai, hdi, rhi, zi, sn = gi[t, b], a[i], hd[i], rh[i], zs[i], smask[b, kn]
                for j in range(hid):
                    r = sigmoid(x[j] + ai[j])
                    z = sigmoid(x[hid + j] + ai[hid + j])
                    rhi[j] = r * (hdi[j] * sn[j])
                    zi[j] = z
                    sv[j] = r
                    sv[hid + j] = z
            mm(rh, wn_t, q, gemm, ints, ab)
            for i in range(nb):
                b = b0 + i
                ho, yb = hs[t + 1, b], y[ts, b]
                if t >= lens[b]:
                    for j in range(hid):
                        ho[j] = 0
                        yb[j] = 0
                    continue
                x, qi, hdi, zi, sv = gi[t, b], q[i], hd[i], zs[i], save[ts, b]
                for j in range(hid):
                    n = tanh(x[2 * hid + j] + qi[j])
                    hj = n + zi[j] * (hdi[j] - n)
                    ho[j] = hj
                    yb[j] = hj
                    sv[2 * hid + j] = n
        for b in range(b0, b1):
            copy_into(hn[b], hs[lens[b], b])


@chunked_kernel
def bwd_before(dy, dhn, wrz, wn, w3, gam, smask, hs, save, lens, dgi, dq_all, dgam, dh0, gemm,
               nchunk):
    """reset_after=False. wrz (2H,H) = W_h[r,z], wn (H,H) = W_hn -> dgi (T,B,3H) = [a_r, a_z,
    a_n] (its r, z rows are also ∂L/∂(W_h[r,z] (s ⊙ ĥ))), dq_all (T,B,H) = ∂L/∂(W_hn (r ⊙ s
    ⊙ ĥ)) = a_n, dgam (T,B,H), dh0 (B,H)."""
    steps, batch, hid = dy.shape
    one_ = one(dy)
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        nb = b1 - b0
        dh = dhn[b0:b1].copy()  # (nb, H)
        gs = np.empty_like(dh)  # (nb, H): ∂L/∂h_t
        dq = np.zeros_like(dh)  # (nb, H): ∂L/∂(W_hn (r ⊙ ĥ))
        drh = np.empty_like(dh)  # (nb, H): ∂L/∂(r ⊙ s ⊙ ĥ)
        da = np.zeros((nb, 2 * hid), dy.dtype)  # (nb, 2H): ∂L/∂(W_h[r,z] (s ⊙ ĥ))
        back = np.empty((smask.shape[1], nb, hid), dy.dtype)  # (G, nb, H)
        kn = smask.shape[1] - 1  # s_n: the last mask
        ints, ab = gemm_scratch(dy)
        for t in range(steps - 1, -1, -1):
            for i in range(nb):
                b = b0 + i
                if t >= lens[b]:
                    continue  # its rows of dq, da are never added to dh
                sv, dyb, dhi, hp, gm, di = save[t, b], dy[t, b], dh[i], hs[t, b], gam[t, b], \
                    dgi[t, b]
                gsi, dqi = gs[i], dq[i]
                for j in range(hid):
                    g = dhi[j] + dyb[j]
                    z, n = sv[hid + j], sv[2 * hid + j]
                    an = g * (one_ - z) * (one_ - n * n)
                    gsi[j] = g
                    di[hid + j] = g * (gm[j] * hp[j] - n) * z * (one_ - z)
                    di[2 * hid + j] = an
                    dqi[j] = an
            mm(dq, wn, drh, gemm, ints, ab)
            for i in range(nb):
                b = b0 + i
                di, dqa, dgm = dgi[t, b], dq_all[t, b], dgam[t, b]
                if t >= lens[b]:
                    for j in range(3 * hid):
                        di[j] = 0
                    for j in range(hid):
                        dqa[j] = 0
                        dgm[j] = 0
                    continue
                sv, hp, gm, si = save[t, b], hs[t, b], gam[t, b], smask[b, kn]
                dhi, dri, gsi, dai, dqi = dh[i], drh[i], gs[i], da[i], dq[i]
                for j in range(hid):
                    r = sv[j]
                    ar = dri[j] * gm[j] * hp[j] * si[j] * r * (one_ - r)
                    di[j] = ar
                    dai[j] = ar
                    dai[hid + j] = di[hid + j]
                    # ∂L/∂ĥ but for W_h[r,z]
                    dhi[j] = gsi[j] * sv[hid + j] + si[j] * dri[j] * r
                    dqa[j] = dqi[j]
            back_through(da, smask[b0:b1], wrz, w3, back, 2, gemm, ints, ab)
            to_previous(dh, back, smask[b0:b1], hs[t, b0:b1], gam[t, b0:b1], dgam[t, b0:b1],
                        lens[b0:b1], t, 2)
        dh0[b0:b1] = dh
