"""Keras' ``Reshape`` and ``Permute``: x (B, d1, d2, …) rearranged without the batch axis,
as Keras 3's layers, with their ONNX forms; and the layers that change the time axis of
x (B, T, F), ``ZeroPadding1D``, ``Cropping1D`` and ``UpSampling1D`` (their docstrings).
Like Keras' layers they do not carry a mask: the sequence lengths stop at them.

    Reshape(target_shape):  (B, d1, d2, …) -> (B, *target_shape), the same entries in the
        same (row-major) order; one entry of target_shape may be −1, the size left over
    Permute(dims):          (B, d1, …, dn) -> (B, d_dims[0], …, d_dims[n−1]), dims a
        permutation of 1 … n (1-based, the batch left out): Permute((2, 1)) swaps time and
        features
"""

from __future__ import annotations

import math
import numbers
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from .core import Layer, register


def _ints(value, what: str) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{what} must be a tuple of integers; got {value!r}.")
    out = tuple(value)
    if not out or any(isinstance(d, bool) or not isinstance(d, numbers.Integral) for d in out):
        raise ValueError(f"{what} must be a non-empty tuple of integers; got {value!r}.")
    return tuple(int(d) for d in out)


@register
class Reshape(Layer):
    """``Reshape(target_shape)`` (module docstring): positive sizes, at most one −1."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        shape = _ints(target_shape, "Reshape: target_shape")
        if any(d < 1 and d != -1 for d in shape) or shape.count(-1) > 1:
            raise ValueError(f"Reshape: target_shape takes positive sizes and at most one -1 "
                             f"(the size left over), without the batch axis; got "
                             f"{target_shape!r}.")
        self.target_shape = shape

    def _resolved(self, input_shape: tuple) -> tuple[int, ...]:
        size, known = math.prod(input_shape), math.prod(d for d in self.target_shape if d != -1)
        fits = size % known == 0 if -1 in self.target_shape else size == known
        if not fits:
            raise ValueError(f"Reshape: an input of shape (batch, "
                             f"{', '.join(map(str, input_shape))}) has {size} entries per "
                             f"sample, which target_shape={self.target_shape} cannot hold; "
                             f"give sizes whose product is {size} (or one -1).")
        return tuple(size // known if d == -1 else d for d in self.target_shape)

    def build(self, input_shape):
        if None not in input_shape:
            self._resolved(tuple(input_shape))
        super().build(input_shape)

    def call(self, x: Tensor, lengths):
        return x.reshape(x.shape[0], *self._resolved(tuple(x.shape[1:]))), None

    def onnx_graph(self, g, x: str, lengths):
        return g.op("Reshape", [x, g.ints(0, *self.target_shape)], "reshape"), None

    def _config(self):
        return {"target_shape": list(self.target_shape)}


@register
class Permute(Layer):
    """``Permute(dims)`` (module docstring): dims 1-based, the batch axis stays first."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = _ints(dims, "Permute: dims")
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute: dims must be a permutation of 1 … {len(dims)} (axes "
                             f"counted from 1, the batch left out), e.g. (2, 1); got "
                             f"{dims!r}.")
        self.dims = dims

    def build(self, input_shape):
        if len(input_shape) != len(self.dims):
            raise ValueError(f"Permute: dims={self.dims} orders {len(self.dims)} axes but the "
                             f"input has {len(input_shape)} after the batch (batch, "
                             f"{', '.join(map(str, input_shape))}).")
        super().build(input_shape)

    def call(self, x: Tensor, lengths):
        if x.dim() != len(self.dims) + 1:
            raise ValueError(f"Permute: dims={self.dims} orders {len(self.dims)} axes but the "
                             f"input has {x.dim() - 1} after the batch.")
        return x.permute(0, *self.dims), None

    def onnx_graph(self, g, x: str, lengths):
        return g.transpose(x, [0, *self.dims]), None

    def _config(self):
        return {"dims": list(self.dims)}


def _pair(value, what: str) -> tuple[int, int]:
    """Keras' ``int or (left, right)`` of non-negative integers as (left, right)."""
    pair = (value, value) if isinstance(value, numbers.Integral) else value
    if isinstance(pair, (str, bytes)) or not hasattr(pair, "__iter__"):
        raise ValueError(f"{what} must be a non-negative integer or a pair (before, after) of "
                         f"them; got {value!r}.")
    pair = tuple(pair)
    if len(pair) != 2 or any(isinstance(d, bool) or not isinstance(d, numbers.Integral)
                             or d < 0 for d in pair):
        raise ValueError(f"{what} must be a non-negative integer or a pair (before, after) of "
                         f"them; got {value!r}.")
    return int(pair[0]), int(pair[1])


def _drops_mask(layer, lengths) -> None:
    """Keras' warning where a layer that does not carry a mask is given one."""
    if lengths is not None and not torch.compiler.is_compiling():
        warnings.warn(f"{type(layer).__name__} changes the time axis, so the sequence "
                      f"lengths (Keras' mask) stop at it, as Keras drops the mask there: the "
                      f"layers after it see every step.", UserWarning, stacklevel=3)


class _Time(Layer):
    """The shared part of the layers that change the time axis of x (B, T, F)."""

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{type(self).__name__} needs a sequence (batch, time, features); "
                             f"got (batch, {', '.join(map(str, input_shape))}).")
        super().build(input_shape)

    def forward(self, x, lengths=None):
        if isinstance(x, Tensor) and x.dim() != 3:
            raise ValueError(f"{type(self).__name__} needs a sequence (batch, time, features); "
                             f"got shape {tuple(x.shape)}.")
        return super().forward(x, lengths)


@register
class ZeroPadding1D(_Time):
    """Keras' ``ZeroPadding1D(padding=1)``: x (B, T, F) -> (B, left + T + right, F), zero
    steps before and after (``padding``: an int for both sides or (left, right)). As Keras',
    it carries no mask: the sequence lengths stop here (with Keras' warning)."""

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"ZeroPadding1D: only data_format='channels_last' (batch, time, "
                             f"features) has a grukit form; got {data_format!r}.")
        self.padding = _pair(padding, "ZeroPadding1D: padding")

    def call(self, x: Tensor, lengths):
        _drops_mask(self, lengths)
        return F.pad(x, (0, 0, *self.padding)), None  # (B, l + T + r, F)

    def onnx_graph(self, g, x: str, lengths):
        left, right = self.padding
        return g.op("Pad", [x, g.ints(0, left, 0, 0, right, 0)], "pad"), None

    def _config(self):
        return {"padding": list(self.padding)}


@register
class Cropping1D(_Time):
    """Keras' ``Cropping1D(cropping=(1, 1))``: x (B, T, F) -> (B, T − left − right, F),
    steps cut from the start and the end (an int cuts as many from both); at least one step
    must be left. As Keras', it carries no mask: the sequence lengths stop here."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pair(cropping, "Cropping1D: cropping")

    def _check(self, steps):
        if steps is not None and sum(self.cropping) >= steps:
            raise ValueError(f"Cropping1D: cropping={self.cropping} cuts {sum(self.cropping)} "
                             f"steps from sequences of {steps}, leaving none; crop fewer.")

    def build(self, input_shape):
        super().build(input_shape)
        self._check(input_shape[0])

    def call(self, x: Tensor, lengths):
        self._check(x.shape[1])
        _drops_mask(self, lengths)
        left, right = self.cropping
        return x[:, left:x.shape[1] - right], None  # (B, T − l − r, F)

    def onnx_graph(self, g, x: str, lengths):
        left, right = self.cropping
        return g.slice(x, 1, left, -right if right else 2 ** 62), None

    def _config(self):
        return {"cropping": list(self.cropping)}


@register
class UpSampling1D(_Time):
    """Keras' ``UpSampling1D(size=2)``: each time step repeated ``size`` times,
    x (B, T, F) -> (B, size · T, F) (y[:, t] = x[:, t // size]). As Keras', it carries no
    mask: the sequence lengths stop here."""

    def __init__(self, size: int = 2, **kwargs):
        super().__init__(**kwargs)
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"UpSampling1D: size must be a positive integer (how many times "
                             f"each step is repeated); got {size!r}.")
        self.size = int(size)

    def call(self, x: Tensor, lengths):
        _drops_mask(self, lengths)
        return x.repeat_interleave(self.size, dim=1), None  # (B, size·T, F)

    def onnx_graph(self, g, x: str, lengths):
        tiled = g.op("Tile", [g.unsqueeze(x, 2), g.ints(1, 1, self.size, 1)], "up")  # (B,T,s,F)
        shape = g.op("Concat", [g.dim(x, 0), g.ints(-1), g.dim(x, 2)], "shape", axis=0)
        return g.op("Reshape", [tiled, shape], "up"), None  # (B, s·T, F)

    def _config(self):
        return {"size": self.size}
