"""Reference Elman RNN: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, act any activation of
``grukit.ops.activations.ELEMENTWISE`` by Keras' name (tanh, relu, sigmoid, elu, linear, ...);
the fused kernels compute tanh and relu (``FUSED``)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .._seq import masked_loop, run_directed
from ..activations import apply

FUSED = ("tanh", "relu")  # the activations the fused kernels (cpu, stream) compute


def rnn_step(gi: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None,
             nonlinearity: str | None, state_mask: Tensor | None = None) -> Tensor:
    """gi = W_ih x + b_ih (B, H); h (B, H) -> h' (B, H); ``state_mask`` multiplies h first."""
    hm = h if state_mask is None else h * state_mask
    return apply(nonlinearity, gi + F.linear(hm, weight_hh, bias_hh))


def rnn_reference(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
                  bias_hh: Tensor | None, *, h0: Tensor, lengths: Tensor | None,
                  nonlinearity: str | None, reverse: bool,
                  state_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """x (B, T, I), h0 (B, H) -> y (B, T, H), h_n (B, H)."""

    def run(xs: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        gi = F.linear(xs, weight_ih, bias_ih)  # (B, T, H)
        return masked_loop(
            lambda g, s: (rnn_step(g, s[0], weight_hh, bias_hh, nonlinearity, state_mask),),
            gi, (h0,), lengths)

    y, (h_n,) = run_directed(run, x, lengths, reverse)
    return y, h_n
