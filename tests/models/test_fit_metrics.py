"""fit logs each compiled metric on the training batches (its mean over the epoch), as
Keras, so that callbacks can monitor it."""

import numpy as np
import pytest
import torch

from grukit import layers as gl
from grukit.models import EarlyStopping, Sequential


def test_fit_logs_training_accuracy_and_early_stopping_can_monitor_it():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 3, 2)).astype(np.float32)
    y = rng.integers(0, 3, (20, 1))
    torch.manual_seed(0)
    m = Sequential([gl.GRU(4, input_shape=(3, 2)), gl.Dense(3, activation="softmax")])
    m.build()
    # lr 0: the weights stay, so the epoch's training accuracy is evaluate's
    m.compile(optimizer=torch.optim.SGD(m.parameters(), lr=0.0),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = m.fit(x, y, batch_size=6, epochs=2, verbose=0,
                 callbacks=[EarlyStopping(monitor="accuracy", patience=0)])
    assert list(hist.history) == ["loss", "accuracy"]
    assert len(hist.history["accuracy"]) == 2  # flat accuracy: stopped after epoch 2
    want = m.evaluate(x, y, return_dict=True)
    assert hist.history["accuracy"][0] == pytest.approx(want["accuracy"])
    assert hist.history["loss"][0] == pytest.approx(want["loss"], rel=1e-5)


def test_a_callable_metric_is_logged_for_validation_only():
    """A user's metric need not be a mean over batches (an AUC is not, and one batch of one
    class has none): fit logs it on the validation data, as evaluate computes it."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 3, 2)).astype(np.float32)
    y = rng.integers(0, 3, (20, 1))

    def calls(p, t):
        return torch.tensor(float(len(t)))  # not an average: the batch's size

    torch.manual_seed(0)
    m = Sequential([gl.GRU(4, input_shape=(3, 2)), gl.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
              metrics=["accuracy", calls])
    hist = m.fit(x, y, batch_size=6, epochs=1, verbose=0, validation_split=0.25)
    assert "calls" not in hist.history and "accuracy" in hist.history
    assert hist.history["val_calls"] == [5.0]  # evaluate's: the 5 validation samples at once
