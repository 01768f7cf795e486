"""One streaming step at batch 1 of a minGRU on its numba kernel (``mingru_stream``) against
the same module called on one step (the path before the kernel: ``backend="reference"``
keeps Stream off the kernel) and a GRU on its kernel; CPU time of the calling thread,
median of interleaved rounds, one torch thread.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_mingru_stream.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

import grukit.nn as gnn


def stream_medians(streams: dict, x: np.ndarray, rounds: int) -> dict[str, float]:
    """{name: median µs a step} of streams {name: (Stream, steps a round)} stepping ``x``,
    after 200 warm-up steps each, the rounds interleaved, CPU time of the calling thread."""
    times: dict[str, list[float]] = {k: [] for k in streams}
    for s, _ in streams.values():
        for _ in range(200):
            s.step(x)
    for _ in range(rounds):
        for name, (s, n) in streams.items():
            t = time.thread_time()
            for _ in range(n):
                s.step(x)
            times[name].append((time.thread_time() - t) / n * 1e6)
    return {k: statistics.median(v) for k, v in times.items()}


def main(rounds: int = 15) -> None:
    torch.set_num_threads(1)
    for hidden, inputs in ((64, 1), (128, 16)):
        torch.manual_seed(0)
        fast = gnn.MinGRU(inputs, hidden, mode="sequential")
        slow = gnn.MinGRU(inputs, hidden, mode="sequential", backend="reference")
        slow.load_state_dict(fast.state_dict())
        streams = {"minGRU kernel": (gnn.Stream(fast), 2000),
                   "minGRU module call": (gnn.Stream(slow), 100),
                   "GRU kernel": (gnn.Stream(gnn.GRU(inputs, hidden)), 2000)}
        x = np.random.default_rng(0).standard_normal(inputs).astype(np.float32)
        med = stream_medians(streams, x, rounds)
        print(f"H={hidden} I={inputs}: " + "; ".join(f"{k} {v:.2f} µs" for k, v in med.items())
              + f"; module call / kernel {med['minGRU module call'] / med['minGRU kernel']:.0f}×")


if __name__ == "__main__":
    main()
