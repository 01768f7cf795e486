"""Residual blocks of language models: pre-normalisation, a mixer (a recurrent layer or
causal self-attention), an expansion, and a feed-forward sub-block.

    RecurrentBlock("mingru", 256, expansion=1.5, ff_expansion=4)   # minGRU LM block
    AttentionBlock(256, num_heads=4, ff_expansion=4)               # a Transformer block

Both take ``(x, state)`` and return ``(y, state)`` so that a stack of them — recurrent,
attention or interleaved — carries its state step by step: a recurrent block's state is
its cell's (h, or (h, c)), an attention block's is its ``KVCache``.

The recurrent cell comes from the cell spec (``grukit.cells.get(cell).build``), so every
cell grukit has can be a block, with the spec's baseline settings (LSTM forget bias 1).
"""

from __future__ import annotations

import math
import numbers

import torch.nn.functional as F
from torch import Tensor, nn

from .. import cells
from .attention import CausalSelfAttention, KVCache, _positive

NORMS = ("layer", "rms")


def make_norm(kind: str, width: int) -> nn.Module:
    """``"layer"``: ``nn.LayerNorm`` (Ba et al. 2016); ``"rms"``: ``nn.RMSNorm`` (Zhang &
    Sennrich 2019)."""
    if kind == "layer":
        return nn.LayerNorm(width)
    if kind == "rms":
        return nn.RMSNorm(width)
    raise ValueError(f"norm must be one of {', '.join(map(repr, NORMS))}; got {kind!r}.")


def _rate(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{what} must be a number in [0, 1); got {value!r}.")
    return float(value)


def _expansion(value, what: str, least: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < least:  # NaN and inf have no width
        raise ValueError(f"{what} must be a finite number ≥ {least}; got {value!r}.")
    return float(value)


class FeedForward(nn.Module):
    """``y = W_2 GELU(W_1 x + b_1) + b_2`` with W_1 (e·D, D), W_2 (D, e·D); dropout on y."""

    def __init__(self, d_model: int, expansion: float = 4.0, dropout: float = 0.0):
        super().__init__()
        d_model = _positive(d_model, "FeedForward: d_model")
        inner = max(1, round(d_model * _expansion(expansion, "FeedForward: expansion", 0.0)))
        self.up, self.down = nn.Linear(d_model, inner), nn.Linear(inner, d_model)
        self.dropout = _rate(dropout, "FeedForward: dropout")

    def forward(self, x: Tensor) -> Tensor:
        y = self.down(F.gelu(self.up(x)))  # (B, T, D)
        return F.dropout(y, self.dropout, self.training) if self.dropout else y


class _Block(nn.Module):
    """The feed-forward half both blocks share: ``x + FF(Norm(x))`` when ff_expansion > 0."""

    def _ff_init(self, d_model: int, ff_expansion: float, dropout: float, norm: str) -> None:
        ff_expansion = _expansion(ff_expansion, f"{type(self).__name__}: ff_expansion", 0.0)
        self.ff_norm = make_norm(norm, d_model) if ff_expansion else None
        self.ff = FeedForward(d_model, ff_expansion, dropout) if ff_expansion else None

    def _ff(self, x: Tensor) -> Tensor:
        return x if self.ff is None else x + self.ff(self.ff_norm(x))


class RecurrentBlock(_Block):
    r"""A residual recurrent block (the layout of minGRU language models, Feng et al. 2024)::

        u = RNN(Norm(x))          u (B, T, H),  H = round(expansion · D)
        x' = x + Dropout(W_o u)   W_o (D, H), absent when H = D
        y = x' + FF(Norm(x'))     FF: ``FeedForward`` with ff_expansion (0: none)

    Args:
        cell: a cell name of ``grukit.cells`` ("gru", "lstm", "mingru", "lngru", ...).
        d_model: D.  expansion: H / D.  ff_expansion: the feed-forward's width / D.
        dropout: on the mixer's and the feed-forward's outputs.  norm: "layer" or "rms".
        backend: the recurrent module's backend ("auto").

    ``forward(x, state=None) -> (y, state)``: ``state`` in the cell module's ``hx`` format
    (h (1, B, H), or (h, c) for an LSTM).
    """

    def __init__(self, cell: str, d_model: int, expansion: float = 1.0,
                 ff_expansion: float = 0.0, dropout: float = 0.0, norm: str = "layer",
                 backend: str = "auto"):
        super().__init__()
        self.spec = cells.get(cell)
        d_model = _positive(d_model, "RecurrentBlock: d_model")
        hidden = max(1, round(d_model * _expansion(expansion, "RecurrentBlock: expansion",
                                                   0.0)))
        self.norm = make_norm(norm, d_model)
        self.rnn = self.spec.build(d_model, hidden, batch_first=True, backend=backend)
        self.proj = nn.Linear(hidden, d_model) if hidden != d_model else None
        self.dropout = _rate(dropout, "RecurrentBlock: dropout")
        self._ff_init(d_model, ff_expansion, self.dropout, norm)

    def forward(self, x: Tensor, state=None):
        u, state = self.rnn(self.norm(x), state)  # (B, T, H)
        return self.after_rnn(x, u), state

    def after_rnn(self, x: Tensor, u: Tensor) -> Tensor:
        """The block's output from its input x (B, T, D) and the RNN's output u (B, T, H) on
        Norm(x) (for a caller that runs the RNN itself, e.g. through ``grukit.nn.Stream``)."""
        u = u if self.proj is None else self.proj(u)  # (B, T, D)
        if self.dropout:
            u = F.dropout(u, self.dropout, self.training)
        return self._ff(x + u)


class AttentionBlock(_Block):
    r"""A pre-norm Transformer block (GPT-2's layout)::

        x' = x + Attn(Norm(x))     ``CausalSelfAttention`` (rotary positions, causal)
        y = x' + FF(Norm(x'))      FF: ``FeedForward`` with ff_expansion (0: none)

    ``forward(x, cache=None) -> (y, cache)`` with the attention's ``KVCache``.
    """

    def __init__(self, d_model: int, num_heads: int, ff_expansion: float = 4.0,
                 dropout: float = 0.0, norm: str = "layer", window: int | None = None):
        super().__init__()
        self.norm = make_norm(norm, _positive(d_model, "AttentionBlock: d_model"))
        self.attn = CausalSelfAttention(d_model, num_heads, dropout, window)
        self._ff_init(d_model, ff_expansion, _rate(dropout, "AttentionBlock: dropout"), norm)

    def forward(self, x: Tensor, cache: KVCache | None = None):
        a, cache = self.attn(self.norm(x), cache)  # (B, T, D)
        return self._ff(x + a), cache
