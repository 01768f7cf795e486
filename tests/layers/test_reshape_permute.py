"""Reshape and Permute equal Keras 3's layers (torch backend); the lengths stop at them as
Keras' mask does; config, save/load and ONNX."""

import os

import numpy as np
import pytest
import torch

from conftest import saved_and_exported_alike
from grukit.layers import GRU, Dense, Embedding, Input, Permute, Reshape, from_config
from grukit.models import Sequential

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
kl = keras.layers
RNG = np.random.default_rng(11)
X = RNG.normal(size=(2, 6, 4)).astype(np.float32)


def _np(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


@pytest.mark.parametrize("target", [(24,), (4, 6), (-1, 2), (3, -1, 2), (2, 3, 4)])
def test_reshape_equals_keras(target):
    got = Reshape(target)(torch.from_numpy(X))[0].numpy()
    np.testing.assert_array_equal(got, _np(kl.Reshape(target)(X)))


@pytest.mark.parametrize("dims", [(2, 1), (1, 2)])
def test_permute_equals_keras(dims):
    got = Permute(dims)(torch.from_numpy(X))[0].numpy()
    np.testing.assert_array_equal(got, _np(kl.Permute(dims)(X)))
    x4 = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(Permute((3, 1, 2))(torch.from_numpy(x4))[0].numpy(),
                                  _np(kl.Permute((3, 1, 2))(x4)))


def test_a_model_with_them_equals_keras_and_the_lengths_stop():
    ref = keras.Sequential([keras.Input((6, 4)), kl.Permute((2, 1)), kl.GRU(3),
                            kl.Reshape((3, 1)), kl.Dense(2)])
    ours = Sequential([Input(shape=(6, 4)), Permute((2, 1)), GRU(3), Reshape((3, 1)),
                       Dense(2)])
    ours.set_weights(ref.get_weights())
    np.testing.assert_allclose(ours.predict(X), _np(ref.predict(X, verbose=0)), rtol=1e-5,
                               atol=1e-5)
    m = Sequential([Input(shape=(3,)), Embedding(5, 4, mask_zero=True), Permute((2, 1))])
    assert m(torch.tensor([[1, 2, 0]]), return_lengths=True)[1] is None


@pytest.mark.parametrize("layer", [Reshape((-1, 2)), Reshape((6, 4)), Permute((2, 1))])
def test_config_save_load_and_onnx(tmp_path, layer):
    pytest.importorskip("onnxruntime")

    assert from_config(layer.get_config()).get_config() == layer.get_config()
    model = Sequential([Input(shape=(6, 4)), Dense(4), layer, Dense(3)])
    model.build()
    saved_and_exported_alike(model, X, tmp_path)


@pytest.mark.parametrize("make,word", [(lambda: Reshape((-1, -1)), "one -1"),
                                       (lambda: Reshape((0, 4)), "positive"),
                                       (lambda: Reshape("24"), "tuple"),
                                       (lambda: Reshape((5,))(torch.zeros(2, 6, 4)), "24"),
                                       (lambda: Reshape((-1, 5))(torch.zeros(2, 6, 4)), "24"),
                                       (lambda: Permute((0, 1)), "permutation"),
                                       (lambda: Permute((1, 3)), "permutation"),
                                       (lambda: Permute((2, 1))(torch.zeros(2, 3)), "axes")])
def test_bad_arguments_are_refused_in_one_sentence(make, word):
    with pytest.raises((ValueError, TypeError), match=word):
        make()
