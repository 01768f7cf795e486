"""The edge table: latency of the article's model (GRU(64) → Dense(1), one feature, T = 100)
on the CPU through every deployment path, and its size on disk.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m grukit.export.bench --threads 1

Rows: one streaming step at batch 1 (the recurrent layer: torch.nn.GRU as the anchor, grukit
eager, ``grukit.nn.Stream`` fp32, ``Int8Stream``, torch.compile, an ONNX Runtime one-step
cell), and a whole sequence at batch 1 and 32 (the model: torch.nn eager as the anchor,
grukit eager, torch.compile, the ``torch.export`` program, ONNX Runtime fp32 and int8, grukit
int8 with grukit's or torch's int8 Dense). Each figure is the median of ``--repeat`` runs
after a warm-up, in µs per call, with its ratio to the anchor of its block. Then the files:
ONNX, ONNX int8, pt2, pt2 int8, safetensors of the state, fp32 and int8.

A saved task model is timed the same way by ``python -m grukit.tasks.edge_bench DIR``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch


def per_call(fn: Callable[[], object], budget: float, repeat: int) -> float:
    """The median over ``repeat`` runs of calls, in µs per call: each run as many calls as
    fit in ``budget`` seconds by a warm-up's estimate (at least 3)."""
    calls, t0 = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - t0 < budget / 2:  # warm-up and estimate
        fn()
        calls += 1
    number = max(3, int(budget / ((time.perf_counter() - t0) / calls)))
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - t0) / number)
    return statistics.median(runs) * 1e6


def ort_session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _article(hidden: int, steps: int):
    from ..layers import GRU, Dense
    from ..models import Sequential

    model = Sequential([GRU(hidden, input_shape=(steps, 1)), Dense(1)])
    model.build()
    return model.eval()


def step_rows(hidden: int, threads: int, budget: float, repeat: int, folder: Path,
              compile_: bool) -> list[tuple[str, float]]:
    """One streaming step at batch 1 of a GRU(hidden) on one feature."""
    from .. import nn as gnn
    from ..nn.quantized import Int8Stream, quantize_int8
    from .onnx_file import to_onnx

    torch.manual_seed(0)
    ref = torch.nn.GRU(1, hidden).eval()
    gru = gnn.GRU(1, hidden).eval()
    x1 = torch.randn(1, 1, 1)
    h = torch.zeros(1, 1, hidden)
    xs = np.random.default_rng(0).standard_normal(1).astype(np.float32)
    rows = []
    with torch.no_grad():
        rows.append(("torch.nn.GRU eager", per_call(lambda: ref(x1, h), budget, repeat)))
        rows.append(("grukit.nn.GRU eager", per_call(lambda: gru(x1, h), budget, repeat)))
        stream = gnn.Stream(gru)
        rows.append(("grukit Stream fp32", per_call(lambda: stream.step(xs), budget, repeat)))
        s8 = Int8Stream(quantize_int8(gru))
        rows.append(("grukit Int8Stream int8", per_call(lambda: s8.step(xs), budget, repeat)))
        if compile_:
            comp = torch.compile(gru, fullgraph=True, dynamic=False)
            comp(x1, h)
            rows.append(("grukit.nn.GRU torch.compile",
                         per_call(lambda: comp(x1, h), budget, repeat)))
    cell = gnn.GRUCell(1, hidden).eval()
    path = to_onnx(cell, folder / "cell.onnx")
    sess = ort_session(path, threads)
    feed = {"input": np.zeros((1, 1), np.float32), "h0": np.zeros((1, hidden), np.float32)}
    rows.append(("ONNX Runtime GRUCell", per_call(lambda: sess.run(None, feed), budget,
                                                  repeat)))
    return rows


def sequence_rows(hidden: int, steps: int, batch: int, threads: int, budget: float,
                  repeat: int, folder: Path, compile_: bool) -> list[tuple[str, float]]:
    """The article's model on a whole sequence (batch, steps, 1)."""
    from ..nn.quantized import quantize_int8, torch_dynamic_quantization
    from .int8 import quantize_onnx
    from .onnx_file import to_onnx
    from .pt2 import load_pt2, to_pt2

    torch.manual_seed(0)
    model = _article(hidden, steps)
    ref_gru, ref_dense = torch.nn.GRU(1, hidden, batch_first=True), torch.nn.Linear(hidden, 1)

    def reference(x):
        return ref_dense(ref_gru(x)[0][:, -1])

    x = torch.randn(batch, steps, 1)
    xn = x.numpy()
    rows = []
    with torch.no_grad():
        rows.append(("torch.nn.GRU + Linear eager", per_call(lambda: reference(x), budget,
                                                             repeat)))
        rows.append(("grukit eager fp32", per_call(lambda: model(x), budget, repeat)))
        if compile_:
            comp = torch.compile(model, fullgraph=True, dynamic=False)
            comp(x)
            rows.append(("grukit torch.compile", per_call(lambda: comp(x), budget, repeat)))
        prog = load_pt2(to_pt2(model, folder / "model.pt2", example=x)).module()
        rows.append(("grukit torch.export (.pt2)", per_call(lambda: prog(x), budget, repeat)))
        q = quantize_int8(model, linear="grukit")
        rows.append(("grukit int8 (grukit Dense)", per_call(lambda: q(x), budget, repeat)))
        if torch_dynamic_quantization():
            qt = quantize_int8(model, linear="torch")
            rows.append(("grukit int8 (torch dynamic Dense)", per_call(lambda: qt(x), budget,
                                                                       repeat)))
        to_pt2(q, folder / "model_int8.pt2", example=x)
    onnx_path = to_onnx(model, folder / "model.onnx")
    quantize_onnx(onnx_path, folder / "model_int8.onnx")
    for name, file in (("ONNX Runtime fp32", "model.onnx"),
                       ("ONNX Runtime int8 (Dense; GRU stays fp32)", "model_int8.onnx")):
        sess = ort_session(folder / file, threads)
        rows.append((name, per_call(lambda s=sess: s.run(None, {"input": xn}), budget, repeat)))
    return rows


def size_rows(hidden: int, steps: int, folder: Path) -> list[tuple[str, int]]:
    """Bytes on disk of the files the sequence rows wrote, and of the state as safetensors."""
    from safetensors.torch import save_file

    from ..nn.quantized import quantize_int8

    torch.manual_seed(0)
    model = _article(hidden, steps)
    q = quantize_int8(model, linear="grukit")
    for name, m in (("state.safetensors", model), ("state_int8.safetensors", q)):
        save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(folder / name))
    files = ("model.onnx", "model_int8.onnx", "model.pt2", "model_int8.pt2",
             "state.safetensors", "state_int8.safetensors")
    return [(f, (folder / f).stat().st_size) for f in files if (folder / f).is_file()]


_PEAK = """
import numpy as np
x = np.zeros((1, {steps}, {width}), np.float32)
{body}
print([ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM")][0])
"""

_BODIES = {
    "ONNX Runtime fp32 (onnxruntime + numpy)":
        "import onnxruntime as ort\n"
        "s = ort.InferenceSession({onnx!r}, providers=['CPUExecutionProvider'])\n"
        "s.run(None, {{s.get_inputs()[0].name: x}})",
    "ONNX Runtime int8":
        "import onnxruntime as ort\n"
        "s = ort.InferenceSession({onnx8!r}, providers=['CPUExecutionProvider'])\n"
        "s.run(None, {{s.get_inputs()[0].name: x}})",
    "torch.export program (torch + grukit)":
        "import torch\nfrom grukit.export import load_pt2\n"
        "load_pt2({pt2!r}).module()(torch.from_numpy(x))",
    "torch.export program, int8":
        "import torch\nfrom grukit.export import load_pt2\n"
        "load_pt2({pt28!r}).module()(torch.from_numpy(x))",
}


def peak_rows(steps: int, folder: Path, width: int = 1) -> list[tuple[str, int | str]]:
    """Peak resident memory (KiB, ``VmHWM`` of /proc/self/status: Linux; ``ru_maxrss``
    would carry the parent's across exec) of a fresh process that loads each file and runs
    one batch-1 sequence (fed to the graph's own input name: a forecaster's is ``x``): the
    footprint of serving it. A process that fails gives its last line of error instead of
    a figure (its row is kept, not dropped)."""
    import subprocess
    import sys

    names = {"onnx": "model.onnx", "onnx8": "model_int8.onnx", "pt2": "model.pt2",
             "pt28": "model_int8.pt2"}
    paths = {k: str(folder / v) for k, v in names.items()}
    rows = []
    for name, body in _BODIES.items():
        if any(f"{{{k}!r}}" in body and not os.path.isfile(p) for k, p in paths.items()):
            continue  # a file not written (no pt2 program for some cells): no row to measure
        code = _PEAK.format(steps=steps, width=width, body=body.format(**paths))
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=600)
        if done.returncode == 0:
            rows.append((name, int(done.stdout.split()[-1])))
        else:
            said = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            rows.append((name, f"failed: {said[:120]}"))
    return rows


def table(title: str, rows: list[tuple[str, float]]) -> str:
    anchor = rows[0][1]
    lines = [f"| {title} | µs | × anchor |", "|---|---:|---:|"]
    lines += [f"| {name} | {us:,.1f} | {us / anchor:.2f} |" for name, us in rows]
    return "\n".join(lines)


def timing_options(parser: argparse.ArgumentParser) -> None:
    """The options every edge bench takes: threads, sequence length, runs, compile, memory."""
    parser.add_argument("--threads", type=int, default=1, help="torch, numba and ONNX "
                        "Runtime threads (1 = one core)")
    parser.add_argument("--steps", type=int, default=100, help="sequence length")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--budget", type=float, default=0.2, help="seconds per run of calls")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile rows")
    parser.add_argument("--memory", action="store_true", help="peak memory of a fresh "
                        "serving process per exported file")


def use_threads(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse counts below 1 and a budget of no time; then torch's and numba's thread pools
    at ``args.threads``."""
    for name in ("threads", "steps", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1; got {getattr(args, name)}.")
    if not 0 < args.budget < float("inf"):  # inf: the warm-up would never end
        parser.error(f"--budget must be a positive number of seconds; got {args.budget}.")
    threads = args.threads
    torch.set_num_threads(threads)
    try:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass


def print_files(sizes: list[tuple[str, int]],
                peaks: list[tuple[str, int | str]] | None) -> None:
    """The files' bytes and, when measured, the serving processes' peak memory."""
    print("| file | bytes |\n|---|---:|")
    for name, size in sizes:
        print(f"| {name} | {size:,} |")
    if peaks is not None:
        print()
        print("| serving process (load + one sequence) | peak RSS MiB |\n|---|---:|")
        for name, kib in peaks:
            print(f"| {name} | {kib if isinstance(kib, str) else f'{kib / 1024:,.0f}'} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grukit.export.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=64)
    timing_options(parser)
    args = parser.parse_args(argv)
    if args.hidden < 1:
        parser.error(f"--hidden must be at least 1; got {args.hidden}.")
    use_threads(parser, args)
    compile_ = not args.no_compile
    print(f"threads {args.threads}, torch {torch.__version__}, {os.cpu_count()} CPUs seen")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(table(f"step, batch 1, GRU({args.hidden})",
                     step_rows(args.hidden, args.threads, args.budget, args.repeat, folder,
                               compile_)))
        for batch in (1, 32):
            rows = sequence_rows(args.hidden, args.steps, batch, args.threads, args.budget,
                                 args.repeat, folder, compile_)
            print()
            print(table(f"sequence T={args.steps}, batch {batch}", rows))
        print()
        print_files(size_rows(args.hidden, args.steps, folder),
                    peak_rows(args.steps, folder) if args.memory else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
