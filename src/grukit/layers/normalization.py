"""Keras' ``BatchNormalization`` over the last axis of x (B, F) or (B, T, F):

    training:   μ, σ² = the mean and (biased) variance of each feature over the batch (and
                time; with sequence lengths, over the valid steps only, as Keras' masked
                moments: Σ / (n + 1e-7));
                moving_mean ← m · moving_mean + (1 − m) · μ,  moving_variance likewise with σ²
    inference:  μ, σ² = moving_mean, moving_variance
    y = γ ⊙ (x − μ) / √(σ² + ε) + β        (every position, padding included, as Keras)

Keras' defaults (momentum m = 0.99, ε = 1e-3; torch's are 0.1 = 1 − m and 1e-5, and torch
updates the moving variance with the unbiased one). A frozen layer (``trainable=False``)
uses the moving statistics in training too and leaves them, as Keras. Weights in Keras'
order: γ (if scale), β (if center), moving_mean, moving_variance; the moving ones are not
trained (Keras' non-trainable weights). The sequence lengths pass on (Keras passes the
mask)."""

from __future__ import annotations

import numbers

import torch
from torch import Tensor, nn

from .core import Layer, register

_KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), in the masked moments' denominators


@register
class BatchNormalization(Layer):
    """``BatchNormalization(axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True)``
    (see the module docstring); ``gamma_regularizer`` / ``beta_regularizer`` and the four
    initializers as Keras'."""

    REGULARIZED = {"gamma_regularizer": ("gamma",), "beta_regularizer": ("beta",)}
    INITIALIZED = {"gamma_initializer": "ones", "beta_initializer": "zeros",
                   "moving_mean_initializer": "zeros", "moving_variance_initializer": "ones"}
    KERAS_START = True

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, **kwargs):
        for arg in ("renorm", "synchronized"):
            if kwargs.pop(arg, False):
                raise ValueError(f"BatchNormalization: {arg}=True has no grukit form; leave "
                                 f"it out.")
        kwargs.pop("renorm_clipping", None), kwargs.pop("renorm_momentum", None)
        for arg in ("beta_constraint", "gamma_constraint"):
            if kwargs.pop(arg, None) is not None:
                raise ValueError(f"BatchNormalization: {arg} has no grukit form; leave it out.")
        super().__init__(**kwargs)
        if axis not in (-1, [-1], (-1,)) or isinstance(axis, bool):
            raise ValueError(f"BatchNormalization: only axis=-1 (the features, channels last) "
                             f"has a grukit form; got axis={axis!r}.")
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) \
                or not 0 <= momentum <= 1:
            raise ValueError(f"BatchNormalization: momentum must be a number in [0, 1] (the "
                             f"weight of the old moving statistics); got {momentum!r}.")
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) \
                or not epsilon > 0:
            raise ValueError(f"BatchNormalization: epsilon must be a positive number; got "
                             f"{epsilon!r}.")
        for arg, value in (("center", center), ("scale", scale)):
            if not isinstance(value, bool):
                raise TypeError(f"BatchNormalization: {arg} must be True or False; got "
                                f"{value!r}.")
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = center, scale

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError("BatchNormalization needs the number of features (the last axis).")
        self.gamma = nn.Parameter(torch.ones(features)) if self.scale else None
        self.beta = nn.Parameter(torch.zeros(features)) if self.center else None
        # Keras' non-trainable weights: parameters (counted, saved) that training leaves
        self.moving_mean = nn.Parameter(torch.zeros(features), requires_grad=False)
        self.moving_variance = nn.Parameter(torch.ones(features), requires_grad=False)
        super().build(input_shape)

    def requires_grad_(self, requires_grad: bool = True):
        super().requires_grad_(requires_grad)
        if getattr(self, "built", False) and hasattr(self, "moving_mean"):
            self.moving_mean.requires_grad_(False)
            self.moving_variance.requires_grad_(False)
        return self

    def _moments(self, x: Tensor, lengths) -> tuple[Tensor, Tensor]:
        axes = tuple(range(x.dim() - 1))
        if lengths is None or x.dim() != 3:
            return x.mean(axes), x.var(axes, unbiased=False)
        t = torch.arange(x.shape[1], device=x.device)
        w = (t[None, :] < lengths.to(x.device)[:, None]).unsqueeze(-1).to(x.dtype)  # (B,T,1)
        n = w.sum() + _KERAS_EPSILON
        mean = (x * w).sum(axes) / n
        return mean, (((x - mean) * w) ** 2).sum(axes) / n

    def call(self, x: Tensor, lengths):
        if self.training and self._trainable:
            mean, var = self._moments(x, lengths)
            with torch.no_grad():
                m = self.momentum
                self.moving_mean.copy_(self.moving_mean * m + mean.detach() * (1 - m))
                self.moving_variance.copy_(self.moving_variance * m + var.detach() * (1 - m))
        else:
            mean, var = self.moving_mean, self.moving_variance
        y = (x - mean) * torch.rsqrt(var + self.epsilon)
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return y, lengths

    def slots(self, n: int) -> list[str]:
        kept = (self.scale, self.center, True, True)
        return [k for k, keep in zip(self.INITIALIZED, kept, strict=True) if keep]

    def keras_params(self) -> list[Tensor]:
        """The weights as Keras lists them: γ (if scale), β (if center), moving_mean,
        moving_variance."""
        return [p for p in (self.gamma, self.beta, self.moving_mean, self.moving_variance)
                if p is not None]

    def onnx_graph(self, g, x: str, lengths):
        """Inference: y = x · s + c with s = γ / √(moving_variance + ε), c = β − moving_mean · s
        (computed in float64)."""
        with torch.no_grad():
            s = torch.rsqrt(self.moving_variance.double() + self.epsilon)
            if self.gamma is not None:
                s = s * self.gamma.double()
            c = -self.moving_mean.double() * s
            if self.beta is not None:
                c = c + self.beta.double()
        y = g.op("Mul", [x, g.weight(s.float(), "bn_scale")], "bn")
        return g.op("Add", [y, g.weight(c.float(), "bn_shift")], "bn"), lengths

    def _config(self):
        cfg = {} if self.momentum == 0.99 else {"momentum": self.momentum}
        cfg |= {} if self.epsilon == 1e-3 else {"epsilon": self.epsilon}
        return cfg | ({} if self.center else {"center": False}) | (
            {} if self.scale else {"scale": False})
