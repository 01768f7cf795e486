"""A loss or metric function of the user's is called as Keras calls it, fn(y_true, y_pred):
an asymmetric one (a pinball loss, MAPE) gives Keras' numbers and trains to Keras' weights,
its per-sample values take sample weights; torch's losses keep torch's (input, target)."""

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit.layers import GRU, Dense  # noqa: E402
from grukit.models import Sequential  # noqa: E402

X = np.random.RandomState(3).randn(40, 6, 2).astype("float32")
Y = (X.sum((1, 2)) / 4 + 3).astype("float32")  # (N,): rank below the (N, 1) output


def pinball(y_true, y_pred):  # quantile 0.9: asymmetric in its two arguments
    e = y_true - y_pred
    return keras.ops.mean(keras.ops.maximum(0.9 * e, -0.1 * e), axis=-1)


def mape(y_true, y_pred):
    return 100 * keras.ops.mean(keras.ops.abs((y_true - y_pred) / y_true), axis=-1)


def _pair():
    k = keras.Sequential([keras.Input((6, 2)), keras.layers.GRU(4), keras.layers.Dense(1)])
    g = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    g.set_weights(k.get_weights())
    return k, g


def test_a_keras_style_loss_and_metric_give_keras_numbers_and_weights():
    k, g = _pair()
    k.compile(optimizer=keras.optimizers.SGD(0.05), loss=pinball, metrics=[mape])
    g.compile(optimizer="sgd", loss=pinball, metrics=[mape])
    g.optimizer.learning_rate = 0.05
    w = np.linspace(0.2, 2.0, len(X)).astype("float32")
    # (N, 1) targets for the metric: Keras' metric wrapper does not reshape (N,) targets to
    # the (N, 1) output (they broadcast to (N, N)); its loss wrapper does, as grukit does
    theirs = k.fit(X, Y[:, None], epochs=2, batch_size=8, shuffle=False, verbose=0,
                   sample_weight=w)
    ours = g.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0, sample_weight=w)
    assert set(ours.history) == set(theirs.history) == {"loss", "mape"}
    for key in ("loss", "mape"):
        np.testing.assert_allclose(ours.history[key], theirs.history[key], rtol=1e-4)
    for a, b in zip(g.get_weights(), k.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-6)
    np.testing.assert_allclose(g.evaluate(X, Y, verbose=0),
                               k.evaluate(X, Y[:, None], verbose=0), rtol=1e-4)


def test_torch_losses_keep_torchs_argument_order():
    _, g = _pair()
    pred = torch.tensor(g.predict(X))
    target = torch.tensor(Y).unsqueeze(1)

    def one_sided(input, target):  # noqa: A002 - torch's names
        return F.relu(input - target).mean()

    one_sided.__module__ = "torch.nn.functional"  # as a function of torch's
    for loss, want in [(torch.nn.L1Loss(), F.l1_loss(pred, target)),
                       (F.mse_loss, F.mse_loss(pred, target)),
                       (one_sided, F.relu(pred - target).mean())]:
        g.compile(optimizer="sgd", loss=loss)
        assert g.evaluate(X, Y[:, None], verbose=0) == pytest.approx(float(want), rel=1e-5)
