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


POS = np.abs(REAL_P) + 0.1  # outputs a Poisson or log loss needs positive
POS_Y = np.abs(REAL_Y)
SIGNS = np.where(BIN_Y > 0, 1.0, -1.0).astype(np.float32)
NEW_NAMES = [
    ("mape", REAL_P, REAL_Y), ("MAPE", REAL_P, REAL_Y),
    ("mean_absolute_percentage_error", REAL_P, REAL_Y),
    ("msle", POS, POS_Y), ("mean_squared_logarithmic_error", REAL_P, REAL_Y),
    ("log_cosh", REAL_P * 30, REAL_Y), ("kl_divergence", SOFTMAX, ONE_HOT * 0.9 + 0.025),
    ("kld", SIGMOID, ONE_HOT), ("poisson", POS, POS_Y),
    ("cosine_similarity", LOGITS, SIGMOID), ("hinge", REAL_P, BIN_Y), ("hinge", REAL_P, SIGNS),
    ("hinge", REAL_P, REAL_Y), ("squared_hinge", REAL_P, BIN_Y),
    ("categorical_hinge", LOGITS, ONE_HOT), ("bce", BIN_P, BIN_Y), ("MSE", REAL_P, REAL_Y),
]


@pytest.mark.parametrize("name,p,y", NEW_NAMES, ids=[f"{c[0]}-{i}" for i, c in
                                                    enumerate(NEW_NAMES)])
def test_every_keras_loss_name_equals_keras(name, p, y):
    got = float(LOSSES[name](torch.tensor(p), torch.tensor(y)))
    want = float(keras.ops.mean(keras.losses.get(name)(y, p)))
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6)


METRIC_CASES = [
    ("binary_accuracy", BIN_P, BIN_Y), ("categorical_accuracy", SOFTMAX, ONE_HOT),
    ("sparse_categorical_accuracy", SOFTMAX, LABELS),
    ("sparse_categorical_accuracy", SOFTMAX, LABELS[:, None]), ("mape", REAL_P, REAL_Y),
    ("msle", POS, POS_Y), ("cosine_similarity", LOGITS, SIGMOID), ("hinge", REAL_P, BIN_Y),
]


@pytest.mark.parametrize("name,p,y", METRIC_CASES, ids=[f"{c[0]}-{i}" for i, c in
                                                        enumerate(METRIC_CASES)])
def test_metric_names_equal_keras(name, p, y):
    from grukit.models.training import METRICS

    got = float(METRICS[name](torch.tensor(p), torch.tensor(y)))
    metric = keras.metrics.get(name)
    want = float(keras.ops.mean(metric(y, p)))
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_compile_takes_a_keras_loss_name_and_one_metric_name():
    from grukit import layers as gl
    from grukit.models import Sequential

    torch.manual_seed(0)
    x = RNG.normal(size=(16, 5, 1)).astype(np.float32)
    y = np.abs(x.sum(1)) + 0.5
    m = Sequential([gl.GRU(4, input_shape=(5, 1)), gl.Dense(1)])
    m.compile(optimizer="adam", loss="mape", metrics="msle")  # one name, not a list
    hist = m.fit(x, y, epochs=1, batch_size=16, verbose=0).history
    assert set(hist) == {"loss", "msle"}
    loss, msle = m.evaluate(x, y, batch_size=16)
    p = m.predict(x)
    assert loss == pytest.approx(float(keras.losses.get("mape")(y, p).mean()), rel=1e-5)
    assert msle == pytest.approx(float(keras.losses.get("msle")(y, p).mean()), rel=1e-5)


def test_early_stopping_auto_minimizes_every_loss_name_and_maximizes_cosine_and_accuracies():
    from grukit.models.callbacks import _mode
    from grukit.models.training import METRICS

    for name in set(LOSSES) - {"cosine_similarity"}:  # a metric of that name is +cos
        assert _mode("EarlyStopping", f"val_{name}", "auto") == "min", name
    for name in ("cosine_similarity", "accuracy", "binary_accuracy", "categorical_accuracy",
                 "sparse_categorical_accuracy"):
        assert name in METRICS
        assert _mode("EarlyStopping", f"val_{name}", "auto") == "max", name


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adagrad", "adam", "adamw"])
def test_optimizer_names_train_as_keras_defaults_do(name):
    # Keras' defaults: AdamW's weight decay, Adagrad's first accumulator, RMSprop's and
    # Adam's ε (inside the root; added to √v, not √v̂)
    from grukit.layers import GRU, Dense
    from grukit.models import Sequential

    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 4, 2)).astype(np.float32)
    y = rng.normal(size=(12, 1)).astype(np.float32)
    ref = keras.Sequential([keras.Input((4, 2)), keras.layers.GRU(3), keras.layers.Dense(1)])
    ref.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in ref.get_weights()])
    ours = Sequential([GRU(3, input_shape=(4, 2)), Dense(1)])
    ours.set_weights(ref.get_weights())
    ref.compile(optimizer=name, loss="mse")
    ours.compile(optimizer=name, loss="mse")
    ref.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
