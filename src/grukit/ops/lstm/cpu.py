"""Fused CPU LSTM (numba): forward and backward, same plan as ``grukit.ops.gru.cpu``.

Forward per step: one GEMM h W_hhᵀ (B, 4H), then gates i, f, g, o, c' and h' fused.
Backward (a = pre-activations, g = ∂L/∂h_t, dc = ∂L/∂c_t carried)::

    dc += g ⊙ o ⊙ (1 − tanh²c_t)
    a_i = dc ⊙ g_t ⊙ i(1 − i)    a_f = dc ⊙ c_{t−1} ⊙ f(1 − f)
    a_g = dc ⊙ i ⊙ (1 − g_t²)    a_o = g ⊙ tanh c_t ⊙ o(1 − o)
    ∂L/∂c_{t−1} = dc ⊙ f         ∂L/∂h_{t−1} = [a_i, a_f, a_g, a_o] W_hh

dW_hh = Σ_t aᵀ h_{t−1} and dW_ih = Σ_t aᵀ x_t are single GEMMs after the loop. Recurrent
dropout d (B, H), or None: W_hh multiplies d ⊙ h_{t−1}, so dW_hh = Σ_t aᵀ (d ⊙ h_{t−1}) and
∂L/∂h_{t−1} = (a W_hh) ⊙ d. The
projection (``proj_size``) is not fused: such calls go to the reference.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange
from torch import Tensor

from .. import _pool
from .._cpu import arr, kernel_threads, lens_array
from .._cpu_math import copy_into, copy_masked, masked_rows, one, sigmoid, tanh
from .._fused import first_order_only, grad_or_zeros, run_fused
from .._gemm import gemm_address, gemm_scratch, mm, mm_w, transposes_pay
from .._jit import chunked_kernel


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _unit(ai, af, ag, ao, c):
    """One unit from its gate pre-activations -> (i, f, g, o, c', h')."""
    ig, fg, gg, og = sigmoid(ai), sigmoid(af), tanh(ag), sigmoid(ao)
    cj = fg * c + ig * gg
    return ig, fg, gg, og, cj, og * tanh(cj)


@chunked_kernel
def _fwd(gi, whh, w_t, bhh, h0, c0, lens, y, hn, cn, save, cs, drop, train, gemm, nchunk):
    """gi (B,T,4H), whh = W_hh (4H,H) as torch stores it, or with w_t its transposed copy
    (H,4H) (``mm_w``), bhh (4H,), h0, c0 (B,H) -> y (B,T,H), hn, cn (B,H);
    when train, save (B,T,4H) = [i, f, g, o] and cs (B,T,H) = c_t. drop (B,H) or None."""
    batch, steps, g4 = gi.shape
    hid = g4 // 4
    bi, bf, bg, bo = bhh[:hid], bhh[hid:2 * hid], bhh[2 * hid:3 * hid], bhh[3 * hid:]
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        h = h0[b0:b1].copy()  # (nb, H)
        cc = c0[b0:b1].copy()  # (nb, H)
        gh = np.empty((b1 - b0, g4), gi.dtype)  # (nb, 4H)
        hm = np.empty_like(h)  # (nb, H): d ⊙ h, with recurrent dropout
        ints, ab = gemm_scratch(gi)
        for t in range(steps):
            if drop is None:
                mm_w(h, whh, w_t, gh, gemm, ints, ab)
            else:
                masked_rows(h, drop[b0:b1], hm)
                mm_w(hm, whh, w_t, gh, gemm, ints, ab)
            for k in range(b1 - b0):
                b = b0 + k
                yb = y[b, t]
                if t >= lens[b]:
                    yb[:] = 0
                    continue
                xi, xf = gi[b, t, :hid], gi[b, t, hid:2 * hid]
                xg, xo = gi[b, t, 2 * hid:3 * hid], gi[b, t, 3 * hid:]
                hi_, hf = gh[k, :hid], gh[k, hid:2 * hid]
                hg, ho = gh[k, 2 * hid:3 * hid], gh[k, 3 * hid:]
                hk, ck = h[k], cc[k]
                if train:  # two copies of the loop: a store under a branch blocks vectorising
                    si, sf = save[b, t, :hid], save[b, t, hid:2 * hid]
                    sg, so = save[b, t, 2 * hid:3 * hid], save[b, t, 3 * hid:]
                    cv = cs[b, t]
                    for j in range(hid):
                        ig, fg, gg, og, cj, hj = _unit(xi[j] + hi_[j] + bi[j],
                                                       xf[j] + hf[j] + bf[j],
                                                       xg[j] + hg[j] + bg[j],
                                                       xo[j] + ho[j] + bo[j], ck[j])
                        ck[j] = cj
                        hk[j] = hj
                        yb[j] = hj
                        si[j] = ig
                        sf[j] = fg
                        sg[j] = gg
                        so[j] = og
                        cv[j] = cj
                else:
                    for j in range(hid):
                        ig, fg, gg, og, cj, hj = _unit(xi[j] + hi_[j] + bi[j],
                                                       xf[j] + hf[j] + bf[j],
                                                       xg[j] + hg[j] + bg[j],
                                                       xo[j] + ho[j] + bo[j], ck[j])
                        ck[j] = cj
                        hk[j] = hj
                        yb[j] = hj
        hn[b0:b1] = h
        cn[b0:b1] = cc


@chunked_kernel
def _bwd(dy, dhn, dcn, whh, c0, save, cs, lens, drop, dgi, dh0, dc0, gemm, nchunk):
    """dy (B,T,H), dhn, dcn (B,H), whh (4H,H) -> dgi (B,T,4H), dh0, dc0 (B,H)."""
    batch, steps, hid = dy.shape
    one_ = one(dy)
    for c in prange(nchunk):
        b0, b1 = c * batch // nchunk, (c + 1) * batch // nchunk
        dh = dhn[b0:b1].copy()  # (nb, H)
        dc = dcn[b0:b1].copy()  # (nb, H)
        step = np.zeros((b1 - b0, 4 * hid), dy.dtype)  # (nb, 4H)
        back = np.empty_like(dh)
        ints, ab = gemm_scratch(dy)
        for t in range(steps - 1, -1, -1):
            for k in range(b1 - b0):
                b = b0 + k
                gk, st = dgi[b, t], step[k]
                if t >= lens[b]:
                    gk[:] = 0
                    st[:] = 0
                    continue
                si, sf = save[b, t, :hid], save[b, t, hid:2 * hid]
                sg, so = save[b, t, 2 * hid:3 * hid], save[b, t, 3 * hid:]
                ct = cs[b, t]
                cp = cs[b, t - 1] if t > 0 else c0[b]
                dyb, dhk, dck = dy[b, t], dh[k], dc[k]
                a_i, a_f = st[:hid], st[hid:2 * hid]
                a_g, a_o = st[2 * hid:3 * hid], st[3 * hid:]
                for j in range(hid):
                    g = dhk[j] + dyb[j]
                    ig, fg, gg, og = si[j], sf[j], sg[j], so[j]
                    tc = tanh(ct[j])
                    dcj = dck[j] + g * og * (one_ - tc * tc)
                    a_i[j] = dcj * gg * ig * (one_ - ig)
                    a_f[j] = dcj * cp[j] * fg * (one_ - fg)
                    a_g[j] = dcj * ig * (one_ - gg * gg)
                    a_o[j] = g * tc * og * (one_ - og)
                    dck[j] = dcj * fg
                copy_into(gk, st)
            mm(step, whh, back, gemm, ints, ab)
            for k in range(b1 - b0):
                if t < lens[b0 + k]:
                    if drop is None:
                        copy_into(dh[k], back[k])
                    else:
                        copy_masked(dh[k], back[k], drop[b0 + k])
        dh0[b0:b1] = dh
        dc0[b0:b1] = dc


def _forward(gi: Tensor, w_hh: Tensor, b_hh: Tensor | None, h0: Tensor, c0: Tensor,
             lens: np.ndarray, train: bool, drop=None):
    """gi (B, T, 4H) -> y (B, T, H), h_n, c_n (B, H), saved (gates, c) or None."""
    batch, steps, g4 = gi.shape
    hid = g4 // 4
    dt = gi.numpy().dtype
    y = _pool.empty((batch, steps, hid), dt)
    hn, cn = np.empty((batch, hid), dt), np.empty((batch, hid), dt)
    save = _pool.empty((batch, steps, g4) if train else (1, 1, 1), dt)
    cs = _pool.empty((batch, steps, hid) if train else (1, 1, 1), dt)
    bias = arr(b_hh) if b_hh is not None else np.zeros(g4, dt)
    gemm = gemm_address(dt)
    w, w_t = w_hh.detach(), transposes_pay(batch, steps, hid)
    with kernel_threads(batch, gemm) as nchunk:
        _fwd(gi.numpy(), arr(w.t() if w_t else w), w_t, bias, arr(h0), arr(c0), lens, y, hn,
             cn, save, cs, drop, train, gemm, nchunk)
    out = (torch.from_numpy(y), torch.from_numpy(hn), torch.from_numpy(cn))
    return out + ((torch.from_numpy(save), torch.from_numpy(cs)) if train else (None, None))


class _LSTMFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lens, state_mask):
        gi = _pool.linear(x, w_ih, b_ih)  # (B, T, 4H)
        drop = None if state_mask is None else arr(state_mask)  # (B, H)
        y, hn, cn, save, cs = _forward(gi, w_hh, b_hh, h0, c0, lens, True, drop)
        ctx.drop = drop
        kept = y.clone() if any(ctx.needs_input_grad) else y  # the caller may change y in place
        ctx.save_for_backward(x, w_ih, w_hh, h0, c0, kept, save, cs)
        ctx.set_materialize_grads(False)  # unused outputs: None, zeros made once in backward
        ctx.lens, ctx.has_b = lens, (b_ih is not None, b_hh is not None)
        return y, hn, cn

    @staticmethod
    def backward(ctx, dy, dhn, dcn):
        first_order_only(ctx, "the fused CPU LSTM kernel")
        x, w_ih, w_hh, h0, c0, y, save, cs = ctx.saved_tensors
        grads = backward(dy, dhn, dcn, x, w_ih, w_hh, h0, c0, y, save, cs, ctx.lens, ctx.drop,
                         ctx.needs_input_grad[0])
        dx, dw_ih, dw_hh, db, dh0, dc0 = grads
        return (dx, dw_ih, dw_hh, db if ctx.has_b[0] else None, db if ctx.has_b[1] else None,
                dh0, dc0, None, None)


def backward(dy: Tensor | None, dhn: Tensor | None, dcn: Tensor | None, x: Tensor,
             w_ih: Tensor, w_hh: Tensor, h0: Tensor, c0: Tensor, y: Tensor, save: Tensor,
             cs: Tensor, lens: np.ndarray, drop, need_dx: bool):
    """Gradients of one training forward -> dx (B, T, I) or None, dW_ih, dW_hh, db (4H,)
    (the gradient of either bias), dh0, dc0 (B, H)."""
    batch, steps, hid = y.shape
    dy = _pool.zeros_like(y) if dy is None else dy
    dhn, dcn = grad_or_zeros(dhn, h0), grad_or_zeros(dcn, c0)
    dgi = _pool.empty((batch, steps, 4 * hid), y.numpy().dtype)
    dh0, dc0 = np.empty((batch, hid), dgi.dtype), np.empty((batch, hid), dgi.dtype)
    gemm = gemm_address(dgi.dtype)
    with kernel_threads(batch, gemm) as nchunk:
        _bwd(arr(dy), arr(dhn), arr(dcn), arr(w_hh), arr(c0), save.numpy(), cs.numpy(), lens,
             drop, dgi, dh0, dc0, gemm, nchunk)
    hprev = torch.cat([h0.detach().unsqueeze(1), y[:, :-1]], dim=1,
                      out=_pool.tensor(tuple(y.shape), y.dtype))  # (B, T, H)
    if drop is not None:
        hprev = hprev * torch.from_numpy(drop).unsqueeze(1)  # d ⊙ h_{t−1}
    dg = torch.from_numpy(dgi).reshape(-1, 4 * hid)  # (B·T, 4H)
    dw_hh = dg.t() @ hprev.reshape(-1, hid)  # (4H, H)
    dw_ih = dg.t() @ x.detach().reshape(-1, x.shape[2])  # (4H, I)
    db = dg.sum(0)
    dx = (dg @ w_ih.detach()).reshape(x.shape) if need_dx else None
    return dx, dw_ih, dw_hh, db, torch.from_numpy(dh0), torch.from_numpy(dc0)


def lstm_cpu(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
             bias_hh: Tensor | None, *, h0: tuple[Tensor, Tensor], lengths: Tensor | None,
             weight_hr: Tensor | None, reverse: bool, state_mask: Tensor | None = None):
    """The ``grukit.ops.lstm`` signature on the fused CPU kernels (no projection)."""
    h, c = h0
    if torch.compiler.is_compiling():  # compile and export trace the ops of .library
        from .library import traced_runs

        train, infer = traced_runs(weight_ih, weight_hh, bias_ih, bias_hh, h, c, lengths,
                                   state_mask)
        return run_fused(x, lengths, reverse, (weight_ih, weight_hh, bias_ih, bias_hh, h, c),
                         train, infer)
    lens = lens_array(lengths, x.shape[0], x.shape[1])

    def train(xs: Tensor):
        drop = None if state_mask is None else state_mask.detach()
        y, hn, cn = _LSTMFunction.apply(xs, weight_ih, weight_hh, bias_ih, bias_hh, h, c, lens,
                                        drop)
        return y, (hn, cn)

    def infer(xs: Tensor):
        with torch.no_grad():
            gi = _pool.linear(xs, weight_ih, bias_ih)  # (B, T, 4H)
            drop = None if state_mask is None else arr(state_mask)  # (B, H)
            y, hn, cn, _, _ = _forward(gi, weight_hh, bias_hh, h, c, lens, False, drop)
        return y, (hn, cn)

    y, (hn, cn) = run_fused(x, lengths, reverse, (weight_ih, weight_hh, bias_ih, bias_hh, h, c),
                            train, infer)
    return y, (hn, cn)
