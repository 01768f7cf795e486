"""A GRU's or LSTM's Keras activations in ONNX: the operators' ``activations`` attribute
(with its alpha and beta), checked in ONNX Runtime against the eager model, masked and
bidirectional too, and through ONNX Runtime's int8 LSTM."""

import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime")

from grukit.export import to_onnx  # noqa: E402
from grukit.layers import GRU, LSTM, Bidirectional, Dense, Embedding  # noqa: E402
from grukit.models import Sequential  # noqa: E402

X = np.random.RandomState(0).randn(4, 7, 3).astype("float32")
PAIRS = [("relu", "sigmoid"), ("tanh", "hard_sigmoid"), ("elu", "hard_sigmoid"),
         ("linear", "sigmoid"), ("leaky_relu", "hard_sigmoid"), ("softsign", "softplus"),
         ("hard_sigmoid", "linear")]


def _run(model, x, path, **kw):
    session = ort.InferenceSession(str(to_onnx(model, path, **kw)))
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("bidirectional", [False, True], ids=["one", "bi"])
@pytest.mark.parametrize("kind", [GRU, LSTM], ids=["gru", "lstm"])
@pytest.mark.parametrize("act,rec", PAIRS)
def test_onnx_runtime_computes_the_activations(act, rec, kind, bidirectional, tmp_path):
    torch.manual_seed(0)
    layer = kind(5, activation=act, recurrent_activation=rec, return_sequences=True)
    first = Bidirectional(layer, input_shape=(7, 3)) if bidirectional else \
        kind(5, activation=act, recurrent_activation=rec, return_sequences=True,
             input_shape=(7, 3))
    model = Sequential([first, Dense(2)])
    model.build()
    model.eval()
    with torch.no_grad():
        want = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(_run(model, X, tmp_path / "m.onnx"), want, atol=2e-6)


@pytest.mark.parametrize("kind", [GRU, LSTM], ids=["gru", "lstm"])
def test_masked_and_int8(kind, tmp_path):
    torch.manual_seed(1)
    ids = np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]], np.int64)
    model = Sequential([Embedding(10, 4, mask_zero=True, input_shape=(5,)),
                        kind(6, activation="relu", recurrent_activation="hard_sigmoid"),
                        Dense(1)])
    model.build()
    model.eval()
    with torch.no_grad():
        want = model(torch.from_numpy(ids)).numpy()
    np.testing.assert_allclose(_run(model, ids, tmp_path / "m.onnx"), want, atol=2e-6)
    got8 = _run(model, ids, tmp_path / "m8.onnx", int8=True)
    assert np.abs(got8 - want).max() <= 0.01 * max(1.0, float(np.abs(want).max()))
