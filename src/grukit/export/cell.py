"""A ``grukit.nn`` one-step cell (GRUCell, LSTMCell, RNNCell) as an ONNX model: one step
of the cell's ONNX operator on a sequence of length 1, the state in and out (streaming).

Graph inputs: ``input`` (B, I) and one (B, H) input per state of the cell (``h0``;
``h0``, ``c0`` for the LSTM). Outputs: the new states ``h`` (and ``c``), (B, H), as
``cell(input, hx)`` returns them. The batch is a dynamic axis unless ``dynamic=False``.
"""

from __future__ import annotations

import torch

from .graph import Graph, finish, io_names, value_info
from .recurrent import check_module, emit_recurrent


class _OneLayer:
    """A cell seen as a one-layer, one-direction recurrent module (the attributes
    ``emit_recurrent`` reads)."""

    num_layers, num_directions, bidirectional, proj_size, zoneout = 1, 1, False, 0, 0.0

    def __init__(self, cell):
        self.spec, self.hidden_size = cell.spec, cell.hidden_size
        for option in cell.spec.options:  # reset_after, nonlinearity, ...
            setattr(self, option, getattr(cell, option))
        self._activations = getattr(cell, "_activations", {})  # an RNNCell's sigmoid, say
        self.cell_name = type(cell).__name__  # what a refusal names
        self._params = {p.name: getattr(cell, p.name, None) for p in cell.spec.params}

    def layer_params(self, layer: int, direction: int) -> dict:
        return self._params


def emit_step(g: Graph, cell, x: str, states: list[str], what: str = "to_onnx") -> list[str]:
    """One step of ``cell`` as nodes of ``g`` (how a model that steps a cell, such as a
    recommender serving one event at a time, writes it): x (B, I) and one (B, H) value per
    state of the cell -> the new states, each (B, H)."""
    module = _OneLayer(cell)
    check_module(module, what)
    xs = g.unsqueeze(x, 0)  # (1, B, I)
    _, finals = emit_recurrent(g, module, xs, None, [g.unsqueeze(s, 0) for s in states])
    return [g.squeeze(f, 0) for f in finals]  # each (B, H)


def cell_model(cell, *, example=None, dynamic: bool = True, names=None,
               what: str = "to_onnx"):
    """The checked ``onnx.ModelProto`` of one step of ``cell``."""
    module = _OneLayer(cell)
    check_module(module, what)
    spec, feats, hidden = cell.spec, cell.input_size, cell.hidden_size
    if example is not None and (not isinstance(example, torch.Tensor) or example.dim() != 2
                                or example.shape[-1] != feats):
        got = tuple(example.shape) if isinstance(example, torch.Tensor) else \
            type(example).__name__
        raise ValueError(f"{what}: example must be a 2-D input tensor (B, I) with I={feats} "
                         f"features; got {got}.")
    if not dynamic and example is None:
        raise ValueError(f"{what}: dynamic=False fixes the shapes from example=, an input "
                         f"batch (B, {feats}); none was given.")
    batch = "batch" if dynamic else int(example.shape[0])
    ins = ["input"] + [f"{s}0" for s in spec.states]
    io = io_names(ins + list(spec.states), names, what)
    g = Graph()
    for name in io.values():  # claimed first, so no inner value takes them
        g.reserve(name)
    x = g.unsqueeze(io["input"], 0)  # (1, B, I)
    states = [g.unsqueeze(io[f"{s}0"], 0) for s in spec.states]  # each (1, B, H)
    _, finals = emit_recurrent(g, module, x, None, states)  # each (1, B, H)
    for value, s in zip(finals, spec.states, strict=True):
        g.node("Squeeze", [value, g.ints(0)], [io[s]])  # (B, H)
    inputs = [value_info(io["input"], "float", [batch, feats])]
    inputs += [value_info(io[f"{s}0"], "float", [batch, hidden]) for s in spec.states]
    outputs = [value_info(io[s], "float", [batch, hidden]) for s in spec.states]
    return finish(g, f"grukit_{spec.name}_step", inputs, outputs)
