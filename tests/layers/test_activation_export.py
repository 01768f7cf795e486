"""A GRU's or LSTM's Keras activations through the program exports: torch.export (to_pt2)
traces the reference recurrence that computes them, or refuses naming them; it must never
swap in the fused kernels, which compute tanh and σ only."""

import pytest
import torch

from grukit import nn as gnn
from grukit.export import to_pt2
from grukit.layers import LSTM, Dense
from grukit.models import Sequential

X = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))

def _modules():
    torch.manual_seed(0)
    seq = Sequential([LSTM(4, activation="relu", input_shape=(5, 3)), Dense(1)])
    seq.build()
    return [gnn.GRU(3, 4, batch_first=True, activation="relu"),
            gnn.LSTM(3, 4, batch_first=True, recurrent_activation="hard_sigmoid"), seq]


def test_static_program_computes_the_activation(tmp_path):
    for k, m in enumerate(_modules()):
        to_pt2(m, tmp_path / f"{k}.pt2", X, dynamic=False)
        program = torch.export.load(tmp_path / f"{k}.pt2").module()
        got, want = program(X), m(X)
        got, want = (got[0], want[0]) if isinstance(got, tuple) else (got, want)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_dynamic_program_is_refused_naming_the_activation(tmp_path):
    for k, m in enumerate(_modules()):
        with pytest.raises(ValueError, match=r"to_pt2: .*activation"):
            to_pt2(m, tmp_path / f"{k}.pt2", X)
