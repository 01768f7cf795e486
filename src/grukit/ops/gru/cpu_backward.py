"""Backward kernels of the fused CPU GRU (numba); the plan and equations: see ``cpu``.

Each walks time in reverse over its rows' chunk. g = ∂L/∂h_t; with zoneout m the gates see
g̃ = g ⊙ (1 − m) and ∂L/∂h_{t−1} gains g ⊙ m; with recurrent dropout d the recurrent part of
∂L/∂h_{t−1} (what flows back through W_hh) is multiplied by d. Masks are None or arrays; a
kernel built for None has no trace of them (numba prunes ``if m is not None`` branches).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._cpu_math import add_into, add_masked, one
from .._gemm import gemm_scratch, mm
from .._jit import chunked_kernel


@chunked_kernel
def bwd_after(dy, dhn, whh, hs, save, lens, drop, zone, dg, db, dh0, gemm, nchunk):
    """dy (T,B,H) or None (y took no part in the loss), dhn (B,H), whh (3H,H), hs (T+1,B,H)
    -> dg (T,B,4H) = [a_n, a_r, a_z, a_n ⊙ r]
    (dgi = dg[..., :3H] in n, r, z order, dgh = dg[..., H:]), db (nchunk, 4H) += each chunk's
    Σ_t,b of dg (the bias gradients; zeros on entry), dh0 (B,H). drop (B,H) and zone (T,B,H):
    the forward's masks, or None. The step's product dgh W_hh reads dg's rows in place."""
    steps, batch, hid = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    one_ = one(hs)
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        dh = dhn[b0:b1].copy()  # (nb, H)
        back = np.empty_like(dh)  # (nb, H)
        acc = db[c]  # (4H,)
        ints, ab = gemm_scratch(hs)
        for t in range(steps - 1, -1, -1):
            for i in range(b1 - b0):
                b = b0 + i
                dgb = dg[t, b]
                if t >= lens[b]:
                    dgb[:] = 0
                    continue
                sv, dhi, hp = save[t, b], dh[i], hs[t, b]
                if dy is not None:  # ∂L/∂h_t = what came back from t + 1, plus dy_t
                    add_into(dhi, dy[t, b])
                if zone is not None:
                    mz = zone[t, b]
                for j in range(hid):
                    g = dhi[j]
                    gt = g  # ∂L/∂h̃_t
                    if zone is not None:
                        gt = g * (one_ - mz[j])
                    r, z, n = sv[j], sv[hid + j], sv[2 * hid + j]
                    an = gt * (one_ - z) * (one_ - n * n)
                    ar = an * sv[3 * hid + j] * r * (one_ - r)
                    az = gt * (hp[j] - n) * z * (one_ - z)
                    anr = an * r
                    dgb[j] = an
                    dgb[hid + j] = ar
                    dgb[2 * hid + j] = az
                    dgb[3 * hid + j] = anr
                    acc[j] += an
                    acc[hid + j] += ar
                    acc[2 * hid + j] += az
                    acc[3 * hid + j] += anr
                    keep = gt * z
                    if zone is not None:
                        keep += g * mz[j]
                    dhi[j] = keep
            mm(dg[t, b0:b1, hid:], whh, back, gemm, ints, ab)  # (nb, 3H) @ (3H, H)
            for i in range(b1 - b0):
                if t < lens[b0 + i]:
                    if drop is None:
                        add_into(dh[i], back[i])
                    else:
                        add_masked(dh[i], back[i], drop[b0 + i])
        dh0[b0:b1] = dh


@chunked_kernel
def bwd_before(dy, dhn, wrz, wn, hs, save, lens, drop, zone, dgi, dh0, gemm, nchunk):
    """reset_after=False. wrz (2H,H) = W_hh[:2H], wn (H,H) = W_hh[2H:], masks as in
    bwd_after -> dgi (T,B,3H), dh0."""
    steps, batch, hid = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    one_ = one(hs)
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        nb = b1 - b0
        dh = dhn[b0:b1].copy()  # (nb, H)
        gs = np.empty_like(dh)  # ∂L/∂h̃_t
        gk = np.empty_like(dh)  # g ⊙ m: what zoneout passes straight to h_{t−1}
        an = np.zeros_like(dh)  # a_n
        drh = np.empty_like(dh)  # ∂L/∂(r ⊙ ĥ)
        arz = np.zeros((nb, 2 * hid), hs.dtype)  # [a_r, a_z]
        back = np.empty_like(dh)
        ints, ab = gemm_scratch(hs)
        for t in range(steps - 1, -1, -1):
            for i in range(nb):
                b = b0 + i
                if t >= lens[b]:
                    continue  # an[i] and arz[i] stay 0 until the sequence starts
                sv, dhi, hp = save[t, b], dh[i], hs[t, b]
                gi_, gki, ani, azi = gs[i], gk[i], an[i], arz[i, hid:]
                if dy is not None:  # as in bwd_after
                    add_into(dhi, dy[t, b])
                if zone is not None:
                    mz = zone[t, b]
                for j in range(hid):
                    g = dhi[j]
                    gt = g
                    if zone is not None:
                        gt = g * (one_ - mz[j])
                        gki[j] = g * mz[j]
                    z, n = sv[hid + j], sv[2 * hid + j]
                    gi_[j] = gt
                    ani[j] = gt * (one_ - z) * (one_ - n * n)
                    azi[j] = gt * (hp[j] - n) * z * (one_ - z)
            mm(an, wn, drh, gemm, ints, ab)
            for i in range(nb):
                b = b0 + i
                dgb = dgi[t, b]
                if t >= lens[b]:
                    dgb[:] = 0
                    continue
                sv, hp = save[t, b], hs[t, b]
                dhi, dri, gi_, gki, ani = dh[i], drh[i], gs[i], gk[i], an[i]
                ari, azi = arz[i, :hid], arz[i, hid:]
                if drop is not None:
                    di = drop[b]
                for j in range(hid):
                    r = sv[j]
                    hv = hp[j]  # ĥ: the state the products read
                    back_rh = dri[j] * r  # ∂L/∂ĥ through r ⊙ ĥ
                    if drop is not None:
                        hv = hp[j] * di[j]
                        back_rh = back_rh * di[j]
                    ar = dri[j] * hv * r * (one_ - r)
                    ari[j] = ar
                    keep = gi_[j] * sv[hid + j] + back_rh
                    if zone is not None:
                        keep += gki[j]
                    dhi[j] = keep
                    dgb[j] = ar
                    dgb[hid + j] = azi[j]
                    dgb[2 * hid + j] = ani[j]
            mm(arz, wrz, back, gemm, ints, ab)
            for i in range(nb):
                if t < lens[b0 + i]:
                    if drop is None:
                        add_into(dh[i], back[i])
                    else:
                        add_masked(dh[i], back[i], drop[b0 + i])
        dh0[b0:b1] = dh
