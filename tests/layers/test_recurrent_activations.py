"""Keras' ``activation`` / ``recurrent_activation`` on GRU and LSTM (``LSTM(50,
activation="relu")``, the form of many Keras forecasting scripts): outputs and training
equal Keras 3's on the same weights; they run on the reference backend, and the forms that
compute tanh and σ only (streams, int8, torch.nn; ONNX for activations its operators lack)
refuse such a layer by name."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit import nn as gnn  # noqa: E402
from grukit import ops  # noqa: E402
from grukit.convert import to_keras, to_torch  # noqa: E402
from grukit.export import to_onnx  # noqa: E402
from grukit.layers import GRU, LSTM, Bidirectional, Dense  # noqa: E402
from grukit.models import Sequential, from_keras, load  # noqa: E402
from grukit.nn import Stream  # noqa: E402
from grukit.nn.quantized import quantize_int8  # noqa: E402

X = np.random.RandomState(0).randn(16, 7, 3).astype("float32")
Y = X.sum((1, 2))[:, None] / 5

PAIRS = [("relu", "sigmoid"), ("tanh", "hard_sigmoid"), ("elu", "softsign"), ("linear", "sigmoid")]


def _models(kind, act, rec, **kw):
    kl = keras.layers
    k = keras.Sequential([keras.Input((7, 3)),
                          getattr(kl, kind)(5, activation=act, recurrent_activation=rec, **kw),
                          kl.Dense(1)])
    g = Sequential([{"GRU": GRU, "LSTM": LSTM}[kind](5, activation=act, recurrent_activation=rec,
                                                     input_shape=(7, 3), **kw), Dense(1)])
    g.build()
    g.set_weights(k.get_weights())
    return k, g


@pytest.mark.parametrize("act,rec", PAIRS)
@pytest.mark.parametrize("kind,kw", [("GRU", {}), ("GRU", {"reset_after": False}),
                                     ("LSTM", {})], ids=["gru", "gru_before", "lstm"])
def test_outputs_and_training_equal_keras(kind, kw, act, rec):
    k, g = _models(kind, act, rec, **kw)
    np.testing.assert_allclose(g.predict(X, verbose=0), k.predict(X, verbose=0), rtol=1e-5,
                               atol=1e-6)
    k.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    g.compile(optimizer="sgd", loss="mse")
    g.optimizer.learning_rate = 0.05
    hk = k.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    hg = g.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(hg, hk, rtol=1e-4)
    for a, b in zip(g.get_weights(), k.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_the_activation_changes_the_output():
    _, relu = _models("LSTM", "relu", "sigmoid")
    _, tanh = _models("LSTM", "tanh", "sigmoid")
    tanh.set_weights(relu.get_weights())
    assert np.abs(relu.predict(X, verbose=0) - tanh.predict(X, verbose=0)).max() > 1e-3


def test_bidirectional_and_saved_model_keep_the_activation(tmp_path):
    kl = keras.layers
    k = keras.Sequential([keras.Input((7, 3)),
                          kl.Bidirectional(kl.GRU(4, activation="relu", return_sequences=True)),
                          kl.LSTM(3, activation="selu", recurrent_activation="hard_sigmoid")])
    g = from_keras(k)
    np.testing.assert_allclose(g.predict(X, verbose=0), k.predict(X, verbose=0), rtol=1e-5,
                               atol=1e-6)
    h = Sequential([Bidirectional(GRU(4, activation="relu", return_sequences=True),
                                  input_shape=(7, 3)),
                    LSTM(3, activation="selu", recurrent_activation="hard_sigmoid")])
    h.build()
    h.set_weights(k.get_weights())
    h.compile(optimizer="adam", loss="mse")
    h.save(tmp_path / "m.keras")
    np.testing.assert_allclose(load(tmp_path / "m.keras").predict(X, verbose=0),
                               k.predict(X, verbose=0), rtol=1e-5, atol=1e-6)


def test_nn_modules_and_ops_take_them_on_the_reference_backend():
    torch.manual_seed(0)
    m = gnn.GRU(3, 4, batch_first=True, activation="relu")
    assert "activation='relu'" in repr(m)
    x = torch.from_numpy(X)
    y, _ = m(x)
    p = dict(m.named_parameters())
    want, _ = ops.gru(x, p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"], p["bias_hh_l0"],
                      activation="relu", backend="reference")
    torch.testing.assert_close(y, want)
    with pytest.raises(ValueError, match="backend='cpu' computes tanh and sigmoid only"):
        ops.gru(x, p["weight_ih_l0"], p["weight_hh_l0"], activation="relu", backend="cpu")
    with pytest.raises(ValueError, match="unknown activation 'rellu'"):
        gnn.LSTM(3, 4, activation="rellu")


def test_forms_that_compute_tanh_only_refuse_by_name(tmp_path):
    _, g = _models("GRU", "relu", "sigmoid")
    rnn = g.layers[0].rnn
    for make in (lambda: Stream(rnn), lambda: quantize_int8(g), lambda: to_torch(rnn)):
        with pytest.raises(ValueError, match="computes tanh and sigmoid only; .*'relu'"):
            make()
    _, gelu = _models("GRU", "gelu", "sigmoid")  # the ONNX operator has no gelu
    with pytest.raises(ValueError, match="activation='gelu'.* has no ONNX form"):
        to_onnx(gelu, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    back = to_keras(rnn)  # Keras has the activation
    assert back.get_config()["activation"] == "relu"


def test_the_keras_forecasting_script_runs_as_written():
    # LSTM(50, activation="relu") on windows of 3 steps, the form of many Keras tutorials
    seq = np.arange(10, 100, 10, dtype="float32")
    x = np.stack([seq[i:i + 3] for i in range(6)])[:, :, None]
    y = seq[3:9]
    torch.manual_seed(0)
    model = Sequential()
    model.add(LSTM(50, activation="relu", input_shape=(3, 1)))
    model.add(Dense(1))
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=200, verbose=0)
    assert abs(float(model.predict(np.array([[[70], [80], [90]]], "float32"), verbose=0)[0, 0])
               - 100) < 10
