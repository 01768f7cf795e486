"""``from_keras`` for Keras' normalisation, activation, reshaping, pooling, noise, padding
and pass-through layers: the grukit layer of the same settings (weights arrive through
``set_weights``), or None for a kind this file does not convert."""

from __future__ import annotations

from .. import layers as gl

KINDS = ("BatchNormalization", "AveragePooling1D", "ReLU", "LeakyReLU", "Softmax", "PReLU",
         "Reshape", "Permute", "GaussianNoise", "GaussianDropout", "ZeroPadding1D", "Cropping1D",
         "UpSampling1D", "Identity", "ActivityRegularization", "ELU", "AlphaDropout",
         "UnitNormalization", "Normalization")


def _one(v):
    """Keras' one-element tuples (pool_size=(2,)) as their element."""
    return v[0] if isinstance(v, (list, tuple)) and len(v) == 1 else v


def layer_of(kind: str, cfg: dict, layer, where: str):
    """The grukit form of a Keras layer of ``kind`` with config ``cfg`` (None: not one of
    ``KINDS``); settings with no grukit form refused in one sentence naming ``where``."""
    if kind == "BatchNormalization":
        axis = _one(cfg.get("axis", -1))
        if axis not in (-1, len(layer.input.shape) - 1) or cfg.get("renorm") \
                or cfg.get("synchronized"):
            raise ValueError(f"{where}: only a BatchNormalization over the last axis (no "
                             f"renorm, not synchronized) has a grukit form.")
        return gl.BatchNormalization(momentum=cfg.get("momentum", 0.99),
                                     epsilon=cfg.get("epsilon", 1e-3),
                                     center=cfg.get("center", True),
                                     scale=cfg.get("scale", True))
    if kind == "AveragePooling1D":
        return gl.AveragePooling1D(_one(cfg["pool_size"]), _one(cfg.get("strides")),
                                   padding=cfg.get("padding", "valid"),
                                   data_format=cfg.get("data_format", "channels_last"))
    if kind == "ReLU":
        return gl.ReLU(cfg.get("max_value"), cfg.get("negative_slope", 0.0),
                       cfg.get("threshold", 0.0))
    if kind == "LeakyReLU":
        return gl.LeakyReLU(cfg.get("negative_slope", 0.3))
    if kind == "Softmax":
        return gl.Softmax(cfg.get("axis", -1))
    if kind == "PReLU":
        return gl.PReLU(shared_axes=cfg.get("shared_axes"))
    if kind == "Reshape":
        return gl.Reshape(tuple(cfg["target_shape"]))
    if kind == "Permute":
        return gl.Permute(tuple(cfg["dims"]))
    if kind == "GaussianNoise":
        return gl.GaussianNoise(cfg["stddev"], seed=cfg.get("seed"))
    if kind == "GaussianDropout":
        return gl.GaussianDropout(cfg["rate"], seed=cfg.get("seed"))
    return _more(kind, cfg)


def _more(kind: str, cfg: dict):
    """The time-axis, pass-through, ELU, AlphaDropout and normalization layers."""
    if kind == "ZeroPadding1D":
        return gl.ZeroPadding1D(tuple(cfg.get("padding", (1, 1))),
                                data_format=cfg.get("data_format"))
    if kind == "Cropping1D":
        return gl.Cropping1D(tuple(cfg.get("cropping", (1, 1))))
    if kind == "UpSampling1D":
        return gl.UpSampling1D(cfg.get("size", 2))
    if kind == "Identity":
        return gl.Identity()
    if kind == "ActivityRegularization":
        return gl.ActivityRegularization(cfg.get("l1", 0.0), cfg.get("l2", 0.0))
    if kind == "ELU":
        return gl.ELU(cfg.get("alpha", 1.0))
    if kind == "AlphaDropout":
        shape = cfg.get("noise_shape")
        return gl.AlphaDropout(cfg["rate"], noise_shape=None if shape is None else tuple(shape),
                               seed=cfg.get("seed"))
    if kind == "UnitNormalization":
        return gl.UnitNormalization(cfg.get("axis", -1))
    if kind == "Normalization":
        axis = cfg.get("axis", -1)
        return gl.Normalization(None if axis is None else list(axis) if isinstance(
            axis, (list, tuple)) else axis, cfg.get("mean"), cfg.get("variance"),
            invert=cfg.get("invert", False))
    return None
