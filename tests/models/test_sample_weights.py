"""``fit(sample_weight=..., class_weight=...)`` and ``evaluate(sample_weight=...)`` weigh the
loss as Keras 3 does (Σ w·loss / number of values, per batch), checked against Keras on a
model with the same weights; validation splits keep their weights; bad weights are refused."""

import os

import numpy as np
import pytest
import torch

from grukit import convert
from grukit.layers import GRU, Dense
from grukit.models import Sequential

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

N, T, F, C = 12, 6, 2, 3
RNG = np.random.default_rng(0)
X = RNG.normal(size=(N, T, F)).astype(np.float32)
LABELS = RNG.integers(0, C, N)
W = RNG.uniform(0.1, 3.0, N).astype(np.float32)


def _pair(units=C, activation="softmax"):
    """A Keras model and grukit's with the same weights."""
    ref = keras.Sequential([keras.Input((T, F)), keras.layers.GRU(4),
                            keras.layers.Dense(units, activation=activation)])
    ref.set_weights([RNG.normal(0, 0.5, w.shape).astype("float32") for w in ref.get_weights()])
    model = Sequential([GRU(4, input_shape=(T, F)), Dense(units, activation=activation)])
    model.build()
    model.stack[0].rnn.load_state_dict(convert.from_keras(ref.layers[0]).state_dict())
    kernel, bias = ref.layers[1].get_weights()
    with torch.no_grad():
        model.stack[1].linear.weight.copy_(torch.from_numpy(kernel.T))
        model.stack[1].linear.bias.copy_(torch.from_numpy(bias))
    return ref, model


def _frozen(model, loss):
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=0.0), loss=loss)


@pytest.mark.parametrize("loss,y", [("sparse_categorical_crossentropy", LABELS),
                                    ("categorical_crossentropy", np.eye(C)[LABELS])])
def test_class_weight_fit_loss_equals_keras(loss, y):
    ref, model = _pair()
    cw = {0: 0.5, 1: 4.0}  # class 2 left out: weight 1
    ref.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss=loss)
    want = ref.fit(X, y, batch_size=5, epochs=1, shuffle=False, class_weight=cw,
                   verbose=0).history["loss"][0]
    _frozen(model, loss)
    got = model.fit(X, y, batch_size=5, epochs=1, shuffle=False, class_weight=cw,
                    verbose=0).history["loss"][0]
    assert got == pytest.approx(want, rel=1e-5)
    unweighted = model.fit(X, y, batch_size=5, epochs=1, shuffle=False, verbose=0)
    assert unweighted.history["loss"][0] != pytest.approx(want, rel=1e-3)


def test_sample_weight_evaluate_and_validation_split_equal_keras():
    ref, model = _pair(1, None)
    y = RNG.normal(size=(N, 1)).astype(np.float32)
    ref.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    _frozen(model, "mse")
    assert model.evaluate(X, y, sample_weight=W) == pytest.approx(
        ref.evaluate(X, y, sample_weight=W, verbose=0), rel=1e-5)
    want = ref.fit(X, y, batch_size=4, epochs=1, shuffle=False, sample_weight=W,
                   validation_split=0.25, verbose=0).history
    got = model.fit(X, y, batch_size=4, epochs=1, shuffle=False, sample_weight=W,
                    validation_split=0.25, verbose=0).history
    assert got["loss"][0] == pytest.approx(want["loss"][0], rel=1e-5)
    assert got["val_loss"][0] == pytest.approx(want["val_loss"][0], rel=1e-5)
    got = model.fit(X, y, epochs=1, validation_data=(X[:5], y[:5], W[:5]), verbose=0).history
    assert got["val_loss"][0] == pytest.approx(
        ref.evaluate(X[:5], y[:5], sample_weight=W[:5], verbose=0), rel=1e-5)


def test_class_weight_leaves_the_validation_split_unweighted_as_keras():
    ref, model = _pair()
    loss, cw = "sparse_categorical_crossentropy", {0: 3.0, 1: 0.2}
    ref.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss=loss)
    want = ref.fit(X, LABELS, batch_size=4, epochs=1, shuffle=False, class_weight=cw,
                   validation_split=0.25, verbose=0).history
    _frozen(model, loss)
    got = model.fit(X, LABELS, batch_size=4, epochs=1, shuffle=False, class_weight=cw,
                    validation_split=0.25, verbose=0).history
    assert got["loss"][0] == pytest.approx(want["loss"][0], rel=1e-5)
    assert got["val_loss"][0] == pytest.approx(want["val_loss"][0], rel=1e-5)
    assert got["val_loss"][0] == pytest.approx(model.evaluate(X[9:], LABELS[9:]), rel=1e-6)


def _twins():
    """Two GRU(4) → Dense(1) models with the same weights."""
    torch.manual_seed(0)
    a = Sequential([GRU(4, input_shape=(T, F)), Dense(1)])
    b = Sequential([GRU(4, input_shape=(T, F)), Dense(1)])
    b.load_state_dict(a.state_dict())
    return a, b


def test_weights_move_training_as_repeating_samples_would():
    """Weight 2 on a sample, batch of all samples, SGD: the same step as that sample twice
    among N + 1 values times (N + 1) / N."""
    y = RNG.normal(size=(N, 1)).astype(np.float32)
    w = np.ones(N, np.float32)
    w[0] = 2.0
    a, b = _twins()
    a.compile(optimizer=torch.optim.SGD(a.parameters(), lr=0.1), loss="mse")
    b.compile(optimizer=torch.optim.SGD(b.parameters(), lr=0.1 * (N + 1) / N), loss="mse")
    a.fit(X, y, batch_size=N, epochs=1, sample_weight=w, verbose=0)
    b.fit(np.concatenate([X[:1], X]), np.concatenate([y[:1], y]), batch_size=N + 1, epochs=1,
          verbose=0)
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-5, atol=1e-6)


def test_a_dataset_of_triples_is_weighted_and_bad_weights_are_refused():
    y = RNG.normal(size=(N, 1)).astype(np.float32)
    _, model = _pair(1, None)
    _frozen(model, "mse")
    ds = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y),
                                        torch.from_numpy(W))
    want_eval = model.evaluate(X, y, sample_weight=W)
    assert model.evaluate(ds) == pytest.approx(want_eval, rel=1e-6)
    got = model.fit(ds, epochs=1, batch_size=4, shuffle=False, verbose=0).history["loss"][0]
    want = model.fit(X, y, epochs=1, batch_size=4, shuffle=False, sample_weight=W,
                     verbose=0).history["loss"][0]
    assert got == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="one weight per sample"):
        model.fit(X, y, sample_weight=W[:5], verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X, y, sample_weight=np.full(N, np.nan), verbose=0)
    with pytest.raises(ValueError, match="not both"):
        model.fit(X, y, sample_weight=W, class_weight={0: 1.0}, verbose=0)
    with pytest.raises(ValueError, match="class index"):
        model.fit(X, y, class_weight={"a": 1.0}, verbose=0)
    with pytest.raises(ValueError, match="third item"):
        model.fit(ds, sample_weight=W, verbose=0)
    model.compile(optimizer="sgd", loss=torch.nn.MSELoss())  # one number per batch
    with pytest.raises(ValueError, match="loss given by name"):
        model.fit(X, y, sample_weight=W, verbose=0)
    with pytest.raises(ValueError, match="loss given by name"):
        model.evaluate(ds)
    model.compile(optimizer="sgd", loss=lambda t, p: ((p - t) ** 2).mean())
    with pytest.raises(ValueError, match="returns one number per batch"):
        model.fit(X, y, sample_weight=W, verbose=0)
    model.compile(optimizer="sgd", loss=lambda t, p: ((p - t) ** 2).mean(-1))  # per sample
    assert model.evaluate(X, y, sample_weight=W) == pytest.approx(want_eval, rel=1e-5)


def test_initial_epoch_goes_on_as_keras_and_as_one_run():
    """fit(epochs=2) then fit(epochs=4, initial_epoch=2) ends where fit(epochs=4) does (the
    same seeded orders), and logs the epochs it ran, as Keras."""
    y = RNG.normal(size=(N, 1)).astype(np.float32)
    a, b = _twins()
    for m in (a, b):
        m.compile(optimizer=torch.optim.SGD(m.parameters(), lr=0.05), loss="mse")
    a.fit(X, y, batch_size=4, epochs=4, seed=3, verbose=0)
    b.fit(X, y, batch_size=4, epochs=2, seed=3, verbose=0)
    hist = b.fit(X, y, batch_size=4, epochs=4, initial_epoch=2, seed=3, verbose=0)
    assert len(hist.history["loss"]) == 2
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-5, atol=1e-6)
    assert b.fit(X, y, epochs=2, initial_epoch=2, verbose=0).history == {}
    with pytest.raises(ValueError, match="initial_epoch"):
        b.fit(X, y, epochs=2, initial_epoch=-1, verbose=0)
