"""The next-frame model of Chung et al. (2014): one recurrent layer reads the piano roll
shifted by one step (a zero frame first) and a linear layer gives 88 independent Bernoulli
logits for the next frame; the loss is the negative log-likelihood per time step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ... import cells
from ..estimator import check_flag
from .data import NOTES

MODELS = cells.names()
# Chung et al.'s sizes (~20K recurrent parameters); minGRU(75) has a like count.
DEFAULT_HIDDEN = {"gru": 46, "lstm": 36, "rnn": 100, "mingru": 75}


def default_hidden(model: str) -> int:
    """The published width of ``model`` (``DEFAULT_HIDDEN``); a cell without one gets the
    width whose recurrent parameters come closest to GRU(46)'s (the spec's count)."""
    if model in DEFAULT_HIDDEN:
        return DEFAULT_HIDDEN[model]
    spec, target = cells.get(model), cells.GRU.count(NOTES, DEFAULT_HIDDEN["gru"])
    return min(range(1, 1025), key=lambda h: abs(spec.count(NOTES, h) - target))


class PianoRollModel(nn.Module):
    """Recurrent layer + ``Linear(H, 88)``: ``forward(x)`` -> logits where ``logits[:, t]``
    predicts ``x[:, t]`` from ``x[:, :t]`` (the layer reads a zero frame at t = 0)::

        inp_0 = 0,  inp_t = x_{t−1}                          # (B, T, 88)
        h_t = cell(inp_t, h_{t−1}),  logits_t = W_o h_t + b_o   # (B, T, H) -> (B, T, 88)
        p(x_t | x_<t) = Π_k Bernoulli(x_{t,k}; σ(logits_{t,k}))

    Args:
        model: a cell of ``grukit.cells``: "gru", "lstm", "rnn" (tanh) or "mingru".
        hidden: units of the recurrent layer.
        forget_bias: cells that take it (LSTM): initial forget-gate bias (Jozefowicz et al.
            2015: 1.0).
        reset_after: cells that take it (GRU): where the reset gate applies (see
            ``grukit.nn.GRU``).
    """

    def __init__(self, model: str, hidden: int, *, forget_bias: float | None = 1.0,
                 reset_after: bool = True):
        super().__init__()
        if model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}; got {model!r}.")
        self.model = model
        self.hidden = hidden
        spec = cells.get(model)
        options = {k: v for k, v in (("reset_after", reset_after), ("forget_bias", forget_bias))
                   if spec.accepts(k)}
        self.rnn = spec.build(NOTES, hidden, batch_first=True, **options)
        self.out = nn.Linear(hidden, NOTES)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """x (B, T, 88) of 0/1, right-padded past ``lengths`` (B,) -> logits (B, T, 88)."""
        if x.dim() != 3 or x.shape[-1] != NOTES:
            raise ValueError(f"PianoRollModel expects x of shape (batch, time, {NOTES}); "
                             f"got {tuple(x.shape)}.")
        inp = F.pad(x[:, :-1], (0, 0, 1, 0))  # (B, T, 88): zero frame, then x_0 … x_{T−2}
        y, _ = self.rnn(inp, lengths=lengths)  # (B, T, H)
        return self.out(y)  # (B, T, 88)


def count_params(module: nn.Module) -> int:
    """Trainable parameters, the output layer included."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def nll_sum(logits: Tensor, x: Tensor, lengths: Tensor | None = None,
            count_first: bool = False) -> tuple[Tensor, int]:
    """Summed negative log-likelihood (nats) of the frames and how many frames it covers.

    Per frame: Σ_k BCE(logits_{t,k}, x_{t,k}) over the 88 keys. Frames past ``lengths``
    are padding and not counted; frame t = 0 (predicted from the zero frame alone) is
    counted only with ``count_first``. NLL per time step = sum / frames.
    """
    steps = x.shape[1]
    # "False" is truthy: it counted frame 0 (a per-step NLL over other frames, no word said)
    first = 0 if check_flag(count_first, "count_first") else 1
    if lengths is None:  # every frame real: no mask needed
        tot = F.binary_cross_entropy_with_logits(logits[:, first:], x[:, first:],
                                                 reduction="sum")
        return tot, x.shape[0] * max(steps - first, 0)
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)  # (B, T)
    t = torch.arange(steps, device=x.device)  # (T,)
    mask = (t[None, :] < lengths.to(x.device)[:, None]) & (t[None, :] >= first)  # (B, T)
    return (bce * mask).sum(), int(mask.sum())
