"""One streaming step at batch 1 of a LayerNorm-GRU on its numba kernel (``lngru_stream``)
against the same module called on one step (the path before the kernel:
``backend="reference"`` keeps Stream off the kernel) and a GRU on its kernel; both reset-gate
placements; CPU time of the calling thread, median of interleaved rounds, one torch thread.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 \
        python benchmarks/bench_lngru_stream.py
"""

from __future__ import annotations

import os

import numpy as np
import torch
from bench_mingru_stream import stream_medians  # the same timing as the minGRU's

import grukit.nn as gnn


def main(rounds: int = 15) -> None:
    torch.set_num_threads(1)
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for hidden, inputs in ((64, 1), (128, 16)):
        for reset_after in (True, False):
            torch.manual_seed(0)
            fast = gnn.LayerNormGRU(inputs, hidden, reset_after=reset_after)
            slow = gnn.LayerNormGRU(inputs, hidden, reset_after=reset_after,
                                    backend="reference")
            slow.load_state_dict(fast.state_dict())
            gru = gnn.GRU(inputs, hidden, reset_after=reset_after)
            streams = {"LN-GRU kernel": (gnn.Stream(fast), 2000),
                       "LN-GRU module call": (gnn.Stream(slow), 100),
                       "GRU kernel": (gnn.Stream(gru), 2000)}
            x = np.random.default_rng(0).standard_normal(inputs).astype(np.float32)
            med = stream_medians(streams, x, rounds)
            form = "reset_after" if reset_after else "reset_before"
            print(f"H={hidden} I={inputs} {form}: "
                  + "; ".join(f"{k} {v:.2f} µs" for k, v in med.items())
                  + f"; module call / kernel "
                    f"{med['LN-GRU module call'] / med['LN-GRU kernel']:.0f}×"
                  + f"; LN-GRU kernel / GRU kernel "
                    f"{med['LN-GRU kernel'] / med['GRU kernel']:.2f}×")
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
