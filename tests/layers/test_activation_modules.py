"""grukit.nn's GRU and LSTM compute the activations their ``activation`` /
``recurrent_activation`` attributes name, also when set after construction (as
``grukit.nn.RNN`` reads its ``nonlinearity``): no attribute that says one function while the
module computes another."""

import pytest
import torch

from grukit import nn as gnn

X = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("cls", [gnn.GRU, gnn.LSTM])
def test_activation_set_after_construction_is_computed(cls):
    torch.manual_seed(0)
    want = cls(3, 4, batch_first=True, activation="relu", recurrent_activation="hard_sigmoid")
    m = cls(3, 4, batch_first=True)
    m.load_state_dict(want.state_dict())
    m.activation, m.recurrent_activation = "relu", "hard_sigmoid"
    torch.testing.assert_close(m(X)[0], want(X)[0])
    assert "activation='relu'" in repr(m)
