"""Keras' weight regularizers (grukit.layers.regularizers): the penalty is added to fit's
and evaluate's loss as Keras adds it, and trains to Keras' weights (torch backend, same
start, SGD); saved and loaded with the model."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit.layers import GRU, LSTM, Bidirectional, Dense, Embedding  # noqa: E402
from grukit.layers import regularizers as R  # noqa: E402
from grukit.models import Sequential, load  # noqa: E402

X = np.random.RandomState(0).randn(32, 6, 2).astype("float32")
Y = X.sum((1, 2))[:, None]


def test_penalties_are_keras_in_the_loss_and_in_training(tmp_path):
    kr, kl = keras.regularizers, keras.layers
    k = keras.Sequential([
        keras.Input((6, 2)),
        kl.Bidirectional(kl.GRU(4, return_sequences=True, kernel_regularizer=kr.l2(0.01),
                                recurrent_regularizer=kr.l1(0.02),
                                bias_regularizer=kr.l1_l2(0.01, 0.03))),
        kl.LSTM(3, kernel_regularizer="l2"),
        kl.Dense(1, kernel_regularizer=kr.L1L2(l1=0.1), bias_regularizer=kr.l2(0.5))])
    g = Sequential([
        Bidirectional(GRU(4, return_sequences=True, kernel_regularizer=R.l2(0.01),
                          recurrent_regularizer=R.l1(0.02),
                          bias_regularizer=R.l1_l2(0.01, 0.03)), input_shape=(6, 2)),
        LSTM(3, kernel_regularizer="l2"),
        Dense(1, kernel_regularizer=R.L1L2(l1=0.1), bias_regularizer=R.l2(0.5))])
    g.set_weights(k.get_weights())
    k.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    g.compile(optimizer="sgd", loss="mse")
    assert g.evaluate(X, Y, verbose=0) == pytest.approx(k.evaluate(X, Y, verbose=0), rel=1e-6)
    assert float(sum(g.losses)) == pytest.approx(float(sum(k.losses)), rel=1e-5)
    theirs = k.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    ours = g.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    for a, b in zip(g.get_weights(), k.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    g.save(tmp_path / "m.safetensors")
    back = load(tmp_path / "m.safetensors")
    assert float(back.regularization_loss()) == pytest.approx(float(g.regularization_loss()))


def test_embedding_regularizer_and_refusals():
    e = Embedding(20, 4, embeddings_regularizer=R.l2(0.1), input_shape=(5,))
    m = Sequential([e, GRU(3), Dense(1)])
    w = e.embedding.weight
    assert float(m.regularization_loss()) == pytest.approx(float(0.1 * w.square().sum()))
    with pytest.raises(ValueError, match="activity_regularizer has no grukit form"):
        Dense(2, activity_regularizer="l2")
    with pytest.raises(TypeError, match="unexpected keyword argument 'recurrent_regularizer'"):
        Dense(2, recurrent_regularizer="l2")
    with pytest.raises(ValueError, match="is no regularizer"):
        GRU(2, kernel_regularizer="l3")
    with pytest.raises(ValueError, match="must be a finite number"):
        R.l2(-1.0)


def test_from_keras_keeps_the_regularizers():
    from grukit.models import from_keras

    kr, kl = keras.regularizers, keras.layers
    k = keras.Sequential([keras.Input((6, 2)),
                          kl.Bidirectional(kl.GRU(3, recurrent_regularizer=kr.l1(0.02))),
                          kl.Dense(1, kernel_regularizer=kr.l1_l2(0.1, 0.2))])
    g = from_keras(k)
    assert float(g.regularization_loss()) == pytest.approx(float(sum(k.losses)), rel=1e-5)
    k2 = keras.Sequential([keras.Input((6, 2)), kl.GRU(3, activity_regularizer="l2")])
    with pytest.raises(ValueError, match="activity_regularizer has no grukit form"):
        from_keras(k2)


def test_keras_own_regularizer_objects_are_taken_as_given():
    # a Keras script keeps `from keras import regularizers` when its layers come from grukit
    kr = keras.regularizers
    given = [kr.l2(0.01), kr.L1(0.02), kr.L1L2(l1=0.01, l2=0.03), kr.l1_l2(0.1, 0.2)]
    for reg in given:
        ours = Sequential([GRU(3, input_shape=(6, 2), kernel_regularizer=reg), Dense(1)])
        theirs = keras.Sequential([keras.Input((6, 2)), keras.layers.GRU(
            3, kernel_regularizer=reg), keras.layers.Dense(1)])
        ours.set_weights(theirs.get_weights())
        assert float(ours.regularization_loss()) == pytest.approx(float(sum(theirs.losses)),
                                                                  rel=1e-6)
    with pytest.raises(ValueError, match="Keras' OrthogonalRegularizer has no grukit form"):
        Dense(2, kernel_regularizer=kr.OrthogonalRegularizer(0.01))
