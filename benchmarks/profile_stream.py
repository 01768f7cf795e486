"""Where a batch-1 GRU forward goes: the module, the op, the CPU path, the kernel alone.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_stream.py

Times each layer of the call stack of ``grukit.nn.GRU(1, 64)`` on (1, 100, 1) under
``torch.no_grad()``, interleaved round by round, median of ``--repeat`` rounds, in µs. The
difference between two neighbouring rows is what that layer adds. torch.nn.GRU is timed in
a separate loop so that its run does not evict the caches of ours.
"""

from __future__ import annotations

import argparse

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
    gi = gru_cpu._project(x, w_ih, b_ih)[1]  # (T, B, 3H)
    whh_t, bias = arr(w_hh.t()), arr(b_hh)
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
        gru_cpu._forward(gi, w_hh, b_hh, h0, lens, True, False)

    def kernel():
        with kernel_threads(b, gemm) as nchunk:
            gru_cpu._fwd_after(gi.numpy(), whh_t, bias, hs, lens, hn, hs[1:], save, False,
                               gemm, nchunk)

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


if __name__ == "__main__":
    main()
