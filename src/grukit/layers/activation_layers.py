"""Keras' activation layers: ``ReLU``, ``LeakyReLU``, ``Softmax``, ``ELU`` and ``PReLU``
(a learned slope). Each equals Keras 3's layer (PReLU's weight in Keras' layout), passes
the sequence lengths on as Keras passes the mask, and has its ONNX form (``onnx_graph``)::

    ReLU(max_value=m, negative_slope=a, threshold=θ):
        y = min(x, m)        for x > θ          (no bound without m)
        y = a (x − θ)        for x ≤ θ
    LeakyReLU(negative_slope=0.3):  y = x for x > 0, 0.3 x otherwise (Keras 3's default;
        ``Activation("leaky_relu")`` is Keras' function, slope 0.2)
    Softmax(axis=-1):    y = exp(x) / Σ_axis exp(x)  (several axes: over all of them)
    ELU(alpha=1.0):      y = x for x > 0, α (eˣ − 1) otherwise
    PReLU(shared_axes):  y = x for x > 0, α x otherwise; α of x's shape without the batch
        (size 1 on the shared axes, 1-based as Keras'), starting at 0
"""

from __future__ import annotations

import math
import numbers
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .core import Layer, register


def _number(value, what: str, *, bound: bool = False) -> float:
    """A finite number ≥ 0, else one sentence naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < 0:
        kind = "a non-negative number, or None for no bound" if bound else \
            "a non-negative number"
        raise ValueError(f"{what} must be {kind}; got {value!r}.")
    return float(value)


@register
class ReLU(Layer):
    """Keras' ``ReLU(max_value=None, negative_slope=0.0, threshold=0.0)`` (module docstring)."""

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else _number(max_value, "ReLU: max_value",
                                                                bound=True)
        self.negative_slope = _number(negative_slope, "ReLU: negative_slope")
        self.threshold = _number(threshold, "ReLU: threshold")

    def call(self, x: Tensor, lengths):
        y = torch.where(x > self.threshold, x, torch.zeros_like(x))
        if self.max_value is not None:
            y = y.clamp_max(self.max_value)
        if self.negative_slope:
            y = y - self.negative_slope * F.relu(self.threshold - x)
        return y, lengths

    def onnx_graph(self, g, x: str, lengths):
        y = g.op("Where", [g.op("Greater", [x, g.scalar(self.threshold)]), x, g.scalar(0.0)],
                 "relu")
        if self.max_value is not None:
            y = g.op("Min", [y, g.scalar(self.max_value)], "relu")
        if self.negative_slope:
            below = g.op("Relu", [g.op("Sub", [g.scalar(self.threshold), x])])
            y = g.op("Sub", [y, g.op("Mul", [below, g.scalar(self.negative_slope)])], "relu")
        return y, lengths

    def _config(self):
        return {"max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


@register
class LeakyReLU(Layer):
    """Keras 3's ``LeakyReLU(negative_slope=0.3)``: x for x > 0, negative_slope · x
    otherwise (``alpha``, Keras 2's name, is taken with Keras' warning)."""

    def __init__(self, negative_slope: float = 0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("LeakyReLU: alpha is Keras 2's name; use negative_slope.",
                          UserWarning, stacklevel=2)
        super().__init__(**kwargs)
        self.negative_slope = _number(negative_slope, "LeakyReLU: negative_slope")

    def call(self, x: Tensor, lengths):
        return F.leaky_relu(x, self.negative_slope), lengths

    def onnx_graph(self, g, x: str, lengths):
        return g.op("LeakyRelu", [x], "leaky_relu", alpha=self.negative_slope), lengths

    def _config(self):
        return {"negative_slope": self.negative_slope}


@register
class Softmax(Layer):
    """Keras' ``Softmax(axis=-1)``: a probability distribution along ``axis`` (an int, or a
    list of axes normalized together); not the batch axis. Sequence lengths pass on; with
    them, a softmax over the time axis (axis=1) is over each sequence's valid steps, 0 on
    the padding (what Keras' masked softmax gives, where its mask fits the input)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, numbers.Integral)
                           for a in axes):
            raise ValueError(f"Softmax: axis must be an integer or a list of integers; got "
                             f"{axis!r}.")
        self.axis = [int(a) for a in axes] if isinstance(axis, (list, tuple)) else int(axis)

    def _axes(self, rank: int) -> list[int]:
        """The axes (≥ 1) of an input of ``rank`` dimensions, batch included."""
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        out = []
        for a in axes:
            if not -rank <= a < rank:
                raise ValueError(f"Softmax: axis {a} is out of range for an input of "
                                 f"{rank} dimensions (batch included).")
            if a % rank == 0:
                raise ValueError("Softmax: axis 0 is the batch; normalize along a feature "
                                 "or time axis (axis=-1, the default).")
            out.append(a % rank)
        return sorted(set(out))

    def build(self, input_shape):
        self._axes(len(input_shape) + 1)
        super().build(input_shape)

    def call(self, x: Tensor, lengths):
        axes = self._axes(x.dim())
        inside = None
        if lengths is not None and x.dim() >= 3 and 1 in axes:  # padded steps take no share
            t = torch.arange(x.shape[1], device=x.device)
            inside = (t[None, :] < lengths.to(x.device)[:, None])  # (B, T)
            inside = inside.reshape(*inside.shape, *[1] * (x.dim() - 2))
            x = x.masked_fill(~inside, -1e9)  # Keras' large negative number
        y = torch.exp(x - torch.logsumexp(x, dim=axes, keepdim=True)) if len(axes) > 1 \
            else torch.softmax(x, dim=axes[0])
        if inside is not None:
            y = torch.where(inside, y, torch.zeros_like(y))  # nan where all are padding
        return y, lengths

    def onnx_graph(self, g, x: str, lengths):
        traced = getattr(self, "_rank", None)
        axes = self._axes(traced) if traced else [a for a in (
            self.axis if isinstance(self.axis, list) else [self.axis])]
        inside = None
        if lengths is not None and traced and traced >= 3 and 1 in axes:
            inside = g.inside(x, lengths)  # (B, T) bool
            for k in range(2, traced):
                inside = g.unsqueeze(inside, k)
            x = g.op("Where", [inside, x, g.scalar(-1e9)], "masked")
        if len(axes) == 1:
            y = g.op("Softmax", [x], "softmax", axis=axes[0])
        else:
            lse = g.op("ReduceLogSumExp", [x], "lse", axes=axes, keepdims=1)
            y = g.op("Exp", [g.op("Sub", [x, lse])], "softmax")
        if inside is not None:
            y = g.op("Where", [inside, y, g.scalar(0.0)], "softmax")
        return y, lengths

    def forward(self, x: Tensor, lengths: Tensor | None = None):
        self._rank = x.dim()  # for the ONNX form
        return super().forward(x, lengths)

    def _config(self):
        return {"axis": self.axis}


@register
class PReLU(Layer):
    """Keras' ``PReLU(alpha_initializer="zeros", shared_axes=None)``: y = x for x > 0,
    α x otherwise, α learned per position and feature (x's shape without the batch), one
    value along each of ``shared_axes`` (1-based: ``shared_axes=[1]`` shares α over time,
    one per feature). ``alpha_regularizer`` as Keras'."""

    REGULARIZED = {"alpha_regularizer": ("alpha",)}
    INITIALIZED = {"alpha_initializer": "zeros"}
    KERAS_START = True

    def __init__(self, alpha_initializer="zeros", shared_axes=None, **kwargs):
        if kwargs.pop("alpha_constraint", None) is not None:
            raise ValueError("PReLU: alpha_constraint has no grukit form; leave it out.")
        super().__init__(alpha_initializer=alpha_initializer, **kwargs)
        axes = [] if shared_axes is None else list(shared_axes) \
            if isinstance(shared_axes, (list, tuple)) else [shared_axes]
        if any(isinstance(a, bool) or not isinstance(a, numbers.Integral) or a < 1
               for a in axes):
            raise ValueError(f"PReLU: shared_axes must be axes counted from 1 (the first after "
                             f"the batch), e.g. [1] to share over time; got {shared_axes!r}.")
        self.shared_axes = None if shared_axes is None else [int(a) for a in axes]

    def build(self, input_shape):
        shape = list(input_shape)
        for a in self.shared_axes or []:
            if a > len(shape):
                raise ValueError(f"PReLU: shared axis {a} is past the input's {len(shape)} "
                                 f"axes after the batch.")
            shape[a - 1] = 1
        if None in shape:
            raise ValueError("PReLU needs a fixed size on every axis it does not share; give "
                             "the input a fixed length or share the time axis (shared_axes=[1]).")
        self.alpha = nn.Parameter(torch.zeros(shape))
        super().build(input_shape)

    def call(self, x: Tensor, lengths):
        shape = self.alpha.shape
        if x.dim() != len(shape) + 1 or any(a != 1 and a != d for a, d in
                                            zip(shape, x.shape[1:], strict=True)):
            raise ValueError(f"PReLU was built for inputs shaped (batch, "
                             f"{', '.join(map(str, shape))}) with its shared axes "
                             f"{self.shared_axes or []}; got {tuple(x.shape)}. Share the axis "
                             f"that varies (shared_axes=[1] for the time steps).")
        return F.relu(x) - self.alpha * F.relu(-x), lengths

    def onnx_graph(self, g, x: str, lengths):
        return g.op("PRelu", [x, g.weight(self.alpha, "prelu_alpha")], "prelu"), lengths

    def keras_params(self) -> list[Tensor]:
        return [self.alpha]

    def _config(self):
        return {"shared_axes": self.shared_axes}


@register
class ELU(Layer):
    """Keras' ``ELU(alpha=1.0)``: y = x for x > 0, α (eˣ − 1) otherwise (α any finite
    number, as Keras takes it)."""

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) \
                or not math.isfinite(alpha):
            raise ValueError(f"ELU: alpha must be a finite number (the scale of the negative "
                             f"part); got {alpha!r}.")
        self.alpha = float(alpha)

    def call(self, x: Tensor, lengths):
        return torch.where(x > 0, x, self.alpha * torch.expm1(x.clamp_max(0))), lengths

    def onnx_graph(self, g, x: str, lengths):
        return g.op("Elu", [x], "elu", alpha=self.alpha), lengths

    def _config(self):
        return {"alpha": self.alpha}
