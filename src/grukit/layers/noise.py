"""Keras' noise layers, active only in training (the identity in inference, in ``predict``
and in the ONNX form), as Keras 3's; the sequence lengths pass on as Keras passes the mask::

    GaussianNoise(stddev):  y = x + ε,   ε ~ N(0, stddev²) per entry        (stddev in [0, 1])
    GaussianDropout(rate):  y = x · ε,   ε ~ N(1, rate / (1 − rate)) per entry (rate in [0, 1))

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
        gen = None
        if self.seed is not None:
            gen = self._generators.get(x.device)
            if gen is None:
                gen = torch.Generator(device=x.device).manual_seed(self.seed % 2**64)
                self._generators[x.device] = gen
        noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        return noise * std + mean

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
