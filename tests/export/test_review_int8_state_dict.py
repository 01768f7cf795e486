"""Loading weights into a ``quantize_int8`` copy: its own state_dict round-trips, and a
float model's state_dict is quantized as it loads, equal to ``quantize_int8`` of that model
(strict loading refused it; ``strict=False`` kept the old int8 weights without a word)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from grukit import nn as gnn
from grukit.nn.quantized import Int8Stream, quantize_int8

MAKE = {"gru": lambda: gnn.GRU(3, 17, num_layers=2, bidirectional=True),
        "gru_reset_before": lambda: gnn.GRU(3, 5, reset_after=False),
        "lstm_proj": lambda: gnn.LSTM(3, 8, proj_size=4, num_layers=2),
        "cell": lambda: gnn.GRUCell(3, 6)}


def _out(m, x):
    with torch.no_grad():
        y = m(x[0] if isinstance(m, gnn.GRUCell) else x)
    return y[0] if isinstance(y, tuple) else y


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("kind", list(MAKE))
def test_a_float_state_dict_loads_quantized(kind, strict):
    torch.manual_seed(0)
    float_model, other = MAKE[kind](), MAKE[kind]()
    q = quantize_int8(other)
    result = q.load_state_dict(float_model.state_dict(), strict=strict)
    assert not result.missing_keys and not result.unexpected_keys
    want = quantize_int8(float_model)
    for k, v in want.state_dict().items():
        torch.testing.assert_close(q.state_dict()[k], v, rtol=0, atol=0)
    x = torch.randn(4, 2, 3)
    torch.testing.assert_close(_out(q, x), _out(want, x), rtol=0, atol=0)


def test_an_int8_state_dict_round_trips_through_torch_save_and_streams_the_same():
    torch.manual_seed(1)
    q = quantize_int8(gnn.GRU(3, 17))
    buf = io.BytesIO()
    torch.save(q.state_dict(), buf)
    buf.seek(0)
    back = quantize_int8(gnn.GRU(3, 17))
    back.load_state_dict(torch.load(buf, weights_only=True))
    x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    a, b = Int8Stream(q, w8a8=False), Int8Stream(back, w8a8=False)
    np.testing.assert_array_equal(np.stack([a.step(v) for v in x]),
                                  np.stack([b.step(v) for v in x]))


def test_a_float_sequential_state_dict_loads_into_its_int8_copy():
    from grukit.layers import GRU, Dense
    from grukit.models import Sequential

    def make():
        m = Sequential([GRU(8, input_shape=(None, 3)), Dense(4, activation="tanh"), Dense(1)])
        m.build()
        return m

    torch.manual_seed(2)
    trained, deployed = make(), make()
    q = quantize_int8(deployed, linear="grukit")
    q.load_state_dict(trained.state_dict())
    want = quantize_int8(trained, linear="grukit")
    x = torch.randn(2, 6, 3)
    with torch.no_grad():
        torch.testing.assert_close(q(x), want(x), rtol=0, atol=0)


@pytest.mark.parametrize("kind", list(MAKE))
def test_reset_parameters_of_an_int8_copy_is_refused_and_changes_nothing(kind):
    torch.manual_seed(3)
    q = quantize_int8(MAKE[kind]())
    before = {k: v.clone() for k, v in q.state_dict().items()}
    with pytest.raises(ValueError, match="int8 weights cannot be drawn again; reset the float"):
        q.reset_parameters()  # (it drew new biases beside the old int8 weights)
    for k, v in q.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
