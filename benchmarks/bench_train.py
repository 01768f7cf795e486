"""A whole training step of the article's model, GRU against LSTM, grukit against Keras 3.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_train.py

The model is the article's one code example, ``Sequential([GRU(64, input_shape=(100, 1)),
Dense(1)])`` compiled with adam/mse, trained on batches of 32. Each variant trains one
epoch of ``--steps`` batches per round (milliseconds per step = the epoch's wall time over
its steps, so fit's per-epoch work counts as a user meets it); the rounds of all variants
are interleaved so that drift on the machine hits them alike, and each time printed is the
median of ``--repeat`` rounds after ``--warmup`` rounds:

- grukit GRU / LSTM through ``Sequential.fit`` (``grukit.layers``);
- the same compiled models in a plain loop (zero_grad, forward, mse, backward, step over
  batches cut in advance): what is left when fit's own work is taken away;
- with ``--compiled``, the same loop over ``torch.compile(model, fullgraph=True)`` (the
  fused kernels as torch custom ops), beside the eager loop, and ``fit`` of the models
  compiled with ``jit_compile=True`` (forward and loss through ``torch.compile``), and
  torch's own cost of a compiled training step: one ``torch.nn.Linear`` on the flattened
  batch, eager and compiled, in the same loop (next to no work, so its compiled − eager
  time is what AOTAutograd's wrappers, the guards and the graph call add to every step);
- ``torch.nn.GRU`` / ``torch.nn.LSTM`` + ``torch.nn.Linear`` in the same plain loop;
- Keras 3 on its torch backend (``KERAS_BACKEND=torch``): ``model.fit`` with the same data.

Prints one JSON line per variant, a Markdown table, then the ratios the article's claims
rest on (GRU/LSTM per path, Keras/grukit, grukit GRU against torch's LSTM loop).
``--isolated`` times each variant in a process of its own (what a program training one
model sees: no variant meets the allocator state another left); ``--before COMMIT`` adds
fit as it was at COMMIT; ``--profile`` profiles fit instead;
``--threads 1`` takes the thread pools out of the picture (on a busy machine, CPU time
measured at one thread is what stays comparable between runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

if os.environ.setdefault("KERAS_BACKEND", "torch") != "torch":
    sys.exit(f"bench_train.py compares against Keras on its torch backend; unset "
             f"KERAS_BACKEND or set it to 'torch' (got {os.environ['KERAS_BACKEND']!r}).")

import torch  # noqa: E402

B, T, F, H = 32, 100, 1, 64  # the article's shape (DESIGN.md §5 "seed")


def data(steps: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(steps * B, T, F, generator=g)  # (N, T, F)
    y = x[:, -10:, 0].mean(1, keepdim=True)  # (N, 1): something learnable
    return x, y


def grukit_model(cell: str, jit_compile: bool = False):
    from grukit.layers import GRU, LSTM, Dense
    from grukit.models import Sequential

    torch.manual_seed(0)
    layer = {"GRU": GRU, "LSTM": LSTM}[cell]
    model = Sequential([layer(H, input_shape=(T, F)), Dense(1)])
    model.compile(optimizer="adam", loss="mse", jit_compile=jit_compile)
    return model


class TorchModel(torch.nn.Module):
    """torch.nn's GRU or LSTM and a Linear on its last state: the article's model in torch."""

    def __init__(self, cell: str):
        super().__init__()
        torch.manual_seed(0)
        self.rnn = {"GRU": torch.nn.GRU, "LSTM": torch.nn.LSTM}[cell](F, H, batch_first=True)
        self.dense = torch.nn.Linear(H, 1)

    def forward(self, x):
        y, _ = self.rnn(x)  # (B, T, H)
        return self.dense(y[:, -1])  # (B, 1)


class Floor(torch.nn.Module):
    """A Linear on the flattened window, (B, T, F) -> (B, 1): a training step with next to
    no work, so that compiled − eager is torch.compile's own cost per step."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.dense = torch.nn.Linear(T * F, 1)

    def forward(self, x):
        return self.dense(x.flatten(1))  # (B, 1)


def plain_loop(model, optimizer, x, y):
    """One epoch as a hand-written torch loop over batches cut in advance."""
    xs, ys = x.split(B), y.split(B)
    loss_fn = torch.nn.functional.mse_loss

    def epoch():
        model.train()
        for xb, yb in zip(xs, ys, strict=True):
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
    return epoch


def keras_fit(cell: str, x, y):
    import keras

    keras.utils.set_random_seed(0)
    layer = {"GRU": keras.layers.GRU, "LSTM": keras.layers.LSTM}[cell]
    model = keras.Sequential([keras.Input((T, F)), layer(H), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    xn, yn = x.numpy(), y.numpy()

    def epoch():
        model.fit(xn, yn, batch_size=B, epochs=1, verbose=0, shuffle=True)
    return epoch


def before(commit: str):
    """``run_fit`` and the optimizer table of ``src/grukit/models/{fit,training}.py`` at
    ``commit`` (read with ``git show``), loaded beside today's package, so that the engine of
    then and of now can be timed in one interleaved run."""
    import importlib.util
    import subprocess
    import tempfile

    import grukit.models  # noqa: F401  (the package the old modules import from)

    mods = {}
    for name in ("fit", "training"):
        try:
            text = subprocess.run(["git", "show", f"{commit}:src/grukit/models/{name}.py"],
                                  check=True, capture_output=True, text=True).stdout
        except (OSError, subprocess.CalledProcessError) as err:
            sys.exit(f"--before {commit}: cannot read src/grukit/models/{name}.py there ({err})")
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write(text)
        spec = importlib.util.spec_from_file_location(f"grukit.models.{name}_{commit}", f.name)
        mods[name] = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mods[name])
        finally:
            os.unlink(f.name)
    return mods["fit"].run_fit, mods["training"].OPTIMIZERS


def variants(steps: int, keras: bool, commit: str | None = None,
             compiled: bool = False) -> dict:
    x, y = data(steps)
    out = {}
    if commit:
        run_fit, optimizers = before(commit)
        for cell in ("GRU", "LSTM"):
            m = grukit_model(cell)
            m.optimizer = optimizers["adam"](m.parameters())
            out[f"grukit {cell} fit @{commit}"] = (
                lambda m=m: run_fit(m, x, y, batch_size=B, epochs=1, verbose=0, callbacks=None,
                                    validation_data=None, shuffle=True, seed=0,
                                    resume_from=None))
    for cell in ("GRU", "LSTM"):
        m = grukit_model(cell)
        out[f"grukit {cell} fit"] = (lambda m=m: m.fit(x, y, batch_size=B, epochs=1,
                                                       verbose=0, seed=0))
    for cell in ("GRU", "LSTM"):
        m = grukit_model(cell)
        out[f"grukit {cell} loop"] = plain_loop(m, m.optimizer, x, y)
    if compiled:
        for cell in ("GRU", "LSTM"):
            m = grukit_model(cell)
            out[f"grukit {cell} loop compiled"] = plain_loop(
                torch.compile(m, fullgraph=True), m.optimizer, x, y)
        for cell in ("GRU", "LSTM"):
            m = grukit_model(cell, jit_compile=True)
            out[f"grukit {cell} fit jit_compile"] = (
                lambda m=m: m.fit(x, y, batch_size=B, epochs=1, verbose=0, seed=0))
        for name, wrap in (("", lambda m: m),
                           (" compiled", lambda m: torch.compile(m, fullgraph=True))):
            m = Floor()
            out[f"torch Linear loop{name}"] = plain_loop(
                wrap(m), torch.optim.Adam(m.parameters(), 1e-3), x, y)
    for cell in ("GRU", "LSTM"):
        m = TorchModel(cell)
        out[f"torch.nn {cell} loop"] = plain_loop(m, torch.optim.Adam(m.parameters(), 1e-3),
                                                  x, y)
    if keras:
        for cell in ("GRU", "LSTM"):
            out[f"Keras 3 {cell} fit"] = keras_fit(cell, x, y)
    return out


def interleaved(fns: dict, steps: int, repeat: int, warmup: int):
    """-> (wall, cpu): ms per step of each round, by variant; cpu is the process's CPU time
    (all its threads, spinning included), steadier than wall time on a shared machine."""
    for _ in range(warmup):
        for f in fns.values():
            f()
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(repeat):
        for k, f in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            wall[k].append((time.perf_counter() - t0) / steps * 1e3)  # ms per step
            cpu[k].append((time.process_time() - c0) / steps * 1e3)
    return wall, cpu


def isolated(names: list[str], argv: list[str]):
    """-> (wall, cpu) as ``interleaved``'s, each variant run by this script in a process of
    its own (``--exact NAME``)."""
    import subprocess

    argv = [a for a in argv if a != "--isolated"]
    wall, cpu = {}, {}
    for name in names:
        out = subprocess.run([sys.executable, __file__, *argv, "--exact", name, "--rounds-json"],
                             capture_output=True, text=True, check=True).stdout
        rounds = next(json.loads(line) for line in out.splitlines()
                      if line.startswith('{"rounds"'))["rounds"]
        wall[name], cpu[name] = rounds["wall"], rounds["cpu"]
    return wall, cpu


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "load_avg_1m": load and round(load[0], 2),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "unset")}


def ratios(ms: dict[str, float]) -> dict[str, float]:
    pairs = {"GRU/LSTM, grukit fit": ("grukit GRU fit", "grukit LSTM fit"),
             "GRU/LSTM, grukit loop": ("grukit GRU loop", "grukit LSTM loop"),
             "GRU/LSTM, torch.nn loop": ("torch.nn GRU loop", "torch.nn LSTM loop"),
             "GRU/LSTM, Keras 3 fit": ("Keras 3 GRU fit", "Keras 3 LSTM fit"),
             "grukit GRU fit / loop (fit's own cost)": ("grukit GRU fit", "grukit GRU loop"),
             "grukit LSTM fit / loop (fit's own cost)": ("grukit LSTM fit", "grukit LSTM loop"),
             "grukit GRU loop, compiled / eager": ("grukit GRU loop compiled",
                                                   "grukit GRU loop"),
             "grukit LSTM loop, compiled / eager": ("grukit LSTM loop compiled",
                                                    "grukit LSTM loop"),
             "grukit GRU fit, jit_compile / eager": ("grukit GRU fit jit_compile",
                                                     "grukit GRU fit"),
             "grukit LSTM fit, jit_compile / eager": ("grukit LSTM fit jit_compile",
                                                      "grukit LSTM fit"),
             "grukit GRU fit / torch.nn LSTM loop": ("grukit GRU fit", "torch.nn LSTM loop"),
             "grukit GRU fit / torch.nn GRU loop": ("grukit GRU fit", "torch.nn GRU loop"),
             "Keras 3 GRU / grukit GRU (fit)": ("Keras 3 GRU fit", "grukit GRU fit"),
             "Keras 3 LSTM / grukit LSTM (fit)": ("Keras 3 LSTM fit", "grukit LSTM fit")}
    for k in ms:
        if " @" in k:
            now = k.split(" @")[0]
            pairs[f"{now} now / at {k.split(' @')[1]}"] = (now, k)
    return {k: round(ms[a] / ms[b], 3) for k, (a, b) in pairs.items() if a in ms and b in ms}


def profile(steps: int) -> None:
    import cProfile
    import pstats

    x, y = data(steps)
    model = grukit_model("GRU")
    model.fit(x, y, batch_size=B, epochs=2, verbose=0, seed=0)  # warm-up
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    model.fit(x, y, batch_size=B, epochs=4, verbose=0, seed=0)
    prof.disable()
    print(f"{4 * steps} steps")
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="rounds timed (median)")
    parser.add_argument("--warmup", type=int, default=2, help="rounds run before timing")
    parser.add_argument("--steps", type=int, default=32, help="batches of 32 per round")
    parser.add_argument("--no-keras", action="store_true", help="leave Keras 3 out")
    parser.add_argument("--before", metavar="COMMIT", help="also time fit and compile's "
                        "Adam as they were at COMMIT (e.g. ead1ca1), interleaved with today's")
    parser.add_argument("--profile", action="store_true", help="instead of timing: cProfile "
                        "(CPU time) of 4 epochs of the GRU model's fit, its 25 costliest calls")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's); the "
                        "fused kernels follow torch's count")
    parser.add_argument("--compiled", action="store_true", help="also time the grukit "
                        "loops on torch.compile(model, fullgraph=True)")
    parser.add_argument("--only", default="", help="comma-separated substrings: keep the "
                        "variants whose name contains one (e.g. 'fit,torch.nn')")
    parser.add_argument("--isolated", action="store_true", help="time each variant in a "
                        "process of its own (one after another, not interleaved), so that no "
                        "variant meets the allocator state another left: what a program that "
                        "trains one model sees")
    parser.add_argument("--exact", help=argparse.SUPPRESS)  # one variant, by its full name
    parser.add_argument("--rounds-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in ("repeat", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1; got {getattr(args, name)}.")
    if args.warmup < 0:
        parser.error(f"--warmup must be 0 or more; got {args.warmup}.")
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be at least 1; got {args.threads}.")
        torch.set_num_threads(args.threads)
    print(json.dumps({"machine": machine()}), flush=True)
    if args.profile:
        return profile(args.steps)
    fns = variants(args.steps, keras=not args.no_keras, commit=args.before,
                   compiled=args.compiled)
    if args.exact:
        fns = {args.exact: fns[args.exact]}
    if args.only:
        keep = [s.strip() for s in args.only.split(",") if s.strip()]
        names = sorted(fns)
        fns = {k: f for k, f in fns.items() if any(s in k for s in keep)}
        if not fns:
            parser.error(f"--only {args.only!r} keeps no variant; the names are {names}.")
    if args.isolated:
        times, cpu_times = isolated(list(fns), sys.argv[1:])
    else:
        times, cpu_times = interleaved(fns, args.steps, args.repeat, args.warmup)
    if args.rounds_json:  # for --isolated: this process's rounds, nothing else
        k = next(iter(times))
        print(json.dumps({"rounds": {"wall": times[k], "cpu": cpu_times[k]}}), flush=True)
        return
    ms = {k: statistics.median(v) for k, v in times.items()}
    cpu = {k: statistics.median(v) for k, v in cpu_times.items()}
    for k, v in times.items():
        q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
        print(json.dumps({"variant": k, "ms_per_step": round(ms[k], 3), "q1": round(q[0], 3),
                          "q3": round(q[2], 3), "cpu_ms_per_step": round(cpu[k], 3)}),
              flush=True)
    print()
    print(f"| variant (B={B}, T={T}, F={F}, H={H}, adam/mse) | ms per step (median) | "
          f"× grukit GRU fit | CPU ms per step | × grukit GRU fit |")
    print("|---|---|---|---|---|")
    base, cbase = ms.get("grukit GRU fit"), cpu.get("grukit GRU fit")
    for k, v in ms.items():
        print(f"| {k} | {v:.2f} | {'' if base is None else f'{v / base:.2f}'} | "
              f"{cpu[k]:.2f} | {'' if cbase is None else f'{cpu[k] / cbase:.2f}'} |")
    print()
    for (k, v), c in zip(ratios(ms).items(), ratios(cpu).values(), strict=True):
        print(f"{k}: {v:.3f} (CPU time: {c:.3f})")
    for k in ("grukit GRU loop", "grukit LSTM loop", "torch Linear loop"):
        if k in ms and f"{k} compiled" in ms:
            print(f"{k}, compiled − eager: {ms[f'{k} compiled'] - ms[k]:+.3f} ms per step "
                  f"(CPU time: {cpu[f'{k} compiled'] - cpu[k]:+.3f})")


if __name__ == "__main__":
    main()
