"""A float64 model's config carries its dtype, as a Keras layer's config does: from_config,
model_from_json and load_model give a float64 model back; configs and checkpoints written
before it held the dtype still load and resume."""

import json

import numpy as np
import torch

from grukit import layers as gl
from grukit.models import ModelCheckpoint, Sequential, load_model, model_from_json


def _model():
    torch.manual_seed(0)
    return Sequential([gl.GRU(3, input_shape=(4, 2)), gl.Dense(1)])


def test_a_float64_config_round_trips_as_float64_as_keras():
    import keras

    theirs = keras.Sequential([keras.Input((4, 2)), keras.layers.GRU(3, dtype="float64")])
    again = keras.models.model_from_json(theirs.to_json())
    assert again.layers[0].dtype == "float64"  # Keras keeps it: so must we
    m = _model().double()
    assert m.get_config()["dtype"] == "float64"
    for back in (Sequential.from_config(m.get_config()), model_from_json(m.to_json()),
                 Sequential.from_config(json.loads(json.dumps(m.get_config())))):
        assert {p.dtype for p in back.parameters()} == {torch.float64}
        back.set_weights(m.get_weights())
        x = np.random.default_rng(0).standard_normal((2, 4, 2))
        np.testing.assert_array_equal(back.predict(x, verbose=0), m.predict(x, verbose=0))
    assert _model().get_config()["dtype"] == "float32"


def test_configs_without_a_dtype_are_float32_and_a_bad_one_is_refused():
    config = _model().get_config()
    config.pop("dtype")
    assert {p.dtype for p in Sequential.from_config(config).parameters()} == {torch.float32}
    import pytest

    with pytest.raises(ValueError, match="torch floating dtype"):
        Sequential.from_config(config | {"dtype": "int8"})


def test_a_float64_file_and_an_old_checkpoint_load(tmp_path):
    m = _model().double()
    m.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 4, 2)), rng.standard_normal((8, 1))
    m.save(tmp_path / "m.safetensors")
    assert {p.dtype for p in load_model(tmp_path / "m.safetensors").parameters()} == \
        {torch.float64}
    ck = str(tmp_path / "ck.pt")
    m.fit(x, y, epochs=1, verbose=0, seed=0, callbacks=[ModelCheckpoint(ck)])
    state = torch.load(ck, weights_only=True)  # as written before configs held the dtype
    config = json.loads(state["config"])
    config.pop("dtype")
    state["config"] = json.dumps(config)
    torch.save(state, ck)
    m.fit(x, y, epochs=2, verbose=0, resume_from=ck)
