"""Keras' ``Lambda(function, output_shape=None, mask=None, arguments=None)``: y = f(x) for a
function of the batch, x a torch tensor (B, ...), as Keras' torch backend hands it
(``keras.ops`` functions take it too).

As Keras: ``function(x, **arguments)``, with ``mask`` (B, T) bool (True at valid steps, or
None) when the function takes a ``mask`` argument and ``training`` when it takes that; the
output carries no sequence lengths (Keras' Lambda returns no mask). A file holds the
function's name only: ``load_model(path, custom_objects={"name": function})`` gives it back.
"""

from __future__ import annotations

import inspect
import json

import torch
from torch import Tensor

from .core import Layer, register


@register
class Lambda(Layer):
    """Keras' ``Lambda`` (module docstring). ``output_shape`` is kept in the config only:
    the shapes come from running the function on a dummy batch. ``mask`` (Keras' mask to
    hand on) has no grukit form and is refused."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable; got a "
                            f"{type(function).__name__}.")
        if mask is not None:
            raise ValueError("Lambda: mask has no grukit form (the output carries no sequence "
                             "lengths, as Keras' Lambda's without it); leave it out.")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"Lambda: arguments must be a dict of keyword arguments; got a "
                            f"{type(arguments).__name__}.")
        self.function = function
        self.output_shape_given = output_shape
        self.arguments = dict(arguments or {})
        try:
            params = inspect.signature(function).parameters
        except (TypeError, ValueError):  # a builtin without a signature
            params = {}
        self._takes = {k for k in ("mask", "training") if k in params}

    def call(self, x: Tensor, lengths):
        kwargs = dict(self.arguments)
        if "mask" in self._takes:
            kwargs["mask"] = None if lengths is None else (
                torch.arange(x.shape[1], device=x.device)[None, :]
                < lengths.to(x.device)[:, None])  # (B, T)
        if "training" in self._takes:
            kwargs["training"] = self.training
        y = self.function(x, **kwargs)
        if not isinstance(y, Tensor):
            raise TypeError(f"Lambda: the function returned a {type(y).__name__}; it must "
                            f"return one tensor (torch or keras.ops).")
        return y, None

    def _config(self):
        name = getattr(self.function, "__name__", type(self.function).__name__)
        try:
            json.dumps(self.arguments)
        except TypeError:
            raise ValueError(f"Lambda({name}): its arguments are not plain numbers, texts or "
                             f"lists, which a model file cannot hold; pass them as defaults "
                             f"of the function instead.") from None
        output_shape = self.output_shape_given
        return {"function": name, "output_shape": None if output_shape is None
                or callable(output_shape) else list(output_shape),
                "arguments": self.arguments}


def function_of(config: dict, custom_objects: dict | None) -> dict:
    """A Lambda's config with its function's name replaced by the function
    ``custom_objects`` maps it to; refused in one sentence naming it otherwise."""
    name = config.get("function")
    if callable(name):
        return config
    if name not in (custom_objects or {}):
        raise ValueError(f"the model has a Lambda layer of the function {name!r}, which a "
                         f"file holds by name only; pass custom_objects={{{name!r}: "
                         f"the_function}} to load it.")
    return config | {"function": custom_objects[name]}
