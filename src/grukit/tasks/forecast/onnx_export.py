"""ONNX export of a fitted forecaster's network, on ``grukit.export``.

``network_to_onnx`` writes the whole network (its stacked recurrent layers, any cell, then
the dense head) through ``grukit.export.to_onnx``; ``gru_dense_to_onnx`` writes one
recurrent module and the head. Either graph takes ``x`` (B, T, features), the windows that
``Forecaster.inputs`` builds (T: the lookback, a dynamic axis), and returns ``y``
(B, horizon), the scaled forecast. The GRU is the standard ONNX ``GRU`` operator with
``linear_before_reset=1`` for ``reset_after=True`` and 0 for the textbook form; any runtime
that implements ONNX GRU (onnxruntime, TensorRT, ...) can serve it.
"""

from __future__ import annotations

import torch

from ...export import save_onnx, to_onnx
from ...export.graph import Graph, array, finish, value_info
from ...export.recurrent import check_module, emit_recurrent

NAMES = {"input": "x", "output": "y"}


def network_to_onnx(net, path: str, lookback: int, features: int) -> None:
    """Write ``net`` (a built ``Sequential``: recurrent layers, then ``Dense``) as ONNX."""
    to_onnx(net, path, example=torch.zeros(1, lookback, features), names=NAMES)


def gru_dense_to_onnx(gru, dense, path: str, lookback: int, features: int) -> None:
    """Write ``dense(gru(x)[last step])`` as ONNX; ``gru``: a batch-first ``grukit.nn``
    recurrent module (any cell, layers and directions), ``dense``: a ``grukit.layers.Dense``
    on its last state (B, D·H)."""
    check_module(gru, "export_onnx")
    g = Graph()
    for name in ("x", "y"):
        g.reserve(name)
    xt = g.transpose("x", [1, 0, 2])  # (T, B, F)
    _, finals = emit_recurrent(g, gru, xt, None, None)  # h_n: (L·D, B, H)
    stack, dirs = gru.num_layers * gru.num_directions, gru.num_directions
    top = g.transpose(g.slice(finals[0], 0, stack - dirs, stack), [1, 0, 2])  # (B, D, H)
    h = g.op("Reshape", [top, g.ints(0, -1)], "h")  # (B, D·H)
    lin = dense.linear
    y = g.op("MatMul", [h, g.init(array(lin.weight).T.copy(), "Wd")])  # (B, horizon)
    if lin.bias is not None:
        y = g.op("Add", [y, g.weight(lin.bias, "Bd")])
    g.node("Identity", [y], ["y"])
    model = finish(g, "grukit_forecaster",
                   [value_info("x", "float", ["batch", lookback, features])],
                   [value_info("y", "float", ["batch", lin.out_features])])
    save_onnx(model, path)
