"""from_keras of a Keras model whose layer has an activation grukit does not have: refused
in one sentence naming the layer and the activation, also for a custom function (which
Keras' config holds as a dict)."""

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit.models import from_keras  # noqa: E402


def myact(x):
    return keras.ops.tanh(x) * 2


@pytest.mark.parametrize("make", [lambda: keras.layers.GRU(3, activation=myact),
                                  lambda: keras.layers.LSTM(3, recurrent_activation=myact),
                                  lambda: keras.layers.Dense(2, activation=myact)],
                         ids=["gru", "lstm", "dense"])
def test_custom_activation_is_refused_by_name(make):
    model = keras.Sequential([keras.Input((4, 2)), make()])
    with pytest.raises(ValueError, match="activation.*myact"):
        from_keras(model)


def test_unknown_activation_name_is_refused_by_name():
    model = keras.Sequential([keras.Input((4, 2)),
                              keras.layers.GRU(3, activation=keras.activations.hard_silu)])
    with pytest.raises(ValueError, match="activation 'hard_silu' has no grukit form"):
        from_keras(model)
