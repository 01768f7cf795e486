"""Elman RNN recurrence (tanh or relu): one functional entry point, several backends."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .. import _cpu, dispatch
from .._checks import as_lengths, check_layer, check_state
from .._checks import check_finite as _check_finite
from .reference import ACTIVATIONS, rnn_reference, rnn_step

__all__ = ["rnn", "rnn_step"]



def _rnn_cpu(*args, **kwargs):
    from .cpu import rnn_cpu  # numba loads on first use, not at import

    return rnn_cpu(*args, **kwargs)


dispatch.register("rnn", dispatch.Backend("reference", rnn_reference))
dispatch.register("rnn", dispatch.Backend("cpu", _rnn_cpu, _cpu.why_not, priority=10))


def rnn(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None = None,
        bias_hh: Tensor | None = None, *, h0: Tensor | None = None,
        lengths: Tensor | Sequence[int] | None = None, nonlinearity: str = "tanh",
        reverse: bool = False, backend: str = "auto",
        check_finite: bool = False, state_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One Elman RNN layer: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, act tanh or relu.

    Args:
        x: (B, T, I).  weight_ih: (H, I).  weight_hh: (H, H).  bias_ih, bias_hh: (H,) or None.
        nonlinearity: "tanh" or "relu".
        h0, lengths, reverse, backend, check_finite, state_mask: as in ``grukit.ops.gru``.

    Returns:
        y (B, T, H) and h_n (B, H).
    """
    op = "rnn"
    if nonlinearity not in ACTIVATIONS:
        raise ValueError(f"rnn: nonlinearity must be one of {sorted(ACTIVATIONS)}; "
                         f"got {nonlinearity!r}.")
    _, hidden = check_layer(op, x, weight_ih, weight_hh, 1, bias_ih, bias_hh)
    batch, steps = x.shape[0], x.shape[1]
    lens = as_lengths(lengths, batch, steps, op)
    if h0 is None:
        h0 = x.new_zeros(batch, hidden)
    else:
        check_state(h0, "h0", batch, hidden, x, op)
    if check_finite:
        _check_finite(x, "x", op)
    extra = {} if state_mask is None else {"state_mask": state_mask}
    if state_mask is not None:
        check_state(state_mask, "state_mask", batch, hidden, x, op)
    fn = dispatch.select(op, backend, x=x, h0=h0, lengths=lens, nonlinearity=nonlinearity,
                         **extra)
    return fn(x, weight_ih, weight_hh, bias_ih, bias_hh, h0=h0, lengths=lens,
              nonlinearity=nonlinearity, reverse=reverse, **extra)
