"""``grukit compare``: the GRU-vs-LSTM table, measured."""

from __future__ import annotations

import argparse
import os
import time

from ... import cells
from . import tasks


def _list(kind):
    def parse(text: str):
        try:
            return tuple(kind(t.strip()) for t in text.split(",") if t.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list, got {text!r}") from None
    return parse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare", help="measure GRU vs LSTM (and RNN, minGRU): parameters, speed, latency, "
                        "accuracy, overfitting, long-sequence memory",
        description="Train each model on one task over several seeds and print the table: "
                    "parameters, training time per epoch and to the best validation loss, "
                    "inference latency, test metric, generalisation gap, and long-sequence "
                    "memory (the adding problem; --memory-tasks adding,copy adds copy memory) "
                    "at several lengths; a verdict per row.")
    p.add_argument("--task", choices=tasks.NAMES, default="forecast")
    p.add_argument("--data", help=tasks.data_help())
    p.add_argument("--models", type=_list(str),
                   help=f"comma-separated, from {','.join(cells.names())} and a task's own "
                        f"models (default gru,lstm; clinical grud,gru,lstm)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--budget", choices=("equal-hidden", "equal-params"),
                   help="same width for all, or each sized to the GRU's parameter count "
                        "(default: equal-hidden; music: equal-params at Chung et al.'s "
                        "widths, GRU 46, LSTM 36, RNN 100)")
    p.add_argument("--hidden", type=int, help="the GRU's width (task default)")
    p.add_argument("--epochs", type=int,
                   help="epoch cap, a safety limit: early stopping on validation ends each "
                        "run (task default; music 1000). A run that reaches the cap while "
                        "validation is still improving is marked 'not converged'")
    p.add_argument("--max-seconds", type=float,
                   help="music and the tasks that take it: cap per run (a run it ends early "
                        "is marked 'not converged')")
    p.add_argument("--memory-tasks", type=_list(str), default=None,
                   help="comma-separated, from adding,copy (default adding: copy memory is "
                        "solved by no model in the default 300 steps)")
    p.add_argument("--memory-lengths", type=_list(int), default=None,
                   help="sequence lengths T of the memory tasks (default 50,100,200,400)")
    p.add_argument("--memory-steps", type=int, default=300,
                   help="training steps per memory run (0 skips the memory rows)")
    p.add_argument("--memory-seeds", type=int, default=None, help="default 1")
    p.add_argument("--memory-hidden", type=int, default=None,
                   help="the GRU's width on the memory tasks (the budget sizes the others; "
                        "default 32)")
    p.add_argument("--folds", type=int,
                   help="forecast: rolling origins of the backtest (default 3)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--output", default="grukit-compare",
                   help="directory for results.json, report.md, report.html and the plots "
                        "(partial.json holds the runs finished so far)")
    p.add_argument("--resume", action="store_true",
                   help="reuse the runs an interrupted compare left in OUTPUT/partial.json")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``_run``; a run refused before its first result (data found unreadable, a missing
    extra) leaves no folder behind that it made."""
    made = bool(args.output) and not os.path.exists(args.output)
    try:
        return _run(args)
    except Exception:
        if made and os.path.isdir(args.output) and not os.listdir(args.output):
            os.rmdir(args.output)
        raise


def _refuse_others_files(folder: str) -> None:
    """One sentence when ``folder`` holds files named as compare's outputs but no
    partial.json (which every compare run leaves): they are not an earlier run's, and a new
    run would remove them at its first result and overwrite them at its end."""
    from ..._runs import UsageError
    from .progress import PARTIAL
    from .report import PLOTS

    if not os.path.isdir(folder) or os.path.isfile(os.path.join(folder, PARTIAL)):
        return
    theirs = [n for n in ("results.json", "report.md", "report.html", *PLOTS)
              if os.path.exists(os.path.join(folder, n))]
    if theirs:
        raise UsageError(f"--output {folder!r} holds {', '.join(theirs)}, which no grukit "
                         f"compare run wrote (it has no {PARTIAL}), and a run would replace "
                         f"{'it' if len(theirs) == 1 else 'them'}; give another folder.")


def _out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an allocation that failed (numpy's MemoryError, torch's CPU
    allocator or its OutOfMemoryError), not a bug."""
    import torch

    return isinstance(err, (MemoryError, torch.OutOfMemoryError)) or \
        "can't allocate memory" in str(err)


def _run(args: argparse.Namespace) -> int:
    from ..._runs import RUN, UsageError, prepare_output, torch_threads
    from . import progress, report
    from .run import CompareConfig, check, compare, memory_keys, run_keys

    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be 1 or more; got {args.threads} (leave it out for "
                         f"torch's default).")
    if args.folds is not None and args.task != "forecast":  # None: the default, 3
        raise UsageError(f"--folds sets the rolling origins of the forecast backtest; --task "
                         f"{args.task} does not use it, so drop it.")
    memory = {"--memory-tasks": args.memory_tasks, "--memory-lengths": args.memory_lengths,
              "--memory-seeds": args.memory_seeds, "--memory-hidden": args.memory_hidden}
    given = [flag for flag, value in memory.items() if value is not None]
    if args.memory_steps == 0 and given:  # no memory rows: those settings would do nothing
        raise UsageError(f"{', '.join(given)} set the memory rows, which --memory-steps 0 "
                         f"leaves out; drop {'it' if len(given) == 1 else 'them'} or give "
                         f"--memory-steps.")
    models = tasks.default_models(args.task) if args.models is None else tuple(args.models)
    cfg = CompareConfig(task=args.task, data=args.data, models=models,
                        seeds=args.seeds, budget=args.budget, hidden=args.hidden,
                        epochs=args.epochs, folds=3 if args.folds is None else args.folds,
                        max_seconds=args.max_seconds,
                        memory_tasks=("adding",) if args.memory_tasks is None
                        else tuple(args.memory_tasks),
                        memory_lengths=(50, 100, 200, 400) if args.memory_lengths is None
                        else tuple(args.memory_lengths),
                        memory_steps=args.memory_steps,
                        memory_seeds=1 if args.memory_seeds is None else args.memory_seeds,
                        memory_hidden=32 if args.memory_hidden is None else args.memory_hidden)
    try:
        check(cfg)
    except ValueError as err:
        raise UsageError(str(err)) from None
    _refuse_others_files(args.output)
    out = prepare_output(args.output)
    RUN.start(out, resumable=True)
    import torch

    # the threads the runs use (--threads, else torch's default, which OMP_NUM_THREADS sets):
    # a resume under another count would mix timings, and last digits, of two settings
    stamp = progress.fingerprint(cfg, threads=torch.get_num_threads() if args.threads is None
                                 else args.threads)
    done = {"runs": [], "memory": [], "seconds": 0.0}
    if args.resume:
        done = progress.read(out, stamp)
        print(f"resuming: {len(done['runs'])} of {len(run_keys(cfg))} runs and "
              f"{len(done['memory'])} of {len(memory_keys(cfg))} memory runs from "
              f"{os.path.join(out, progress.PARTIAL)}", flush=True)
        if done["runs"] or done["memory"]:
            RUN.finished(f"{len(done['runs'])} of {len(run_keys(cfg))} runs and "
                         f"{len(done['memory'])} memory runs (resumed)")
    # without --resume an earlier run's partial.json is replaced by this run's first result,
    # not before: data that turn out unreadable, or Ctrl-C before then, lose nothing
    n_runs, n_mem = len(run_keys(cfg)), len(memory_keys(cfg))
    started = time.perf_counter()

    def on_result(kind, runs, mem):
        if kind == "run":
            r = runs[-1]
            what = f"run {len(runs)} of {n_runs} ({r['model']}, seed {r['seed']})"
        else:
            r = mem[-1]
            what = (f"memory run {len(mem)} of {n_mem} ({r['task']} T={r['length']}, "
                    f"{r['model']}, seed {r['seed']})")
        with RUN.saving(what):  # a Ctrl-C waits until the file and the line agree
            progress.write(out, stamp, runs, mem,
                           done["seconds"] + time.perf_counter() - started)
            if len(runs) + len(mem) == len(done["runs"]) + len(done["memory"]) + 1:
                progress.clear_reports(out)  # the first new result: an earlier run's files go

    with torch_threads(args.threads):
        try:
            res = compare(cfg, log=lambda *a: print(*a, flush=True), done=done,
                          on_result=on_result)
        except (MemoryError, RuntimeError) as err:
            if not _out_of_memory(err):
                raise
            why = " ".join(str(err).split()).split("DefaultCPUAllocator: ")[-1]
            raise UsageError(f"compare ran out of memory ({why or type(err).__name__}); the "
                             f"models or sequences are too large for this machine: give a "
                             f"smaller --hidden, --memory-hidden or --memory-lengths (the "
                             f"runs finished so far are in {progress.PARTIAL}).") from None
    res["seconds"] += done["seconds"]
    res["resumed"] = {"runs": len(done["runs"]), "memory": len(done["memory"])}
    print()
    print(report.text(res))
    files = report.write(res, out)
    print(f"\nwrote {', '.join(files)} to {out}/ ({res['seconds']:.0f} s)")
    return 0
