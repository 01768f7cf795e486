"""fit(steps_per_epoch=N, validation_steps=V) on finite data as Keras 3's epoch iterator
runs them: N batches an epoch, going on through the data across epochs, an epoch that
meets the end of the data shorter (with Keras' warning) and the next one starting over;
validation on the first V batches. History, the batches each epoch sees and the weights
equal Keras' on the same weights and data (shuffle=False)."""

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit.layers import GRU, Dense  # noqa: E402
from grukit.models import Callback, ModelCheckpoint, Sequential  # noqa: E402

X = np.random.RandomState(3).randn(20, 6, 2).astype("float32")
Y = X.sum((1, 2))[:, None].astype("float32")


def _pair():
    k = keras.Sequential([keras.Input((6, 2)), keras.layers.GRU(4), keras.layers.Dense(1)])
    g = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    g.set_weights(k.get_weights())
    k.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", metrics=["mae"])
    g.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    g.optimizer.learning_rate = 0.01
    return k, g


def _batches(base):
    class Seen(base):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_epoch_begin(self, epoch, logs=None):
            self.seen.append([])

        def on_train_batch_end(self, batch, logs=None):
            self.seen[-1].append(batch)
    return Seen()


def _fit(model, seen, **kwargs):
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        h = model.fit(X, Y, epochs=4, shuffle=False, verbose=0, callbacks=[seen], **kwargs)
    return h, sum("ran out of data" in str(w.message) for w in said)


@pytest.mark.parametrize("steps, batch_size", [(2, 8), (3, 8), (5, 8), (3, None)])
def test_steps_per_epoch_and_validation_steps_as_keras(steps, batch_size):
    k, g = _pair()
    kwargs = dict(steps_per_epoch=steps, batch_size=batch_size,
                  validation_data=(X[:7], Y[:7]), validation_steps=2,
                  validation_batch_size=3)
    theirs, warned_k = _fit(k, _batches(keras.callbacks.Callback), **kwargs)
    ours, warned_g = _fit(g, _batches(Callback), **kwargs)
    assert warned_g == warned_k  # as many short epochs warned of
    assert set(ours.history) == set(theirs.history)
    for key in theirs.history:
        np.testing.assert_allclose(ours.history[key], theirs.history[key], rtol=2e-5,
                                   err_msg=key)
    for w_g, w_k in zip(g.get_weights(), k.get_weights(), strict=True):
        np.testing.assert_allclose(w_g, w_k, rtol=1e-4, atol=1e-6)


def test_the_epochs_take_the_batches_keras_takes():
    k, g = _pair()
    seen_k, seen_g = _batches(keras.callbacks.Callback), _batches(Callback)
    _fit(k, seen_k, steps_per_epoch=2, batch_size=8)
    _fit(g, seen_g, steps_per_epoch=2, batch_size=8)
    assert seen_g.seen == seen_k.seen == [[0, 1], [0], [0, 1], [0]]


def test_validation_steps_without_batch_sizes_as_keras():
    k, g = _pair()
    kwargs = dict(epochs=1, shuffle=False, verbose=0, steps_per_epoch=4,
                  validation_data=(X[:7], Y[:7]), validation_steps=3)
    np.testing.assert_allclose(g.fit(X, Y, **kwargs).history["val_loss"],
                               k.fit(X, Y, **kwargs).history["val_loss"], rtol=2e-5)


@pytest.mark.filterwarnings("ignore:Your input ran out of data")
def test_a_resumed_run_goes_on_through_the_data_as_an_uninterrupted_one(tmp_path):
    _, g = _pair()
    _, whole = _pair()
    whole.set_weights(g.get_weights())
    kwargs = dict(batch_size=4, steps_per_epoch=2, shuffle=True, seed=3, verbose=0)
    want = whole.fit(X, Y, epochs=5, **kwargs).history["loss"]  # 5 batches a pass
    ck = str(tmp_path / "ck.pt")
    g.fit(X, Y, epochs=3, callbacks=[ModelCheckpoint(ck)], **kwargs)
    got = g.fit(X, Y, epochs=5, resume_from=ck, **kwargs).history["loss"]
    np.testing.assert_allclose(got, want[3:], rtol=1e-6)
    for a, b in zip(g.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_bad_steps_are_refused_in_one_sentence():
    _, g = _pair()
    for bad in ({"steps_per_epoch": 0}, {"validation_steps": 1.5}):
        with pytest.raises(ValueError, match="must be a positive integer"):
            g.fit(X, Y, verbose=0, validation_data=(X, Y), **bad)
