"""Keras-style recurrent layers on ``grukit.nn`` (so the fused kernels serve them).

Batch first, units first: ``GRU(64, input_shape=(100, 1))`` takes (B, 100, 1) and returns
(B, 64), or (B, 100, 64) with ``return_sequences=True``. Weights follow torch's layout (the
``grukit.nn`` module sits in ``.rnn``); ``grukit.convert`` maps Keras weights onto them.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .. import cells
from ..cells import CellSpec
from ..nn import check_backend
from ..ops import dispatch, reverse_within
from .core import Layer, check_rate, check_seed, check_switch, positive_int, register


def _single_bias(module) -> None:
    """Keras' one bias vector on a ``grukit.nn`` module that has torch's two (LSTM, RNN):
    ``bias_hh_*`` is folded into ``bias_ih_*`` and kept as a zero buffer, not a parameter.
    It stays in the state dict under its name, so torch-layout weights, model files and
    Keras converters load and round-trip as before; a loaded non-zero ``bias_hh`` is folded
    in again (``_fold_bias``). The layer then counts and trains Keras' parameters (LSTM(16)
    on 3 features: 1,280), and the bias learns at the optimizer's rate, not twice it."""
    folded = False
    for name, p in list(module.named_parameters(recurse=False)):
        if name.startswith("bias_hh"):
            with torch.no_grad():
                module._parameters[name.replace("bias_hh", "bias_ih", 1)].add_(p)
            del module._parameters[name]
            module.register_buffer(name, torch.zeros_like(p, requires_grad=False))
            folded = True
    if folded:
        module.register_load_state_dict_post_hook(_fold_bias)


def _fold_bias(module, incompatible_keys) -> None:
    """After ``load_state_dict``: a ``bias_hh_*`` buffer loaded non-zero (torch's layout) is
    added to its ``bias_ih_*`` and zeroed, so the sum, the one bias Keras has, is trained."""
    with torch.no_grad():
        for name, b in module.named_buffers(recurse=False):
            if name.startswith("bias_hh") and bool(b.any()):
                module._parameters[name.replace("bias_hh", "bias_ih", 1)].add_(b)
                b.zero_()


class _Recurrent(Layer):
    """A Keras-style layer on the ``grukit.nn`` module of its cell's spec.

    Keyword options of the cell (``reset_after`` for a GRU, ``activation`` for SimpleRNN:
    the spec's ``options`` under their Keras names, ``keras_options``) are passed to the
    module; so are the initialisation options a caller sets (the spec's ``init_options``:
    ``forget_bias`` for an LSTM, ``gate_masks`` for GRU-D), ``recurrent_dropout``,
    ``zoneout`` (cells that have it) and ``backend`` ("auto" or a backend of the cell's op,
    checked here).

    ``dropout`` drops input features before the layer, as Keras' does: one mask (B, F) per
    call, the same features of a sequence dropped at every step. A cell whose input packs several
    tensors (GRU-D: [x, m, δ]) must not have its mask and δ dropped and rescaled, so there
    ``dropout`` is the module's ``input_dropout`` instead (GRU-D drops [x̂, m] where the gates
    read them, as Che et al.'s Keras layer does).
    """

    spec: ClassVar[CellSpec] = cells.GRU
    # Keras' kernel, recurrent kernel and bias(es) of every direction
    REGULARIZED = {"kernel_regularizer": ("weight_ih",), "recurrent_regularizer": ("weight_hh",),
                   "bias_regularizer": ("bias_ih", "bias_hh")}

    def __init__(self, units: int, *, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 zoneout: float = 0.0, backend: str = "auto", input_shape=None,
                 name: str | None = None, trainable: bool = True, **options):
        keras_args = {k: options.pop(k) for k in
                      (*self.REGULARIZED, *self.initialized(), *self.constrained(),
                       "activity_regularizer")
                      if k in options}
        cls, spec = type(self).__name__, self.spec
        # Keras' LSTM: a forget-gate bias of one on top of the bias initializer
        forget = options.pop("unit_forget_bias", True) if spec.keras == "LSTM" else False
        # Keras' use_bias (GRU, LSTM, SimpleRNN): False builds the module without biases
        use_bias = check_switch(options.pop("use_bias", True) if spec.keras else True,
                                f"{cls}: use_bias")
        # Keras' activation / recurrent_activation of a GRU or LSTM (tanh, σ by default)
        gated = spec.keras in ("GRU", "LSTM")
        acts = {k: options.pop(k) for k in ("activation", "recurrent_activation")
                if gated and k in options}
        forget = check_switch(forget, f"{cls}: unit_forget_bias")
        super().__init__(input_shape=input_shape, name=name, trainable=trainable,
                         **keras_args)
        self.unit_forget_bias = bool(forget)
        self.use_bias = bool(use_bias)
        from ..ops import activations

        named = {k: activations.check(v, f"{cls}: {k}") for k, v in acts.items()}
        self._activations = {k: v for k, v in named.items()  # those other than tanh, σ
                             if v != {"activation": "tanh", "recurrent_activation": "sigmoid"}[k]}
        units = positive_int(units, f"{cls}: units")
        return_sequences, return_state, go_backwards, stateful = (
            check_switch(v, f"{cls}: {k}") for k, v in (
                ("return_sequences", return_sequences), ("return_state", return_state),
                ("go_backwards", go_backwards), ("stateful", stateful)))
        dropout = check_rate(dropout, f"{cls}: dropout")
        recurrent_dropout = check_rate(recurrent_dropout, f"{cls}: recurrent_dropout")
        if recurrent_dropout and not spec.recurrent:
            raise ValueError(f"{cls} has no recurrent weights, so recurrent_dropout does not "
                             f"apply; use dropout.")
        zoneout = check_rate(zoneout, f"{cls}: zoneout")
        if zoneout and not spec.zoneout:
            owners = ", ".join(s.layer for s in cells.all_specs() if s.zoneout)
            raise ValueError(f"{cls}: zoneout is available for {owners}; leave it at 0.")
        if go_backwards and spec.packed > 1:  # GRU-D: δ counts forward in time
            raise ValueError(f"{cls}: go_backwards=True would reverse the packed "
                             f"{spec.packed}-tensor input (the time since each variable was "
                             f"last seen counts forward), so {spec.display} runs forward "
                             f"only; leave go_backwards=False.")
        self.backend = check_backend(spec, backend, cls)
        keras_names = {spec.keras_options.get(k, k): k for k in spec.options}  # Keras -> nn
        inits = [k for k in spec.init_options if k != "input_dropout"]  # that one is dropout
        # Keras' unroll=True writes the loop out step by step: the same numbers, so it is
        # taken, checked and kept in the config (layer.unroll, as Keras')
        self.unroll = bool(check_switch(options.pop("unroll", False), f"{cls}: unroll")) \
            if spec.keras else False
        # Keras' seed: the dropout masks drawn from it (see call); use_cudnn: grukit picks
        # its kernels with backend, so Keras' default "auto" alone is taken
        self.seed = check_seed(options.pop("seed", None), cls) if spec.keras else None
        if spec.keras and options.get("use_cudnn", "auto") != "auto":
            raise ValueError(f"{cls}: use_cudnn={options['use_cudnn']!r} has no grukit form "
                             f"(grukit picks the kernel); leave it at 'auto' and name "
                             f"backend='torch' for torch's own (cuDNN on a GPU) or a grukit "
                             f"kernel ({', '.join(dispatch.backends(spec.name))}).")
        options.pop("use_cudnn", None)
        unknown = sorted(set(options) - set(keras_names) - set(inits))
        if unknown:
            valid = sorted(keras_names) + inits
            raise TypeError(f"{cls} got unexpected keyword argument(s) {', '.join(unknown)}; "
                            f"its cell options are {', '.join(valid) or 'none'}.")
        if dropout and spec.packed > 1 and "input_dropout" not in spec.init_options:
            raise ValueError(f"{cls}: dropout would drop the {spec.display} input's packed "
                             f"tensors alike; leave it at 0.")
        self._options = tuple(keras_names)  # layer.reset_after, layer.activation, ...
        for k, n in keras_names.items():
            value = options.get(k, spec.options[n])
            if isinstance(spec.options[n], bool):  # reset_after="False" is truthy: refused here
                value = check_switch(value, f"{cls}: {k}")  # as Keras' 0 / 1 are, not at build
            setattr(self, k, value)
        # initialisation options the caller set (the spec's baseline holds for the others)
        self._inits = {k: options[k] for k in inits if k in options}
        self.recurrent_dropout, self.zoneout = recurrent_dropout, zoneout
        self.units, self.return_sequences, self.return_state = units, return_sequences, \
            return_state
        self.go_backwards, self.stateful, self.dropout = go_backwards, stateful, dropout
        self._state = None

    def __setattr__(self, name: str, value) -> None:
        # a cell option (activation, reset_after) set after build would reach the config,
        # and so a saved model, but not the module built from it (Keras has no setter)
        if name in self.__dict__.get("_options", ()) and "rnn" in self.__dict__.get(
                "_modules", {}):
            raise AttributeError(f"{type(self).__name__}: {name} is fixed once the layer is "
                                 f"built (its module computes {name}={getattr(self, name)!r});"
                                 f" make a new layer with {name}={value!r}.")
        super().__setattr__(name, value)

    @classmethod
    def initialized(cls) -> dict[str, str]:
        """Keras' three initializers where the cell has Keras' layout (GRU, LSTM,
        SimpleRNN): glorot-uniform kernel, orthogonal recurrent kernel, zero bias."""
        if cls.spec.keras is None or cls.spec.packed > 1:
            return {}
        return {"kernel_initializer": "glorot_uniform", "recurrent_initializer": "orthogonal",
                "bias_initializer": "zeros"}

    def slots(self, n: int) -> list[str]:
        """kernel, recurrent kernel (and bias) of each direction."""
        names = list(self.initialized())[:3 if self.use_bias else 2]
        return names * (n // len(names))

    def draw(self, arg: str, shape: tuple) -> np.ndarray:
        """Keras' LSTM bias: [b(H), 1 (H), b(2H)] with ``unit_forget_bias`` (gates i, f, c,
        o); a ``forget_bias`` given sets the forget gate's part."""
        if arg != "bias_initializer" or self.spec.keras != "LSTM":
            return super().draw(arg, shape)
        h, init = self.units, self.initializers[arg]
        if not self.unit_forget_bias:
            out = init(shape)
        else:
            out = np.concatenate([init((h,)), np.ones(h), init((2 * h,))])  # (4H,)
        if self._inits.get("forget_bias") is not None:
            out[h:2 * h] = self._inits["forget_bias"]
        return out

    def _make(self, features: int, bidirectional: bool = False):
        spec = self.spec
        nn_options = {n: getattr(self, spec.keras_options.get(n, n)) for n in spec.options}
        extra = {"zoneout": self.zoneout} if self.zoneout else {}
        if spec.keras == "LSTM" and not self.unit_forget_bias and "forget_bias" not in \
                self._inits:  # torch's start of the bias, without the baseline's forget bias
            extra["forget_bias"] = None
        extra |= self._activations
        if not self.use_bias:
            extra["bias"] = False
        if spec.packed > 1 and self.dropout:  # on [x̂, m] inside the cell, not on [x, m, δ]
            extra["input_dropout"] = self.dropout
        self._features = features  # the input's width from now on
        module = spec.build(features, self.units, batch_first=True,
                            bidirectional=bidirectional, recurrent_dropout=self.recurrent_dropout,
                            backend=self.backend, **extra, **nn_options, **self._inits)
        if spec.keras is not None and spec.keras_bias == "sum":  # LSTM, SimpleRNN: Keras'
            _single_bias(module)  # one bias (the sum; elsewhere b_hh is not a plain sum)
        return module.train(self.training)  # a layer built after .eval() stays in eval mode

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{type(self).__name__} expects input of shape (batch, time, "
                             f"features); got (batch, {', '.join(map(str, input_shape))}).")
        self.rnn = self._make(input_shape[-1])
        super().build(input_shape)

    def reset_states(self) -> None:
        """Forget the state carried between batches (``stateful=True``)."""
        self._state = None

    def reset_state(self) -> None:
        """Keras 3's name for ``reset_states``."""
        self.reset_states()

    def call(self, x: Tensor, lengths: Tensor | None):
        if x.dim() != 3 or x.shape[-1] != self._features:  # as Keras' input spec checks
            raise ValueError(f"{type(self).__name__} was built for input of shape (batch, "
                             f"time, {self._features}); got {tuple(x.shape)}.")
        if self.seed is None or not self.training or not (
                self.dropout or self.recurrent_dropout or self.zoneout):
            return self._run(x, lengths)
        # Keras' seed: this call's masks drawn from a seed the layer's own generator gives
        # (a new one each call), torch's global random state left as it was
        gen = self.__dict__.setdefault("_seeds", torch.Generator().manual_seed(
            self.seed % 2**64))
        draw = int(torch.randint(0, 2**62, (), generator=gen))
        with torch.random.fork_rng(devices=[x.device] if x.is_cuda else [],
                                   device_type=x.device.type if x.is_cuda else "cuda"):
            torch.manual_seed(draw)
            return self._run(x, lengths)

    def _run(self, x: Tensor, lengths: Tensor | None):
        if self.spec.packed == 1 and self.dropout and self.training:  # a packed input's
            # dropout is the module's (see _make); Keras' mask is one per sequence, the same
            # features dropped at every step (Gal & Ghahramani 2016)
            keep = F.dropout(x.new_ones(x.shape[0], 1, x.shape[2]), self.dropout)  # (B, 1, F)
            x = x * keep
        if self.go_backwards:
            x = reverse_within(x, None if lengths is None else lengths.cpu())
        hx = self._state if self.stateful and self._state is not None else None
        if hx is not None and _batch(hx) != x.shape[0]:
            raise ValueError(f"{type(self).__name__}(stateful=True) carries state for batch "
                             f"{_batch(hx)}; got {x.shape[0]}. Keep the batch size fixed or "
                             f"call reset_states().")
        y, h = self.rnn(x, hx, lengths=lengths)  # (B, T, D·H), state
        if self.stateful:
            self._state = tuple(s.detach() for s in h) if isinstance(h, tuple) else h.detach()
        if self.return_sequences:
            out = y
            if lengths is not None and self.rnn.num_directions == 1:
                if self.go_backwards:  # Keras ran the padded sequence reversed: padding first
                    out = reverse_within(y, lengths.cpu()).flip(1)  # y[b, T − 1 − t]
                else:  # Keras: a masked step repeats the last output
                    out = _carry_last(y, lengths)
        else:
            out = _last(h, self.rnn.num_directions)
        if self.return_state:
            states = list(h) if isinstance(h, tuple) else [h]
            return [out] + [s[-1] for s in states], lengths
        return out, (lengths if self.return_sequences else None)

    def _config(self):
        cfg = {"units": self.units, "return_sequences": self.return_sequences,
               "return_state": self.return_state, "go_backwards": self.go_backwards,
               "stateful": self.stateful, "dropout": self.dropout,
               "recurrent_dropout": self.recurrent_dropout}
        if self.spec.zoneout:
            cfg["zoneout"] = self.zoneout
        if self.spec.keras == "LSTM" and not self.unit_forget_bias:
            cfg["unit_forget_bias"] = False
        cfg |= self._activations
        if not self.use_bias:
            cfg["use_bias"] = False
        if self.unroll:
            cfg["unroll"] = True
        if self.seed is not None:
            cfg["seed"] = self.seed
        return cfg | {"backend": self.backend} | {k: getattr(self, k) for k in self._options} \
            | self._inits


def _carry_last(y: Tensor, lengths: Tensor) -> Tensor:
    """y (B, T, H) with each step past its sequence's length holding the sequence's last
    output, y[b, t] = y[b, min(t, n_b − 1)], as Keras' recurrent layers fill masked steps
    (torch's convention, which the module keeps, is zeros)."""
    t = torch.arange(y.shape[1], device=y.device)
    last = (lengths.to(y.device).unsqueeze(1) - 1).clamp_min(0)  # (B, 1)
    idx = torch.minimum(t.unsqueeze(0), last)  # (B, T)
    return y.gather(1, idx.unsqueeze(-1).expand(-1, -1, y.shape[-1]))


def _batch(h) -> int:
    return (h[0] if isinstance(h, tuple) else h).shape[1]


def _last(h, directions: int) -> Tensor:
    """The top layer's final state, directions concatenated: (B, D·H)."""
    h = h[0] if isinstance(h, tuple) else h  # (L·D, B, H)
    return torch.cat(list(h[-directions:]), dim=1)


@register
class GRU(_Recurrent):
    """Keras ``GRU(units, ...)`` on ``grukit.nn.GRU``; ``reset_after`` as in Keras 3,
    ``zoneout`` (Krueger et al. 2017) as haste's."""

    spec = cells.GRU


@register
class LSTM(_Recurrent):
    """Keras ``LSTM(units, ...)`` on ``grukit.nn.LSTM``, forget-gate bias 1 (Keras'
    ``unit_forget_bias``)."""

    spec = cells.LSTM


@register
class SimpleRNN(_Recurrent):
    """Keras ``SimpleRNN(units, activation="tanh")`` on ``grukit.nn.RNN``:
    ``h' = act(W x + U h + b)``. ``activation`` is any of Keras' elementwise activations
    (``grukit.ops.activations.ELEMENTWISE``: "tanh", "relu", "sigmoid", "elu", "gelu",
    "linear" or None, ...; or Keras' function of one, ``keras.activations.sigmoid``): tanh and
    relu run on the fused kernels, the others on the reference backend ("auto" takes it)."""

    spec = cells.RNN

    def __init__(self, units: int, *, activation="tanh", **kwargs):
        from ..ops.activations import check

        name = check(activation, "SimpleRNN: activation")  # keras.activations.relu -> "relu"
        super().__init__(units, activation="linear" if name is None else name, **kwargs)


@register
class MinGRU(_Recurrent):
    """minGRU (Feng et al. 2024) on ``grukit.nn.MinGRU``; no recurrent weights, so no
    ``recurrent_dropout``."""

    spec = cells.MINGRU


def layer_for(spec: CellSpec) -> type:
    """The Keras-style layer class of a cell: one of the above, or one made (and
    registered for ``from_config``) from the spec of a cell that has no class here."""
    found = next((c for c in _Recurrent.__subclasses__() if c.spec == spec), None)
    if found is not None:
        return found
    doc = f"Keras-style {spec.display} layer ({spec.doc}) on ``{spec.module}``."
    return register(type(spec.layer, (_Recurrent,), {"spec": spec, "__doc__": doc,
                                                     "__module__": __name__}))


MERGE_MODES = ("concat", "sum", "mul", "ave")


def _same_directions(forward, backward) -> None:
    """Refuse a ``backward_layer`` that is not ``forward`` run backwards, naming what
    differs (Keras' own check: go_backwards opposite to the forward layer's)."""
    fk, bk = type(forward).__name__, type(backward).__name__
    if not isinstance(forward, _Recurrent) or not isinstance(backward, _Recurrent):
        return  # the wrapped layer's kind is checked below
    if not backward.go_backwards:
        raise ValueError("Bidirectional: backward_layer must have go_backwards=True (the "
                         "forward layer's opposite), as in Keras.")
    if fk != bk:
        differ = [f"layer: forward {fk}, backward {bk}"]
    else:
        f, b = forward.get_config()["config"], backward.get_config()["config"]
        free = {"name", "go_backwards"}
        differ = [f"{k}: forward {f.get(k)!r}, backward {b.get(k)!r}"
                  for k in sorted((f.keys() | b.keys()) - free) if f.get(k) != b.get(k)]
    if differ:
        raise ValueError(f"Bidirectional: the directions differ ({'; '.join(differ)}), and "
                         f"grukit's Bidirectional runs one configuration both ways; build "
                         f"backward_layer alike (or leave it out).")


@register
class Bidirectional(Layer):
    """Runs a recurrent layer both ways and merges the two outputs f, b (B, [T,] H) as
    Keras' ``merge_mode``: "concat" [f, b] (B, [T,] 2H), "sum" f + b, "mul" f ⊙ b,
    "ave" (f + b) / 2. Keras' ``backward_layer`` is taken when it is the wrapped layer
    with ``go_backwards=True`` (its name aside): both directions run one configuration."""

    def __init__(self, layer: _Recurrent, merge_mode: str = "concat", backward_layer=None,
                 **kwargs):
        super().__init__(**kwargs)
        if backward_layer is not None:
            _same_directions(layer, backward_layer)
        if not isinstance(layer, _Recurrent):
            kinds = ", ".join(s.layer for s in cells.all_specs())
            raise TypeError(f"Bidirectional wraps a recurrent layer ({kinds}); got "
                            f"{type(layer).__name__}.")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"Bidirectional: merge_mode must be one of "
                             f"{', '.join(map(repr, MERGE_MODES))}; got {merge_mode!r} (None, "
                             f"two outputs, is not supported).")
        self.merge_mode = merge_mode
        if layer.go_backwards or layer.stateful or layer.return_state:
            raise ValueError("Bidirectional: the wrapped layer cannot be go_backwards, stateful "
                             "or return_state.")
        self.layer = layer
        if self.input_shape is None:
            self.input_shape = layer.input_shape

    def build(self, input_shape):
        self.layer.rnn = self.layer._make(input_shape[-1], bidirectional=True)
        self.layer.built = True
        self.layer.initialize()  # each direction from the wrapped layer's initializers
        super().build(input_shape)

    def call(self, x, lengths):
        y, lengths = self.layer.call(x, lengths)  # (B, [T,] 2H): forward, then backward
        if self.merge_mode == "concat":
            return y, lengths
        f, b = y.chunk(2, dim=-1)
        merged = {"sum": lambda: f + b, "mul": lambda: f * b,
                  "ave": lambda: (f + b) / 2}[self.merge_mode]()
        return merged, lengths

    def _config(self):
        return {} if self.merge_mode == "concat" else {"merge_mode": self.merge_mode}

    def get_config(self):
        cfg = super().get_config()
        cfg["config"]["layer"] = self.layer.get_config()
        return cfg
