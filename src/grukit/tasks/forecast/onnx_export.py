"""ONNX export of a fitted forecaster's network, on ``grukit.export``.

``network_to_onnx`` writes the whole network (its stacked recurrent layers, any cell, then
the dense head) through ``grukit.export.to_onnx``. The graph takes ``x`` (B, T, features),
the windows that ``Forecaster.inputs`` builds (T: the lookback, a dynamic axis), and returns ``y``
(B, horizon), the scaled forecast. The GRU is the standard ONNX ``GRU`` operator with
``linear_before_reset=1`` for ``reset_after=True`` and 0 for the textbook form; any runtime
that implements ONNX GRU (onnxruntime, TensorRT, ...) can serve it.
"""

from __future__ import annotations

import torch

from ...export import to_onnx

NAMES = {"input": "x", "output": "y"}


def network_to_onnx(net, path: str, lookback: int, features: int) -> None:
    """Write ``net`` (a built ``Sequential``: recurrent layers, then ``Dense``) as ONNX."""
    to_onnx(net, path, example=torch.zeros(1, lookback, features), names=NAMES)
