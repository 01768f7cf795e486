"""Every activation name a Dense layer takes equals Keras 3's activation of that name."""

import os

import numpy as np
import pytest
import torch

from grukit.layers.core import ACTIVATIONS

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

X = np.linspace(-8, 8, 4 * 41, dtype=np.float32).reshape(4, 41)  # both sides of every kink


@pytest.mark.parametrize("name", [k for k in ACTIVATIONS if k is not None])
def test_activation_equals_keras(name):
    fn = ACTIVATIONS[name]
    got = X if fn is None else fn(torch.from_numpy(X)).numpy()
    want = np.asarray(keras.ops.convert_to_numpy(keras.activations.get(name)(X)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
