"""Parameter counting, the number Keras' ``summary()`` and ``count_params()`` report."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # keeps ``import grukit`` free of torch until a module is used
    from torch import nn


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters of ``module`` (each shared tensor counted once).

    A ``grukit.nn.GRU(1, 64, batch_first=True)`` reports 12,864 like Keras' ``GRU(64)`` on
    one feature; with ``reset_after=False`` 12,672 (no recurrent bias).
    """
    if not callable(getattr(module, "parameters", None)):
        raise TypeError(f"count_params expects a torch.nn.Module; got {type(module).__name__}.")
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
