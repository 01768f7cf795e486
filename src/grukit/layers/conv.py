"""Keras' 1-D convolution and pooling for CNN-GRU models on x (B, T, C) (channels last, as
Keras): ``Conv1D``, ``MaxPooling1D``, ``AveragePooling1D``, ``GlobalMaxPooling1D`` (and
Keras' other names for them: ``MaxPool1D``, ``AvgPool1D``, ``GlobalMaxPool1D``). Each equals
Keras 3's layer (weights in Keras' layout: kernel (k, C, filters)) and has its ONNX form. Like
Keras' layers they do not carry a mask: the sequence lengths stop at them."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..ops.activations import name_of
from .core import (
    ACTIVATIONS,
    Layer,
    check_sequence,
    check_switch,
    onnx_activation,
    positive_int,
    register,
)

PADDINGS = ("valid", "same", "causal")


def _same_pads(steps: int, size: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same": ⌈T / s⌉ outputs, the padding split with the extra step after."""
    total = max((math.ceil(steps / stride) - 1) * stride + size - steps, 0)
    return total // 2, total - total // 2


@register
class Conv1D(Layer):
    """y[b, t] = act(Σ_j W[j] x[b, s·t + d·j] + bias) over the kernel's k taps, with x
    padded as ``padding`` says ("valid": none; "same": ⌈T / s⌉ outputs; "causal": (k − 1)·d
    zeros before). ``kernel_regularizer`` / ``bias_regularizer`` as Keras'."""

    REGULARIZED = {"kernel_regularizer": ("kernel",), "bias_regularizer": ("bias",)}
    INITIALIZED = {"kernel_initializer": "glorot_uniform", "bias_initializer": "zeros"}
    KERAS_START = True  # build draws glorot_uniform / zeros

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 dilation_rate=1, activation=None, use_bias: bool = True,
                 data_format: str = "channels_last", **kwargs):
        super().__init__(**kwargs)
        one = lambda v, what: positive_int(v[0] if isinstance(v, (list, tuple))  # noqa: E731
                                           and len(v) == 1 else v, f"Conv1D: {what}")
        self.filters = positive_int(filters, "Conv1D: filters")
        self.kernel_size, self.strides = one(kernel_size, "kernel_size"), one(strides, "strides")
        self.dilation_rate = one(dilation_rate, "dilation_rate")
        if padding not in PADDINGS:
            raise ValueError(f"Conv1D: padding must be one of {PADDINGS}; got {padding!r}.")
        if data_format != "channels_last":
            raise ValueError("Conv1D: only data_format='channels_last' (batch, time, channels) "
                             "has a grukit form.")
        activation = name_of(activation, ACTIVATIONS)  # keras.activations.relu -> "relu"
        if activation not in ACTIVATIONS:
            raise ValueError(f"Conv1D: unknown activation {activation!r}; choose one of "
                             f"{', '.join(k for k in ACTIVATIONS if k)}.")
        if self.strides > 1 and self.dilation_rate > 1:
            raise ValueError("Conv1D: strides > 1 with dilation_rate > 1 is refused, as Keras "
                             "refuses it.")
        self.padding, self.activation = padding, activation
        self.use_bias = check_switch(use_bias, "Conv1D: use_bias")

    def build(self, input_shape):
        check_sequence("Conv1D", input_shape)
        k, c, f = self.kernel_size, input_shape[-1], self.filters
        limit = math.sqrt(6 / (k * c + k * f))  # Keras' glorot_uniform
        self.kernel = nn.Parameter(torch.empty(k, c, f).uniform_(-limit, limit))  # (k, C, F)
        self.bias = nn.Parameter(torch.zeros(f)) if self.use_bias else None
        super().build(input_shape)

    def _pads(self, steps: int) -> tuple[int, int]:
        span = (self.kernel_size - 1) * self.dilation_rate + 1
        if self.padding == "same":
            return _same_pads(steps, span, self.strides)
        return (span - 1, 0) if self.padding == "causal" else (0, 0)

    def call(self, x: Tensor, lengths):
        pads = self._pads(x.shape[1])
        span = (self.kernel_size - 1) * self.dilation_rate + 1
        if x.shape[1] + sum(pads) < span:
            raise ValueError(f"Conv1D: the kernel spans {span} steps (kernel_size "
                             f"{self.kernel_size}, dilation_rate {self.dilation_rate}) but the "
                             f"input has {x.shape[1]}; give longer sequences or padding='same'.")
        xt = F.pad(x.transpose(1, 2), pads)  # (B, C, T + pads)
        y = F.conv1d(xt, self.kernel.permute(2, 1, 0), self.bias, self.strides,
                     dilation=self.dilation_rate)  # (B, F, T')
        fn = ACTIVATIONS[self.activation]
        y = y.transpose(1, 2)  # (B, T', F)
        return (y if fn is None else fn(y)), None

    def keras_params(self) -> list[Tensor]:
        return [self.kernel] + ([self.bias] if self.bias is not None else [])

    def onnx_graph(self, g, x: str, lengths):
        attrs = {"strides": [self.strides], "dilations": [self.dilation_rate]}
        if self.padding == "same" and self.strides > 1:  # pads that depend on T (no dilation)
            attrs["auto_pad"] = "SAME_UPPER"
        else:  # fixed pads: "same" at stride 1 pads (k − 1)·d, the extra one after
            attrs["pads"] = list(self._pads(1))
        inputs = [g.transpose(x, [0, 2, 1]), g.weight(self.kernel.permute(2, 1, 0), "conv_W")]
        if self.bias is not None:
            inputs.append(g.weight(self.bias, "conv_b"))
        y = g.transpose(g.op("Conv", inputs, "conv", **attrs), [0, 2, 1])  # (B, T', F)
        return onnx_activation(g, y, self.activation, "Conv1D"), None

    def _config(self):
        return {"filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding,
                "dilation_rate": self.dilation_rate, "activation": self.activation,
                "use_bias": self.use_bias}


class _Pooling1D(Layer):
    """Windows of ``pool_size`` steps every ``strides`` (default ``pool_size``) steps of
    x (B, T, C), "valid" or "same" (⌈T / s⌉ outputs, padded as Conv1D's "same"); a subclass
    gives ``_pool(xt, pads)`` on xt (B, C, T) and its ONNX operator."""

    ONNX = ""

    def __init__(self, pool_size=2, strides=None, padding: str = "valid",
                 data_format: str = "channels_last", **kwargs):
        super().__init__(**kwargs)
        what = type(self).__name__
        one = lambda v: v[0] if isinstance(v, (list, tuple)) and len(v) == 1 else v  # noqa: E731
        self.pool_size = positive_int(one(pool_size), f"{what}: pool_size")
        self.strides = positive_int(self.pool_size if strides is None else one(strides),
                                    f"{what}: strides")
        if padding not in ("valid", "same"):
            raise ValueError(f"{what}: padding must be 'valid' or 'same'; got {padding!r}.")
        if data_format != "channels_last":
            raise ValueError(f"{what}: only data_format='channels_last' (batch, time, "
                             f"channels) has a grukit form.")
        self.padding = padding

    def build(self, input_shape):
        check_sequence(type(self).__name__, input_shape)
        super().build(input_shape)

    def call(self, x: Tensor, lengths):
        if self.padding == "valid" and x.shape[1] < self.pool_size:
            raise ValueError(f"{type(self).__name__}: pool_size {self.pool_size} is longer "
                             f"than the input's {x.shape[1]} steps; give longer sequences or "
                             f"padding='same'.")
        pads = _same_pads(x.shape[1], self.pool_size, self.strides) \
            if self.padding == "same" else None
        return self._pool(x.transpose(1, 2), pads).transpose(1, 2), None  # (B, T', C)

    def onnx_graph(self, g, x: str, lengths):
        pad = {"auto_pad": "SAME_UPPER"} if self.padding == "same" else {"pads": [0, 0]}
        y = g.op(self.ONNX, [g.transpose(x, [0, 2, 1])], "pool", kernel_shape=[self.pool_size],
                 strides=[self.strides], **pad, **self._onnx_attrs())
        return g.transpose(y, [0, 2, 1]), None

    def _onnx_attrs(self) -> dict:
        return {}

    def _config(self):
        return {"pool_size": self.pool_size, "strides": self.strides, "padding": self.padding}


@register
class MaxPooling1D(_Pooling1D):
    """The maximum over each window; "same" pads with −inf (the padding never wins)."""

    ONNX = "MaxPool"

    def _pool(self, xt: Tensor, pads) -> Tensor:
        if pads is not None:
            xt = F.pad(xt, pads, value=-math.inf)
        return F.max_pool1d(xt, self.pool_size, self.strides)


@register
class GlobalMaxPooling1D(Layer):
    """x (B, T, C) -> (B, C): the maximum over all steps (as Keras', padding included).
    Keras' ``data_format="channels_first"``: x is (B, C, T), the maximum over its last axis;
    ``keepdims``: the pooled axis kept, of size 1."""

    def __init__(self, data_format: str = "channels_last", keepdims: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        data_format = "channels_last" if data_format is None else data_format  # as Keras
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"GlobalMaxPooling1D: data_format must be 'channels_last' or "
                             f"'channels_first'; got {data_format!r}.")
        self.data_format = data_format
        self.keepdims = check_switch(keepdims, "GlobalMaxPooling1D: keepdims")

    def _axis(self) -> int:
        return 2 if self.data_format == "channels_first" else 1

    def build(self, input_shape):
        check_sequence("GlobalMaxPooling1D", input_shape)
        super().build(input_shape)

    def call(self, x: Tensor, lengths):
        return x.amax(self._axis(), keepdim=self.keepdims), None

    def onnx_graph(self, g, x: str, lengths):
        return g.op("ReduceMax", [x], "gmax", axes=[self._axis()],
                    keepdims=int(self.keepdims)), None

    def _config(self):
        cfg = {"data_format": self.data_format} if self.data_format != "channels_last" else {}
        return cfg | ({"keepdims": True} if self.keepdims else {})


@register
class AveragePooling1D(_Pooling1D):
    """The mean over each window; with "same" a window's mean is over its steps inside x
    only (the padding is not counted), as Keras' (TensorFlow's and JAX's; Keras 3.15's torch
    backend averages replicated edge steps where the padding is uneven,
    keras-team/keras#23233)."""

    ONNX = "AveragePool"

    def __init__(self, pool_size, strides=None, padding: str = "valid",
                 data_format: str = "channels_last", **kwargs):  # Keras: pool_size required
        super().__init__(pool_size, strides, padding, data_format, **kwargs)

    def _pool(self, xt: Tensor, pads) -> Tensor:
        if pads is None:
            return F.avg_pool1d(xt, self.pool_size, self.strides)
        inside = F.pad(torch.ones_like(xt[:1, :1]), pads)  # (1, 1, T + pads): 1 inside x
        total = F.avg_pool1d(F.pad(xt, pads), self.pool_size, self.strides)
        return total / F.avg_pool1d(inside, self.pool_size, self.strides)  # share inside x

    def _onnx_attrs(self) -> dict:
        return {"count_include_pad": 0}


# Keras' other names for the same layers (keras.layers.MaxPool1D is MaxPooling1D)
MaxPool1D, AvgPool1D, GlobalMaxPool1D = MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D
