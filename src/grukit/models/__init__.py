"""Keras-style models: ``Sequential``, ``load``, callbacks."""

from .callbacks import Callback, EarlyStopping, History
from .saving import load_model as load
from .saving import load_weights
from .sequential import Sequential

__all__ = ["Callback", "EarlyStopping", "History", "Sequential", "load", "load_weights"]
