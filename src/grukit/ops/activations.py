"""Elementwise activations by Keras' names, for the recurrences' candidate and gate
activations (Keras' ``activation`` / ``recurrent_activation``) and the layers' outputs.

The fused kernels compute the standard forms (tanh for the candidate and the cell output,
σ for the gates); any other activation runs on a family's reference backend
(``standard``, ``check``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

ELEMENTWISE = {
    None: None, "linear": None, "relu": torch.relu, "tanh": torch.tanh,
    "sigmoid": torch.sigmoid, "gelu": F.gelu, "elu": F.elu, "selu": F.selu,
    "softplus": F.softplus, "softsign": F.softsign, "swish": F.silu, "silu": F.silu,
    "mish": F.mish, "leaky_relu": lambda t: F.leaky_relu(t, 0.2), "relu6": F.relu6,
    "hard_sigmoid": lambda t: F.relu6(t + 3) / 6, "exponential": torch.exp}


def check(name, what: str) -> str | None:
    """``name`` if it is an activation of ``ELEMENTWISE``, else one sentence naming them."""
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
    recurrent layer's activations are not tanh and σ: ``what`` computes those only."""
    mods = module.modules() if hasattr(module, "modules") else [module]
    acts = next((a for m in mods if (a := getattr(m, "_activations", None))), None)
    if acts:
        pairs = ", ".join(f"{k}={v!r}" for k, v in acts.items())
        raise ValueError(f"{what} computes tanh and sigmoid only; this model's recurrent "
                         f"layer has {pairs}. Run it with grukit's modules, or train it "
                         f"with the standard activations.")
