"""Functional recurrences: ``gru``, ``lstm``, ``rnn``, ``mingru``.

One signature per family, batch first: ``op(x (B, T, I), weights..., *, h0=None,
lengths=None, reverse=False, backend="auto", ...) -> (y (B, T, H), h_n)``.
Every backend is checked against the plain-torch reference next to it.
"""

from .gru import gru, gru_step
from .lstm import lstm, lstm_step
from .mingru import mingru, mingru_step
from .rnn import rnn, rnn_step

__all__ = ["gru", "gru_step", "lstm", "lstm_step", "mingru", "mingru_step", "rnn", "rnn_step"]
