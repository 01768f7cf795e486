"""GPU speed: grukit's Triton kernels against cuDNN (torch.nn.GRU / torch.nn.LSTM), same run.

    python benchmarks/bench_gpu.py                      # every shape, precision and model
    python benchmarks/bench_gpu.py --shapes mid --precisions fp32 tf32
    python benchmarks/bench_gpu.py --shapes seed mid --num-warps 4 8   # warps per program
    python benchmarks/bench_gpu.py --shapes mid long --set split=auto,off split_sum=on,off

Before timing a case it checks grukit against the plain-torch reference (outputs, and the
gradients of x, the weights and h0 where ``--grad-check`` allows). Then it times forward
(no grad) and forward + backward of grukit's Triton kernels, of cuDNN and of grukit with
``backend="auto"`` (the "auto" column names the backend it took: cuDNN through "torch" for a
small cuDNN-form GRU), interleaved round by round, each figure the median of
``triton.testing.do_bench`` medians. ``--set`` times each combination of kernel settings
(fields of grukit's ``TritonSettings``, each combination run within ``triton_settings``); the
"kernels" column says which recurrent kernels
ran: "split a×b" (the split-H kernels on an a×b grid) or "rows" (a program per batch block).
Precisions are matched on both sides:

    fp32  exact fp32 (TF32 off for matmuls and cuDNN)
    tf32  TF32 allowed for matmuls and cuDNN
    bf16  bf16 inputs and weights (fp32 accumulation)

Models and the anchors each is timed against in the same run: GRU reset_after=True (cuDNN's
form; anchor cuDNN), GRU reset_after=False (no cuDNN form: anchors the cuDNN GRU and the
eager torch loop, grukit's reference), LSTM (cuDNN), minGRU (the plain-torch log-space scan,
grukit's reference in parallel mode; its check uses the sequential reference). An anchor
whose one call takes over --max-call-s is left out. Each row carries the FLOPs and the bytes
of the call and the floor they imply at the GPU's peak (``--peak-tflops``, ``--peak-gbs``):
the recurrent matmul costs 2·B·G·H² FLOPs per step (G = 3 for a GRU, 4 for an LSTM), the
input projection 2·B·T·I·G·H once; backward about twice forward. Prints JSON lines, a
Markdown table and the issue's targets met or not (``gpu_report.py``), and writes them under
$OUT when it is set.

``--smoke`` runs the same code on the CPU under Triton's interpreter on a tiny shape (timings
meaningless): CI's check that this script works before a GPU session spends time on it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import gpu_report
import torch

SHAPES = {"seed": (32, 100, 1, 64), "mid": (64, 512, 256, 256),
          "large": (256, 1000, 512, 1024), "long": (16, 4096, 256, 256)}
SMOKE_SHAPE = (3, 5, 2, 20)
PRECISIONS = ("fp32", "tf32", "bf16")
MODELS = ("gru", "gru_reset_before", "lstm", "mingru")
DEV = "cuda"  # "cpu" with --smoke
# H100 SXM dense peaks (TFLOP/s): fp32 without tensor cores, TF32 and bf16 tensor cores.
PEAK_TFLOPS = {"fp32": 67.0, "tf32": 495.0, "bf16": 990.0}
PEAK_GBS = 3350.0
TOL = {"fp32": (1e-3, 1e-4), "tf32": (3e-2, 3e-3), "bf16": (8e-2, 8e-2)}  # rtol, atol


def set_precision(prec: str) -> torch.dtype:
    tf32 = prec == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    return torch.bfloat16 if prec == "bf16" else torch.float32


def cost(shape, gates: int, dtype: torch.dtype, train: bool,
         recurrent: bool = True) -> tuple[float, float]:
    """(FLOPs, bytes) of one call: recurrent (unless minGRU) and input GEMMs; x, y, gi,
    weights moved once."""
    b, t, i, h = shape
    elt = 2 if dtype == torch.bfloat16 else 4
    flops = 2.0 * b * t * gates * h * (h * recurrent + i)
    nbytes = elt * (b * t * (i + h + 2 * gates * h) + gates * h * (h * recurrent + i))
    if train:
        flops *= 3  # dgi·W_hh per step, dW_hh, dW_ih and dx GEMMs
        nbytes = 3 * nbytes + 4 * b * t * gates * h * 2  # fp32 saved gates written and read
    return flops, nbytes


def build(model: str, shape, dtype):
    """(grukit(backend), anchors {name: call}, oracle(), inputs, auto's backend) on the same
    weights; every call returns a list of outputs."""
    from grukit import ops

    b, t, i, h = shape
    torch.manual_seed(0)

    def r(*size, scale=1.0):
        return (torch.randn(*size, device=DEV) * scale).to(dtype).requires_grad_()

    x, h0, c0 = r(b, t, i), r(b, h), r(b, h)
    if model == "mingru":
        w, bias = r(2 * h, i, scale=i ** -0.5), r(2 * h)

        def grukit(backend="triton", mode="parallel"):
            return list(ops.mingru(x, w, bias, h0=h0, mode=mode, backend=backend))

        auto = ops.dispatch.explain("mingru", "auto", x=x, h0=h0, mode="parallel")[0]
        return grukit, {"torch scan": lambda: grukit("reference")}, \
            lambda: grukit("reference", mode="sequential"), [x, w, bias, h0], auto
    lstm = model == "lstm"
    mod = (torch.nn.LSTM if lstm else torch.nn.GRU)(i, h, batch_first=True).to(DEV).to(dtype)
    w_ih, w_hh, b_ih, b_hh = mod.weight_ih_l0, mod.weight_hh_l0, mod.bias_ih_l0, mod.bias_hh_l0
    reset_after = model != "gru_reset_before"
    if not reset_after:
        b_hh = None

    def grukit(backend="triton"):
        if lstm:
            y, (hn, cn) = ops.lstm(x, w_ih, w_hh, b_ih, b_hh, h0=(h0, c0), backend=backend)
            return [y, hn, cn]
        y, hn = ops.gru(x, w_ih, w_hh, b_ih, b_hh, h0=h0, reset_after=reset_after,
                        backend=backend)
        return [y, hn]

    def cudnn():
        if lstm:
            y, (hn, cn) = mod(x, (h0.unsqueeze(0), c0.unsqueeze(0)))
            return [y, hn[0], cn[0]]
        y, hn = mod(x, h0.unsqueeze(0))
        return [y, hn[0]]

    anchors = {"cuDNN": cudnn}
    if not reset_after:
        anchors["eager loop"] = lambda: grukit("reference")
    inputs = [x, w_ih, w_hh, b_ih, h0] + ([b_hh] if b_hh is not None else []) + \
        ([c0] if lstm else [])
    call = dict(x=x, h0=(h0, c0), weight_hr=None) if lstm else \
        dict(x=x, h0=h0, reset_after=reset_after)
    auto = ops.dispatch.explain("lstm" if lstm else "gru", "auto", **call)[0]
    return grukit, anchors, lambda: grukit("reference"), inputs, auto


def check(grukit, oracle, inputs, prec: str, grads: bool) -> dict:
    """Largest deviation of grukit (triton) from the reference, outputs and gradients."""
    rtol, atol = TOL[prec]

    def run(call):
        outs = call()
        if not grads:
            return [o.detach() for o in outs]
        gen = torch.Generator(device=DEV).manual_seed(1)
        loss = sum((o.float() * torch.randn(o.shape, device=DEV, generator=gen)).sum()
                   for o in outs)
        return [o.detach() for o in outs] + list(torch.autograd.grad(loss, inputs))

    with torch.set_grad_enabled(grads):
        ref, got = run(oracle), run(grukit)
    worst, ok = 0.0, True
    for a, b in zip(ref, got, strict=True):
        err = (b.float() - a.float()).abs()
        worst = max(worst, err.max().item())
        ok &= bool((err <= atol + rtol * a.float().abs()).all())
    return {"max_abs_err": worst, "ok": ok, "checked": "outputs+grads" if grads else "outputs"}


def timed(fns: dict, rounds: int) -> dict[str, float]:
    """Median over rounds of do_bench medians (ms), the variants interleaved round by round."""
    from triton.testing import do_bench

    def once(f):  # --smoke: the CPU has no CUDA events; any figure will do
        t0 = time.perf_counter()
        f()
        return 1e3 * (time.perf_counter() - t0)

    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            times[k].append(once(f) if DEV == "cpu" else
                            do_bench(f, warmup=25, rep=100, return_mode="median"))
    return {k: statistics.median(v) for k, v in times.items()}


def seconds(f) -> float:
    """Wall time of one call, synchronised."""
    sync = torch.cuda.synchronize if DEV == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    f()
    sync()
    return time.perf_counter() - t0


def bench_case(name, shape, prec, model, args, emit) -> None:
    dtype = set_precision(prec)
    grukit, anchors, oracle, inputs, auto = build(model, shape, dtype)
    gates = {"lstm": 4, "mingru": 2}.get(model, 3)
    import dataclasses

    from grukit.ops import _triton

    plan = _triton.split_plan(inputs[0], shape[3], gates) if model != "mingru" else None
    row = {"shape": name, "B,T,I,H": list(shape), "precision": prec, "model": model,
           "settings": dataclasses.asdict(_triton.current_settings()),
           "kernels": "scan" if model == "mingru" else
           f"split {plan.grid[0]}×{plan.grid[1]}" if plan else "rows"}
    try:
        row.update(check(grukit, oracle, inputs, prec,
                         grads=shape[1] * shape[0] <= args.grad_check))
    except Exception as err:  # a kernel that fails to compile or run is a result, not a crash
        emit({**row, "error": f"check: {type(err).__name__}: {err}"})
        return
    if "cuDNN" in anchors and model != "gru_reset_before":  # the same function as grukit's
        # the yardstick: cuDNN's own deviation from the same reference; a kernel that
        # deviates no more than cuDNN passes ("ok ≤ cuDNN")
        try:
            row["cudnn_err"] = check(anchors["cuDNN"], oracle, inputs, prec,
                                     grads=row["checked"] == "outputs+grads")["max_abs_err"]
            row["ok_vs_cudnn"] = row["max_abs_err"] <= row["cudnn_err"]
        except Exception:  # noqa: BLE001 - an anchor that cannot run is reported when timed
            pass
    dy = [torch.randn_like(o) for o in grukit()]
    for who, f in [("grukit", grukit)] + list(anchors.items()):
        once = seconds(f)  # timing takes dozens of calls: keep the GPU's time for others
        if once > args.max_call_s:
            emit({**row, "anchor": who, "error": f"one forward call of {who} took "
                                                  f"{once:.1f} s > --max-call-s; not timed"})
            if who == "grukit":
                return
            del anchors[who]

    def fwd(f):
        def run():
            with torch.no_grad():
                f()
        return run

    def train(f):
        def run():
            torch.autograd.grad(f(), inputs, dy)
        return run

    for mode, wrap, is_train in (("fwd", fwd, False), ("fwd+bwd", train, True)):
        calls = {"grukit": wrap(grukit), "auto": wrap(lambda: grukit("auto"))} | \
            {k: wrap(f) for k, f in anchors.items()}
        # one call each first: a call that fails (the auto backend, an anchor) is reported on
        # its own row and left out, instead of costing the mode every other figure
        for who in list(calls):
            try:
                calls[who]()
            except Exception as err:
                emit({**row, "mode": mode, "anchor": who,
                      "error": f"{type(err).__name__}: {err}"})
                del calls[who]
        if "grukit" not in calls:
            continue
        try:
            t = timed(calls, args.rounds)
        except Exception as err:
            emit({**row, "mode": mode, "error": f"{type(err).__name__}: {err}"})
            continue
        flops, nbytes = cost(shape, gates, dtype, is_train, recurrent=model != "mingru")
        floor = max(flops / (args.peak_tflops[prec] * 1e9), nbytes / (args.peak_gbs * 1e6))
        for anchor in [a for a in anchors if a in t]:
            emit({**row, "mode": mode, "grukit_ms": t["grukit"], "anchor": anchor,
                  "anchor_ms": t[anchor], "speedup": t[anchor] / t["grukit"],
                  "auto_backend": auto, "auto_ms": t.get("auto", float("nan")),
                  "us_per_step": 1e3 * t["grukit"] / shape[1], "gflop": flops / 1e9,
                  "mbytes": nbytes / 1e6, "floor_ms": floor,
                  "grukit_tflops": flops / (t["grukit"] * 1e9)})


def settings_names() -> tuple[str, ...]:
    """The kernel settings --set can sweep: the fields of TritonSettings."""
    import dataclasses

    from grukit.ops import _triton

    return tuple(f.name for f in dataclasses.fields(_triton.TritonSettings))


WORDS = {"auto": None, "on": True, "off": False}  # how --set writes None, True, False


def sweep(pairs: list[str], num_warps: list[int] | None) -> list[dict]:
    """Every combination of the settings in ``pairs`` ("name=V1,V2", any case): a list of
    dicts, each checked by building the TritonSettings it makes."""
    import itertools

    from grukit.ops import _triton

    names = settings_names()
    axes = {"num_warps": num_warps} if num_warps else {}
    for pair in pairs:
        name, _, values = pair.partition("=")
        name = name.lower()
        try:
            if name not in names or not values:
                raise ValueError
            axes[name] = [WORDS[v] if v in WORDS else int(v) for v in values.split(",")]
        except ValueError:
            raise SystemExit(f"--set {pair!r}: expected name=V1,V2 (integers, or auto, on, "
                             f"off) with name one of {', '.join(names)}") from None
    combos = [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]
    for combo in combos:
        try:
            _triton.TritonSettings(**combo)
        except ValueError as err:
            raise SystemExit(f"--set: {err}") from None
    return combos


def shown(settings: dict) -> str:
    """"NAME=value ..." with None, True, False written auto, on, off."""
    def word(v):
        return {None: "auto", True: "on", False: "off"}[v] if v is None or isinstance(v, bool) \
            else str(v)
    return " ".join(f"{k}={word(v)}" for k, v in settings.items()) or "defaults"


def machine() -> dict:
    import triton

    if DEV == "cpu":
        return {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                "triton": triton.__version__, "interpreter": True}
    p = torch.cuda.get_device_properties(0)
    return {"gpu": p.name, "sms": p.multi_processor_count, "torch": torch.__version__,
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "triton": triton.__version__, "python": platform.python_version()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-call-s", type=float, default=1.0,
                    help="skip timing a case whose first forward call (after the check) "
                         "takes longer than this")
    ap.add_argument("--num-warps", nargs="+", type=int, default=None,
                    help="time the recurrences with each of these warps per program "
                         "(default: grukit's own, TritonSettings.num_warps)")
    ap.add_argument("--set", nargs="+", default=[], metavar="name=V1,V2",
                    help="time each combination of these kernel settings (fields of "
                         "TritonSettings; auto, on, off for None, True, False), e.g. "
                         "--set split=auto,off split_sum=on,off")
    ap.add_argument("--grad-check", type=int, default=64 * 512,
                    help="check gradients too where B·T is at most this")
    ap.add_argument("--smoke", action="store_true",
                    help=f"CPU, Triton's interpreter, shape {SMOKE_SHAPE}, fp32: checks the "
                         f"script, not the speed")
    ap.add_argument("--peak-gbs", type=float, default=PEAK_GBS)
    ap.add_argument("--peak-tflops", type=json.loads, default=PEAK_TFLOPS,
                    help='JSON, e.g. \'{"fp32": 67, "tf32": 495, "bf16": 990}\'')
    args = ap.parse_args(argv)
    global DEV
    shapes = {name: SHAPES[name] for name in args.shapes}
    if args.smoke:  # before grukit loads its kernels: triton reads this then
        os.environ["TRITON_INTERPRET"] = "1"
        DEV, shapes, args.precisions = "cpu", {"tiny": SMOKE_SHAPE}, ["fp32"]
        args.max_call_s = float("inf")  # the interpreter's seconds a call say nothing
    elif not torch.cuda.is_available():
        print("bench_gpu.py needs a CUDA GPU: torch.cuda.is_available() is False here; "
              "nothing was measured.", file=sys.stderr)
        return 2
    try:
        import triton  # noqa: F401
    except ImportError:
        print("bench_gpu.py needs triton: pip install triton.", file=sys.stderr)
        return 2
    if not args.smoke and os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        print("unset TRITON_INTERPRET: the interpreter is not a GPU.", file=sys.stderr)
        return 2
    out_dir = os.environ.get("OUT")
    rows: list[dict] = []
    lines = [json.dumps({"machine": machine(), "argv": sys.argv})]
    print(lines[0], flush=True)

    def emit(row):
        rows.append(row)
        lines.append(json.dumps(row))
        print(lines[-1], flush=True)

    from grukit.ops import _triton

    for combo in sweep(args.set, args.num_warps):
        for name, shape in shapes.items():
            for prec in args.precisions:
                for model in args.models:
                    with _triton.triton_settings(**combo):  # the defaults and combo
                        bench_case(name, shape, prec, model, args,
                                   lambda row, c=combo: emit({**row, "swept": shown(c)}))
                    if DEV == "cuda":
                        torch.cuda.empty_cache()
    md = gpu_report.table(rows) + "\n" + gpu_report.targets(rows)
    print("\n" + md)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "bench_gpu.jsonl"), "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(out_dir, "bench_gpu.md"), "w") as f:
            f.write(md)
    return 0 if all(r.get("ok", False) for r in rows if "error" not in r) else 1


if __name__ == "__main__":
    sys.exit(main())
