"""Session-parallel mini-batches (GRU4Rec): each of B slots follows one session; when a
session ends, the next unread session takes its slot and that slot's state is reset."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ...data.sessions import Sessions


def session_parallel(sessions: Sessions, batch_size: int, order: np.ndarray | None = None,
                     drain: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray,
                                                            np.ndarray]]:
    """Yield ``(inputs, targets, reset, active)`` per step, each (B,).

    ``inputs[b]`` is slot b's current item and ``targets[b]`` the next one; ``reset[b]`` is
    True when slot b starts a new session at this step (its state must be zeroed first).
    Training stops when a slot cannot be refilled (``drain=False``, as GRU4Rec); evaluation
    drains every session, ``active`` marking the slots that still hold one.
    """
    order = np.arange(sessions.n_sessions) if order is None else order
    off = sessions.offsets
    start = np.full(batch_size, -1, np.int64)  # event index of each slot's current item
    end = np.zeros(batch_size, np.int64)  # one past each slot's last event
    active = np.zeros(batch_size, bool)
    reset = np.ones(batch_size, bool)
    nxt = 0
    for slot in range(batch_size):
        if nxt < len(order):
            s = order[nxt]
            start[slot], end[slot], active[slot] = off[s], off[s + 1], True
            nxt += 1
    if not drain and not active.all():
        return
    while active.any():
        last = len(sessions.items) - 1
        inputs = np.where(active, sessions.items[np.clip(start, 0, last)], 0)
        targets = np.where(active, sessions.items[np.clip(start + 1, 0, last)], 0)
        yield inputs, targets, reset.copy(), active.copy()
        reset[:] = False
        start += 1
        for slot in np.flatnonzero(active & (start + 1 >= end)):  # session finished
            if nxt < len(order):
                s = order[nxt]
                start[slot], end[slot], reset[slot] = off[s], off[s + 1], True
                nxt += 1
            elif drain:
                active[slot] = False
            else:
                return
