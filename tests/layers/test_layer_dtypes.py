"""Layers called directly on float64 (or float16) tensors cast them to their weights' dtype,
as Keras layers autocast floating inputs to their compute dtype."""

import pytest
import torch

from grukit.layers import (
    GRU,
    LSTM,
    BatchNormalization,
    Bidirectional,
    Conv1D,
    Dense,
    LayerNormalization,
    SimpleRNN,
)

LAYERS = {"Dense": lambda: Dense(2), "Conv1D": lambda: Conv1D(2, 2),
          "LayerNormalization": LayerNormalization, "BatchNormalization": BatchNormalization,
          "GRU": lambda: GRU(2, return_sequences=True), "LSTM": lambda: LSTM(2),
          "SimpleRNN": lambda: SimpleRNN(2), "Bidirectional": lambda: Bidirectional(GRU(2))}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_float64_input_is_cast_to_the_weights_dtype_as_keras_autocasts(name):
    torch.manual_seed(0)
    layer = LAYERS[name]()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    layer.eval()
    y32 = layer(x.float())[0]
    y64 = layer(x)[0]
    assert y64.dtype == torch.float32
    torch.testing.assert_close(y64, y32)


def test_a_float64_layer_reads_float32_input_in_float64():
    layer = Dense(2)
    layer(torch.randn(1, 3))
    layer.double()
    y = layer(torch.randn(4, 3))[0]
    assert y.dtype == torch.float64


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_a_numpy_array_is_taken_as_keras_layers_take_it(name):
    import numpy as np

    torch.manual_seed(0)
    layer = LAYERS[name]()
    layer.eval()
    x = np.random.default_rng(0).normal(size=(2, 5, 3))  # float64, as numpy makes it
    y = layer(x)[0]
    torch.testing.assert_close(y, layer(torch.as_tensor(x, dtype=torch.float32))[0])


def test_numpy_token_ids_into_an_embedding():
    import numpy as np

    from grukit.layers import Embedding

    layer = Embedding(5, 2, mask_zero=True)
    y, lengths = layer(np.array([[1, 2, 0], [3, 0, 0]]))
    assert y.shape == (2, 3, 2) and lengths.tolist() == [2, 1]
