"""Reference GRU: a plain torch loop, differentiable, any device — the oracle for kernels.

Gate order r, z, n (torch/cuDNN). ``reset_after=True`` (torch.nn.GRU, cuDNN, Keras 3):

    r = σ(W_ir x + b_ir + W_hr h + b_hr)
    z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    h' = (1 − z) ⊙ n + z ⊙ h

``reset_after=False`` (Cho et al. 2014, Keras ``reset_after=False``): no recurrent bias and

    n = tanh(W_in x + b_in + W_hn (r ⊙ h))

Keras' ``activation`` / ``recurrent_activation`` replace tanh (for n) and σ (for r, z).

Zoneout (Krueger et al. 2017) with a mask m_t (B, H): h_t = m_t ⊙ h_{t−1} + (1 − m_t) ⊙ h̃_t,
where h̃_t is the update above; recurrent dropout (``state_mask``, B, H) multiplies the state
fed to W_hh only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._seq import masked_loop, run_directed
from ..activations import apply


def gru_step(gi: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None,
             reset_after: bool, state_mask: Tensor | None = None,
             zoneout_mask: Tensor | None = None, activation: str = "tanh",
             recurrent_activation: str = "sigmoid") -> Tensor:
    """One step from the input projection gi = W_ih x + b_ih (B, 3H) and the state h (B, H).

    ``state_mask`` (B, H) multiplies the state fed to W_hh only (variational recurrent
    dropout, Gal & Ghahramani 2016, as Keras' ``recurrent_dropout``); the update uses h.
    ``zoneout_mask`` (B, H) keeps h where it is 1: h' = m ⊙ h + (1 − m) ⊙ h̃ (Krueger et al.
    2017), h̃ the GRU update.
    """
    hidden = h.shape[1]
    hm = h if state_mask is None else h * state_mask
    gi_r, gi_z, gi_n = gi.split(hidden, dim=1)  # 3 × (B, H)
    if reset_after:
        gh = F.linear(hm, weight_hh, bias_hh)  # (B, 3H)
        gh_r, gh_z, gh_n = gh.split(hidden, dim=1)
        r = apply(recurrent_activation, gi_r + gh_r)
        z = apply(recurrent_activation, gi_z + gh_z)
        n = apply(activation, gi_n + r * gh_n)
    else:
        w_rz, w_n = weight_hh.split((2 * hidden, hidden), dim=0)  # (2H, H), (H, H)
        gh_r, gh_z = F.linear(hm, w_rz).split(hidden, dim=1)
        r = apply(recurrent_activation, gi_r + gh_r)
        z = apply(recurrent_activation, gi_z + gh_z)
        n = apply(activation, gi_n + F.linear(r * hm, w_n))
    h_new = (1 - z) * n + z * h  # (B, H)
    if zoneout_mask is None:
        return h_new
    return zoneout_mask * h + (1 - zoneout_mask) * h_new


def gru_reference(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
                  bias_hh: Tensor | None, *, h0: Tensor, lengths: Tensor | None,
                  reset_after: bool, reverse: bool,
                  state_mask: Tensor | None = None,
                  zoneout_mask: Tensor | None = None, activation: str = "tanh",
                  recurrent_activation: str = "sigmoid") -> tuple[Tensor, Tensor]:
    """x (B, T, I), h0 (B, H) -> y (B, T, H), h_n (B, H). Inputs are already validated.

    ``zoneout_mask`` (B, T, H) is indexed like x: its step t applies where x[:, t] is read
    (with ``reverse`` too, so the mask travels with its input step).
    """
    g3 = weight_ih.shape[0]

    def step(g: Tensor, s: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        m = None
        if zoneout_mask is not None:
            g, m = g[:, :g3], g[:, g3:]  # (B, 3H), (B, H)
        return (gru_step(g, s[0], weight_hh, bias_hh, reset_after, state_mask, m, activation,
                         recurrent_activation),)

    def run(xs: Tensor, *zm: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        gi = F.linear(xs, weight_ih, bias_ih)  # (B, T, 3H)
        if zm:
            gi = torch.cat([gi, zm[0]], dim=2)  # (B, T, 4H): [gi, m], one slice per step
        return masked_loop(step, gi, (h0,), lengths)

    along = () if zoneout_mask is None else (zoneout_mask,)
    y, (h_n,) = run_directed(run, x, lengths, reverse, *along)
    return y, h_n
