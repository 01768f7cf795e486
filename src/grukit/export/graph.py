"""A small builder for ONNX graphs: unique value names, constants, nodes, subgraphs.

``onnx.helper`` writes the protobuf messages; this class only keeps the lists and names that
every exporter of grukit would otherwise thread by hand (torch's exporters are not used for
the recurrent part: see ``grukit.export``). Every value is float32 unless said otherwise.
"""

from __future__ import annotations

import numpy as np
import torch

OPSET = 17  # LayerNormalization (17), Scan and ReverseSequence long before


def _onnx():
    try:
        import onnx
    except ImportError as e:  # the optional extra
        raise ImportError("ONNX export needs the onnx package; install it with "
                          "pip install 'grukit[onnx]'.") from e
    return onnx


def array(t: torch.Tensor | np.ndarray | None) -> np.ndarray | None:
    """A parameter as a float32 numpy array (None stays None)."""
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().to(torch.float32).numpy()
    return np.ascontiguousarray(t, dtype=np.float32)


class Graph:
    """Nodes and initializers of one ONNX graph (or of a Scan body)."""

    def __init__(self, prefix: str = "", parent: Graph | None = None):
        self.nodes: list = []
        self.inits: list = []
        self.prefix = prefix
        self._root = parent._root if parent is not None else self
        if parent is None:
            self._used: set[str] = set()
        self._consts: dict = {}

    def name(self, hint: str) -> str:
        """A value name not used anywhere in the model (subgraphs included)."""
        used = self._root._used
        base = f"{self.prefix}{hint}"
        name, k = base, 1
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        return name

    def reserve(self, name: str) -> str:
        """Claim an exact name (a graph input or output)."""
        if name in self._root._used:
            raise ValueError(f"the ONNX value name {name!r} is taken twice.")
        self._root._used.add(name)
        return name

    # -- values ---------------------------------------------------------------------------
    def init(self, value: np.ndarray, hint: str) -> str:
        """An initializer (a weight or a constant) of this graph."""
        onnx = _onnx()
        name = self.name(hint)
        self.inits.append(onnx.numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(self, t, hint: str) -> str:
        return self.init(array(t), hint)

    def ints(self, *values: int) -> str:
        """A constant int64 vector, shared between uses."""
        key = ("i64", values)
        if key not in self._consts:
            self._consts[key] = self.init(np.array(values, np.int64), "c_i64")
        return self._consts[key]

    def scalar(self, value: float) -> str:
        """A constant float32 scalar, shared between uses."""
        key = ("f32", float(value))
        if key not in self._consts:
            self._consts[key] = self.init(np.array(value, np.float32), "c_f32")
        return self._consts[key]

    # -- nodes ----------------------------------------------------------------------------
    def op(self, op_type: str, inputs: list[str], hint: str | None = None,
           outputs: int = 1, why: str | None = None, **attrs) -> str | list[str]:
        """Add a node; returns its output name (a list when ``outputs`` > 1). An empty
        string in ``inputs`` leaves an optional input out. ``why``: the node's name, a
        sentence for the user where the node fails on bad input (ONNX Runtime's error
        names the node that failed)."""
        onnx = _onnx()
        while inputs and inputs[-1] == "":
            inputs = inputs[:-1]
        hint = hint or op_type.lower()
        names = [self.name(hint if outputs == 1 else f"{hint}_{k}") for k in range(outputs)]
        self.nodes.append(onnx.helper.make_node(op_type, inputs, names,
                                                name=self.name(why or f"n_{op_type}"), **attrs))
        return names[0] if outputs == 1 else names

    def node(self, op_type: str, inputs: list[str], outputs: list[str], **attrs) -> None:
        """Add a node whose outputs are named by the caller ("" leaves one out)."""
        onnx = _onnx()
        self.nodes.append(onnx.helper.make_node(op_type, inputs, outputs,
                                                name=self.name(f"n_{op_type}"), **attrs))

    # -- shapes ---------------------------------------------------------------------------
    def dim(self, x: str, axis: int) -> str:
        """The size of ``x`` along ``axis`` as an int64 vector of one element."""
        return self.op("Shape", [x], "dim", start=axis, end=axis + 1)

    def transpose(self, x: str, perm: list[int]) -> str:
        return self.op("Transpose", [x], "t", perm=perm)

    def unsqueeze(self, x: str, *axes: int) -> str:
        return self.op("Unsqueeze", [x, self.ints(*axes)], "unsq")

    def squeeze(self, x: str, *axes: int) -> str:
        return self.op("Squeeze", [x, self.ints(*axes)], "sq")

    def slice(self, x: str, axis: int, start: int, end: int, step: int = 1) -> str:
        return self.op("Slice", [x, self.ints(start), self.ints(end), self.ints(axis),
                                 self.ints(step)], "slice")

    def reverse_time(self, x: str, lengths: str | None, time_axis: int, batch_axis: int) -> str:
        """Each sequence of ``x`` reversed within its own length (all of it without
        lengths); padding stays in place, so the map is its own inverse."""
        if lengths is None:
            return self.slice(x, time_axis, -1, -(2 ** 62), -1)
        return self.op("ReverseSequence", [x, lengths], "rev", time_axis=time_axis,
                       batch_axis=batch_axis)

    def steps(self, x: str) -> tuple[str, str, str]:
        """(the step numbers 0 … T − 1 of x (B, T, ...) as (1, T) int64, the scalars 0, 1)."""
        steps = self.squeeze(self.dim(x, 1), 0)
        zero, one = (self.init(np.array(v, np.int64), "c_i64s") for v in (0, 1))
        return self.unsqueeze(self.op("Range", [zero, steps, one]), 0), zero, one

    def inside(self, x: str, lengths: str) -> str:
        """(B, T) bool: step t of x (B, T, ...) lies inside its sequence's length."""
        t, _, _ = self.steps(x)  # (1, T)
        return self.op("Less", [t, self.unsqueeze(lengths, 1)], "inside")  # (B, T)

    def right_padded(self, valid: str, why: str) -> str:
        """The lengths (B,) int64 of ``valid`` (B, T) bool, its count of valid steps per
        row, where each row's valid steps come first (right padding). A row with a valid
        step after a padded one, which a length cannot express, makes the graph fail at
        run time in a node named ``why``: ONNX has no assert, but ``ReverseSequence``
        refuses a length past T (each such row gets T + 1) and its error names the node.
        Each row's steps 0 … n − 1, reversed within n, are themselves, so the lengths
        come out of that node unchanged."""
        n = self.op("ReduceSum", [self.op("Cast", [valid], "valid", to=7), self.ints(1)],
                    "n", keepdims=0)  # (B,)
        steps = self.squeeze(self.dim(valid, 1), 0)  # scalar T
        zero, one = (self.init(np.array(v, np.int64), "c_i64s") for v in (0, 1))
        t = self.unsqueeze(self.op("Range", [zero, steps, one], "t"), 0)  # (1, T)
        first = self.op("Less", [t, self.unsqueeze(n, 1)], "first")  # (B, T): t < n
        wrong = self.op("Cast", [self.op("Xor", [first, valid])], "wrong", to=7)  # (B, T)
        bad = self.op("ReduceMax", [wrong], "bad", axes=[1], keepdims=0)  # (B,) 0 or 1
        past = self.op("Add", [steps, one], "past")  # T + 1
        checked = self.op("Add", [n, self.op("Mul", [bad, past])], "checked")  # (B,)
        steps_tb = self.op("Cast", [self.transpose(first, [1, 0])], "first", to=7)  # (T, B)
        same = self.op("ReverseSequence", [steps_tb, checked], "reversed", why=why,
                       time_axis=0, batch_axis=1)  # (T, B)
        return self.op("ReduceSum", [same, self.ints(0)], "n", keepdims=0)  # (B,)

    def zeros(self, batch_of: str, batch_axis: int, width: int) -> str:
        """A (B, width) float32 zero tensor, B read from ``batch_of``."""
        shape = self.op("Concat", [self.dim(batch_of, batch_axis), self.ints(width)], "shape",
                        axis=0)
        onnx = _onnx()
        zero = onnx.helper.make_tensor("zero", onnx.TensorProto.FLOAT, [1], [0.0])
        return self.op("ConstantOfShape", [shape], "zeros", value=zero)

    def subgraph(self, name: str, inputs: list, outputs: list):
        """This graph as a Scan body (``inputs``/``outputs``: value infos)."""
        onnx = _onnx()
        return onnx.helper.make_graph(self.nodes, name, inputs, outputs, self.inits)


def value_info(name: str, elem: str, shape: list) -> object:
    """A graph input/output description; ``elem``: "float", "int64" or "bool"."""
    onnx = _onnx()
    kinds = {"float": onnx.TensorProto.FLOAT, "int64": onnx.TensorProto.INT64,
             "bool": onnx.TensorProto.BOOL}
    return onnx.helper.make_tensor_value_info(name, kinds[elem], shape)


# protobuf serialises no message past 2 GiB − 1 byte (ONNX's external data format, which
# lifts it, is not written here); a margin for the graph's nodes and names
MAX_BYTES = 2 ** 31 - 2 ** 24


def finish(graph: Graph, name: str, inputs: list, outputs: list):
    """The checked ``ModelProto`` of ``graph`` with the given inputs and outputs; one
    sentence where its weights pass what one ONNX file holds (``MAX_BYTES``), which
    protobuf refused deep in its encoder ("Failed to serialize proto")."""
    onnx = _onnx()
    weights = sum(len(t.raw_data) for t in graph.inits)
    if weights > MAX_BYTES:
        raise ValueError(f"to_onnx: the model's weights take {weights / 2 ** 30:.2f} GiB as "
                         f"float32, past the 2 GiB that one ONNX file holds (protobuf's "
                         f"limit; ONNX's external data format is not written yet); export "
                         f"it with to_pt2, or a smaller model.")
    g = onnx.helper.make_graph(graph.nodes, name, inputs, outputs, graph.inits)
    from .. import __version__

    model = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", OPSET)],
                                   producer_name="grukit", producer_version=__version__)
    model.ir_version = min(model.ir_version, 8)  # readable by onnxruntime ≥ 1.14
    onnx.checker.check_model(model)
    return model



def io_names(defaults: list[str], names, what: str = "to_onnx") -> dict[str, str]:
    """{default name: final name} of a graph's inputs and outputs, ``names`` ({old: new})
    applied; one sentence for an unknown key or names that are empty or not distinct."""
    names = dict(names or {})
    bad = sorted(set(names) - set(defaults))
    if bad:
        raise ValueError(f"{what}: names= renames graph inputs and outputs "
                         f"({', '.join(defaults)}); this graph has no "
                         f"{', '.join(map(repr, bad))}.")
    final = {d: names.get(d, d) for d in defaults}
    values = list(final.values())
    if any(not isinstance(n, str) or not n for n in values) or len(set(values)) < len(values):
        raise ValueError(f"{what}: names= must give distinct, non-empty strings; the inputs "
                         f"and outputs would be named {values}.")
    return final
