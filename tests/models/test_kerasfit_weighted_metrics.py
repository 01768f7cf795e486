"""compile(weighted_metrics=...) weighs its metrics by the sample weights as Keras 3 does
(Σ w·v / Σ w over an epoch or the data evaluated), logged under Keras' names
("weighted_mae" beside an unweighted "mae"): History, evaluate and train_on_batch equal
Keras' on the same weights and data, and the weighted metrics survive save and load."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit.layers import GRU, Dense  # noqa: E402
from grukit.models import Sequential, load_model  # noqa: E402

X = np.random.RandomState(3).randn(20, 6, 2).astype("float32")
Y = X.sum((1, 2))[:, None].astype("float32")
W = np.linspace(0.2, 2.0, len(X)).astype("float32")


def _pair(units=1, activation=None):
    k = keras.Sequential([keras.Input((6, 2)), keras.layers.GRU(4),
                          keras.layers.Dense(units, activation=activation)])
    g = Sequential([GRU(4, input_shape=(6, 2)), Dense(units, activation=activation)])
    g.set_weights(k.get_weights())
    return k, g


def _close(ours: dict, theirs: dict):
    assert set(ours) == set(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=2e-5, err_msg=key)


def test_weighted_metrics_log_keras_names_and_numbers_in_fit_and_evaluate():
    k, g = _pair()
    kwargs = dict(metrics=["mae"], weighted_metrics=["mae", "mse"])
    k.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", **kwargs)
    g.compile(optimizer="sgd", loss="mse", **kwargs)
    g.optimizer.learning_rate = 0.01
    fit = dict(epochs=2, batch_size=8, shuffle=False, verbose=0, sample_weight=W,
               validation_data=(X[:7], Y[:7], W[:7]))
    theirs, ours = k.fit(X, Y, **fit).history, g.fit(X, Y, **fit).history
    assert "weighted_mae" in ours and "val_weighted_mae" in ours and "mse" in ours
    _close(ours, theirs)
    _close(g.evaluate(X, Y, sample_weight=W, verbose=0, return_dict=True),
           k.evaluate(X, Y, sample_weight=W, verbose=0, return_dict=True))
    _close(g.evaluate(X, Y, verbose=0, return_dict=True),  # no weights: the plain means
           k.evaluate(X, Y, verbose=0, return_dict=True))
    _close(g.train_on_batch(X[:5], Y[:5], sample_weight=W[:5], return_dict=True),
           k.train_on_batch(X[:5], Y[:5], sample_weight=W[:5], return_dict=True))


def test_weighted_accuracy_class_weight_and_a_keras_metric_object_as_keras():
    k, g = _pair(units=3, activation="softmax")
    y = np.arange(len(X)) % 3
    for m in (k, g):
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  weighted_metrics=["accuracy",
                                    keras.metrics.SparseCategoricalCrossentropy(name="sce")])
    fit = dict(epochs=2, batch_size=6, shuffle=False, verbose=0,
               class_weight={0: 0.5, 1: 2.0, 2: 1.0})
    _close(g.fit(X, y, **fit).history, k.fit(X, y, **fit).history)


def test_weighted_metrics_survive_save_and_load(tmp_path):
    _, g = _pair()
    g.compile("sgd", "mse", metrics=["mae"], weighted_metrics=["mae"])
    g.save(tmp_path / "m.safetensors")
    back = load_model(tmp_path / "m.safetensors")
    want = g.evaluate(X, Y, sample_weight=W, verbose=0, return_dict=True)
    assert set(want) == {"loss", "mae", "weighted_mae"}
    assert back.evaluate(X, Y, sample_weight=W, verbose=0, return_dict=True) == \
        pytest.approx(want, rel=1e-6)


def test_weighted_metrics_of_all_zero_weights_log_zero_as_keras():
    """An epoch, a validation or an evaluate whose sample weights are all 0 logs 0 for each
    weighted metric, as Keras' weighted mean (Σ w·v / Σ w, 0 where Σ w = 0); the training
    history logged NaN. A batch of zero weights before weighted ones leaves the epoch's
    mean that of the weighted batches."""
    k, g = _pair()
    kwargs = dict(metrics=["mae"], weighted_metrics=["mae", "mse"])
    k.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", **kwargs)
    g.compile(optimizer="sgd", loss="mse", **kwargs)
    g.optimizer.learning_rate = 0.01
    zeros = np.zeros(len(X), "float32")
    batch_logs = []

    class Batches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batch_logs.append(dict(logs))

    from grukit.models import LambdaCallback

    ours_cb = LambdaCallback(on_train_batch_end=lambda b, logs: batch_logs.append(dict(logs)))
    fit = dict(epochs=1, batch_size=8, shuffle=False, verbose=0, sample_weight=zeros,
               validation_data=(X[:7], Y[:7], zeros[:7]))
    theirs = k.fit(X, Y, callbacks=[Batches()], **fit).history
    ours = g.fit(X, Y, callbacks=[ours_cb], **fit).history
    assert ours["weighted_mae"] == [0.0] and ours["mse"] == [0.0]
    _close(ours, theirs)
    assert all(np.isfinite(v) for logs in batch_logs for v in logs.values())
    _close(g.evaluate(X, Y, sample_weight=zeros, verbose=0, return_dict=True),
           k.evaluate(X, Y, sample_weight=zeros, verbose=0, return_dict=True))
    half = np.r_[np.zeros(8), np.ones(len(X) - 8)].astype("float32")  # batch 1 weighs 0
    fit = dict(epochs=1, batch_size=8, shuffle=False, verbose=0, sample_weight=half)
    _close(g.fit(X, Y, **fit).history, k.fit(X, Y, **fit).history)
