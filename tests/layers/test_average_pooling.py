"""AveragePooling1D equals Keras 3's (torch backend) where the padding is even, and the mean
over the steps inside x (TensorFlow's and JAX's "same") where it is not; Keras' other names
for the pooling layers; config, save/load and ONNX."""

import os

import numpy as np
import pytest
import torch

import grukit.layers as L
from grukit.layers import AveragePooling1D, Dense, Input, from_config
from grukit.models import Sequential, load

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
RNG = np.random.default_rng(5)


def _reference(x, k, s, padding):
    """The mean of each window's steps inside x (TensorFlow's avg_pool)."""
    t = x.shape[1]
    if padding == "valid":
        starts, left = range(0, t - k + 1, s), 0
    else:
        n = -(-t // s)
        total = max((n - 1) * s + k - t, 0)
        starts, left = range(n), total // 2
        starts = [i * s - left for i in starts]
    return np.stack([x[:, max(a, 0):min(a + k, t)].mean(1) for a in starts], 1)


@pytest.mark.parametrize("k,s,padding,t", [(2, None, "valid", 7), (3, 1, "valid", 6),
                                           (3, 2, "valid", 8), (3, 1, "same", 6),
                                           (3, 2, "same", 7), (1, 3, "same", 5)])
def test_equals_keras(k, s, padding, t):
    x = RNG.normal(size=(2, t, 3)).astype(np.float32)
    want = keras.ops.convert_to_numpy(keras.layers.AveragePooling1D(k, s, padding)(x))
    got = AveragePooling1D(k, s, padding)(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got, _reference(x, k, s or k, padding), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("k,s,t", [(4, 1, 5), (2, 1, 5), (3, 2, 2), (4, 3, 10), (5, 2, 3)])
def test_uneven_same_padding_averages_the_steps_inside(k, s, t):
    x = RNG.normal(size=(2, t, 3)).astype(np.float32)
    got = AveragePooling1D(k, s, "same")(torch.from_numpy(x))[0].numpy()
    assert got.shape == (2, -(-t // s), 3)
    np.testing.assert_allclose(got, _reference(x, k, s, "same"), rtol=1e-6, atol=1e-6)


def test_keras_other_names_are_the_same_layers():
    assert L.MaxPool1D is L.MaxPooling1D and L.AvgPool1D is L.AveragePooling1D
    assert L.GlobalMaxPool1D is L.GlobalMaxPooling1D
    assert L.GlobalAvgPool1D is L.GlobalAveragePooling1D
    for name in ("MaxPool1D", "AvgPool1D", "GlobalMaxPool1D", "GlobalAvgPool1D"):
        assert getattr(keras.layers, name).__name__ == getattr(L, name).__name__


@pytest.mark.parametrize("padding,t", [("valid", 9), ("same", 9), ("same", 8)])
def test_config_save_load_and_onnx(tmp_path, padding, t):
    ort = pytest.importorskip("onnxruntime")
    from grukit.export.onnx_file import build_onnx

    layer = L.AvgPool1D(4, strides=3, padding=padding)
    assert from_config(layer.get_config()).get_config() == layer.get_config()
    model = Sequential([Input(shape=(None, 3)), Dense(4), layer, Dense(2)])
    model.build()
    x = RNG.normal(size=(2, t, 3)).astype(np.float32)
    model.save(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(load(tmp_path / "m.safetensors").predict(x), model.predict(x))
    sess = ort.InferenceSession(build_onnx(model.eval()).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    for steps in (t, t + 2):  # the time axis left open
        xs = RNG.normal(size=(2, steps, 3)).astype(np.float32)
        np.testing.assert_allclose(sess.run(None, {"input": xs})[0], model.predict(xs),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs,word", [({"pool_size": 0}, "pool_size"),
                                         ({"pool_size": 2, "strides": -1}, "strides"),
                                         ({"pool_size": 2, "padding": "causal"}, "padding"),
                                         ({"pool_size": 2, "data_format": "channels_first"},
                                          "data_format")])
def test_bad_arguments_are_refused_in_one_sentence(kwargs, word):
    with pytest.raises(ValueError, match=word):
        AveragePooling1D(**kwargs)


def test_a_window_longer_than_the_input_is_refused():
    with pytest.raises(ValueError, match="pool_size 4 is longer"):
        AveragePooling1D(4)(torch.zeros(1, 3, 2))
