"""GaussianNoise and GaussianDropout as Keras 3's (torch backend): the identity in inference
(predict, ONNX), noise of Keras' distribution in training (and in fit), seeded draws that
repeat, lengths passed on; config, save/load."""

import os

import numpy as np
import pytest
import torch

from conftest import saved_and_exported_alike
from grukit.layers import Dense, Embedding, GaussianDropout, GaussianNoise, Input, from_config
from grukit.models import Sequential

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
kl = keras.layers
RNG = np.random.default_rng(13)
N = 200_000


def _np(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


@pytest.mark.parametrize("ours,ref,x0", [(GaussianNoise(0.3), kl.GaussianNoise(0.3), 2.0),
                                         (GaussianDropout(0.4), kl.GaussianDropout(0.4), 2.0),
                                         (GaussianDropout(0.1, seed=3),
                                          kl.GaussianDropout(0.1, seed=3), -1.5)])
def test_training_draws_have_keras_distribution_and_inference_is_the_identity(ours, ref, x0):
    x = np.full((4, N // 4, 1), x0, np.float32)
    want, got = _np(ref(x, training=True)), ours.train()(torch.from_numpy(x))[0].numpy()
    assert abs(got.mean() - want.mean()) < 0.01 * abs(x0)
    np.testing.assert_allclose(got.std(), want.std(), rtol=0.02)
    assert got.std() > 0.05
    np.testing.assert_array_equal(ours.eval()(torch.from_numpy(x))[0].numpy(),
                                  _np(ref(x, training=False)))


def test_seeded_draws_repeat_and_lengths_pass_on():
    x = torch.ones(2, 3, 4)
    a, b = GaussianNoise(0.5, seed=7).train(), GaussianNoise(0.5, seed=7).train()
    torch.testing.assert_close(a(x)[0], b(x)[0])
    assert not torch.equal(a(x)[0], a(x)[0])  # the generator moves on, as Keras' seed generator
    model = Sequential([Input(shape=(3,)), Embedding(4, 2, mask_zero=True), GaussianNoise(0.1),
                        GaussianDropout(0.2)])
    model.train()
    assert model(torch.tensor([[1, 2, 0]]), return_lengths=True)[1].tolist() == [2]


def test_fit_trains_with_noise_and_predict_is_without(tmp_path):
    pytest.importorskip("onnxruntime")

    x = RNG.normal(size=(8, 5, 3)).astype(np.float32)
    model = Sequential([Input(shape=(5, 3)), GaussianNoise(0.5, seed=1), Dense(4),
                        GaussianDropout(0.3, seed=2), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, x[..., :1], epochs=1, verbose=0)
    np.testing.assert_array_equal(model.predict(x), model.predict(x))
    plain = Sequential([Input(shape=(5, 3)), Dense(4), Dense(1)])
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(x), plain.predict(x), rtol=1e-6)
    saved_and_exported_alike(model, x, tmp_path)


def test_config_round_trip():
    for layer in (GaussianNoise(0.2), GaussianDropout(0.5, seed=4)):
        assert from_config(layer.get_config()).get_config() == layer.get_config()


@pytest.mark.parametrize("make,word", [(lambda: GaussianNoise(-0.1), "stddev"),
                                       (lambda: GaussianNoise(1.5), "stddev"),
                                       (lambda: GaussianNoise("0.1"), "stddev"),
                                       (lambda: GaussianDropout(1.0), "rate"),
                                       (lambda: GaussianDropout(float("nan")), "rate"),
                                       (lambda: GaussianDropout(0.1, seed=1.5), "seed")])
def test_bad_arguments_are_refused_in_one_sentence(make, word):
    with pytest.raises(ValueError, match=word):
        make()
