"""Keras' ``Reshape`` and ``Permute``: x (B, d1, d2, …) rearranged without the batch axis,
as Keras 3's layers, with their ONNX forms. Like Keras' layers they do not carry a mask:
the sequence lengths stop at them.

    Reshape(target_shape):  (B, d1, d2, …) -> (B, *target_shape), the same entries in the
        same (row-major) order; one entry of target_shape may be −1, the size left over
    Permute(dims):          (B, d1, …, dn) -> (B, d_dims[0], …, d_dims[n−1]), dims a
        permutation of 1 … n (1-based, the batch left out): Permute((2, 1)) swaps time and
        features
"""

from __future__ import annotations

import math
import numbers

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
