"""grukit.nn.MinGRU: the minimal GRU of Feng et al. (2024), with GRU's interface."""

from __future__ import annotations

import math

from torch import Tensor, nn

from .. import ops
from ._base import RecurrentBase, State


class MinGRU(RecurrentBase):
    r"""Multi-layer minGRU (Feng et al. 2024, "Were RNNs All We Needed?")::

        z = σ(W_z x + b_z)
        h̃ = g(W_h x + b_h),   g(v) = v + 0.5 if v ≥ 0 else σ(v)
        h' = (1 − z) ⊙ h + z ⊙ h̃

    The gates see only x, so training runs a parallel log-space scan over time
    (``mode="parallel"``) and streaming may step (``mode="sequential"``): both agree.

    Parameters: ``weight_ih_l{k}`` (2H, ·) = [W_z; W_h] and ``bias_ih_l{k}`` (2H,), with
    ``_reverse`` for the backward direction; no recurrent weights.

    Args: as ``grukit.nn.GRU`` (no ``reset_after``), plus ``mode``.
    Inputs/outputs: as ``grukit.nn.GRU``.
    """

    _gates = 2
    _has_bias_hh = False
    _has_weight_hh = False

    def __init__(self, *args, mode: str = "parallel", **kwargs):
        if mode not in ("parallel", "sequential"):
            raise ValueError(f"MinGRU: mode must be 'parallel' or 'sequential'; got {mode!r}.")
        self.mode = mode
        super().__init__(*args, **kwargs)

    def reset_parameters(self) -> None:
        """U(−1/√fan_in, 1/√fan_in), as ``torch.nn.Linear``."""
        for name, w in self.named_parameters():
            fan_in = getattr(self, name.replace("bias_", "weight_")).shape[1]
            nn.init.uniform_(w, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))

    def _run_layer(self, x: Tensor, params: dict, state: State, lengths: Tensor | None,
                   reverse: bool) -> tuple[Tensor, State]:
        y, h = ops.mingru(x, params["weight_ih"], params["bias_ih"], h0=state[0],
                          lengths=lengths, mode=self.mode, reverse=reverse,
                          backend=self.backend)
        return y, (h,)
