"""Keras-style layers: the base class, Dense, Dropout, Embedding, AttentionPooling.

A layer stores its arguments in the constructor and creates its weights when it first sees
an input (``build``), as Keras does, so ``Dense(1)`` needs no input size. Layers pass a
``lengths`` tensor (B,) along with the data when the sequence is right-padded (from
``Embedding(mask_zero=True)``) so recurrent layers skip the padding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ACTIVATIONS = {None: None, "linear": None, "relu": torch.relu, "tanh": torch.tanh,
               "sigmoid": torch.sigmoid, "softmax": lambda t: torch.softmax(t, dim=-1),
               "gelu": F.gelu, "elu": F.elu}
REGISTRY: dict[str, type] = {}


def register(cls):
    REGISTRY[cls.__name__] = cls
    return cls


class Layer(nn.Module):
    """Base: lazy ``build(input_shape)``; ``call(x, lengths) -> (y, lengths)``."""

    def __init__(self, *, input_shape=None, name: str | None = None):
        super().__init__()
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.layer_name = name
        self.built = False

    def build(self, input_shape: tuple) -> None:  # input_shape excludes the batch
        self.built = True

    def call(self, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def forward(self, x: Tensor, lengths: Tensor | None = None):
        if not self.built:
            self.build(tuple(x.shape[1:]))
            self.to(x.device)
        return self.call(x, lengths)

    def get_config(self) -> dict:
        cfg = {k: v for k, v in self._config().items()}
        if self.input_shape is not None:
            cfg["input_shape"] = list(self.input_shape)
        if self.layer_name:
            cfg["name"] = self.layer_name
        return {"class": type(self).__name__, "config": cfg}

    def _config(self) -> dict:
        return {}


def _activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of "
                         f"{sorted(k for k in ACTIVATIONS if k)}.")
    return ACTIVATIONS[name]


@register
class Dense(Layer):
    """y = act(x Wᵀ + b) on the last axis; x (B, ..., F) -> (B, ..., units)."""

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"Dense: units must be a positive integer; got {units!r}.")
        _activation(activation)
        self.units, self.activation, self.use_bias = units, activation, use_bias

    def build(self, input_shape):
        self.linear = nn.Linear(input_shape[-1], self.units, bias=self.use_bias)
        super().build(input_shape)

    def call(self, x, lengths):
        act = _activation(self.activation)
        y = self.linear(x)
        return (y if act is None else act(y)), lengths

    def _config(self):
        return {"units": self.units, "activation": self.activation, "use_bias": self.use_bias}


@register
class Dropout(Layer):
    def __init__(self, rate: float, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must be in [0, 1); got {rate!r}.")
        self.rate = rate

    def call(self, x, lengths):
        return F.dropout(x, self.rate, self.training), lengths

    def _config(self):
        return {"rate": self.rate}


@register
class Embedding(Layer):
    """Token ids (B, T) -> vectors (B, T, output_dim). With ``mask_zero=True`` id 0 is
    padding: sequences must be right-padded, and their lengths go to the next layers."""

    def __init__(self, input_dim: int, output_dim: int, mask_zero: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.input_dim, self.output_dim, self.mask_zero = input_dim, output_dim, mask_zero

    def build(self, input_shape):
        self.embedding = nn.Embedding(self.input_dim, self.output_dim)
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)  # Keras' default
        super().build(input_shape)

    def call(self, x, lengths):
        if x.is_floating_point():
            x = x.long()
        if int(x.max()) >= self.input_dim or int(x.min()) < 0:
            raise ValueError(f"Embedding: token ids must lie in [0, {self.input_dim}); got "
                             f"[{int(x.min())}, {int(x.max())}]. Raise input_dim.")
        if self.mask_zero:
            nonzero = x != 0  # (B, T)
            lengths = nonzero.sum(1)
            t = torch.arange(x.shape[1], device=x.device)
            if bool((nonzero != (t < lengths.unsqueeze(1))).any()):
                raise ValueError("Embedding(mask_zero=True): padding (id 0) must come after "
                                 "each sequence's tokens (right padding).")
        return self.embedding(x), lengths

    def _config(self):
        return {"input_dim": self.input_dim, "output_dim": self.output_dim,
                "mask_zero": self.mask_zero}


@register
class AttentionPooling(Layer):
    """Additive attention over time (Bahdanau-style pooling), the "GRU + attention" hybrid::

        e_t = vᵀ tanh(W h_t + b)          a = softmax(e) over the valid steps
        output = Σ_t a_t h_t               h (B, T, F) -> (B, F)

    ``last_weights`` holds a (B, T) from the latest call, to explain a prediction.
    """

    def __init__(self, units: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.last_weights: Tensor | None = None

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"AttentionPooling needs a sequence (batch, time, features); got "
                             f"(batch, {', '.join(map(str, input_shape))}). Set "
                             f"return_sequences=True on the recurrent layer before it.")
        units = self.units or input_shape[-1]
        self.proj = nn.Linear(input_shape[-1], units)
        self.v = nn.Parameter(torch.empty(units).uniform_(-1 / math.sqrt(units),
                                                          1 / math.sqrt(units)))
        super().build(input_shape)

    def call(self, x, lengths):
        scores = torch.tanh(self.proj(x)) @ self.v  # (B, T)
        if lengths is not None:
            t = torch.arange(x.shape[1], device=x.device)
            scores = scores.masked_fill(t >= lengths.to(x.device).unsqueeze(1), float("-inf"))
        weights = torch.nan_to_num(torch.softmax(scores, dim=1), nan=0.0)  # (B, T)
        self.last_weights = weights.detach()
        return torch.einsum("bt,btf->bf", weights, x), None

    def _config(self):
        return {"units": self.units}
