"""Reference LayerNorm-GRU: a plain torch loop, differentiable, any device — the oracle.

Layer normalisation (Ba et al. 2016, §3.1) of the input and of the recurrent pre-activations
of a GRU, as haste's ``LayerNormGRU`` does it: each normalised over all 3H gate rows at once
(one mean and one variance per sequence and step), then scaled by a gain and shifted:

    LN(v; g, β) = (v − mean(v)) / sqrt(var(v) + ε) ⊙ g + β      (biased var, ε = 1e-5)

Gate order r, z, n (torch/cuDNN). ``reset_after=True``:

    gi = LN(W_ih x; g_ih, β_ih) + b_ih                           (3H rows)
    gh = LN(W_hh h; g_hh, β_hh) + b_hh                           (3H rows)
    r = σ(gi_r + gh_r)    z = σ(gi_z + gh_z)
    n = tanh(gi_n + r ⊙ gh_n)
    h' = (1 − z) ⊙ n + z ⊙ h

``reset_after=False`` (Cho et al. 2014 v3): W_hn multiplies r ⊙ h, which exists only once
r is known, so the recurrent rows cannot share one normalisation; they get two, the r, z rows
over their 2H values and the n rows over their H values (gains and shifts are the slices of
g_hh, β_hh), and there is no recurrent bias b_hh (β_hh plays its part):

    a = LN(W_h[r,z] h; g_hh[:2H], β_hh[:2H])                     (2H rows)
    r = σ(gi_r + a_r)    z = σ(gi_z + a_z)
    n = tanh(gi_n + LN(W_hn (r ⊙ h); g_hh[2H:], β_hh[2H:]))      (H rows)

Initial values (haste): gains 1, shifts 0; b_ih and b_hh are kept as in ``grukit.ops.gru``
(β and b add up: their gradients are equal).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._seq import masked_loop, run_directed

EPS = 1e-5  # haste's and torch.nn.LayerNorm's


def layer_norm(v: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """LN over the last dim of v (·, G) with gain ``weight`` (G,) and shift ``bias`` (G,).

    torch's float32 (and half) layer norm keeps its moments in float32: for |v| around
    1e19 or more Σ (v − mean)² overflows, 1/σ comes out 0 or NaN and LN(v) would be β
    alone. Those calls are made again in float64 and rounded back (the fused kernels'
    ``_kernels._normalise`` keeps its sums in float64 too), gradients through the float64
    ops; the others cost one read of the least 1/σ (~3.5 µs a call on the CPU, a sync on a
    GPU). NaN or Inf in v also takes the float64 call (its rows stay NaN). Under
    ``torch.compile`` and the ``torch.func`` transforms (no data-dependent branch: vmap
    cannot read a value) every float32 call is made in float64.
    """
    shape = (v.shape[-1],)
    if v.dtype == torch.float64:
        return F.layer_norm(v, shape, weight, bias, EPS)
    if not torch.compiler.is_compiling() and \
            torch._C._functorch.peek_interpreter_stack() is None:
        y, _, rstd = torch.native_layer_norm(v, shape, weight, bias, EPS)  # rstd (·, 1)
        if not rstd.numel() or rstd.amin().item() > 0:  # no variance overflowed (nor NaN)
            return y
    wide = [None if t is None else t.double() for t in (weight, bias)]
    return F.layer_norm(v.double(), shape, *wide, EPS).to(v.dtype)


def input_gates(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None,
                ln_ih_weight: Tensor | None, ln_ih_bias: Tensor | None) -> Tensor:
    """gi = LN(W_ih x; g_ih, β_ih) + b_ih for all steps at once: x (B, T, I) -> (B, T, 3H)."""
    gi = layer_norm(F.linear(x, weight_ih), ln_ih_weight, ln_ih_bias)  # (B, T, 3H)
    return gi if bias_ih is None else gi + bias_ih


def lngru_step(gi: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None,
               ln_hh_weight: Tensor | None, ln_hh_bias: Tensor | None,
               reset_after: bool, state_mask: Tensor | None = None) -> Tensor:
    """One step from the normalised input gates gi (B, 3H) (see ``input_gates``) and h (B, H).

    ``state_mask`` (B, H) multiplies the state fed to W_hh only (variational recurrent
    dropout, as ``grukit.ops.gru``); the update uses h.
    """
    hidden = h.shape[1]
    hm = h if state_mask is None else h * state_mask
    gi_r, gi_z, gi_n = gi.split(hidden, dim=1)  # 3 × (B, H)
    if reset_after:
        gh = layer_norm(F.linear(hm, weight_hh), ln_hh_weight, ln_hh_bias)  # (B, 3H)
        if bias_hh is not None:
            gh = gh + bias_hh
        gh_r, gh_z, gh_n = gh.split(hidden, dim=1)
        r = torch.sigmoid(gi_r + gh_r)
        z = torch.sigmoid(gi_z + gh_z)
        n = torch.tanh(gi_n + r * gh_n)
    else:
        w_rz, w_n = weight_hh.split((2 * hidden, hidden), dim=0)  # (2H, H), (H, H)
        g_rz, g_n = _halves(ln_hh_weight, hidden)
        b_rz, b_n = _halves(ln_hh_bias, hidden)
        gh_r, gh_z = layer_norm(F.linear(hm, w_rz), g_rz, b_rz).split(hidden, dim=1)
        r = torch.sigmoid(gi_r + gh_r)
        z = torch.sigmoid(gi_z + gh_z)
        n = torch.tanh(gi_n + layer_norm(F.linear(r * hm, w_n), g_n, b_n))
    return (1 - z) * n + z * h


def _halves(v: Tensor | None, hidden: int) -> tuple[Tensor | None, Tensor | None]:
    """(3H,) -> its r, z rows (2H,) and its n rows (H,); None stays None."""
    if v is None:
        return None, None
    return v[:2 * hidden], v[2 * hidden:]


def lngru_reference(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
                    bias_hh: Tensor | None, ln_ih_weight: Tensor | None,
                    ln_ih_bias: Tensor | None, ln_hh_weight: Tensor | None,
                    ln_hh_bias: Tensor | None, *, h0: Tensor, lengths: Tensor | None,
                    reset_after: bool, reverse: bool,
                    state_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """x (B, T, I), h0 (B, H) -> y (B, T, H), h_n (B, H). Inputs are already validated."""

    def run(xs: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        gi = input_gates(xs, weight_ih, bias_ih, ln_ih_weight, ln_ih_bias)  # (B, T, 3H)
        return masked_loop(
            lambda g, s: (lngru_step(g, s[0], weight_hh, bias_hh, ln_hh_weight, ln_hh_bias,
                                     reset_after, state_mask),),
            gi, (h0,), lengths)

    y, (h_n,) = run_directed(run, x, lengths, reverse)
    return y, h_n
