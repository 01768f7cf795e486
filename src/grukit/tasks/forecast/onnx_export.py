"""ONNX export of a fitted forecaster's network: the standard ONNX ``GRU`` operator
(``linear_before_reset=1`` for ``reset_after=True``, 0 for the textbook form), then the
dense head as ``Gemm``. Any runtime that implements ONNX GRU (onnxruntime, TensorRT, ...)
can serve it.

Layouts: ONNX GRU takes X (T, B, I), W (1, 3H, I) and R (1, 3H, H) with gates in the order
z, r, h, and B (1, 6H) = [Wb_z, Wb_r, Wb_h, Rb_z, Rb_r, Rb_h]; torch's rows are r, z, n.
"""

from __future__ import annotations

import numpy as np


def _zrh(a: np.ndarray, hidden: int) -> np.ndarray:
    r, z, n = a[:hidden], a[hidden:2 * hidden], a[2 * hidden:]
    return np.concatenate([z, r, n])


def gru_dense_to_onnx(gru, dense, path: str, lookback: int, features: int) -> None:
    """Write ``dense(GRU(x)[last step])`` as an ONNX model; x (B, lookback, features)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if gru.num_layers != 1 or gru.bidirectional:
        raise ValueError("ONNX export covers a one-layer, one-direction GRU; this forecaster "
                         f"has num_layers={gru.num_layers}, bidirectional={gru.bidirectional}.")
    h = gru.hidden_size
    p = gru.layer_params(0, 0)

    def arr(t):
        return np.zeros(3 * h, np.float32) if t is None else t.detach().cpu().numpy()

    w = _zrh(p["weight_ih"].detach().cpu().numpy(), h)[None]  # (1, 3H, I)
    r = _zrh(p["weight_hh"].detach().cpu().numpy(), h)[None]  # (1, 3H, H)
    b = np.concatenate([_zrh(arr(p["bias_ih"]), h), _zrh(arr(p["bias_hh"]), h)])[None]  # (1, 6H)
    wd = dense.linear.weight.detach().cpu().numpy()  # (horizon, H)
    bd = (dense.linear.bias.detach().cpu().numpy() if dense.linear.bias is not None
          else np.zeros(wd.shape[0], np.float32))
    inits = [numpy_helper.from_array(a.astype(np.float32), name) for a, name in
             ((w, "W"), (r, "R"), (b, "B"), (wd, "Wd"), (bd, "Bd"))]
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "axis0"))
    nodes = [
        helper.make_node("Transpose", ["x"], ["x_tbi"], perm=[1, 0, 2]),  # (T, B, I)
        helper.make_node("GRU", ["x_tbi", "W", "R", "B"], ["", "h_last"], hidden_size=h,
                         linear_before_reset=1 if gru.reset_after else 0),  # (1, B, H)
        helper.make_node("Squeeze", ["h_last", "axis0"], ["h"]),  # (B, H)
        helper.make_node("Gemm", ["h", "Wd", "Bd"], ["y"], transB=1),  # (B, horizon)
    ]
    graph = helper.make_graph(
        nodes, "grukit_forecaster",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", lookback, features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", wd.shape[0]])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="grukit")
    onnx.checker.check_model(model)
    onnx.save(model, path)
