"""CPU speed of the minGRU's parallel scan (the reference backend, which "auto" takes on the
CPU) and of its sequential mode, against torch.nn.GRU (the anchor) in the same run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE taskset -c 1 python benchmarks/bench_mingru.py

Shapes (B, T, I, H): a batch of long sequences, a wide model on mid-length ones, and one very
long sequence. For each shape the variants are interleaved run by run; each time is the
median of ``--repeat`` runs in CPU time of this process, after one warm-up. "train" is the
forward and backward of sum(y), "infer" the forward under no_grad. One thread.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from grukit import ops

SHAPES = {"batch-long": (16, 2000, 32, 128), "wide": (64, 256, 64, 256),
          "one-long": (1, 10000, 8, 64)}


def _variants(i: int, h: int) -> dict:
    torch.manual_seed(0)
    anchor = torch.nn.GRU(i, h, batch_first=True)
    w = (torch.randn(2 * h, i) * i ** -0.5).requires_grad_()
    b = torch.zeros(2 * h, requires_grad=True)
    return {"torch.nn.GRU": lambda x: anchor(x)[0],
            "minGRU parallel": lambda x: ops.mingru(x, w, b, mode="parallel")[0],
            "minGRU sequential": lambda x: ops.mingru(x, w, b, mode="sequential")[0]}


def _time(fn, x, train: bool) -> float:
    start = time.process_time()
    if train:
        fn(x).sum().backward()
    else:
        with torch.no_grad():
            fn(x)
    return (time.process_time() - start) * 1e3


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--shapes", default=",".join(SHAPES))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print("| shape (B, T, I, H) | variant | train ms | infer ms | train / torch | infer / torch |")
    print("|---|---|---|---|---|---|")
    for name in args.shapes.split(","):
        b, t, i, h = SHAPES[name]
        x = torch.randn(b, t, i, requires_grad=True)
        variants = _variants(i, h)
        times = {(v, m): [] for v in variants for m in (True, False)}
        for k in range(args.repeat + 1):
            for v, fn in variants.items():
                for train in (True, False):
                    ms = _time(fn, x, train)
                    if k:  # the first round warms up
                        times[(v, train)].append(ms)
        med = {key: statistics.median(ts) for key, ts in times.items()}
        for v in variants:
            tr, inf = med[(v, True)], med[(v, False)]
            print(f"| {name} {SHAPES[name]} | {v} | {tr:.1f} | {inf:.1f} | "
                  f"{tr / med[('torch.nn.GRU', True)]:.2f} | "
                  f"{inf / med[('torch.nn.GRU', False)]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
