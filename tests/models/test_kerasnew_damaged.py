"""Damaged compile metadata, optimizer state or config in a model file is refused in one
sentence naming the way out (``load_model(path, compile=False)``, or saving again)."""

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from grukit.layers import GRU, Dense
from grukit.models import Sequential, load_model

X = np.random.default_rng(0).standard_normal((16, 5, 2)).astype("float32")


def _damaged(tmp_path, **changes):
    torch.manual_seed(0)
    model = Sequential([GRU(4, input_shape=(5, 2)), Dense(1)])
    model.compile("adam", "mse")
    model.fit(X, X[:, -1, :1], epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    with safe_open(path, "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    meta = {k: v for k, v in (meta | changes).items() if v is not None}
    save_file(tensors, path, metadata=meta)
    return path


@pytest.mark.parametrize("changes", [
    {"compile": "{oops"}, {"compile": "[1, 2]"}, {"compile": json.dumps({"loss": "mse"})},
    {"optimizer": "{x"}, {"optimizer": json.dumps({"class": "KerasAdam"})}])
def test_damaged_compile_metadata_is_refused_naming_compile_false(tmp_path, changes):
    path = _damaged(tmp_path, **changes)
    with pytest.raises(ValueError, match=r"damaged .*load_model\(path, compile=False\)"):
        load_model(path)
    assert load_model(path, compile=False).built


def test_an_optimizer_state_that_does_not_fit_is_refused_naming_compile_false(tmp_path):
    path = _damaged(tmp_path)
    with safe_open(path, "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    groups = json.loads(meta["optimizer"])
    groups["param_groups"].append(dict(groups["param_groups"][0], params=[]))
    save_file(tensors, path, metadata=meta | {"optimizer": json.dumps(groups)})
    with pytest.raises(ValueError, match=r"does not fit .*load_model\(path, compile=False\)"):
        load_model(path)


@pytest.mark.parametrize("changes", [{"config": "{bad"}, {"config": None}])
def test_a_damaged_config_is_refused_in_one_sentence(tmp_path, changes):
    with pytest.raises(ValueError, match="damaged grukit model file: its config"):
        load_model(_damaged(tmp_path, **changes))
