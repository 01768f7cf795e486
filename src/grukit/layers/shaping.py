"""Keras' shape layers for a Sequential stack: ``Input`` (the input shape, as Keras 3 writes
it first), ``Masking`` (padded float sequences), ``Flatten``, ``GlobalAveragePooling1D``
(the mean over the valid time steps) and ``TimeDistributed`` (a Dense or Dropout applied
at every step)."""

from __future__ import annotations

import numbers

from torch import Tensor

from .core import (
    AFTER_RNN,
    Dense,
    Dropout,
    Layer,
    check_input_shape,
    check_sequence,
    check_switch,
    register,
)


class Input:
    """``Input(shape=(time, features))`` as the first entry of a ``Sequential``: the shape
    of one sample, batch left out (None for a length left open), handed to the next layer as
    its ``input_shape`` (Keras 3's way; ``dtype`` and ``name`` are accepted and not used:
    token ids are told by an ``Embedding`` first)."""

    def __init__(self, shape=None, dtype=None, name: str | None = None, *, batch_size=None):
        self.shape = check_input_shape(shape, type(self).__name__, "shape")
        if self.shape is None:
            raise ValueError("Input needs shape=, the shape of one sample without the batch "
                             "axis, e.g. Input(shape=(100, 1)).")
        self.dtype, self.name = dtype, name


@register
class Masking(Layer):
    """Keras' ``Masking(mask_value=0.0)`` for padded float sequences x (B, T, F): a step
    whose every feature equals ``mask_value`` is padding, set to 0 as Keras sets it, and
    each sequence's number of valid steps goes on as its length, which the recurrent layers
    after it read (they stop at it, as Keras' skip masked steps). Sequences must be
    right-padded (``pad_sequences(..., padding="post")``): a padded step before a valid one
    is refused, since Keras would skip it mid-sequence and lengths cannot say so."""

    def __init__(self, mask_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, numbers.Real):
            raise TypeError(f"Masking: mask_value must be a number; got {mask_value!r}.")
        if mask_value != mask_value:  # NaN equals nothing: no step would ever be masked
            raise ValueError("Masking: mask_value NaN never equals a value, so nothing would be "
                             "masked; pad with a number (0.0) and give that.")
        self.mask_value = float(mask_value)

    def build(self, input_shape):
        check_sequence("Masking", input_shape)
        super().build(input_shape)

    def call(self, x: Tensor, lengths):
        import torch

        valid = (x != self.mask_value).any(-1)  # (B, T)
        n = valid.sum(1)  # (B,)
        t = torch.arange(x.shape[1], device=x.device)
        right = (valid == (t < n.unsqueeze(1))).all()
        said = self._right_padding()
        if torch.compiler.is_compiling():
            torch._assert_async(right, said)
        elif not bool(right):
            raise ValueError(said)
        if lengths is not None:  # a mask from before: a step counts where both keep it
            n = torch.minimum(n, lengths.to(n.device))
        return x * valid.unsqueeze(-1).to(x.dtype), n

    def _right_padding(self) -> str:
        return (f"Masking: padded steps (every feature equal to mask_value={self.mask_value}) "
                f"must come after each sequence's valid steps (right padding: "
                f"pad_sequences(..., padding='post')); Keras would skip a padded step before "
                f"a valid one, which sequence lengths cannot express.")

    def onnx_graph(self, g, x: str, lengths: str | None):
        """The same in ONNX (valid steps, their count, padding set to 0); a padded step
        before a valid one fails at run time in a node named with the eager layer's
        sentence (``Graph.right_padded``)."""
        same = g.op("Cast", [g.op("Equal", [x, g.scalar(self.mask_value)])], "same", to=1)
        valid = g.op("Sub", [g.scalar(1.0), g.op("ReduceMin", [same], "all_same", axes=[2],
                                                 keepdims=0)], "valid")  # (B, T) 1.0 / 0.0
        n = g.right_padded(g.op("Cast", [valid], "valid", to=9),  # (B, T) bool
                           self._right_padding())  # (B,) int64
        if lengths is not None:
            n = g.op("Min", [n, lengths], "len")
        return g.op("Mul", [x, g.unsqueeze(valid, 2)], "masked"), n

    def _config(self):
        return {"mask_value": self.mask_value}


def _data_format(value, cls: str) -> str:
    if value is None:  # Keras: its default image data format, channels_last
        return "channels_last"
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"{cls}: data_format must be 'channels_last' or 'channels_first'; "
                         f"got {value!r}.")
    return value


@register
class Flatten(Layer):
    """(B, d1, d2, …) -> (B, d1·d2·…); the sequence lengths stop here (as Keras' mask).
    ``data_format="channels_first"`` (Keras'): the first axis after the batch holds the
    channels, moved last before flattening, (B, C, T) -> (B, T·C) in (t, c) order."""

    def __init__(self, data_format: str = "channels_last", **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format, "Flatten")

    def call(self, x: Tensor, lengths):
        if self.data_format == "channels_first" and x.dim() > 2:
            x = x.movedim(1, -1)
        return x.reshape(x.shape[0], -1), None

    def _config(self):
        return {"data_format": self.data_format} if self.data_format != "channels_last" \
            else {}


@register
class GlobalAveragePooling1D(Layer):
    """The mean over time of x (B, T, F) -> (B, F); with sequence lengths (a masked input,
    ``Embedding(mask_zero=True)``), the mean over each sequence's valid steps, as Keras; a
    sequence with no valid step gives zeros (Keras 3 divides 0 by 0 there: NaN)."""

    def __init__(self, data_format: str = "channels_last", keepdims: bool = False,
                 **kwargs):
        """Keras' ``data_format`` ("channels_first": x is (B, F, T), the mean over its last
        axis) and ``keepdims`` (the pooled axis kept, of size 1: (B, 1, F) or (B, F, 1))."""
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format, "GlobalAveragePooling1D")
        self.keepdims = check_switch(keepdims, "GlobalAveragePooling1D: keepdims")

    def build(self, input_shape):
        check_sequence("GlobalAveragePooling1D", input_shape, AFTER_RNN)
        super().build(input_shape)

    def call(self, x: Tensor, lengths):
        first = self.data_format == "channels_first"
        if first:
            x = x.transpose(1, 2)  # (B, T, F)
        if lengths is None:
            y = x.mean(1)
        else:
            import torch

            n = lengths.to(x.device)
            valid = torch.arange(x.shape[1], device=x.device)[None, :] < n[:, None]  # (B, T)
            total = (x * valid.unsqueeze(-1).to(x.dtype)).sum(1)  # (B, F)
            y = total / n.clamp_min(1).unsqueeze(-1).to(x.dtype)
        if self.keepdims:
            y = y.unsqueeze(2 if first else 1)
        return y, None

    def _config(self):
        cfg = {"data_format": self.data_format} if self.data_format != "channels_last" else {}
        return cfg | ({"keepdims": True} if self.keepdims else {})


@register
class TimeDistributed(Layer):
    """``TimeDistributed(Dense(...))`` (or Dropout): the layer at every time step of
    x (B, T, F), which a grukit Dense already is (it acts on the last axis)."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, (Dense, Dropout)):
            raise TypeError(f"TimeDistributed wraps a Dense or Dropout layer; got "
                            f"{type(layer).__name__} (a recurrent layer with "
                            f"return_sequences=True already runs at every step).")
        self.layer = layer

    def build(self, input_shape):
        check_sequence("TimeDistributed", input_shape)
        self.layer.build(input_shape)
        super().build(input_shape)

    def call(self, x: Tensor, lengths):
        return self.layer.call(x, lengths)

    def get_weights(self) -> list:
        return self.layer.get_weights()

    def set_weights(self, weights: list) -> None:
        self.layer.set_weights(weights)

    def get_config(self):
        cfg = super().get_config()
        cfg["config"]["layer"] = self.layer.get_config()
        return cfg


class InputLayer(Input):
    """Keras 3's ``InputLayer(shape=None, batch_size=None, dtype=None, sparse=None,
    ragged=None, batch_shape=None, input_tensor=None, optional=False, name=None)``, its
    arguments in Keras' order: as the first entry of a ``Sequential``, the same as
    ``Input(shape=...)``. ``batch_shape`` = (batch_size, *shape); the batch size is not
    fixed (any batch runs, as in predict); ``input_shape`` is Keras' older name for shape.
    Sparse, ragged, optional inputs and ``input_tensor`` have no grukit form."""

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, ragged=None,
                 batch_shape=None, input_tensor=None, optional=False, name=None, **kwargs):
        if "input_shape" in kwargs:
            shape = kwargs.pop("input_shape")
        if "batch_input_shape" in kwargs:
            batch_shape = kwargs.pop("batch_input_shape")
        if kwargs:
            raise TypeError(f"InputLayer.__init__() got an unexpected keyword argument "
                            f"{sorted(kwargs)[0]!r}.")
        for arg, value in (("sparse", sparse), ("ragged", ragged), ("optional", optional)):
            if value:
                raise ValueError(f"InputLayer: {arg}=True has no grukit form; leave it out.")
        if input_tensor is not None:
            raise ValueError("InputLayer: input_tensor has no grukit form; give shape= instead.")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
                batch_size, numbers.Integral) or batch_size < 1):
            raise ValueError(f"InputLayer: batch_size must be a positive integer or None; got "
                             f"{batch_size!r}.")
        if batch_shape is not None:
            if shape is not None or batch_size is not None:
                raise ValueError("InputLayer: give shape (and batch_size) or batch_shape, not "
                                 "both.")
            if isinstance(batch_shape, (str, bytes)) or not hasattr(batch_shape, "__iter__") \
                    or len(tuple(batch_shape)) < 2:
                raise ValueError(f"InputLayer: batch_shape is (batch, *shape), e.g. (None, 100, "
                                 f"1); got {batch_shape!r}.")
            batch_size, *shape = tuple(batch_shape)
        if shape is None:
            raise ValueError("InputLayer needs shape=, the shape of one sample without the "
                             "batch axis, e.g. InputLayer(shape=(100, 1)).")
        if not isinstance(shape, (str, bytes)) and hasattr(shape, "__iter__"):
            shape = tuple(shape)  # batch_shape's rest, a list
        super().__init__(shape, dtype, name, batch_size=batch_size)
        self.batch_size = batch_size
