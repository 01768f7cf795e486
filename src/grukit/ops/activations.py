"""Elementwise activations by Keras' names, for the recurrences' candidate and gate
activations (Keras' ``activation`` / ``recurrent_activation``) and the layers' outputs.

The fused kernels compute the standard forms (tanh for the candidate and the cell output,
σ for the gates; tanh or relu for an Elman RNN); any other activation runs on a family's
reference backend (``standard``, ``check``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

ELEMENTWISE = {
    None: None, "linear": None, "relu": torch.relu, "tanh": torch.tanh,
    "sigmoid": torch.sigmoid, "gelu": F.gelu, "elu": F.elu, "selu": F.selu,
    "softplus": F.softplus, "softsign": F.softsign, "swish": F.silu, "silu": F.silu,
    "mish": F.mish, "leaky_relu": lambda t: F.leaky_relu(t, 0.2), "relu6": F.relu6,
    "hard_sigmoid": lambda t: F.relu6(t + 3) / 6, "exponential": torch.exp}


# torch's functions that, with their defaults, are Keras' activation of the same name
# (torch's leaky_relu has slope 0.01, Keras' 0.2: not among them)
_TORCH_AS_KERAS = {"relu", "tanh", "sigmoid", "elu", "selu", "gelu", "softplus", "softsign",
                   "silu", "mish", "relu6"}


def name_of(value, names=ELEMENTWISE):
    """Keras' name of an activation given as Keras' own function
    (``keras.activations.relu``) or a torch function that computes it
    (``torch.relu``, ``F.elu``); any other value as it is (a name is checked elsewhere)."""
    if callable(value) and not isinstance(value, str):
        name = getattr(value, "__name__", None)
        module = getattr(value, "__module__", None) or ""
        if name in names and (module.startswith("keras") or (
                module.startswith("torch") and name in _TORCH_AS_KERAS)):
            return name
    return value


def check(name, what: str) -> str | None:
    """``name`` (or Keras' or torch's function of it, ``name_of``) if it is an activation of
    ``ELEMENTWISE``, else one sentence naming them."""
    name = name_of(name)
    if not isinstance(name, (str, type(None))) or name not in ELEMENTWISE:
        raise ValueError(f"{what}: unknown activation {name!r}; choose one of "
                         f"{', '.join(sorted(k for k in ELEMENTWISE if k))}.")
    return name


def apply(name: str | None, t: torch.Tensor) -> torch.Tensor:
    """``name``(t); "linear" and None give t."""
    fn = ELEMENTWISE[name]
    return t if fn is None else fn(t)


def standard(module, what: str) -> None:
    """Refuse, in one sentence naming ``what``, a module (or a model holding one) whose
    recurrent layer's activations are not the standard ones, those ``what`` computes: tanh
    and σ for a GRU or LSTM, tanh or relu for an RNN (whose one ``activation`` it names)."""
    mods = module.modules() if hasattr(module, "modules") else [module]
    found = next(((m, a) for m in mods if (a := getattr(m, "_activations", None))), None)
    if found:
        m, acts = found
        spec = getattr(m, "spec", None)  # the cell of the module (or layer) holding them
        pairs = ", ".join(f"{k}={v!r}" for k, v in acts.items())
        forms = "tanh or relu" if getattr(spec, "name", None) == "rnn" else "tanh and sigmoid"
        raise ValueError(f"{what} computes {forms} only; this model's recurrent "
                         f"layer has {pairs}. Run it with grukit's modules, or train it "
                         f"with the standard activations.")
