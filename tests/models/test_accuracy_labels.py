"""``metrics=["accuracy"]`` and sparse categorical crossentropy take every label layout
Keras takes: integer labels (N,) or (N, 1), one-hot labels, one sigmoid unit, and per time
step outputs (N, T, C) with labels (N, T) or (N, T, 1)."""

import numpy as np
import pytest
import torch

from grukit import layers as gl
from grukit.models import Sequential
from grukit.models.training import LOSSES, METRICS

acc, scce = METRICS["accuracy"], LOSSES["sparse_categorical_crossentropy"]

P = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.3, 0.2]])
LABELS = torch.tensor([0, 1, 1, 2])  # the first two right: accuracy 0.5


@pytest.mark.parametrize("y", [LABELS, LABELS[:, None], torch.eye(3)[LABELS]],
                         ids=["int (N,)", "int (N,1)", "one-hot"])
def test_accuracy_of_class_probabilities(y):
    assert float(acc(P, y)) == pytest.approx(0.5)


def test_accuracy_of_one_sigmoid_unit_thresholds_at_half():
    p = torch.tensor([[0.9], [0.4], [0.6], [0.2]])
    assert float(acc(p, torch.tensor([1.0, 0.0, 0.0, 1.0])[:, None])) == pytest.approx(0.5)
    assert float(acc(p, torch.tensor([1, 0, 0, 1]))) == pytest.approx(0.5)


@pytest.mark.parametrize("shape", ["(N,T)", "(N,T,1)", "one-hot"])
def test_per_time_step_accuracy_and_sparse_crossentropy(shape):
    p = P.reshape(2, 2, 3)  # (N, T, C)
    y = LABELS.reshape(2, 2)
    y = {"(N,T)": y, "(N,T,1)": y[..., None], "one-hot": torch.eye(3)[y]}[shape]
    assert float(acc(p, y)) == pytest.approx(0.5)
    if shape != "one-hot":
        want = -torch.log(P[torch.arange(4), LABELS]).mean()
        assert float(scce(p, y)) == pytest.approx(float(want), rel=1e-6)


def test_evaluate_with_n_by_1_integer_labels_gives_true_accuracy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 3, 2)).astype(np.float32)
    y = rng.integers(0, 3, (24, 1))
    m = Sequential([gl.GRU(4, input_shape=(3, 2)), gl.Dense(3, activation="softmax")])
    m.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    true = float((m.predict(x).argmax(-1) == y[:, 0]).mean())
    assert m.evaluate(x, y, return_dict=True)["accuracy"] == pytest.approx(true)
    assert m.evaluate(x, y[:, 0], return_dict=True)["accuracy"] == pytest.approx(true)


def test_binary_accuracy_of_soft_labels_counts_as_keras():
    """A soft label (0.9, 0.7) is a hit only where it equals the thresholded prediction, as
    Keras counts; "accuracy" and the weighted form thresholded the label too (0.8 here
    against Keras' 0.4)."""
    keras = pytest.importorskip("keras")
    from grukit.models import training

    y = np.array([[0.9], [0.1], [1.0], [0.0], [0.7]], np.float32)
    p = np.array([[0.8], [0.2], [0.6], [0.4], [0.3]], np.float32)
    want = float(np.mean(np.asarray(keras.metrics.binary_accuracy(y, p))))
    assert want == pytest.approx(0.4)
    pt, yt = torch.from_numpy(p), torch.from_numpy(y)
    for fn in (training._accuracy, training._binary_accuracy):
        assert float(fn(pt, yt)) == pytest.approx(want)
    assert float(training._binary_accuracy_each(pt, yt).mean()) == pytest.approx(want)
