"""A Keras 3 ``Sequential`` (a model object or a ``.keras`` file) as the same grukit
``Sequential``: each layer from its Keras config, then every weight
(``set_weights(model.get_weights())``), so the two predict alike.

    from grukit.models import from_keras
    ours = from_keras("model.keras")        # or from_keras(keras_model)

Layers: InputLayer, GRU, LSTM, SimpleRNN (their activations, use_bias), Bidirectional
(concat, sum, mul, ave; a ``backward_layer`` configured as the forward one), Dense (the
activations ``grukit.layers`` has), Dropout, Embedding, Masking, Flatten,
GlobalAveragePooling1D, TimeDistributed(Dense or Dropout), RepeatVector, SpatialDropout1D,
LayerNormalization (last axis), Activation, Conv1D, MaxPooling1D, GlobalMaxPooling1D.
Anything else is refused by name: nothing is converted approximately."""

from __future__ import annotations

from .. import layers as gl
from . import keras_layers
from .sequential import Sequential

_RECURRENT = {"GRU": gl.GRU, "LSTM": gl.LSTM, "SimpleRNN": gl.SimpleRNN}
_COMMON = ("units", "return_sequences", "return_state", "go_backwards", "stateful", "dropout",
           "recurrent_dropout")


def from_keras(model) -> Sequential:
    """The grukit ``Sequential`` of a Keras ``Sequential`` (or the path of a ``.keras`` /
    ``.h5`` file Keras saved), with its weights and its layers' names; built, in eval mode as
    Keras' ``predict``."""
    import os

    if isinstance(model, (str, os.PathLike)):
        import keras

        model = keras.models.load_model(os.fspath(model), compile=False)
    kind = type(model).__name__
    if kind != "Sequential":
        raise TypeError(f"from_keras converts a Keras Sequential model; got a {kind} (a "
                        f"functional or subclassed model has no layer list to follow).")
    if not getattr(model, "built", True):
        raise ValueError("the Keras model is not built, so it has no weights to convert yet; "
                         "build it first (keras_model.build((None, time, features)), or begin "
                         "it with keras.Input(shape)).")
    shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    ours = Sequential(name=model.name)
    if shape is not None:
        ours.add(gl.Input(shape=shape))
    for k, layer in enumerate(model.layers):
        where = f"layer {k} ({type(layer).__name__} {layer.name!r})"
        converted = _layer(layer, where)
        if converted is not None:
            converted.trainable = bool(layer.trainable)  # a frozen Keras layer stays frozen
            converted.layer_name = layer.name  # get_layer(name) finds it as in Keras
            _regularizers(layer, converted, where)
            _constraints(layer, converted, where)
            ours.add(converted)
    ours.build()
    weights = model.get_weights()
    if _float64(model, weights):  # as grukit.convert.from_keras: float64 stays float64
        import torch

        ours.to(torch.float64)
    ours.set_weights(weights)
    return ours.eval()


def _float64(model, weights: list) -> bool:
    """Whether Keras keeps ``model``'s weights in float64 (a layer's ``dtype="float64"``);
    a model without weights asks its layers' dtype policies."""
    import numpy as np

    kinds = {np.dtype(w.dtype) for w in weights}
    if not kinds:
        kinds = {np.dtype(getattr(layer.dtype_policy, "variable_dtype", "float32"))
                 for layer in model.layers if getattr(layer, "dtype_policy", None) is not None}
    return np.dtype(np.float64) in kinds


def _layer(layer, where: str):
    kind, cfg = type(layer).__name__, layer.get_config()
    if kind == "InputLayer":
        return None
    if kind in _RECURRENT:
        return _recurrent(kind, cfg, where)
    if kind == "Bidirectional":
        inner = layer.forward_layer
        if type(inner).__name__ not in _RECURRENT:
            raise ValueError(f"{where}: Bidirectional wraps a {type(inner).__name__}, which has "
                             f"no grukit layer.")
        _same_directions(inner, layer.backward_layer, where)
        merge = cfg.get("merge_mode")
        if merge not in gl.recurrent.MERGE_MODES:
            raise ValueError(f"{where}: merge_mode={merge!r} has no grukit form; it takes "
                             f"{', '.join(gl.recurrent.MERGE_MODES)}.")
        return gl.Bidirectional(_recurrent(type(inner).__name__, inner.get_config(), where),
                                merge_mode=merge)
    if kind == "Dense":
        return gl.Dense(cfg["units"], activation=_activation(cfg.get("activation"), where),
                        use_bias=cfg.get("use_bias", True))
    if kind == "Dropout":
        shape = cfg.get("noise_shape")
        return gl.Dropout(cfg["rate"], noise_shape=None if shape is None else tuple(shape),
                          seed=_seed(cfg))
    if kind == "Embedding":
        return gl.Embedding(cfg["input_dim"], cfg["output_dim"],
                            mask_zero=bool(cfg.get("mask_zero", False)))
    if kind == "Flatten":  # channels_first: Keras moves the channels last, then flattens
        return gl.Flatten(data_format=cfg.get("data_format") or "channels_last")
    if kind == "Masking":
        return gl.Masking(cfg.get("mask_value", 0.0))
    if kind == "Activation":
        return gl.Activation(_activation(cfg.get("activation"), where))
    if kind == "Conv1D":
        if cfg.get("groups", 1) != 1:
            raise ValueError(f"{where}: groups={cfg['groups']} has no grukit form.")
        return gl.Conv1D(cfg["filters"], cfg["kernel_size"], strides=cfg.get("strides", 1),
                         padding=cfg.get("padding", "valid"),
                         dilation_rate=cfg.get("dilation_rate", 1),
                         activation=_activation(cfg.get("activation"), where),
                         use_bias=cfg.get("use_bias", True),
                         data_format=cfg.get("data_format", "channels_last"))
    if kind == "MaxPooling1D":
        size = cfg.get("pool_size", 2)
        size = size[0] if isinstance(size, (list, tuple)) else size
        strides = cfg.get("strides")
        strides = strides[0] if isinstance(strides, (list, tuple)) else strides
        return gl.MaxPooling1D(size, strides, padding=cfg.get("padding", "valid"),
                               data_format=cfg.get("data_format", "channels_last"))
    if kind == "GlobalMaxPooling1D":
        return gl.GlobalMaxPooling1D(data_format=cfg.get("data_format") or "channels_last",
                                     keepdims=bool(cfg.get("keepdims", False)))
    if kind == "RepeatVector":
        return gl.RepeatVector(cfg["n"])
    if kind == "SpatialDropout1D":
        return gl.SpatialDropout1D(cfg["rate"], seed=_seed(cfg))
    if kind == "LayerNormalization":
        axis = cfg.get("axis", -1)
        axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        if axis not in (-1, len(layer.input.shape) - 1) or cfg.get("rms_scaling"):
            raise ValueError(f"{where}: only a LayerNormalization over the last axis (no "
                             f"rms_scaling) has a grukit form.")
        return gl.LayerNormalization(epsilon=cfg.get("epsilon", 1e-3),
                                     center=cfg.get("center", True),
                                     scale=cfg.get("scale", True))
    if kind == "GlobalAveragePooling1D":
        return gl.GlobalAveragePooling1D(data_format=cfg.get("data_format") or "channels_last",
                                         keepdims=bool(cfg.get("keepdims", False)))
    if kind == "TimeDistributed":
        wrapped = type(layer.layer).__name__
        if wrapped not in ("Dense", "Dropout"):  # before converting it: it was never called
            raise ValueError(f"{where}: grukit's TimeDistributed wraps a Dense or Dropout "
                             f"layer; got TimeDistributed({wrapped}), which has no grukit "
                             f"form (a layer acting on the last axis, such as "
                             f"LayerNormalization or Activation, needs no TimeDistributed).")
        return gl.TimeDistributed(_layer(layer.layer, where))
    made = keras_layers.layer_of(kind, cfg, layer, where)
    if made is not None:
        return made
    raise ValueError(f"{where} has no grukit layer; from_keras converts "
                     f"{', '.join(sorted([*_RECURRENT, 'Bidirectional', 'Dense', 'Dropout']))}, "
                     f"Embedding, Masking, Flatten, GlobalAveragePooling1D, TimeDistributed, "
                     f"RepeatVector, SpatialDropout1D, LayerNormalization, Activation, Conv1D, "
                     f"MaxPooling1D, GlobalMaxPooling1D, {', '.join(keras_layers.KINDS)}.")


# options of a direction that leave its outputs and training alone once its weights are
# copied (constraints are warned of; a float64 direction makes the model float64), and
# go_backwards (the backward direction's own); the rest must agree
_DIRECTION_FREE = {"name", "go_backwards", "kernel_initializer", "recurrent_initializer",
                   "bias_initializer", "unit_forget_bias", "seed", "unroll", "dtype",
                   "kernel_constraint", "recurrent_constraint", "bias_constraint"}


def _same_directions(forward, backward, where: str) -> None:
    """Refuse a Keras ``Bidirectional(..., backward_layer=...)`` whose backward layer is of
    another kind or configuration than the forward one, naming what differs: grukit's
    Bidirectional runs one layer's configuration both ways (the forward one's would be
    used for both, a silent wrong answer, or the weights would not fit)."""
    if backward is None or backward is forward:
        return
    fk, bk = type(forward).__name__, type(backward).__name__
    if fk != bk:
        differ = [f"layer: forward {fk}, backward {bk}"]
    else:
        f, b = forward.get_config(), backward.get_config()
        differ = [f"{k}: forward {_shown(f.get(k))}, backward {_shown(b.get(k))}"
                  for k in sorted((f.keys() | b.keys()) - _DIRECTION_FREE)
                  if f.get(k) != b.get(k)]
    if differ:
        raise ValueError(f"{where}: the Bidirectional layer's directions differ "
                         f"({'; '.join(differ)}), and grukit's Bidirectional runs one "
                         f"configuration both ways; build both directions alike (or leave "
                         f"backward_layer out).")


def _shown(value) -> str:
    """A Keras config value, short: a serialized object as ``ClassName(option=value)``."""
    if isinstance(value, dict) and "class_name" in value:
        options = value.get("config") or {}
        inner = ", ".join(f"{k}={_shown(v)}" for k, v in options.items()) \
            if isinstance(options, dict) else repr(options)
        return f"{value['class_name']}({inner})"
    return repr(value)


def _regularizers(layer, converted, where: str) -> None:
    """Keras' weight regularizers of ``layer`` (a Bidirectional's: its wrapped layer's) on
    the converted layer; a kind grukit has no form for is refused by name."""
    from ..layers import regularizers as regs

    if type(layer).__name__ == "Bidirectional":
        layer, converted = layer.forward_layer, converted.layer
    cfg = layer.get_config()
    if cfg.get("activity_regularizer") is not None:
        raise ValueError(f"{where}: activity_regularizer has no grukit form; in the Keras "
                         f"model, put an ActivityRegularization(l1, l2) layer after this one "
                         f"instead (the same penalty), which converts.")
    for arg in converted.REGULARIZED:
        given = cfg.get(arg)
        if given is None:
            continue
        kind, c = given.get("class_name"), given.get("config", {})
        if kind not in ("L1", "L2", "L1L2"):
            raise ValueError(f"{where}: the {arg} {kind!r} has no grukit form; grukit has L1, "
                             f"L2 and L1L2.")
        converted.regularizers[arg] = regs.get({"class": kind, **c}, f"{where}: {arg}")


def _constraints(layer, converted, where: str) -> None:
    """Keras' weight constraints of ``layer`` (``kernel_constraint=MaxNorm(3)``; a
    Bidirectional's or TimeDistributed's: its wrapped layer's) on the converted layer, which
    applies them after each optimizer step as Keras; a kind grukit has no form for is
    refused by name."""
    from ..layers import constraints as cons

    inner = getattr(layer, "forward_layer", None) or getattr(layer, "layer", None)
    if inner is not None and hasattr(converted, "layer"):
        layer, converted = inner, converted.layer
    for k, v in layer.get_config().items():
        if not k.endswith("_constraint") or v is None:
            continue
        if k not in converted.constrained():
            raise ValueError(f"{where}: {k} has no grukit form on {type(converted).__name__}; "
                             f"remove it from the Keras layer.")
        converted.constraints[k] = cons.get(v if not isinstance(v, dict) else {
            "class_name": v.get("class_name"), "config": v.get("config")}, f"{where}: {k}")


def _named(act):
    """Keras' config of an activation: its name, or for a function of the user's (a dict in
    Keras' config) the function's registered name, which no table here holds."""
    if isinstance(act, dict):
        cfg = act.get("config")
        return f"{(cfg if isinstance(cfg, str) else act.get('class_name', 'a custom function'))}"\
            f" (a function of your own)"
    return act


def _activation(act, where: str):
    """Keras' activation name as grukit's (None for linear), or a refusal naming it."""
    act = _named(act)
    if act not in gl.core.ACTIVATIONS:
        raise ValueError(f"{where}: activation {act!r} has no grukit form; grukit takes "
                         f"{', '.join(k for k in gl.core.ACTIVATIONS if k)}.")
    return None if act == "linear" else act


def _recurrent(kind: str, cfg: dict, where: str):
    act, rec = _named(cfg.get("activation")), _named(cfg.get("recurrent_activation", "sigmoid"))
    # SimpleRNN has one activation; GRU and LSTM have a recurrent_activation too
    given = (("activation", act),) + (() if kind == "SimpleRNN" else
                                      (("recurrent_activation", rec),))
    for name, value in given:
        if value not in gl.core.ELEMENTWISE:
            raise ValueError(f"{where}: {name} {value!r} has no grukit form; grukit takes "
                             f"{', '.join(k for k in gl.core.ELEMENTWISE if k)}.")
    options = {k: cfg[k] for k in _COMMON if k in cfg}
    if kind == "GRU":
        options["reset_after"] = cfg.get("reset_after", True)
    options["activation"] = act
    options["use_bias"] = bool(cfg.get("use_bias", True))
    options["seed"] = _seed(cfg)  # its dropout masks' seed (use_cudnn: grukit picks)
    if kind != "SimpleRNN":
        options["recurrent_activation"] = rec
    return _RECURRENT[kind](**options)


def _seed(cfg: dict) -> int | None:
    """A Keras layer's seed as an integer, None when it is none or a SeedGenerator's."""
    seed = cfg.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None
