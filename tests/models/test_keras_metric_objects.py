"""A Keras metric object given to compile (``keras.metrics.AUC()``) gives Keras' value on
the data at hand: called as a function it went on from everything it saw before (a second
evaluate's AUC mixed in the first's samples, val_AUC the training batches'), a silently
wrong number. It is logged under its Keras name, on the training batches (reset each
epoch, as Keras) and on the validation data."""

import os

import numpy as np
import pytest
import torch

from grukit.layers import GRU, Dense
from grukit.models import Sequential

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

N, T, F = 24, 4, 2
RNG = np.random.default_rng(0)
X = RNG.normal(size=(N, T, F)).astype(np.float32)
Y = RNG.integers(0, 2, N)


def _pair():
    ref = keras.Sequential([keras.Input((T, F)), keras.layers.GRU(3),
                            keras.layers.Dense(1, activation="sigmoid")])
    ref.set_weights([RNG.normal(0, 0.5, w.shape).astype("float32") for w in ref.get_weights()])
    model = Sequential([GRU(3, input_shape=(T, F)), Dense(1, activation="sigmoid")])
    model.set_weights(ref.get_weights())
    return ref, model


def _metrics():
    return [keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="bin_acc")]


def test_evaluate_twice_equals_keras():
    ref, model = _pair()
    ref.compile(loss="binary_crossentropy", metrics=_metrics())
    model.compile(loss="binary_crossentropy", metrics=_metrics())
    for rows in (slice(None), slice(0, 10)):
        want = ref.evaluate(X[rows], Y[rows], return_dict=True, verbose=0)
        got = model.evaluate(X[rows], Y[rows], return_dict=True)
        for name in ("auc", "bin_acc"):
            assert got[name] == pytest.approx(want[name], rel=1e-5), name


def _fit_both(lr: float, **kw):
    """Keras' history and grukit's, SGD at ``lr``, the AUC object in both."""
    ref, model = _pair()
    ref.compile(optimizer=keras.optimizers.SGD(lr), loss="binary_crossentropy",
                metrics=[keras.metrics.AUC(name="auc")])
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=lr),
                  loss="binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")])
    kw = dict(shuffle=False, verbose=0) | kw
    return ref.fit(X, Y, **kw).history, model.fit(X, Y, **kw).history


def test_fit_logs_the_validation_value_keras_logs():
    want, got = _fit_both(0.0, epochs=2, batch_size=5, validation_split=0.5)
    for name in ("auc", "val_auc"):  # the training value: over the epoch's batches
        assert got[name] == pytest.approx(want[name], rel=1e-5), name


def test_the_training_value_is_each_epochs_own_as_keras():
    """Trained, the model changes: each epoch's training AUC covers that epoch's batches."""
    want, got = _fit_both(0.5, epochs=3, batch_size=6)
    assert got["auc"] == pytest.approx(want["auc"], rel=1e-4)
    assert len(set(got["auc"])) == 3
