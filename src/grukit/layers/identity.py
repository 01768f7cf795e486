"""Keras' layers that pass x through unchanged, any shape, the sequence lengths with it (as
Keras passes the mask):

    Identity():                      y = x
    ActivityRegularization(l1, l2):  y = x, and the penalty of the batch's output

        P = (l1 · Σ |y| + l2 · Σ y²) / B        (every entry, padding included; B the batch)

    which ``fit`` adds to the training loss (``regularization_loss``, Keras' ``model.losses``),
    as Keras 3 adds an activity regularizer's loss divided by the batch size.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import regularizers as regs
from .core import Layer, register


@register
class Identity(Layer):
    """Keras' ``Identity()``: y = x."""

    def call(self, x: Tensor, lengths):
        return x, lengths

    def onnx_graph(self, g, x: str, lengths):
        return x, lengths


@register
class ActivityRegularization(Layer):
    """Keras' ``ActivityRegularization(l1=0.0, l2=0.0)`` (module docstring): the identity,
    whose ``regularization_loss()`` is the penalty of its latest output (0.0 before any),
    a tensor that trains through the layers before it."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        reg = regs.L1L2(regs._factor(l1, "ActivityRegularization: l1"),
                        regs._factor(l2, "ActivityRegularization: l2"))
        self.l1, self.l2 = reg.l1, reg.l2
        # the models sum the penalties of the layers that hold a regularizer
        self.regularizers = {"activity_regularizer": reg} if reg.l1 or reg.l2 else {}
        self._penalty = 0.0

    def call(self, x: Tensor, lengths):
        if self.regularizers and x.is_floating_point() and not torch.compiler.is_exporting():
            # (an exported program is inference: it keeps no Python state)
            self._penalty = self.regularizers["activity_regularizer"](x) / max(x.shape[0], 1)
        return x, lengths

    def regularization_loss(self):
        return self._penalty if self.regularizers else 0.0

    def onnx_graph(self, g, x: str, lengths):
        return x, lengths  # the penalty is the training's

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg["config"].pop("activity_regularizer", None)
        return cfg

    def _config(self):
        return {"l1": self.l1, "l2": self.l2}
