"""Under CPU autocast (bfloat16) the recurrent modules run as without it, in their weights'
dtype: the fused kernels were handed bfloat16 input projections and raised."""

import pytest
import torch

import grukit.nn as gnn

MODULES = {
    "gru": lambda: gnn.GRU(3, 4),
    "gru-reset-before": lambda: gnn.GRU(3, 4, reset_after=False),
    "lstm": lambda: gnn.LSTM(3, 4),
    "lstm-cpu": lambda: gnn.LSTM(3, 4, backend="cpu"),
    "rnn": lambda: gnn.RNN(3, 4),
    "layernorm-gru": lambda: gnn.LayerNormGRU(3, 4),
    "mingru": lambda: gnn.MinGRU(3, 4),
}


@pytest.mark.parametrize("name", MODULES, ids=list(MODULES))
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_runs_under_cpu_autocast_as_without_it(name, train):
    torch.manual_seed(0)
    m = MODULES[name]().train(train)
    x = torch.randn(6, 2, 3, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(x)[0]
    y.sum().backward()
    got = [x.grad.clone()] + [p.grad.clone() for p in m.parameters()]
    x.grad = None
    m.zero_grad()
    want = m(x)[0]
    want.sum().backward()
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, want, rtol=0, atol=0)
    for a, b in zip(got, [x.grad] + [p.grad for p in m.parameters()], strict=True):
        torch.testing.assert_close(a, b)
