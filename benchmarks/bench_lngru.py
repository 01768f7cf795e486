"""CPU speed of the LayerNorm-GRU: its fused kernel and its reference loop against
torch.nn.GRU (the anchor) and grukit's fused GRU, measured in the same run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_lngru.py

Shapes (B, T, I, H): seed (32, 100, 1, 64), the article's example, and mid (64, 200, 64, 256)
(bench_cpu.py's). Every time is the median of ``--repeat`` runs after warm-up, the variants
of a shape interleaved run by run so that drift on the machine hits them alike. The reference
loop runs at the seed shape only (``--reference-mid`` adds it at mid). One JSON line per
measurement, then a Markdown table of ratios to torch.nn.GRU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from grukit import ops
from grukit.ops.lngru import lngru

SHAPES = {"seed": (32, 100, 1, 64), "mid": (64, 200, 64, 256)}


def _params(i: int, h: int, ln: bool) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    k = h ** -0.5

    def u(*s):
        return ((torch.rand(*s, generator=g) * 2 - 1) * k).requires_grad_()

    ps = [u(3 * h, i), u(3 * h, h), u(3 * h), u(3 * h)]
    if ln:
        ps += [torch.ones(3 * h, requires_grad=True), torch.zeros(3 * h, requires_grad=True),
               torch.ones(3 * h, requires_grad=True), torch.zeros(3 * h, requires_grad=True)]
    return ps


def _variants(i: int, h: int, reference: bool) -> dict:
    torch.manual_seed(0)
    anchor = torch.nn.GRU(i, h, batch_first=True)
    gru_p, ln_p = _params(i, h, False), _params(i, h, True)
    out = {
        "torch.nn.GRU": lambda x: anchor(x),
        "grukit gru (cpu)": lambda x: ops.gru(x, *gru_p, backend="cpu"),
        "lngru (cpu)": lambda x: lngru(x, *ln_p, backend="cpu"),
    }
    if reference:
        out["lngru (reference)"] = lambda x: lngru(x, *ln_p, backend="reference")
    return out


def _timed(fns: dict, x: torch.Tensor, train: bool, repeat: int, warmup: int = 2) -> dict:
    def run(f):
        if train:
            y, _ = f(x)
            y.sum().backward()
        else:
            with torch.no_grad():
                f(x)

    for f in fns.values():
        for _ in range(warmup):
            run(f)
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, f in fns.items():
            t0 = time.perf_counter()
            run(f)
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}  # ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--reference-mid", action="store_true")
    args = ap.parse_args()
    rows = []
    for name in args.shapes:
        b, t, i, h = SHAPES[name]
        x = torch.randn(b, t, i)
        fns = _variants(i, h, name == "seed" or args.reference_mid)
        reps = max(5, args.repeat // 3) if h > 128 else args.repeat
        for mode, train in (("forward", False), ("forward+backward", True)):
            ms = _timed(fns, x, train, reps)
            for k, v in ms.items():
                row = {"shape": name, "B,T,I,H": [b, t, i, h], "mode": mode, "variant": k,
                       "ms": round(v, 3), "x torch.nn.GRU": round(v / ms["torch.nn.GRU"], 2)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| shape | mode | variant | ms | × torch.nn.GRU |\n|---|---|---|---:|---:|")
    for r in rows:
        print(f"| {r['shape']} | {r['mode']} | {r['variant']} | {r['ms']} | "
              f"{r['x torch.nn.GRU']} |")


if __name__ == "__main__":
    main()
