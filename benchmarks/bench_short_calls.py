"""A forward of grukit.nn.GRU against torch.nn.GRU, from a one-step call to a 100-step one.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE taskset -c 1 python benchmarks/bench_short_calls.py

A short call (T = 1: a decoder stepping ``nn.GRU`` itself, a batch of one) is mostly fixed
cost: argument checks, dispatch, handing the weights to the kernel. Each row times
``module(x)`` under ``torch.no_grad()`` (input (B, T, H), H inputs), ours and torch's
alternating round by round, one thread, CPU time; the median of ``--rounds`` rounds, each
the mean of a loop of calls. To compare with an earlier commit, run this file from it with
that commit's ``src`` on ``PYTHONPATH`` (``git archive COMMIT src``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import grukit.nn as gnn

CASES = [(64, 1, 1), (64, 32, 1), (64, 1, 100), (64, 32, 100),
         (256, 1, 1), (256, 32, 1), (256, 1, 100), (256, 32, 100)]  # (H, B, T)


def _round(module, x, calls: int) -> float:
    t = time.process_time()
    for _ in range(calls):
        module(x)
    return (time.process_time() - t) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1; got {args.rounds}.")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print("| H | B | T | grukit.nn.GRU µs | torch.nn.GRU µs | grukit / torch |")
    print("|---|---|---|---|---|---|")
    for h, b, t in CASES:
        ours, theirs = gnn.GRU(h, h, batch_first=True), torch.nn.GRU(h, h, batch_first=True)
        x = torch.randn(b, t, h)
        calls = 300 if t == 1 else 5
        a, c = [], []
        with torch.no_grad():
            for _ in range(3):
                ours(x), theirs(x)
            for _ in range(args.rounds):
                a.append(_round(ours, x, calls))
                c.append(_round(theirs, x, calls))
        ma, mc = statistics.median(a) * 1e6, statistics.median(c) * 1e6
        print(f"| {h} | {b} | {t} | {ma:,.0f} | {mc:,.0f} | {ma / mc:.2f} |", flush=True)


if __name__ == "__main__":
    main()
