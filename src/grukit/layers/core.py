"""Keras-style layers: the base class, Dense, Dropout, Embedding, AttentionPooling.

A layer stores its arguments in the constructor and creates its weights when it first sees
an input (``build``), as Keras does, so ``Dense(1)`` needs no input size. Layers pass a
``lengths`` tensor (B,) along with the data when the sequence is right-padded (from
``Embedding(mask_zero=True)``) so recurrent layers skip the padding.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..ops import outside_compile
from ..ops.activations import ELEMENTWISE, name_of

# Keras 3's activations by name, with its constants (leaky_relu's slope 0.2, hard_sigmoid =
# relu6(x + 3) / 6); each equals keras.activations.get(name) (tests/layers/test_activations.py)
ACTIVATIONS = ELEMENTWISE | {"softmax": lambda t: torch.softmax(t, dim=-1),
                             "log_softmax": lambda t: torch.log_softmax(t, dim=-1)}
REGISTRY: dict[str, type] = {}
_SQRT1_2 = 1 / math.sqrt(2)


def onnx_activation(g, y: str, name: str | None, what: str) -> str:
    """``ACTIVATIONS[name]`` of the value ``y`` as ONNX nodes in the graph ``g`` (a
    ``grukit.export.graph.Graph``), for the layers' ONNX forms."""
    if name in (None, "linear"):
        return y
    simple = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "elu": "Elu",
              "softplus": "Softplus", "softsign": "Softsign", "exponential": "Exp"}
    if name in simple:
        return g.op(simple[name], [y], name)
    if name in ("softmax", "log_softmax"):
        return g.op("Softmax" if name == "softmax" else "LogSoftmax", [y], name, axis=-1)
    if name == "gelu":  # exact: 0.5 x (1 + erf(x / √2)), as torch's default
        erf = g.op("Erf", [g.op("Mul", [y, g.scalar(_SQRT1_2)])])
        half = g.op("Mul", [y, g.scalar(0.5)])
        return g.op("Mul", [half, g.op("Add", [erf, g.scalar(1.0)])], name)
    if name == "selu":  # λ (x > 0 ? x : α(eˣ − 1)), torch's constants
        return g.op("Selu", [y], name, alpha=1.6732632423543772, gamma=1.0507009873554805)
    if name == "leaky_relu":
        return g.op("LeakyRelu", [y], name, alpha=0.2)
    if name == "hard_sigmoid":  # max(0, min(1, x/6 + 1/2)) = relu6(x + 3) / 6
        return g.op("HardSigmoid", [y], name, alpha=1 / 6, beta=0.5)
    if name == "relu6":
        return g.op("Min", [g.op("Relu", [y]), g.scalar(6.0)], name)
    if name in ("swish", "silu"):  # x σ(x)
        return g.op("Mul", [y, g.op("Sigmoid", [y])], name)
    if name == "mish":  # x tanh(softplus(x))
        return g.op("Mul", [y, g.op("Tanh", [g.op("Softplus", [y])])], name)
    raise ValueError(f"{what}: the activation {name!r} has no ONNX form here.")


def register(cls):
    REGISTRY[cls.__name__] = cls
    return cls


def _build(layer: Layer, x: Tensor) -> None:
    """Make ``layer``'s weights for the input x (B, ...) at its first call, as Keras does."""
    layer.build(tuple(x.shape[1:]))
    layer.to(x.device)
    for sub in layer.modules():  # this layer, and a wrapped one frozen apart
        if isinstance(sub, Layer):
            sub.requires_grad_(sub._trainable and layer._trainable)


_WHY_EAGER = ("a grukit layer makes its weights at its first call, which torch.compile "
              "cannot trace; call the model once on a batch (or give the first layer "
              "input_shape and call model.build()) before torch.compile(fullgraph=True).")
# the first call of a compiled model builds eagerly (a graph break) and traces the rest: a
# tracer stepping into a weight's creation failed with an internal error, not a break
_build_eagerly = outside_compile(_build, _WHY_EAGER)


class Layer(nn.Module):
    """Base: lazy ``build(input_shape)``; ``call(x, lengths) -> (y, lengths)``. A floating
    input of another dtype than the layer's weights (float64 data) is cast to theirs, as
    Keras autocasts it; a numpy array is taken as a tensor.
    ``trainable=False`` (or ``layer.trainable = False`` later) freezes the layer's weights,
    as in Keras: ``fit`` leaves them as they are."""

    # Keras' regularizer arguments a layer takes -> the names of the parameters each covers
    # (``regularized``); a layer without weights takes none
    REGULARIZED: dict[str, tuple[str, ...]] = {}
    # Keras' initializer arguments a layer takes -> Keras' default, in the order of the
    # layer's Keras weights (``get_weights``), one weight each (``initializers``)
    INITIALIZED: dict[str, str] = {}
    # build() itself draws Keras' default initial weights (so "torch" does not apply)
    KERAS_START = False

    def __init__(self, *, input_shape=None, name: str | None = None, trainable: bool = True,
                 input_dim: int | None = None, **options):
        super().__init__()
        cls = type(self).__name__
        if options.get("activity_regularizer") is not None:
            raise ValueError(f"{cls}: activity_regularizer has no grukit form; leave it out "
                             f"and put an ActivityRegularization(l1, l2) layer after this one "
                             f"(Keras' same penalty on its output).")
        options.pop("activity_regularizer", None)
        unknown = sorted(set(options) - set(self.REGULARIZED) - set(self.initialized())
                         - set(self.constrained()))
        if unknown:
            raise TypeError(f"{cls}.__init__() got an unexpected keyword argument "
                            f"{unknown[0]!r}.")
        from . import constraints as cons
        from . import initializers as inits
        from . import regularizers as regs

        self.regularizers = {k: r for k, v in options.items() if k in self.REGULARIZED
                             and (r := regs.get(v, f"{cls}: {k}")) is not None}
        self.constraints = {k: c for k, v in options.items() if k in self.constrained()
                            and (c := cons.get(v, f"{cls}: {k}")) is not None}
        self.initializers = {k: inits.get(options.get(k, default), f"{cls}: {k}")
                             for k, default in self.initialized().items()}
        if self.KERAS_START and any(isinstance(i, str) for i in self.initializers.values()):
            raise ValueError(f"{cls} starts from Keras' initializers; 'torch' applies to the "
                             f"Dense and recurrent layers. Name a Keras initializer.")
        self._init_config = {k: options[k] if isinstance(options[k], str) else
                             inits.serialize(self.initializers[k])
                             for k in self.initializers if k in options}
        if input_dim is not None and input_shape is None:  # Keras' Dense(12, input_dim=8)
            input_shape = (input_dim,)
        self.input_shape = check_input_shape(input_shape, type(self).__name__)
        self.layer_name = name
        self.built = False
        self.trainable = trainable

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__}: trainable must be True or False; got "
                            f"{value!r}.")
        self._trainable = bool(value)
        self.requires_grad_(self._trainable)  # the weights built so far; build does the rest

    def build(self, input_shape: tuple) -> None:  # input_shape excludes the batch
        self.built = True
        try:
            self.initialize()
        except Exception:  # left unbuilt: a second try builds again (and fails alike)
            self.built = False
            raise

    @classmethod
    def initialized(cls) -> dict[str, str]:
        """Keras' initializer arguments this layer takes, with Keras' defaults."""
        return cls.INITIALIZED

    @classmethod
    def constrained(cls) -> list[str]:
        """Keras' constraint arguments this layer takes: one per initializer argument
        (``kernel_initializer`` -> ``kernel_constraint``), for the same weights."""
        return [k.replace("_initializer", "_constraint") for k in cls.initialized()]

    def apply_constraints(self) -> None:
        """Project each weight a constraint was given for (``grukit.layers.constraints``),
        in Keras' layout, as Keras' optimizer does after every update; ``compile`` calls it
        after each optimizer step."""
        if not self.constraints or not self.built:
            return
        from . import keras_weights

        weights = keras_weights.get(self)
        slots = [k.replace("_initializer", "_constraint") for k in self.slots(len(weights))]
        keras_weights.put(self, [self.constraints[k](w) if k in self.constraints else w
                                 for k, w in zip(slots, weights, strict=True)])

    def initialize(self) -> None:
        """Draw the built weights from the layer's initializers, in Keras' layout (a weight
        whose initializer is "torch" keeps the torch module's start; with ``KERAS_START``,
        one left at Keras' default keeps the start ``build`` drew)."""
        draw = {k for k, i in self.initializers.items() if not isinstance(i, str)
                and not (self.KERAS_START and k not in self._init_config)}
        if not draw:
            return
        from . import keras_weights

        weights = keras_weights.get(self)
        keras_weights.put(self, [self.draw(s, w.shape) if s in draw else w
                                 for s, w in zip(self.slots(len(weights)), weights,
                                                 strict=True)])

    def slots(self, n: int) -> list[str]:
        """The initializer argument of each of the layer's ``n`` Keras weights: the
        arguments in order, again for a second direction; a bias left out goes last."""
        names = list(self.initialized())
        return (names * (n // len(names) + 1))[:n]

    def draw(self, arg: str, shape: tuple) -> np.ndarray:
        """The initial value of a weight of ``shape`` (Keras' layout) that ``arg`` covers."""
        return self.initializers[arg](shape)

    def call(self, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def forward(self, x: Tensor, lengths: Tensor | None = None):
        if isinstance(x, np.ndarray):  # as Keras layers take them; on the weights' device
            x = torch.as_tensor(x)  # below, once built
            w = next(self.parameters(), None)
            if w is not None:
                x = x.to(w.device)
        if not self.built:
            _build_eagerly(self, x)
        if isinstance(x, Tensor) and x.is_floating_point():
            w = next((p for p in self.parameters() if p.is_floating_point()), None)
            if w is not None and x.dtype != w.dtype and not _autocast(x.device.type):
                x = x.to(w.dtype)  # Keras autocasts floating inputs to the layer's dtype:
                # float64 data into float32 weights
        return self.call(x, lengths)

    def regularization_loss(self):
        """Σ of the regularizers' penalties on the weights they cover (0.0 without any)."""
        total = 0.0
        for arg, reg in self.regularizers.items():
            for name, p in self.named_parameters():
                if any(part in name for part in self.REGULARIZED[arg]):
                    total = total + reg(p)
        return total

    def get_weights(self) -> list:
        """The weights as Keras 3's layer of the same name holds them (numpy arrays, Keras'
        shapes and gate order; ``keras_weights``)."""
        from . import keras_weights

        return keras_weights.get(self)

    def set_weights(self, weights: list) -> None:
        """Take a Keras layer's ``get_weights()`` (shapes checked before anything changes)."""
        from . import keras_weights

        keras_weights.put(self, weights)

    def get_config(self) -> dict:
        cfg = {k: v for k, v in self._config().items()}
        if self.input_shape is not None:
            cfg["input_shape"] = list(self.input_shape)
        if self.layer_name:
            cfg["name"] = self.layer_name
        if not self._trainable:
            cfg["trainable"] = False
        cfg |= {k: r.get_config() for k, r in self.regularizers.items()}
        cfg |= {k: c.serialize() for k, c in self.constraints.items()}
        cfg |= {k: v for k, v in self._init_config.items() if v is not None}
        return {"class": type(self).__name__, "config": cfg}

    def _config(self) -> dict:
        return {}


def check_sequence(cls: str, input_shape, hint: str = "") -> None:
    """Refuse an input that is not a sequence (batch, time, features), naming the layer;
    ``hint`` says what to do (e.g. return_sequences=True on the layer before)."""
    if len(input_shape) != 2:
        raise ValueError(f"{cls} needs a sequence (batch, time, features); got (batch, "
                         f"{', '.join(map(str, input_shape))}).{hint}")


AFTER_RNN = " Set return_sequences=True on the recurrent layer before it."


def check_input_shape(shape, cls: str, arg: str = "input_shape") -> tuple | None:
    """``input_shape`` (the argument ``arg``) without the batch axis: positive integers, None
    for a size left open (a variable number of time steps, as in Keras)."""
    if shape is None:
        return None
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise TypeError(f"{cls}: {arg} must be a tuple without the batch axis, e.g. "
                        f"(100, 1) or (None, 1); got {shape!r}.")
    dims = tuple(shape)
    for d in dims:
        if d is not None and (not isinstance(d, numbers.Integral) or isinstance(d, bool)
                              or d < 1):
            raise ValueError(f"{cls}: {arg} entries must be positive integers (or None "
                             f"for a variable length); got {shape!r}.")
    if not dims:
        raise ValueError(f"{cls}: {arg} must have at least one entry, e.g. (100, 1); "
                         f"got ().")
    return tuple(None if d is None else int(d) for d in dims)


def positive_int(value, what: str) -> int:
    """``value`` if it is a positive integer (not a bool), else one sentence naming ``what``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive integer; got {value!r}.")
    return int(value)


def check_switch(value, what: str) -> bool:
    """``value`` as a bool: True, False (numpy's too) or Keras' 1 / 0; a string ("False" is
    truthy) or anything else is refused in one sentence naming ``what``."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer))
                                               and value in (0, 1)):
        return bool(value)
    raise TypeError(f"{what} must be True or False; got {value!r}.")


def check_rate(value, what: str) -> float:
    """A dropout rate in [0, 1)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) \
            or not 0 <= value < 1:
        raise ValueError(f"{what} must be in [0, 1) (the fraction to drop); got {value!r}.")
    return float(value)


def _activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of "
                         f"{sorted(k for k in ACTIVATIONS if k)}.")
    return ACTIVATIONS[name]


@register
class Dense(Layer):
    """y = act(x Wᵀ + b) on the last axis; x (B, ..., F) -> (B, ..., units)."""

    REGULARIZED = {"kernel_regularizer": ("linear.weight",), "bias_regularizer": ("linear.bias",)}
    INITIALIZED = {"kernel_initializer": "glorot_uniform", "bias_initializer": "zeros"}

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 **kwargs):
        super().__init__(**kwargs)
        units = positive_int(units, "Dense: units")
        activation = name_of(activation, ACTIVATIONS)  # keras.activations.relu -> "relu"
        _activation(activation)
        self.units, self.activation = units, activation
        self.use_bias = check_switch(use_bias, "Dense: use_bias")

    def build(self, input_shape):
        self.linear = nn.Linear(input_shape[-1], self.units, bias=self.use_bias)
        super().build(input_shape)

    def call(self, x, lengths):
        act = _activation(self.activation)
        y = self.linear(x)
        return (y if act is None else act(y)), lengths

    def _config(self):
        return {"units": self.units, "activation": self.activation, "use_bias": self.use_bias}


@register
class Dropout(Layer):
    """Zeroes each element with probability ``rate`` in training and scales the rest by
    1 / (1 − rate); the identity in evaluation (as ``keras.layers.Dropout``).

    Args:
        rate (float): the probability of dropping an element, in [0, 1).
        noise_shape: Keras' shape of the keep-mask, broadcast over x: one entry per axis of
            x, None for x's size there, 1 to share the mask along that axis
            ((None, 1, None): one mask for every time step).
        seed (int): the masks drawn from a generator of this seed, so that a run repeats
            (Keras' seed; the masks are not Keras' own draws).
    """

    def __init__(self, rate: float, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate(rate, "Dropout: rate")
        if noise_shape is not None:
            if not isinstance(noise_shape, (list, tuple)) or not all(
                    d is None or isinstance(d, numbers.Integral) and not isinstance(d, bool)
                    and d >= 1 for d in noise_shape):
                raise ValueError(f"Dropout: noise_shape must be a tuple of positive sizes or "
                                 f"None (one per axis of the input); got {noise_shape!r}.")
            noise_shape = tuple(None if d is None else int(d) for d in noise_shape)
        self.noise_shape = noise_shape
        self.seed = check_seed(seed, "Dropout")
        self._generators: dict = {}

    def call(self, x, lengths):
        if not self.training or self.rate == 0:
            return x, lengths
        if self.noise_shape is None and self.seed is None:
            return F.dropout(x, self.rate, True), lengths
        shape = tuple(x.shape)
        if self.noise_shape is not None:
            if len(self.noise_shape) != x.dim() or any(
                    d is not None and d not in (1, n) for d, n in zip(self.noise_shape, shape,
                                                                      strict=True)):
                raise ValueError(f"Dropout: noise_shape {self.noise_shape} does not fit an "
                                 f"input of shape {shape}: give one entry per axis, each "
                                 f"None, 1 or the input's size.")
            shape = tuple(n if d is None else d for d, n in zip(self.noise_shape, shape,
                                                                 strict=True))
        keep = keep_mask(self, shape, x)
        return x * keep / (1 - self.rate), lengths

    def _config(self):
        return {"rate": self.rate, "noise_shape": None if self.noise_shape is None
                else list(self.noise_shape), "seed": self.seed}


def check_seed(seed, cls: str) -> int | None:
    """Keras' ``seed`` of a layer that draws masks: None or an integer."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ValueError(f"{cls}: seed must be an integer or None; got {seed!r}.")
    return None if seed is None else int(seed)


def keep_mask(layer, shape: tuple, x: Tensor) -> Tensor:
    """A keep-mask of ``shape`` (1 with probability 1 − layer.rate, else 0) in x's dtype
    and device, drawn from the layer's generator of ``layer.seed`` (one per device, made
    at its first mask) or torch's global one."""
    keep = torch.empty(shape, device=x.device, dtype=x.dtype)
    if layer.seed is None:
        return keep.bernoulli_(1 - layer.rate)
    gens = layer.__dict__.setdefault("_generators", {})
    if x.device not in gens:
        gens[x.device] = torch.Generator(device=x.device).manual_seed(layer.seed % 2**64)
    return keep.bernoulli_(1 - layer.rate, generator=gens[x.device])


@register
class Embedding(Layer):
    """Token ids (B, T) -> vectors (B, T, output_dim). With ``mask_zero=True`` id 0 is
    padding: sequences must be right-padded, and their lengths go to the next layers."""

    REGULARIZED = {"embeddings_regularizer": ("embedding.weight",)}
    INITIALIZED = {"embeddings_initializer": "uniform"}
    KERAS_START = True

    def __init__(self, input_dim: int, output_dim: int, mask_zero: bool = False,
                 input_length: int | None = None, weights=None, **kwargs):
        """``weights``: Keras' start from given vectors, an (input_dim, output_dim) array or
        a list of one (pretrained word vectors: ``Embedding(n, d, weights=[matrix],
        trainable=False)``); it is the initializer ``Constant(matrix)``."""
        if input_length is not None:  # Keras 2's; Keras 3 warns and reads the shape from data
            warnings.warn("Embedding: input_length is not needed (the model is built from its "
                          "first data); remove it.", UserWarning, stacklevel=2)
        if weights is not None:
            kwargs["embeddings_initializer"] = _given_vectors(weights, input_dim, output_dim,
                                                              kwargs)
        super().__init__(**kwargs)
        self.input_dim = positive_int(input_dim, "Embedding: input_dim (the vocabulary size)")
        self.output_dim = positive_int(output_dim, "Embedding: output_dim")
        self.mask_zero = check_switch(mask_zero, "Embedding: mask_zero")

    def build(self, input_shape):
        self.embedding = nn.Embedding(self.input_dim, self.output_dim)
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)  # Keras' default
        super().build(input_shape)

    def call(self, x, lengths):
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"Embedding: token ids must be integers; got {x.dtype}. Convert "
                            f"them with ids.astype(int) (numpy) or ids.long() (torch) once "
                            f"they hold whole numbers.")
        tracing = torch.compiler.is_compiling()  # torch.compile / torch.export: no host reads
        if tracing:  # the same checks, raised by the compiled program when they fail
            torch._assert_async(((x >= 0) & (x < self.input_dim)).all(),
                                f"Embedding: token ids must lie in [0, {self.input_dim}).")
        elif x.numel() and (int(x.max()) >= self.input_dim or int(x.min()) < 0):
            raise ValueError(f"Embedding: token ids must lie in [0, {self.input_dim}); got "
                             f"[{int(x.min())}, {int(x.max())}]. Raise input_dim.")
        if self.mask_zero:
            nonzero = x != 0  # (B, T)
            lengths = nonzero.sum(1)
            t = torch.arange(x.shape[1], device=x.device)
            right = (nonzero == (t < lengths.unsqueeze(1))).all()
            said = ("Embedding(mask_zero=True): padding (id 0) must come after each "
                    "sequence's tokens (right padding: pad_sequences(..., padding='post'), "
                    "whose default pads before).")
            if tracing:
                torch._assert_async(right, said)
            elif not bool(right):
                raise ValueError(said)
        return self.embedding(x), lengths

    def _config(self):
        return {"input_dim": self.input_dim, "output_dim": self.output_dim,
                "mask_zero": self.mask_zero}


def _given_vectors(weights, input_dim, output_dim, kwargs):
    """``Embedding(weights=...)`` as the initializer ``Constant(matrix)``, the matrix checked
    against (input_dim, output_dim)."""
    from .initializers import Constant

    if "embeddings_initializer" in kwargs:
        raise ValueError("Embedding: give weights or embeddings_initializer, not both.")
    if isinstance(weights, (list, tuple)) and len(weights) == 1:
        weights = weights[0]  # Keras' list of the layer's one weight
    init = Constant(weights)
    shape = np.shape(init.value)
    if shape != (input_dim, output_dim):
        raise ValueError(f"Embedding: weights has shape {shape}, the layer's vectors "
                         f"(input_dim, output_dim) = ({input_dim}, {output_dim}); give one "
                         f"row per id.")
    return init


@register
class AttentionPooling(Layer):
    """Additive attention over time (Bahdanau-style pooling), the "GRU + attention" hybrid::

        e_t = vᵀ tanh(W h_t + b)          a = softmax(e) over the valid steps
        output = Σ_t a_t h_t               h (B, T, F) -> (B, F)

    ``last_weights`` holds a (B, T) from the latest call, to explain a prediction.
    """

    def __init__(self, units: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units = None if units is None else positive_int(units, "AttentionPooling: units")
        self.last_weights: Tensor | None = None

    def build(self, input_shape):
        check_sequence("AttentionPooling", input_shape, AFTER_RNN)
        units = input_shape[-1] if self.units is None else self.units
        self.proj = nn.Linear(input_shape[-1], units)
        self.v = nn.Parameter(torch.empty(units).uniform_(-1 / math.sqrt(units),
                                                          1 / math.sqrt(units)))
        super().build(input_shape)

    def call(self, x, lengths):
        scores = torch.tanh(self.proj(x)) @ self.v  # (B, T)
        if lengths is not None:
            t = torch.arange(x.shape[1], device=x.device)
            scores = scores.masked_fill(t >= lengths.to(x.device).unsqueeze(1), float("-inf"))
        weights = torch.nan_to_num(torch.softmax(scores, dim=1), nan=0.0)  # (B, T)
        if not torch.compiler.is_compiling():  # a traced program keeps no Python state
            self.last_weights = weights.detach()
        return torch.einsum("bt,btf->bf", weights, x), None

    def _config(self):
        return {"units": self.units}


def _autocast(device_type: str) -> bool:
    """Whether torch.autocast is on for ``device_type`` (False for a device it does not
    know, such as "meta", where torch raises)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except RuntimeError:
        return False
