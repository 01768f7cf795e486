"""Activations given as Keras' own functions (``activation=keras.activations.relu``) or as
the torch functions that compute them (``torch.relu``, ``F.elu``) are read as their names,
as Keras reads its functions: the same outputs as the name, saved as the name; torch's
``leaky_relu`` (slope 0.01, Keras' is 0.2) is refused rather than read as Keras'."""

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit.layers import GRU, LSTM, Activation, Conv1D, Dense  # noqa: E402
from grukit.models import Sequential  # noqa: E402
from grukit.nn.quantized import quantize_int8  # noqa: E402

X = np.random.RandomState(0).randn(4, 6, 3).astype("float32")


@pytest.mark.parametrize("fn,name", [(keras.activations.relu, "relu"), (torch.relu, "relu"),
                                     (F.elu, "elu"), (keras.activations.hard_sigmoid,
                                                      "hard_sigmoid")])
def test_a_function_is_read_as_its_name(fn, name):
    def model(act, rec):
        torch.manual_seed(0)
        m = Sequential([LSTM(4, activation=act, recurrent_activation=rec, input_shape=(6, 3)),
                        Dense(2, activation=act), Activation(act)])
        m.build()
        return m

    a, b = model(fn, "sigmoid"), model(name, "sigmoid")
    np.testing.assert_array_equal(a.predict(X, verbose=0), b.predict(X, verbose=0))
    assert a.get_config() == b.get_config()
    assert Conv1D(2, 3, activation=fn).activation == name


def test_tanh_and_sigmoid_as_functions_stay_the_standard_pair():
    m = Sequential([GRU(4, activation=keras.activations.tanh,
                        recurrent_activation=torch.sigmoid, input_shape=(6, 3))])
    m.build()
    quantize_int8(m)  # the int8 kernels serve it: nothing non-standard was recorded


def test_torch_leaky_relu_is_refused_for_its_other_slope():
    with pytest.raises(ValueError, match="unknown activation"):
        GRU(4, activation=F.leaky_relu)
