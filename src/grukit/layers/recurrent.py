"""Keras-style recurrent layers on ``grukit.nn`` (so the fused kernels serve them).

Batch first, units first: ``GRU(64, input_shape=(100, 1))`` takes (B, 100, 1) and returns
(B, 64), or (B, 100, 64) with ``return_sequences=True``. Weights follow torch's layout (the
``grukit.nn`` module sits in ``.rnn``); ``grukit.convert`` maps Keras weights onto them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import nn as gnn
from .. import ops
from ..ops._seq import reverse_within
from .core import Layer, check_rate, positive_int, register


class _Recurrent(Layer):
    _module = gnn.GRU
    _op = None  # the grukit.ops function for recurrent dropout (set by each subclass)

    def __init__(self, units: int, *, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        units = positive_int(units, f"{cls}: units")
        dropout = check_rate(dropout, f"{cls}: dropout")
        recurrent_dropout = check_rate(recurrent_dropout, f"{cls}: recurrent_dropout")
        if recurrent_dropout and self._op is None:
            raise ValueError(f"{cls} has no recurrent weights, so recurrent_dropout does not "
                             f"apply; use dropout.")
        self.recurrent_dropout = recurrent_dropout
        self.units, self.return_sequences, self.return_state = units, return_sequences, \
            return_state
        self.go_backwards, self.stateful, self.dropout = go_backwards, stateful, dropout
        self._state = None

    def _make(self, features: int, bidirectional: bool = False):
        return self._module(features, self.units, batch_first=True, bidirectional=bidirectional,
                            **self._module_kwargs())

    def _module_kwargs(self) -> dict:
        return {}

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{type(self).__name__} expects input of shape (batch, time, "
                             f"features); got (batch, {', '.join(map(str, input_shape))}).")
        self.rnn = self._make(input_shape[-1])
        super().build(input_shape)

    def reset_states(self) -> None:
        """Forget the state carried between batches (``stateful=True``)."""
        self._state = None

    def call(self, x: Tensor, lengths: Tensor | None):
        x = F.dropout(x, self.dropout, self.training)
        if self.go_backwards:
            x = reverse_within(x, None if lengths is None else lengths.cpu())
        hx = self._state if self.stateful and self._state is not None else None
        if hx is not None and _batch(hx) != x.shape[0]:
            raise ValueError(f"{type(self).__name__}(stateful=True) carries state for batch "
                             f"{_batch(hx)}; got {x.shape[0]}. Keep the batch size fixed or "
                             f"call reset_states().")
        if self.recurrent_dropout and self.training:
            y, h = self._run_with_recurrent_dropout(x, hx, lengths)
        else:
            y, h = self.rnn(x, hx, lengths=lengths)  # (B, T, D·H), state
        if self.stateful:
            self._state = tuple(s.detach() for s in h) if isinstance(h, tuple) else h.detach()
        if self.return_sequences:
            out = y
        else:
            out = _last(h, self.rnn.num_directions)
        if self.return_state:
            states = list(h) if isinstance(h, tuple) else [h]
            return [out] + [s[-1] for s in states], lengths
        return out, (lengths if self.return_sequences else None)

    def _run_with_recurrent_dropout(self, x: Tensor, hx, lengths: Tensor | None):
        """Keras' recurrent_dropout: one mask per sequence on the state fed to the recurrent
        weights (Gal & Ghahramani 2016), through the reference op (the fused kernels have no
        per-step mask), direction by direction of this one-layer module."""
        keep = 1.0 - self.recurrent_dropout
        outs, finals = [], []
        for d in range(self.rnn.num_directions):
            p = self.rnn.layer_params(0, d)
            mask = torch.bernoulli(x.new_full((x.shape[0], self.units), keep)) / keep
            state = None if hx is None else (
                tuple(h[d] for h in hx) if isinstance(hx, tuple) else hx[d])
            y, h = self._op(x, p, state, lengths, d == 1, mask)
            outs.append(y)
            finals.append(h if isinstance(h, tuple) else (h,))
        y = torch.cat(outs, dim=2)  # (B, T, D·H)
        stacked = [torch.stack([f[i] for f in finals]) for i in range(len(finals[0]))]
        return y, (tuple(stacked) if len(stacked) == 2 else stacked[0])

    def _config(self):
        return {"units": self.units, "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards,
                "stateful": self.stateful, "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout}


def _batch(h) -> int:
    return (h[0] if isinstance(h, tuple) else h).shape[1]


def _last(h, directions: int) -> Tensor:
    """The top layer's final state, directions concatenated: (B, D·H)."""
    h = h[0] if isinstance(h, tuple) else h  # (L·D, B, H)
    return torch.cat(list(h[-directions:]), dim=1)


@register
class GRU(_Recurrent):
    """Keras ``GRU(units, ...)`` on ``grukit.nn.GRU``; ``reset_after`` as in Keras 3."""

    def __init__(self, units: int, *, reset_after: bool = True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = reset_after

    def _module_kwargs(self):
        return {"reset_after": self.reset_after}

    def _op(self, x, p, state, lengths, reverse, mask):
        return ops.gru(x, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], h0=state,
                       lengths=lengths, reverse=reverse, state_mask=mask,
                       reset_after=self.reset_after)

    def _config(self):
        return super()._config() | {"reset_after": self.reset_after}


@register
class LSTM(_Recurrent):
    """Keras ``LSTM(units, ...)`` on ``grukit.nn.LSTM``, forget-gate bias 1 (Keras'
    ``unit_forget_bias``)."""

    _module = gnn.LSTM

    def _module_kwargs(self):
        return {"forget_bias": 1.0}

    def _op(self, x, p, state, lengths, reverse, mask):
        return ops.lstm(x, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], h0=state,
                        lengths=lengths, reverse=reverse, state_mask=mask)


@register
class SimpleRNN(_Recurrent):
    """Keras ``SimpleRNN(units, activation="tanh"|"relu")`` on ``grukit.nn.RNN``."""

    _module = gnn.RNN

    def __init__(self, units: int, *, activation: str = "tanh", **kwargs):
        super().__init__(units, **kwargs)
        self.activation = activation

    def _module_kwargs(self):
        return {"nonlinearity": self.activation}

    def _op(self, x, p, state, lengths, reverse, mask):
        return ops.rnn(x, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], h0=state,
                       lengths=lengths, reverse=reverse, state_mask=mask,
                       nonlinearity=self.activation)

    def _config(self):
        return super()._config() | {"activation": self.activation}


@register
class MinGRU(_Recurrent):
    """minGRU (Feng et al. 2024) on ``grukit.nn.MinGRU``."""

    _module = gnn.MinGRU  # no recurrent weights: recurrent_dropout does not apply


@register
class Bidirectional(Layer):
    """Runs a recurrent layer both ways and concatenates (merge_mode="concat")."""

    def __init__(self, layer: _Recurrent, merge_mode: str = "concat", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, _Recurrent):
            raise TypeError(f"Bidirectional wraps a GRU, LSTM, SimpleRNN or MinGRU layer; got "
                            f"{type(layer).__name__}.")
        if merge_mode != "concat":
            raise ValueError(f"Bidirectional: only merge_mode='concat' is supported; got "
                             f"{merge_mode!r}.")
        if layer.go_backwards or layer.stateful or layer.return_state:
            raise ValueError("Bidirectional: the wrapped layer cannot be go_backwards, stateful "
                             "or return_state.")
        self.layer = layer
        if self.input_shape is None:
            self.input_shape = layer.input_shape

    def build(self, input_shape):
        self.layer.rnn = self.layer._make(input_shape[-1], bidirectional=True)
        self.layer.built = True
        super().build(input_shape)

    def call(self, x, lengths):
        return self.layer.call(x, lengths)

    def get_config(self):
        cfg = super().get_config()
        cfg["config"]["layer"] = self.layer.get_config()
        return cfg
