"""Reference LSTM: plain torch loop, the oracle for kernels. Gate order i, f, g, o (torch)::

    i = σ(W_ii x + b_ii + W_hi h + b_hi)
    f = σ(W_if x + b_if + W_hf h + b_hf)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)
    o = σ(W_io x + b_io + W_ho h + b_ho)
    c' = f ⊙ c + i ⊙ g
    h' = o ⊙ tanh(c')            (h' = W_hr (o ⊙ tanh(c')) with a projection)

Keras' ``activation`` replaces tanh (for g and c'), ``recurrent_activation`` σ (i, f, o).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._seq import masked_loop, run_directed
from ..activations import apply


def lstm_step(gi: Tensor, h: Tensor, c: Tensor, weight_hh: Tensor, bias_hh: Tensor | None,
              weight_hr: Tensor | None, state_mask: Tensor | None = None,
              activation: str = "tanh",
              recurrent_activation: str = "sigmoid") -> tuple[Tensor, Tensor]:
    """gi = W_ih x + b_ih (B, 4H); h (B, P or H); c (B, H) -> (h', c'). ``state_mask``
    multiplies h before W_hh (recurrent dropout)."""
    hm = h if state_mask is None else h * state_mask
    gates = gi + F.linear(hm, weight_hh, bias_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=1)  # 4 × (B, H)
    if activation == "tanh" and recurrent_activation == "sigmoid":
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)  # (B, H)
    else:
        gate = lambda t: apply(recurrent_activation, t)  # noqa: E731
        c = gate(f) * c + gate(i) * apply(activation, g)
        h = gate(o) * apply(activation, c)  # (B, H)
    if weight_hr is not None:
        h = F.linear(h, weight_hr)  # (B, P)
    return h, c


def lstm_reference(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
                   bias_hh: Tensor | None, *, h0: tuple[Tensor, Tensor],
                   lengths: Tensor | None, weight_hr: Tensor | None,
                   reverse: bool,
                   state_mask: Tensor | None = None, activation: str = "tanh",
                   recurrent_activation: str = "sigmoid"
                   ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """x (B, T, I), h0 = (h (B, P), c (B, H)) -> y (B, T, P), (h_n, c_n)."""

    def run(xs: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        gi = F.linear(xs, weight_ih, bias_ih)  # (B, T, 4H)
        return masked_loop(
            lambda g, s: lstm_step(g, s[0], s[1], weight_hh, bias_hh, weight_hr, state_mask,
                                   activation, recurrent_activation),
            gi, h0, lengths)

    y, (h_n, c_n) = run_directed(run, x, lengths, reverse)
    return y, (h_n, c_n)
