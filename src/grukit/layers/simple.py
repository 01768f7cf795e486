"""Keras' small layers that recurrent models use: ``Activation``, ``RepeatVector`` (the LSTM/GRU
autoencoder's bridge), ``SpatialDropout1D`` (whole features dropped, after an Embedding) and
``LayerNormalization``. Each equals Keras 3's layer (weights in Keras' layout), passes the
sequence lengths on as Keras passes the mask, and has its ONNX form (``onnx_graph``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..ops.activations import name_of
from .core import (
    ACTIVATIONS,
    Layer,
    check_rate,
    check_seed,
    check_sequence,
    check_switch,
    keep_mask,
    onnx_activation,
    positive_int,
    register,
)


@register
class Activation(Layer):
    """``Activation("relu")``: one of Dense's activations at every position; lengths pass."""

    def __init__(self, activation, **kwargs):
        activation = name_of(activation, ACTIVATIONS)  # keras.activations.relu -> "relu"
        super().__init__(**kwargs)
        if activation not in ACTIVATIONS or activation is None:
            raise ValueError(f"Activation: unknown activation {activation!r}; choose one of "
                             f"{', '.join(k for k in ACTIVATIONS if k)}.")
        self.activation = activation

    def call(self, x: Tensor, lengths):
        fn = ACTIVATIONS[self.activation]
        return (x if fn is None else fn(x)), lengths

    def onnx_graph(self, g, x: str, lengths):
        return onnx_activation(g, x, self.activation, "Activation"), lengths

    def _config(self):
        return {"activation": self.activation}


@register
class RepeatVector(Layer):
    """x (B, F) -> (B, n, F): the vector repeated at each of n steps (no mask: Keras drops
    it too)."""

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        self.n = positive_int(n, "RepeatVector: n")

    def build(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"RepeatVector takes one vector per sample (batch, features); got "
                             f"(batch, {', '.join(map(str, input_shape))}). Put it after a "
                             f"recurrent layer without return_sequences.")
        super().build(input_shape)

    def call(self, x: Tensor, lengths):
        return x.unsqueeze(1).expand(-1, self.n, -1), None

    def onnx_graph(self, g, x: str, lengths):
        return g.op("Tile", [g.unsqueeze(x, 1), g.ints(1, self.n, 1)], "repeat"), None

    def _config(self):
        return {"n": self.n}


@register
class SpatialDropout1D(Layer):
    """Dropout of whole features of x (B, T, F) in training: one keep-mask (B, 1, F) for
    every step, kept values scaled by 1 / (1 − rate), as Keras; the identity in inference."""

    def __init__(self, rate: float, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate(rate, "SpatialDropout1D: rate")
        self.seed = check_seed(seed, "SpatialDropout1D")  # as Dropout's

    def build(self, input_shape):
        check_sequence("SpatialDropout1D", input_shape)
        super().build(input_shape)

    def call(self, x: Tensor, lengths):
        if not self.training or self.rate == 0:
            return x, lengths
        keep = keep_mask(self, (x.shape[0], 1, x.shape[2]), x)
        return x * keep / (1 - self.rate), lengths

    def onnx_graph(self, g, x: str, lengths):
        return x, lengths

    def _config(self):
        return {"rate": self.rate, "seed": self.seed}


@register
class LayerNormalization(Layer):
    """Keras' layer normalization over the last axis:

        y = γ ⊙ (x − mean) / √(var + ε) + β        (mean, var over the features)

    with Keras' ε = 1e-3 (torch's default is 1e-5); ``scale``/``center`` keep γ/β;
    ``gamma_regularizer`` / ``beta_regularizer`` as Keras'."""

    REGULARIZED = {"gamma_regularizer": ("norm.weight",), "beta_regularizer": ("norm.bias",
                                                                               "beta")}
    INITIALIZED = {"gamma_initializer": "ones", "beta_initializer": "zeros"}
    KERAS_START = True

    def __init__(self, axis: int = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, **kwargs):
        super().__init__(**kwargs)
        if axis != -1:
            raise ValueError(f"LayerNormalization: only axis=-1 (the features) has a grukit "
                             f"form; got axis={axis!r}.")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(f"LayerNormalization: epsilon must be a positive number; got "
                             f"{epsilon!r}.")
        self.epsilon = float(epsilon)
        self.center = check_switch(center, "LayerNormalization: center")
        self.scale = check_switch(scale, "LayerNormalization: scale")

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError("LayerNormalization needs the number of features (the last axis).")
        self.norm = nn.LayerNorm(features, eps=self.epsilon, elementwise_affine=self.scale,
                                 bias=self.center)
        if self.center and not self.scale:  # torch ties β to γ; keep β alone, γ = 1
            self.norm = nn.LayerNorm(features, eps=self.epsilon, elementwise_affine=False)
            self.beta = nn.Parameter(torch.zeros(features))
        super().build(input_shape)

    def call(self, x: Tensor, lengths):
        y = self.norm(x)
        return (y + self.beta if hasattr(self, "beta") else y), lengths

    def slots(self, n: int) -> list[str]:
        return [k for k, kept in zip(self.INITIALIZED, (self.scale, self.center), strict=True)
                if kept]

    def keras_params(self) -> list[Tensor]:
        """The weights as Keras lists them: γ (if scale), then β (if center)."""
        if hasattr(self, "beta"):
            return [self.beta]
        return [p for p in (self.norm.weight, self.norm.bias) if p is not None]

    def onnx_graph(self, g, x: str, lengths):
        width = self.norm.normalized_shape[0]
        gamma = self.norm.weight if self.norm.weight is not None else torch.ones(width)
        beta = (self.beta if hasattr(self, "beta") else self.norm.bias
                if self.norm.bias is not None else torch.zeros(width))
        return g.op("LayerNormalization", [x, g.weight(gamma, "ln_g"), g.weight(beta, "ln_b")],
                    "ln", axis=-1, epsilon=self.epsilon), lengths

    def _config(self):
        cfg = {} if self.epsilon == 1e-3 else {"epsilon": self.epsilon}
        return cfg | ({} if self.center else {"center": False}) | (
            {} if self.scale else {"scale": False})
