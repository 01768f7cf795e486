"""grukit.nn.MinGRU: the minimal GRU of Feng et al. (2024), with GRU's interface."""

from __future__ import annotations

from torch import Tensor

from .. import cells, ops
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

    Args: as ``grukit.nn.GRU`` (no ``reset_after``, ``recurrent_dropout`` or ``zoneout``),
    plus ``mode``.
    Inputs/outputs: as ``grukit.nn.GRU``.
    """

    spec = cells.MINGRU

    def __init__(self, *args, mode: str = "parallel", **kwargs):
        if not isinstance(mode, str) or mode not in ("parallel", "sequential"):  # an array too
            raise ValueError(f"MinGRU: mode must be 'parallel' or 'sequential'; got {mode!r}.")
        self.mode = mode
        super().__init__(*args, **kwargs)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.mode == "parallel" else s + f", mode={self.mode!r}"

    def _run_layer(self, x: Tensor, params: dict, state: State, lengths: Tensor | None,
                   reverse: bool, **masks: Tensor) -> tuple[Tensor, State]:
        y, h = ops.mingru(x, params["weight_ih"], params["bias_ih"], h0=state[0],
                          lengths=lengths, mode=self.mode, reverse=reverse,
                          backend=self.backend)
        return y, (h.clone(),)  # (the op's h may be a view of y's last step; torch.nn's is not)
