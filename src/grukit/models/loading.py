"""``load``: a ``Sequential`` rebuilt from a model file.

The one module that knows both the file format (``saving``) and the model class
(``sequential``), so that imports inside ``grukit.models`` run one way:
``callbacks -> saving``, ``fit -> callbacks, saving``,
``sequential -> training, callbacks, fit, saving``, ``loading -> saving, sequential``."""

from __future__ import annotations

from ..layers import from_config
from .saving import put_weights, read_model_file
from .sequential import Sequential


def load_model(path: str) -> Sequential:
    """Rebuild a ``Sequential`` saved with ``model.save(path)``: its layers from the config
    in the file, then its weights."""
    config, tensors = read_model_file(path)
    model = Sequential([from_config(c) for c in config["layers"]], name=config["name"])
    model.build()
    put_weights(model, tensors, path)
    return model
