"""Normalization (given statistics, adapt on numpy / torch / pandas / lists, invert, axes)
and InputLayer as Keras 3's (torch backend): outputs, weights, lengths passed on, config,
save/load, ONNX; bad arguments and data refused in one sentence."""

import os

import numpy as np
import pytest
import torch

from conftest import saved_and_exported_alike
from grukit.layers import GRU, Dense, Embedding, Input, InputLayer, Normalization, from_config
from grukit.models import Sequential

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
kl = keras.layers
RNG = np.random.default_rng(11)
X = RNG.normal(2.0, 3.0, size=(5, 6, 4)).astype(np.float32)


def _np(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


@pytest.mark.parametrize("axis", [-1, None, (1, 2), 1, [-2]])
@pytest.mark.parametrize("invert", [False, True])
def test_adapt_equals_keras(axis, invert):
    ref, ours = kl.Normalization(axis=axis, invert=invert), Normalization(axis, invert=invert)
    ref.adapt(X)
    ours.adapt(X)
    want, got = ref.get_weights(), ours.get_weights()
    assert [w.shape for w in got] == [w.shape for w in want]
    for a, b in zip(got[:2], want[:2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert int(got[2]) == X.size // got[0].size  # the values each statistic is over
    np.testing.assert_allclose(ours(torch.from_numpy(X))[0].numpy(), _np(ref(X)), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("mean,variance", [(1.5, 4.0), ([1, 2, 3, 4], [1, 4, 9, 0]),
                                           ([[1.0], [2], [3], [4], [5], [6]], [[2.0]] * 6)])
def test_given_statistics_equal_keras(mean, variance):
    axis = (1, 2) if np.ndim(mean) == 2 else -1
    for invert in (False, True):
        ref = kl.Normalization(axis, mean=mean, variance=variance, invert=invert)
        ours = Normalization(axis, mean=mean, variance=variance, invert=invert)
        np.testing.assert_allclose(ours(torch.from_numpy(X))[0].numpy(), _np(ref(X)),
                                   rtol=1e-6, atol=1e-6)
        assert ours.get_weights() == ref.get_weights() == []


def test_adapt_takes_torch_pandas_lists_and_ints_alike():
    pd = pytest.importorskip("pandas")
    flat = X[:, 0]
    want = Normalization()
    want.adapt(flat)
    for data in (torch.from_numpy(flat), pd.DataFrame(flat), flat.tolist(),
                 flat.astype(np.float64)):
        layer = Normalization()
        layer.adapt(data)
        for a, b in zip(layer.get_weights(), want.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    ints = Normalization()
    ints.adapt(np.array([[1, 2], [3, 6]]))
    np.testing.assert_allclose(ints.get_weights()[0], [2, 4])
    np.testing.assert_allclose(ints(torch.tensor([[1, 2]]))[0].numpy(), [[-1, -1]])


def test_adapt_takes_batches_as_keras():
    """A list or generator of batches, or a DataLoader of (x, y) pairs, is one data set (Keras'
    iterable of batches), not a new axis."""
    whole = Normalization((1, 2))
    whole.adapt(X)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(
        torch.from_numpy(X), torch.zeros(len(X))), batch_size=2)
    for data in ([X[:2], X[2:]], (torch.from_numpy(b) for b in (X[:3], X[3:])), loader):
        layer = Normalization((1, 2))
        layer.adapt(data)
        for a, b in zip(layer.get_weights(), whole.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_keras_weights_move_in_and_training_leaves_them():
    ref = kl.Normalization()
    ref.adapt(X)
    model = Sequential([Input(shape=(6, 4)), Normalization(), GRU(3), Dense(1)])
    keras_model = keras.Sequential([keras.Input((6, 4)), ref, kl.GRU(3), kl.Dense(1)])
    model.set_weights(keras_model.get_weights())
    np.testing.assert_allclose(model.predict(X), _np(keras_model.predict(X, verbose=0)),
                               rtol=1e-5, atol=1e-6)
    assert model.count_params() == keras_model.count_params()  # count is a weight too
    keras_model.set_weights(model.get_weights())  # and back
    before = model.layers[0].get_weights()
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, X[:, 0, :1], epochs=2, verbose=0)
    for a, b in zip(model.layers[0].get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_lengths_pass_on():
    model = Sequential([Input(shape=(4,)), Embedding(5, 3, mask_zero=True), Normalization()])
    assert model(torch.tensor([[1, 2, 0, 0]]), return_lengths=True)[1].tolist() == [2]


@pytest.mark.parametrize("make", [lambda: Normalization(), lambda: Normalization(invert=True),
                                  lambda: Normalization(None, mean=1.0, variance=2.0),
                                  lambda: Normalization((1, 2))])
def test_config_save_load_and_onnx(tmp_path, make):
    pytest.importorskip("onnxruntime")

    layer = make()
    model = Sequential([InputLayer(shape=(6, 4)), layer, GRU(5, return_sequences=True),
                        Dense(2)])
    if layer.input_mean is None:
        layer.adapt(X)
    assert from_config(layer.get_config()).get_config() == layer.get_config()
    saved_and_exported_alike(model, X, tmp_path)


@pytest.mark.parametrize("make,word", [
    (lambda: Normalization(mean=1.0), "both"), (lambda: Normalization(axis="x"), "axis"),
    (lambda: Normalization(mean=[1, 2], variance=[1]), "same shape"),
    (lambda: Normalization(mean=[[1]], variance=[[1]]), "axes"),
    (lambda: Normalization(mean=1.0, variance=-1.0), "variance"),
    (lambda: Normalization(mean=float("nan"), variance=1.0), "finite"),
    (lambda: Normalization(invert="yes"), "invert")])
def test_bad_arguments_are_refused_in_one_sentence(make, word):
    with pytest.raises((ValueError, TypeError), match=word):
        make()


@pytest.mark.parametrize("data,word", [(np.array([[1.0, np.nan]]), "NaN"),
                                       (np.zeros((0, 3)), "no values"),
                                       (np.array([["a", "b"]]), "numbers"),
                                       ([[1, 2], [3]], "same shape"),
                                       (np.arange(5.0), r"reshape\(-1, 1\)"),
                                       ([X[0], X[0, :, :2]], "same shape")])
def test_bad_data_is_refused_in_one_sentence(data, word):
    with pytest.raises((ValueError, TypeError), match=word):
        Normalization().adapt(data)


def test_misfits_are_refused_in_one_sentence():
    layer = Normalization()
    layer.adapt(X)
    with pytest.raises(ValueError, match="sizes"):
        layer.adapt(X[..., :3])
    with pytest.raises(ValueError, match="sizes"):
        layer(torch.zeros(2, 6, 3))
    with pytest.raises(ValueError, match="axis 0 is the batch"):
        Normalization(0).adapt(X)
    with pytest.raises(ValueError, match="nothing to learn"):
        Normalization(mean=0.0, variance=1.0).adapt(X)
    with pytest.raises(ValueError, match="do not fit"):
        Normalization(mean=[1, 2, 3], variance=[1, 1, 1])(torch.zeros(2, 4))


def test_input_layer_is_keras_input_layer():
    """Sequential([InputLayer(shape=(T, F)), GRU(...)]) builds as Keras' does; Keras'
    other arguments (batch_size, batch_shape, input_shape) are taken."""
    ref = keras.Sequential([kl.InputLayer(shape=(6, 4), batch_size=5), kl.GRU(3)])
    for first in (InputLayer(shape=(6, 4), batch_size=5), InputLayer((6, 4), 5),
                  InputLayer(batch_shape=(None, 6, 4)), InputLayer(input_shape=(6, 4))):
        ours = Sequential([first, GRU(3)])
        assert ours.built and ours.count_params() == ref.count_params()
        ours.set_weights(ref.get_weights())
        np.testing.assert_allclose(ours.predict(X), _np(ref.predict(X, verbose=0)), rtol=1e-5,
                                   atol=1e-6)
    for make, word in [(lambda: InputLayer(), "shape"), (lambda: InputLayer((2,), sparse=True),
                                                         "sparse"),
                       (lambda: InputLayer((2,), batch_shape=(None, 2)), "not both"),
                       (lambda: InputLayer((2,), batch_size=0), "batch_size"),
                       (lambda: InputLayer(shape=(0, 2)), "InputLayer: shape entries"),
                       (lambda: InputLayer(shape=5), "InputLayer: shape must be a tuple"),
                       (lambda: Input(shape="ab"), "Input: shape must be a tuple")]:
        with pytest.raises((ValueError, TypeError), match=word):
            make()
