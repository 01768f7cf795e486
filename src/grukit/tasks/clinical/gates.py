"""Per-gate variational dropout for the clinical GRU and LSTM baselines in training.

Che et al.'s released code builds GRU-D and its GRU baselines from one Keras layer
(``implementation=1``), which draws one dropout mask per gate, the same at every step: on the
inputs each gate reads, W_ik (d_k ⊙ x), and on the state the recurrent weights read,
W_hk (s_k ⊙ h). Here the baselines get the same masks (their weights are those of the
``grukit.nn`` GRU or LSTM, so inference and saved models are unchanged):

- GRU (torch's, reset_after=True): ``grukit.ops.grud`` with the decays off runs it. With
  every value observed (m = 1), δ = 0, W_mh = 0 and zero decay weights, γ_h = 1 and x̂ = x:

      r = σ(W_ir (d_r ⊙ x) + b_ir + W_hr (s_r ⊙ h) + b_hr)
      z = σ(W_iz (d_z ⊙ x) + b_iz + W_hz (s_z ⊙ h) + b_hz)
      n = tanh(W_in (d_n ⊙ x) + b_in + r ⊙ (W_hn (s_n ⊙ h) + b_hn))
      h' = (1 − z) ⊙ n + z ⊙ h

  and its fused CPU kernel takes per-gate masks forward and backward.
- LSTM (torch's gate order i, f, g, o): a plain torch loop,

      [i; f; g; o]_k = W_ik (d_k ⊙ x) + b_ik + W_hk (s_k ⊙ h) + b_hk
      c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g),   h' = σ(o) ⊙ tanh(c')
"""

from __future__ import annotations

import torch
from torch import Tensor

from ... import ops


def draw(batch: int, gates: int, width: int, rate: float, like: Tensor) -> Tensor | None:
    """(B, gates, width) inverted-dropout multipliers (0 or 1/(1 − rate)), None at rate 0."""
    if not rate:
        return None
    keep = 1.0 - rate
    return torch.bernoulli(like.new_full((batch, gates, width), keep)) / keep


def gru(rnn, x: Tensor, input_keep: Tensor | None, state_keep: Tensor | None) -> Tensor:
    """rnn: a one-layer ``grukit.nn.GRU``; x (B, T, F); input_keep (B, 3, F) and state_keep
    (B, 3, H), one mask per gate r, z, n (or None) -> y (B, T, H) from h0 = 0."""
    batch, _, width = x.shape
    hid = rnn.hidden_size
    b_ih, b_hh = getattr(rnn, "bias_ih_l0", None), getattr(rnn, "bias_hh_l0", None)
    zeros = x.new_zeros(width)  # (F,)
    in_mask = None
    if input_keep is not None:  # the mask half [m] meets W_mh = 0
        in_mask = torch.cat([input_keep, torch.ones_like(input_keep)], 2)  # (B, 3, 2F)
    observed = torch.ones(x.shape, dtype=torch.bool, device=x.device)  # (B, T, F): m = 1
    y, _ = ops.grud(x, observed, x.new_zeros(x.shape), zeros,
                    rnn.weight_ih_l0, rnn.weight_hh_l0, b_ih, b_hh, x.new_zeros(3 * hid, width),
                    zeros, None, x.new_zeros(hid, width), None, reset_after=True,
                    input_mask=in_mask, state_mask=state_keep)
    return y  # (B, T, H)


def lstm(rnn, x: Tensor, input_keep: Tensor | None, state_keep: Tensor | None) -> Tensor:
    """rnn: a one-layer ``grukit.nn.LSTM`` (no projection); x (B, T, F); input_keep
    (B, 4, F) and state_keep (B, 4, H), one mask per gate i, f, g, o (or None) -> y (B, T, H)
    from h0 = c0 = 0."""
    batch, steps, width = x.shape
    hid = rnn.hidden_size
    w_ih = rnn.weight_ih_l0.view(4, hid, width)  # (4, H, F)
    w_hh = rnn.weight_hh_l0.view(4, hid, hid)  # (4, H, H)
    bias = x.new_zeros(4, hid)
    for name in ("bias_ih_l0", "bias_hh_l0"):
        if getattr(rnn, name, None) is not None:
            bias = bias + getattr(rnn, name).view(4, hid)
    xs = x.unsqueeze(2) if input_keep is None else x.unsqueeze(2) * input_keep.unsqueeze(1)
    gi = torch.einsum("btkf,khf->btkh", xs.expand(-1, -1, 4, -1), w_ih) + bias  # (B, T, 4, H)
    h = c = x.new_zeros(batch, hid)
    ys = []
    for t in range(steps):
        hk = h.unsqueeze(1) if state_keep is None else h.unsqueeze(1) * state_keep  # (B, ·, H)
        g = gi[:, t] + torch.einsum("bkh,kjh->bkj", hk.expand(-1, 4, -1), w_hh)  # (B, 4, H)
        i, f, o = torch.sigmoid(g[:, 0]), torch.sigmoid(g[:, 1]), torch.sigmoid(g[:, 3])
        c = f * c + i * torch.tanh(g[:, 2])
        h = o * torch.tanh(c)
        ys.append(h)
    return torch.stack(ys, 1)  # (B, T, H)
