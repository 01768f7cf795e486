"""One spec per recurrent cell: the single list of the cells grukit has.

Everything that needs to know "which cells exist" reads this module: ``grukit.nn``
registers a module's parameters from its spec, ``grukit.layers`` builds its Keras-style
layers from it, ``grukit.convert`` maps Keras and torch.nn classes through it, and the task
pipelines and their CLIs take their model choices and classes from it. It imports nothing
from grukit (it sits at the bottom of the house); the module and layer classes are named by
dotted path and resolved on first use.

Per layer and direction a cell with G gate blocks, H units, input width I (the layer's
input: the features for layer 0, D·P after it) and state width P (the projection size, else
H) has parameters, in registration order (torch.nn's, so state_dicts load unchanged)::

    weight_ih (G·H, I)    weight_hh (G·H, P)    bias_ih (G·H,)    bias_hh (G·H,)
    weight_hr (P, H)      (LSTM with proj_size > 0)

with exceptions written in each spec (GRU ``reset_after=False`` has no ``bias_hh``, minGRU
has no recurrent weights). Its parameter count is the sum of their sizes over layers and
directions (``CellSpec.count``)::

    GRU   3·(I·H + H·H + 2H)     LSTM 4·(I·H + P·H + 2H) + P·H     RNN  I·H + H·H + 2H
    minGRU 2·(I·H + H)           LayerNorm-GRU: GRU + 4·3H (two gains, two shifts)
    GRU-D (I = D variables, reset_after=False): 3·(2·D·H + H·H + H) + 2D + D·H + H
    (one layer and direction, bias=True, reset_after=True)

Adding a cell: a ``CellSpec`` entry in ``_SPECS`` below, its folder under ``grukit/ops``
and its module in ``grukit/nn`` (exported from ``grukit.nn``); layers, converters, tasks and
CLIs pick it up from here.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Dims:
    """The sizes and options one layer and direction of a cell is built with.

    ``input``: the layer's input width; ``hidden``: H; ``proj``: the projection size (0:
    none); ``bias``: whether the layer has biases; ``options``: the cell's structural
    options (``reset_after`` for a GRU, ...), defaults filled in.
    """

    input: int
    hidden: int
    proj: int = 0
    bias: bool = True
    options: Mapping = field(default_factory=dict)

    @property
    def state(self) -> int:
        """P: the width of the state fed back to the recurrent weights."""
        return self.proj or self.hidden


def _always(d: Dims) -> bool:
    return True


def _with_bias(d: Dims) -> bool:
    return d.bias


@dataclass(frozen=True)
class Param:
    """One parameter of a layer and direction: its op name (``weight_ih``), its shape as a
    function of the ``Dims``, when it exists, and its default initialisation: "hidden"
    U(−1/√H, 1/√H) as torch.nn, "fan_in" U(−1/√fan_in, 1/√fan_in) as torch.nn.Linear, or
    "ones" / "zeros" (the gains and shifts of a normalisation)."""

    name: str
    shape: Callable[[Dims], tuple[int, ...]]
    when: Callable[[Dims], bool] = _always
    init: str = "hidden"


def _standard(gates: int, bias_hh: Callable[[Dims], bool] = _with_bias) -> tuple[Param, ...]:
    """torch.nn's four parameters of a cell with ``gates`` blocks."""
    return (Param("weight_ih", lambda d: (gates * d.hidden, d.input)),
            Param("weight_hh", lambda d: (gates * d.hidden, d.state)),
            Param("bias_ih", lambda d: (gates * d.hidden,), _with_bias),
            Param("bias_hh", lambda d: (gates * d.hidden,), bias_hh))


@dataclass(frozen=True)
class CellSpec:
    """Everything about a cell that is not its math.

    Attributes:
        name: short name, the model choice of tasks and CLIs ("gru").
        display: name in tables and reports ("GRU", "minGRU").
        gates: gate blocks stacked in ``weight_ih``'s rows.  gate_order: their order.
        states: names of the state tensors a layer carries: ("h",) or ("h", "c").
        params: the parameters of one layer and direction, in registration order.
        recurrent: whether the cell has recurrent weights (minGRU has none), so whether
            recurrent dropout applies.
        projection: whether ``proj_size`` applies (LSTM).
        zoneout: whether the op takes a ``zoneout_mask`` (Krueger et al. 2017).
        options: structural options of the nn module and their defaults
            ({"reset_after": True} for a GRU); they decide which parameters exist.
        init_options: initialisation-only options of the nn module and their defaults.
        baseline: nn keyword arguments of a baseline built from the cell (the Keras-style
            layer and the task models): LSTM's forget-gate bias 1 (Jozefowicz et al. 2015;
            Keras' ``unit_forget_bias``).
        keras: the Keras 3 layer class name, or None.  keras_order: torch's gate blocks in
            Keras' order (None: the same order).  keras_bias: how Keras holds the two
            biases of a layer that has both, "stack" ((2, G·H), GRU reset_after=True) or
            "sum" (one (G·H,) vector, the sum).  keras_options: nn option -> Keras argument.
        torch: the torch.nn class name, or None.  torch_cell: torch.nn's one-step cell
            class name, or None.  torch_options: arguments of the torch.nn class beyond
            torch.nn.RNNBase's (the others' options must be at their defaults to convert).
        onnx: the ONNX operator, or None.
        module: dotted path of the ``grukit.nn`` module class.  cell_module: of the
            ``grukit.nn`` one-step cell, or None.  layer: name of the ``grukit.layers``
            class.
        doc: one line for help texts.
        packed: tensors the module's one-tensor input packs on its last axis (GRU-D: 3,
            [x, m, δ]); ``build`` takes that width and gives the module width / packed.
    """

    name: str
    display: str
    gates: int
    gate_order: tuple[str, ...]
    states: tuple[str, ...]
    params: tuple[Param, ...]
    recurrent: bool
    module: str
    layer: str
    doc: str
    projection: bool = False
    zoneout: bool = False
    options: Mapping = field(default_factory=lambda: MappingProxyType({}))
    init_options: Mapping = field(default_factory=lambda: MappingProxyType({}))
    baseline: Mapping = field(default_factory=lambda: MappingProxyType({}))
    keras: str | None = None
    keras_order: tuple[int, ...] | None = None
    keras_bias: str = "sum"
    keras_options: Mapping = field(default_factory=lambda: MappingProxyType({}))
    torch: str | None = None
    torch_cell: str | None = None
    torch_options: tuple[str, ...] = ()
    onnx: str | None = None
    cell_module: str | None = None
    packed: int = 1

    # -- sizes ----------------------------------------------------------------------------
    def dims(self, input: int, hidden: int, proj: int = 0, bias: bool = True,
             **options) -> Dims:
        """The ``Dims`` of one layer; ``options`` are checked against the spec's."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ValueError(f"{self.display} has no option {', '.join(unknown)}; its options "
                             f"are {sorted(self.options) or 'none'}.")
        if proj and not self.projection:
            raise ValueError(f"{self.display} has no projection; proj_size applies to "
                             f"{', '.join(s.display for s in all_specs() if s.projection)}.")
        return Dims(input, hidden, proj, bias, MappingProxyType(dict(self.options) | options))

    def param_shapes(self, input: int, hidden: int, proj: int = 0, bias: bool = True,
                     **options) -> dict[str, tuple[int, ...]]:
        """Op name -> shape of the parameters one layer and direction has."""
        d = self.dims(input, hidden, proj, bias, **options)
        return {p.name: p.shape(d) for p in self.params if p.when(d)}

    def has_param(self, name: str, bias: bool = True, proj: int = 0, **options) -> bool:
        """Whether a layer built with these settings has the parameter ``name``."""
        d = self.dims(1, 1, proj, bias, **options)
        return any(p.name == name and p.when(d) for p in self.params)

    def count(self, input: int, hidden: int, *, num_layers: int = 1,
              bidirectional: bool = False, proj: int = 0, bias: bool = True,
              **options) -> int:
        """Parameters of a stacked module: the sum of the parameter sizes over layers and
        directions (layer k > 0 reads D·P features)."""
        directions = 2 if bidirectional else 1
        total = 0
        for layer in range(num_layers):
            width = input if layer == 0 else (proj or hidden) * directions
            shapes = self.param_shapes(width, hidden, proj, bias, **options)
            total += directions * sum(math.prod(s) for s in shapes.values())
        return total

    # -- classes --------------------------------------------------------------------------
    def module_class(self) -> type:
        """The ``grukit.nn`` module class (imported on first use)."""
        return _resolve(self.module)

    def cell_class(self) -> type | None:
        """The ``grukit.nn`` one-step cell class, or None."""
        return None if self.cell_module is None else _resolve(self.cell_module)

    def layer_class(self) -> type:
        """The ``grukit.layers`` Keras-style layer class (imported on first use; made from
        this spec when ``grukit.layers`` has no class of that name)."""
        layers = importlib.import_module("grukit.layers")
        found = getattr(layers, self.layer, None)
        return found if found is not None else layers.layer_for(self)

    def accepts(self, option: str) -> bool:
        """Whether the nn module takes the keyword ``option`` (structural or init)."""
        return option in self.options or option in self.init_options

    def build(self, input_size: int, hidden_size: int, **kwargs):
        """A ``grukit.nn`` module with the spec's ``baseline`` settings, ``kwargs`` on top;
        ``input_size`` is the width of the tensor it receives (``packed`` tensors of
        input_size / packed features each)."""
        if input_size % self.packed:
            raise ValueError(f"{self.display} takes {self.packed} tensors packed on the last "
                             f"axis, so {self.packed}·D features; got {input_size}.")
        return self.module_class()(input_size // self.packed, hidden_size,
                                   **(dict(self.baseline) | kwargs))


def _resolve(path: str):
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _frozen(**kw) -> MappingProxyType:
    return MappingProxyType(kw)


def _gru_bias_hh(d: Dims) -> bool:
    return d.bias and d.options["reset_after"]


def _layer_norm(names: tuple[str, ...]) -> tuple[Param, ...]:
    """Gain (init 1) and shift (init 0, only with bias) of each normalisation, (G·H,) = 3H."""
    out: tuple[Param, ...] = ()
    for n in names:
        out += (Param(f"ln_{n}_weight", lambda d: (3 * d.hidden,), init="ones"),
                Param(f"ln_{n}_bias", lambda d: (3 * d.hidden,), _with_bias, init="zeros"))
    return out


_SPECS: tuple[CellSpec, ...] = (
    CellSpec(
        name="gru", display="GRU", gates=3, gate_order=("r", "z", "n"), states=("h",),
        params=_standard(3, _gru_bias_hh), recurrent=True, zoneout=True,
        options=_frozen(reset_after=True), keras="GRU", keras_order=(1, 0, 2),
        keras_bias="stack", keras_options=_frozen(reset_after="reset_after"),
        torch="GRU", torch_cell="GRUCell", onnx="GRU", module="grukit.nn.GRU",
        cell_module="grukit.nn.GRUCell", layer="GRU",
        doc="gated recurrent unit (Cho et al. 2014)"),
    CellSpec(
        name="lstm", display="LSTM", gates=4, gate_order=("i", "f", "g", "o"),
        states=("h", "c"),
        params=_standard(4) + (Param("weight_hr", lambda d: (d.proj, d.hidden),
                                     lambda d: d.proj > 0),),
        recurrent=True, projection=True, init_options=_frozen(forget_bias=None),
        baseline=_frozen(forget_bias=1.0), keras="LSTM", torch="LSTM",
        torch_cell="LSTMCell", torch_options=("proj_size",), onnx="LSTM",
        module="grukit.nn.LSTM", cell_module="grukit.nn.LSTMCell", layer="LSTM",
        doc="long short-term memory (Hochreiter & Schmidhuber 1997)"),
    CellSpec(
        name="rnn", display="RNN", gates=1, gate_order=("h",), states=("h",),
        params=_standard(1), recurrent=True, options=_frozen(nonlinearity="tanh"),
        keras="SimpleRNN", keras_options=_frozen(nonlinearity="activation"), torch="RNN",
        torch_cell="RNNCell", torch_options=("nonlinearity",), onnx="RNN",
        module="grukit.nn.RNN", cell_module="grukit.nn.RNNCell", layer="SimpleRNN",
        doc="Elman RNN, tanh"),
    CellSpec(
        name="mingru", display="minGRU", gates=2, gate_order=("z", "h"), states=("h",),
        params=(Param("weight_ih", lambda d: (2 * d.hidden, d.input), init="fan_in"),
                Param("bias_ih", lambda d: (2 * d.hidden,), _with_bias, init="fan_in")),
        recurrent=False, options=_frozen(mode="parallel"), module="grukit.nn.MinGRU",
        layer="MinGRU", doc="minimal GRU (Feng et al. 2024), gates read x only"),
    CellSpec(
        name="lngru", display="LayerNorm-GRU", gates=3, gate_order=("r", "z", "n"),
        states=("h",), params=_standard(3, _gru_bias_hh) + _layer_norm(("ih", "hh")),
        recurrent=True, options=_frozen(reset_after=True), module="grukit.nn.LayerNormGRU",
        layer="LayerNormGRU", doc="GRU with layer-normalised pre-activations (Ba et al. 2016)"),
)
_BY_NAME = {s.name: s for s in _SPECS}

GRU, LSTM, RNN, MINGRU, LNGRU = (_BY_NAME[n] for n in ("gru", "lstm", "rnn", "mingru", "lngru"))

# GRU-D (Che et al. 2018; grukit.ops.grud, grukit.nn.GRUD, its layer made from the spec): the
# GRU's parameters on x̂ (I = D variables), the mask's input weights and the decay rates. Not in
# _SPECS: its input is [x, m, δ], so the task CLIs that pass plain features cannot offer it.
GRUD = CellSpec(
    name="grud", display="GRU-D", gates=3, gate_order=("r", "z", "n"), states=("h", "x_last"),
    params=_standard(3, _gru_bias_hh) + (
        Param("weight_mh", lambda d: (3 * d.hidden, d.input)),
        Param("decay_x_weight", lambda d: (d.input,)),
        Param("decay_x_bias", lambda d: (d.input,), _with_bias),
        Param("decay_h_weight", lambda d: (d.hidden, d.input)),
        Param("decay_h_bias", lambda d: (d.hidden,), _with_bias)),
    recurrent=True, options=_frozen(reset_after=False),
    init_options=_frozen(input_dropout=0.0, gate_masks=False), module="grukit.nn.GRUD",
    layer="GRUD",
    packed=3, doc="GRU with input and hidden-state decay for missing values (Che et al. 2018)")


def names() -> tuple[str, ...]:
    """The short names of every cell, in a fixed order: ("gru", "lstm", "rnn", "mingru",
    "lngru")."""
    return tuple(_BY_NAME)


def all_specs() -> tuple[CellSpec, ...]:
    """Every cell's spec, in the order of ``names()``."""
    return _SPECS


def get(name: str) -> CellSpec:
    """The spec of the cell ``name`` ("gru"); a one-sentence error lists the valid names."""
    if not isinstance(name, str) or name not in _BY_NAME:
        raise ValueError(f"unknown cell {name!r}; choose one of {', '.join(_BY_NAME)}.")
    return _BY_NAME[name]


def by_keras(class_name: str) -> CellSpec | None:
    """The spec whose Keras layer class is ``class_name`` ("SimpleRNN"), else None."""
    return next((s for s in _SPECS if s.keras == class_name), None)


def by_torch(class_name: str) -> CellSpec | None:
    """The spec whose torch.nn class is ``class_name`` ("GRU"), else None."""
    return next((s for s in _SPECS if s.torch == class_name), None)


def by_onnx(op: str) -> CellSpec | None:
    """The spec whose ONNX operator is ``op`` ("LSTM"), else None."""
    return next((s for s in _SPECS if s.onnx == op), None)
