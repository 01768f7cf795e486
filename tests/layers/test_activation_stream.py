"""A Stream over a GRU or LSTM whose activation is changed after the stream was made: it
must step what the module computes (or refuse in one sentence), never the fused one-step
kernels' tanh and sigmoid for a module that now says relu."""

import pytest
import torch

from grukit import nn as gnn

X = torch.randn(1, 4, 3, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("cls", [gnn.GRU, gnn.LSTM])
def test_stream_made_before_the_activation_changed(cls):
    torch.manual_seed(0)
    m = cls(3, 4, batch_first=True).eval()
    s = gnn.Stream(m)
    s.step(X[0, 0].numpy())  # the fast path is built
    m.activation = "relu"
    s.reset()
    try:
        steps = torch.stack([torch.as_tensor(s.step(X[0, t])) for t in range(4)])
    except ValueError as e:  # a refusal that names the activation is as good
        assert "relu" in str(e)
        return
    torch.testing.assert_close(steps, m(X)[0][0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [gnn.GRU, gnn.LSTM])
def test_a_running_stream_refuses_once_the_activation_changes(cls):
    """No reset(): the hot path's next step sees the change (the setter bumps weight_ih's
    version) and refuses rather than step tanh and σ."""
    m = cls(3, 4, batch_first=True).eval()
    s = gnn.Stream(m)
    x = X[0, 0].numpy()
    s.step(x)
    s.step(x)  # the hot path is bound
    m.recurrent_activation = "hard_sigmoid"
    with pytest.raises(ValueError, match="computes tanh and sigmoid only.*hard_sigmoid"):
        s.step(x)
