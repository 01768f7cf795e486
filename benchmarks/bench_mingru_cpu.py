"""CPU speed of the minGRU's fused kernel (backend "cpu") against its reference (the
float64 log-space scan of mode="parallel", and the step loop of mode="sequential"), with
torch.nn.GRU as the anchor, all in the same run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_mingru_cpu.py

Shapes (B, T, I, H): seed (32, 100, 1, 64), the article's example, and large
(64, 200, 32, 256). For each shape and thread count (``torch.set_num_threads``: 1, then 2)
the variants are interleaved run by run, so that drift on the machine hits them alike; each
figure is the median of ``--repeat`` runs after one warm-up, in wall-clock time and in CPU
time of the whole process (every thread's; ``time.process_time``). "forward" runs under
no_grad, "forward+backward" is the forward and the backward of sum(y) into x, W_ih and b_ih.
Prints a Markdown table, then the machine's load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from grukit import ops

SHAPES = {"seed": (32, 100, 1, 64), "large": (64, 200, 32, 256)}


def _variants(i: int, h: int) -> dict:
    torch.manual_seed(0)
    anchor = torch.nn.GRU(i, h, batch_first=True)
    w = (torch.randn(2 * h, i) * i ** -0.5).requires_grad_()
    b = torch.zeros(2 * h, requires_grad=True)

    def op(backend, mode="parallel"):
        return lambda x: ops.mingru(x, w, b, mode=mode, backend=backend)[0]

    return {"torch.nn.GRU": lambda x: anchor(x)[0], "minGRU cpu kernel": op("cpu"),
            "minGRU reference parallel": op("reference"),
            "minGRU reference sequential": op("reference", "sequential")}


def _time(fn, x, train: bool) -> tuple[float, float]:
    """(wall ms, CPU ms) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    if train:
        fn(x).sum().backward()
    else:
        with torch.no_grad():
            fn(x)
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--shapes", default=",".join(SHAPES))
    p.add_argument("--threads", default="1,2")
    args = p.parse_args(argv)
    print("| shape (B, T, I, H) | threads | pass | variant | wall ms | CPU ms | "
          "wall / cpu kernel | wall / torch GRU |")
    print("|---|---|---|---|---|---|---|---|")
    for n in (int(s) for s in args.threads.split(",")):
        torch.set_num_threads(n)
        for name in args.shapes.split(","):
            b, t, i, h = SHAPES[name]
            x = torch.randn(b, t, i, requires_grad=True)
            variants = _variants(i, h)
            for train in (False, True):
                times = {v: [] for v in variants}
                for k in range(args.repeat + 1):
                    for v, fn in variants.items():
                        got = _time(fn, x, train)
                        if k:  # the first round warms up (numba compiles or loads its cache)
                            times[v].append(got)
                med = {v: (statistics.median(w for w, _ in ts),
                           statistics.median(c for _, c in ts)) for v, ts in times.items()}
                for v, (wall, cpu) in med.items():
                    print(f"| {name} {(b, t, i, h)} | {n} | "
                          f"{'forward+backward' if train else 'forward'} | {v} | {wall:.2f} | "
                          f"{cpu:.2f} | {wall / med['minGRU cpu kernel'][0]:.1f} | "
                          f"{wall / med['torch.nn.GRU'][0]:.2f} |", flush=True)
    print(f"\nload average (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
