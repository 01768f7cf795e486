"""The parts of Keras' model API that describe and edit a ``Sequential``: ``input_shape``,
``output_shape``, ``weights`` / ``trainable_weights`` / ``non_trainable_weights`` (torch
parameters), ``trainable``, ``get_layer``, ``pop``, ``save_weights`` / ``load_weights``.
``Sequential`` inherits them; they use only its layer stack and shape tracing."""

from __future__ import annotations

import re

from .saving import load_weights, save_model


def snake(name: str) -> str:
    """GRU -> gru, SimpleRNN -> simple_rnn, GlobalAveragePooling1D ->
    global_average_pooling1d: Keras' ``to_snake_case`` (an underscore before each capital
    followed by small letters, and between a small letter and a capital)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class KerasModelAPI:
    """Mixin for ``Sequential`` (which provides ``stack``, ``build``, ``built``, ``_trace``
    and ``_input_shape``)."""

    def layer_names(self) -> list[str]:
        """Each layer's name: the one it was given, else Keras' kind in snake case, numbered
        from the second of a kind on (gru, gru_1, ...), as ``summary`` prints them."""
        names, counts = [], {}
        for layer in self.stack:
            base = layer.layer_name or snake(type(layer).__name__)
            n = counts.get(base, 0)
            counts[base] = n + 1
            names.append(base if n == 0 else f"{base}_{n}")
        return names

    @property
    def input_shape(self) -> tuple:
        """(None, *the first layer's input shape), as Keras' ``model.input_shape``."""
        return (None, *self._input_shape())

    @property
    def output_shape(self) -> tuple:
        """(None, *the last layer's output shape); None where a size is left open."""
        if not self.built:
            self.build()
        return (None, *self._trace(self._input_shape())[-1])

    @property
    def weights(self) -> list:
        """Every weight, as torch parameters in the layers' order (torch's shapes; Keras'
        layout is ``get_weights()``)."""
        if not self.built:
            self.build()
        return list(self.parameters())

    @property
    def trainable_weights(self) -> list:
        return [p for p in self.weights if p.requires_grad]

    @property
    def non_trainable_weights(self) -> list:
        return [p for p in self.weights if not p.requires_grad]

    def _regularized(self) -> list:
        """The layers with weight regularizers, a wrapped layer (Bidirectional's) included."""
        out = []
        for top in self.stack:
            inner = top._modules.get("layer")  # Bidirectional's, TimeDistributed's
            out += [la for la in (top, inner) if la is not None and la.regularizers]
        return out

    def regularization_loss(self):
        """Σ of every layer's weight regularizers' penalties (0.0 without any), which
        ``fit`` and ``evaluate`` add to the loss, as Keras adds ``model.losses``."""
        total = 0.0
        for layer in self._regularized():
            total = total + layer.regularization_loss()
        return total

    @property
    def losses(self) -> list:
        """The regularization penalties, one per layer that has any (Keras' ``losses``)."""
        return [layer.regularization_loss() for layer in self._regularized()]

    @property
    def trainable(self) -> bool:
        """False when every layer is frozen; setting it sets every layer's, as Keras."""
        return any(layer.trainable for layer in self.stack) if len(self.stack) else True

    @trainable.setter
    def trainable(self, value: bool) -> None:
        for layer in self.stack:
            layer.trainable = value

    def get_layer(self, name: str | None = None, index: int | None = None):
        """The layer named ``name`` (see ``layer_names``) or at ``index``, as Keras'."""
        if (name is None) == (index is None):
            raise ValueError("get_layer takes a name or an index (one of them).")
        if index is not None:
            if not -len(self.stack) <= index < len(self.stack):
                raise ValueError(f"get_layer: index {index} is out of range; the model has "
                                 f"{len(self.stack)} layers.")
            return self.stack[index]
        names = self.layer_names()
        if name not in names:
            raise ValueError(f"no layer named {name!r}; the layers are {names}.")
        return self.stack[names.index(name)]

    def pop(self, rebuild: bool = True):
        """Remove the last layer and return it, as Keras' ``pop``; the shapes are traced
        again at once either way (``rebuild``, Keras', is taken as a switch)."""
        if not isinstance(rebuild, bool):
            raise TypeError(f"pop: rebuild must be True or False; got {rebuild!r}.")
        if not len(self.stack):
            raise ValueError("pop: the model has no layers.")
        layer = self.stack[-1]
        del self.stack[-1]
        if len(self.stack) and self.stack[0].input_shape is not None:
            self._shapes = self._trace(self._input_shape())
        return layer

    def save_weights(self, filepath, overwrite: bool = True, max_shard_size=None) -> None:
        """Write the weights (a model file ``load_weights`` and ``grukit.models.load``
        read; any file name, Keras' ``.weights.h5`` included, holds grukit's format), without
        the compile settings and optimizer state that ``save`` adds, as Keras'.
        ``overwrite=False`` refuses an existing file; ``max_shard_size`` (Keras' sharding)
        has no grukit form."""
        if max_shard_size is not None:
            raise ValueError("save_weights: max_shard_size has no grukit form (one file is "
                             "written); leave it out.")
        save_model(self, filepath, overwrite=overwrite, weights_only=True)

    def load_weights(self, filepath, skip_mismatch: bool = False) -> None:
        """Take the weights of a file ``save_weights``, ``save`` or ``ModelCheckpoint`` wrote
        for this architecture; another architecture is refused and nothing changes. A Keras
        weights file (HDF5) is refused by name: ``from_keras`` converts the Keras model.
        ``skip_mismatch=True`` (Keras') loads the layers whose weights fit and leaves the
        others as they are, with a warning naming them."""
        path = filepath
        if not isinstance(skip_mismatch, bool):
            raise TypeError(f"load_weights: skip_mismatch must be True or False; got "
                            f"{skip_mismatch!r}.")
        try:
            with open(path, "rb") as f:
                hdf5 = f.read(8) == b"\x89HDF\r\n\x1a\n"
        except OSError:
            hdf5 = False  # the reader says what is wrong with the path
        if hdf5:
            raise ValueError(f"{path!r} is a Keras (HDF5) weights file, which grukit does not "
                             f"read; load it into the Keras model and convert that with "
                             f"grukit.models.from_keras(keras_model), or call "
                             f"model.set_weights(keras_model.get_weights()).")
        if skip_mismatch:
            self._load_fitting_layers(path)
            return
        load_weights(self, path)

    def _load_fitting_layers(self, path) -> None:
        """``load_weights(skip_mismatch=True)``: each layer whose tensors in the file have
        its names and shapes takes them; the others are named in a warning."""
        import warnings

        from .saving import read_model_file

        if not self.built:
            self.build()
        tensors = read_model_file(path)[1]
        skipped = []
        for k, (layer, name) in enumerate(zip(self.stack, self.layer_names(), strict=True)):
            own = layer.state_dict()
            theirs = {n.removeprefix(f"stack.{k}."): t for n, t in tensors.items()
                      if n.startswith(f"stack.{k}.")}
            fits = set(own) == set(theirs) and all(
                tuple(own[n].shape) == tuple(theirs[n].shape) for n in own)
            if fits:
                layer.load_state_dict(theirs)
            elif own or theirs:
                skipped.append(name)
        if skipped:
            warnings.warn(f"load_weights({path!r}, skip_mismatch=True): the weights of "
                          f"{', '.join(skipped)} do not fit these layers and were left as "
                          f"they are.", stacklevel=3)
