"""A Keras loss object with reduction="sum" takes sample weights as Keras 3 does: each
batch's Σ w·v (fit, train_on_batch, test_on_batch), and evaluate's loss those sums averaged
over the batches by their sizes. History, weights and evaluate equal Keras' on the same
weights and data. One Keras metric object in both metrics and weighted_metrics is refused;
metrics_names names evaluate's values in order."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit.layers import GRU, Dense  # noqa: E402
from grukit.models import Sequential  # noqa: E402

X = np.random.RandomState(3).randn(20, 6, 2).astype("float32")
Y = X.sum((1, 2))[:, None].astype("float32")
W = np.linspace(0.2, 2.0, len(X)).astype("float32")


def _pair():
    k = keras.Sequential([keras.Input((6, 2)), keras.layers.GRU(4), keras.layers.Dense(1)])
    g = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    g.set_weights(k.get_weights())
    for m in (k, g):
        m.compile(optimizer=keras.optimizers.SGD(0.001) if m is k else "sgd",
                  loss=keras.losses.Huber(delta=2.0, reduction="sum"), metrics=["mae"])
    g.optimizer.learning_rate = 0.001
    return k, g


def test_a_sum_reduction_loss_weighs_its_values_by_sample_weights_as_keras():
    k, g = _pair()
    fit = dict(epochs=2, batch_size=6, shuffle=False, verbose=0, sample_weight=W,
               validation_data=(X[:7], Y[:7], W[:7]), validation_batch_size=3)
    theirs, ours = k.fit(X, Y, **fit).history, g.fit(X, Y, **fit).history
    assert set(ours) == set(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=2e-5, err_msg=key)
    for a, b in zip(g.get_weights(), k.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    for size in (6, 20):
        np.testing.assert_allclose(
            g.evaluate(X, Y, sample_weight=W, batch_size=size, verbose=0),
            k.evaluate(X, Y, sample_weight=W, batch_size=size, verbose=0), rtol=2e-5)
    np.testing.assert_allclose(g.test_on_batch(X[:5], Y[:5], sample_weight=W[:5]),
                               k.test_on_batch(X[:5], Y[:5], sample_weight=W[:5]), rtol=2e-5)


def test_one_keras_metric_object_in_metrics_and_weighted_metrics_is_refused():
    """Its one state would take each batch with and without the weights: both logged values
    a mix (Keras logs the mix under both names); two objects give the two true values."""
    g = Sequential([GRU(4, input_shape=(6, 2)), Dense(1, activation="sigmoid")])
    auc = keras.metrics.AUC(name="auc")
    with pytest.raises(ValueError, match="in both metrics and weighted_metrics"):
        g.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[auc],
                  weighted_metrics=[auc])
    g.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[auc],
              weighted_metrics=[keras.metrics.AUC(name="auc")])
    y = (X.sum((1, 2)) > 0).astype("float32")[:, None]
    got = g.evaluate(X, y, sample_weight=W, verbose=0, return_dict=True)
    for name, w in (("auc", None), ("weighted_auc", W)):
        want = keras.metrics.AUC()
        want.update_state(y, g.predict(X, verbose=0), sample_weight=w)
        np.testing.assert_allclose(got[name], float(want.result()), rtol=1e-5)


def test_metrics_names_name_the_values_evaluate_returns_in_order():
    g = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    assert g.metrics_names == []
    g.compile(optimizer="sgd", loss="mse", metrics=["mae", keras.metrics.MeanSquaredError()],
              weighted_metrics=["mae"])
    values = g.evaluate(X, Y, sample_weight=W, verbose=0)
    assert dict(zip(g.metrics_names, values, strict=True)) == \
        g.evaluate(X, Y, sample_weight=W, verbose=0, return_dict=True)
    assert g.metrics_names[-1] == "weighted_mae"
