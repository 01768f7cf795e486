"""grukit.convert carries a GRU's or LSTM's Keras activations both ways: to_keras writes them
into the Keras layer, and from_keras reads a Keras layer that has them into the grukit.nn
module that computes them (to_keras -> from_keras gives the module back)."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit import nn as gnn  # noqa: E402
from grukit.convert import from_keras, to_keras  # noqa: E402

X = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("make", [
    lambda: gnn.GRU(3, 4, batch_first=True, activation="selu",
                    recurrent_activation="hard_sigmoid"),
    lambda: gnn.LSTM(3, 4, batch_first=True, bidirectional=True, activation="relu")],
    ids=["gru", "bilstm"])
def test_to_keras_then_from_keras_keeps_the_activations(make):
    torch.manual_seed(0)
    m = make()
    back = from_keras(to_keras(m))
    assert (back.activation, back.recurrent_activation) == (m.activation,
                                                            m.recurrent_activation)
    np.testing.assert_allclose(back(X)[0].detach().numpy(), m(X)[0].detach().numpy(),
                               rtol=1e-5, atol=1e-6)
