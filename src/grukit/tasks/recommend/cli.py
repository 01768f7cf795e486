"""``grukit recommend``: train GRU4Rec on session logs, evaluate it beside the baselines."""

from __future__ import annotations

import argparse
import json
import os
import time

from ..._io import atomic_text


def add_parser(sub) -> None:
    p = sub.add_parser("recommend", help="session-based next-item recommendation (GRU4Rec)",
                       description="Train GRU4Rec and report Recall@k / MRR@k beside "
                                   "most-popular and item-kNN, measured in the same run.")
    src = p.add_argument_group("data (either --train and --test, or --data and --test-days)")
    src.add_argument("--train", help="training events (CSV/TSV)")
    src.add_argument("--test", help="test events (CSV/TSV)")
    src.add_argument("--data", help="one event file, split by time")
    src.add_argument("--test-days", type=int, default=7,
                     help="with --data: test = sessions ending in the last N days (default 7)")
    for name in ("session", "item", "time", "day"):
        src.add_argument(f"--{name}-column", help=f"name of the {name} column")
    src.add_argument("--sep", help="field separator (sniffed when absent)")
    m = p.add_argument_group("model")
    m.add_argument("--loss", choices=("cross-entropy", "bpr-max"), default="cross-entropy")
    m.add_argument("--epochs", type=int, default=20)
    m.add_argument("--hidden", type=int, default=100)
    m.add_argument("--tied", action=argparse.BooleanOptionalAction, default=True,
                   help="share input and output item embeddings (default: yes)")
    m.add_argument("--batch-size", type=int, default=32)
    m.add_argument("--n-sample", type=int, default=1024)
    m.add_argument("--learning-rate", type=float, default=0.05)
    m.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", help="directory for metrics.json")
    p.set_defaults(func=run)


def _events(args, path):
    from ...data.sessions import read_events

    return read_events(path, args.session_column, args.item_column, args.time_column,
                       args.day_column, args.sep)


def run(args: argparse.Namespace) -> int:
    from ...data.sessions import index_sessions, split_by_days
    from .evaluate import ItemKNN, MostPopular, evaluate
    from .gru4rec import GRU4Rec

    if args.data and (args.train or args.test):
        raise SystemExit("grukit recommend: give --data (with --test-days) or --train and "
                         "--test, not both.")
    if args.data:
        train_events, test_events = split_by_days(_events(args, args.data), args.test_days)
    elif args.train and args.test:
        train_events, test_events = _events(args, args.train), _events(args, args.test)
    else:
        raise SystemExit("grukit recommend: give --train and --test, or --data and --test-days.")
    train, test = index_sessions(train_events, test_events)
    print(f"train: {train.report}\ntest:  {test.report}")
    if test.n_sessions == 0:
        raise SystemExit("grukit recommend: no test session is left after dropping unseen "
                         "items and sessions shorter than 2 (see the counts above).")

    results = {}
    for name, base in (("most_popular", MostPopular()), ("item_knn", ItemKNN())):
        base.fit(train)
        results[name] = evaluate(base.score_step, test)
    model = GRU4Rec(loss=args.loss, epochs=args.epochs, hidden=args.hidden,
                    batch_size=args.batch_size, n_sample=args.n_sample,
                    learning_rate=args.learning_rate, seed=args.seed, tied=args.tied)
    start = time.perf_counter()
    model.fit(train, verbose=True)
    train_s = time.perf_counter() - start
    results = {"gru4rec": model.evaluate(test) | {"train_seconds": round(train_s, 2)}} | results

    keys = [f"{m}@{k}" for m in ("recall", "mrr") for k in (1, 5, 10, 20)]
    print("\n| model | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
    for name, res in results.items():
        print(f"| {name} | " + " | ".join(f"{res[k]:.4f}" for k in keys) + " |")
    if args.output:
        os.makedirs(args.output, exist_ok=True)
        payload = results | {"data": {"train": train.report, "test": test.report},
                             "config": model.get_config()}
        atomic_text(os.path.join(args.output, "metrics.json"),
                    json.dumps(payload, indent=2, default=int))
        print(f"\nwrote {os.path.join(args.output, 'metrics.json')}")
    return 0
