"""``load``: a ``Sequential`` rebuilt from a model file.

The one module that knows both the file format (``saving``) and the model class
(``sequential``), so that imports inside ``grukit.models`` run one way:
``callbacks -> saving``, ``fit -> callbacks, saving``,
``sequential -> training, callbacks, fit, saving``, ``loading -> saving, sequential``."""

from __future__ import annotations

import json
import warnings

from .saving import put_weights, read_compile, read_model
from .sequential import Sequential


def load_model(filepath: str, custom_objects: dict | None = None, compile: bool = True,
               safe_mode: bool = True) -> Sequential:
    """Rebuild a ``Sequential`` saved with ``model.save(filepath)`` (or a file ``ModelCheckpoint``
    wrote): its layers from the config in the file, in the floating dtype it was saved in,
    then its weights; with ``compile`` (Keras' default) compiled again as it was saved, the
    optimizer's state included, so ``fit`` trains on where the saved model stopped.

    ``custom_objects``: {name: function} for a loss or metric given to ``compile`` as a
    function (the file holds its name only), as Keras'. A compile the file cannot make
    again (a function not in ``custom_objects``, a torch optimizer object) warns and leaves
    the model uncompiled, its weights loaded. ``safe_mode``: Keras'; a grukit file holds no
    code to run, so there is nothing it would refuse."""
    if not isinstance(compile, bool):
        raise TypeError(f"compile must be True or False; got {compile!r}.")
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"custom_objects must be a dict of name -> function; got "
                        f"{type(custom_objects).__name__}.")
    path = filepath
    config, tensors, dtype = read_model(path)
    model = Sequential.from_config(config, custom_objects)
    model.build()
    model.to(dtype)  # the dtype it was saved in
    put_weights(model, tensors, path)
    if compile:
        compiled, optimizer = read_compile(path)
        if compiled is not None and "refused" in compiled:
            warnings.warn(f"{path!r}: the model is loaded uncompiled because "
                          f"{compiled['refused']} Call compile(...) before fit or evaluate.",
                          stacklevel=2)
        elif compiled is not None:
            _compile_as_saved(model, path, compiled, optimizer, custom_objects)
    return model


def _compile_as_saved(model, path, compiled: dict, optimizer: dict | None,
                      custom_objects) -> None:
    """``model`` compiled as the file records and its optimizer's state put back; what
    cannot be made again told in a warning, the model left uncompiled."""
    try:
        model.compile_from_config(compiled, custom_objects)
    except ValueError as err:
        warnings.warn(f"{path!r}: the model is loaded uncompiled because {err} Call "
                      f"compile(...) before fit or evaluate.", stacklevel=3)
        return
    if optimizer is None:
        return
    if optimizer["class"] != type(model.optimizer).__name__:  # cannot be: the same compile
        raise ValueError(f"{path!r} holds the state of a {optimizer['class']} optimizer, but "
                         f"its compile settings make a {type(model.optimizer).__name__}; the "
                         f"file is damaged.")
    try:
        model.optimizer.load_state_dict(optimizer["state_dict"])
    except (ValueError, KeyError, TypeError, IndexError) as err:  # torch's own refusals
        raise ValueError(f"{path!r} holds an optimizer state that does not fit the model's "
                         f"weights ({err}); load the weights alone with load_model(path, "
                         f"compile=False) and compile again.") from err


def model_from_json(json_string: str, custom_objects=None) -> Sequential:
    """The model ``model.to_json()`` describes, new (no weights), as Keras'; Keras' own JSON
    is refused naming the way in (``from_keras`` of the Keras model)."""
    try:
        spec = json.loads(json_string)
    except (TypeError, ValueError) as err:
        raise ValueError(f"model_from_json takes the text model.to_json() returned; it is "
                         f"not JSON ({err}).") from None
    if not isinstance(spec, dict) or spec.get("class_name") != "Sequential" \
            or not isinstance(spec.get("config"), dict):
        raise ValueError("model_from_json reads the JSON of a grukit Sequential "
                         "(model.to_json()); got another description.")
    layers = spec["config"].get("layers")
    if isinstance(layers, list) and any(isinstance(c, dict) and "module" in c
                                        for c in layers):
        raise ValueError("this is Keras' JSON of a model; build it with "
                         "keras.models.model_from_json and convert that model with "
                         "grukit.models.from_keras(model).")
    return Sequential.from_config(spec["config"], custom_objects)
