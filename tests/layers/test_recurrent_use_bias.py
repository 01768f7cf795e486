"""Keras' ``use_bias=False`` on GRU, LSTM and SimpleRNN: Keras' weight list, outputs and
training equal Keras 3's on the same weights; ``from_keras``, save/load and ONNX keep it."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
ort = pytest.importorskip("onnxruntime")

from grukit.export import to_onnx  # noqa: E402
from grukit.layers import GRU, LSTM, Bidirectional, Dense, SimpleRNN  # noqa: E402
from grukit.models import Sequential, from_keras, load  # noqa: E402

X = np.random.RandomState(0).randn(16, 7, 3).astype("float32")
Y = X.sum((1, 2))[:, None] / 5
CASES = {
    "gru": (lambda kl: kl.GRU(5, use_bias=False), lambda: GRU(5, use_bias=False)),
    "gru_before": (lambda kl: kl.GRU(5, use_bias=False, reset_after=False),
                   lambda: GRU(5, use_bias=False, reset_after=False)),
    "lstm": (lambda kl: kl.LSTM(5, use_bias=False), lambda: LSTM(5, use_bias=False)),
    "bi_rnn": (lambda kl: kl.Bidirectional(kl.SimpleRNN(5, use_bias=False)),
               lambda: Bidirectional(SimpleRNN(5, use_bias=False))),
}


@pytest.mark.parametrize("case", list(CASES))
def test_no_bias_equals_keras(case, tmp_path):
    make_k, make_g = CASES[case]
    k = keras.Sequential([keras.Input((7, 3)), make_k(keras.layers), keras.layers.Dense(1)])
    g = Sequential([make_g(), Dense(1)])
    g.build((7, 3))
    assert [w.shape for w in g.get_weights()] == [w.shape for w in k.get_weights()]
    assert g.count_params() == k.count_params()
    g.set_weights(k.get_weights())
    np.testing.assert_allclose(g.predict(X, verbose=0), k.predict(X, verbose=0), atol=1e-6)
    np.testing.assert_allclose(from_keras(k).predict(X, verbose=0), k.predict(X, verbose=0),
                               atol=1e-6)
    k.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    g.compile(optimizer="sgd", loss="mse")
    g.optimizer.learning_rate = 0.05
    k.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    g.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(g.get_weights(), k.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    g.save(tmp_path / "m.keras")
    back = load(tmp_path / "m.keras")
    np.testing.assert_allclose(back.predict(X, verbose=0), g.predict(X, verbose=0), atol=0)
    g.eval()
    with torch.no_grad():
        want = g(torch.from_numpy(X)).numpy()
    session = ort.InferenceSession(str(to_onnx(g, tmp_path / "m.onnx")))
    np.testing.assert_allclose(session.run(None, {"input": X})[0], want, atol=2e-6)


def test_use_bias_must_be_a_bool():
    with pytest.raises(TypeError, match="use_bias must be True or False"):
        GRU(3, use_bias="False")
