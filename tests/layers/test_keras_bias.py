"""The Keras-style LSTM and SimpleRNN layers hold Keras' one bias: their parameter counts
are Keras', the torch-layout second bias stays a zero buffer in the state dict, and torch
or Keras weights load and convert back unchanged in function."""

import numpy as np
import pytest
import torch

from grukit import convert
from grukit.layers import LSTM, Dense, SimpleRNN
from grukit.models import Sequential


@pytest.mark.parametrize("make, keras_count", [(lambda: LSTM(16, input_shape=(10, 3)), 1280),
                                               (lambda: SimpleRNN(16, input_shape=(10, 3)),
                                                320)])
def test_parameter_count_is_keras(make, keras_count):
    m = Sequential([make(), Dense(2)])
    m.build()
    layer = m.layers[0]
    assert sum(p.numel() for p in layer.parameters()) == keras_count  # torch's: + 64 / + 16
    assert "stack.0.rnn.bias_hh_l0" in m.state_dict()
    assert not layer.rnn.bias_hh_l0.any()


@pytest.mark.parametrize("kind, cls", [("LSTM", LSTM), ("RNN", SimpleRNN)])
def test_torch_weights_with_a_second_bias_load_and_give_torch_outputs(kind, cls):
    torch.manual_seed(0)
    ref = getattr(torch.nn, kind)(3, 4, batch_first=True)
    layer = cls(4, input_shape=(5, 3))
    m = Sequential([layer])
    m.build()
    layer.rnn.load_state_dict(ref.state_dict())
    assert not layer.rnn.bias_hh_l0.any()  # folded into bias_ih
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        want = ref(x)[0][:, -1]
    np.testing.assert_allclose(m.predict(x.numpy()), want.numpy(), atol=1e-6)
    # back to torch's layout and to Keras' one bias: the same function
    back = getattr(torch.nn, kind)(3, 4, batch_first=True)
    back.load_state_dict(layer.rnn.state_dict())
    with torch.no_grad():
        np.testing.assert_allclose(back(x)[0].numpy(), ref(x)[0].numpy(), atol=1e-6)
    params = {n: getattr(layer.rnn, n + "_l0") for n in ("weight_ih", "weight_hh", "bias_ih",
                                                          "bias_hh")}
    kw = convert.torch_to_keras_weights(params, kind.lower(), True)
    again = convert.keras_to_torch_weights(kw, kind.lower(), True)
    for n, v in again.items():
        np.testing.assert_allclose(np.asarray(v), params[n].detach().numpy(), atol=1e-7)


@pytest.mark.parametrize("spec, options", [("LNGRU", {}), ("GRUD", {"reset_after": True})])
def test_cells_whose_second_bias_is_no_plain_sum_keep_both(spec, options):
    """In the LayerNorm-GRU (b_hh inside the normalisation) and GRU-D (b_hn multiplied by the
    reset gate) the recurrent bias is not a sum with the input bias: both stay parameters."""
    from grukit import cells

    s = getattr(cells, spec)
    layer = s.layer_class()(4, input_shape=(5, 3 * s.packed), **options)
    m = Sequential([layer])
    m.build()
    names = {n for n, _ in layer.rnn.named_parameters()}
    assert {"bias_ih_l0", "bias_hh_l0"} <= names
    assert sum(p.numel() for p in layer.parameters()) == s.count(3, 4, **options)
