"""``from_keras`` of ZeroPadding1D, Cropping1D, UpSampling1D, Identity,
ActivityRegularization, ELU, AlphaDropout, UnitNormalization, Normalization (adapted or
given) and InputLayer: the converted model predicts as Keras' (a saved file too), with the
mask where Keras carries it, and keeps each layer's settings."""

import os

import numpy as np
import pytest

from grukit.models import from_keras

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
kl = keras.layers
RNG = np.random.default_rng(3)


def _same(ref, ours, x):
    want = np.asarray(keras.ops.convert_to_numpy(ref.predict(x, verbose=0)))
    np.testing.assert_allclose(ours.predict(x), want, rtol=1e-5, atol=1e-6)


def test_a_saved_keras_model_with_the_layers_predicts_alike(tmp_path):
    x = RNG.normal(1.0, 2.0, size=(4, 7, 3)).astype(np.float32)
    norm = kl.Normalization()
    norm.adapt(x)
    ref = keras.Sequential([
        kl.InputLayer(shape=(7, 3)), norm, kl.ZeroPadding1D((1, 2)), kl.Cropping1D((2, 1)),
        kl.UpSampling1D(2), kl.Identity(), kl.ActivityRegularization(0.01, 0.02), kl.ELU(0.7),
        kl.AlphaDropout(0.2, noise_shape=(None, 1, 3), seed=4), kl.UnitNormalization(),
        kl.GRU(5, return_sequences=True), kl.Normalization(mean=0.5, variance=2.0, invert=True),
        kl.Dense(2)])
    ref.save(tmp_path / "m.keras")
    for ours in (from_keras(ref), from_keras(tmp_path / "m.keras")):
        _same(ref, ours, x)
        kinds = [type(la).__name__ for la in ours.layers]
        assert kinds == [type(la).__name__ for la in ref.layers]
        assert ours.layers[5].l1 == 0.01 and ours.layers[6].alpha == 0.7
        assert ours.layers[7].noise_shape == (None, 1, 3) and ours.layers[7].seed == 4
        assert ours.layers[10].invert


def test_a_masked_keras_model_predicts_alike():
    ids = RNG.integers(1, 9, (4, 6))
    ids[0, 3:] = 0
    ids[2, 1:] = 0
    for middle in ([kl.ELU(), kl.UnitNormalization(), kl.Identity(),
                    kl.ActivityRegularization(0.1), kl.Normalization(mean=0.1, variance=0.5)],
                   [kl.ZeroPadding1D(1)], [kl.Cropping1D((0, 2))], [kl.UpSampling1D(2)]):
        ref = keras.Sequential([keras.Input((6,), dtype="int32"),
                                kl.Embedding(9, 3, mask_zero=True), *middle, kl.GRU(4)])
        _same(ref, from_keras(ref), ids)


def test_settings_without_a_grukit_form_are_refused():
    ref = keras.Sequential([keras.Input((5, 3)), kl.ZeroPadding1D(1, data_format="channels_first")])
    with pytest.raises(ValueError, match="channels_last"):
        from_keras(ref)
