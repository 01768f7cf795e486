"""Keras' noise layers, active only in training (the identity in inference, in ``predict``
and in the ONNX form), as Keras 3's; the sequence lengths pass on as Keras passes the mask::

    GaussianNoise(stddev):  y = x + ε,   ε ~ N(0, stddev²) per entry        (stddev in [0, 1])
    GaussianDropout(rate):  y = x · ε,   ε ~ N(1, rate / (1 − rate)) per entry (rate in [0, 1))
    AlphaDropout(rate):     y = a (x · k + α' (1 − k)) + b,  k ~ Bernoulli(1 − rate) per entry
                            (or per ``noise_shape`` entry, broadcast), α' = −λα (SELU's
                            constants), a = ((1 − rate)(1 + rate α'²))^(−1/2), b = −a α' rate:
                            the mean and variance of a SELU network's activations kept

``seed`` gives the layer a generator of its own (the same draws on every run; the same
distribution as Keras', not Keras' numbers); without it, torch's (``torch.manual_seed``).
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

from .core import Layer, register


def _seed(seed, cls: str) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ValueError(f"{cls}: seed must be an integer or None; got {seed!r}.")
    return None if seed is None else int(seed)


class _Noise(Layer):
    """The shared part: a seeded generator per device, the identity outside training."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = _seed(seed, type(self).__name__)
        self._generators: dict = {}

    def _normal(self, x: Tensor, mean: float, std: float) -> Tensor:
        noise = torch.randn(x.shape, generator=self._generator(x.device), device=x.device,
                            dtype=x.dtype)
        return noise * std + mean

    def _generator(self, device):
        if self.seed is None:
            return None
        gen = self._generators.get(device)
        if gen is None:
            gen = torch.Generator(device=device).manual_seed(self.seed % 2**64)
            self._generators[device] = gen
        return gen

    def onnx_graph(self, g, x: str, lengths):
        return x, lengths  # inference: the identity


@register
class GaussianNoise(_Noise):
    """Keras' ``GaussianNoise(stddev, seed=None)`` (module docstring)."""

    def __init__(self, stddev: float, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real) \
                or not 0 <= stddev <= 1:
            raise ValueError(f"GaussianNoise: stddev must be a number in [0, 1] (as Keras "
                             f"takes it); got {stddev!r}.")
        self.stddev = float(stddev)

    def call(self, x: Tensor, lengths):
        if not self.training or self.stddev == 0:
            return x, lengths
        return x + self._normal(x, 0.0, self.stddev), lengths

    def _config(self):
        return {"stddev": self.stddev, "seed": self.seed}


@register
class GaussianDropout(_Noise):
    """Keras' ``GaussianDropout(rate, seed=None)`` (module docstring)."""

    def __init__(self, rate: float, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(f"GaussianDropout: rate must be in [0, 1) (rate 1 would make the "
                             f"noise's variance rate / (1 − rate) infinite); got {rate!r}.")
        self.rate = float(rate)

    def call(self, x: Tensor, lengths):
        if not self.training or self.rate == 0:
            return x, lengths
        return x * self._normal(x, 1.0, math.sqrt(self.rate / (1 - self.rate))), lengths

    def _config(self):
        return {"rate": self.rate, "seed": self.seed}


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


@register
class AlphaDropout(_Noise):
    """Keras' ``AlphaDropout(rate, noise_shape=None, seed=None)`` (module docstring), for
    SELU networks: a dropped entry is set to SELU's lower bound −λα, then the affine map
    a · + b restores the mean and variance. ``noise_shape``: the shape of the kept/dropped
    draw, batch included, None for the input's size on that axis (``(None, 1, None)`` drops
    the same features at every time step)."""

    def __init__(self, rate: float, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(f"AlphaDropout: rate must be in [0, 1) (rate 1 drops every entry "
                             f"and its scale ((1 − rate)(1 + rate α²))^(−1/2) is infinite); got "
                             f"{rate!r}.")
        if noise_shape is not None:
            if isinstance(noise_shape, (str, bytes)) or not hasattr(noise_shape, "__iter__") \
                    or any(d is not None and (isinstance(d, bool) or not isinstance(
                        d, numbers.Integral) or d < 1) for d in noise_shape):
                raise ValueError(f"AlphaDropout: noise_shape must be a tuple of positive "
                                 f"integers or None (the input's size), batch included, e.g. "
                                 f"(None, 1, None); got {noise_shape!r}.")
            noise_shape = tuple(None if d is None else int(d) for d in noise_shape)
        self.rate, self.noise_shape = float(rate), noise_shape

    def _shape(self, x: Tensor) -> tuple:
        if self.noise_shape is None:
            return tuple(x.shape)
        if len(self.noise_shape) != x.dim() or any(
                d is not None and d != 1 and d != n for d, n in zip(self.noise_shape, x.shape,
                                                                  strict=True)):
            raise ValueError(f"AlphaDropout: noise_shape={self.noise_shape} does not fit an "
                             f"input of shape {tuple(x.shape)}; give one entry per axis, "
                             f"batch included, each None, 1 or the input's size.")
        return tuple(n if d is None else d for d, n in zip(self.noise_shape, x.shape,
                                                            strict=True))

    def call(self, x: Tensor, lengths):
        if not self.training or self.rate == 0:
            return x, lengths
        rate, alpha_p = self.rate, -_SELU_ALPHA * _SELU_SCALE
        u = torch.rand(self._shape(x), generator=self._generator(x.device), device=x.device,
                       dtype=x.dtype)
        kept = (u >= rate).to(x.dtype)  # as Keras: uniform ≥ rate
        a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * rate
        return a * (x * kept + alpha_p * (1 - kept)) + b, lengths

    def _config(self):
        return {"rate": self.rate, "noise_shape": None if self.noise_shape is None
                else list(self.noise_shape), "seed": self.seed}
