"""One streaming step at batch 1, and where it goes: ``Stream`` (fp32), ``Int8Stream`` int8 ×
int8 (w8a8) and int8 weights × float, each as a whole ``step``, as the kernel's call alone
and as the kernel's arithmetic alone (a numba loop of steps: no call at all).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE taskset -c 0 \\
        python -m grukit.export.bench_step --hidden 64 --rounds 200 --number 2000

Every round times each row once (``--number`` calls), rows interleaved so that a burst of
load from other processes hits all of them; each row's figure is its best round, in ns per
step: on a shared machine the minimum is the figure least moved by the others' work. One
thread (numba's kernels are single-threaded at batch 1).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch


def _loop(kernel):
    """A numba loop of ``n`` steps of ``kernel``: the arithmetic without the call."""
    from numba import njit

    @njit
    def loop(x, h, params, extra, n):
        for _ in range(n):
            kernel(x, h, params, extra)

    return loop


def rows(cell: str, hidden: int, inputs: int) -> dict[str, Callable[[int], None]]:
    """name -> run(n): n steps of that row."""
    from .. import nn as gnn
    from ..nn.quantized import Int8Stream, quantize_int8

    torch.manual_seed(0)
    m = getattr(gnn, cell.upper())(inputs, hidden).eval()
    x = np.random.default_rng(0).standard_normal(inputs).astype(np.float32)
    streams = {"Stream fp32": gnn.Stream(m),
               "Int8Stream w8a8 (int8 x int8)": Int8Stream(quantize_int8(m), w8a8=True),
               "Int8Stream int8 weights x float": Int8Stream(quantize_int8(m), w8a8=False)}
    out: dict[str, Callable[[int], None]] = {}
    for name, s in streams.items():
        s.step(x)

        def whole(n, step=s.step):
            for _ in range(n):
                step(x)

        kernel, h, extra = s._fast[0], s._fast[1], s._fast[2]
        packed = s._packed

        def call(n, k=kernel, h=h, p=packed, e=extra):
            for _ in range(n):
                k(x, h, p, e)

        py = s._kernel.step  # the compiled entry point; its dispatcher for the loop
        loop = _loop(_dispatcher(py, s))
        loop(x, h, packed, extra, 1)

        def inner(n, lp=loop, h=h, p=packed, e=extra):
            lp(x, h, p, e, n)

        out[f"{name}: step()"] = whole
        out[f"{name}: kernel call"] = call
        out[f"{name}: arithmetic"] = inner
    return out


def _dispatcher(entry, stream):
    """The numba dispatcher whose compiled entry point ``entry`` is."""
    from importlib import import_module

    name = entry.__name__  # step / step_int8 / step_w8a8
    family = stream.module.spec.name
    for mod in ("w8a8", "quant", "stream"):
        try:
            fn = getattr(import_module(f"grukit.ops.{family}.{mod}"), name, None)
        except ImportError:
            continue
        if fn is not None:
            return fn
    raise LookupError(f"no kernel named {name} for {family}")


def best_of(fns: dict[str, Callable[[int], None]], rounds: int, number: int) -> dict:
    """Each row's best round in ns per call, rows interleaved round by round."""
    best = dict.fromkeys(fns, float("inf"))
    for fn in fns.values():  # warm-up
        fn(number)
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(number)
            best[name] = min(best[name], (time.perf_counter() - t0) / number * 1e9)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=("gru", "lstm"), default="gru")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--inputs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args(argv)
    for name in ("hidden", "inputs", "rounds", "number"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1; got {getattr(args, name)}.")
    torch.set_num_threads(1)
    res = best_of(rows(args.cell, args.hidden, args.inputs), args.rounds, args.number)
    print(f"{args.cell.upper()}({args.hidden}), {args.inputs} input(s): best of {args.rounds} "
          f"rounds of {args.number} calls, ns per step")
    for name, ns in res.items():
        print(f"  {name:<48} {ns:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
