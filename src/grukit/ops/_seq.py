"""Sequence plumbing shared by the reference recurrences: the masked time loop and the
per-sequence reversal that lets a backward direction start at each sequence's own end.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

State = tuple[Tensor, ...]


def reverse_within(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of x (B, T, F) within its own length; padding stays in place.

    With lengths L, position t < L_b maps to L_b - 1 - t and t >= L_b to itself, so the
    map is its own inverse: applying it to the output of a recurrence run on the reversed
    input puts every output back at the position it belongs to.
    """
    if lengths is None:
        return x.flip(1)
    steps = x.shape[1]
    if not isinstance(lengths, Tensor):  # a list or array of lengths, as the ops take them
        lengths = torch.as_tensor(lengths)
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool \
            or lengths.shape != (x.shape[0],):
        raise ValueError(f"reverse_within: lengths must be {x.shape[0]} whole numbers, one per "
                         f"sequence of x {tuple(x.shape)}; got {lengths.dtype} of shape "
                         f"{tuple(lengths.shape)}.")
    if not torch.compiler.is_compiling() and lengths.numel() and (
            int(lengths.min()) < 0 or int(lengths.max()) > steps):
        raise ValueError(f"reverse_within: lengths must lie in [0, {steps}] (the time steps of "
                         f"x); got [{int(lengths.min())}, {int(lengths.max())}].")
    t = torch.arange(steps, device=lengths.device).unsqueeze(0)  # (1, T)
    lens = lengths.unsqueeze(1)  # (B, 1)
    idx = torch.where(t < lens, lens - 1 - t, t).to(x.device)  # (B, T)
    return x.gather(1, idx.unsqueeze(2).expand_as(x))


def step_mask(lengths: Tensor | None, steps: int, device: torch.device) -> Tensor | None:
    """(T, B, 1) boolean mask, True where step t lies inside sequence b; None if all do."""
    if lengths is None:
        return None
    t = torch.arange(steps).unsqueeze(1)  # (T, 1)
    return (t < lengths.unsqueeze(0)).unsqueeze(2).to(device)  # (T, B, 1)


def masked_loop(step: Callable[[Tensor, State], State], gi: Tensor, state: State,
                lengths: Tensor | None) -> tuple[Tensor, State]:
    """Run ``state = step(gi[:, t], state)`` for t = 0..T-1 and collect ``state[0]``.

    gi: (B, T, G) input projections; state: tensors of shape (B, *). Past the end of a
    sequence its state is frozen (so the final state is the one at its own last step) and
    its output is zero, as ``pad_packed_sequence`` gives.
    Returns y (B, T, S0) and the final state.
    """
    steps = gi.shape[1]
    mask = step_mask(lengths, steps, gi.device)
    outs = []
    for t in range(steps):
        new = step(gi[:, t], state)
        if mask is None:
            state = new
            outs.append(new[0])
        else:
            m = mask[t]  # (B, 1)
            state = tuple(torch.where(m, n, s) for n, s in zip(new, state, strict=True))
            outs.append(torch.where(m, new[0], torch.zeros_like(new[0])))
    if outs:
        y = torch.stack(outs, dim=1)  # (B, T, S0)
    else:
        y = gi.new_zeros(gi.shape[0], 0, state[0].shape[1])
    return y, state


def run_directed(run: Callable[..., tuple[Tensor, State]], x: Tensor,
                 lengths: Tensor | None, reverse: bool, *along: Tensor) -> tuple[Tensor, State]:
    """Run a forward recurrence, or a backward one that starts at each sequence's last step.

    ``run(x, *along)``: tensors ``along`` (B, T, ·), such as a per-step mask, are reversed
    with x, so that their step t still goes with x[:, t].
    """
    if not reverse:
        return run(x, *along)
    y, state = run(reverse_within(x, lengths), *(reverse_within(a, lengths) for a in along))
    return reverse_within(y, lengths), state
