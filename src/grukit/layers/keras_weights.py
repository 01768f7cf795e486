"""A layer's weights as Keras 3 lays them out (``get_weights`` / ``set_weights``), so that a
Keras model's weights move into the same grukit model with one call and back:

    ours.set_weights(keras_model.get_weights())

    Dense          [kernel (F, U), bias (U,)]        kernel = linear.weight ᵀ
    Embedding      [embeddings (V, D)]
    GRU/LSTM/SimpleRNN  [kernel (F, G·H), recurrent_kernel (H, G·H), bias]   per direction,
                   forward then backward (Keras' Bidirectional); gates and biases in Keras'
                   order and layout (``grukit.convert``)

Layers without weights give []; a layer whose weights have no Keras layout (minGRU,
GRU-D, AttentionPooling) refuses in one sentence."""

from __future__ import annotations

import numpy as np
import torch


def _np(t: torch.Tensor) -> np.ndarray:
    """A copy (float64 and integers kept, else float32): the array must not change as
    training does."""
    t = t.detach().cpu()
    keep = t.dtype == torch.float64 or not (t.is_floating_point() or t.is_complex())
    return (t if keep else t.float()).numpy().copy()


def get(layer) -> list[np.ndarray]:
    """``layer``'s weights in Keras' layout (see the module docstring)."""
    from .core import Dense, Embedding
    from .recurrent import Bidirectional, _Recurrent

    name = type(layer).__name__
    if not layer.built:
        raise ValueError(f"{name} is not built yet, so it has no weights; build the model "
                         f"(model.build()) or run it on data first.")
    if isinstance(layer, Bidirectional):
        return get(layer.layer)
    if hasattr(layer, "keras_params"):  # a layer that lists its weights in Keras' order
        return [_np(p) for p in layer.keras_params()]
    if isinstance(layer, Dense):
        out = [_np(layer.linear.weight).T.copy()]  # (F, U)
        return out + ([_np(layer.linear.bias)] if layer.use_bias else [])
    if isinstance(layer, Embedding):
        return [_np(layer.embedding.weight)]
    if isinstance(layer, _Recurrent):
        from ..convert import torch_to_keras_weights

        spec, rnn, out = _spec(layer), layer.rnn, []
        for sfx in ("", "_reverse")[:rnn.num_directions]:
            params = {p: _named(rnn, f"{p}_l0{sfx}") for p in
                      ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            out += torch_to_keras_weights(params, spec.name, getattr(layer, "reset_after", True))
        return [np.array(w, copy=True) for w in out]  # copies, not views of the weights
    if any(True for _ in layer.parameters()):
        raise ValueError(f"{name} has no Keras layer whose weights it could take or give; use "
                         f"state_dict() / load_state_dict().")
    return []


def put(layer, weights: list[np.ndarray]) -> None:
    """Set ``layer``'s weights from Keras-layout arrays (as ``get`` returns them); checked
    against the layer's own before anything changes."""
    from .core import Dense, Embedding
    from .recurrent import Bidirectional, _Recurrent

    own = get(layer)
    name = type(layer).__name__
    weights = [np.asarray(w) for w in weights]
    got, want = [tuple(w.shape) for w in weights], [tuple(w.shape) for w in own]
    if got != want:
        raise ValueError(f"{name} holds {len(want)} weight arrays shaped {want}; got "
                         f"{len(got)} shaped {got}. Pass the get_weights() of the same Keras "
                         f"layer (same units, input size and options).")
    bad = next((k for k, w in enumerate(weights) if not np.isfinite(w).all()), None)
    if bad is not None:
        raise ValueError(f"{name}: weight array {bad} holds NaN or Inf values; the layer was "
                         f"left unchanged.")
    if isinstance(layer, Bidirectional):
        return put(layer.layer, weights)
    with torch.no_grad():
        if hasattr(layer, "keras_params"):
            for p, w in zip(layer.keras_params(), weights, strict=True):
                _copy(p, w)
        elif isinstance(layer, Dense):
            _copy(layer.linear.weight, weights[0].T)
            if layer.use_bias:
                _copy(layer.linear.bias, weights[1])
        elif isinstance(layer, Embedding):
            _copy(layer.embedding.weight, weights[0])
        elif isinstance(layer, _Recurrent):
            from ..convert import keras_to_torch_weights

            spec, rnn = _spec(layer), layer.rnn
            per = len(weights) // rnn.num_directions
            for d, sfx in enumerate(("", "_reverse")[:rnn.num_directions]):
                tensors = keras_to_torch_weights(weights[d * per:(d + 1) * per], spec.name,
                                                 getattr(layer, "reset_after", True))
                for p, value in tensors.items():
                    _copy(_named(rnn, f"{p}_l0{sfx}"), value.numpy())


def _spec(layer):
    spec = layer.spec
    if spec.keras is None or spec.packed > 1:
        raise ValueError(f"{type(layer).__name__} has no Keras layer whose weights it could "
                         f"take or give; use state_dict() / load_state_dict().")
    return spec


def _named(module, name: str):
    """A parameter or buffer of ``module`` by name (None when it has neither)."""
    return getattr(module, name, None)


def _copy(dst: torch.Tensor, src: np.ndarray) -> None:
    src = np.ascontiguousarray(src).reshape(tuple(dst.shape))  # a 0-d array comes back 1-d
    dst.copy_(torch.from_numpy(src).to(dst.dtype))
