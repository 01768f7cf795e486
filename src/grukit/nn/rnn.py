"""grukit.nn.RNN: torch.nn.RNN's drop-in (Elman, tanh or relu)."""

from __future__ import annotations

from torch import Tensor

from .. import cells, ops
from ._base import RecurrentBase, State


class RNN(RecurrentBase):
    r"""Multi-layer Elman RNN, a drop-in for ``torch.nn.RNN``::

        h' = act(W_ih x + b_ih + W_hh h + b_hh),   act = tanh or relu

    Parameters as ``torch.nn.RNN``: ``weight_ih_l{k}`` (H, ·), ``weight_hh_l{k}`` (H, H),
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (H,).

    Args: as ``torch.nn.RNN`` (``nonlinearity`` "tanh" or "relu"), plus ``backend``,
    ``check_finite`` and ``recurrent_dropout`` as ``grukit.nn.GRU``.
    Inputs/outputs: as ``grukit.nn.GRU``.
    """

    spec = cells.RNN

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", *args, **kwargs):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu'; "
                             f"got {nonlinearity!r}.")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, *args, **kwargs)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + ", nonlinearity='relu'"

    def _run_layer(self, x: Tensor, params: dict, state: State, lengths: Tensor | None,
                   reverse: bool, **masks: Tensor) -> tuple[Tensor, State]:
        y, h = ops.rnn(x, params["weight_ih"], params["weight_hh"], params["bias_ih"],
                       params["bias_hh"], h0=state[0], lengths=lengths,
                       nonlinearity=self.nonlinearity, reverse=reverse, backend=self.backend,
                       **masks)
        return y, (h,)
