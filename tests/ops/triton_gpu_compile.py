"""Compile every Triton kernel launch of the GRU, LSTM, minGRU and LayerNorm-GRU backends for
a GPU, on a machine without one: ``python tests/ops/triton_gpu_compile.py [--arch 90]``.

The interpreter tests check what the kernels compute; they cannot see what only the GPU
compiler rejects (a tensor op the interpreter accepts, a shape rule of ``tl.dot``, shared
memory or register limits). This runs each backend's Python wrapper on small CPU tensors
with the launches intercepted, and hands every launch's argument types and constexprs to
``triton.compile`` for an NVIDIA target (sm_90, the H100, by default), down to a cubin
with the ptxas that ships in Triton's wheel. Variants: fp32 with exact and TF32 dots, one
hidden block (H ≤ 64: weights resident), several (H > 64: weights streamed) and split-H
(weights split between programs that meet at barriers), bf16;
GRU and LayerNorm-GRU (H ≤ 64) both forms, forward (inference, training) and backward.
Prints one line per distinct
compile and exits non-zero if any fails. Must run without TRITON_INTERPRET.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from unittest import mock

import torch

_PTR = {torch.float32: "*fp32", torch.bfloat16: "*bf16", torch.int32: "*i32",
        torch.int64: "*i64", torch.float64: "*fp64"}


# (dtype, H, TF32, split-H): one hidden block (weights resident), several (streamed), and
# the split-H kernels (H = 256: the benchmark's mid shape) as on the GPU, exact fp32 by
# multiply + sum, TF32 and bf16 by tl.dot; PHASE=0, the one-launch form with barriers;
# H = 512: split_max_hp; split 2: programs serving two batch blocks each (NBJ = 2);
# H = 1024: past split_max_hp, so the weights are streamed in chunks (the large shape).
VARIANTS = ((torch.float32, 48, False, False), (torch.float32, 200, True, False),
            (torch.bfloat16, 64, False, False), (torch.float32, 256, False, True),
            (torch.float32, 256, True, True), (torch.bfloat16, 256, False, True),
            (torch.bfloat16, 512, False, True), (torch.float32, 256, True, 2),
            (torch.bfloat16, 1024, False, True))


def _signature(fn, args: tuple, kwargs: dict) -> tuple[dict, dict, dict]:
    """(signature, constexprs, options) of one launch of the JITFunction ``fn``."""
    names = fn.arg_names
    values = dict(zip(names, args, strict=False)) | {k: v for k, v in kwargs.items()
                                                     if k in names}
    options = {k: v for k, v in kwargs.items() if k not in names}
    sig, const = {}, {}
    for p in fn.params:
        v = values[p.name]
        if p.is_constexpr:
            sig[p.name] = "constexpr"
            const[p.name] = v
        elif isinstance(v, torch.Tensor):
            sig[p.name] = _PTR[v.dtype]
        elif isinstance(v, bool):
            sig[p.name] = "i1"
        elif isinstance(v, int):
            sig[p.name] = "i32" if -2**31 <= v < 2**31 else "i64"
        else:
            sig[p.name] = "fp32"
    return sig, const, options


def _launches(dtype: torch.dtype, hidden: int, tf32: bool, split: bool) -> list[tuple]:
    """Every kernel launch (fn, args, kwargs) the backends make for one variant."""
    import triton.language as tl
    from triton.runtime.jit import JITFunction

    from grukit.ops import _triton
    from grukit.ops.gru.triton import gru_triton
    from grukit.ops.lngru.triton import lngru_triton
    from grukit.ops.lstm.triton import lstm_triton
    from grukit.ops.mingru.triton import mingru_triton

    seen: list[tuple] = []

    def run(self, *args, grid, warmup, **kwargs):
        seen.append((self, args, kwargs))

    # the plans a GPU of 132 SMs gets: bf16 dots for bf16, TF32 or exact fp32 (split_sum
    # None: an ieee dot; split_sum=True, multiply + sum, runs in the split-H tests)
    cuda = _triton.Target(True, 132, dtype == torch.float32,
                          tl.bfloat16 if dtype == torch.bfloat16 else tl.float32,
                          "tf32" if tf32 else "ieee", False)
    settings = _triton.TritonSettings(
        split=bool(split), split_max_programs=(hidden + 15) // 16 if split == 2 else None)
    b, t, i, h = 20, 3, 5, hidden
    x = torch.randn(b, t, i, dtype=dtype, requires_grad=True)
    h0 = torch.zeros(b, h, dtype=dtype)
    lens = torch.tensor([t] * (b - 1) + [1])

    def w(*shape):
        return torch.randn(*shape, dtype=dtype, requires_grad=True)

    with mock.patch.object(JITFunction, "run", run), \
            mock.patch.object(_triton, "target", lambda _x: cuda):  # the device's facts
        for reset_after in (True, False):
            args = (x, w(3 * h, i), w(3 * h, h), w(3 * h), w(3 * h) if reset_after else None)
            kw = dict(h0=h0, lengths=lens, reset_after=reset_after, reverse=False,
                      settings=settings)
            y, hn = gru_triton(*args, **kw)  # training: forward with saved gates
            (y.float().sum() + hn.float().sum()).backward()
            with torch.no_grad():
                gru_triton(*args, **kw)  # inference
        args = (x, w(4 * h, i), w(4 * h, h), w(4 * h), w(4 * h))
        kw = dict(h0=(h0, h0), lengths=lens, weight_hr=None, reverse=False, settings=settings)
        y, (hn, cn) = lstm_triton(*args, **kw)
        y.float().sum().backward()
        with torch.no_grad():
            lstm_triton(*args, **kw)
        y, hn = mingru_triton(x, w(2 * h, i), w(2 * h), h0=h0, lengths=lens, mode="parallel",
                              reverse=False, settings=settings)
        y.float().sum().backward()
        for reset_after in (True, False) if h <= settings.max_block_h else ():  # one block
            args = (x, w(3 * h, i), w(3 * h, h), w(3 * h), w(3 * h) if reset_after else None,
                    w(3 * h), w(3 * h), w(3 * h), w(3 * h))
            kw = dict(h0=h0, lengths=lens, reset_after=reset_after, reverse=False,
                      settings=settings)
            y, hn = lngru_triton(*args, **kw)
            (y.float().sum() + hn.float().sum()).backward()
            with torch.no_grad():
                lngru_triton(*args, **kw)
    return seen


def _resources(cubin: bytes) -> str:
    """Registers per thread and stack (spill) bytes of a cubin, read by the cuobjdump in
    Triton's wheel; empty when it is not there."""
    import re
    import subprocess
    import tempfile

    import triton.backends.nvidia as nv

    tool = os.path.join(os.path.dirname(nv.__file__), "bin", "cuobjdump")
    if not os.path.exists(tool):
        return ""
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        out = subprocess.run([tool, "--dump-resource-usage", f.name], capture_output=True,
                             text=True).stdout
    m = re.search(r"REG:(\d+) STACK:(\d+)", out)
    return f", {m[1]} registers, stack {m[2]} B" if m else ""


def _compile_in_child(fn, sig: dict, const: dict, target, options: dict) -> tuple[bool, str]:
    """Compile one launch down to a cubin in a forked child: a compiler that aborts (an LLVM
    assertion) kills the child only, and is reported like any other failure."""
    import triton
    from triton.compiler import ASTSource

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        try:
            c = triton.compile(ASTSource(fn, sig, const), target=target, options=options)
            msg, code = f"shared memory {c.metadata.shared} B{_resources(c.asm['cubin'])}", 0
        except Exception as err:  # noqa: BLE001 - the parent reports it
            cause = f" (cause: {err.__cause__!r:.800})" if err.__cause__ else ""
            msg, code = f"{type(err).__name__}: {str(err)[:1500]}{cause}", 1
        os.write(write, msg.encode())
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        msg = f.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return False, f"the compiler died with signal {os.WTERMSIG(status)} (see stderr)"
    return os.WEXITSTATUS(status) == 0, msg


JOBS: list[tuple] = []  # (label, fn, signature, constexprs, target, options)


def _job(i: int) -> tuple[bool, str, float]:
    """Compile JOBS[i] (in a worker forked after JOBS was filled): (ok, detail, seconds)."""
    label, *job = JOBS[i]
    t0 = time.perf_counter()
    ok, detail = _compile_in_child(*job)
    return ok, detail, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90, help="compute capability, 90 = H100")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="compiles at once (default: one a CPU)")
    args = parser.parse_args()
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        print("unset TRITON_INTERPRET: the interpreter builds no GPU code", file=sys.stderr)
        return 2
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from triton.backends.compiler import GPUTarget

    target = GPUTarget("cuda", args.arch, 32)
    done = set()
    for dtype, hidden, tf32, split in VARIANTS:
        for fn, a, kw in _launches(dtype, hidden, tf32, split):
            if split and "split" not in fn.__name__:
                continue  # the other kernels at this H: covered by the variants before
            sig, const, options = _signature(fn, a, kw)
            key = (fn.__qualname__, fn.__module__, tuple(sig.items()),
                   tuple((k, str(v)) for k, v in const.items()))
            if key in done:
                continue
            done.add(key)
            label = (f"{fn.__module__.rsplit('.', 2)[-2]}.{fn.__name__} "
                     f"{dtype} H={hidden}{' split-H' if split else ''} "
                     + " ".join(f"{k}={v}" for k, v in const.items() if k not in ("BB",)))
            JOBS.append((label, fn, sig, const, target, options))
    failed = 0
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("fork")) as ex:
        for (label, *_), (ok, detail, secs) in zip(JOBS, ex.map(_job, range(len(JOBS))),
                                                   strict=True):
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {label}: {secs:.1f} s, {detail}", flush=True)
    print(f"{len(JOBS)} launches compiled for sm_{args.arch}, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
