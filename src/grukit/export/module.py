"""A ``grukit.nn`` recurrent module (GRU, LSTM, RNN, MinGRU, LayerNormGRU, ...) as an ONNX
model with torch.nn's inputs and outputs.

Graph inputs: ``input`` (T, B, I), or (B, T, I) with ``batch_first``; with
``initial_state=True`` one (L·D, B, S) input per state of the cell (``h0``; ``h0``, ``c0``
for the LSTM); with ``lengths=True`` ``lengths`` (B,) int64, each ≥ 0 (ONNX
``sequence_lens``; a sequence of length 0 keeps its initial state, as in eager). Outputs:
``output`` (T, B, D·H) or (B, T, D·H), then ``h_n`` (and ``c_n``) (L·D, B, S), as
``module(input, hx, lengths=lengths)`` returns them in evaluation mode. Batch and time are
dynamic axes unless ``dynamic=False``.
"""

from __future__ import annotations

import torch

from .graph import Graph, finish, io_names, value_info
from .recurrent import check_module, emit_recurrent
from .scan import state_sizes


def _static(example, what: str, rank: int) -> tuple[int, ...]:
    if not isinstance(example, torch.Tensor) or example.dim() != rank:
        raise ValueError(f"{what}: dynamic=False fixes the shapes from example=, which must be "
                         f"a {rank}-D input tensor; got "
                         f"{type(example).__name__ if example is None else tuple(example.shape)}"
                         f".")
    return tuple(example.shape)


def module_model(module, *, example=None, dynamic: bool = True, lengths: bool = False,
                 initial_state: bool = False, names=None, what: str = "to_onnx"):
    """The checked ``onnx.ModelProto`` of ``module``."""
    check_module(module, what)
    spec, feats = module.spec, module.input_size
    if example is not None and (not isinstance(example, torch.Tensor)
                                or example.dim() != 3 or example.shape[-1] != feats):
        layout = "(B, T, I)" if module.batch_first else "(T, B, I)"
        got = tuple(example.shape) if isinstance(example, torch.Tensor) else \
            type(example).__name__
        raise ValueError(f"{what}: example must be a 3-D input tensor {layout} with "
                         f"I={feats} features; got {got}.")
    if dynamic:
        first, second = ("batch", "time") if module.batch_first else ("time", "batch")
    else:
        first, second, _ = _static(example, what, 3)
    batch = first if module.batch_first else second
    stack = module.num_layers * module.num_directions
    sizes = state_sizes(module)  # P (the projection, else H), then H

    outs = ["output"] + [f"{s}_n" for s in spec.states]
    ins = (["input"] + ([f"{s}0" for s in spec.states] if initial_state else [])
           + (["lengths"] if lengths else []))
    io = io_names(ins + outs, names, what)
    g = Graph()
    for name in io.values():  # claimed first, so no inner value takes them
        g.reserve(name)
    x = io["input"]
    inputs = [value_info(x, "float", [first, second, feats])]
    states = None
    if initial_state:
        states = [io[f"{s}0"] for s in spec.states]
        inputs += [value_info(s, "float", [stack, batch, n]) for s, n in zip(states, sizes,
                                                                             strict=True)]
    lens = None
    if lengths:
        lens = io["lengths"]
        inputs.append(value_info(lens, "int64", [batch]))

    xt = g.transpose(x, [1, 0, 2]) if module.batch_first else x  # (T, B, I)
    y, finals = emit_recurrent(g, module, xt, lens, states)  # (T, B, D·S), (L·D, B, S)
    if module.batch_first:
        y = g.transpose(y, [1, 0, 2])  # (B, T, D·S)
    for value, name in zip([y] + finals, outs, strict=True):
        g.node("Identity", [value], [io[name]])
    width = module.num_directions * sizes[0]
    outputs = [value_info(io["output"], "float", [first, second, width])]
    outputs += [value_info(io[n], "float", [stack, batch, s])
                for n, s in zip(outs[1:], sizes, strict=True)]
    return finish(g, f"grukit_{spec.name}", inputs, outputs)
