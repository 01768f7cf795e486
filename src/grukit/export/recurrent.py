"""A stacked, optionally bidirectional ``grukit.nn`` recurrence as ONNX nodes.

A cell whose spec names an ONNX operator (``grukit.cells``: ``spec.onnx``) becomes one
operator node per layer, both directions in it (``direction="bidirectional"``); the others,
a GRU with zoneout (in evaluation h' = p h + (1 − p) h̃) and an LSTM with a projection
(neither in an operator) become a ``Scan`` over time per layer and direction
(``grukit.export.scan``).

Layouts (ONNX operators, opset 17): X (T, B, I); W (D, G·H, I), R (D, G·H, H),
B (D, 2·G·H) = [input biases; recurrent biases]; Y (T, D, B, H), Y_h (D, B, H). Gate blocks
in ONNX's order, written with the spec's gate names::

    GRU  z, r, n (torch: r, z, n)    linear_before_reset = reset_after (1: torch's
                                      placement, 0: Cho et al.'s, where grukit has no b_hh)
    LSTM i, o, f, g (torch: i, f, g, o)
    RNN  h                           activations = [Tanh] or [Relu]

A GRU's or LSTM's Keras ``recurrent_activation`` / ``activation`` other than σ / tanh go in
the operator's ``activations`` ([f, g] for a GRU, [f, g, h] for an LSTM; ``ONNX_ACTIVATIONS``
lists those it has).

The ONNX equations are torch's (h' = (1 − z) ⊙ n + z ⊙ h for the GRU), so no sign flips.
``sequence_lens`` (int32) zeroes the output past each end and starts the reverse direction
at each sequence's own last step, as ``grukit.nn`` does with ``lengths``; a sequence of
length 0 keeps its initial state (a ``Where`` after the operator, which would give zeros).
"""

from __future__ import annotations

import numpy as np

from .graph import Graph, _onnx, array
from .scan import scan_layer, scan_support

# the gate blocks of each ONNX operator (a fact of the operator, not of a cell), named with
# the gate names the cell spec uses
ONNX_GATES = {"GRU": ("z", "r", "n"), "LSTM": ("i", "o", "f", "g"), "RNN": ("h",)}


def check_module(module, what: str) -> None:
    """One sentence when ``module`` (a ``grukit.nn`` recurrent module) has no ONNX form."""
    spec, cls = module.spec, getattr(module, "cell_name", type(module).__name__)
    acts = getattr(module, "_activations", {})
    if acts and (as_scan(module) or any(a not in ONNX_ACTIVATIONS for a in acts.values())):
        pairs = ", ".join(f"{k}={v!r}" for k, v in acts.items())
        takes = "tanh and sigmoid only (with zoneout or a projection)" if as_scan(module) \
            else ", ".join(str(k) for k in ONNX_ACTIVATIONS if k)
        raise ValueError(f"{what}: {cls} with {pairs} has no ONNX form: the ONNX {spec.onnx} "
                         f"operator computes {takes}. Run it with grukit's modules, or train "
                         f"it with activations the operator has.")
    if getattr(module, "proj_size", 0) and scan_support(spec):
        raise ValueError(f"{what}: {cls} with proj_size={module.proj_size} has no ONNX form "
                         f"(the ONNX {spec.onnx} operator has no projection); export an "
                         f"{cls} with proj_size=0.")
    if getattr(module, "zoneout", 0) and scan_support(spec):
        raise ValueError(f"{what}: {cls} with zoneout={module.zoneout} has no ONNX form yet "
                         f"(the ONNX {spec.onnx} operator has no zoneout); export a copy "
                         f"with zoneout=0 and the same weights.")
    if as_scan(module):
        why = scan_support(spec)
        if why:
            raise ValueError(f"{what}: {cls} ({spec.display}) has no ONNX operator and "
                             f"{why}.")
    elif spec.onnx not in ONNX_GATES:
        raise ValueError(f"{what}: {cls} names the ONNX operator {spec.onnx!r}, which this "
                         f"exporter does not write; it writes {', '.join(ONNX_GATES)}.")


def as_scan(module) -> bool:
    """Whether the module is written as a Scan: its cell has no ONNX operator, or it has
    zoneout or a projection (the operators have neither)."""
    return (module.spec.onnx is None or bool(getattr(module, "zoneout", 0))
            or bool(getattr(module, "proj_size", 0)))


def _order(spec) -> list[int]:
    """torch's gate blocks in the ONNX operator's order: [1, 0, 2] for the GRU."""
    return [spec.gate_order.index(g) for g in ONNX_GATES[spec.onnx]]


def _blocks(a: np.ndarray, order: list[int]) -> np.ndarray:
    """Rows of ``a`` (G·H, ...) regrouped by gate block in ``order``."""
    parts = np.split(a, len(order), axis=0)  # G × (H, ...)
    return np.concatenate([parts[k] for k in order], axis=0)


# Keras' activations that the ONNX GRU/LSTM operators compute: (ONNX name, alpha, beta),
# None where the function takes no such parameter
ONNX_ACTIVATIONS = {"tanh": ("Tanh", None, None), "sigmoid": ("Sigmoid", None, None),
                    "relu": ("Relu", None, None), "softsign": ("Softsign", None, None),
                    "softplus": ("Softplus", None, None), "elu": ("Elu", 1.0, None),
                    "hard_sigmoid": ("HardSigmoid", 1 / 6, 0.5),  # relu6(x + 3) / 6
                    "leaky_relu": ("LeakyRelu", 0.2, None), "linear": ("Affine", 1.0, 0.0),
                    None: ("Affine", 1.0, 0.0)}


def _activation_attrs(module) -> dict:
    """``activations`` (and their alpha, beta) of a GRU [f, g] or LSTM [f, g, h], per
    direction, for Keras' ``recurrent_activation`` (f) and ``activation`` (g, h), or of an
    RNN [f] for its one activation (Keras' SimpleRNN); {} for the standard ones."""
    acts = getattr(module, "_activations", {})
    if not acts:
        return {}
    if module.spec.onnx == "RNN":
        names = [acts["activation"]]
    else:
        gate, act = acts["recurrent_activation"], acts["activation"]
        names = [gate, act] + ([act] if module.spec.onnx == "LSTM" else [])
    funcs = [ONNX_ACTIVATIONS[n] for n in names] * module.num_directions
    attrs = {"activations": [f[0] for f in funcs]}
    # ONNX Runtime reads one alpha (beta) for each function that takes one, in order
    alphas = [f[1] for f in funcs if f[1] is not None]
    betas = [f[2] for f in funcs if f[2] is not None]
    if alphas:
        attrs["activation_alpha"] = [float(a) for a in alphas]
    if betas:
        attrs["activation_beta"] = [float(b) for b in betas]
    return attrs


def _attrs(module) -> dict:
    """The operator's attributes from the module's options."""
    op, h = module.spec.onnx, module.hidden_size
    attrs = {"hidden_size": h}
    if module.bidirectional:
        attrs["direction"] = "bidirectional"
    if op == "GRU":
        attrs["linear_before_reset"] = 1 if module.reset_after else 0
    elif op == "RNN":
        attrs["activations"] = [module.nonlinearity.capitalize()] * module.num_directions
    return attrs | _activation_attrs(module)


def _operator_layer(g: Graph, module, layer: int, x: str, seq_lens: str | None,
                    states: list[str | None], lengths: str | None = None
                    ) -> tuple[str, list[str]]:
    """One layer through the ONNX operator: x (T, B, I) -> y (T, B, D·H), finals (D, B, S).

    A sequence of length 0 keeps its initial state, as ``grukit.nn`` does (the operators
    give it zeros): finals = Where(lengths == 0, initial state, Y_h)."""
    spec, gates, h = module.spec, module.spec.gates, module.hidden_size
    order = _order(spec)
    ws, rs, bs = [], [], []
    for d in range(module.num_directions):
        p = module.layer_params(layer, d)
        ws.append(_blocks(array(p["weight_ih"]), order))  # (G·H, I)
        rs.append(_blocks(array(p["weight_hh"]), order))  # (G·H, H)
        b_ih, b_hh = array(p["bias_ih"]), array(p.get("bias_hh"))
        if b_ih is not None:
            b_hh = np.zeros(gates * h, np.float32) if b_hh is None else b_hh
            bs.append(np.concatenate([_blocks(b_ih, order), _blocks(b_hh, order)]))  # (2G·H,)
    tag = f"l{layer}"
    inputs = [x, g.init(np.stack(ws), f"W_{tag}"), g.init(np.stack(rs), f"R_{tag}"),
              g.init(np.stack(bs), f"B_{tag}") if bs else "", seq_lens or ""]
    inputs += [s or "" for s in states]
    outs = g.op(spec.onnx, inputs, f"{spec.name}_{tag}", outputs=1 + len(spec.states),
                **_attrs(module))
    y = g.transpose(outs[0], [0, 2, 1, 3])  # (T, D, B, H) -> (T, B, D, H)
    y = g.op("Reshape", [y, g.ints(0, 0, -1)], "y")  # (T, B, D·H)
    finals = outs[1:]
    if lengths is not None and any(states):
        empty = g.op("Equal", [lengths, g.ints(0)], "empty")  # (B,) bool
        empty = g.op("Reshape", [empty, g.ints(1, -1, 1)], "empty")  # (1, B, 1)
        finals = [f if s is None else g.op("Where", [empty, s, f], "final")
                  for s, f in zip(states, finals, strict=True)]  # each (D, B, S)
    return y, finals


def _scan_layer(g: Graph, module, layer: int, x: str, lengths: str | None,
                states: list[str | None]) -> tuple[str, list[str]]:
    """One layer as a Scan per direction: x (T, B, I) -> y (T, B, D·P), finals (D, B, S)."""
    ys, finals = [], [[] for _ in states]
    for d in range(module.num_directions):
        s0 = [None if s is None else g.squeeze(g.slice(s, 0, d, d + 1), 0) for s in states]
        y, fin = scan_layer(g, module, module.layer_params(layer, d), x, lengths, s0,
                            reverse=d == 1, tag=f"l{layer}{'r' if d else ''}")
        ys.append(y)  # (T, B, P)
        for k, f in enumerate(fin):
            finals[k].append(g.unsqueeze(f, 0))  # (1, B, S)
    y = ys[0] if len(ys) == 1 else g.op("Concat", ys, "y", axis=2)  # (T, B, D·P)
    return y, [f[0] if len(f) == 1 else g.op("Concat", f, "s", axis=0)  # (D, B, S)
               for f in finals]


EMPTY = ("{}: ONNX Runtime's GRU and LSTM operators abort the whole process on {}, so "
         "this graph refuses it; skip such a batch before running the graph (eager gives "
         "empty outputs)")
SCAN_EMPTY = ("time: ONNX Runtime's Scan fails on sequences of 0 steps (its loop runs no "
              "step), so this graph refuses them; skip such a batch before running the graph "
              "(eager gives empty outputs and the initial state)")


def _not_empty(g: Graph, x: str, batch: bool = True) -> str:
    """x (T, B, I) unchanged, through a Reshape whose shape passes a Gather of index 0
    along T (and along B with ``batch``) of a (T, B) tensor of ones, which fails (cleanly,
    in a node named with ``EMPTY``, or ``SCAN_EMPTY`` without ``batch``) where T or B is 0:
    the operators' kernels terminate the process there, and a Scan fails in its own words
    on 0 steps (a batch of 0 it runs)."""
    onnx = _onnx()
    shape = g.op("Shape", [x], "shape")  # (3,) int64
    one = onnx.helper.make_tensor("one", onnx.TensorProto.INT64, [1], [1])
    if not batch:
        t = g.op("ConstantOfShape", [g.slice(shape, 0, 0, 1)], "t", value=one)  # (T,) ones
        unit = g.op("Gather", [t, g.ints(0)], "t0", axis=0, why=SCAN_EMPTY)  # (1,): 1
        return g.op("Reshape", [x, g.op("Mul", [shape, unit], "shape")], "x")  # (T, B, I)
    tb = g.op("ConstantOfShape", [g.slice(shape, 0, 0, 2)], "tb", value=one)  # (T, B) ones
    first = g.op("Gather", [tb, g.ints(0)], "t0", axis=0,
                 why=EMPTY.format("time", "sequences of 0 steps"))  # (1, B)
    unit = g.op("Gather", [first, g.ints(0)], "b0", axis=1,
                why=EMPTY.format("batch", "an empty batch (0 sequences)"))  # (1, 1): 1
    same = g.op("Mul", [shape, g.op("Reshape", [unit, g.ints(1)])], "shape")  # = shape
    return g.op("Reshape", [x, same], "x")  # (T, B, I)


def emit_recurrent(g: Graph, module, x: str, lengths: str | None,
                   states: list[str] | None) -> tuple[str, list[str]]:
    """The module in evaluation mode (no dropout) on x (T, B, I).

    ``lengths``: int64 (B,) or None; ``states``: one (L·D, B, S) name per state of the
    spec, or None for zeros. Returns y (T, B, D·P) and the final states (L·D, B, S).
    """
    spec, dirs = module.spec, module.num_directions
    seq_lens = None
    scan = as_scan(module)
    x = _not_empty(g, x, batch=not scan)  # a Scan runs a batch of 0, not 0 steps
    if lengths is not None and not scan:
        seq_lens = g.op("Cast", [lengths], "seq_lens", to=6)  # int32, as ONNX wants
    finals: list[list[str]] = [[] for _ in spec.states]
    y = x
    for layer in range(module.num_layers):
        layer_states = [None if states is None else g.slice(s, 0, layer * dirs,
                                                            (layer + 1) * dirs)
                        for s in (states or [None] * len(spec.states))]  # each (D, B, S)
        if scan:
            y, fin = _scan_layer(g, module, layer, y, lengths, layer_states)
        else:
            y, fin = _operator_layer(g, module, layer, y, seq_lens, layer_states, lengths)
        for k, f in enumerate(fin):
            finals[k].append(f)
    out = [f[0] if len(f) == 1 else g.op("Concat", f, "h_n", axis=0) for f in finals]
    return y, out
