"""Keras initializer objects read into grukit's: every setting the Keras object holds,
also those its get_config leaves out (Keras 3's Identity keeps ``gain`` out of its config)."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit.layers import SimpleRNN  # noqa: E402
from grukit.layers import initializers as I  # noqa: E402
from grukit.models import Sequential  # noqa: E402


def test_keras_identity_keeps_its_gain():
    # Le et al.'s IRNN with a scaled identity: SimpleRNN(recurrent_initializer=Identity(0.5))
    theirs = keras.initializers.Identity(gain=0.5)
    assert I.get(theirs, "t").gain == 0.5
    g = Sequential([SimpleRNN(4, activation="relu", recurrent_initializer=theirs,
                              input_shape=(3, 2))])
    g.build()
    np.testing.assert_array_equal(g.get_weights()[1],
                                  keras.ops.convert_to_numpy(theirs((4, 4))))


def test_keras_objects_keep_their_settings():
    ki = keras.initializers
    for theirs, want in [(ki.Orthogonal(gain=3.0, seed=2), {"gain": 3.0, "seed": 2}),
                         (ki.Orthogonal(gain=3.0), {"gain": 3.0, "seed": None}),
                         (ki.Constant(0.25), {"value": 0.25}),
                         (ki.RandomUniform(-1, 2, seed=4), {"minval": -1.0, "maxval": 2.0,
                                                             "seed": 4})]:
        assert I.get(theirs, "t").get_config() == want


def test_any_integer_seed_draws():
    # torch's generator takes 64 bits; Keras takes any integer (a hash, 2**64 + 5)
    big = I.GlorotUniform(seed=2**64 + 5)((3, 4))
    np.testing.assert_array_equal(big, I.GlorotUniform(seed=5)((3, 4)))
    np.testing.assert_array_equal(I.GlorotUniform(seed=-1)((3, 4)),
                                  I.GlorotUniform(seed=2**64 - 1)((3, 4)))
    assert I.GlorotUniform(seed=2**64 + 5).get_config() == {"seed": 2**64 + 5}


def test_an_initializer_class_is_taken_as_keras_takes_it():
    # Keras instantiates a class given as the initializer: Dense(3, kernel_initializer=HeNormal)
    for cls in (I.HeNormal, keras.initializers.HeNormal, keras.initializers.Orthogonal):
        g = Sequential([SimpleRNN(4, kernel_initializer=cls, recurrent_initializer=cls,
                                  input_shape=(3, 2))])
        g.build()
        assert type(g.layers[0].initializers["kernel_initializer"]).__name__ == cls.__name__
    with pytest.raises(ValueError, match="is no initializer"):
        SimpleRNN(4, kernel_initializer=dict)


def test_variance_scaling_normal_is_keras_truncated_normal():
    # Keras reads distribution="normal" as "truncated_normal" (and any case of the name)
    for given in ("normal", "Normal", "TRUNCATED_NORMAL"):
        ours = I.get({"class_name": "VarianceScaling",
                      "config": {"scale": 2.0, "distribution": given}}, "t")
        theirs = keras.initializers.VarianceScaling(scale=2.0, distribution=given)
        assert ours.get_config()["distribution"] == theirs.get_config()["distribution"]
    a = I.VarianceScaling(2.0, distribution="normal", seed=0)((64, 64))
    assert np.abs(a).max() <= 2 * np.sqrt(2.0 / 64) / 0.87962566103423978 + 1e-12  # cut at 2σ
    assert abs(a.std() - np.sqrt(2.0 / 64)) < 0.05 * np.sqrt(2.0 / 64)
    assert I.VarianceScaling(distribution="Uniform").distribution == "uniform"
