"""``get_weights`` / ``set_weights`` in Keras 3's layout: a Keras model's weights go into the
same grukit model with one call (equal predictions), come back equal, and a step of
``train_on_batch`` equals Keras' step from there; ``count_params`` equals Keras'."""

import os

import numpy as np
import pytest
import torch

from grukit.layers import GRU, LSTM, Bidirectional, Dense, Dropout, Embedding, MinGRU, SimpleRNN
from grukit.models import Sequential

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

T, V = 7, 20
RNG = np.random.default_rng(0)
IDS = RNG.integers(1, V, (5, T))


def _pair():
    kl = keras.layers
    ref = keras.Sequential([
        keras.Input((T,), dtype="int32"), kl.Embedding(V, 6),
        kl.Bidirectional(kl.GRU(5, return_sequences=True)), kl.Dropout(0.2),
        kl.GRU(4, return_sequences=True, reset_after=False),
        kl.SimpleRNN(3, return_sequences=True), kl.LSTM(4), kl.Dense(3, activation="softmax")])
    ref.set_weights([RNG.normal(0, 0.4, w.shape).astype("float32") for w in ref.get_weights()])
    ours = Sequential([
        Embedding(V, 6, input_shape=(T,)), Bidirectional(GRU(5, return_sequences=True)),
        Dropout(0.2), GRU(4, return_sequences=True, reset_after=False),
        SimpleRNN(3, return_sequences=True), LSTM(4), Dense(3, activation="softmax")])
    return ref, ours


def test_keras_weights_move_in_with_one_call_and_come_back_equal():
    ref, ours = _pair()
    assert ours.count_params() == ref.count_params()
    ours.set_weights(ref.get_weights())
    want = np.asarray(keras.ops.convert_to_numpy(ref(IDS)))
    np.testing.assert_allclose(ours.predict(IDS), want, rtol=1e-5, atol=1e-6)
    back = ours.get_weights()
    assert [w.shape for w in back] == [w.shape for w in ref.get_weights()]
    for a, b in zip(back, ref.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_train_on_batch_takes_keras_step():
    ref, ours = _pair()
    ours.set_weights(ref.get_weights())
    y = RNG.integers(0, 3, 5)
    ref.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ours.compile(optimizer=torch.optim.SGD(ours.parameters(), lr=0.5),
                 loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ours.stack[2].rate = 0.0  # dropout off in both, so the two steps see the same network
    ref.layers[2].rate = 0.0
    want = ref.train_on_batch(IDS, y)
    got = ours.train_on_batch(IDS, y)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for a, b in zip(ours.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.predict_on_batch(IDS),
                               np.asarray(keras.ops.convert_to_numpy(ref(IDS))), atol=1e-5)
    assert ours.test_on_batch(IDS, y) == pytest.approx(ref.test_on_batch(IDS, y), rel=1e-5)


def test_bad_weights_change_nothing_and_layers_without_keras_layout_refuse():
    ref, ours = _pair()
    before = [w.copy() for w in ours.get_weights()]
    bad = ref.get_weights()
    bad[3] = bad[3][:, :-1]
    with pytest.raises(ValueError, match="weight arrays shaped"):
        ours.set_weights(bad)
    with pytest.raises(ValueError, match="weight arrays shaped"):
        ours.set_weights(ref.get_weights()[:-1])
    nan = [w.copy() for w in ref.get_weights()]
    nan[-1][0] = np.nan
    with pytest.raises(ValueError, match="holds NaN or Inf"):
        ours.set_weights(nan)
    for a, b in zip(ours.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    m = Sequential([MinGRU(4, input_shape=(T, 2)), Dense(1)])
    m.build()
    with pytest.raises(ValueError, match="no Keras layer"):
        m.get_weights()
    with pytest.raises(ValueError, match="not built"):
        Dense(3).get_weights()



def test_get_weights_are_copies_so_set_weights_resets_after_training():
    # Keras' habit: keep get_weights() to put the model back later; arrays that were views
    # of the weights moved with training and the reset did nothing
    _, ours = _pair()
    ours.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    start = ours.get_weights()
    kept = [w.copy() for w in start]
    ours.fit(IDS, np.arange(5) % 3, epochs=2, verbose=0)
    for a, b in zip(start, kept, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(ours.get_weights(), kept, strict=True))
    ours.set_weights(start)
    for a, b in zip(ours.get_weights(), kept, strict=True):
        np.testing.assert_array_equal(a, b)
