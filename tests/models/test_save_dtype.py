"""A saved model comes back in the floating dtype it was saved in; files written before the
dtype was recorded load as float32, as before."""

import json

import numpy as np
import torch

from grukit import layers as gl
from grukit.models import Sequential, load
from grukit.models.saving import FORMAT


def _model():
    torch.manual_seed(0)
    m = Sequential([gl.GRU(3, input_shape=(4, 2)), gl.Dense(1)])
    m.build()
    return m


def test_float64_model_round_trips_as_float64(tmp_path):
    m = _model().double()
    m.save(tmp_path / "m.safetensors")
    back = load(tmp_path / "m.safetensors")
    assert {p.dtype for p in back.parameters()} == {torch.float64}
    x = np.random.default_rng(0).standard_normal((2, 4, 2))
    assert back.predict(x).dtype == np.float64
    np.testing.assert_array_equal(back.predict(x), m.predict(x))


def test_file_without_a_dtype_loads_as_float32(tmp_path):
    from safetensors.torch import save_file

    m = _model()
    path = str(tmp_path / "old.safetensors")
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, path,
              metadata={"format": FORMAT, "config": json.dumps(m.get_config())})
    assert {p.dtype for p in load(path).parameters()} == {torch.float32}


def test_a_float64_model_is_given_its_data_in_float64():
    """predict, evaluate and fit cast float data to float32 first, then to the model's
    float64: a float64 model's predictions were float32-rounded (3.5e-8 off its own call)."""
    m = _model().double()
    m.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 4, 2)), rng.standard_normal((5, 1))
    with torch.no_grad():
        want = m(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(m.predict(x), want, rtol=1e-13, atol=1e-15)
    loss = float(np.mean((want - y) ** 2))
    assert abs(m.evaluate(x, y) - loss) < 1e-12 * loss
    # and a float32 model still takes float64 data as float32, as Keras
    m32 = _model()
    with torch.no_grad():
        want32 = m32(torch.from_numpy(x).float()).numpy()
    np.testing.assert_array_equal(m32.predict(x), want32)
