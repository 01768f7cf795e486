"""fit(verbose=1) where no progress bar can be drawn (a notebook, a log file: standard output
is no terminal) prints a line per epoch, as verbose=2, instead of nothing; verbose=0 stays
silent."""

import numpy as np
import torch

from grukit.layers import GRU, Dense
from grukit.models import Sequential

RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 3, 2)).astype(np.float32)
Y = RNG.normal(size=(8, 1)).astype(np.float32)


def _model():
    torch.manual_seed(0)
    m = Sequential([GRU(3, input_shape=(3, 2)), Dense(1)])
    m.compile(loss="mse")
    return m


def test_verbose_1_without_a_terminal_prints_a_line_per_epoch(capsys):
    _model().fit(X, Y, epochs=2, verbose=1)  # stdout here is no terminal
    out = capsys.readouterr().out
    assert "Epoch 1/2 - loss: " in out and "Epoch 2/2 - loss: " in out
    assert "━" not in out  # no bar


def test_verbose_0_prints_nothing(capsys):
    _model().fit(X, Y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
