"""Reference minGRU (Feng et al. 2024, "Were RNNs All We Needed?"), both paths::

    k, v = split(W_ih x + b_ih)          rows [W_z; W_h], each (H, I)
    z = σ(k)
    h̃ = g(v),   g(v) = v + 0.5 if v ≥ 0 else σ(v)      (keeps h̃ > 0: the paper's log-space form)
    h' = (1 − z) ⊙ h + z ⊙ h̃

Sequential: the loop above (inference, streaming). Parallel: h_t = a_t h_{t−1} + b_t with
a = 1 − z and b = z ⊙ h̃ is a linear scan, evaluated in log space (Heinsen 2023)::

    a*_t = Σ_{s≤t} log a_s
    h_t  = exp(a*_t) ⊙ h_0 + exp(a*_t + logcumsumexp_{s≤t}(log b_s − a*_s))

The h_0 term is kept linear so any real initial state works. a*_t falls like −0.7·t, so
a*_t + logcumsumexp(…) cancels two numbers of that size: in float32 the error grows like
|a*_t|·2⁻²⁴ (1e-3 at T = 5000). The scan therefore runs in float64 (error ~|a*_t|·1e-16,
1e-10 at T = 10⁶) and rounds once to the input's dtype, as accurate as the sequential loop.
Each log a_s is held at ``LOG_A_MIN`` = −1000 or above (a = 0 in float64 either way), so a
huge k (|x| of 1e12) cannot make a*_t so large that the cancellation loses h, nor z = 1
(k = +Inf) make it −Inf and h NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._seq import masked_loop, run_directed

LOG_A_MIN = -1000.0  # e^−1000 underflows float64 (its least value is e^−744.4)


def g(v: Tensor) -> Tensor:
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def log_g(v: Tensor) -> Tensor:
    return torch.where(v >= 0, torch.log(v.clamp_min(0) + 0.5), -F.softplus(-v))


def mingru_step(gi: Tensor, h: Tensor) -> Tensor:
    """gi = W_ih x + b_ih (B, 2H); h (B, H) -> h' (B, H)."""
    k, v = gi.chunk(2, dim=1)  # 2 × (B, H)
    z = torch.sigmoid(k)
    return (1 - z) * h + z * g(v)


def _parallel(gi: Tensor, h0: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
    # float64 (see the module docstring), where the device has it (Apple's MPS has none)
    wide = gi.double() if gi.device.type != "mps" else gi
    k, v = wide.chunk(2, dim=2)  # 2 × (B, T, H)
    # log(1 − z), at least LOG_A_MIN: z = 1 (k = +Inf) restarts the scan without a −Inf in
    # a*, whose a* − a* is NaN; any a = exp(log a) below e^LOG_A_MIN is 0 in float64 anyway
    log_a = (-F.softplus(k)).clamp_min(LOG_A_MIN)
    log_b = -F.softplus(-k) + log_g(v)  # log z + log h̃
    a_star = log_a.cumsum(dim=1)  # (B, T, H)
    y = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=1))
    y = y + torch.exp(a_star) * h0.to(wide.dtype).unsqueeze(1)  # (B, T, H)
    y = y.to(gi.dtype)
    if lengths is None:
        return y, y[:, -1] if y.shape[1] else h0
    steps = gi.shape[1]
    inside = (torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)).to(gi.device)  # (B, T)
    y = y * inside.unsqueeze(2)
    last = (lengths - 1).clamp_min(0).to(gi.device)  # (B,)
    h_last = y[torch.arange(y.shape[0], device=gi.device), last] if steps else h0
    h_n = torch.where((lengths > 0).to(gi.device).unsqueeze(1), h_last, h0)
    return y, h_n


def mingru_reference(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, *, h0: Tensor,
                     lengths: Tensor | None, mode: str,
                     reverse: bool) -> tuple[Tensor, Tensor]:
    """x (B, T, I), h0 (B, H) -> y (B, T, H), h_n (B, H); mode "parallel" or "sequential"."""

    def run(xs: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        gi = F.linear(xs, weight_ih, bias_ih)  # (B, T, 2H)
        if mode == "parallel":
            y, h_n = _parallel(gi, h0, lengths)
            return y, (h_n,)
        return masked_loop(lambda gt, s: (mingru_step(gt, s[0]),), gi, (h0,), lengths)

    y, (h_n,) = run_directed(run, x, lengths, reverse)
    return y, h_n
