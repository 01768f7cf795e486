"""Attention over encoder states and an attentional decoder step, for sequence-to-sequence
models (``grukit.tasks.translate``).

Additive attention (Bahdanau, Cho and Bengio 2015, RNNsearch)::

    e_tj = vᵀ tanh(W_q q_t + W_k k_j)          a_t = softmax_j(e_t + mask)      c_t = Σ_j a_tj k_j

Multiplicative attention (Luong, Pham and Manning 2015, "general")::

    e_tj = q_tᵀ W k_j

where ``q_t`` (B, Q) is the decoder's state and ``k_j`` (B, S, K) the encoder's outputs;
positions past each source's length get weight exactly zero (``mask`` is −inf there) and
their keys are never read (a NaN there does not reach the context); a source with no
position (length 0) gets weights 0 and context 0.

The decoder step (Luong's attentional decoder with input feeding)::

    s_t = cell([y_{t−1}; h̃_{t−1}], s_{t−1})     # a cell of grukit.cells (GRU, LSTM, ...)
    c_t, a_t = attention(s_t, keys)
    h̃_t = tanh(W_c [s_t; c_t])                  # the attentional state, fed to step t + 1
                                                 # and to the output layer

Without attention (``attention="none"``) ``h̃_t = tanh(W_c s_t)`` and nothing is fed back.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import cells
from .attention import _positive

ATTENTIONS = ("bahdanau", "luong", "none")


def length_mask(lengths: Tensor, steps: int) -> Tensor:
    """(B, S) bool, True at the real positions j < lengths[b]."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


class AdditiveAttention(nn.Module):
    """Bahdanau's attention: ``e = vᵀ tanh(W_q q + W_k k)``. ``precompute(keys)`` once per
    source, then ``forward(query, keys, projected, mask)`` each step."""

    def __init__(self, query_size: int, key_size: int, units: int | None = None):
        super().__init__()
        query_size = _positive(query_size, "AdditiveAttention: query_size")
        key_size = _positive(key_size, "AdditiveAttention: key_size")
        units = query_size if units is None else _positive(units, "AdditiveAttention: units")
        self.w_q = nn.Linear(query_size, units, bias=False)
        self.w_k = nn.Linear(key_size, units)
        self.v = nn.Linear(units, 1, bias=False)

    def precompute(self, keys: Tensor, mask: Tensor | None = None) -> Tensor:
        """keys (B, S, K) -> W_k k + b (B, S, U); with ``mask`` the keys past each length
        are read as 0 (a NaN there would make W_k's gradient NaN)."""
        return self.w_k(_zero_past(keys, mask))  # (B, S, U)

    def scores(self, query: Tensor, projected: Tensor) -> Tensor:
        return self.v(torch.tanh(projected + self.w_q(query)[:, None, :])).squeeze(-1)  # (B, S)

    def forward(self, query: Tensor, keys: Tensor, projected: Tensor,
                mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """query (B, Q), keys (B, S, K), projected = precompute(keys), mask (B, S) ->
        (context (B, K), weights (B, S))."""
        _check(query, keys, projected, mask, self.w_q.in_features, self.w_k.in_features,
               "AdditiveAttention")
        return _attend(self.scores(query, projected), keys, mask)


class MultiplicativeAttention(nn.Module):
    """Luong's "general" attention: ``e = qᵀ W k`` (W maps the keys to the query's width
    once per source)."""

    def __init__(self, query_size: int, key_size: int):
        super().__init__()
        self.w = nn.Linear(_positive(key_size, "MultiplicativeAttention: key_size"),
                           _positive(query_size, "MultiplicativeAttention: query_size"),
                           bias=False)

    def precompute(self, keys: Tensor, mask: Tensor | None = None) -> Tensor:
        """keys (B, S, K) -> W k (B, S, Q); ``mask`` as in ``AdditiveAttention.precompute``."""
        return self.w(_zero_past(keys, mask))  # (B, S, Q)

    def scores(self, query: Tensor, projected: Tensor) -> Tensor:
        return torch.bmm(projected, query[:, :, None]).squeeze(-1)  # (B, S)

    def forward(self, query: Tensor, keys: Tensor, projected: Tensor,
                mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check(query, keys, projected, mask, self.w.out_features, self.w.in_features,
               "MultiplicativeAttention")
        return _attend(self.scores(query, projected), keys, mask)


def _check(query: Tensor, keys: Tensor, projected: Tensor, mask: Tensor | None, width: int,
           key_size: int, who: str) -> None:
    if query.dim() != 2 or query.shape[-1] != width or keys.dim() != 3 \
            or keys.shape[0] != query.shape[0] or keys.shape[-1] != key_size:
        raise ValueError(f"{who}: query must be (batch, {width}) and keys (batch, source, "
                         f"{key_size}); got {tuple(query.shape)} and {tuple(keys.shape)}.")
    if projected.dim() != 3 or projected.shape[:2] != keys.shape[:2]:
        raise ValueError(f"{who}: projected must be precompute(keys), (batch, source) = "
                         f"{tuple(keys.shape[:2])} first; got {tuple(projected.shape)} (expand "
                         f"it with the keys, e.g. for a beam).")
    if mask is not None and (mask.dtype != torch.bool or mask.shape != keys.shape[:2]):
        raise ValueError(f"{who}: mask must be a bool (batch, source) = "
                         f"{tuple(keys.shape[:2])}, True at the real positions "
                         f"(length_mask(lengths, source)); got {mask.dtype} "
                         f"{tuple(mask.shape)}.")


def _zero_past(keys: Tensor, mask: Tensor | None) -> Tensor:
    """keys (B, S, K) with 0 where mask (B, S) is False."""
    return keys if mask is None else keys.masked_fill(~mask[:, :, None], 0.0)


def _attend(scores: Tensor, keys: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """scores (B, S), keys (B, S, K), mask (B, S) -> (context (B, K), weights (B, S)).

    Masked positions get weight 0 and keys 0 (0 · NaN would be NaN); a row with no real
    position gets weights 0 (its softmax runs on zeros, never on a row of −inf)."""
    if mask is not None:
        empty = ~mask.any(dim=-1, keepdim=True)  # (B, 1) sources of length 0
        scores = scores.masked_fill(~mask, -math.inf).masked_fill(empty, 0.0)
        keys = _zero_past(keys, mask)  # (B, S, K)
    weights = torch.softmax(scores, dim=-1)  # (B, S)
    if mask is not None:
        weights = weights.masked_fill(empty, 0.0)
    context = torch.bmm(weights[:, None, :], keys).squeeze(1)  # (B, K)
    return context, weights


def make_attention(kind: str, query_size: int, key_size: int) -> nn.Module | None:
    if kind == "bahdanau":
        return AdditiveAttention(query_size, key_size)
    if kind == "luong":
        return MultiplicativeAttention(query_size, key_size)
    if kind == "none":
        return None
    raise ValueError(f"attention must be one of {ATTENTIONS}; got {kind!r}.")


class AttentionalDecoderCell(nn.Module):
    """One decoder step with input feeding (see the module docstring for the equations).

    Args:
        input_size: width of the target embedding ``y_{t−1}`` (E).
        hidden_size: the recurrent cell's state width (H).
        key_size: width of the encoder outputs (K; 2·H_enc for a bidirectional encoder).
        output_size: width of the attentional state ``h̃`` (O; the embedding width when the
            output layer is tied to the embedding).
        cell: a name in ``grukit.cells`` with a one-step cell ("gru", "lstm", "rnn").
        attention: "bahdanau", "luong" or "none".
        dropout: on ``h̃`` before it leaves the step (training only).

    ``state`` is a tuple of the cell's states (``spec.states``: (h,) or (h, c)), each (B, H).
    """

    def __init__(self, input_size: int, hidden_size: int, key_size: int, output_size: int,
                 cell: str = "gru", attention: str = "bahdanau", dropout: float = 0.0):
        super().__init__()
        for name, size in (("input_size", input_size), ("hidden_size", hidden_size),
                           ("key_size", key_size), ("output_size", output_size)):
            _positive(size, f"AttentionalDecoderCell: {name}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0 <= dropout < 1:  # NaN passes nn.Dropout's check; 1 zeroes h̃
            raise ValueError(f"AttentionalDecoderCell: dropout must be a number in [0, 1); "
                             f"got {dropout!r}.")
        spec = cells.get(cell)
        cell_cls = spec.cell_class()
        if cell_cls is None:
            with_cell = [s.name for s in cells.all_specs() if s.cell_module is not None]
            raise ValueError(f"cell {cell!r} has no one-step cell for a decoder; choose one of "
                             f"{', '.join(with_cell)}.")
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}; got {attention!r}.")
        self.spec, self.attention_kind = spec, attention
        self.feed = attention != "none"
        self.output_size, self.hidden_size = output_size, hidden_size
        self.cell = cell_cls(input_size + (output_size if self.feed else 0), hidden_size)
        if spec.baseline.get("forget_bias") and getattr(self.cell, "bias_ih", None) is not None:
            with torch.no_grad():  # LSTM: forget-gate bias 1 (Jozefowicz et al. 2015)
                self.cell.bias_ih[hidden_size:2 * hidden_size].fill_(1.0)
                self.cell.bias_hh[hidden_size:2 * hidden_size].fill_(0.0)
        self.attention = make_attention(attention, hidden_size, key_size)
        self.combine = nn.Linear(hidden_size + (key_size if self.feed else 0), output_size,
                                 bias=False)
        self.dropout = nn.Dropout(dropout)

    def precompute(self, keys: Tensor, mask: Tensor | None = None) -> Tensor | None:
        """What attention needs of the keys once per source: (B, S, ·), or None; ``mask``
        (B, S) keeps what lies past each length out of it (and out of its gradient)."""
        return None if self.attention is None else self.attention.precompute(keys, mask)

    def _cell(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        names = self.spec.states  # ("h",) or ("h", "c")
        if not isinstance(state, (tuple, list)) or len(state) != len(names):
            got = f"{len(state)} of them" if isinstance(state, (tuple, list)) else \
                f"a {type(state).__name__}"
            raise ValueError(f"AttentionalDecoderCell: state must be a tuple {names} of "
                             f"(batch, {self.hidden_size}) for cell {self.spec.name!r}; got "
                             f"{got}.")
        if len(state) == 1:
            return (self.cell(x, state[0]),)
        return tuple(self.cell(x, tuple(state)))

    def forward(self, y_prev: Tensor, state: tuple[Tensor, ...], feed: Tensor | None,
                keys: Tensor, projected: Tensor | None, mask: Tensor | None
                ) -> tuple[Tensor, tuple[Tensor, ...], Tensor | None]:
        """y_prev (B, E), state: tuple of (B, H), feed: h̃_{t−1} (B, O) or None (zeros),
        keys (B, S, K), projected: ``precompute(keys)`` (None: computed here, each step),
        mask (B, S) -> (h̃_t (B, O) after dropout, new state, attention weights (B, S) or
        None)."""
        if self.feed:
            if feed is None:
                feed = y_prev.new_zeros(y_prev.shape[0], self.output_size)
            x = torch.cat([y_prev, feed], dim=-1)  # (B, E + O)
        else:
            x = y_prev
        state = self._cell(x, state)
        h = state[0]  # (B, H)
        if self.attention is None:
            out, weights = torch.tanh(self.combine(h)), None
        else:
            if projected is None:
                projected = self.attention.precompute(keys, mask)
            context, weights = self.attention(h, keys, projected, mask)  # (B, K), (B, S)
            out = torch.tanh(self.combine(torch.cat([h, context], dim=-1)))  # (B, O)
        return self.dropout(out), state, weights


def smoothed_nll(logits: Tensor, target: Tensor, smoothing: float, pad: int) -> Tensor:
    """Mean cross-entropy over the non-pad targets with label smoothing (torch's own)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                           ignore_index=pad, label_smoothing=smoothing)
