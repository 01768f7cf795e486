"""Keras' weight initializers: the values a layer's weights start from, drawn in Keras'
layout (a Dense kernel (in, out); a recurrent kernel (in, G·H), its recurrent kernel
(H, G·H)), so each has Keras' fans and Keras' distribution.

    from grukit.layers import Dense, GRU
    from grukit.layers.initializers import HeNormal
    GRU(64, kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal")
    Dense(1, kernel_initializer=HeNormal(seed=0))

    Zeros, Ones, Constant(value)
    RandomUniform(minval=−0.05, maxval=0.05)      U(minval, maxval)
    RandomNormal(mean=0, stddev=0.05)             N(mean, stddev²)
    TruncatedNormal(mean=0, stddev=0.05)          N(mean, stddev²) cut at ±2 stddev
    VarianceScaling(scale, mode, distribution):   s = scale / max(1, n), n = fan_in,
        fan_out or (fan_in + fan_out) / 2 by mode; "truncated_normal": stddev √s / 0.8796
        (the stddev of a unit normal cut at ±2; "normal" names it too, as in Keras),
        "untruncated_normal": √s, "uniform": U(±√(3s))
    GlorotUniform / GlorotNormal = VarianceScaling(1, "fan_avg", uniform / truncated)
    HeUniform / HeNormal = VarianceScaling(2, "fan_in", ...);  LecunUniform / LecunNormal
        = VarianceScaling(1, "fan_in", ...)
    Orthogonal(gain=1): Q of the QR of a normal (max(r, c), min(r, c)) matrix, the signs of
        R's diagonal taken out, transposed when r < c (r = Π shape[:-1], c = shape[-1])
    Identity(gain=1): gain · I (2-D)

fan_in, fan_out of a shape: (n, n) for (n,); (a, b) for (a, b); for a convolution kernel
(k, in, out), (k·in, k·out). The names Keras takes ("glorot_uniform", "GlorotUniform",
"uniform", "normal", "zero", "one", ...), a dict ``{"class_name": ..., "config": ...}``, a
Keras initializer object (read through its ``get_config``), or any function
``f(shape, dtype=None)`` giving an array of that shape, are accepted. ``"torch"`` keeps the
value the torch module starts from (``torch.nn.Linear``'s, ``torch.nn.GRU``'s: uniform in
±1/√fan) — what the task models use, so their recorded results stand.

Draws come from torch's generator (``torch.manual_seed`` decides them), or from a generator
of their own with ``seed``: the same distribution as Keras', not Keras' numbers.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

TORCH = "torch"  # keep the torch module's own initial value


def fans(shape: tuple) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of ``shape`` as Keras counts them."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    field = math.prod(shape[:-2])
    return shape[-2] * field, shape[-1] * field


class Initializer:
    """``init(shape)`` -> float64 numpy array of ``shape``."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"{type(self).__name__}: seed must be an integer or None; got "
                             f"{seed!r}.")
        self.seed = None if seed is None else int(seed)

    def _generator(self) -> torch.Generator | None:
        # torch's generator takes a seed of 64 bits (-1 as 2⁶⁴ − 1); Keras takes any integer
        return None if self.seed is None else \
            torch.Generator().manual_seed(self.seed % 2**64)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape = tuple(int(s) for s in shape)
        return self.draw(shape, self._generator()).numpy()

    def draw(self, shape: tuple, gen) -> torch.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"seed": self.seed} if "seed" in self._keys() else {}

    def _keys(self) -> tuple:
        return ("seed",)

    def serialize(self) -> dict:
        return {"class_name": type(self).__name__, "config": self.get_config()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Initializer):
    """``value`` everywhere; ``value`` a number, or an array broadcast to the weight's shape
    as Keras broadcasts it (``Constant(embedding_matrix)`` starts an Embedding from
    pretrained vectors; its config then keeps no value: a saved model's weights come from
    its file)."""

    def __init__(self, value: float = 0.0):
        super().__init__()
        if isinstance(value, dict) and value.get("class_name") == "__numpy__":
            value = value.get("config", {}).get("value")  # Keras' config of an array
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(f"Constant: value must be finite; got {value!r}.")
            self.value = float(value)
            return
        try:
            array = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor)
                               else value, dtype=np.float64)
        except (TypeError, ValueError):
            array = None
        if array is None or isinstance(value, (bool, str, bytes)):
            raise ValueError(f"Constant: value must be a finite number or an array of them; "
                             f"got a {type(value).__name__}.")
        if not np.isfinite(array).all():
            raise ValueError(f"Constant: the array of shape {array.shape} holds NaN or Inf "
                             f"values; replace them (e.g. by zeros for words without a "
                             f"vector).")
        self.value = float(array) if array.ndim == 0 else array

    def draw(self, shape, gen):
        if isinstance(self.value, float):
            return torch.full(shape, self.value, dtype=torch.float64)
        try:
            return torch.from_numpy(np.broadcast_to(self.value, shape).copy())
        except ValueError:
            raise ValueError(f"Constant: an array of shape {self.value.shape} does not fit "
                             f"a weight of shape {tuple(shape)}; give an array of that "
                             f"shape.") from None

    def get_config(self):
        return {"value": self.value} if isinstance(self.value, float) else {}

    def serialize(self):
        return super().serialize() if isinstance(self.value, float) else None


class Zeros(Constant):
    def __init__(self):
        super().__init__(0.0)

    def get_config(self):
        return {}


class Ones(Constant):
    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


def _finite(value, what: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{what} must be a finite number{' above 0' if positive else ''}; "
                         f"got {value!r}.")
    return float(value)


class RandomUniform(Initializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed=None):
        super().__init__(seed)
        self.minval = _finite(minval, "RandomUniform: minval")
        self.maxval = _finite(maxval, "RandomUniform: maxval")
        if self.maxval < self.minval:
            raise ValueError(f"RandomUniform: maxval ({maxval}) is below minval ({minval}).")

    def draw(self, shape, gen):
        return torch.empty(shape, dtype=torch.float64).uniform_(self.minval, self.maxval,
                                                               generator=gen)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed=None):
        super().__init__(seed)
        self.mean = _finite(mean, f"{type(self).__name__}: mean")
        self.stddev = _finite(stddev, f"{type(self).__name__}: stddev", positive=True)

    def draw(self, shape, gen):
        return torch.empty(shape, dtype=torch.float64).normal_(self.mean, self.stddev,
                                                              generator=gen)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


def _truncated(shape, mean: float, stddev: float, gen) -> torch.Tensor:
    """N(mean, stddev²) cut at mean ± 2 stddev (Keras' truncated normal)."""
    return torch.nn.init.trunc_normal_(torch.empty(shape, dtype=torch.float64), mean, stddev,
                                       mean - 2 * stddev, mean + 2 * stddev, generator=gen)


class TruncatedNormal(RandomNormal):
    def draw(self, shape, gen):
        return _truncated(shape, self.mean, self.stddev, gen)


MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(Initializer):
    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed=None):
        super().__init__(seed)
        self.scale = _finite(scale, "VarianceScaling: scale", positive=True)
        if mode not in MODES:
            raise ValueError(f"VarianceScaling: mode must be one of {MODES}; got {mode!r}.")
        # Keras' reading: any case, and "normal" the truncated normal
        distribution = distribution.lower() if isinstance(distribution, str) else distribution
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling: distribution must be one of {DISTRIBUTIONS}; "
                             f"got {distribution!r}.")
        self.mode, self.distribution = mode, distribution

    def draw(self, shape, gen):
        fan_in, fan_out = fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        s = self.scale / max(1.0, n)
        if self.distribution == "truncated_normal":
            return _truncated(shape, 0.0, math.sqrt(s) / 0.87962566103423978, gen)
        if self.distribution == "untruncated_normal":
            return torch.empty(shape, dtype=torch.float64).normal_(0.0, math.sqrt(s),
                                                                  generator=gen)
        limit = math.sqrt(3.0 * s)
        return torch.empty(shape, dtype=torch.float64).uniform_(-limit, limit, generator=gen)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


def _scaling(name: str, scale: float, mode: str, distribution: str) -> type:
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    doc = f"VarianceScaling({scale}, {mode!r}, {distribution!r})."
    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                           "__doc__": doc, "__module__": __name__})


GlorotUniform = _scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _scaling("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _scaling("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _scaling("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    def __init__(self, gain: float = 1.0, seed=None):
        super().__init__(seed)
        self.gain = _finite(gain, "Orthogonal: gain")

    def draw(self, shape, gen):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a weight of two or more axes; got shape "
                             f"{shape}. Give this weight another initializer.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = torch.empty(max(rows, cols), min(rows, cols), dtype=torch.float64).normal_(
            generator=gen)
        q, r = torch.linalg.qr(a)  # (max, min), (min, min)
        q = q * torch.sign(torch.diagonal(r))  # one Q for a given a (Keras' "uniform" Q)
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    def __init__(self, gain: float = 1.0):
        super().__init__()
        self.gain = _finite(gain, "Identity: gain")

    def draw(self, shape, gen):
        if len(shape) != 2:
            raise ValueError(f"Identity needs a 2-D weight; got shape {shape}. Give this "
                             f"weight another initializer.")
        return self.gain * torch.eye(*shape, dtype=torch.float64)

    def get_config(self):
        return {"gain": self.gain}


class _Function(Initializer):
    """A function ``f(shape, dtype=None)`` used as an initializer (not saved in a config)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def __call__(self, shape, dtype=None):
        shape = tuple(int(s) for s in shape)
        out = self.fn(shape, dtype="float32")
        out = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        if out.shape != shape:
            raise ValueError(f"the initializer {getattr(self.fn, '__name__', self.fn)!r} gave "
                             f"shape {out.shape} for a weight of shape {shape}.")
        return out.astype(np.float64)


CLASSES = {c.__name__: c for c in (Zeros, Ones, Constant, RandomUniform, RandomNormal,
                                   TruncatedNormal, VarianceScaling, GlorotUniform,
                                   GlorotNormal, HeUniform, HeNormal, LecunUniform,
                                   LecunNormal, Orthogonal, Identity)}
# Keras' names for them (keras.initializers.get)
NAMES = {"zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
         "random_uniform": RandomUniform, "uniform": RandomUniform,
         "random_normal": RandomNormal, "normal": RandomNormal,
         "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
         "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
         "he_uniform": HeUniform, "he_normal": HeNormal, "lecun_uniform": LecunUniform,
         "lecun_normal": LecunNormal, "orthogonal": Orthogonal, "identity": Identity,
         "OrthogonalInitializer": Orthogonal, "IdentityInitializer": Identity} | CLASSES


def _from_config(name: str, config: dict, what: str) -> Initializer:
    cls = NAMES[name]
    code = cls.__init__.__code__
    keys = set(code.co_varnames[1:code.co_argcount])  # the class' arguments
    config = dict(config or {})
    if not isinstance(config.get("seed"), (int, type(None))):  # a Keras SeedGenerator
        config["seed"] = None
    extra = sorted(k for k in config if k not in keys and config[k] is not None)
    if extra:
        raise ValueError(f"{what}: {name} takes {', '.join(sorted(keys)) or 'no settings'}; "
                         f"got {', '.join(extra)}, which grukit has no form for.")
    return cls(**{k: v for k, v in config.items() if k in keys})


def get(value, what: str):
    """An ``Initializer`` (or ``TORCH``) from what a layer was given: a name, an
    ``Initializer``, the dict ``serialize`` wrote, a Keras initializer object or a function
    ``f(shape, dtype=None)``."""
    if isinstance(value, Initializer) or (isinstance(value, str) and value == TORCH):
        return value
    if value is None:  # as Keras' add_weight: no initializer is glorot_uniform (biases too)
        return GlorotUniform()
    if isinstance(value, type):  # a class, which Keras makes with its defaults: HeNormal
        try:
            made = value()
        except TypeError:
            made = None
        if not callable(made):  # an initializer object is called with the shape
            raise ValueError(f"{what}: {value.__name__} is no initializer; give a name such as "
                             f"'glorot_uniform', an object from grukit.layers.initializers, or "
                             f"a function f(shape, dtype=None).")
        return get(made, what)
    if isinstance(value, str):
        if value in NAMES:
            return NAMES[value]()
        raise ValueError(f"{what}: unknown initializer {value!r}; give one of "
                         f"{', '.join(sorted(k for k in NAMES if k.islower()))} (Keras' names), "
                         f"'torch' (torch's own), or an initializer object.")
    if isinstance(value, dict) and value.get("class_name") in NAMES:
        return _from_config(value["class_name"], value.get("config"), what)
    name = type(value).__name__
    if name in NAMES and hasattr(value, "get_config"):  # keras.initializers.GlorotUniform(...)
        # the settings its config leaves out (Keras 3's Identity has no gain there) from the
        # object itself; not its seed, which Keras draws for an unseeded one
        config = dict(value.get_config() or {})
        code = NAMES[name].__init__.__code__
        config |= {k: getattr(value, k) for k in code.co_varnames[1:code.co_argcount]
                   if k not in config and k != "seed" and hasattr(value, k)}
        return _from_config(name, config, what)
    if callable(value):
        return _Function(value)
    raise ValueError(f"{what}: {value!r} is no initializer; give a name such as "
                     f"'glorot_uniform', an object from grukit.layers.initializers, or a "
                     f"function f(shape, dtype=None).")


def torch_start(layer_cls) -> dict:
    """Keyword arguments that keep every weight of a ``layer_cls`` at the torch module's
    start: ``Dense(1, **torch_start(Dense))``."""
    return {k: TORCH for k in layer_cls.initialized()}


def serialize(init) -> str | dict | None:
    """What a layer's config keeps of an initializer: its name or dict (None for a function,
    which cannot be saved: a loaded model's weights come from its file)."""
    if isinstance(init, str):
        return init
    return None if isinstance(init, _Function) else init.serialize()


__all__ = ["TORCH", "Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform",
           "Identity", "Initializer", "LecunNormal", "LecunUniform", "Ones", "Orthogonal",
           "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling", "Zeros",
           "fans", "get", "serialize", "torch_start"]
