"""A built ``grukit.models.Sequential`` as an ONNX model, layer by layer.

Graph input ``input``: the model's input, batch first ((B, T, F) floats for a recurrent
first layer, (B, T) int64 token ids for an ``Embedding``), and with ``lengths=True``
``lengths`` (B,) int64 (``model(x, lengths)`` for right-padded sequences); output
``output`` (and, when the last recurrent layer has ``return_state``, one output per state
of its cell: ``h``, ``c``).
Layers, in evaluation mode::

    recurrent (grukit.cells' layers)   the grukit.nn module (grukit.export.recurrent);
                                       return_sequences, return_state, go_backwards
    Bidirectional                      the wrapped layer's module with both directions
    Dense                              MatMul + Add, then its activation
    Dropout                            identity
    Embedding                          Gather; mask_zero: lengths = Σ_t [id ≠ 0] (the ids
                                       must be right-padded, as the layer demands: other
                                       ids fail at run time in a node that says so)
    AttentionPooling                   e = tanh(x Wᵀ + b) v, softmax over the valid steps,
                                       Σ_t a_t x_t
    any layer with ``onnx_graph``      its own nodes: ``layer.onnx_graph(g, x, lengths)``
                                       -> (x, lengths), value names in a
                                       ``grukit.export.graph.Graph`` ``g``, x's rank kept
                                       (how a task's own layer joins the export)
"""

from __future__ import annotations

import math

import torch

from ..cells import CellSpec
from ..layers.core import onnx_activation
from .graph import Graph, finish, io_names, value_info
from .recurrent import check_module, emit_recurrent


def _recurrent(g: Graph, layer, x: str, lengths: str | None, what: str, last: bool):
    """A recurrent layer (possibly wrapped by Bidirectional) on x (B, T, F)."""
    cls = type(layer).__name__
    if layer.stateful:
        raise ValueError(f"{what}: {cls}(stateful=True) carries its state between calls, "
                         f"which an exported graph cannot; export a copy with "
                         f"stateful=False.")
    if layer.return_state and not last:
        raise ValueError(f"{what}: {cls}(return_state=True) must be the last layer to "
                         f"export (its outputs become the graph's outputs).")
    rnn = layer.rnn
    check_module(rnn, f"{what}: {cls}")
    xt = g.transpose(x, [1, 0, 2])  # (T, B, F)
    if layer.go_backwards:
        xt = g.reverse_time(xt, lengths, time_axis=0, batch_axis=1)
    y, finals = emit_recurrent(g, rnn, xt, lengths, None)  # (T, B, D·H), (L·D, B, S)
    dirs, stack = rnn.num_directions, rnn.num_layers * rnn.num_directions
    if layer.return_sequences:
        out, lengths = g.transpose(y, [1, 0, 2]), lengths  # (B, T, D·H)
        if lengths is not None and dirs == 1 and layer.go_backwards:  # as the layer: padding
            out = g.reverse_time(g.reverse_time(out, lengths, 1, 0), None, 1, 0)  # first
        elif lengths is not None and dirs == 1:
            out = _carry_last(g, out, lengths)  # as the layer: Keras' masked steps
    else:
        top = g.transpose(g.slice(finals[0], 0, stack - dirs, stack), [1, 0, 2])  # (B, D, H)
        out, lengths = g.op("Reshape", [top, g.ints(0, -1)], "last"), None  # (B, D·H)
    if layer.return_state:
        states = [g.squeeze(g.slice(s, 0, stack - 1, stack), 0) for s in finals]  # (B, S)
        return [out, *states], lengths
    return out, lengths


def _merge(g: Graph, y: str, mode: str, units: int) -> str:
    """Bidirectional's merge of [f, b] on the last axis (see ``layers.Bidirectional``)."""
    if mode == "concat":
        return y
    f, b = g.slice(y, -1, 0, units), g.slice(y, -1, units, 2 * units)
    if mode == "mul":
        return g.op("Mul", [f, b], "merge")
    total = g.op("Add", [f, b], "merge")
    return g.op("Mul", [total, g.scalar(0.5)], "merge") if mode == "ave" else total


def _carry_last(g: Graph, y: str, lengths: str) -> str:
    """y (B, T, H) with y[b, t] = y[b, min(t, n_b − 1)] (``layers.recurrent._carry_last``)."""
    t, zero, one = g.steps(y)  # (1, T)
    last = g.op("Max", [g.op("Sub", [g.unsqueeze(lengths, 1), one]), zero])  # (B, 1)
    idx = g.unsqueeze(g.op("Min", [t, last], "idx"), 2)  # (B, T, 1)
    idx = g.op("Expand", [idx, g.op("Shape", [y])])  # (B, T, H)
    return g.op("GatherElements", [y, idx], "carried", axis=1)


def _average(g: Graph, x: str, lengths: str | None) -> str:
    """The mean over time of x (B, T, F), over each sequence's valid steps with lengths."""
    if lengths is None:
        return g.op("ReduceMean", [x], "avg", axes=[1], keepdims=0)
    w = g.op("Cast", [g.unsqueeze(g.inside(x, lengths), 2)], "w", to=1)  # (B, T, 1)
    total = g.op("ReduceSum", [g.op("Mul", [x, w]), g.ints(1)], "sum", keepdims=0)  # (B, F)
    n = g.op("Max", [g.op("Cast", [g.unsqueeze(lengths, 1)], "n", to=1), g.scalar(1.0)])
    return g.op("Div", [total, n], "avg")  # (B, F)


def _dense(g: Graph, layer, x: str, what: str) -> str:
    lin = layer.linear
    y = g.op("MatMul", [x, g.weight(lin.weight.T, "dense_Wt")], "dense")  # (B, ..., units)
    if lin.bias is not None:
        y = g.op("Add", [y, g.weight(lin.bias, "dense_b")])
    return onnx_activation(g, y, layer.activation, f"{what}: Dense")


def _embedding(g: Graph, layer, ids: str, lengths: str | None) -> tuple[str, str | None]:
    vocab = int(layer.embedding.weight.shape[0])
    # Gather reads a negative id from the end of the table: one past its end fails instead
    ids = g.op("Where", [g.op("Less", [ids, g.ints(0)]), g.ints(vocab), ids], "ids")  # (B, T)
    y = g.op("Gather", [g.weight(layer.embedding.weight, "emb"), ids], "embed", axis=0,
             why=f"Embedding: token ids must lie in [0, {vocab}), as the eager layer refuses "
                 f"others; raise input_dim or map such tokens to an id of their own")
    if not layer.mask_zero:
        return y, lengths  # (B, T, E)
    nonzero = g.op("Not", [g.op("Equal", [ids, g.ints(0)])], "token")  # (B, T) bool
    return y, g.right_padded(nonzero, "Embedding(mask_zero=True): padding (id 0) must come "
                             "after each sequence's tokens (right padding: pad_sequences(..., "
                             "padding='post'))")  # (B,), as the eager layer refuses


def _attention(g: Graph, layer, x: str, lengths: str | None) -> str:
    proj = g.op("MatMul", [x, g.weight(layer.proj.weight.T, "att_Wt")])  # (B, T, U)
    proj = g.op("Tanh", [g.op("Add", [proj, g.weight(layer.proj.bias, "att_b")])])
    scores = g.op("MatMul", [proj, g.weight(layer.v, "att_v")], "scores")  # (B, T)
    if lengths is not None:
        scores = g.op("Where", [g.inside(x, lengths), scores, g.scalar(-math.inf)])
    w = g.op("Softmax", [scores], "weights", axis=1)
    w = g.op("Where", [g.op("IsNaN", [w]), g.scalar(0.0), w])  # no valid step: weight 0
    pooled = g.op("Mul", [g.unsqueeze(w, 2), x])  # (B, T, F)
    return g.op("ReduceSum", [pooled, g.ints(1)], "pooled", keepdims=0)  # (B, F)


def _features(first) -> int | None:
    """The number of input features the first layer's weights take, if it has any."""
    inner = getattr(first, "layer", first)
    if getattr(inner, "rnn", None) is not None:
        return inner.rnn.input_size
    if getattr(first, "linear", None) is not None:
        return first.linear.in_features
    return None


def _check_example(first, example, what: str) -> None:
    ids = type(first).__name__ == "Embedding"
    if not isinstance(example, torch.Tensor) or example.dim() < 2:
        raise ValueError(f"{what}: example must be an input batch, a tensor with a batch axis "
                         f"first; got {type(example).__name__}.")
    dims, inner = first.input_shape, getattr(first, "layer", first)
    rank = len(dims) + 1 if dims is not None else \
        3 if getattr(inner, "rnn", None) is not None else None  # (B, T, F) for a recurrence
    if rank is not None and example.dim() != rank:  # the graph's input would have its rank
        axes = {2: "(batch, time)" if ids else "(batch, features)",
                3: "(batch, time, features)"}.get(rank, "(batch, ...)")
        raise ValueError(f"{what}: example must be {rank}-D {axes}, as the model's input; "
                         f"got shape {tuple(example.shape)}.")
    if ids and (example.is_floating_point() or example.dtype == torch.bool):
        raise ValueError(f"{what}: the model starts with an Embedding, so example must hold "
                         f"integer token ids; got {example.dtype}.")
    feats = None if ids else _features(first)
    if feats is not None and example.shape[-1] != feats:
        raise ValueError(f"{what}: example has {example.shape[-1]} features in its last axis "
                         f"but the first layer takes {feats}; got shape "
                         f"{tuple(example.shape)}.")


def _input_dims(model, example, what: str) -> tuple:
    """The input shape without the batch axis (None: open)."""
    first = model.stack[0]
    if example is not None:
        _check_example(first, example, what)
        return tuple(example.shape[1:])
    if first.input_shape is not None:
        return tuple(first.input_shape)
    inner = getattr(first, "layer", first)
    if getattr(inner, "rnn", None) is not None:
        return (None, inner.rnn.input_size)
    if type(first).__name__ == "Embedding":
        return (None,)
    raise ValueError(f"{what}: the first layer ({type(first).__name__}) does not tell the "
                     f"input shape; pass example= (an input batch) or give the layer an "
                     f"input_shape.")


def sequential_model(model, *, example=None, dynamic: bool = True, lengths: bool = False,
                     names=None, what: str = "to_onnx"):
    """The checked ``onnx.ModelProto`` of a built ``Sequential``."""
    if not len(model.stack) or not model.built:
        raise ValueError(f"{what}: the Sequential model is not built (its layers have no "
                         f"weights yet); call model.build() or run it on a batch first.")
    first = model.stack[0]
    ids = type(first).__name__ == "Embedding"
    dims = _input_dims(model, example, what)
    if dynamic:
        axes = ["time"] + [f"dim{k}" for k in range(2, len(dims) + 1)]
        shape = ["batch"] + [axes[k] if ids or k < len(dims) - 1 else d
                             for k, d in enumerate(dims)]
    elif example is None:
        raise ValueError(f"{what}: dynamic=False fixes the shapes from example=, an input "
                         f"batch; none was given.")
    else:
        shape = list(example.shape)
    layers = list(model.stack)
    top = getattr(layers[-1], "layer", layers[-1])
    outs = ["output"]
    if getattr(top, "return_state", False):
        outs += list(top.spec.states)  # h (and c): the states it returns
    io = io_names(["input"] + (["lengths"] if lengths else []) + outs, names, what)
    g = Graph()
    for name in io.values():  # claimed first, so no inner value takes them
        g.reserve(name)
    x = io["input"]
    inputs = [value_info(x, "int64" if ids else "float", shape)]
    if lengths:  # model(x, lengths): right-padded sequences
        inputs.append(value_info(io["lengths"], "int64", [shape[0]]))
    lengths, rank = io.get("lengths"), len(shape)  # rank: of the value x, batch included
    width = None if ids else shape[-1]  # x's last axis where the layers fix it, else None
    for k, layer in enumerate(layers):
        kind = type(layer).__name__
        where = f"{what}: layer {k} ({kind})"
        inner = getattr(layer, "layer", layer)
        if isinstance(x, list):
            raise ValueError(f"{where} follows a layer with return_state=True, whose list "
                             f"output it cannot take.")
        if isinstance(getattr(type(inner), "spec", None), CellSpec) and hasattr(inner, "rnn"):
            x, lengths = _recurrent(g, inner, x, lengths, where, k == len(layers) - 1)
            mode = getattr(layer, "merge_mode", "concat")
            x = _merge(g, x, mode, inner.units)
            rank = 3 if inner.return_sequences else 2
            width = inner.units * (inner.rnn.num_directions if mode == "concat" else 1)
        elif kind == "Dense" or kind == "TimeDistributed" and type(inner).__name__ == "Dense":
            x, width = _dense(g, inner, x, where), inner.units
        elif kind == "Dropout" or kind == "TimeDistributed":  # a Dropout at every step
            continue
        elif kind == "Flatten":
            if getattr(layer, "data_format", "channels_last") == "channels_first" and rank > 2:
                x = g.op("Transpose", [x], "channels_last", perm=[0, *range(2, rank), 1])
            x, lengths, rank = g.op("Flatten", [x], "flatten", axis=1), None, 2
            width = None  # T·F, with T a dynamic axis
        elif kind == "GlobalAveragePooling1D":
            first = getattr(layer, "data_format", "channels_last") == "channels_first"
            if first:  # (B, F, T) -> (B, T, F)
                x = g.op("Transpose", [x], "channels_last", perm=[0, 2, 1])
            x, lengths, rank = _average(g, x, lengths), None, 2
            if getattr(layer, "keepdims", False):  # (B, 1, F) or (B, F, 1)
                x, rank = g.unsqueeze(x, 2 if first else 1), 3
                width = 1 if first else width
        elif kind == "Embedding" and k == 0:
            x, lengths = _embedding(g, layer, x, lengths)
            rank, width = rank + 1, layer.output_dim
        elif kind == "AttentionPooling":
            x, lengths = _attention(g, layer, x, lengths), None
            rank = 2
        elif callable(getattr(layer, "onnx_graph", None)):
            x, lengths = layer.onnx_graph(g, x, lengths)
            traced = getattr(model, "_shapes", None)  # its output shape, from the model's trace
            if traced is not None and k < len(traced):  # (pooling drops an axis, a repeat adds)
                rank, width = len(traced[k]) + 1, traced[k][-1] if traced[k] else None
            else:
                width = None  # its own
        else:
            raise ValueError(f"{where} has no ONNX export; exportable layers are the "
                             f"recurrent layers, Bidirectional, Dense, Dropout, Embedding "
                             f"(first), AttentionPooling and layers with an onnx_graph "
                             f"method.")
    for value, name in zip(x if isinstance(x, list) else [x], outs, strict=True):
        g.node("Identity", [value], [io[name]])
    # the input's batch ("batch", or the example's with dynamic=False); the last axis its
    # width where the layers fix it (a Dense's units: a classifier's K, a forecast's horizon)
    out_shape = [shape[0]] + [f"out{k}" for k in range(1, rank)]
    if width is not None:
        out_shape[-1] = width
    outputs = [value_info(io["output"], "float", out_shape)]
    outputs += [value_info(io[n], "float", [shape[0], top.units]) for n in outs[1:]]
    return finish(g, f"grukit_{model.name}", inputs, outputs)
