"""A model file holds a Lambda's function by its name: two different functions of one name
(two ``lambda``s) are refused at save, as loading would give both the same function."""

import numpy as np
import pytest

from grukit.layers import GRU, Dense, Lambda
from grukit.models import Sequential, load_model

X = np.random.default_rng(0).standard_normal((4, 5, 2)).astype("float32")


def test_two_different_lambdas_are_refused_at_save(tmp_path):
    model = Sequential([GRU(3, input_shape=(5, 2)), Lambda(lambda t: t * 2),
                        Lambda(lambda t: t + 1), Dense(1)])
    with pytest.raises(ValueError, match="two Lambda layers hold different functions named "
                                         "'<lambda>'.*def under a name of its own"):
        model.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()
    model.save_weights(tmp_path / "m.weights.h5")  # into a model that has the functions
    model.load_weights(tmp_path / "m.weights.h5")


def test_one_function_in_two_lambdas_saves_and_loads(tmp_path):
    def double(t):
        return t * 2

    model = Sequential([GRU(3, input_shape=(5, 2)), Lambda(double), Lambda(double), Dense(1)])
    model.save(tmp_path / "m.keras")
    back = load_model(tmp_path / "m.keras", custom_objects={"double": double})
    np.testing.assert_array_equal(back.predict(X, verbose=0), model.predict(X, verbose=0))
