"""What every recurrent module shares: torch.nn's constructor, parameter names and
input/output conventions, stacked layers and directions, ``lengths`` and ``PackedSequence``,
recurrent dropout and zoneout.

A subclass names its cell's spec (``spec``, from ``grukit.cells``: gate count, parameter
names and shapes, options) and says how to run one layer (``_run_layer``) through
``grukit.ops``; the parameters are registered from the spec.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .. import cells
from ..cells import CellSpec
from ..ops import as_lengths, dispatch, shape_str, zero_padding
from ..ops import check_finite as _check_finite

State = tuple[Tensor, ...]


@functools.cache
def _layer_names_cached(names: tuple[str, ...], layer: int,
                        reverse: bool) -> tuple[tuple[str, str], ...]:
    suffix = f"_l{layer}{'_reverse' if reverse else ''}"
    return tuple((n, n + suffix) for n in names)


@torch.compiler.assume_constant_result  # a constant to a tracer, which skips cache wrappers
def _layer_names(names: tuple[str, ...], layer: int,
                 reverse: bool) -> tuple[tuple[str, str], ...]:
    """(op name, parameter name) of one layer and direction: ("weight_ih", "weight_ih_l0")."""
    return _layer_names_cached(names, layer, reverse)


def check_backend(spec: CellSpec, backend: object, what: str) -> str:
    """``backend`` if it is "auto" or a backend of the cell's op (``grukit.ops.<name>``),
    else one sentence listing the valid names (checked when a module or layer is made, as
    Keras checks ``use_cudnn``)."""
    valid = ("auto", *dispatch.backends(spec.name))
    if not isinstance(backend, str) or backend not in valid:
        raise ValueError(f"{what}: unknown backend {backend!r}; choose one of "
                         f"{', '.join(map(repr, valid))}.")
    return backend


def bump_weights(module) -> None:
    """Bump ``weight_ih_l0``'s version (an in-place no-op), so that a ``Stream`` over
    ``module``, whose one-step kernels compute the standard activations, sees that an
    activation changed (a Stream re-packs when a weight's version moves)."""
    w = module.__dict__.get("_parameters", {}).get("weight_ih_l0")
    if w is not None:
        with torch.no_grad():
            w.add_(0)


class KerasActivations:
    """Keras' ``activation`` / ``recurrent_activation`` of a GRU or LSTM module, checked
    when set (at construction or later); ``_activations`` holds those that differ from tanh
    and σ, which is what the op is given."""

    @property
    def activation(self) -> str | None:
        return self._activation

    @activation.setter
    def activation(self, value) -> None:
        from ..ops import activations

        self._activation = activations.check(value, f"{type(self).__name__}: activation")
        self._activation_changed()

    @property
    def recurrent_activation(self) -> str | None:
        return self._recurrent_activation

    @recurrent_activation.setter
    def recurrent_activation(self, value) -> None:
        from ..ops import activations

        self._recurrent_activation = activations.check(
            value, f"{type(self).__name__}: recurrent_activation")
        self._activation_changed()

    def _activation_changed(self) -> None:
        bump_weights(self)

    @property
    def _activations(self) -> dict:
        pair = (self._activation, self._recurrent_activation)
        return {} if pair == ("tanh", "sigmoid") else {
            "activation": pair[0], "recurrent_activation": pair[1]}


def activations_repr(module) -> str:
    return "".join(f", {k}={v!r}" for k, v in getattr(module, "_activations", {}).items())


def check_flag(value: object, what: str, cls: str) -> bool:
    """``value`` as a bool where it is one (numpy's bool and 0 / 1 too), else one sentence:
    a string such as "False" is truthy and would silently mean True."""
    # (1.0 and a one-element tensor equal a bool too, but are not one: refused, as the
    # layers' and the tasks' switches refuse them)
    ok = isinstance(value, bool | np.bool_) or (isinstance(value, numbers.Integral)
                                                and value in (0, 1))
    if not ok:
        raise TypeError(f"{cls}: {what} must be True or False; got {value!r}.")
    return bool(value)


def positive_size(value: object, what: str, cls: str) -> int:
    """``value`` as an int where it is a positive integer (numpy's too: a size read from an
    array or a data frame), else one sentence."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{cls}: {what} must be a positive integer; got {value!r}.")
    return int(value)


def _number(value: object) -> bool:
    """A real number that is not a bool (numpy's float32 and int64 too, as torch.nn takes)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _rate(value: object, what: str, cls: str) -> float:
    if not _number(value) or not 0 <= value < 1:
        raise ValueError(f"{cls}: {what} must be a number in [0, 1) (the fraction of units "
                         f"affected); got {value!r}.")
    return float(value)


class RecurrentBase(nn.Module):
    """Stacked, optionally bidirectional recurrence with torch.nn's interface.

    Beyond torch.nn's arguments: ``recurrent_dropout`` (cells with recurrent weights): in
    training, one mask m ~ Bernoulli(1 − p) / (1 − p) of shape (B, P) per layer, direction
    and forward multiplies the state fed to the recurrent weights (Gal & Ghahramani 2016;
    Keras' ``recurrent_dropout``); ``zoneout`` (cells whose op takes a zoneout mask): in
    training each unit keeps its previous state with probability p at each step,
    ``h_t = m_t ⊙ h_{t−1} + (1 − m_t) ⊙ h̃_t`` with m_t ~ Bernoulli(p) (Krueger et al.
    2017), and in evaluation m_t = p (the expectation).
    """

    spec: ClassVar[CellSpec]

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None,
                 *, backend: str = "auto", check_finite: bool = False,
                 recurrent_dropout: float = 0.0, zoneout: float = 0.0):
        # positional as torch.nn.RNNBase: proj_size comes before device and dtype
        super().__init__()
        name = type(self).__name__
        spec = self.spec
        input_size = positive_size(input_size, "input_size", name)
        hidden_size = positive_size(hidden_size, "hidden_size", name)
        num_layers = positive_size(num_layers, "num_layers", name)
        # torch.nn takes any truthy value: batch_first="False" would read (B, T, I) as (T, B, I)
        bias, batch_first, bidirectional, check_finite = (check_flag(v, k, name) for k, v in (
            ("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional),
            ("check_finite", check_finite)))
        if not _number(dropout) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be a number in [0, 1]; got {dropout!r}.")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} applies between stacked layers only, "
                          f"so with num_layers=1 it does nothing.", stacklevel=2)
        if not isinstance(proj_size, numbers.Integral) or isinstance(proj_size, bool) \
                or proj_size < 0 or proj_size >= hidden_size and proj_size:
            raise ValueError(f"{name}: proj_size must be an integer in [0, hidden_size="
                             f"{hidden_size}); got {proj_size!r}.")
        proj_size = int(proj_size)
        if proj_size and not spec.projection:
            owners = " and ".join(s.display for s in cells.all_specs() if s.projection)
            raise ValueError(f"{name}: proj_size applies to {owners} only (as in torch.nn); "
                             f"got proj_size={proj_size}. Leave it at 0.")
        recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout", name)
        if recurrent_dropout and not spec.recurrent:
            raise ValueError(f"{name} has no recurrent weights, so recurrent_dropout does not "
                             f"apply; leave it at 0 and use dropout.")
        zoneout = _rate(zoneout, "zoneout", name)
        if zoneout and not spec.zoneout:
            owners = ", ".join(s.display for s in cells.all_specs() if s.zoneout)
            raise ValueError(f"{name}: zoneout is available for {owners}; leave it at 0.")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        self.backend = backend
        self.check_finite = check_finite
        check_backend(spec, backend, name)
        self.recurrent_dropout = recurrent_dropout
        self.zoneout = zoneout
        factory = {"device": device, "dtype": dtype}
        out = proj_size or hidden_size
        options = {k: getattr(self, k) for k in spec.options}
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else out * self.num_directions
            shapes = spec.param_shapes(layer_in, hidden_size, proj_size, bias, **options)
            for suffix in self._suffixes():
                for op_name, shape in shapes.items():  # (G·H, I), (G·H, P), (G·H,), ...
                    self.register_parameter(f"{op_name}_l{layer}{suffix}",
                                            nn.Parameter(torch.empty(shape, **factory)))
        self.reset_parameters()

    # -- layout ---------------------------------------------------------------------------
    @property
    def _gates(self) -> int:
        """Gate blocks stacked in the weights' rows (the spec's)."""
        return self.spec.gates

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def _state_sizes(self) -> tuple[int, ...]:
        """Sizes of the state tensors carried by one layer and direction (the spec's
        ``states``): the output state has the projection's width P, the others H."""
        rest = (self.hidden_size,) * (len(self.spec.states) - 1)
        return (self.proj_size or self.hidden_size, *rest)

    def _state_size_names(self) -> tuple[str, ...]:
        """The argument each of ``_state_sizes`` is (for the errors): proj_size or hidden."""
        rest = ("hidden",) * (len(self.spec.states) - 1)
        return ("proj_size" if self.proj_size else "hidden", *rest)

    def reset_parameters(self) -> None:
        """Each parameter as its spec says: "hidden" U(−1/√H, 1/√H) as torch.nn does,
        "fan_in" U(−1/√fan_in, 1/√fan_in) as torch.nn.Linear (a bias: the fan-in of its
        weight), "ones" / "zeros" (a normalisation's gain and shift; no random draw)."""
        inits = {p.name: p.init for p in self.spec.params}
        bound = 1.0 / math.sqrt(self.hidden_size)
        for name, w in self.named_parameters():
            init = inits.get(name[:name.rindex("_l")], "hidden")
            if init == "fan_in":
                weight = getattr(self, name.replace("bias_", "weight_", 1))
                fan = 1.0 / math.sqrt(weight.shape[1])
                nn.init.uniform_(w, -fan, fan)
            elif init == "ones":
                nn.init.ones_(w)
            elif init == "zeros":
                nn.init.zeros_(w)
            else:
                nn.init.uniform_(w, -bound, bound)

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """The parameters of each layer and direction, in ``torch.nn.RNNBase.all_weights``'
        order: [[weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0], [..._l0_reverse], ...]
        (those the layer has)."""
        return [[w for w in self.layer_params(layer, d).values() if w is not None]
                for layer in range(self.num_layers) for d in range(self.num_directions)]

    @property
    def _all_weights(self) -> list[list[str]]:
        """The parameter names of each layer and direction, as ``torch.nn.RNNBase``'s
        private ``_all_weights`` (read by a common recipe that sets an LSTM's forget-gate
        bias): [["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"], ...]."""
        names = tuple(p.name for p in self.spec.params)
        return [[k for _, k in _layer_names(names, layer, d == 1)
                 if getattr(self, k, None) is not None]
                for layer in range(self.num_layers) for d in range(self.num_directions)]

    def flatten_parameters(self) -> None:
        """Nothing to do, kept for torch.nn code that calls it (``torch.nn.RNNBase`` packs
        its weights into one cuDNN buffer there; the ops read each parameter as it is)."""

    def layer_params(self, layer: int, direction: int) -> dict[str, Tensor | None]:
        """The weights of one layer and direction by their op names (weight_ih, ...)."""
        d = self._parameters  # read directly: Module.__getattr__ costs ~1 µs a name; a name
        #                       moved out of it (weight-drop wrappers) is still found
        names = tuple(p.name for p in self.spec.params)
        return {n: d[k] if k in d else getattr(self, k, None)
                for n, k in _layer_names(names, layer, direction == 1)}

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.recurrent_dropout:
            s += f", recurrent_dropout={self.recurrent_dropout}"
        if self.zoneout:
            s += f", zoneout={self.zoneout}"
        return s

    # -- subclass hooks -------------------------------------------------------------------
    def _run_layer(self, x: Tensor, params: dict[str, Tensor | None], state: State,
                   lengths: Tensor | None, reverse: bool,
                   **masks: Tensor) -> tuple[Tensor, State]:
        """One layer and direction through the cell's op; ``masks``: ``state_mask`` (B, P)
        and ``zoneout_mask`` (B, T, H) when recurrent dropout or zoneout is on."""
        raise NotImplementedError

    def _masks(self, x: Tensor) -> dict[str, Tensor]:
        """The masks of one layer and direction for ``x`` (B, T, ·), drawn in this order:
        recurrent dropout, then zoneout."""
        masks = {}
        if self.recurrent_dropout and self.training:
            keep = 1.0 - self.recurrent_dropout
            size = self.proj_size or self.hidden_size
            masks["state_mask"] = torch.bernoulli(x.new_full((x.shape[0], size), keep)) / keep
        if self.zoneout:
            rate = x.new_full((x.shape[0], x.shape[1], self.hidden_size), self.zoneout)
            masks["zoneout_mask"] = torch.bernoulli(rate) if self.training else rate
        return masks

    def _hx_to_states(self, hx: object, batch: int, unbatched: bool,
                      like: Tensor) -> list[Tensor]:
        """User ``hx`` -> one (L·D, B, S) tensor per state of the spec: a tensor for one
        state, a tuple ``(h_0, c_0)`` for two."""
        names = self.spec.states
        if len(names) == 1:
            return [self._check_hx(hx, "hx", 0, batch, unbatched, like)]
        if not isinstance(hx, (tuple, list)) or len(hx) != len(names):
            what = "a pair" if len(names) == 2 else f"a tuple of {len(names)}"
            raise TypeError(f"{type(self).__name__}: hx must be {what} "
                            f"({', '.join(n + '_0' for n in names)}) or None; "
                            f"got {type(hx).__name__}.")
        return [self._check_hx(h, n + "_0", i, batch, unbatched, like)
                for i, (h, n) in enumerate(zip(hx, names, strict=True))]

    def _states_to_hx(self, states: list[Tensor]) -> object:
        return states[0] if len(states) == 1 else tuple(states)

    # -- forward --------------------------------------------------------------------------
    def _check_hx(self, h: object, name: str, kind: int, batch: int, unbatched: bool,
                  like: Tensor) -> Tensor:
        cls = type(self).__name__
        size, size_s = self._state_sizes()[kind], self._state_size_names()[kind]
        stack = self.num_layers * self.num_directions
        want = (stack, size) if unbatched else (stack, batch, size)
        want_s = (f"(num_layers·num_directions, {size_s})" if unbatched
                  else f"(num_layers·num_directions, batch, {size_s})")
        if not isinstance(h, Tensor):
            raise TypeError(f"{cls}: {name} must be a tensor of shape {want_s} = {want}; "
                            f"got {type(h).__name__}.")
        if tuple(h.shape) != want:
            raise ValueError(f"{cls}: {name} must have shape {want_s} = {want}; "
                             f"got {shape_str(h)}.")
        if h.dtype != like.dtype or h.device != like.device:
            raise TypeError(f"{cls}: {name} is {h.dtype} on {h.device} but the input is "
                            f"{like.dtype} on {like.device}; move it with {name}.to(input).")
        return h.unsqueeze(1) if unbatched else h

    def _check_input(self, x: object) -> None:
        cls = type(self).__name__
        layout = "(batch, time, features)" if self.batch_first else "(time, batch, features)"
        if not isinstance(x, Tensor):
            raise TypeError(f"{cls}: input must be a torch.Tensor or PackedSequence of shape "
                            f"{layout}; got {type(x).__name__}. Convert it with "
                            f"torch.as_tensor(x, dtype=torch.float32).")
        if not x.is_floating_point():
            raise TypeError(f"{cls}: input must be floating point; got {x.dtype}. "
                            f"Convert it with input.float().")
        if x.dim() not in (2, 3):
            raise ValueError(f"{cls}: input must be 3-D {layout} (batch_first="
                             f"{self.batch_first}) or 2-D (time, features) unbatched; got a "
                             f"{x.dim()}-D tensor of shape {shape_str(x)}.")
        w = self._parameters.get("weight_ih_l0")  # (moved out by weight-drop wrappers: getattr)
        w = w if w is not None else getattr(self, "weight_ih_l0", None)
        if isinstance(w, Tensor) and (x.dtype != w.dtype or x.device != w.device):
            raise TypeError(f"{cls}: the input is {x.dtype} on {x.device} but the weights are "
                            f"{w.dtype} on {w.device}; convert the input with "
                            f"input.to({w.dtype}) (or the module with module.to(input.dtype)).")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{cls}: input has {x.shape[-1]} features in its last dimension "
                             f"but input_size={self.input_size}; expected {layout} with "
                             f"features={self.input_size}, got {shape_str(x)}.")

    def _layers(self, x: Tensor, states: list[Tensor],
                lens: Tensor | None) -> tuple[Tensor, list[Tensor]]:
        """Every layer and direction on x (B, T, I) from ``states`` (each (L·D, B, S)) ->
        y (B, T, D·S) and h_n, one (L·D, B, S) tensor per state of the spec."""
        finals: list[State] = []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                state = tuple(s[k] for s in states)
                y, fin = self._run_layer(layer_in, self.layer_params(layer, d), state, lens,
                                         reverse=d == 1, **self._masks(layer_in))
                outs.append(y)  # (B, T, S)
                finals.append(fin)
            layer_in = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)  # (B, T, D·S)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, training=True)
        h_n = [finals[0][i].unsqueeze(0) if len(finals) == 1 else
               torch.stack([f[i] for f in finals]) for i in range(len(states))]  # (L·D, B, S)
        if x.shape[1] == 0:  # no step: the ops give h0 back, a view of the caller's hx
            h_n = [h.clone() for h in h_n]
        return layer_in, h_n

    def _plain(self, input: object, hx: object) -> tuple[Tensor, list[Tensor]] | None:
        """x (B, T, I) and the states of forward's common call, or None where the call
        needs more than ``_layers``: a batched 3-D tensor (checked as the full path checks
        it), one direction, no masks, no finite check, ``hx`` None or of the right shape and
        kind. The full path checks (and explains) everything else; this one only decides."""
        if (not isinstance(input, Tensor) or input.dim() != 3 or self.bidirectional
                or self.zoneout or self.check_finite
                or self.training and (self.recurrent_dropout or self.dropout)):
            return None
        self._check_input(input)  # the full path's first check: the same errors
        x = input if self.batch_first else input.transpose(0, 1)  # (B, T, I)
        batch, stack = x.shape[0], self.num_layers
        if hx is None:
            return x, [x.new_zeros(stack, batch, s) for s in self._state_sizes()]
        hs = [hx] if len(self.spec.states) == 1 else hx
        if not isinstance(hs, (tuple, list)) or len(hs) != len(self.spec.states):
            return None
        for h, size in zip(hs, self._state_sizes(), strict=True):
            if (not isinstance(h, Tensor) or h.shape != (stack, batch, size)
                    or h.dtype != x.dtype or h.device != x.device):
                return None
        return x, list(hs)

    def forward(self, input: Tensor | PackedSequence, hx: object = None, *,
                lengths: Tensor | Sequence[int] | None = None):
        """Run every layer and direction. Returns ``(output, h_n)`` as the torch.nn namesake.

        ``lengths`` (B,) marks right-padded sequences: output past each end is zero, h_n
        is the state at each sequence's own last step and the reverse direction starts
        there. A ``PackedSequence`` input gives a ``PackedSequence`` output.
        """
        plain = self._plain(input, hx) if lengths is None else None
        if plain is not None:  # the common call: nothing to unpack, check or pack again
            y, h_n = self._layers(*plain, None)
            return (y if self.batch_first else y.transpose(0, 1)), self._states_to_hx(h_n)
        cls = type(self).__name__
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError(f"{cls}: pass either a PackedSequence or lengths=, not both.")
            x, lens = pad_packed_sequence(input, batch_first=True)  # (B, T, I), (B,)
            unbatched = False
            self._check_input(x)
        else:
            self._check_input(input)
            unbatched = input.dim() == 2
            if unbatched:
                if lengths is not None:
                    raise ValueError(f"{cls}: lengths= needs a batch; the input is 2-D "
                                     f"(unbatched). Add a batch dimension.")
                x = input.unsqueeze(0)  # (1, T, I)
            else:
                x = input if self.batch_first else input.transpose(0, 1)  # (B, T, I)
            lens = lengths
        batch, steps = x.shape[0], x.shape[1]
        lens = as_lengths(lens, batch, steps, cls)
        if self.check_finite:  # inside the lengths only: no step past them is read
            _check_finite(zero_padding(x, lens), "input", cls)
        if hx is None:
            states = [x.new_zeros(self.num_layers * self.num_directions, batch, s)
                      for s in self._state_sizes()]  # each (L·D, B, S)
        else:
            states = self._hx_to_states(hx, batch, unbatched, x)

        y, h_n = self._layers(x, states, lens)  # (B, T, D·S), each (L·D, B, S)

        if packed:
            order = input.sorted_indices
            y_sorted = y if order is None else y.index_select(0, order)
            lens_sorted = lens if order is None else lens.index_select(0, order.cpu())
            p = pack_padded_sequence(y_sorted, lens_sorted, batch_first=True)
            out = PackedSequence(p.data, p.batch_sizes, input.sorted_indices,
                                 input.unsorted_indices)
        elif unbatched:
            out = y.squeeze(0)
            h_n = [h.squeeze(1) for h in h_n]
        else:
            out = y if self.batch_first else y.transpose(0, 1)
        return out, self._states_to_hx(h_n)
