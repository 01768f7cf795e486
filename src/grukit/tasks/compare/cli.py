"""``grukit compare``: the GRU-vs-LSTM table, measured."""

from __future__ import annotations

import argparse


def _list(kind):
    def parse(text: str):
        try:
            return tuple(kind(t) for t in text.split(",") if t.strip())
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
                    "inference latency, test metric, generalisation gap, and the adding and "
                    "copy-memory problems at several lengths; a verdict per row.")
    p.add_argument("--task", choices=("forecast", "classify", "music"), default="forecast")
    p.add_argument("--data", help="forecast: a built-in series (default sunspots) or a CSV; "
                                  "classify: a UEA set name (default JapaneseVowels); "
                                  "music: a piano-roll .mat such as JSB_Chorales.mat")
    p.add_argument("--models", type=_list(str), default=("gru", "lstm"),
                   help="comma-separated, from gru,lstm,rnn,mingru (default gru,lstm)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--budget", choices=("equal-hidden", "equal-params"),
                   help="same width for all, or each sized to the GRU's parameter count "
                        "(default: equal-hidden; music: equal-params at Chung et al.'s "
                        "widths, GRU 46, LSTM 36, RNN 100)")
    p.add_argument("--hidden", type=int, help="the GRU's width (task default)")
    p.add_argument("--epochs", type=int, help="maximum epochs (task default)")
    p.add_argument("--max-seconds", type=float, help="music: wall-clock cap per run")
    p.add_argument("--memory-lengths", type=_list(int), default=(50, 100, 200, 400))
    p.add_argument("--memory-steps", type=int, default=300,
                   help="training steps per memory run (0 skips the memory rows)")
    p.add_argument("--memory-seeds", type=int, default=1)
    p.add_argument("--memory-hidden", type=int, default=32,
                   help="the GRU's width on the memory tasks (the budget sizes the others)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--output", default="grukit-compare",
                   help="directory for results.json, report.md, report.html and the plots")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from . import report
    from .run import CompareConfig, compare

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = CompareConfig(task=args.task, data=args.data, models=tuple(args.models),
                        seeds=args.seeds, budget=args.budget, hidden=args.hidden,
                        epochs=args.epochs, max_seconds=args.max_seconds,
                        memory_lengths=tuple(args.memory_lengths),
                        memory_steps=args.memory_steps, memory_seeds=args.memory_seeds,
                        memory_hidden=args.memory_hidden)
    res = compare(cfg)
    print()
    print(report.text(res))
    files = report.write(res, args.output)
    print(f"\nwrote {', '.join(files)} to {args.output}/ ({res['seconds']:.0f} s)")
    return 0
