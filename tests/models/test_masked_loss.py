"""With ``Embedding(mask_zero=True)`` and per-time-step outputs, fit and evaluate leave the
padded steps out of the loss and the metrics (the mean over the valid steps), as Keras."""

import os

import numpy as np
import pytest
import torch

from grukit import layers as gl
from grukit.models import Sequential

V, E, U, T = 20, 4, 5, 7
IDS = np.array([[3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 0, 0, 0, 0], [5, 0, 0, 0, 0, 0, 0],
                [7, 8, 9, 1, 2, 0, 0]])
VALID = np.arange(T)[None, :] < (IDS != 0).sum(1)[:, None]  # (4, T)


def _model(out=1, activation=None):
    torch.manual_seed(0)
    m = Sequential([gl.Embedding(V, E, mask_zero=True, input_shape=(T,)),
                    gl.GRU(U, return_sequences=True), gl.Dense(out, activation=activation)])
    m.build()
    return m


def test_mse_counts_only_the_valid_steps_in_evaluate_and_fit():
    y = np.random.default_rng(1).standard_normal((4, T, 1)).astype(np.float32)
    m = _model()
    m.compile(optimizer=torch.optim.SGD(m.parameters(), lr=0.0), loss="mse")
    want = float(((m.predict(IDS) - y)[VALID] ** 2).mean())
    assert want != pytest.approx(float(((m.predict(IDS) - y) ** 2).mean()), rel=1e-3)
    assert m.evaluate(IDS, y) == pytest.approx(want, rel=1e-5)
    hist = m.fit(IDS, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert hist.history["loss"][0] == pytest.approx(want, rel=1e-5)


def test_per_step_accuracy_and_crossentropy_count_only_the_valid_steps():
    y = np.random.default_rng(2).integers(0, 3, (4, T))
    m = _model(3, "softmax")
    m.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    p = m.predict(IDS)
    acc = float((p.argmax(-1) == y)[VALID].mean())
    nll = float(-np.log(np.take_along_axis(p, y[..., None], -1)[..., 0])[VALID].mean())
    res = m.evaluate(IDS, y[..., None], return_dict=True)
    assert res["accuracy"] == pytest.approx(acc)
    assert res["loss"] == pytest.approx(nll, rel=1e-5)


def test_evaluate_matches_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    from grukit.convert import keras_to_torch_weights

    y = np.random.default_rng(1).standard_normal((4, T, 1)).astype(np.float32)
    emb = keras.layers.Embedding(V, E, mask_zero=True)
    rnn, dense = keras.layers.GRU(U, return_sequences=True), keras.layers.Dense(1)
    km = keras.Sequential([keras.Input((T,), dtype="int32"), emb, rnn, dense])
    km.compile(optimizer="adam", loss="mse")
    m = _model()
    m.layers[0].embedding.weight.data = torch.from_numpy(np.asarray(emb.get_weights()[0]))
    w = keras_to_torch_weights([np.asarray(v) for v in rnn.get_weights()], "gru", True)
    m.layers[1].rnn.load_state_dict({k + "_l0": v for k, v in w.items()})
    dw, db = (np.asarray(v) for v in dense.get_weights())
    m.layers[2].linear.weight.data = torch.from_numpy(dw.T.copy())
    m.layers[2].linear.bias.data = torch.from_numpy(db.copy())
    m.compile(loss="mse")
    assert m.evaluate(IDS, y) == pytest.approx(km.evaluate(IDS, y, verbose=0), rel=1e-5)


def test_evaluate_loss_does_not_depend_on_the_batch_size():
    """The mean over every valid step of the data; Keras 3's loss tracker weights each
    batch's masked mean by its sequence count instead (documented in the guide)."""
    y = np.random.default_rng(1).standard_normal((4, T, 1)).astype(np.float32)
    m = _model()
    m.compile(loss="mse", metrics=["mae"])
    err = (m.predict(IDS) - y)[VALID]
    for bs in (1, 2, 3, 4):
        res = m.evaluate(IDS, y, batch_size=bs, return_dict=True)
        assert res["loss"] == pytest.approx(float((err ** 2).mean()), rel=1e-5)
        assert res["mae"] == pytest.approx(float(np.abs(err).mean()), rel=1e-5)
