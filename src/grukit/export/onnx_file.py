"""ONNX export of ``grukit.nn`` modules and ``grukit.models.Sequential`` models.

``to_onnx(model, path)`` writes the graph with ``onnx.helper`` directly rather than through
``torch.onnx``: torch's exporters write ``nn.GRU`` with the wrong reset placement
(``linear_before_reset=0``; pytorch#189225) and fail on a dynamic time length
(pytorch#126339). Cells with an ONNX operator (``grukit.cells``: ``spec.onnx``) become that
operator (GRU with ``linear_before_reset`` = ``reset_after``, LSTM, RNN), the others a
``Scan`` over time (minGRU, LayerNorm-GRU; a GRU with zoneout and an LSTM with a projection
too, which the operators cannot express). The graph is the model in evaluation mode
(dropout off), float32, opset 17; batch and time are dynamic axes, at least 1 each
(a graph with a GRU or LSTM operator refuses an empty batch or sequence: ONNX Runtime's
kernels would abort the process; a ``Scan`` graph refuses a sequence of 0 steps, which its
loop fails on).

Example::

    from grukit.export import to_onnx
    to_onnx(grukit.nn.GRU(8, 16, num_layers=2, bidirectional=True), "gru.onnx",
            lengths=True, initial_state=True)
    # onnxruntime: outputs = session.run(None, {"input": x, "h0": h0, "lengths": lens})
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from torch import nn

from .. import cells
from .._io import output_file
from .cell import cell_model
from .module import module_model
from .sequential import sequential_model


def _kind(model) -> str:
    from ..models import Sequential
    from ..nn import RecurrentBase

    if isinstance(model, RecurrentBase):
        return "module"
    if isinstance(model, Sequential):
        return "sequential"
    steps = tuple(c for c in (s.cell_class() for s in cells.all_specs()) if c is not None)
    if isinstance(model, steps):
        return "cell"
    hint = ""
    if isinstance(model, (nn.RNNBase, nn.RNNCellBase)):
        hint = (" Convert it first with grukit.convert.from_torch(model), which keeps its "
                "weights.")
    modules = ", ".join(s.module.rpartition(".")[2] for s in cells.all_specs())
    raise TypeError(f"to_onnx exports a grukit.nn recurrent module ({modules}, ...), one of "
                    f"its one-step cells or a grukit.models.Sequential; got "
                    f"{type(model).__module__}.{type(model).__name__}.{hint}")


def build_onnx(model, *, example=None, dynamic: bool = True, lengths: bool = False,
               initial_state: bool = False, names: Mapping[str, str] | None = None):
    """The checked ``onnx.ModelProto`` of ``model`` without writing it (see ``to_onnx``)."""
    from ..layers.core import check_switch

    dynamic, lengths, initial_state = (  # "False" is truthy: it added the input
        check_switch(v, f"to_onnx: {k}") for k, v in (
            ("dynamic", dynamic), ("lengths", lengths), ("initial_state", initial_state)))
    if isinstance(model, nn.Module):
        from .pt2 import _refuse_torch_int8

        _refuse_torch_int8(model, "to_onnx", "this exporter cannot read them; export the "
                           "float model with int8=True (ONNX Runtime's int8 operators), or "
                           "quantize it with quantize_int8(model, linear='grukit')")
    kind = _kind(model)
    if kind == "module":
        return module_model(model, example=example, dynamic=dynamic, lengths=lengths,
                            initial_state=initial_state, names=names)
    if kind == "cell" and not lengths:  # a step always takes its state
        return cell_model(model, example=example, dynamic=dynamic, names=names)
    if kind == "cell":
        raise ValueError("to_onnx: lengths= applies to grukit.nn sequence modules; a one-step "
                         "cell reads one step of every sequence.")
    if initial_state:
        raise ValueError("to_onnx: initial_state= applies to grukit.nn modules; a Sequential's "
                         "recurrent layers start from zeros.")
    return sequential_model(model, example=example, dynamic=dynamic, lengths=lengths,
                            names=names)


def _check_path(path) -> Path:
    return output_file("to_onnx", path, ".onnx")


def to_onnx(model, path, *, example=None, dynamic: bool = True, lengths: bool = False,
            initial_state: bool = False, names: Mapping[str, str] | None = None,
            int8: bool = False) -> Path:
    """Write ``model`` as an ONNX file at ``path`` (atomically) and return the path.

    Args:
        model (torch.nn.Module): a ``grukit.nn`` recurrent module, a one-step cell (``GRUCell``,
            ``LSTMCell``, ``RNNCell``: inputs ``input``, ``h0`` (``c0``), outputs ``h``
            (``c``), see ``grukit.export.cell``) or a built ``grukit.models.Sequential``.
        example (torch.Tensor | None): an input batch; required with ``dynamic=False``
            (it fixes the shapes), else only checked against the model (and, for a
            Sequential whose first layer has no ``input_shape``, it gives the input's rank).
        dynamic: batch and time as named dynamic axes ("batch", "time").
        lengths: add the graph input ``lengths`` (B,) int64: the ``lengths=`` of
            ``module.forward`` (written as ONNX ``sequence_lens``; a sequence of length 0
            keeps its initial state, as in eager) or of
            ``Sequential.forward`` (right-padded sequences; an ``Embedding(mask_zero=True)``
            replaces them by its own).
        initial_state: (modules) add the graph inputs ``h0`` (and ``c0``), (L·D, B, H).
        names: new names of graph inputs and outputs, e.g. {"input": "x", "output": "y"}.
        int8: weights in int8 per output channel where ONNX Runtime has int8 operators
            (``grukit.export.int8.quantize_onnx``: MatMul/Gemm, LSTM; a GRU or RNN node
            stays float32, ONNX Runtime has no int8 GRU or RNN; a graph where nothing was
            quantized is written with a ``UserWarning`` that says so).

    Graph inputs and outputs are named ``input``, ``h0``/``c0``, ``lengths`` and
    ``output``, ``h_n``/``c_n`` (modules) or ``output`` (+ ``h``/``c`` with
    ``return_state``) (Sequential); see ``grukit.export.module`` and ``.sequential``.
    """
    from ..layers.core import check_switch

    int8 = check_switch(int8, "to_onnx: int8")  # "False" is truthy: it quantized
    p = _check_path(path)
    proto = build_onnx(model, example=example, dynamic=dynamic, lengths=lengths,
                       initial_state=initial_state, names=names)
    save_onnx(proto, p)
    if int8:
        from .int8 import int8_ops, quantize_onnx

        quantize_onnx(p)
        if not int8_ops(p):  # a GRU or RNN alone: asked for int8, given float32
            import warnings

            warnings.warn(f"to_onnx: int8=True quantized nothing in {str(p)!r}: ONNX Runtime "
                          f"has int8 operators for Dense layers and LSTMs, none for this "
                          f"model's GRU or RNN, so the graph keeps float32 weights; for int8 "
                          f"recurrent weights use quantize_int8(model, linear='grukit') and "
                          f"to_pt2.", UserWarning, stacklevel=2)
    return p


def save_onnx(proto, path) -> Path:
    """Write an ``onnx.ModelProto`` at ``path`` atomically (a temporary file beside it,
    then a rename; the file gets the mode ``open()`` would give it), with the checks and
    errors of ``to_onnx``; returns the path."""
    from .._io import atomic_write

    p = _check_path(path)
    try:
        atomic_write(str(p), lambda tmp: Path(tmp).write_bytes(proto.SerializeToString()))
    except OSError as e:
        raise OSError(f"to_onnx: cannot write {str(p)!r} ({e.strerror or e}); choose a path "
                      f"in a folder you can write to, with space left.") from e
    return p


__all__ = ["build_onnx", "save_onnx", "to_onnx"]
