"""Where a batch-1 GRU forward goes: the module, the op, the CPU path, the kernel alone.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_stream.py

Times each layer of the call stack of ``grukit.nn.GRU(1, 64)`` on (1, 100, 1) under
``torch.no_grad()``, interleaved round by round, median of ``--repeat`` rounds, in µs. The
difference between two neighbouring rows is what that layer adds. torch.nn.GRU is timed in
a separate loop so that its run does not evict the caches of ours.

Then the parts of one ``Stream.step`` (batch 1, H=64, numpy in): each part alone in a loop
of 20,000 calls, best of 7, with an empty call's cost (a lambda) taken off each.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from bench_cpu import _interleaved  # benchmarks/ is on sys.path when run

import grukit.nn as gnn
from grukit import ops
from grukit.ops._cpu import arr, kernel_threads
from grukit.ops._gemm import gemm_address
from grukit.ops.gru import cpu as gru_cpu


def _median_us(fns: dict, repeat: int) -> dict[str, float]:
    return {k: round(ms * 1e3, 1) for k, ms in _interleaved(fns, repeat, warmup=20).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=500)
    args = parser.parse_args()
    torch.manual_seed(0)
    b, t, i, h = 1, 100, 1, 64
    m = gnn.GRU(i, h, batch_first=True)
    x = torch.randn(b, t, i)
    w_ih, w_hh, b_ih, b_hh = m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0
    h0 = torch.zeros(b, h)
    lens = np.full(b, t, np.int64)
    xt, gi = gru_cpu._project(x, w_ih, b_ih)  # (T, B, I), None: the kernel projects x
    proj = ((gi.numpy(), None, None, None) if gi is not None else
            (np.empty((1, b, 3 * h), np.float32), xt.numpy(), arr(w_ih.t()), arr(b_ih)))
    w_t = gru_cpu.transposes_pay(b, t, h)
    whh, bias = arr(w_hh.t() if w_t else w_hh), arr(b_hh)
    hs = np.zeros((t + 1, b, h), np.float32)
    hn, save = np.empty((b, h), np.float32), np.empty((1, 1, 1), np.float32)
    gemm = gemm_address(np.dtype(np.float32))

    def module():
        m(x)

    def op():
        ops.gru(x, w_ih, w_hh, b_ih, b_hh, h0=h0, backend="cpu")

    def cpu_path():
        gru_cpu.gru_cpu(x, w_ih, w_hh, b_ih, b_hh, h0=h0, lengths=None, reset_after=True,
                        reverse=False)

    def forward():
        gru_cpu._forward(xt, gi, w_ih, b_ih, w_hh, b_hh, h0, lens, True, False)

    def kernel():
        with kernel_threads(b, gemm) as nchunk:
            gru_cpu._fwd_after(*proj, whh, w_t, bias, hs, lens, hn, None, save, None, None,
                               False, gemm, nchunk)

    with torch.no_grad():
        ours = _median_us({"grukit.nn.GRU": module, "ops.gru (backend=cpu)": op,
                           "gru_cpu (projection, lengths)": cpu_path,
                           "_forward (buffers, BLAS limit)": forward,
                           "kernel (numba call)": kernel}, args.repeat)
        tg = torch.nn.GRU(i, h, batch_first=True)
        theirs = _median_us({"torch.nn.GRU": lambda: tg(x)}, args.repeat)
    print("| call | µs | adds |\n|---|---|---|")
    rows = list(ours.items())
    for k, (name, us) in enumerate(rows):
        below = rows[k + 1][1] if k + 1 < len(rows) else 0.0
        print(f"| {name} | {us:.1f} | {us - below:.1f} |")
    print(f"| torch.nn.GRU | {theirs['torch.nn.GRU']:.1f} | |")
    print(f"\ntorch.nn.GRU / grukit.nn.GRU = {theirs['torch.nn.GRU'] / ours['grukit.nn.GRU']:.2f}")


def _per_call_us(fn, calls: int = 20000, rounds: int = 7) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls * 1e6)
    return best


def step_parts() -> None:
    """Where one Stream.step goes: the whole step, then each thing it does on the hot path."""
    torch.manual_seed(0)
    s = gnn.Stream(gnn.GRU(1, 64))
    x = np.zeros(1, np.float32)
    s.step(x)  # sets up the fast path
    kernel, h, extra, shape, dtype, top, _ = s._fast
    packed = s._packed
    empty = _per_call_us(lambda: None)
    parts = {
        "Stream.step (whole)": lambda: s.step(x),
        "compiled step kernel, called directly": lambda: kernel(x, h, packed, extra),
        "weight-version probe": s._probe,
        "output copy": top.copy,
        "guards on x (type, shape, dtype)": lambda: (type(x) is np.ndarray and x.shape == shape
                                                     and x.dtype is dtype),
    }
    print("\n| Stream.step part | µs |\n|---|---|")
    for name, fn in parts.items():
        print(f"| {name} | {_per_call_us(fn) - empty:.2f} |")
    with torch.no_grad():
        cell = torch.nn.GRUCell(1, 64)
        xt, ht = torch.zeros(1, 1), torch.zeros(1, 64)
        print(f"| torch.nn.GRUCell step | {_per_call_us(lambda: cell(xt, ht)) - empty:.2f} |")


if __name__ == "__main__":
    main()
    step_parts()
