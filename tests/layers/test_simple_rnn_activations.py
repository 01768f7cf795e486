"""Keras' ``SimpleRNN(activation=...)`` beyond tanh and relu ("sigmoid", "elu", "linear" or
None, "gelu", Keras' functions, ...): outputs equal Keras 3's on the same weights with masks
and go_backwards, training equals Keras', and the layer keeps its activation through its
config, save and load, ``from_keras``, Bidirectional, stateful and dropout. Such layers run
on the reference backend; the forms that compute tanh or relu only (torch.nn, streams, int8,
ONNX) refuse them in one sentence and never compute tanh in their place."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit import nn as gnn  # noqa: E402
from grukit.convert import to_torch  # noqa: E402
from grukit.export import to_onnx, to_pt2  # noqa: E402
from grukit.layers import Bidirectional, Dense, SimpleRNN  # noqa: E402
from grukit.models import Sequential, from_keras, load  # noqa: E402
from grukit.nn import Stream  # noqa: E402
from grukit.nn.quantized import quantize_int8  # noqa: E402
from grukit.ops.activations import ELEMENTWISE  # noqa: E402

ACTS = sorted(k for k in ELEMENTWISE if k)  # "linear" stands for None too
RS = np.random.RandomState(0)
X = (RS.randn(5, 6, 3) * 0.5).astype("float32")
LENGTHS = np.array([6, 4, 1, 3, 6])
XM = np.where((np.arange(6)[None] < LENGTHS[:, None])[..., None], X, 0).astype("float32")
Y = X.sum((1, 2))[:, None] / 5


def _pair(layer_kw, *, masked=True, bidirectional=False):
    """A Keras model (Masking, SimpleRNN, Dense) and grukit's from its config, same weights."""
    kl = keras.layers
    rnn = kl.SimpleRNN(4, **layer_kw)
    k = keras.Sequential([keras.Input((6, 3)), *([kl.Masking(0.0)] if masked else []),
                          kl.Bidirectional(rnn) if bidirectional else rnn, kl.Dense(1)])
    g = from_keras(k)
    return k, g


@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "backwards"])
@pytest.mark.parametrize("act", ACTS)
def test_outputs_equal_keras_with_masks(act, go_backwards):
    for seqs in (True, False):
        k, g = _pair({"activation": act, "go_backwards": go_backwards,
                      "return_sequences": seqs})
        name = {"swish": "silu"}.get(act, act)  # Keras' swish is its silu
        assert g.layers[1].rnn.nonlinearity == name and g.layers[1].activation == name
        np.testing.assert_allclose(g.predict(XM, verbose=0), k.predict(XM, verbose=0),
                                   rtol=1e-5, atol=1e-6)


def test_training_equals_keras():
    k, g = _pair({"activation": "sigmoid"}, masked=False)
    k.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    g.compile(optimizer="sgd", loss="mse")
    g.optimizer.learning_rate = 0.05
    hk = k.fit(X, Y, epochs=2, batch_size=5, shuffle=False, verbose=0).history["loss"]
    hg = g.fit(X, Y, epochs=2, batch_size=5, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(hg, hk, rtol=1e-4)
    for a, b in zip(g.get_weights(), k.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_bidirectional_equals_keras():
    k, g = _pair({"activation": "elu", "return_sequences": True}, bidirectional=True)
    assert g.layers[1].layer.rnn.nonlinearity == "elu"
    np.testing.assert_allclose(g.predict(XM, verbose=0), k.predict(XM, verbose=0), rtol=1e-5,
                               atol=1e-6)
    # built here, not from Keras' config: the same numbers on Keras' weights
    k, _ = _pair({"activation": "hard_sigmoid"}, masked=False, bidirectional=True)
    h = Sequential([Bidirectional(SimpleRNN(4, activation="hard_sigmoid"), input_shape=(6, 3)),
                    Dense(1)])
    h.build()
    h.set_weights(k.get_weights())
    np.testing.assert_allclose(h.predict(X, verbose=0), k.predict(X, verbose=0), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("act", [None, keras.activations.sigmoid, torch.sigmoid, "softsign"])
def test_config_save_and_load_keep_the_activation(act, tmp_path):
    g = Sequential([SimpleRNN(4, activation=act, input_shape=(6, 3)), Dense(1)])
    g.build()
    name = {None: "linear"}.get(act, getattr(act, "__name__", act))
    # Keras' config of SimpleRNN(activation=None) says "linear"
    assert g.layers[0].get_config()["config"]["activation"] == name
    assert g.layers[0].rnn.nonlinearity == name
    g.compile(optimizer="adam", loss="mse")
    g.save(tmp_path / "m.keras")
    back = load(tmp_path / "m.keras")
    assert back.layers[0].rnn.nonlinearity == name
    np.testing.assert_allclose(back.predict(X, verbose=0), g.predict(X, verbose=0), rtol=1e-6)


def test_stateful_carries_the_state_and_dropout_trains():
    layer = SimpleRNN(4, activation="selu", stateful=True, return_sequences=True,
                      input_shape=(6, 3))
    layer.build((6, 3))
    x = torch.from_numpy(X)
    whole, _ = layer.call(torch.cat([x, x], 1), None)  # (B, 12, H)
    layer.reset_states()
    first, _ = layer.call(x, None)
    second, _ = layer.call(x, None)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    g = Sequential([SimpleRNN(4, activation="gelu", dropout=0.3, recurrent_dropout=0.3,
                              input_shape=(6, 3)), Dense(1)])
    g.compile(optimizer="adam", loss="mse")
    loss = g.fit(X, Y, epochs=2, verbose=0).history["loss"]
    assert np.isfinite(loss).all()


def test_a_fused_backend_named_is_refused_in_one_sentence():
    layer = SimpleRNN(4, activation="sigmoid", backend="cpu", input_shape=(6, 3))
    layer.build((6, 3))
    with pytest.raises(ValueError, match=r"backend='cpu' computes tanh and relu only; "
                                         r"nonlinearity='sigmoid' runs on backend='reference'"):
        layer.call(torch.from_numpy(X), None)


def test_forms_that_compute_tanh_or_relu_refuse_it(tmp_path):
    g = Sequential([SimpleRNN(4, activation="sigmoid", input_shape=(6, 3)), Dense(1)])
    g.build()
    rnn = g.layers[0].rnn
    for make in (lambda: Stream(rnn), lambda: quantize_int8(g), lambda: to_torch(rnn)):
        with pytest.raises(ValueError, match=r"computes tanh or relu only; this model's "
                                             r"recurrent layer has activation='sigmoid'\."):
            make()
    # ONNX: an activation the RNN operator lacks is refused in one sentence, no file
    m = Sequential([SimpleRNN(4, activation="gelu", input_shape=(6, 3)), Dense(1)])
    m.build()
    with pytest.raises(ValueError, match="activation='gelu'|nonlinearity='gelu'"):
        to_onnx(m, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    # torch.export traces the reference loop that computes it
    x = torch.from_numpy(X)
    to_pt2(g, tmp_path / "m.pt2", x, dynamic=False)
    program = torch.export.load(tmp_path / "m.pt2").module()
    torch.testing.assert_close(program(x), g(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("act", ["sigmoid", "relu"])
def test_a_stream_steps_or_refuses_an_activation_set_after_it_was_made(act):
    # the one-step kernels compute tanh or relu: a change must reach them (relu) or be
    # refused (sigmoid), never step the old activation
    xs = torch.randn(1, 4, 3, generator=torch.Generator().manual_seed(0))
    m = gnn.RNN(3, 4, batch_first=True).eval()
    s = Stream(m)
    x = xs[0, 0].numpy()
    s.step(x)
    s.step(x)  # the hot path is bound
    m.nonlinearity = act
    s.reset()
    try:
        steps = torch.stack([torch.as_tensor(s.step(xs[0, t].numpy())) for t in range(4)])
    except ValueError as e:
        assert act == "sigmoid" and "computes tanh or relu only" in str(e)
        return
    assert act == "relu"
    torch.testing.assert_close(steps, m(xs)[0][0], rtol=1e-5, atol=1e-6)


def test_an_activation_set_after_build_is_refused(tmp_path):
    # it reached the config (and a saved model, which then loaded as relu) while the
    # module went on computing tanh; Keras' layer has no setter either
    g = Sequential([SimpleRNN(4, input_shape=(6, 3)), Dense(1)])
    g.build()
    with pytest.raises(AttributeError, match=r"^SimpleRNN: activation is fixed once the layer "
                                             r"is built \(its module computes "
                                             r"activation='tanh'\); make a new layer with "
                                             r"activation='relu'\.$"):
        g.layers[0].activation = "relu"
    assert g.layers[0].get_config()["config"]["activation"] == "tanh"
    layer = SimpleRNN(4, input_shape=(6, 3))
    layer.activation = "relu"  # before build: the module is made from it
    layer.build((6, 3))
    assert layer.rnn.nonlinearity == "relu"


@pytest.mark.parametrize("act", ["sigmoid", "linear", "elu", "softsign", "softplus",
                                 "hard_sigmoid", "leaky_relu"])
def test_an_activation_the_onnx_rnn_operator_has_is_exported_and_computed(act, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    m = Sequential([Bidirectional(SimpleRNN(4, activation=act, return_sequences=True),
                                  input_shape=(6, 3)), SimpleRNN(3, activation=act),
                    Dense(1)])
    m.build()
    path = to_onnx(m, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.asarray(X, np.float32)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, m.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
