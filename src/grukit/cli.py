"""The ``grukit`` command (``python -m grukit`` does the same)."""

from __future__ import annotations

import argparse
import sys
import time

from . import __version__


def _demo(args: argparse.Namespace) -> int:
    """The article's model, GRU(64) on (100 steps, 1 feature) + Dense(1), end to end."""
    import torch

    from . import count_params
    from . import nn as gnn
    from ._runs import UsageError

    for flag, value in (("--epochs", args.epochs), ("--steps", args.steps)):
        if value < 1:
            raise UsageError(f"{flag} must be 1 or more; got {value}.")
    torch.manual_seed(args.seed)
    print(f"grukit {__version__} demo: GRU(64) on windows of 100 steps, 1 feature\n")

    # 1. drop-in: torch.nn.GRU's weights load unchanged and give the same outputs
    ref = torch.nn.GRU(1, 64, batch_first=True)
    gru = gnn.GRU(1, 64, batch_first=True)
    gru.load_state_dict(ref.state_dict())
    x = torch.randn(8, 100, 1)
    with torch.no_grad():
        diff = (gru(x)[0] - ref(x)[0]).abs().max().item()
    print(f"torch.nn.GRU state_dict loaded: max |output difference| = {diff:.2e}")

    # 2. parameters, as Keras counts them
    sizes = {
        "GRU (reset_after=True, torch/Keras 3)": gnn.GRU(1, 64),
        "GRU (reset_after=False, Cho 2014)": gnn.GRU(1, 64, reset_after=False),
        "LSTM (torch layout, two biases)": gnn.LSTM(1, 64),
        "RNN (tanh)": gnn.RNN(1, 64),
        "MinGRU": gnn.MinGRU(1, 64),
    }
    print("\nparameters of a 64-unit layer on 1 feature:")
    for name, m in sizes.items():
        print(f"  {name:<40} {count_params(m):>7,}")

    # 3. speed: one training step (forward + backward) of the article's shape, same run
    xb = torch.randn(32, 100, 1)
    contenders = {"torch.nn.GRU": ref, "torch.nn.LSTM": torch.nn.LSTM(1, 64, batch_first=True),
                  "grukit.nn.GRU": gru}

    def step_ms(m):
        times = []
        for i in range(25):
            t0 = time.perf_counter()
            m(xb)[0].sum().backward()
            if i >= 5:  # the first calls compile and warm up
                times.append(time.perf_counter() - t0)
        return 1e3 * sorted(times)[len(times) // 2]

    ms = {name: step_ms(m) for name, m in contenders.items()}
    print("\nforward+backward, batch 32 × 100 steps (median of 20; benchmarks/ has the full "
          "harness):")
    for name, v in ms.items():
        print(f"  {name:<15} {v:6.2f} ms  ({v / ms['torch.nn.LSTM']:.2f} × torch LSTM)")
    for m in contenders.values():
        m.zero_grad()

    # 4. train it: next-value forecasting of a noisy sine wave
    t = torch.arange(0, 2000, dtype=torch.float32)
    series = torch.sin(t * 2 * torch.pi / 50) + 0.1 * torch.randn_like(t)
    windows = series.unfold(0, 101, 1)  # (N, 101)
    xs, ys = windows[:, :100].unsqueeze(2), windows[:, 100:]  # (N, 100, 1), (N, 1)
    n_val = len(xs) // 5
    x_tr, y_tr, x_va, y_va = xs[:-n_val], ys[:-n_val], xs[-n_val:], ys[-n_val:]
    head = torch.nn.Linear(64, 1)
    params = list(gru.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=3e-3)

    def predict(xb):
        return head(gru(xb)[0][:, -1])

    naive = torch.mean((x_va[:, -1] - y_va) ** 2).item()
    print(f"\ntraining on {len(x_tr)} windows, validating on {n_val} "
          f"(naive last-value MSE {naive:.4f})")
    for epoch in range(args.epochs):
        start = time.perf_counter()
        train = _train_epoch(predict, opt, x_tr, y_tr, args.steps)
        with torch.no_grad():
            val = torch.mean((predict(x_va) - y_va) ** 2).item()
        print(f"  epoch {epoch + 1}: train MSE {train:.4f}  val MSE {val:.4f}  "
              f"({time.perf_counter() - start:.1f} s)")
    return 0


def _train_epoch(predict, opt, x, y, steps: int, batch: int = 32) -> float:
    """``steps`` mini-batches of ``batch`` random windows (at most all of them, each once)
    -> the epoch's train MSE: the mean of (predict(x_i) - y_i)² over every window it
    trained on, as each batch saw it (Keras' epoch loss), not the last batch's alone."""
    import torch

    perm = torch.randperm(len(x))[: steps * batch]
    total = 0.0
    for i in range(0, len(perm), batch):
        idx = perm[i:i + batch]
        loss = torch.mean((predict(x[idx]) - y[idx]) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    return total / len(perm)


def _output_file(path: str, what: str = "--output") -> str:
    """A file to write, checked before any work: not a folder, in a folder that exists (it
    is created) and can be written to; one sentence (``UsageError``) otherwise."""
    import os

    from ._runs import UsageError, prepare_output

    if not path:
        raise UsageError(f"{what} is empty; give a file path such as model.onnx.")
    if os.path.isdir(path):
        raise UsageError(f"{what} {path!r} is a folder; give a file path such as "
                         f"{os.path.join(path, 'model.onnx')!r}.")
    prepare_output(os.path.dirname(os.path.abspath(path)), f"the folder of {what}")
    return path


def _export(args: argparse.Namespace) -> int:
    """A saved task model as ONNX (or a torch.export program) plus its manifest."""
    import os

    output = f"{os.path.abspath(args.model_dir)}.{args.format}" if args.output is None \
        else args.output  # beside the model folder by default; "" is refused below
    _output_file(output)
    from .tasks.estimator import load
    from .tasks.export import export

    est = load(args.model_dir)
    manifest = export(est, output, args.format, int8=args.int8)
    serve = "grukit.export.load_pt2" if args.format == "pt2" else \
        "grukit.export.runtime.Predictor"
    around = ""
    if args.format == "pt2" and type(est).__name__ == "Forecaster":  # the program is its
        around = (", inside grukit.export.runtime.forecast_with (the manifest's scaling, "
                  "differencing and steps fed back around the program)")  # networks alone
    print(f"{type(est).__name__} exported: {output} (manifest {manifest}); serve it with "
          f"{serve}({os.path.basename(output)!r}){around}.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grukit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"grukit {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="print the full traceback of an error instead of one line")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="load torch weights, count parameters, train a GRU")
    demo.add_argument("--epochs", type=int, default=3)
    demo.add_argument("--steps", type=int, default=20,
                      help="mini-batches of 32 per epoch (at most all 1,520 windows, 48)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    exp = sub.add_parser("export", help="write a saved task model as ONNX (or a torch.export "
                         ".pt2 program) with a manifest")
    exp.add_argument("model_dir", metavar="MODEL_DIR", help="a folder written by a task's "
                     "save (forecast, classify, recommend)")
    exp.add_argument("--format", choices=("onnx", "pt2"), default="onnx")
    exp.add_argument("--int8", action="store_true", help="int8 weights with per-row scales "
                     "(onnx: ONNX Runtime's int8 operators, a GRU node stays float; pt2: "
                     "every recurrent and dense weight)")
    exp.add_argument("--output", help="the file to write (default: MODEL_DIR.onnx or "
                     "MODEL_DIR.pt2); <stem>.manifest.json (pt2: <stem>.pt2-manifest.json) "
                     "is written beside it")
    exp.set_defaults(func=_export)
    from .tasks.classify.cli import add_parser as add_classify
    from .tasks.clinical.cli import add_parser as add_clinical
    from .tasks.compare.cli import add_parser as add_compare
    from .tasks.forecast.cli import add_parsers as add_forecast
    from .tasks.generate.cli import add_parser as add_generate
    from .tasks.recommend.cli import add_parser as add_recommend
    from .tasks.speech.cli import add_parser as add_speech
    from .tasks.translate.cli import add_parser as add_translate

    add_compare(sub)
    add_forecast(sub)
    add_classify(sub)
    add_clinical(sub)
    add_recommend(sub)
    add_generate(sub)
    add_speech(sub)
    add_translate(sub)
    return parser


def _ours(err: BaseException) -> bool:
    """Was ``err`` raised by grukit's own code (a message written for people) rather than
    deep inside a library (which, unexplained, is a bug to report)?"""
    import os

    tb = err.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and os.path.dirname(__file__) in os.path.abspath(last)


def entry() -> None:
    """The ``grukit`` command and ``python -m grukit``: ``main``, then exit with its status.
    After Ctrl-C a second interrupt (during interpreter shutdown, or a signal that reaches the
    process twice) must not turn the clean exit 130 into a kill by the signal."""
    import os

    try:
        code = main(_entry=True)
    except KeyboardInterrupt:  # outside main's own handler: while the command was loading
        print("\ngrukit: interrupted.", file=sys.stderr)
        code = 130
    if code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)  # nothing is left to clean up: every file was written atomically
    sys.exit(code)


def main(argv: list[str] | None = None, _entry: bool = False) -> int:
    from ._runs import CREATED, RUN, UsageError, drop_empty_created

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    RUN.start(None)
    CREATED.clear()
    if _entry and not args.debug:  # a warning reads as the command's, not as a line of the
        # `grukit` script ("…/bin/grukit:8: RuntimeWarning: … sys.exit(entry())")
        import warnings

        warnings.formatwarning = lambda message, *_, **__: \
            f"grukit {args.command}: warning: {message}\n"
    code = None
    try:
        code = args.func(args)
        return code
    except KeyboardInterrupt:
        if _entry:  # the process is ending: later interrupts change nothing
            import signal

            signal.signal(signal.SIGINT, signal.SIG_IGN)
        if args.debug:
            raise
        print(f"\n{RUN.interrupted_line(args.command)}", file=sys.stderr)
        return 130
    except (MemoryError, RuntimeError) as err:
        if args.debug or not _out_of_memory(err):
            raise
        why = " ".join(str(err).split()).split("DefaultCPUAllocator: ")[-1]
        print(f"grukit {args.command}: error: ran out of memory "
              f"({why or type(err).__name__}); the model or the data are too large for this "
              f"machine: give the command smaller sizes (--hidden, say) or less data.",
              file=sys.stderr)
        return 2
    except BrokenPipeError as err:  # the reader of the output left (`grukit ... | head`)
        if args.debug:
            raise
        if not _stdout_broken():  # another pipe (a worker's): an error like any other
            print(f"grukit {args.command}: error: {_one_line(err)}", file=sys.stderr)
            return 2
        _stdout_to_devnull()  # (so that the flush at exit does not fail on it again)
        return 141  # as a Unix tool ended by SIGPIPE exits (128 + 13), without a word
    except (UsageError, OSError, ValueError, TypeError, LookupError,
            FloatingPointError) as err:  # FloatingPointError: a training run that diverged
        expected = isinstance(err, (UsageError, OSError)) or _ours(err)
        if args.debug or not expected:
            raise  # a genuine bug: its traceback is what a report needs
        print(f"grukit {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    finally:
        if code != 0:  # refused, failed or interrupted: no empty folder of ours is left
            drop_empty_created()


def _stdout_broken() -> bool:
    """Whether the standard output is a pipe whose reader has gone (poll says POLLERR)."""
    import select

    try:
        fd = sys.stdout.fileno()
        poll = select.poll()
        poll.register(fd, select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poll.poll(0))
    except (AttributeError, OSError, ValueError):  # no descriptor (a test's capture)
        return False


def _stdout_to_devnull() -> None:
    """Point the standard output's descriptor at /dev/null (Python's documented way out of a
    closed pipe); a stdout without a descriptor (a test's capture) is left as it is."""
    import os

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an allocation that failed (numpy's MemoryError, torch's CPU
    allocator or its OutOfMemoryError), not a bug."""
    oom = getattr(sys.modules.get("torch"), "OutOfMemoryError", MemoryError)
    return isinstance(err, (MemoryError, oom)) or "can't allocate memory" in str(err)


def _one_line(err: BaseException) -> str:
    if isinstance(err, OSError) and err.filename is not None:
        reason = err.strerror or type(err).__name__
        return f"{err.filename}: {reason}"
    text = str(err).strip() or type(err).__name__
    if isinstance(err, KeyError) and text.startswith(("'", '"')):
        text = f"unknown key {text}"
    return " ".join(text.split())


if __name__ == "__main__":
    entry()
