"""The per-step GEMM of the fused CPU kernels, one thread: numba's np.dot against MKL's gemm.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_gemm.py

For each (rows, K, N) of a recurrent step — rows per thread at the seed and mid shapes, the
backward's (rows, 3H) @ (3H, H), and one row — times ``grukit.ops._gemm.mm`` called from a
numba loop with ``np.dot`` (gemm=0) and with MKL's address, best of 5 runs, in µs and GFLOP/s.
One row always takes the numba loop (``vecmat_add``), whatever the address; the np.dot row
for one row calls ``np.dot`` directly for comparison.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit
from threadpoolctl import threadpool_limits

from grukit.ops._gemm import gemm_address, gemm_scratch, mm

SHAPES = [(1, 64, 192), (16, 64, 192), (32, 64, 192), (16, 192, 64), (32, 256, 768),
          (64, 256, 768)]


@njit(cache=True)
def _loop_mm(a, b, out, gemm, n):
    ints, ab = gemm_scratch(out)
    for _ in range(n):
        mm(a, b, out, gemm, ints, ab)


@njit(cache=True)
def _loop_dot(a, b, out, n):
    for _ in range(n):
        np.dot(a, b, out)


def _best_us(fn, n: int) -> float:
    fn(2)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        fn(n)
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def main() -> None:
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS numba's np.dot calls)

    gemm = gemm_address(np.dtype(np.float32))
    print(f"MKL gemm from torch: {'found' if gemm else 'not found (np.dot only)'}\n")
    print("| rows × K × N | np.dot | mm (MKL, or the loop for one row) | speed-up |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(0)
    with threadpool_limits(1):
        for m, k, n in SHAPES:
            a = rng.standard_normal((m, k), dtype=np.float32)
            b = rng.standard_normal((k, n), dtype=np.float32)
            o1, o2 = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
            reps = 2000 if k * n < 100_000 else 200
            t_dot = _best_us(lambda r, a=a, b=b, o=o1: _loop_dot(a, b, o, r), reps)
            t_mm = _best_us(lambda r, a=a, b=b, o=o2: _loop_mm(a, b, o, gemm, r), reps)
            np.testing.assert_allclose(o2, o1, rtol=1e-4, atol=1e-4 * k)
            gf = 2 * m * k * n / 1e3
            print(f"| {m} × {k} × {n} | {t_dot:.2f} µs ({gf / t_dot:.0f} GFLOP/s) | "
                  f"{t_mm:.2f} µs ({gf / t_mm:.0f} GFLOP/s) | {t_dot / t_mm:.2f}× |")


if __name__ == "__main__":
    main()
