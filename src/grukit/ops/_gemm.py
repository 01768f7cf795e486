"""The per-step GEMM of the fused CPU kernels: MKL's, where torch carries it, else numpy's.

The serial loop's GEMMs are small, (rows per thread, H) @ (H, 3H): at 16 rows and H=64 the
OpenBLAS that numba's ``np.dot`` calls runs at about half the speed of MKL's ``sgemm`` (14 µs
against 7 µs a step on a 2-core AMD EPYC), and that GEMM is half of a step. torch's x86 wheels
link MKL into ``libtorch_cpu`` and export its Fortran ``sgemm``/``dgemm``; ``gemm_address``
finds them there and the kernels call them through the address (an ``intrinsic``, so numba
can still cache the kernels). Builds without them (macOS arm64, some conda builds), or
``GRUKIT_CPU_GEMM=numpy`` in the environment, fall back to ``np.dot``. A single row (batch 1)
is a numba loop four rows of b at a time (``vecmat_add``): as fast as OpenBLAS there and
faster than MKL (1.4 µs for (1, 64) @ (64, 192)), and with no BLAS call left in the kernels
numba's BLAS needs no thread limit (``_cpu.kernel_threads``). ``benchmarks/bench_gemm.py``
times both paths.

Row-major C = A @ B is the column-major product Cᵀ = Bᵀ Aᵀ: ``gemm("N", "N", n, m, k, 1,
B, n, A, lda, 0, C, n)`` with every argument passed by reference (the Fortran ABI). A may be
a row-strided view (contiguous rows lda ≥ k elements apart, e.g. a column slice of a wider
buffer): its leading dimension is passed as it is, with no copy.
"""

from __future__ import annotations

import ctypes
import functools
import os

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from ._cpu_math import matvec, vecmat_add

_N = ord("N")
_T = ord("T")


@functools.cache
def gemm_address(dtype) -> int:
    """Address of MKL's Fortran ``sgemm`` (float32) or ``dgemm`` (float64) in the loaded
    torch, or 0 (use ``np.dot``) when torch has none or ``GRUKIT_CPU_GEMM=numpy``.
    ``dtype``: a numpy dtype or its name (cached per value; ``dtype.name`` itself costs 4 µs)."""
    if os.environ.get("GRUKIT_CPU_GEMM", "").lower() == "numpy":
        return 0
    import torch

    path = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    if not torch.backends.mkl.is_available() or not os.path.exists(path):
        return 0
    try:
        lib = ctypes.CDLL(path)
        fn = getattr(lib, "sgemm" if np.dtype(dtype) == np.float32 else "dgemm")
    except (OSError, AttributeError):
        return 0
    return ctypes.cast(fn, ctypes.c_void_p).value or 0


@intrinsic
def _call13(typingctx, addr, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13):
    """Call the void function at ``addr`` with 13 pointer arguments (intp addresses)."""
    sig = types.void(types.intp, *([types.intp] * 13))

    def codegen(context, builder, signature, args):
        ptr = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [ptr] * 13)
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        builder.call(fn, [builder.inttoptr(a, ptr) for a in args[1:]])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True)
def gemm_scratch(dtype_of):
    """Per-thread scratch for ``mm`` and ``mm_nt``: int32 [n, m, k, 'N', lda, 'T'] and [1, 0]
    in the kernel's dtype."""
    ints = np.zeros(6, np.int32)
    ints[3] = _N
    ints[5] = _T
    ab = np.zeros(2, dtype_of.dtype)
    ab[0] = 1
    return ints, ab


@njit(inline="always", cache=True)
def _c_rows(m):
    """True when the 2-D array m is C-contiguous (what the leading dimensions passed assume)."""
    return m.strides[1] == m.itemsize and m.strides[0] == m.shape[1] * m.itemsize


@njit(inline="always", cache=True)
def _strided_rows(m):
    """True when the 2-D array m has contiguous rows at a stride MKL accepts as its ld."""
    return (m.strides[1] == m.itemsize and m.strides[0] % m.itemsize == 0
            and m.strides[0] >= m.shape[1] * m.itemsize)


@njit(inline="always", cache=True)
def _mkl(gemm, ints, ab, a, b, n, b_t, out):
    """out (M, n) = a (M, K) · op(b) through MKL's column-major ?gemm at address ``gemm``:
    outᵀ = op(b)ᵀ · aᵀ, with op(b) = b (K, n) read with ld n, or (``b_t``) b (n, K) read
    transposed with ld K. ``ints``/``ab`` from ``gemm_scratch``; a's rows may be strided."""
    ints[0] = n
    ints[1] = a.shape[0]
    ints[2] = a.shape[1]
    ints[4] = a.strides[0] // a.itemsize
    ip = ints.ctypes.data
    abp = ab.ctypes.data
    _call13(gemm, ip + 20 if b_t else ip + 12, ip + 12, ip, ip + 4, ip + 8, abp, b.ctypes.data,
            ip + 8 if b_t else ip, a.ctypes.data, ip + 16, abp + ab.itemsize, out.ctypes.data,
            ip)


@njit(inline="always", cache=True)
def mm(a, b, out, gemm, ints, ab):
    """out (M, N) = a (M, K) @ b (K, N); b and out C-contiguous, a C-contiguous or with
    contiguous rows at any stride (a column slice); MKL when ``gemm`` is its address, a numba
    loop for one row (no BLAS call), ``np.dot`` otherwise."""
    if a.shape[0] == 1:
        row = out[0]
        for j in range(row.shape[0]):
            row[j] = 0
        vecmat_add(row, a[0], b)
        return
    if gemm == 0 or not (_strided_rows(a) and _c_rows(b) and _c_rows(out)):
        np.dot(np.ascontiguousarray(a), b, out)  # a no-op for a C-contiguous a
        return
    _mkl(gemm, ints, ab, a, b, b.shape[1], False, out)


@njit(inline="always", cache=True)
def mm_nt(a, w, out, gemm, ints, ab):
    """out (M, N) = a (M, K) @ w (N, K)ᵀ: ``mm`` with the weight as torch stores it, so that
    a call makes no transposed copy of it (16–24 µs for GRU(64)'s W_hh, 240–300 µs at
    H = 256, each forward). w and out C-contiguous, a as in ``mm``; one row is a numba loop
    of dot products (``matvec``), MKL's GEMM with op(A) = Aᵀ otherwise: column-major,
    outᵀ (N, M) = w (N, K) · aᵀ, w read as its (K, N) transpose with ld K."""
    if a.shape[0] == 1:
        matvec(out[0], w, a[0])
        return
    if gemm == 0 or not (_strided_rows(a) and _c_rows(w) and _c_rows(out)):
        np.dot(np.ascontiguousarray(a), w.T, out)
        return
    _mkl(gemm, ints, ab, a, w, w.shape[0], True, out)


@njit(cache=True)
def _mm_rows(a, w, out, gemm, ints, ab):
    """``mm_nt``, called rather than inlined: inlined beside ``mm`` at every product of
    every kernel build, it took numba's cold compile of the GRU kernels from 26 to 42 s."""
    mm_nt(a, w, out, gemm, ints, ab)


@njit(inline="always", cache=True)
def mm_w(a, w, w_t, out, gemm, ints, ab):
    """out = a @ W for w = W (w_t: the transposed copy, C-contiguous; ``mm`` inlined, as the
    kernels had it) or, as torch stores it, w = Wᵀ (``mm_nt``: no copy made)."""
    if w_t:
        mm(a, w, out, gemm, ints, ab)
    else:
        _mm_rows(a, w, out, gemm, ints, ab)


def transposes_pay(batch: int, steps: int, hid: int) -> bool:
    """Whether a forward takes W_hh transposed, ``mm_w``'s ``w_t`` (a copy each call: 16–24
    µs for GRU(64), 240–300 µs at H = 256), rather than as torch stores it. The copy pays back
    over the steps: many rows are MKL's GEMM, whose transposed-operand form is ~10 % slower
    at batch 32 (about 2 µs a step at H = 64, 25 µs at H = 256), so from 16 steps on; one
    row is a numba loop, 0.79 µs a step at H = 64 along rows of W_hhᵀ (``vecmat_add``)
    against 1.14 µs of dot products along rows of W_hh (``matvec``), so from 64 steps on,
    and never above H = 128, where the two take the same time."""
    if batch == 1:
        return steps >= 64 and hid <= 128
    return steps >= 16
