"""``empty``: the fused CPU kernels' large buffers, reused from one call to the next.

A training step of the article's model makes about 8 MB of buffers (the states, the saved
gates, the gate gradients) and frees them after the backward. glibc's allocator hands
blocks that large out of fresh ``mmap``s, or trims them off the heap once freed, so every
step paid the page faults of zero-filling 2,000 new pages: a one-thread step of GRU(64) at
T = 100 took 5.7–6.0 ms, and 3.9 ms where the allocator keeps its memory
(``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` set). Here the memory is kept
instead, by grukit, for its own buffers only.

A buffer is a view of a base array the pool holds. Every numpy view and every tensor made
from one (``torch.from_numpy``) holds a reference to that base, so a base is free again
exactly when the pool's own references are the only ones left: ``empty`` checks the
reference count, never a finaliser (a finaliser on the first view would fire while views
of it still live). The pool keeps at most ``PER_SIZE`` bases of one size and ``LIMIT``
bytes in all (the least recently used sizes go first); buffers smaller than ``SMALL``
bytes come from ``np.empty`` (the allocator reuses those).
"""

from __future__ import annotations

import functools
import math
import sys
import threading
from collections import OrderedDict

import numpy as np
import torch

SMALL = 1 << 16  # bytes: below this, np.empty
PER_SIZE = 4  # bases kept per size: the live buffers of a layer or two at once
LIMIT = 256 << 20  # bytes kept in all
ALIGN = 64  # every buffer starts on a cache line (MKL's GEMMs take one path)

_lock = threading.Lock()
_bases: OrderedDict[int, list[np.ndarray]] = OrderedDict()  # size in bytes -> bases
_held = [0]  # bytes in _bases


def empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """np.empty(shape, dtype), C-contiguous and 64-byte aligned, from a base the pool reuses
    once nothing refers to it. The contents are arbitrary, as np.empty's."""
    dtype = np.dtype(dtype)
    n = math.prod(shape)  # np.prod of a tuple costs ~8 µs a call, math.prod 0.1
    size = n * dtype.itemsize
    if size < SMALL:
        return np.empty(shape, dtype)
    with _lock:
        bases = _bases.get(size)
        base = None
        if bases is not None:
            _bases.move_to_end(size)
            base = _first_free(bases, _free_count())
        if base is None:
            base = np.empty(size + ALIGN, np.uint8)
            if bases is None:
                bases = _bases[size] = []
            if len(bases) < PER_SIZE:
                bases.append(base)
                _held[0] += base.nbytes
                _trim(keep=size)
        off = -base.ctypes.data % ALIGN
        return base[off:off + size].view(dtype).reshape(shape)


def _first_free(bases: list[np.ndarray], free: int) -> np.ndarray | None:
    """The first of ``bases`` whose reference count reads ``free`` or less here: nothing but
    the pool refers to it."""
    for b in bases:
        if sys.getrefcount(b) <= free:
            return b
    return None


@functools.cache
def _free_count() -> int:
    """What ``_first_free`` reads for a base only the pool's list refers to, measured once
    on a probe: 3 up to Python 3.13 (the list, the loop variable, getrefcount's argument),
    one less where the interpreter pushes a local as a borrowed reference (3.14's
    ``LOAD_FAST_BORROW``). A fixed 3 there would hand out a base a live view still uses."""
    probe = [np.empty(1, np.uint8)]  # (1,): referred to by the list only
    free = 0
    while _first_free(probe, free) is None:
        free += 1
    return free


def _trim(keep: int) -> None:
    """Drop the least recently used sizes (other than ``keep``) while over ``LIMIT``."""
    while _held[0] > LIMIT and len(_bases) > 1:
        size = next(iter(_bases))
        if size == keep:
            _bases.move_to_end(size)
            continue
        _held[0] -= sum(b.nbytes for b in _bases.pop(size))


def clear() -> None:
    """Forget every kept base (those still in use live on with their views) and the
    measured count of a free one."""
    with _lock:
        _bases.clear()
        _held[0] = 0
        _free_count.cache_clear()


def tensor(shape: tuple[int, ...], dtype) -> torch.Tensor:
    """``empty`` as a CPU tensor of torch dtype ``dtype`` (no graph)."""
    return torch.from_numpy(empty(shape, numpy_dtype(dtype)))


@functools.cache
def numpy_dtype(dtype: torch.dtype) -> np.dtype:
    """The numpy dtype of a torch dtype (a tensor made to ask costs ~2 µs a call)."""
    return torch.empty((), dtype=dtype).numpy().dtype


def zeros_like(t: torch.Tensor) -> torch.Tensor:
    """torch.zeros_like(t) for a contiguous CPU tensor, from the pool."""
    return tensor(tuple(t.shape), t.dtype).zero_()


def linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """F.linear(x, w, b) (contiguous, no graph) written into a buffer from the pool:
    x (..., I), w (G, I), b (G,) or None -> (..., G)."""
    x, w = x.detach(), w.detach()
    rows = math.prod(x.shape[:-1])  # (not numel // I: an input of 0 features, I = 0)
    if rows * w.shape[0] * x.element_size() < SMALL:  # torch's allocator
        if torch.is_autocast_enabled("cpu"):  # in x's dtype, which the kernels read (the
            with torch.autocast("cpu", enabled=False):  # context costs ~3 µs: only then)
                return torch.nn.functional.linear(x, w, None if b is None else b.detach())
        return torch.nn.functional.linear(x, w, None if b is None else b.detach())
    out = tensor((*x.shape[:-1], w.shape[0]), x.dtype)
    x2, o2 = x.reshape(rows, x.shape[-1]), out.view(rows, w.shape[0])
    if b is None:
        torch.mm(x2, w.t(), out=o2)
    else:
        torch.addmm(b.detach(), x2, w.t(), out=o2)
    return out
