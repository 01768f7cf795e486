"""What the fused CPU kernels share: when they can serve a call, threads, array hand-off.

numba is imported only when a kernel first runs, so ``import grukit`` compiles nothing.
"""

from __future__ import annotations

import functools
import inspect

import torch
from torch import Tensor

from ._fused import forward_active, needs_grad, transform_why_not

DTYPES = (torch.float32, torch.float64)
_functorch_level = torch._C._functorch.peek_interpreter_stack  # None outside torch.func


@functools.cache
def _numba_missing_cached() -> str | None:
    try:
        import numba  # noqa: F401
    except ImportError as err:  # pragma: no cover - numba is a dependency
        return f"numba cannot be imported ({err}); pip install numba."
    return None


@torch.compiler.assume_constant_result  # a constant to a tracer, which skips cache wrappers
def _numba_missing() -> str | None:
    return _numba_missing_cached()


def why_not(x: Tensor, state_mask: Tensor | None = None, zoneout_mask: Tensor | None = None,
            **_: object) -> str | None:
    """None when the fused CPU kernels can serve a call on x, else the reason."""
    if state_mask is not None:
        return "this fused CPU kernel has no recurrent dropout (state_mask); the reference has."
    if zoneout_mask is not None:
        return "this fused CPU kernel has no zoneout (zoneout_mask); the reference has."
    if x.device.type != "cpu":
        return f"x is on {x.device}; the cpu backend serves CPU tensors only."
    if x.dtype not in DTYPES:
        return f"x is {x.dtype}; the cpu backend serves float32 and float64."
    if x.shape[1] == 0 or x.shape[0] == 0:
        return "x has no time steps or no sequences; nothing to fuse."
    return transform_why_not() or _numba_missing()


def untraced_why_not(kernel: str) -> str | None:
    """The reason a fused CPU kernel that is no torch op cannot serve a call that
    ``torch.compile`` or ``torch.export`` traces, or None; ``kernel`` names it ("the
    minGRU's"). "auto" takes the reference there, plain torch, which traces."""
    if torch.compiler.is_compiling():
        return (f"torch.compile and torch.export cannot trace {kernel} cpu kernel (it is no "
                f"torch op); backend='reference' (what 'auto' takes) traces it.")
    return None


def export_why_not(kernel: str) -> str | None:
    """The reason a fused CPU kernel that is no torch op cannot serve a call that
    ``torch.export`` traces (a program holds no call to numba), or None. "auto" takes the
    reference there; under ``torch.compile`` the kernel runs outside the graph instead
    (``outside_graph``)."""
    if _exporting():
        return (f"torch.export cannot trace {kernel} cpu kernel (it is no torch op); "
                f"backend='reference' (what 'auto' takes) exports.")
    return None


def _exporting() -> bool:
    return torch.compiler.is_compiling() and getattr(torch.compiler, "is_exporting",
                                                     lambda: False)()


def outside_graph(fn, kernel: str):
    """``fn``, a fused CPU backend that is no torch op, run outside the graph where
    ``torch.compile`` traces a call of it: a graph break, the kernel eager between two
    graphs (autograd joins them), as Dynamo runs any code it cannot trace.

    Traced into, the kernels' numpy and numba code made Dynamo fail with an internal
    error instead of a graph break. The reference would trace, but it is a loop over the
    time steps: a graph as long as the sequence (minutes to compile at T = 100), built again
    for every new length. ``fullgraph=True`` refuses the break, naming the way out."""
    why = (f"{kernel} fused CPU kernel is no torch op and runs outside the graph; for one "
           f"graph pass backend='reference' to the layer or module (its loop over the "
           f"steps is traced and unrolled).")
    broken = outside_compile(fn, why)

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if torch.compiler.is_compiling():
            return broken(*args, **kwargs)
        return fn(*args, **kwargs)
    return run


def outside_compile(fn, why: str):
    """``torch.compiler.disable(fn)``: Dynamo runs ``fn`` eagerly (a graph break) and,
    from torch 2.7, tells ``why`` where it refuses the break (``fullgraph=True``)."""
    if _REASON:
        return torch.compiler.disable(fn, reason=why)
    return torch.compiler.disable(fn)


_REASON = "reason" in inspect.signature(torch.compiler.disable).parameters


PLAIN_BACKENDS = ("auto", "cpu")  # the names under which a plain call takes the cpu kernel


def plain(x: object, weight_ih: object, weight_hh: object, bias_ih: object,
          bias_hh: object, h0: object, gates: int) -> bool:
    """True when a call of one layer needs none of its entry's work and the fused CPU kernel
    serves it: x a non-empty CPU float tensor (B, T, I); weight_ih (G·H, I), weight_hh
    (G·H, H), the biases (G·H,) or None and h0 (B, H) or None, all tensors of x's dtype on
    the CPU; no gradient wanted; not traced, nor inside a torch.func transform or forward
    AD. Where False, the entry checks, explains and picks a backend as always (every bad
    call goes there); this only decides. The caller adds what is its own (lengths, masks,
    reverse, its options)."""
    if (not isinstance(x, Tensor) or not isinstance(weight_hh, Tensor) or x.dim() != 3
            or weight_hh.dim() != 2 or x.device.type != "cpu" or x.dtype not in DTYPES
            or not x.shape[0] or not x.shape[1]):
        return False
    hid = weight_hh.shape[1]
    if not hid:  # no unit: refused by the entry
        return False
    rows = gates * hid
    dtype, cpu = x.dtype, x.device
    for w, shape in ((weight_ih, (rows, x.shape[2])), (weight_hh, (rows, hid)),
                     (bias_ih, (rows,)), (bias_hh, (rows,)), (h0, (x.shape[0], hid))):
        if w is not None and (not isinstance(w, Tensor) or w.dtype != dtype
                              or w.device != cpu or w.shape != shape):
            return False
    return (not needs_grad(x, weight_ih, weight_hh, bias_ih, bias_hh, h0)
            and not torch.compiler.is_compiling() and _numba_missing() is None
            and _functorch_level() is None  # no torch.func transform
            and not forward_active())  # nor forward-mode AD


def masks_why_not(**masks: Tensor | None) -> str | None:
    """None when the fused kernels can take these masks (they give masks no gradient)."""
    import torch

    for name, m in masks.items():
        if m is not None and m.requires_grad and torch.is_grad_enabled():
            return (f"{name} requires grad and the cpu backend gives masks no gradient; "
                    f"pass {name}.detach() (or use backend='reference').")
    return None


def threads(batch: int) -> int:
    """Rows are split in this many chunks, one per thread, for the whole time loop.

    Follows ``torch.get_num_threads()`` (never more than numba's pool, nor than rows).
    """
    if batch == 1:
        return 1
    import numba

    want = torch.get_num_threads()
    n = max(1, min(want, numba.config.NUMBA_NUM_THREADS, batch))
    if n > 1:  # one chunk runs the serial build and never starts numba's pool (see _jit)
        numba.set_num_threads(n)
        if torch.get_num_threads() != want:  # numba's OpenMP pool can reset torch's count
            torch.set_num_threads(want)
    return n


@functools.cache
def _blas_libs() -> list:
    """threadpoolctl controllers of the BLAS numba's np.dot calls: scipy's, found by path
    (numpy's own BLAS is left alone); every BLAS loaded when none lies under scipy's."""
    import os

    import scipy
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS numba's np.dot calls)
    from threadpoolctl import ThreadpoolController

    blas = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    site = os.path.dirname(os.path.dirname(os.path.abspath(scipy.__file__)))
    roots = (os.path.join(site, "scipy"), os.path.join(site, "scipy.libs"))
    mine = [lib for lib in blas if os.path.abspath(lib.filepath).startswith(roots)]
    return mine or blas


class kernel_threads:
    """``with kernel_threads(batch, gemm) as nchunk``: run a kernel with ``threads(batch)``
    row chunks and a one-thread BLAS inside them.

    Each chunk's thread calls BLAS for its own small GEMMs; a BLAS that spawned threads of
    its own there would oversubscribe the cores (2× slower at H=256 here). The controllers
    are set directly: ``threadpool_limits`` re-reads every library's info (~30 µs a call).
    With ``gemm`` (the address of MKL's, see ``_gemm``) the kernels call no other BLAS (one
    row is a numba loop), so numba's BLAS is left alone and the call saves ~15 µs. A class,
    not a generator context manager, which costs 2 µs more a call here.
    """

    __slots__ = ("batch", "gemm", "before")

    def __init__(self, batch: int, gemm: int = 0):
        self.batch, self.gemm, self.before = batch, gemm, None

    def __enter__(self) -> int:
        nchunk = threads(self.batch)  # first: nothing to undo if it raises
        if not self.gemm:
            libs = _blas_libs()
            self.before = [lib.num_threads for lib in libs]
            for lib in libs:
                lib.set_num_threads(1)
        return nchunk

    def __exit__(self, *exc) -> None:
        if self.before is not None:
            for lib, n in zip(_blas_libs(), self.before, strict=True):
                lib.set_num_threads(n)
            self.before = None


def arr(t: Tensor):
    """A C-contiguous numpy view (or copy) of a CPU tensor, detached."""
    return t.detach().contiguous().numpy()


def lens_array(lengths: Tensor | None, batch: int, steps: int):
    """Lengths as the int64 numpy array the kernels read (all T when None)."""
    import numpy as np

    return np.full(batch, steps, np.int64) if lengths is None else lengths.numpy()
