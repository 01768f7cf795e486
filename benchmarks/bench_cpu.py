"""CPU speed: grukit's fused kernels against torch.nn.GRU and torch.nn.LSTM, same run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_cpu.py

Prints one JSON line per measurement, then a Markdown table. Every time is the median of
``--repeat`` runs after warm-up; the variants of a shape are interleaved run by run so that
drift on the machine hits them alike. Ratios are against torch measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

import grukit.nn as gnn

SHAPES = {"seed": (32, 100, 1, 64), "stream": (1, 100, 1, 64), "mid": (64, 200, 64, 256)}


def _models(i: int, h: int) -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {
        "torch GRU": torch.nn.GRU(i, h, batch_first=True),
        "torch LSTM": torch.nn.LSTM(i, h, batch_first=True),
        "grukit GRU": gnn.GRU(i, h, batch_first=True),
        "grukit GRU reset_after=False": gnn.GRU(i, h, batch_first=True, reset_after=False),
        "grukit LSTM (auto)": gnn.LSTM(i, h, batch_first=True),
        "grukit LSTM (backend=cpu)": gnn.LSTM(i, h, batch_first=True, backend="cpu"),
    }


def _forward(m, x):
    def run():
        with torch.no_grad():
            m(x)
    return run


def _train_step(m, x):
    def run():
        y, _ = m(x)
        y.sum().backward()
    return run


def _interleaved(fns: dict, repeat: int, warmup: int = 3) -> dict[str, float]:
    for f in fns.values():
        for _ in range(warmup):
            f()
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}  # ms


def bench_shapes(repeat: int, emit, names: list[str]) -> None:
    for shape_name in names:
        b, t, i, h = SHAPES[shape_name]
        x = torch.randn(b, t, i)
        models = _models(i, h)
        reps = max(5, repeat // 4) if h > 128 else repeat
        for mode, make in (("forward", _forward), ("forward+backward", _train_step)):
            ms = _interleaved({k: make(m, x) for k, m in models.items()}, reps)
            for k, v in ms.items():
                emit({"shape": shape_name, "B,T,I,H": [b, t, i, h], "mode": mode, "model": k,
                      "ms": round(v, 4), "x torch GRU": round(v / ms["torch GRU"], 3),
                      "x torch LSTM": round(v / ms["torch LSTM"], 3)})


def bench_streaming(emit, steps: int = 20000) -> None:
    """µs per batch-1 step: grukit's Stream (numpy in, the fast path) against torch.nn's
    cell with the same weights, for the GRU, the LSTM and the tanh RNN at 64 units."""
    torch.manual_seed(0)
    x_np = np.random.randn(1).astype(np.float32)
    x_t = torch.from_numpy(x_np).unsqueeze(0)  # (1, 1)

    def per_step(fn):
        best = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn()
            best.append((time.perf_counter() - t0) / steps * 1e6)
        return statistics.median(best)

    for name, ours, cell in (("GRU", gnn.GRU(1, 64), torch.nn.GRUCell(1, 64)),
                             ("LSTM", gnn.LSTM(1, 64), torch.nn.LSTMCell(1, 64)),
                             ("RNN", gnn.RNN(1, 64), torch.nn.RNNCell(1, 64))):
        ours.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
        stream = gnn.Stream(ours)
        stream.step(x_np)
        state = (torch.zeros(1, 64),) * (2 if name == "LSTM" else 1)

        def torch_cell(cell=cell, state=state):
            with torch.no_grad():
                for _ in range(steps):
                    out = cell(x_t, state if len(state) == 2 else state[0])
                    state = out if isinstance(out, tuple) else (out,)

        def grukit_stream(stream=stream):
            for _ in range(steps):
                stream.step(x_np)

        t_torch, t_ours = per_step(torch_cell), per_step(grukit_stream)
        shape = "stream step (B=1, H=64)"
        emit({"shape": shape, "model": f"torch {name}Cell", "us_per_step": round(t_torch, 3)})
        emit({"shape": shape, "model": f"grukit {name} Stream.step", "us_per_step":
              round(t_ours, 3), f"x torch {name}Cell": round(t_ours / t_torch, 3)})


COMPILE_SNIPPET = """
import time, torch, grukit.nn as gnn
x = torch.randn(4, 5, 3)
t0 = time.perf_counter()
y, _ = gnn.GRU(3, 8, batch_first=True)(x)
y.sum().backward()
print(time.perf_counter() - t0)
"""


def bench_compile(emit) -> None:
    """First forward+backward of a GRU in a new process: cold numba cache, then warm."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold cache", "warm cache"):
            out = subprocess.run([sys.executable, "-c", COMPILE_SNIPPET], env=env, check=True,
                                 capture_output=True, text=True).stdout.split()[-1]
            emit({"shape": "first GRU forward+backward call", "model": label,
                  "s": round(float(out), 3)})


def machine() -> dict:
    import scipy.linalg.cython_blas  # noqa: F401  (load numba's BLAS so it is listed)
    from threadpoolctl import threadpool_info

    blas = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
            f"({os.path.basename(i.get('filepath', ''))})" for i in threadpool_info()
            if i.get("user_api") == "blas"]
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    from grukit.ops._gemm import gemm_address

    gemm = "MKL sgemm from libtorch_cpu" if gemm_address("float32") else "np.dot (numba's BLAS)"
    avx512 = False
    try:
        with open("/proc/cpuinfo") as f:
            avx512 = "avx512f" in f.read()
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "avx512": avx512, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "blas": blas, "kernel_gemm": gemm,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "unset")}


def table(rows: list[dict]) -> str:
    lines = ["| shape | mode | model | time | × torch GRU | × torch LSTM |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        if "ms" in r:
            lines.append(f"| {r['shape']} {tuple(r['B,T,I,H'])} | {r['mode']} | {r['model']} | "
                         f"{r['ms']:.3f} ms | {r['x torch GRU']:.2f} | {r['x torch LSTM']:.2f} |")
        elif "us_per_step" in r:
            key = next((k for k in r if k.startswith("x torch")), None)
            ratio = "" if key is None else f"{r[key]:.2f} (× {key.removeprefix('x torch ')})"
            lines.append(f"| {r['shape']} | step | {r['model']} | {r['us_per_step']:.2f} µs | "
                         f"{ratio} | |")
        else:
            lines.append(f"| {r['shape']} | | {r['model']} | {r['s']:.2f} s | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--skip-compile", action="store_true")
    parser.add_argument("--shapes", default=",".join(SHAPES),
                        help=f"comma-separated subset of {', '.join(SHAPES)}")
    args = parser.parse_args()
    rows: list[dict] = []

    def emit(row):
        rows.append(row)
        print(json.dumps(row), flush=True)

    print(json.dumps({"machine": machine()}), flush=True)
    if not args.skip_compile:
        bench_compile(emit)
    bench_shapes(args.repeat, emit, args.shapes.split(","))
    bench_streaming(emit)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
