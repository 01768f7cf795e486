"""Gaussian weight noise (Graves 2011; Chung et al. 2014 use std 0.075): each training
update runs its forward and backward pass at ``W + ε``, ε ~ N(0, std²) drawn afresh, and
the optimizer then steps from the clean ``W`` with that gradient. Evaluation sees ``W``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import nn


def noisy_params(module: nn.Module, biases: bool) -> list[nn.Parameter]:
    """The parameters noise applies to: the weight matrices, and the biases if asked."""
    return [p for p in module.parameters() if p.requires_grad and (biases or p.dim() > 1)]


@contextlib.contextmanager
def weight_noise(params: Iterable[nn.Parameter], std: float,
                 generator: torch.Generator | None = None) -> Iterator[None]:
    """Add N(0, std²) noise to ``params`` in place for the body; restore them exactly after.

    Run the forward *and* backward pass inside the body, and the optimizer step after it.
    """
    params = list(params)
    if std <= 0 or not params:
        yield
        return
    with torch.no_grad():
        clean = [p.detach().clone() for p in params]
        # one draw for all (cheaper than one per tensor for these small layers)
        eps = torch.randn(sum(p.numel() for p in params), generator=generator,
                          dtype=params[0].dtype, device=params[0].device)  # (N,)
        for p, e in zip(params, eps.split([p.numel() for p in params]), strict=True):
            p.add_(e.view_as(p), alpha=std)
    try:
        yield
    finally:
        with torch.no_grad():
            for p, c in zip(params, clean, strict=True):
                p.copy_(c)
