"""Reference GRU-D (Che et al. 2018): a plain torch loop, differentiable, any device — the
oracle of the fused kernels.

Inputs per sequence b and step t, each (B, T, D): the values x (anything, NaN included, where
unobserved), the mask m ∈ {0, 1} (1: observed) and δ ≥ 0, the time since each variable was
last observed; x̄ (D,) is the empirical mean of each variable (from the training data).

    γ_x = exp(−max(0, w_γx ⊙ δ_t + b_γx))                  (D,)  diagonal: one rate per variable
    γ_h = exp(−max(0, W_γh δ_t + b_γh))                    (H,)  full (H, D)
    x̂_t = m_t ⊙ x_t + (1 − m_t) ⊙ (γ_x ⊙ x_last,t + (1 − γ_x) ⊙ x̄)
    ĥ = γ_h ⊙ h_{t−1}
    r = σ(W_ir x̂ + W_mr m + b_ir + W_hr ĥ + b_hr)
    z = σ(W_iz x̂ + W_mz m + b_iz + W_hz ĥ + b_hz)
    n = tanh(W_in x̂ + W_mn m + b_in + W_hn (r ⊙ ĥ))          reset_after=False (the paper's)
    n = tanh(W_in x̂ + W_mn m + b_in + r ⊙ (W_hn ĥ + b_hn))   reset_after=True
    h_t = (1 − z) ⊙ n + z ⊙ ĥ

Recurrent dropout (``state_mask``, one draw per sequence: Gal & Ghahramani 2016, Keras'
``recurrent_dropout``, Che et al.'s code at 0.3) multiplies ĥ where W_hh reads it: W_hr (s_r
⊙ ĥ), W_hz (s_z ⊙ ĥ), W_hn (r ⊙ s_n ⊙ ĥ) (reset_after=True: r ⊙ (W_hn (s_n ⊙ ĥ) + b_hn));
the blend h_t = (1 − z) ⊙ n + z ⊙ ĥ reads ĥ itself. A (B, H) mask is shared, s_r = s_z =
s_n; a (B, 3H) one is [s_r, s_z, s_n], a draw per gate as Che et al.'s Keras layer
(``implementation=1``). The input mask is likewise (B, 2D) shared or (B, 3, 2D) per gate.

Gate order r, z, n and the labelling of z are torch's (``grukit.ops.gru``): the paper writes
h_t = (1 − z') ⊙ ĥ + z' ⊙ h̃, so its z' is our 1 − z (the same family, z relabelled); its W,
U, V are our weight_ih, weight_hh, weight_mh.

x_last,t is computed here from x and m: the value of the variable at its last observed step
≤ t (carried forward); before a variable's first observation in x it is ``x_last0`` (B, D),
the last values seen before this chunk (a stream carries them, see ``final_observed``), or
x̄ when there is none, so that x̂ = x̄ there whatever the decay. Where m = 1, x̂ = x. The
input side (decays, x̂, the input projections) depends on x, m, δ only and is computed for
all steps at once (``input_side``); only ĥ and the GRU step run in the serial loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._seq import masked_loop


def _seen_steps(mask: Tensor) -> Tensor:
    """(B, T, D): each variable's last observed step ≤ t, −1 where none yet."""
    steps = mask.shape[1]
    t = torch.arange(steps, device=mask.device).view(1, steps, 1)  # (1, T, 1)
    seen = torch.where(mask > 0, t, torch.full_like(t, -1))  # (B, T, D): step, or −1
    return seen.cummax(dim=1).values


def _before(fallback: Tensor, x: Tensor) -> Tensor:
    """The values before the first observation, x̄ (D,) or x_last0 (B, D), as (B, T, D)."""
    return (fallback if fallback.dim() == 1 else fallback.unsqueeze(1)).expand_as(x)


def last_observed(x: Tensor, mask: Tensor, fallback: Tensor) -> Tensor:
    """x_last (B, T, D): x at each variable's last observed step ≤ t; before its first,
    ``fallback``: x̄ (D,) or the values carried in, x_last0 (B, D).

    x must hold no NaN where mask is 0 (``input_side`` zeroes them first); the gradient flows
    to the observed entries of x only.
    """
    idx = _seen_steps(mask)  # (B, T, D)
    carried = x.gather(1, idx.clamp(min=0))  # (B, T, D)
    return torch.where(idx >= 0, carried, _before(fallback, x))


def final_observed(x: Tensor, mask: Tensor, x_mean: Tensor, lengths: Tensor | None = None,
                   x_last0: Tensor | None = None) -> Tensor:
    """(B, D): each variable's last observed value at each sequence's own last step, what a
    later chunk takes as ``x_last0`` (x_last0, or x̄, where it was not observed). x may hold
    NaN where mask is 0."""
    batch, steps, _ = x.shape
    m = mask.to(x.dtype)
    xo = torch.where(m > 0, x, torch.zeros_like(x))  # (B, T, D)
    fallback = x_mean.expand(batch, -1) if x_last0 is None else x_last0  # (B, D)
    if steps == 0:
        return fallback
    ends = torch.full((batch,), steps) if lengths is None else torch.as_tensor(lengths)
    last = (ends - 1).clamp(min=0).to(x.device).view(batch, 1, 1).expand(-1, 1, x.shape[2])
    idx = _seen_steps(m).gather(1, last)[:, 0]  # (B, D): last observed step, −1 if none
    idx = torch.where((ends > 0).to(x.device).view(batch, 1), idx, torch.full_like(idx, -1))
    carried = xo.gather(1, idx.clamp(min=0).unsqueeze(1))[:, 0]  # (B, D)
    return torch.where(idx >= 0, carried, fallback)


def decay(delta: Tensor, weight: Tensor, bias: Tensor | None, diagonal: bool) -> Tensor:
    """γ = exp(−max(0, W δ + b)): δ (B, T, D) -> (B, T, D) with a diagonal weight (D,) or
    (B, T, H) with a full weight (H, D)."""
    a = delta * weight if diagonal else F.linear(delta, weight)
    if bias is not None:
        a = a + bias
    return torch.exp(-torch.relu(a))


def input_side(x: Tensor, mask: Tensor, delta: Tensor, x_mean: Tensor, weight_ih: Tensor,
               bias_ih: Tensor | None, weight_mh: Tensor, decay_x_weight: Tensor,
               decay_x_bias: Tensor | None, decay_h_weight: Tensor,
               decay_h_bias: Tensor | None,
               x_last0: Tensor | None = None,
               input_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """For all steps at once: gi = W_ih x̂ + W_mh m + b_ih (B, T, 3H) and γ_h (B, T, H);
    ``x_last0`` (B, D): the last observed values before x (x̄ when None); ``input_mask``
    (B, 2D) shared by the gates or (B, 3, 2D) one per gate r, z, n: a multiplier of [x̂, m]
    where the weights read them, the same at every step (variational input dropout; the
    imputation itself reads the true mask). Per gate, gi_k = W_k (d_k ⊙ [x̂, m]) + b_k."""
    m = mask.to(x.dtype)  # (B, T, D)
    observed = m > 0
    xo = torch.where(observed, x, 0.0)  # (B, T, D): no NaN where unobserved
    gx = decay(delta, decay_x_weight, decay_x_bias, True)  # (B, T, D)
    x_last = last_observed(xo, m, x_mean if x_last0 is None else x_last0)  # (B, T, D)
    # γ x_last + (1 − γ) x̄ written x̄ + γ (x_last − x̄): one temporary less
    x_hat = torch.where(observed, xo, x_mean + gx * (x_last - x_mean))  # (B, T, D)
    # W_ih x̂ + W_mh m + b_ih as one GEMM on [x̂, m] (B, T, 2D): a third faster than two
    xm = torch.cat([x_hat, m], 2)  # (B, T, 2D)
    w = torch.cat([weight_ih, weight_mh], 1)  # (3H, 2D)
    if input_mask is not None and input_mask.dim() == 3:  # (B, 3, 2D): one draw per gate
        g3, width = w.shape
        xm3 = xm.unsqueeze(2) * input_mask.unsqueeze(1)  # (B, T, 3, 2D)
        gi = torch.einsum("btkd,khd->btkh", xm3, w.view(3, g3 // 3, width))  # (B, T, 3, H)
        gi = gi.reshape(xm.shape[0], xm.shape[1], g3)  # (B, T, 3H)
        if bias_ih is not None:
            gi = gi + bias_ih
    else:
        if input_mask is not None:
            xm = xm * input_mask.unsqueeze(1)  # (B, 1, 2D): one draw per sequence
        gi = F.linear(xm, w, bias_ih)  # (B, T, 3H)
    gh = decay(delta, decay_h_weight, decay_h_bias, False)  # (B, T, H)
    return gi, gh


def grud_step(gi: Tensor, gamma_h: Tensor, h: Tensor, weight_hh: Tensor,
              bias_hh: Tensor | None, reset_after: bool,
              state_mask: Tensor | None = None) -> Tensor:
    """One step from gi (B, 3H), the hidden decay γ_h (B, H) and the state h (B, H);
    ``state_mask`` (B, H) shared by the gates, or (B, 3H) one per gate [s_r, s_z, s_n],
    multiplies ĥ where W_hh reads it (recurrent dropout)."""
    hidden = h.shape[1]
    hd = gamma_h * h  # (B, H): ĥ
    gi_r, gi_z, gi_n = gi.split(hidden, dim=1)  # 3 × (B, H)
    if state_mask is not None and state_mask.shape[1] == 3 * hidden:
        s_r, s_z, s_n = state_mask.split(hidden, dim=1)  # 3 × (B, H)
        w_r, w_z, w_n = weight_hh.split(hidden, dim=0)  # 3 × (H, H)
        b_r, b_z, b_n = (None,) * 3 if bias_hh is None else bias_hh.split(hidden)
        r = torch.sigmoid(gi_r + F.linear(hd * s_r, w_r, b_r))
        z = torch.sigmoid(gi_z + F.linear(hd * s_z, w_z, b_z))
        if reset_after:  # r ⊙ (W_hn (s_n ⊙ ĥ) + b_hn)
            n = torch.tanh(gi_n + r * F.linear(hd * s_n, w_n, b_n))
        else:  # W_hn (r ⊙ s_n ⊙ ĥ)
            n = torch.tanh(gi_n + F.linear(r * s_n * hd, w_n))
        return (1 - z) * n + z * hd
    hm = hd if state_mask is None else hd * state_mask  # (B, H): what W_hh reads
    if reset_after:
        gh_r, gh_z, gh_n = F.linear(hm, weight_hh, bias_hh).split(hidden, dim=1)
        r = torch.sigmoid(gi_r + gh_r)
        z = torch.sigmoid(gi_z + gh_z)
        n = torch.tanh(gi_n + r * gh_n)
    else:
        w_rz, w_n = weight_hh.split((2 * hidden, hidden), dim=0)  # (2H, H), (H, H)
        gh_r, gh_z = F.linear(hm, w_rz).split(hidden, dim=1)
        r = torch.sigmoid(gi_r + gh_r)
        z = torch.sigmoid(gi_z + gh_z)
        n = torch.tanh(gi_n + F.linear(r * hm, w_n))
    return (1 - z) * n + z * hd


def grud_reference(x: Tensor, mask: Tensor, delta: Tensor, x_mean: Tensor,
                   x_last0: Tensor | None, weight_ih: Tensor,
                   weight_hh: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None,
                   weight_mh: Tensor, decay_x_weight: Tensor, decay_x_bias: Tensor | None,
                   decay_h_weight: Tensor, decay_h_bias: Tensor | None, *, h0: Tensor,
                   lengths: Tensor | None, reset_after: bool,
                   reverse: bool = False,
                   input_mask: Tensor | None = None,
                   state_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """x, mask, delta (B, T, D), h0 (B, H) -> y (B, T, H), h_n (B, H). Inputs are already
    validated (the entry refuses ``reverse``)."""
    gi, gh = input_side(x, mask, delta, x_mean, weight_ih, bias_ih, weight_mh, decay_x_weight,
                        decay_x_bias, decay_h_weight, decay_h_bias, x_last0, input_mask)
    g3 = gi.shape[2]

    def step(g: Tensor, s: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        return (grud_step(g[:, :g3], g[:, g3:], s[0], weight_hh, bias_hh, reset_after,
                          state_mask),)

    y, (h_n,) = masked_loop(step, torch.cat([gi, gh], dim=2), (h0,), lengths)  # (B, T, 4H)
    return y, h_n
