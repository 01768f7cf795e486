"""Weights between grukit, torch.nn and Keras 3 recurrent layers, both ways.

Layouts (H = units, I = input features):

- torch.nn / grukit: ``weight_ih`` (G·H, I), ``weight_hh`` (G·H, H), ``bias_ih``, ``bias_hh``
  (G·H,); GRU gates r, z, n; LSTM gates i, f, g, o.
- Keras: ``kernel`` (I, G·H), ``recurrent_kernel`` (H, G·H) — transposed; GRU gates z, r, h;
  LSTM gates i, f, c, o (same as torch). Bias: GRU ``reset_after=True`` (2, 3H) = [input
  bias; recurrent bias], ``reset_after=False`` (3H,) (no recurrent bias), LSTM and SimpleRNN
  one (G·H,) bias, the sum of torch's two.

Keras layers hold one layer and one direction (``Bidirectional`` wraps two); torch-style
stacked layers convert layer by layer.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import cells
from . import nn as gnn
from .cells import CellSpec
from .ops import activations

_CONFIG = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
           "bidirectional")


def _blocks(a: np.ndarray, gates: int, order: tuple[int, ...] | None, axis: int) -> np.ndarray:
    """Gate blocks of ``a`` along ``axis`` put in ``order`` (None: unchanged); each cell's
    Keras order is its own inverse (GRU: torch [r, z, n] <-> Keras [z, r, h])."""
    if order is None:
        return a
    parts = np.split(a, gates, axis=axis)
    return np.concatenate([parts[i] for i in order], axis=axis)


def _names(attr: str) -> str:
    return ", ".join(getattr(s, attr) for s in cells.all_specs() if getattr(s, attr))


def _not_a_layer(module) -> None:
    """Refuse a grukit.layers layer: it holds the nn module (``.rnn``) and is not one."""
    held = "layer.rnn" if isinstance(getattr(module, "rnn", None), nn.Module) else \
        "layer.layer.rnn" if isinstance(getattr(getattr(module, "layer", None), "rnn", None),
                                        nn.Module) else None
    if held and not isinstance(module, (gnn.RecurrentBase, nn.RNNBase)):
        backwards = getattr(module, "go_backwards", False) or \
            getattr(getattr(module, "layer", None), "go_backwards", False)
        note = (" Its go_backwards=True belongs to the layer, not to the module: the "
                "converted module reads time forward, so reverse each sequence before it "
                "(and set go_backwards=True on a Keras layer) to get the layer's outputs."
                ) if backwards else ""
        raise TypeError(f"{type(module).__name__} is a Keras-style grukit.layers layer, not a "
                        f"grukit.nn module; convert the module it holds, {held}.{note}")


def _spec(module: nn.Module) -> CellSpec:
    """The cell spec of a grukit.nn or torch.nn recurrent module (not a one-step cell)."""
    _not_a_layer(module)
    if isinstance(module, gnn.RecurrentBase):
        return module.spec
    spec = next((s for s in cells.all_specs()
                 if s.torch and isinstance(module, getattr(nn, s.torch))), None)
    if spec is None:
        raise TypeError(f"expected a recurrent module of grukit.nn or torch.nn "
                        f"({_names('torch')}); got {type(module).__name__}.")
    return spec


def _no_zoneout(module: nn.Module, target: str) -> None:
    """Refuse a module with zoneout: in evaluation it steps h' = p h + (1 − p) h̃, which
    ``target`` has not, so the converted layer would predict otherwise."""
    rate = getattr(module, "zoneout", 0)
    if rate:
        raise ValueError(f"{type(module).__name__} with zoneout={rate} computes h' = p h + "
                         f"(1 − p) h̃ in evaluation, which {target} has not, so the converted "
                         f"layer would predict otherwise; convert a module with zoneout=0.")


def _options(spec: CellSpec, reset_after: bool) -> dict:
    """The options that decide a layer's parameters, from the converters' arguments."""
    return {"reset_after": reset_after} if "reset_after" in spec.options else {}


# -- Keras --------------------------------------------------------------------------------

def _keras_layer_spec(layer, backward: bool = False) -> CellSpec:
    """The spec of one Keras recurrent layer; ``backward``: the reversed direction of a
    Bidirectional (its ``go_backwards=True`` is expected there)."""
    import keras  # optional dependency; the layer given is a Keras one

    name = type(layer).__name__
    spec = cells.by_keras(name)
    if not isinstance(layer, keras.layers.Layer):
        raise TypeError(f"expected a Keras {_names('keras')} or Bidirectional layer; got "
                        f"{type(layer).__module__}.{name} (a torch.nn module converts with "
                        f"from_torch, a grukit.nn one needs no conversion, and to_keras makes "
                        f"the Keras layer of either).")
    if spec is None:
        raise TypeError(f"expected a Keras {_names('keras')} or Bidirectional layer; "
                        f"got {name}.")
    if not layer.built:
        raise ValueError(f"the Keras {name} layer is not built, so its weights do not exist "
                         f"yet; call it on data or layer.build((None, None, features)) first.")
    cell = layer.cell
    given = ["activation"]  # SimpleRNN's one; a GRU's and LSTM's recurrent one too
    if "activation" not in spec.keras_options.values():
        given.append("recurrent_activation")
    for what in given:
        fn = getattr(cell, what)
        # Keras' own function (a function of the user's that shares its name is not it)
        if activations.name_of(fn) not in activations.ELEMENTWISE:
            shown = getattr(fn, "__name__", str(fn))
            mod = getattr(fn, "__module__", None) or ""
            own = "" if mod.startswith("keras") else f" (a function of {mod or 'your own'})"
            raise ValueError(f"Keras {name} uses {what}={shown!r}{own}, which grukit has no "
                             f"form for; it takes Keras' "
                             f"{', '.join(k for k in activations.ELEMENTWISE if k)}.")
    if layer.go_backwards and not backward:
        raise ValueError(f"Keras {name} has go_backwards=True; wrap it in Bidirectional or "
                         f"reverse the input yourself before converting.")
    return spec


def _keras_cell(kind: str) -> CellSpec:
    """The spec of ``kind`` (a name in ``grukit.cells``), refused when Keras has no such
    layer, whose weight list could be meant."""
    spec = cells.get(kind)
    if spec.keras is None:
        kinds = ", ".join(repr(s.name) for s in cells.all_specs() if s.keras)
        raise ValueError(f"Keras has no {spec.display} layer; the weight lists convert for "
                         f"Keras' {_names('keras')} (kind {kinds}).")
    return spec


def keras_to_torch_weights(weights: list[np.ndarray], kind: str, reset_after: bool = True
                           ) -> dict[str, torch.Tensor]:
    """Keras ``get_weights()`` of one GRU/LSTM/SimpleRNN -> torch-named tensors (one layer);
    ``kind`` is the cell's name in ``grukit.cells`` ("gru")."""
    spec = _keras_cell(kind)
    gates, order = spec.gates, spec.keras_order
    weights = [w.detach().cpu().numpy() if isinstance(w, torch.Tensor) else np.asarray(w)
               for w in weights]  # arrays, also from Keras variables (layer.weights) or lists
    if len(weights) not in (2, 3):
        raise ValueError(f"expected the 2 or 3 arrays of one Keras {spec.keras} layer and "
                         f"direction (kernel, recurrent_kernel[, bias]); got {len(weights)}.")
    kernel, recurrent = weights[0], weights[1]
    units = recurrent.shape[0] if recurrent.ndim == 2 else -1
    bias_shape = ((2, gates * units) if spec.keras_bias == "stack" and spec.has_param(
        "bias_hh", **_options(spec, reset_after)) else (gates * units,))
    expected = [(kernel.shape[0] if kernel.ndim == 2 else "I", gates * units),
                (units, gates * units), bias_shape][:len(weights)]
    if units < 1 or [tuple(w.shape) for w in weights] != expected:
        rest = f", reset_after={reset_after}" if "reset_after" in spec.options else ""
        raise ValueError(f"the weights have shapes {[tuple(w.shape) for w in weights]}, not "
                         f"those of a Keras {spec.keras} with units={units}"
                         f"{rest} ({expected}); pass that layer's get_weights() with its kind and "
                         f"reset_after.")
    out = {
        "weight_ih": _blocks(kernel, gates, order, axis=1).T,  # (I, G·H) -> (G·H, I)
        "weight_hh": _blocks(recurrent, gates, order, axis=1).T,  # (H, G·H) -> (G·H, H)
    }
    if len(weights) > 2:
        bias = weights[2]
        if not spec.has_param("bias_hh", **_options(spec, reset_after)):
            out["bias_ih"] = _blocks(bias, gates, order, axis=0)  # (G·H,)
        elif spec.keras_bias == "stack":  # (2, G·H) = [input bias; recurrent bias]
            out["bias_ih"] = _blocks(bias[0], gates, order, axis=0)
            out["bias_hh"] = _blocks(bias[1], gates, order, axis=0)
        else:  # one (G·H,) vector, the sum of torch's two
            out["bias_ih"] = _blocks(bias, gates, order, axis=0)
            out["bias_hh"] = np.zeros_like(bias)
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}


def torch_to_keras_weights(params: dict[str, torch.Tensor | None], kind: str,
                           reset_after: bool = True) -> list[np.ndarray]:
    """torch-named tensors of one layer and direction -> Keras ``set_weights()`` list."""
    spec = _keras_cell(kind)
    gates, order = spec.gates, spec.keras_order

    missing = [k for k in ("weight_ih", "weight_hh")
               if not isinstance(params.get(k), torch.Tensor)]
    if missing:
        raise ValueError(f"{' and '.join(missing)} missing (or not a tensor); pass weight_ih, "
                         f"weight_hh, bias_ih and bias_hh of one layer and direction.")
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    units = w_hh.shape[1] if w_hh.dim() == 2 else -1
    shapes = {k: tuple(v.shape) for k, v in params.items() if v is not None}
    expected = {"weight_ih": (gates * units, w_ih.shape[-1]), "weight_hh": (gates * units, units),
                "bias_ih": (gates * units,), "bias_hh": (gates * units,)}
    if units < 1 or any(shapes[k] != expected.get(k) for k in shapes):
        raise ValueError(f"the tensors have shapes {shapes}, not those of one layer and "
                         f"direction of a torch {spec.display} with hidden_size={units} and no "
                         f"projection ({expected}); pass weight_ih, weight_hh, bias_ih and "
                         f"bias_hh of one layer and direction.")
    b_hh = params.get("bias_hh")
    if b_hh is not None and not spec.has_param("bias_hh", **_options(spec, reset_after)) \
            and bool(b_hh.ne(0).any()):
        raise ValueError(f"bias_hh is non-zero, but a reset_after={reset_after} "
                         f"{spec.display} has no recurrent bias, so it would be lost; convert "
                         f"with the reset_after the weights were trained with.")

    def np_(t):  # float64 stays float64; other floats (bfloat16 has no numpy) -> float32
        t = t.detach().cpu()
        return t.numpy() if t.dtype == torch.float64 else t.float().numpy()

    out = [_blocks(np_(params["weight_ih"]).T, gates, order, axis=1),  # (I, G·H)
           _blocks(np_(params["weight_hh"]).T, gates, order, axis=1)]  # (H, G·H)
    b_ih, b_hh = params.get("bias_ih"), params.get("bias_hh")
    has_hh = spec.has_param("bias_hh", **_options(spec, reset_after))
    if b_ih is not None or (b_hh is not None and has_hh):  # the one not given is zero
        b_i = np_(b_ih) if b_ih is not None else np.zeros_like(np_(b_hh))
        b_h = np_(b_hh) if b_hh is not None else np.zeros_like(b_i)
        if not has_hh:
            out.append(_blocks(b_i, gates, order, 0))  # (G·H,)
        elif spec.keras_bias == "stack":
            out.append(np.stack([_blocks(b_i, gates, order, 0),
                                 _blocks(b_h, gates, order, 0)]))  # (2, G·H)
        else:
            out.append(_blocks(b_i + b_h, gates, order, 0))  # (G·H,)
    return out


def _keras_value(value):
    return getattr(value, "__name__", value)  # an activation function -> its name


def _keras_config(layer, backward: bool = False) -> tuple[CellSpec, dict, int, bool]:
    """(spec, nn options, units, use_bias) of one Keras recurrent layer, checked."""
    spec = _keras_layer_spec(layer, backward)
    cell = layer.cell
    options = {k: _keras_value(getattr(cell, v)) for k, v in spec.keras_options.items()}
    options = {k: bool(v) if isinstance(spec.options[k], bool) else v
               for k, v in options.items()}
    if spec.keras in ("GRU", "LSTM"):  # Keras' activations (grukit.nn's keyword options)
        options |= {k: _keras_value(getattr(cell, k))
                    for k in ("activation", "recurrent_activation")}
    return spec, options, int(cell.units), bool(cell.use_bias)


def from_keras(layer) -> nn.Module:
    """A built Keras ``GRU``/``LSTM``/``SimpleRNN`` (or ``Bidirectional`` of one, merge
    mode "concat") -> the equivalent ``grukit.nn`` module, ``batch_first=True`` as Keras."""
    bidirectional = type(layer).__name__ == "Bidirectional"
    if bidirectional:
        if layer.merge_mode != "concat":
            raise ValueError(f"Bidirectional merge_mode={layer.merge_mode!r}; only 'concat' "
                             f"matches a bidirectional torch layer.")
        directions = [layer.forward_layer, layer.backward_layer]
    else:
        directions = [layer]
    # (spec, options, units, use_bias) of each direction: a torch layer has one for both
    configs = [_keras_config(d, backward=i == 1) for i, d in enumerate(directions)]
    if len(configs) == 2 and configs[0] != configs[1]:
        (s0, o0, u0, b0), (s1, o1, u1, b1) = configs
        raise ValueError(f"the Bidirectional layer's directions differ (forward: {s0.keras}"
                         f"({u0}, use_bias={b0}, {o0}), backward: {s1.keras}({u1}, use_bias="
                         f"{b1}, {o1})), and a bidirectional torch layer has one configuration; "
                         f"build both directions alike.")
    spec, options, _, _ = configs[0]
    cell = directions[0].cell
    input_size = cell.kernel.shape[0]
    module = spec.module_class()(input_size, cell.units, batch_first=True,
                                 bias=bool(cell.use_bias), bidirectional=bidirectional,
                                 **options)
    reset_after = options.get("reset_after", True)
    state = {}
    for d, direction in enumerate(directions):
        suffix = "_l0" + ("_reverse" if d else "")
        w = keras_to_torch_weights([np.asarray(v) for v in direction.get_weights()],
                                   spec.name, reset_after)
        state.update({k + suffix: v for k, v in w.items()})
    module.to(dtype=state["weight_ih_l0"].dtype)  # a float64 layer gives a float64 module
    module.load_state_dict(state)
    return module


def to_keras(module: nn.Module):
    """A one-layer grukit or torch.nn GRU/LSTM/RNN -> a built Keras 3 layer with the same
    weights, ``return_sequences=True`` and ``return_state=True`` (``Bidirectional`` when the
    module is bidirectional). Keras must be installed (``pip install keras``)."""
    spec = _spec(module)
    if spec.keras is None:
        with_keras = ", ".join(s.display for s in cells.all_specs() if s.keras)
        raise ValueError(f"Keras has no {spec.display} layer; the modules that convert to "
                         f"Keras are {with_keras}.")
    if module.num_layers != 1:
        raise ValueError(f"Keras recurrent layers hold one layer; this module has "
                         f"num_layers={module.num_layers}. Convert a one-layer module per "
                         f"layer.")
    if getattr(module, "proj_size", 0):
        raise ValueError("Keras LSTM has no projection; convert a module with proj_size=0.")
    _no_zoneout(module, f"Keras {spec.keras}")
    import keras  # optional dependency, imported only here

    options = {k: getattr(module, k, spec.options[k]) for k in spec.options}
    kw = dict(use_bias=module.bias, return_sequences=True, return_state=True)
    if module.weight_ih_l0.dtype == torch.float64:  # else Keras' float32 rounds them
        kw["dtype"] = "float64"
    kw |= {v: options[k] for k, v in spec.keras_options.items()}
    kw |= getattr(module, "_activations", {})  # Keras' activation names are grukit's
    make = getattr(keras.layers, spec.keras)
    layer = keras.layers.Bidirectional(make(module.hidden_size, **kw), dtype=kw.get("dtype")) \
        if module.bidirectional else make(module.hidden_size, **kw)
    layer.build((None, None, module.input_size))
    reset_after = options.get("reset_after", True)
    lists = []
    for d in range(2 if module.bidirectional else 1):
        suffix = "_l0" + ("_reverse" if d else "")
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        params = {n: getattr(module, n + suffix, None) for n in names}
        lists += torch_to_keras_weights(params, spec.name, reset_after)
    layer.set_weights(lists)
    return layer


# -- torch.nn -----------------------------------------------------------------------------

def _like(src: nn.Module, dst: nn.Module) -> nn.Module:
    """``dst`` with ``src``'s weights, device, dtype and mode (an evaluation module stays
    one: in training the dropout between layers would change its outputs). Each weight is
    read by its name, so an int8 copy (``quantize_int8``) gives the s ⊙ q it computes with."""
    state = {k: getattr(src, k) for k in dst.state_dict()}  # weight_ih_l0, ...: first
    p = next(iter(state.values()))
    dst.to(device=p.device, dtype=p.dtype)
    dst.load_state_dict(state)
    return dst.train(src.training)


def _one_step(module: nn.Module, ours: bool) -> tuple[type, dict] | None:
    """(the other library's class, extra arguments) of a one-step cell, else None."""
    if ours:
        spec = getattr(type(module), "spec", None)
        if spec is None or isinstance(module, gnn.RecurrentBase) or spec.torch_cell is None:
            return None
        dst = getattr(nn, spec.torch_cell)
    else:
        spec = next((s for s in cells.all_specs() if s.torch_cell and s.cell_module
                     and type(module) is getattr(nn, s.torch_cell)), None)
        if spec is None:
            return None
        dst = spec.cell_class()
    return dst, {k: getattr(module, k) for k in spec.torch_options if k in spec.options}


def from_torch(module: nn.Module) -> nn.Module:
    """A ``torch.nn`` GRU/LSTM/RNN or cell -> the ``grukit.nn`` module with the same weights."""
    _not_a_layer(module)
    if isinstance(module, (gnn.RecurrentBase, gnn.GRUCell, gnn.LSTMCell, gnn.RNNCell)):
        # its own options (reset_after, zoneout, ...) are no torch arguments
        raise TypeError(f"{type(module).__name__} is already a grukit.nn module; from_torch "
                        f"converts torch.nn ones (copy.deepcopy(module) copies it with all "
                        f"its settings).")
    step = _one_step(module, ours=False)
    if step is not None:
        dst, extra = step
        return _like(module, dst(module.input_size, module.hidden_size, module.bias, **extra))
    spec = _spec(module)
    cfg = {k: getattr(module, k) for k in _CONFIG + spec.torch_options}
    return _like(module, spec.module_class()(**cfg))


def to_torch(module: nn.Module) -> nn.Module:
    """A ``grukit.nn`` GRU/LSTM/RNN or cell -> the ``torch.nn`` module with the same weights
    (of an int8 copy from ``quantize_int8``: the dequantized ones it computes with).

    torch.nn has only the ``reset_after=True`` GRU; the textbook form raises ``ValueError``.
    """
    _not_a_layer(module)
    activations.standard(module, "torch.nn")
    spec = getattr(type(module), "spec", None)
    if spec is not None:
        if spec.torch is None:
            raise ValueError(f"torch.nn has no {spec.display}; the modules that convert to "
                             f"torch.nn are {_names('torch')}.")
        for k, default in spec.options.items():
            value = getattr(module, k, default)
            if k not in spec.torch_options and value != default:
                layer = isinstance(module, gnn.RecurrentBase)  # to_keras takes no cells
                where = " converts to Keras (to_keras) but not to torch.nn" if spec.keras \
                    and layer else " does not convert to torch.nn"
                name = spec.torch if layer else spec.torch_cell
                raise ValueError(f"torch.nn.{name} only has the {k}={default} form; a "
                                 f"{k}={value} {spec.display}{'' if layer else ' cell'}"
                                 f"{where}.")
        _no_zoneout(module, f"torch.nn.{spec.torch}")
    step = _one_step(module, ours=True)
    if step is not None:
        dst, extra = step
        return _like(module, dst(module.input_size, module.hidden_size, module.bias, **extra))
    spec = _spec(module)
    cfg = {k: getattr(module, k) for k in _CONFIG + spec.torch_options}
    return _like(module, getattr(nn, spec.torch)(**cfg))
