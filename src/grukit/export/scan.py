"""Cells without an ONNX operator (and a GRU with zoneout, an LSTM with a projection) as an
ONNX ``Scan`` over time (dynamic length).

The input projection of every step is computed once outside the loop, gi (T, B, G·H); the
``Scan`` body holds the states (h (B, P); the LSTM's c (B, H)) and does the recurrent part
of one step, with the equations of the cell's reference (``grukit.ops.<cell>.reference``)::

    minGRU         (gi = W_ih x + b_ih; rows z, h)
        z = σ(gi_z)     h̃ = g(gi_h),  g(v) = v + 0.5 if v ≥ 0 else σ(v)
        h' = (1 − z) ⊙ h + z ⊙ h̃
    LayerNorm-GRU  (gi = LN(W_ih x; g_ih, β_ih) + b_ih; rows r, z, n)
        reset_after:   gh = LN(W_hh h; g_hh, β_hh) + b_hh
                       r = σ(gi_r + gh_r)  z = σ(gi_z + gh_z)  n = tanh(gi_n + r ⊙ gh_n)
        otherwise:     [a_r; a_z] = LN(W_h[r,z] h; g_hh[:2H], β_hh[:2H])
                       r = σ(gi_r + a_r)  z = σ(gi_z + a_z)
                       n = tanh(gi_n + LN(W_hn (r ⊙ h); g_hh[2H:], β_hh[2H:]))
        h' = (1 − z) ⊙ n + z ⊙ h
    GRU            (gi = W_ih x + b_ih; rows r, z, n): grukit.nn.GRU's equations, both
                   placements; with zoneout p, in evaluation h' ← p h + (1 − p) h'
    LSTM           (gi = W_ih x + b_ih; rows i, f, g, o), with a projection P:
        c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g)     h' = W_hr (σ(o) ⊙ tanh(c'))   (B, P)

With ``lengths`` a boolean step mask (T, B, 1) rides along: past a sequence's end the state
is kept and the output is 0; the reverse direction runs on each sequence reversed within
its own length (``ReverseSequence``) and its output is reversed back. minGRU's module trains
with a parallel log-space scan; the exported loop is its sequential form, equal to it within
float32 rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .graph import Graph, array, value_info

EPS = 1e-5  # the layer normalisation's, as grukit.ops.lngru
LN_TOP = 2.0 ** 40  # _ln divides each row by the larger of this and its largest |value|


def _ln(g: Graph, v: str, gain: str, shift: str | None) -> str:
    """LN over the last axis with gain and shift (initializer names), for values of any
    size (as the float64 fallback of ``grukit.ops.lngru``)::

        k = max(max|v|, 2^40)    u = v / k    LN(v; ε) = LN(u; ε / k²) ≈ LN(u; ε / 2^80)

    onnxruntime's LayerNormalization squares in float32: past |v| ≈ 1.8e19 the variance
    overflowed and the gates were β alone (1.6 off). Rows up to 2^40 are divided by 2^40
    exactly (a power of two) and given ε / 2^80: exactly LN(v; ε) (their squares leave the
    normal range only where ε outweighs them). Rows past 2^40 (|u| ≤ 1) would need
    ε / k² < ε / 2^80: both are nothing next to their variance, var u ≥ 2^-49 / G (values
    of a row that are not all equal differ by a float32 ulp at least; a row of one value
    gives 0 either way)."""
    top = g.op("ReduceMax", [g.op("Abs", [v], "abs")], "top", axes=[-1], keepdims=1)  # (·, 1)
    u = g.op("Div", [v, g.op("Max", [top, g.scalar(LN_TOP)], "k")], "u")  # (·, G): |u| ≤ 1
    return g.op("LayerNormalization", [u, gain, shift or ""], "ln", axis=-1,
                epsilon=EPS / LN_TOP ** 2)


def _split(g: Graph, v: str, hidden: int, parts: int, axis: int) -> list[str]:
    return [g.slice(v, axis, k * hidden, (k + 1) * hidden) for k in range(parts)]


# -- minGRU -----------------------------------------------------------------------------------
def _linear_input(g: Graph, module, p: dict, x: str, tag: str) -> str:
    """gi = W_ih x + b_ih for every step: (T, B, G·H)."""
    gi = g.op("MatMul", [x, g.weight(p["weight_ih"].T, f"Wt_{tag}")], "gi")  # (T, B, G·H)
    return gi if p["bias_ih"] is None else g.op("Add", [gi, g.weight(p["bias_ih"], f"b_{tag}")])


def _mingru_step(b: Graph, module, p: dict, w: dict, gi: str, s: list[str]) -> list[str]:
    h = s[0]
    k, v = _split(b, gi, module.hidden_size, 2, axis=1)  # 2 × (B, H)
    z = b.op("Sigmoid", [k], "z")
    pos = b.op("GreaterOrEqual", [v, b.scalar(0.0)], "pos")
    gv = b.op("Where", [pos, b.op("Add", [v, b.scalar(0.5)]), b.op("Sigmoid", [v])], "g")
    keep = b.op("Mul", [b.op("Sub", [b.scalar(1.0), z]), h])
    return [b.op("Add", [keep, b.op("Mul", [z, gv])], "h_new")]


# -- GRU (when the ONNX operator cannot serve it: zoneout) ------------------------------------
def _gru_weights(g: Graph, module, p: dict, tag: str) -> dict:
    h, w_hh = module.hidden_size, array(p["weight_hh"])  # (3H, H)
    out = {"b_hh": None if p["bias_hh"] is None else g.weight(p["bias_hh"], f"bhh_{tag}")}
    if module.reset_after:
        return out | {"w": g.init(w_hh.T.copy(), f"Rt_{tag}")}
    return out | {"w_rz": g.init(w_hh[:2 * h].T.copy(), f"Rrzt_{tag}"),
                  "w_n": g.init(w_hh[2 * h:].T.copy(), f"Rnt_{tag}")}


def _gru_step(b: Graph, module, p: dict, w: dict, gi: str, s: list[str]) -> list[str]:
    h, hidden = s[0], module.hidden_size
    gi_r, gi_z, gi_n = _split(b, gi, hidden, 3, axis=1)  # 3 × (B, H)
    if module.reset_after:
        gh = b.op("MatMul", [h, w["w"]])  # (B, 3H)
        if w["b_hh"] is not None:
            gh = b.op("Add", [gh, w["b_hh"]])
        gh_r, gh_z, gh_n = _split(b, gh, hidden, 3, axis=1)
        r = b.op("Sigmoid", [b.op("Add", [gi_r, gh_r])], "r")
        z = b.op("Sigmoid", [b.op("Add", [gi_z, gh_z])], "z")
        n_in = b.op("Mul", [r, gh_n])
    else:
        gh_r, gh_z = _split(b, b.op("MatMul", [h, w["w_rz"]]), hidden, 2, axis=1)
        r = b.op("Sigmoid", [b.op("Add", [gi_r, gh_r])], "r")
        z = b.op("Sigmoid", [b.op("Add", [gi_z, gh_z])], "z")
        n_in = b.op("MatMul", [b.op("Mul", [r, h]), w["w_n"]])  # (B, H)
    n = b.op("Tanh", [b.op("Add", [gi_n, n_in])], "n")
    keep = b.op("Mul", [b.op("Sub", [b.scalar(1.0), z]), n])
    return [b.op("Add", [keep, b.op("Mul", [z, h])], "h_new")]


# -- LSTM (when the ONNX operator cannot serve it: a projection) -------------------------------
def _lstm_weights(g: Graph, module, p: dict, tag: str) -> dict:
    hr = p.get("weight_hr")
    return {"w": g.init(array(p["weight_hh"]).T.copy(), f"Rt_{tag}"),  # (P, 4H)
            "b_hh": None if p["bias_hh"] is None else g.weight(p["bias_hh"], f"bhh_{tag}"),
            "w_hr": None if hr is None else g.init(array(hr).T.copy(), f"Prt_{tag}")}  # (H, P)


def _lstm_step(b: Graph, module, p: dict, w: dict, gi: str, s: list[str]) -> list[str]:
    h, c = s
    gates = b.op("Add", [gi, b.op("MatMul", [h, w["w"]])])  # (B, 4H)
    if w["b_hh"] is not None:
        gates = b.op("Add", [gates, w["b_hh"]])
    i, f, g_, o = _split(b, gates, module.hidden_size, 4, axis=1)  # 4 × (B, H)
    c_new = b.op("Add", [b.op("Mul", [b.op("Sigmoid", [f]), c]),
                         b.op("Mul", [b.op("Sigmoid", [i]), b.op("Tanh", [g_])])], "c_new")
    h_new = b.op("Mul", [b.op("Sigmoid", [o]), b.op("Tanh", [c_new])])  # (B, H)
    if w["w_hr"] is not None:
        h_new = b.op("MatMul", [h_new, w["w_hr"]], "h_proj")  # (B, P)
    return [h_new, c_new]


# -- LayerNorm-GRU ----------------------------------------------------------------------------
def _lngru_input(g: Graph, module, p: dict, x: str, tag: str) -> str:
    wx = g.op("MatMul", [x, g.weight(p["weight_ih"].T, f"Wt_{tag}")], "wx")  # (T, B, 3H)
    gi = _ln(g, wx, g.weight(p["ln_ih_weight"], f"gih_{tag}"),
             None if p["ln_ih_bias"] is None else g.weight(p["ln_ih_bias"], f"bih_{tag}"))
    return gi if p["bias_ih"] is None else g.op("Add", [gi, g.weight(p["bias_ih"], f"b_{tag}")])


def _lngru_weights(g: Graph, module, p: dict, tag: str) -> dict:
    """The recurrent weights in the outer graph, read by name from the Scan body."""
    h = module.hidden_size
    w_hh = array(p["weight_hh"])  # (3H, H)
    gain, shift = array(p["ln_hh_weight"]), array(p["ln_hh_bias"])
    out = {"b_hh": None if p["bias_hh"] is None else g.weight(p["bias_hh"], f"bhh_{tag}")}
    if module.reset_after:
        out |= {"w": g.init(w_hh.T.copy(), f"Rt_{tag}"), "gain": g.init(gain, f"ghh_{tag}"),
                "shift": None if shift is None else g.init(shift, f"shh_{tag}")}
    else:  # the r, z rows and the n rows are normalised apart
        out |= {"w_rz": g.init(w_hh[:2 * h].T.copy(), f"Rrzt_{tag}"),
                "w_n": g.init(w_hh[2 * h:].T.copy(), f"Rnt_{tag}"),
                "gain_rz": g.init(gain[:2 * h], f"ghh_rz_{tag}"),
                "gain_n": g.init(gain[2 * h:], f"ghh_n_{tag}"),
                "shift_rz": None if shift is None else g.init(shift[:2 * h], f"shh_rz_{tag}"),
                "shift_n": None if shift is None else g.init(shift[2 * h:], f"shh_n_{tag}")}
    return out


def _lngru_step(b: Graph, module, p: dict, w: dict, gi: str, s: list[str]) -> list[str]:
    h, hidden = s[0], module.hidden_size
    gi_r, gi_z, gi_n = _split(b, gi, hidden, 3, axis=1)  # 3 × (B, H)
    if module.reset_after:
        gh = _ln(b, b.op("MatMul", [h, w["w"]]), w["gain"], w["shift"])  # (B, 3H)
        if w["b_hh"] is not None:
            gh = b.op("Add", [gh, w["b_hh"]])
        gh_r, gh_z, gh_n = _split(b, gh, hidden, 3, axis=1)
        r = b.op("Sigmoid", [b.op("Add", [gi_r, gh_r])], "r")
        z = b.op("Sigmoid", [b.op("Add", [gi_z, gh_z])], "z")
        n = b.op("Tanh", [b.op("Add", [gi_n, b.op("Mul", [r, gh_n])])], "n")
    else:
        a = _ln(b, b.op("MatMul", [h, w["w_rz"]]), w["gain_rz"], w["shift_rz"])  # (B, 2H)
        a_r, a_z = _split(b, a, hidden, 2, axis=1)
        r = b.op("Sigmoid", [b.op("Add", [gi_r, a_r])], "r")
        z = b.op("Sigmoid", [b.op("Add", [gi_z, a_z])], "z")
        rh = b.op("MatMul", [b.op("Mul", [r, h]), w["w_n"]])  # (B, H)
        n = b.op("Tanh", [b.op("Add", [gi_n, _ln(b, rh, w["gain_n"], w["shift_n"])])], "n")
    keep = b.op("Mul", [b.op("Sub", [b.scalar(1.0), z]), n])
    return [b.op("Add", [keep, b.op("Mul", [z, h])], "h_new")]


# cell name -> (input projection, recurrent weights, one step): the cells whose math this
# exporter writes as a loop; the list of cells itself is grukit.cells'
_BODIES: dict[str, tuple[Callable, Callable | None, Callable]] = {
    "gru": (_linear_input, _gru_weights, _gru_step),
    "lstm": (_linear_input, _lstm_weights, _lstm_step),
    "mingru": (_linear_input, None, _mingru_step),
    "lngru": (_lngru_input, _lngru_weights, _lngru_step),
}


def scan_support(spec) -> str:
    """"" when a cell can be written as a Scan (no ONNX operator, or zoneout), else why
    not."""
    if spec.name in _BODIES:
        return ""
    return (f"no ONNX subgraph is written for it yet (cells exported as a Scan: "
            f"{', '.join(sorted(_BODIES))})")


def _time_mask(g: Graph, x: str, lengths: str) -> str:
    """(T, B, 1) bool: step t lies inside sequence b. The mask reversed within each length
    is itself, and ``ReverseSequence`` refuses a length outside [0, T], as the ONNX
    recurrent operators and eager do (a length 9 ran as T, -1 as 0)."""
    steps = g.squeeze(g.dim(x, 0), 0)  # scalar T
    zero, one = (g.init(np.array(v, np.int64), "c_i64s") for v in (0, 1))
    t = g.unsqueeze(g.op("Range", [zero, steps, one], "t"), 1)  # (T, 1)
    inside = g.op("Less", [t, g.unsqueeze(lengths, 0)], "inside")  # (T, B)
    return g.unsqueeze(g.reverse_time(inside, lengths, time_axis=0, batch_axis=1), 2)


def state_sizes(module) -> list[int]:
    """Widths of the states a layer carries: the output state P (the projection, else H),
    then the others H (the LSTM's c)."""
    rest = [module.hidden_size] * (len(module.spec.states) - 1)
    return [getattr(module, "proj_size", 0) or module.hidden_size, *rest]


def scan_layer(g: Graph, module, params: dict, x: str, lengths: str | None,
               s0: list[str | None], reverse: bool, tag: str) -> tuple[str, list[str]]:
    """One layer and direction: x (T, B, I), initial states (B, S) or None each ->
    y (T, B, P), final states (B, S) each."""
    make_input, make_weights, step = _BODIES[module.spec.name]
    sizes = state_sizes(module)
    gi = make_input(g, module, params, x, tag)  # (T, B, G·H)
    w = {} if make_weights is None else make_weights(g, module, params, tag)
    init = [s if s is not None else g.zeros(x, 1, n) for s, n in zip(s0, sizes, strict=True)]
    mask = None
    if lengths is not None:
        mask = _time_mask(g, x, lengths)  # (T, B, 1)
        if reverse:
            gi = g.reverse_time(gi, lengths, time_axis=0, batch_axis=1)

    b = Graph(prefix=f"{tag}_", parent=g)
    s_in = [b.name(f"{n}_in") for n in module.spec.states]
    gi_t = b.name("gi_t")
    m_t = b.name("m_t") if mask is not None else None
    s_new = step(b, module, params, w, gi_t, s_in)  # each (B, S)
    if getattr(module, "zoneout", 0):  # in evaluation the mask is its expectation p
        p = np.float32(module.zoneout)
        s_new = [b.op("Add", [b.op("Mul", [b.scalar(p), old]),
                              b.op("Mul", [b.scalar(np.float32(1) - p), new])], "zoned")
                 for old, new in zip(s_in, s_new, strict=True)]
    if m_t is None:
        s_out = [b.op("Identity", [new], "s_out") for new in s_new]
        y_t = b.op("Identity", [s_new[0]], "y_t")
    else:
        s_out = [b.op("Where", [m_t, new, old], "s_out")
                 for old, new in zip(s_in, s_new, strict=True)]
        y_t = b.op("Where", [m_t, s_new[0], b.scalar(0.0)], "y_t")
    inputs = [value_info(n, "float", [None, k]) for n, k in zip(s_in, sizes, strict=True)]
    inputs.append(value_info(gi_t, "float", [None, None]))
    if m_t is not None:
        inputs.append(value_info(m_t, "bool", [None, 1]))
    outputs = [value_info(n, "float", [None, k]) for n, k in zip(s_out, sizes, strict=True)]
    body = b.subgraph(f"{tag}_step", inputs, outputs + [value_info(y_t, "float",
                                                                   [None, sizes[0]])])
    scans = 1 if mask is None else 2
    attrs = {"num_scan_inputs": scans, "body": body}
    if reverse and lengths is None:
        attrs |= {"scan_input_directions": [1] * scans, "scan_output_directions": [1]}
    *finals, y = g.op("Scan", init + [gi] + ([mask] if mask is not None else []),
                      f"scan_{tag}", outputs=len(init) + 1, **attrs)
    if reverse and lengths is not None:
        y = g.reverse_time(y, lengths, time_axis=0, batch_axis=1)
    return y, finals
