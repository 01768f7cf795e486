"""``load``: a ``Sequential`` rebuilt from a model file.

The one module that knows both the file format (``saving``) and the model class
(``sequential``), so that imports inside ``grukit.models`` run one way:
``callbacks -> saving``, ``fit -> callbacks, saving``,
``sequential -> training, callbacks, fit, saving``, ``loading -> saving, sequential``."""

from __future__ import annotations

from ..layers import from_config
from .saving import put_weights, read_model
from .sequential import Sequential


def load_model(path: str) -> Sequential:
    """Rebuild a ``Sequential`` saved with ``model.save(path)``: its layers from the config
    in the file, in the floating dtype it was saved in, then its weights."""
    config, tensors, dtype = read_model(path)
    model = Sequential([from_config(c) for c in config["layers"]], name=config["name"])
    model.build()
    model.to(dtype)  # the dtype it was saved in
    put_weights(model, tensors, path)
    return model
