"""Keras' weight regularizers: a penalty on a layer's weights added to the training loss
(and to ``evaluate``'s), as Keras adds it.

    from grukit.layers import Dense, GRU
    from grukit.layers.regularizers import l2
    GRU(64, kernel_regularizer=l2(1e-4), recurrent_regularizer=l2(1e-4))

    L1(l1):        l1 · Σ |w|
    L2(l2):        l2 · Σ w²
    L1L2(l1, l2):  both

``l1(0.01)``, ``l2(0.01)``, ``l1_l2(l1=0.01, l2=0.01)`` and the names "l1", "l2", "l1_l2"
(those defaults) make them, as in Keras. The sums run over every entry of a weight, so they
do not depend on its layout (torch's or Keras')."""

from __future__ import annotations

import math
import numbers

from torch import Tensor


def _factor(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number, 0 or more; got {value!r}.")
    return float(value)


class Regularizer:
    """l1 · Σ |w| + l2 · Σ w² of a weight."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _factor(l1, f"{type(self).__name__}: l1")
        self.l2 = _factor(l2, f"{type(self).__name__}: l2")

    def __call__(self, w: Tensor) -> Tensor:
        out = 0.0
        if self.l1:
            out = out + self.l1 * w.abs().sum()
        if self.l2:
            out = out + self.l2 * w.square().sum()
        return out

    def get_config(self) -> dict:
        return {"class": type(self).__name__, "l1": self.l1, "l2": self.l2}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(l1={self.l1}, l2={self.l2})"


class L1(Regularizer):
    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1)


class L2(Regularizer):
    def __init__(self, l2: float = 0.01):
        super().__init__(l2=l2)


class L1L2(Regularizer):
    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        super().__init__(l1=l1, l2=l2)


def l1(l1: float = 0.01) -> L1:  # noqa: E741 - Keras' names
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:  # noqa: E741
    return L1L2(l1, l2)


_NAMES = {"l1": l1, "l2": l2, "l1_l2": l1_l2, "L1": L1, "L2": L2, "L1L2": L1L2}


def get(value, what: str) -> Regularizer | None:
    """A regularizer from what a layer was given: None, a ``Regularizer``, a name ("l2"),
    or the dict ``get_config`` wrote."""
    if value is None or isinstance(value, Regularizer):
        return value
    if isinstance(value, str) and value in _NAMES:
        return _NAMES[value]()
    kind = type(value).__name__
    if type(value).__module__.startswith("keras") and hasattr(value, "get_config"):
        if kind not in ("L1", "L2", "L1L2"):  # keras.regularizers.OrthogonalRegularizer
            raise ValueError(f"{what}: Keras' {kind} has no grukit form; grukit has L1, L2 "
                             f"and L1L2.")
        config = value.get_config() or {}  # keras.regularizers.l2(0.01): {"l2": 0.01}
        return get({"class": kind, **config}, what)
    if isinstance(value, dict) and value.get("class") in ("Regularizer", "L1", "L2", "L1L2"):
        a, b = value.get("l1", 0.0), value.get("l2", 0.0)
        return {"L1": lambda: L1(a), "L2": lambda: L2(b)}.get(value["class"],
                                                               lambda: L1L2(a, b))()
    raise ValueError(f"{what}: {value!r} is no regularizer; give grukit.layers.regularizers."
                     f"l1/l2/l1_l2(...), Keras' own (keras.regularizers.l2(0.01)) or one of "
                     f"the names 'l1', 'l2', 'l1_l2'.")


__all__ = ["L1", "L1L2", "L2", "Regularizer", "get", "l1", "l1_l2", "l2"]
