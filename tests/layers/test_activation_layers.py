"""ReLU, LeakyReLU, Softmax and PReLU equal Keras 3's layers (torch backend), PReLU with the
same weights and after a training step; masks pass on; config, save/load and ONNX."""

import os

import numpy as np
import pytest
import torch

from conftest import saved_and_exported_alike, sgd_fit_like_keras
from grukit.layers import (
    Dense,
    Embedding,
    Input,
    LeakyReLU,
    PReLU,
    ReLU,
    Softmax,
    from_config,
)
from grukit.models import Sequential

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
kl = keras.layers
RNG = np.random.default_rng(7)
X = (RNG.normal(size=(3, 5, 4)) * 3).astype(np.float32)
X[0, 0, :3] = [0.0, 0.5, 6.0]  # on the threshold and the bound


def _np(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


def _ours(layer, x=X):
    return layer(torch.from_numpy(x))[0].detach().numpy()


@pytest.mark.parametrize("kwargs", [{}, {"max_value": 6.0}, {"negative_slope": 0.1},
                                    {"threshold": 0.5}, {"max_value": 2.0, "threshold": 0.5,
                                                         "negative_slope": 0.2},
                                    {"max_value": 0.0}, {"negative_slope": 0.3,
                                                         "max_value": 1.0}])
def test_relu_equals_keras(kwargs):
    np.testing.assert_allclose(_ours(ReLU(**kwargs)), _np(kl.ReLU(**kwargs)(X)), rtol=1e-6,
                               atol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"negative_slope": 0.01}, {"negative_slope": 0.0}])
def test_leaky_relu_equals_keras(kwargs):
    np.testing.assert_allclose(_ours(LeakyReLU(**kwargs)), _np(kl.LeakyReLU(**kwargs)(X)),
                               rtol=1e-6, atol=1e-6)
    assert LeakyReLU().negative_slope == kl.LeakyReLU().negative_slope == 0.3
    with pytest.warns(UserWarning, match="negative_slope"):
        assert LeakyReLU(alpha=0.2).negative_slope == 0.2


@pytest.mark.parametrize("axis", [-1, 1, 2, -2, [1, 2]])
def test_softmax_equals_keras(axis):
    np.testing.assert_allclose(_ours(Softmax(axis)), _np(kl.Softmax(axis)(X)), rtol=1e-5,
                               atol=1e-6)


def test_softmax_over_time_with_lengths_is_over_the_valid_steps():
    layer = Softmax(axis=1)
    x = torch.from_numpy(X)
    y, lengths = layer(x, torch.tensor([5, 2, 0]))
    assert lengths.tolist() == [5, 2, 0]
    torch.testing.assert_close(y[0], torch.softmax(x[0], 0))
    torch.testing.assert_close(y[1, :2], torch.softmax(x[1, :2], 0))
    assert (y[1, 2:] == 0).all() and (y[2] == 0).all()
    want = _np(kl.Softmax(axis=1)(X[1:2, :, :1], mask=np.array([[1, 1, 0, 0, 0]], bool)[..., None]))
    np.testing.assert_allclose(y[1:2, :, :1].numpy(), want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shared_axes", [None, [1], [1, 2], 2])
def test_prelu_equals_keras_and_trains_as_keras(shared_axes):
    y = RNG.normal(size=(3, 5, 2)).astype(np.float32)
    ref = keras.Sequential([keras.Input((5, 4)), kl.Dense(4), kl.PReLU(shared_axes=shared_axes),
                            kl.Dense(2)])
    ours = Sequential([Input(shape=(5, 4)), Dense(4), PReLU(shared_axes=shared_axes), Dense(2)])
    ws = ref.get_weights()
    ws[2] = RNG.normal(0, 0.5, ws[2].shape).astype(np.float32)  # alpha
    ref.set_weights(ws)
    ours.set_weights(ws)
    np.testing.assert_allclose(ours.predict(X), _np(ref.predict(X, verbose=0)), rtol=1e-5,
                               atol=1e-5)
    sgd_fit_like_keras(ours, ref, X, y, 3, atol=1e-6)


def test_prelu_refuses_another_length_where_it_does_not_share_time():
    layer = PReLU()
    layer(torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match=r"shared_axes=\[1\]"):
        layer(torch.zeros(2, 6, 4))
    shared = PReLU(shared_axes=[1])
    shared(torch.zeros(2, 5, 4))
    assert shared(torch.zeros(2, 9, 4))[0].shape == (2, 9, 4)


def test_masks_pass_on():
    ids = torch.tensor([[1, 2, 0], [3, 0, 0]])
    model = Sequential([Input(shape=(3,)), Embedding(4, 2, mask_zero=True), ReLU(),
                        LeakyReLU(), Softmax(), PReLU(shared_axes=[1])])
    _, lengths = model(ids, return_lengths=True)
    assert lengths.tolist() == [2, 1]


@pytest.mark.parametrize("layer", [ReLU(max_value=2.0, negative_slope=0.1, threshold=0.3),
                                   LeakyReLU(0.05), Softmax(), Softmax([1, 2]),
                                   PReLU(shared_axes=[1], alpha_initializer="ones")])
def test_config_save_load_and_onnx(tmp_path, layer):
    pytest.importorskip("onnxruntime")

    again = from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    model = Sequential([Input(shape=(None, 4)), Dense(4), layer, Dense(3)])
    model.build()
    saved_and_exported_alike(model, X, tmp_path)


def test_softmax_over_time_with_lengths_in_onnx():
    ort = pytest.importorskip("onnxruntime")
    from grukit.export.onnx_file import build_onnx

    model = Sequential([Input(shape=(None, 4)), Dense(3), Softmax(axis=1)])
    model.build()
    sess = ort.InferenceSession(build_onnx(model.eval(), lengths=True).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    n = np.array([5, 2, 1])
    got = sess.run(None, {"input": X, "lengths": n})[0]
    want = model(torch.from_numpy(X), torch.from_numpy(n)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make,word", [(lambda: ReLU(max_value=-1), "max_value"),
                                       (lambda: ReLU(negative_slope=None), "negative_slope"),
                                       (lambda: ReLU(threshold=float("nan")), "threshold"),
                                       (lambda: LeakyReLU(-0.1), "negative_slope"),
                                       (lambda: Softmax(axis="last"), "axis"),
                                       (lambda: Softmax(axis=0)(torch.zeros(2, 3)), "batch"),
                                       (lambda: Softmax(axis=3)(torch.zeros(2, 3)), "range"),
                                       (lambda: PReLU(shared_axes=[0]), "shared_axes"),
                                       (lambda: PReLU(alpha_constraint="non_neg"), "constraint")])
def test_bad_arguments_are_refused_in_one_sentence(make, word):
    with pytest.raises(ValueError, match=word):
        make()
