"""``chunked_kernel``: a row-chunked numba kernel compiled twice, parallel and serial.

A kernel whose last argument is ``nchunk`` loops ``prange(nchunk)`` over row chunks. With
one chunk there is nothing to share out, yet a ``parallel=True`` build still enters
numba's thread pool, whose idle OpenMP workers spin: on a busy machine (another process, a
data loader) that made a one-thread call 30x slower here (48 ms instead of 1.5 ms a step).
So one chunk runs a ``parallel=False`` twin, where ``prange`` is a plain loop.

The twin is a copy of the function under its own qualified name, so numba's on-disk cache
(keyed by module, name and line, not by the parallel flag) keeps the two builds apart.
"""

from __future__ import annotations

import functools
import types

from numba import njit

from . import _numba_cache  # noqa: F401  (kernels' cache stamps: before any kernel)

FLAGS = dict(fastmath=True, error_model="numpy", cache=True, nogil=True)


def chunked_kernel(fn):
    """Decorate a kernel ``fn(..., nchunk)``; calls pick the build by ``nchunk``."""
    parallel = njit(parallel=True, **FLAGS)(fn)
    clone = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial",
                               fn.__defaults__, fn.__closure__)
    clone.__qualname__ = fn.__qualname__ + "_serial"
    serial = njit(parallel=False, **FLAGS)(clone)

    @functools.wraps(fn)
    def call(*args):
        return (serial if args[-1] == 1 else parallel)(*args)

    call.parallel, call.serial = parallel, serial
    return call
