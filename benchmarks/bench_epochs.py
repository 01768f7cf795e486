"""Seconds per training epoch, GRU against LSTM, on the task pipelines' benchmark data.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_epochs.py

Each task trains a GRU and an LSTM model of the same width with the same settings for a
fixed number of epochs (no early stopping, so both do the same work), rounds interleaved
GRU, LSTM, GRU, LSTM, ...; the epoch times are the pipelines' own (``history["epoch_time"]``
of ``SequenceClassifier``/``TextClassifier``, ``history_`` of ``GRU4Rec``), first epoch of
each run dropped (kernel compilation and warm-up). Prints one JSON line per run and a
Markdown table: median seconds per epoch and GRU / LSTM.

- classify-jv: JapaneseVowels (UEA, sktime), ``SequenceClassifier`` (hidden 64);
- classify-text: the UCI sentiment sentences (amazon + imdb + yelp), ``TextClassifier``;
- recommend: the Diginetica sample, ``GRU4Rec`` with ``cell="gru"`` / ``"lstm"``.

Data sets beside the project are read from ``$GRUKIT_SHARED_DATA`` (default
``../shared/data``); a task whose data is absent is skipped with a line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import torch

DATA = os.environ.get("GRUKIT_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..",
                                                         "..", "shared", "data"))


def _jv(model: str, epochs: int, seed: int) -> list[float]:
    from grukit.data.uea import load_uea
    from grukit.tasks.classify import SequenceClassifier

    x, y = load_uea("JapaneseVowels", "train")
    clf = SequenceClassifier(model=model, epochs=epochs, patience=None, seed=seed)
    return list(clf.fit(x, y).history_.history["epoch_time"])


def _text(model: str, epochs: int, seed: int) -> list[float]:
    from grukit.data.text import read_labelled_text
    from grukit.tasks.classify import TextClassifier

    data = read_labelled_text([os.path.join(DATA, "text", f"{n}_labelled.txt")
                               for n in ("amazon_cells", "imdb", "yelp")], header=False)
    clf = TextClassifier(model=model, epochs=epochs, patience=None, seed=seed)
    return list(clf.fit(list(data.texts), np.asarray(data.labels)).history_
                .history["epoch_time"])


def _recommend(model: str, epochs: int, seed: int) -> list[float]:
    from grukit.data.sessions import index_sessions, read_events
    from grukit.tasks.recommend import GRU4Rec

    events = read_events(os.path.join(DATA, "sessions",
                                      "diginetica_sample_train-item-views.csv"))
    train, _ = index_sessions(events)
    rec = GRU4Rec(cell=model, epochs=epochs, seed=seed).fit(train)
    return list(rec.history_.history["seconds"])


TASKS = {"classify-jv": _jv, "classify-text": _text, "recommend": _recommend}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for task in args.tasks.split(","):
        fn = TASKS[task]
        times: dict[str, list[float]] = {"gru": [], "lstm": []}
        try:
            for r in range(args.rounds):
                for model in ("gru", "lstm"):
                    t = fn(model, args.epochs, r)
                    times[model] += t[1:]
                    print(json.dumps({"task": task, "model": model, "round": r,
                                      "epoch_seconds": [round(v, 4) for v in t]}), flush=True)
        except (FileNotFoundError, ImportError) as err:
            print(f"{task}: skipped ({err})", flush=True)
            continue
        g, s = statistics.median(times["gru"]), statistics.median(times["lstm"])
        rows.append((task, g, s, g / s))
    print(f"\nmachine: {platform.processor() or platform.machine()}, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, numpy {np.__version__}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| task | GRU s/epoch | LSTM s/epoch | GRU / LSTM |\n|---|---|---|---|")
    for task, g, s, ratio in rows:
        print(f"| {task} | {g:.3f} | {s:.3f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
