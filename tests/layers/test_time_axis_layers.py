"""ZeroPadding1D, Cropping1D and UpSampling1D as Keras 3's (torch backend): outputs and
shapes, the mask dropped (with Keras' warning) as Keras drops it, config, save/load, ONNX;
bad arguments refused in one sentence."""

import os
import warnings

import numpy as np
import pytest
import torch

from conftest import saved_and_exported_alike
from grukit.layers import (
    GRU,
    Cropping1D,
    Dense,
    Embedding,
    Input,
    UpSampling1D,
    ZeroPadding1D,
    from_config,
)
from grukit.models import Sequential

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
kl = keras.layers
RNG = np.random.default_rng(5)
X = RNG.normal(size=(3, 7, 4)).astype(np.float32)


def _np(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


@pytest.mark.parametrize("name,arg", [("ZeroPadding1D", 2), ("ZeroPadding1D", (0, 3)),
                                      ("ZeroPadding1D", (1, 0)), ("Cropping1D", (2, 1)),
                                      ("Cropping1D", 3), ("Cropping1D", (0, 6)),
                                      ("Cropping1D", (1, 0)), ("UpSampling1D", 3),
                                      ("UpSampling1D", 1)])
def test_equals_keras(name, arg):
    import grukit.layers as gl

    want = _np(getattr(kl, name)(arg)(X))
    got = getattr(gl, name)(arg)(torch.from_numpy(X))[0].numpy()
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("ours,ref", [(ZeroPadding1D((1, 2)), kl.ZeroPadding1D((1, 2))),
                                      (Cropping1D((1, 1)), kl.Cropping1D((1, 1))),
                                      (UpSampling1D(2), kl.UpSampling1D(2))])
def test_the_mask_stops_as_in_keras(ours, ref):
    """Keras drops the mask at these layers (with a warning): the GRU after them runs over
    every step; so do grukit's lengths."""
    ids = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]])
    keras_model = keras.Sequential([keras.Input((5,), dtype="int32"),
                                    kl.Embedding(6, 3, mask_zero=True), ref, kl.GRU(4)])
    ours_model = Sequential([Input(shape=(5,)), Embedding(6, 3, mask_zero=True), ours, GRU(4)])
    ours_model.set_weights(keras_model.get_weights())
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        want = _np(keras_model(ids))
        got, lengths = ours_model(torch.from_numpy(ids), return_lengths=True)
    assert lengths is None
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-6)
    assert any(type(ours).__name__ in str(w.message) and "lengths" in str(w.message)
               for w in said)


@pytest.mark.parametrize("layer", [ZeroPadding1D((2, 1)), Cropping1D((1, 2)), UpSampling1D(3)])
def test_config_save_load_and_onnx(tmp_path, layer):
    pytest.importorskip("onnxruntime")

    assert from_config(layer.get_config()).get_config() == layer.get_config()
    model = Sequential([Input(shape=(None, 4)), Dense(3), layer, GRU(5, return_sequences=True),
                        Dense(2)])
    saved_and_exported_alike(model, X, tmp_path, also=[X[:2, :5]])  # time axis open


@pytest.mark.parametrize("make,word", [
    (lambda: ZeroPadding1D(-1), "padding"), (lambda: ZeroPadding1D((1, 2, 3)), "padding"),
    (lambda: ZeroPadding1D(1.5), "padding"), (lambda: ZeroPadding1D("1"), "padding"),
    (lambda: ZeroPadding1D(1, data_format="channels_first"), "channels_last"),
    (lambda: Cropping1D((True, 1)), "cropping"), (lambda: Cropping1D(-2), "cropping"),
    (lambda: UpSampling1D(0), "size"), (lambda: UpSampling1D(2.0), "size"),
    (lambda: UpSampling1D(True), "size")])
def test_bad_arguments_are_refused_in_one_sentence(make, word):
    with pytest.raises((ValueError, TypeError), match=word):
        make()


def test_cropping_everything_and_a_non_sequence_are_refused():
    with pytest.raises(ValueError, match="leaving none"):
        Sequential([Input(shape=(3, 2)), Cropping1D((2, 1))])
    with pytest.raises(ValueError, match="leaving none"):
        Cropping1D((2, 2))(torch.zeros(1, 4, 2))
    for layer in (ZeroPadding1D(), Cropping1D(), UpSampling1D()):
        with pytest.raises(ValueError, match=r"needs a sequence \(batch, time, features\)"):
            layer(torch.zeros(2, 5))


def test_an_open_time_axis_builds_where_a_layer_needs_more_steps_than_64():
    # the model's shapes are traced on dummy sequences of 64 and 97 steps: a Cropping1D of 80
    # steps (or a Conv1D kernel of 80) was refused at build for sequences that can be longer
    from grukit.layers import GRU, Conv1D

    for cut in (Cropping1D((40, 40)), Conv1D(2, 80)):
        model = Sequential([Input(shape=(None, 4)), cut, GRU(3)])
        assert model.predict(np.zeros((2, 100, 4), np.float32)).shape == (2, 3)
    with pytest.raises(ValueError, match=r"cuts 80 steps from sequences of 70, leaving none"):
        Sequential([Input(shape=(None, 4)), Cropping1D((40, 40)), GRU(3)]).predict(
            np.zeros((2, 70, 4), np.float32))
