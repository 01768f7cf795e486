"""BatchNormalization equals Keras 3's (torch backend) with the same weights: inference,
training-mode outputs, the moving statistics after fit (masked sequences included), its
config, save/load and ONNX."""

import os

import numpy as np
import pytest
import torch

from conftest import saved_and_exported_alike, sgd_fit_like_keras
from grukit.layers import BatchNormalization, Dense, Embedding, Input, from_config
from grukit.models import Sequential

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
kl = keras.layers
RNG = np.random.default_rng(3)


def _np(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


def _random_weights(ref):
    ws = [RNG.normal(0, 0.5, w.shape).astype("float32") for w in ref.get_weights()]
    ws[-1] = np.abs(ws[-1]) + 0.5  # a variance
    return ws


@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False),
                                          (False, False)])
def test_inference_and_training_outputs_equal_keras(center, scale):
    x = RNG.normal(1, 2, size=(5, 4, 3)).astype(np.float32)
    ref = kl.BatchNormalization(center=center, scale=scale, momentum=0.9, epsilon=1e-2)
    ref.build((None, 4, 3))
    ours = BatchNormalization(center=center, scale=scale, momentum=0.9, epsilon=1e-2)
    ours(torch.zeros(1, 4, 3))
    ref.set_weights(_random_weights(ref))
    ours.set_weights(ref.get_weights())
    ours.eval()
    np.testing.assert_allclose(ours(torch.from_numpy(x))[0].detach().numpy(),
                               _np(ref(x, training=False)), rtol=1e-5, atol=1e-5)
    ours.train()
    np.testing.assert_allclose(ours(torch.from_numpy(x))[0].detach().numpy(),
                               _np(ref(x, training=True)), rtol=1e-5, atol=1e-5)
    for a, b in zip(ours.get_weights(), ref.get_weights(), strict=True):  # moving update
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_masked_moments_equal_keras():
    ids = np.array([[3, 1, 4, 0, 0], [2, 5, 0, 0, 0], [1, 1, 1, 1, 2]])
    emb = RNG.normal(size=(6, 3)).astype(np.float32)
    ref = keras.Sequential([keras.Input((5,), dtype="int32"), kl.Embedding(6, 3, mask_zero=True),
                            kl.BatchNormalization(momentum=0.5)])
    ours = Sequential([Input(shape=(5,)), Embedding(6, 3, mask_zero=True),
                       BatchNormalization(momentum=0.5)])
    ours.build()
    ref.set_weights([emb] + ref.get_weights()[1:])
    ours.set_weights(ref.get_weights())
    ours.train()
    y, lengths = ours(torch.from_numpy(ids), return_lengths=True)
    np.testing.assert_allclose(y.detach().numpy(), _np(ref(ids, training=True)),
                               rtol=1e-5, atol=1e-5)
    assert lengths.tolist() == [3, 2, 5]  # the mask goes on
    for a, b in zip(ours.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_moving_statistics_after_fit_equal_keras():
    x = RNG.normal(2, 3, size=(16, 5, 4)).astype(np.float32)
    y = RNG.normal(size=(16, 5, 1)).astype(np.float32)
    ref = keras.Sequential([keras.Input((5, 4)), kl.Dense(3), kl.BatchNormalization(),
                            kl.Dense(1)])
    ours = Sequential([Input(shape=(5, 4)), Dense(3), BatchNormalization(), Dense(1)])
    ours.set_weights(ref.get_weights())
    sgd_fit_like_keras(ours, ref, x, y, 8, atol=1e-5)
    np.testing.assert_allclose(ours.predict(x), _np(ref.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-5)
    assert ours.count_params() == ref.count_params()


def test_a_frozen_layer_uses_and_keeps_the_moving_statistics():
    ours = BatchNormalization(trainable=False)
    x = torch.randn(8, 3) * 4 + 2
    ours(x)
    ours.train()
    y, _ = ours(x)
    torch.testing.assert_close(y, x / np.sqrt(1 + 1e-3))
    assert ours.moving_mean.abs().max() == 0


def test_config_round_trip_save_load_and_onnx(tmp_path):
    pytest.importorskip("onnxruntime")

    layer = BatchNormalization(momentum=0.8, epsilon=1e-4, center=False,
                               moving_variance_initializer="zeros")
    again = from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    model = Sequential([Input(shape=(6, 3)), Dense(4), BatchNormalization(momentum=0.8)])
    model.build()
    model.set_weights(_random_weights(keras.Sequential([keras.Input((6, 3)), kl.Dense(4),
                                                        kl.BatchNormalization()])))
    x = RNG.normal(size=(3, 6, 3)).astype(np.float32)
    saved_and_exported_alike(model, x, tmp_path)


@pytest.mark.parametrize("kwargs,word", [({"axis": 1}, "axis"), ({"momentum": 1.5}, "momentum"),
                                         ({"epsilon": 0}, "epsilon"), ({"center": "no"}, "center"),
                                         ({"renorm": True}, "renorm"),
                                         ({"gamma_constraint": "non_neg"}, "gamma_constraint")])
def test_bad_arguments_are_refused_in_one_sentence(kwargs, word):
    with pytest.raises((ValueError, TypeError), match=word):
        BatchNormalization(**kwargs)
