"""A model file's optimizer state fits the model ``load_model`` makes of it even when layers
were added or popped after compile."""


import numpy as np
import pytest
import torch

from grukit.layers import GRU, Dense
from grukit.models import Sequential, load_model

X = np.random.default_rng(0).standard_normal((16, 5, 2)).astype("float32")
Y = X[:, -1, :1]


def _fit(model):
    model.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("change", ["add", "pop", "pop_add"])
def test_a_model_changed_after_compile_loads_and_trains_on_as_it(tmp_path, change):
    torch.manual_seed(0)
    model = Sequential([GRU(4, input_shape=(5, 2)), Dense(1), Dense(1)])
    model.compile("adam", "mse")
    _fit(model)
    if change in ("pop", "pop_add"):
        model.pop()
    if change in ("add", "pop_add"):
        model.add(Dense(1))
    _fit(model)  # the state of every weight, the new one's too
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    for a, b in zip(_fit(model), _fit(loaded), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)  # one group vs two
