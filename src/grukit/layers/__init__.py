"""Keras-style layers (``from grukit.layers import GRU, Dense``) on grukit.nn modules."""

from .. import cells
from .activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .attention import CausalSelfAttention, KVCache
from .blocks import AttentionBlock, FeedForward, RecurrentBlock
from .conv import (
    AveragePooling1D,
    AvgPool1D,
    Conv1D,
    GlobalMaxPool1D,
    GlobalMaxPooling1D,
    MaxPool1D,
    MaxPooling1D,
)
from .core import REGISTRY, AttentionPooling, Dense, Dropout, Embedding, Layer
from .function import Lambda, function_of
from .identity import ActivityRegularization, Identity
from .noise import AlphaDropout, GaussianDropout, GaussianNoise
from .normalization import BatchNormalization, Normalization, UnitNormalization
from .recurrent import GRU, LSTM, Bidirectional, MinGRU, SimpleRNN, layer_for
from .reshaping import Cropping1D, Permute, Reshape, UpSampling1D, ZeroPadding1D
from .seq2seq import AdditiveAttention, AttentionalDecoderCell, MultiplicativeAttention
from .shaping import (
    Flatten,
    GlobalAveragePooling1D,
    Input,
    InputLayer,
    Masking,
    TimeDistributed,
)
from .simple import Activation, LayerNormalization, RepeatVector, SpatialDropout1D

GlobalAvgPool1D = GlobalAveragePooling1D  # Keras' other name for it

# a layer for every cell in grukit.cells (those without a class above are made from the spec)
for _spec in cells.all_specs():
    globals()[_spec.layer] = layer_for(_spec)


def from_config(cfg: dict, custom_objects: dict | None = None) -> Layer:
    """Rebuild a layer from ``layer.get_config()``; ``custom_objects`` maps a Lambda's
    function name to the function (a config holds the name only)."""
    name, kwargs = cfg.get("class"), dict(cfg.get("config", {}))
    if name not in REGISTRY:
        raise ValueError(f"unknown layer class {name!r} in the saved config; known: "
                         f"{sorted(REGISTRY)}.")
    if name in ("Bidirectional", "TimeDistributed"):
        kwargs["layer"] = from_config(kwargs["layer"], custom_objects)
    if name == "Lambda":
        kwargs = function_of(kwargs, custom_objects)
    return REGISTRY[name](**kwargs)


__all__ = ["GRU", "LSTM", "AttentionPooling", "Bidirectional", "Dense", "Dropout", "Embedding",
           "Layer", "MinGRU", "SimpleRNN", "from_config", "layer_for"]
__all__ += ["AttentionBlock", "CausalSelfAttention", "FeedForward", "KVCache", "RecurrentBlock"]
__all__ += ["AdditiveAttention", "AttentionalDecoderCell", "MultiplicativeAttention"]
__all__ += ["Flatten", "GlobalAveragePooling1D", "Input", "Masking", "TimeDistributed"]
__all__ += ["Activation", "LayerNormalization", "RepeatVector", "SpatialDropout1D"]
__all__ += ["Conv1D", "GlobalMaxPooling1D", "MaxPooling1D"]
__all__ += ["BatchNormalization"]
__all__ += ["GaussianDropout", "GaussianNoise"]
__all__ += ["Permute", "Reshape"]
__all__ += ["LeakyReLU", "PReLU", "ReLU", "Softmax"]
__all__ += ["AveragePooling1D", "AvgPool1D", "GlobalAvgPool1D", "GlobalMaxPool1D", "MaxPool1D"]
__all__ += ["Cropping1D", "UpSampling1D", "ZeroPadding1D"]
__all__ += ["ActivityRegularization", "AlphaDropout", "ELU", "Identity", "UnitNormalization"]
__all__ += ["InputLayer", "Normalization"]
__all__ += ["Lambda"]
__all__ += [s.layer for s in cells.all_specs() if s.layer not in __all__]
