"""Keras' ``Dropout(rate, noise_shape=None, seed=None)`` and ``SpatialDropout1D(rate,
seed=None)``: a keep-mask shared along the axes noise_shape sets to 1, masks that repeat for
a seed, both kept in the config, the identity in inference."""

import numpy as np
import pytest
import torch

from grukit.layers import GRU, Dense, Dropout, SpatialDropout1D, from_config
from grukit.models import Sequential, load_model

keras = pytest.importorskip("keras")


def _train_out(layer, x):
    layer.train()
    return layer(torch.as_tensor(x))[0].detach().numpy()


def test_noise_shape_shares_the_mask_along_its_axes_as_keras():
    x = np.ones((64, 5, 8), "float32")
    theirs = keras.layers.Dropout(0.5, noise_shape=(None, 1, None), seed=1)(x, training=True)
    theirs = keras.ops.convert_to_numpy(theirs)
    ours = _train_out(Dropout(0.5, noise_shape=(None, 1, None)), x)
    for out in (theirs, ours):
        assert set(np.unique(out)) == {0.0, 2.0}  # kept values scaled by 1 / (1 - rate)
        assert (out == out[:, :1, :]).all()  # one mask for every time step
        assert 0.4 < (out > 0).mean() < 0.6
    ours = _train_out(Dropout(0.5, noise_shape=(64, 5, np.int64(1))), x)  # numpy sizes too
    assert (ours == ours[:, :, :1]).all()


def test_a_seed_repeats_the_masks_whatever_the_global_seed():
    x = np.ones((4, 6, 3), "float32")
    outs = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        layer = Dropout(0.3, seed=7)
        outs.append([_train_out(layer, x), _train_out(layer, x)])
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    assert not np.array_equal(outs[0][0], outs[0][1])  # each call draws a new mask
    assert not np.array_equal(_train_out(Dropout(0.3, seed=8), x), outs[0][0])
    torch.manual_seed(0)
    a = _train_out(SpatialDropout1D(0.5, seed=3), x)
    torch.manual_seed(1)
    b = _train_out(SpatialDropout1D(0.5, seed=3), x)
    np.testing.assert_array_equal(a, b)
    assert (a == a[:, :1, :]).all()


def test_settings_are_kept_and_inference_is_the_identity(tmp_path):
    torch.manual_seed(0)
    model = Sequential([GRU(4, input_shape=(5, 2), return_sequences=True),
                        Dropout(0.5, noise_shape=(None, 1, None), seed=3),
                        SpatialDropout1D(0.2, seed=4), Dense(1)])
    model.compile("adam", "mse")
    x = np.random.default_rng(0).standard_normal((8, 5, 2)).astype("float32")
    model.fit(x, np.zeros((8, 5, 1), "float32"), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert loaded.layers[1].noise_shape == (None, 1, None) and loaded.layers[1].seed == 3
    assert loaded.layers[2].seed == 4
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    again = from_config(model.layers[1].get_config())
    assert again.get_config() == model.layers[1].get_config()


@pytest.mark.parametrize("kwargs, match", [
    ({"noise_shape": 3}, "noise_shape must be a tuple"),
    ({"noise_shape": (None, 0)}, "noise_shape must be a tuple"),
    ({"seed": 1.5}, "seed must be an integer"),
])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Dropout(0.5, **kwargs)


def test_a_noise_shape_that_does_not_fit_the_input_is_named():
    with pytest.raises(ValueError, match=r"noise_shape \(None, 3\) does not fit an input of "
                                         r"shape \(2, 4, 3\)"):
        _train_out(Dropout(0.5, noise_shape=(None, 3)), np.ones((2, 4, 3), "float32"))
