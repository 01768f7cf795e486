"""Session-parallel mini-batches (GRU4Rec): each of B slots follows one session; when a
session ends, the next unread session takes its slot and that slot's state is reset."""

from __future__ import annotations

import dataclasses
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


def check_sessions(s: Sessions, what: str, n_items: int | None = None,
                   events: bool = True) -> Sessions:
    """Refuse sessions that would silently pair events across sessions or index past the
    item map; returns them with int64 items and offsets (torch takes no narrower index).

    ``session_parallel`` reads a slot's next item at ``items[start + 1]``: in a session of one
    event (or none) that is the next session's first item, a pair of events across two
    sessions. ``events``: the caller takes a DataFrame of events too, and the refusal says so.
    """
    if not isinstance(s, Sessions):
        takes = "Sessions (grukit.data.index_sessions) or a DataFrame of events " \
            "(grukit.data.read_events)" if events else "Sessions (index events with " \
            "grukit.data.index_sessions, or a model's index(events))"
        raise TypeError(f"{what} must be {takes}; got a {type(s).__name__}.")
    for name in ("items", "offsets"):  # bools were read as items 0 and 1, floats failed deep
        kind = np.asarray(getattr(s, name)).dtype
        if kind.kind not in "iu":
            raise ValueError(f"{what}: {name} must be whole-number indices (int64); got dtype "
                             f"{kind}.")
    items, off = np.asarray(s.items), np.asarray(s.offsets)
    if off.ndim != 1 or len(off) < 1 or off[0] != 0 or off[-1] != len(items):
        raise ValueError(f"{what}: offsets must run from 0 to the number of events "
                         f"({len(items)}); they are not a session index.")
    lengths = np.diff(off)
    if s.n_sessions == 0:
        raise ValueError(f"{what} holds no session; next-item training and evaluation need "
                         f"sessions of 2 or more events.")
    if (lengths < 2).any():
        i = int(np.flatnonzero(lengths < 2)[0])
        raise ValueError(f"{what}: session {i} has {int(lengths[i])} event(s); every session "
                         f"needs 2 or more (index_sessions drops shorter ones).")
    n = s.n_items if n_items is None else n_items
    if len(items) and (items.min() < 0 or items.max() >= n):
        raise ValueError(f"{what}: item indices run from {int(items.min())} to "
                         f"{int(items.max())}, outside the {n} items of its item map.")
    # a vocabulary given as a list: its ids as they are (an array of text would make 1 "1")
    vocab = s.vocab if isinstance(s.vocab, np.ndarray) else np.array(list(s.vocab), object)
    return dataclasses.replace(s, items=items.astype(np.int64), offsets=off.astype(np.int64),
                               vocab=vocab)
