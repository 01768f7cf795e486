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


def test_a_callable_metric_is_averaged_over_batches_as_keras_and_evaluated_whole():
    """A user's metric function is logged on the training batches as Keras' mean metric
    logs it (a number per batch counts once: the batches of 6, 6 and 3 give 5.0) and on the
    validation data as evaluate computes it (the 5 samples at once). A torch module metric,
    an AUC say, need not be a mean over batches: it is logged for validation only."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 3, 2)).astype(np.float32)
    y = rng.integers(0, 3, (20, 1))

    def calls(t, p):
        return torch.tensor(float(len(t)))  # not an average: the batch's size

    class Seen(torch.nn.Module):  # torch's form: (input, target)
        def forward(self, p, t):
            return torch.tensor(float(len(t)))

    torch.manual_seed(0)
    m = Sequential([gl.GRU(4, input_shape=(3, 2)), gl.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
              metrics=["accuracy", calls, Seen()])
    hist = m.fit(x, y, batch_size=6, epochs=1, verbose=0, validation_split=0.25)
    assert hist.history["calls"] == [5.0] and "accuracy" in hist.history
    assert hist.history["val_calls"] == [5.0]  # evaluate's: the 5 validation samples at once
    assert "Seen" not in hist.history and hist.history["val_Seen"] == [5.0]
