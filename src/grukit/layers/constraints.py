"""Keras' weight constraints: a projection of a weight applied after every optimizer step,
as Keras 3's optimizer applies ``variable.constraint`` after each update.

    from grukit.layers import Dense
    Dense(64, kernel_constraint="max_norm")            # or keras.constraints.MaxNorm(3)

On a weight w in Keras' layout (a Dense kernel (F, U), a recurrent kernel (H, G·H)), norms
taken over ``axis`` (0: each output unit's incoming weights), ε = 1e-7 (Keras' epsilon):

    MaxNorm(max_value=2, axis=0):      w · clip(‖w‖, 0, max) / (ε + ‖w‖)
    MinMaxNorm(min_value=0, max_value=1, rate=1, axis=0):
                                       w · (rate · clip(‖w‖, min, max) + (1 − rate) ‖w‖) / (ε + ‖w‖)
    NonNeg():                          w · [w ≥ 0]
    UnitNorm(axis=0):                  w / (ε + ‖w‖)

The names "max_norm", "min_max_norm", "non_neg", "unit_norm", Keras' own constraint objects
and the dicts ``get_config`` writes make them."""

from __future__ import annotations

import math
import numbers

import numpy as np

EPSILON = 1e-7  # Keras' backend.epsilon()


def _number(value, what: str, least: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < least:
        raise ValueError(f"{what} must be a finite number, {least:g} or more; got {value!r}.")
    return float(value)


def _axis(axis, what: str):
    ok = isinstance(axis, int) and not isinstance(axis, bool) or (
        isinstance(axis, (list, tuple)) and all(isinstance(a, int) for a in axis))
    if not ok:
        raise ValueError(f"{what}: axis must be an integer or a list of them; got {axis!r}.")
    return list(axis) if isinstance(axis, (list, tuple)) else axis


class Constraint:
    """A projection w -> c(w) of a weight in Keras' layout (numpy, float64 inside)."""

    def __call__(self, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    def serialize(self) -> dict:
        return {"class_name": type(self).__name__, "config": self.get_config()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _norms(w: np.ndarray, axis) -> np.ndarray:
    axis = tuple(axis) if isinstance(axis, list) else axis
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    def __init__(self, max_value: float = 2.0, axis=0):
        self.max_value = _number(max_value, "MaxNorm: max_value")
        self.axis = _axis(axis, "MaxNorm")

    def __call__(self, w):
        norms = _norms(w, self.axis)
        return w * (np.clip(norms, 0, self.max_value) / (EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0,
                 axis=0):
        self.min_value = _number(min_value, "MinMaxNorm: min_value")
        self.max_value = _number(max_value, "MinMaxNorm: max_value")
        if self.max_value < self.min_value:
            raise ValueError(f"MinMaxNorm: max_value {max_value!r} is below min_value "
                             f"{min_value!r}.")
        self.rate = _number(rate, "MinMaxNorm: rate")
        self.axis = _axis(axis, "MinMaxNorm")

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = (self.rate * np.clip(norms, self.min_value, self.max_value)
                   + (1 - self.rate) * norms)
        return w * (desired / (EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


class NonNeg(Constraint):
    def __call__(self, w):
        return w * (w >= 0)


class UnitNorm(Constraint):
    def __init__(self, axis=0):
        self.axis = _axis(axis, "UnitNorm")

    def __call__(self, w):
        return w / (EPSILON + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


CLASSES = {c.__name__: c for c in (MaxNorm, MinMaxNorm, NonNeg, UnitNorm)}
NAMES = {"max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg,
         "unit_norm": UnitNorm} | CLASSES


def get(value, what: str) -> Constraint | None:
    """A ``Constraint`` from what a layer was given: None, a ``Constraint``, a name, Keras'
    own constraint object, or the dict ``serialize`` wrote; anything else refused naming
    the ones there are."""
    if value is None or isinstance(value, Constraint):
        return value
    if isinstance(value, str) and value in NAMES:
        return NAMES[value]()
    if isinstance(value, dict) and value.get("class_name") in CLASSES:
        return CLASSES[value["class_name"]](**(value.get("config") or {}))
    kind = type(value).__name__
    if type(value).__module__.startswith("keras") and kind in CLASSES:
        config = value.get_config() or {}
        return CLASSES[kind](**config)
    raise ValueError(f"{what}: {value!r:.80} is no constraint grukit has; give one of "
                     f"{', '.join(sorted(n for n in NAMES if n.islower()))}, an object of "
                     f"grukit.layers.constraints or Keras' own.")


__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "get"]
