"""Every loss name ``compile`` takes equals Keras 3's loss of that name (torch backend) on the
same outputs and targets, including class probabilities that do not sum to one (sigmoid
outputs), which Keras' crossentropies scale to sum to one before the log."""

import os

import numpy as np
import pytest
import torch

from grukit.models.training import LOSSES

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

N, C = 8, 4
RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(N, C)).astype(np.float32)
SOFTMAX = torch.softmax(torch.tensor(LOGITS), -1).numpy()
SIGMOID = torch.sigmoid(torch.tensor(LOGITS)).numpy()  # rows sum to 1.2–2.9
LABELS = RNG.integers(0, C, N)
ONE_HOT = np.eye(C, dtype=np.float32)[LABELS]
REAL_P, REAL_Y = RNG.normal(size=(2, N, 1)).astype(np.float32) * 3
BIN_P = torch.sigmoid(torch.tensor(RNG.normal(size=(N, 1)) * 10)).numpy().astype(np.float32)
BIN_Y = RNG.integers(0, 2, (N, 1)).astype(np.float32)

CASES = [
    ("mse", REAL_P, REAL_Y, keras.losses.MeanSquaredError()),
    ("mae", REAL_P, REAL_Y, keras.losses.MeanAbsoluteError()),
    ("huber", REAL_P, REAL_Y, keras.losses.Huber()),
    ("binary_crossentropy", BIN_P, BIN_Y, keras.losses.BinaryCrossentropy()),
    ("categorical_crossentropy", SOFTMAX, ONE_HOT, keras.losses.CategoricalCrossentropy()),
    ("categorical_crossentropy", SIGMOID, ONE_HOT, keras.losses.CategoricalCrossentropy()),
    ("sparse_categorical_crossentropy", SOFTMAX, LABELS,
     keras.losses.SparseCategoricalCrossentropy()),
    ("sparse_categorical_crossentropy", SIGMOID, LABELS,
     keras.losses.SparseCategoricalCrossentropy()),
]


@pytest.mark.parametrize("name,p,y,reference", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_loss_equals_keras(name, p, y, reference):
    got = float(LOSSES[name](torch.tensor(p), torch.tensor(y)))
    want = float(reference(y, p))
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6)
