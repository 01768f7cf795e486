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

from . import nn as gnn

_KERAS_GRU_ORDER = (1, 0, 2)  # torch [r, z, n] <-> Keras [z, r, h]; the map is its own inverse
_CONFIG = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
           "bidirectional")


def _blocks(a: np.ndarray, gates: int, order: tuple[int, ...] | None, axis: int) -> np.ndarray:
    if order is None:
        return a
    parts = np.split(a, gates, axis=axis)
    return np.concatenate([parts[i] for i in order], axis=axis)


def _kind(module: nn.Module) -> str:
    for kind, classes in (("gru", (gnn.GRU, nn.GRU)), ("lstm", (gnn.LSTM, nn.LSTM)),
                          ("rnn", (gnn.RNN, nn.RNN))):
        if isinstance(module, classes):
            return kind
    raise TypeError(f"expected a GRU, LSTM or RNN module (grukit.nn or torch.nn); "
                    f"got {type(module).__name__}.")


# -- Keras --------------------------------------------------------------------------------

def _keras_layer_kind(layer) -> str:
    name = type(layer).__name__
    kinds = {"GRU": "gru", "LSTM": "lstm", "SimpleRNN": "rnn"}
    if name not in kinds:
        raise TypeError(f"expected a Keras GRU, LSTM, SimpleRNN or Bidirectional layer; "
                        f"got {name}.")
    if not layer.built:
        raise ValueError(f"the Keras {name} layer is not built, so its weights do not exist "
                         f"yet; call it on data or layer.build((None, None, features)) first.")
    cell = layer.cell
    act = getattr(cell.activation, "__name__", str(cell.activation))
    if kinds[name] == "rnn":
        if act not in ("tanh", "relu"):
            raise ValueError(f"SimpleRNN activation {act!r} has no torch equivalent; "
                             f"use 'tanh' or 'relu'.")
    else:
        rec = getattr(cell.recurrent_activation, "__name__", str(cell.recurrent_activation))
        if act != "tanh" or rec != "sigmoid":
            raise ValueError(f"Keras {name} uses activation={act!r}, recurrent_activation="
                             f"{rec!r}; only tanh/sigmoid map onto grukit's equations.")
    if layer.go_backwards:
        raise ValueError(f"Keras {name} has go_backwards=True; wrap it in Bidirectional or "
                         f"reverse the input yourself before converting.")
    return kinds[name]


def keras_to_torch_weights(weights: list[np.ndarray], kind: str, reset_after: bool = True
                           ) -> dict[str, torch.Tensor]:
    """Keras ``get_weights()`` of one GRU/LSTM/SimpleRNN -> torch-named tensors (one layer)."""
    gates = {"gru": 3, "lstm": 4, "rnn": 1}[kind]
    order = _KERAS_GRU_ORDER if kind == "gru" else None
    kernel, recurrent = weights[0], weights[1]
    out = {
        "weight_ih": _blocks(kernel, gates, order, axis=1).T,  # (I, G·H) -> (G·H, I)
        "weight_hh": _blocks(recurrent, gates, order, axis=1).T,  # (H, G·H) -> (G·H, H)
    }
    if len(weights) > 2:
        bias = weights[2]
        if kind == "gru" and reset_after:
            out["bias_ih"] = _blocks(bias[0], gates, order, axis=0)
            out["bias_hh"] = _blocks(bias[1], gates, order, axis=0)
        elif kind == "gru":
            out["bias_ih"] = _blocks(bias, gates, order, axis=0)
        else:
            out["bias_ih"] = bias
            out["bias_hh"] = np.zeros_like(bias)
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}


def torch_to_keras_weights(params: dict[str, torch.Tensor | None], kind: str,
                           reset_after: bool = True) -> list[np.ndarray]:
    """torch-named tensors of one layer and direction -> Keras ``set_weights()`` list."""
    gates = {"gru": 3, "lstm": 4, "rnn": 1}[kind]
    order = _KERAS_GRU_ORDER if kind == "gru" else None

    def np_(t):
        return t.detach().cpu().float().numpy()

    out = [_blocks(np_(params["weight_ih"]).T, gates, order, axis=1),  # (I, G·H)
           _blocks(np_(params["weight_hh"]).T, gates, order, axis=1)]  # (H, G·H)
    b_ih, b_hh = params.get("bias_ih"), params.get("bias_hh")
    if b_ih is not None:
        if kind == "gru" and reset_after:
            out.append(np.stack([_blocks(np_(b_ih), gates, order, 0),
                                 _blocks(np_(b_hh), gates, order, 0)]))  # (2, 3H)
        elif kind == "gru":
            out.append(_blocks(np_(b_ih), gates, order, 0))  # (3H,)
        else:
            out.append(np_(b_ih) + (np_(b_hh) if b_hh is not None else 0))  # (G·H,)
    return out


def from_keras(layer) -> gnn.GRU | gnn.LSTM | gnn.RNN:
    """A built Keras ``GRU``/``LSTM``/``SimpleRNN`` (or ``Bidirectional`` of one, merge
    mode "concat") -> the equivalent ``grukit.nn`` module, ``batch_first=True`` as Keras."""
    bidirectional = type(layer).__name__ == "Bidirectional"
    if bidirectional:
        if layer.merge_mode != "concat":
            raise ValueError(f"Bidirectional merge_mode={layer.merge_mode!r}; only 'concat' "
                             f"matches a bidirectional torch layer.")
        directions = [layer.forward_layer, layer.backward_layer]
        kind = _keras_layer_kind(directions[0])
    else:
        kind = _keras_layer_kind(layer)
        directions = [layer]
    cell = directions[0].cell
    reset_after = bool(getattr(cell, "reset_after", True))
    input_size = cell.kernel.shape[0]
    kwargs = dict(batch_first=True, bias=bool(cell.use_bias), bidirectional=bidirectional)
    if kind == "gru":
        module = gnn.GRU(input_size, cell.units, reset_after=reset_after, **kwargs)
    elif kind == "lstm":
        module = gnn.LSTM(input_size, cell.units, **kwargs)
    else:
        act = getattr(cell.activation, "__name__", "tanh")
        module = gnn.RNN(input_size, cell.units, nonlinearity=act, **kwargs)
    state = {}
    for d, direction in enumerate(directions):
        suffix = "_l0" + ("_reverse" if d else "")
        w = keras_to_torch_weights([np.asarray(v) for v in direction.get_weights()], kind,
                                   reset_after)
        state.update({k + suffix: v for k, v in w.items()})
    module.load_state_dict(state)
    return module


def to_keras(module: nn.Module):
    """A one-layer grukit or torch.nn GRU/LSTM/RNN -> a built Keras 3 layer with the same
    weights, ``return_sequences=True`` and ``return_state=True`` (``Bidirectional`` when the
    module is bidirectional). Keras must be installed (``pip install keras``)."""
    import keras  # optional dependency, imported only here

    kind = _kind(module)
    if module.num_layers != 1:
        raise ValueError(f"Keras recurrent layers hold one layer; this module has "
                         f"num_layers={module.num_layers}. Convert a one-layer module per "
                         f"layer.")
    if getattr(module, "proj_size", 0):
        raise ValueError("Keras LSTM has no projection; convert a module with proj_size=0.")
    reset_after = getattr(module, "reset_after", True)
    kw = dict(use_bias=module.bias, return_sequences=True, return_state=True)
    if kind == "gru":
        make = lambda: keras.layers.GRU(module.hidden_size, reset_after=reset_after, **kw)  # noqa: E731
    elif kind == "lstm":
        make = lambda: keras.layers.LSTM(module.hidden_size, **kw)  # noqa: E731
    else:
        make = lambda: keras.layers.SimpleRNN(module.hidden_size,  # noqa: E731
                                              activation=module.nonlinearity, **kw)
    layer = keras.layers.Bidirectional(make()) if module.bidirectional else make()
    layer.build((None, None, module.input_size))
    lists = []
    for d in range(2 if module.bidirectional else 1):
        suffix = "_l0" + ("_reverse" if d else "")
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        params = {n: getattr(module, n + suffix, None) for n in names}
        lists += torch_to_keras_weights(params, kind, reset_after)
    layer.set_weights(lists)
    return layer


# -- torch.nn -----------------------------------------------------------------------------

def _like(src: nn.Module, dst: nn.Module) -> nn.Module:
    p = next(src.parameters())
    dst.to(device=p.device, dtype=p.dtype)
    dst.load_state_dict(src.state_dict())
    return dst


def from_torch(module: nn.Module) -> nn.Module:
    """A ``torch.nn`` GRU/LSTM/RNN or cell -> the ``grukit.nn`` module with the same weights."""
    cells = {nn.GRUCell: gnn.GRUCell, nn.LSTMCell: gnn.LSTMCell, nn.RNNCell: gnn.RNNCell}
    for src, dst in cells.items():
        if type(module) is src:
            extra = {"nonlinearity": module.nonlinearity} if src is nn.RNNCell else {}
            return _like(module, dst(module.input_size, module.hidden_size, module.bias,
                                     **extra))
    kind = _kind(module)
    cfg = {k: getattr(module, k) for k in _CONFIG}
    if kind == "gru":
        return _like(module, gnn.GRU(**cfg))
    if kind == "lstm":
        return _like(module, gnn.LSTM(**cfg, proj_size=module.proj_size))
    return _like(module, gnn.RNN(**cfg, nonlinearity=module.nonlinearity))


def to_torch(module: nn.Module) -> nn.Module:
    """A ``grukit.nn`` GRU/LSTM/RNN or cell -> the ``torch.nn`` module with the same weights.

    torch.nn has only the ``reset_after=True`` GRU; the textbook form raises ``ValueError``.
    """
    if not getattr(module, "reset_after", True):
        raise ValueError("torch.nn.GRU only has the reset_after=True form; a reset_after=False "
                         "GRU converts to Keras (to_keras) but not to torch.nn.")
    cells = {gnn.GRUCell: nn.GRUCell, gnn.LSTMCell: nn.LSTMCell, gnn.RNNCell: nn.RNNCell}
    for src, dst in cells.items():
        if type(module) is src:
            extra = {"nonlinearity": module.nonlinearity} if src is gnn.RNNCell else {}
            return _like(module, dst(module.input_size, module.hidden_size, module.bias,
                                     **extra))
    kind = _kind(module)
    cfg = {k: getattr(module, k) for k in _CONFIG}
    if kind == "gru":
        return _like(module, nn.GRU(**cfg))
    if kind == "lstm":
        return _like(module, nn.LSTM(**cfg, proj_size=module.proj_size))
    return _like(module, nn.RNN(**cfg, nonlinearity=module.nonlinearity))
