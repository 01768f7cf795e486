"""Keras' ``seed`` and ``use_cudnn`` of GRU, LSTM and SimpleRNN: a seed makes the dropout
masks repeat whatever torch's global random state (which the layer leaves as it was);
use_cudnn is taken at Keras' default, "auto", and refused otherwise naming backend."""

import numpy as np
import pytest
import torch

from grukit.layers import GRU, LSTM, SimpleRNN, from_config
from grukit.models import from_keras

keras = pytest.importorskip("keras")


def _calls(layer_cls, global_seed, **kwargs):
    torch.manual_seed(0)  # the same weights
    layer = layer_cls(4, return_sequences=True, **kwargs)
    layer.build((3, 2))
    layer.train()
    torch.manual_seed(global_seed)
    x = torch.ones(2, 3, 2)
    first, second = layer(x)[0], layer(x)[0]
    return first.detach(), second.detach(), torch.rand(())


@pytest.mark.parametrize("layer_cls", [GRU, LSTM, SimpleRNN])
def test_a_seed_repeats_the_masks_and_leaves_the_global_state(layer_cls):
    opts = {"dropout": 0.4, "recurrent_dropout": 0.4, "seed": 5}
    a, b = _calls(layer_cls, 0, **opts), _calls(layer_cls, 1, **opts)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], a[1])  # each call draws new masks
    torch.manual_seed(0)
    assert a[2] == torch.rand(())  # torch's own stream untouched by the seeded draws
    unseeded = _calls(layer_cls, 0, dropout=0.4, recurrent_dropout=0.4), \
        _calls(layer_cls, 1, dropout=0.4, recurrent_dropout=0.4)
    assert not torch.equal(unseeded[0][0], unseeded[1][0])
    other = _calls(layer_cls, 0, **(opts | {"seed": 6}))
    assert not torch.equal(other[0], a[0])


def test_seed_kept_in_the_config_and_from_keras_and_use_cudnn_refused():
    layer = GRU(3, dropout=0.2, seed=11, use_cudnn="auto")
    assert from_config(layer.get_config()).seed == 11
    model = keras.Sequential([keras.Input((4, 2)), keras.layers.GRU(3, dropout=0.2, seed=7),
                              keras.layers.Dense(1)])
    ours = from_keras(model)
    assert ours.layers[0].seed == 7
    x = np.random.default_rng(0).random((2, 4, 2)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    for value in (True, False):
        with pytest.raises(ValueError, match=f"use_cudnn={value} has no grukit form.*backend="):
            LSTM(3, use_cudnn=value)
    with pytest.raises(ValueError, match="seed must be an integer"):
        SimpleRNN(3, seed="7")
