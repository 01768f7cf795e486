"""Keras' weight constraints (grukit.layers.constraints): after every optimizer step each
weight is projected as Keras 3's optimizer projects it, so that training from the same
start reaches Keras' weights (torch backend, SGD); kept in the config and through save."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit.layers import GRU, LSTM, Bidirectional, Dense, Embedding  # noqa: E402
from grukit.layers import constraints as C  # noqa: E402
from grukit.models import Sequential, from_keras, load_model  # noqa: E402

X = np.random.RandomState(0).randn(32, 6, 2).astype("float32")
Y = 3 * X.sum((1, 2))[:, None]


def _keras_model():
    kc, kl = keras.constraints, keras.layers
    return keras.Sequential([
        keras.Input((6, 2)),
        kl.Bidirectional(kl.GRU(4, return_sequences=True, kernel_constraint=kc.MaxNorm(0.5),
                                recurrent_constraint=kc.UnitNorm(axis=1))),
        kl.LSTM(3, bias_constraint=kc.NonNeg(),
                kernel_constraint=kc.MinMaxNorm(0.2, 0.4, rate=0.5)),
        kl.Dense(1, kernel_constraint="non_neg")])


def test_training_with_constraints_reaches_keras_weights(tmp_path):
    k = _keras_model()
    kc = keras.constraints
    g = Sequential([
        Bidirectional(GRU(4, return_sequences=True, kernel_constraint=kc.MaxNorm(0.5),
                          recurrent_constraint=C.UnitNorm(axis=1)), input_shape=(6, 2)),
        LSTM(3, bias_constraint="non_neg", kernel_constraint=C.MinMaxNorm(0.2, 0.4, rate=0.5)),
        Dense(1, kernel_constraint="non_neg")])
    g.set_weights(k.get_weights())
    k.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    g.compile(optimizer="sgd", loss="mse")
    g.optimizer.param_groups[0]["lr"] = 0.1
    theirs = k.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    ours = g.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)
    for a, b in zip(g.get_weights(), k.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    w = g.get_weights()
    assert np.sqrt((w[0] ** 2).sum(0)).max() <= 0.5 + 1e-6  # the constraint bit
    assert (w[-2] >= 0).all()
    g.save(tmp_path / "m.keras")
    back = load_model(tmp_path / "m.keras")
    assert repr(back.layers[1].constraints["kernel_constraint"]) == \
        "MinMaxNorm(min_value=0.2, max_value=0.4, rate=0.5, axis=0)"


def _one_sgd_epoch_alike(k, g):
    """One epoch of SGD at rate 0.1 for the Keras model k and grukit's g: equal weights."""
    k.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    g.compile(optimizer="sgd", loss="mse")
    g.optimizer.param_groups[0]["lr"] = 0.1
    k.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    g.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(g.get_weights(), k.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_a_converted_keras_model_trains_on_as_keras():
    k = _keras_model()
    _one_sgd_epoch_alike(k, from_keras(k))


def test_an_embedding_constraint_and_refusals():
    torch.manual_seed(0)
    m = Sequential([Embedding(10, 3, embeddings_constraint=C.UnitNorm(axis=1)), GRU(2),
                    Dense(1)])
    m.compile("sgd", "mse")
    m.fit(np.array([[1, 2, 3], [4, 5, 6]]), np.ones((2, 1), "float32"), epochs=1, verbose=0)
    rows = m.layers[0].get_weights()[0][1:7]
    np.testing.assert_allclose(np.sqrt((rows ** 2).sum(1)), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="no constraint grukit has"):
        Dense(2, kernel_constraint="positive")
    with pytest.raises(TypeError, match="unexpected keyword argument 'recurrent_constraint'"):
        Dense(2, recurrent_constraint="non_neg")
    with pytest.raises(ValueError, match="max_value 0.1 is below min_value 0.5"):
        C.MinMaxNorm(0.5, 0.1)


def test_a_frozen_layer_is_not_projected_as_keras_leaves_it():
    # the optimizer's post-step hook projected every layer with a constraint, a frozen one
    # too (0.62 off Keras' kernel, which Keras leaves as it is)
    k = keras.Sequential([keras.Input((6, 2)), keras.layers.GRU(
        3, kernel_constraint=keras.constraints.MaxNorm(0.1)), keras.layers.Dense(1)])
    g = Sequential([GRU(3, input_shape=(6, 2), kernel_constraint=C.MaxNorm(0.1)), Dense(1)])
    g.set_weights(k.get_weights())
    k.layers[0].trainable = False
    g.layers[0].trainable = False
    _one_sgd_epoch_alike(k, g)
