"""``grukit recommend``: train GRU4Rec on session logs, evaluate it beside the baselines;
``grukit recommend predict``: recommendations from a saved model for new sessions.

Each model's result (most_popular, item_knn, gru4rec) is written to ``metrics.json`` as it
finishes (atomically, with a fingerprint of the data and settings), so that Ctrl-C keeps
what is done and ``--resume`` skips it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time

import numpy as np

from ..._io import atomic_text, atomic_write
from ..._runs import RUN, UsageError, at_least, predict_args, prepare_output

METRICS = "metrics.json"
RECOMMENDATIONS = "recommendations.csv"
MODELS = ("most_popular", "item_knn", "gru4rec")
TRAIN_ONLY = ("train", "test", "test_days", "day_column", "loss", "epochs", "hidden", "tied",
              "batch_size", "n_sample", "learning_rate", "seed", "save", "resume", "cell")


def add_parser(sub) -> None:
    p = sub.add_parser("recommend", help="session-based next-item recommendation (GRU4Rec)",
                       description="Train GRU4Rec and report Recall@k / MRR@k beside "
                                   "most-popular and item-kNN, measured in the same run. "
                                   "`grukit recommend predict --model DIR --data FILE` "
                                   "recommends the next items for each session of FILE with "
                                   "a model saved by --save (events on items the model never "
                                   "saw are skipped and counted; a session left with none "
                                   "gets no recommendation).")
    p.add_argument("action", nargs="?", choices=("train", "predict"), default="train",
                   help="train (default) or predict with a saved model")
    src = p.add_argument_group("data (either --train and --test, or --data and --test-days)")
    src.add_argument("--train", help="training events (CSV/TSV)")
    src.add_argument("--test", help="test events (CSV/TSV)")
    src.add_argument("--data", help="one event file, split by time (predict: the sessions to "
                                    "recommend for)")
    src.add_argument("--test-days", type=int,
                     help="with --data: test = sessions ending in the last N days (default 7)")
    for name in ("session", "item", "time", "day"):
        src.add_argument(f"--{name}-column", help=f"name of the {name} column")
    src.add_argument("--sep", help="field separator, one character ('\\t': a tab; sniffed "
                                   "among , tab ; | and space when absent)")
    m = p.add_argument_group("model")
    m.add_argument("--cell", choices=("gru", "lstm"),
                   help="the recurrent cell (default gru; lstm for the comparison)")
    m.add_argument("--loss", choices=("cross-entropy", "bpr-max"))
    m.add_argument("--epochs", type=int, help="training epochs (default 20)")
    m.add_argument("--hidden", type=int, help="GRU units and embedding size (default 100)")
    m.add_argument("--tied", action=argparse.BooleanOptionalAction, default=None,
                   help="share input and output item embeddings (default: yes)")
    m.add_argument("--batch-size", type=int, help="sessions per mini-batch (default 32)")
    m.add_argument("--n-sample", type=int, help="shared negative samples per mini-batch "
                                                "(default 1024; 0: in-batch negatives only)")
    m.add_argument("--learning-rate", type=float, help="default 0.05")
    m.add_argument("--seed", type=int, help="default 0")
    p.add_argument("--model", help="predict: the folder written by --save")
    p.add_argument("--k", type=int, help="predict: items recommended per session (default 20; "
                                         "every item when the model knows fewer)")
    p.add_argument("--output", help="folder for metrics.json (predict: recommendations.csv; "
                                    "printed when not given)")
    p.add_argument("--save", help="folder to save the trained GRU4Rec in")
    p.add_argument("--resume", action="store_true", default=None,
                   help="with --output: skip the models whose results are already in "
                        "OUTPUT/metrics.json")
    p.set_defaults(func=run)


def _events(args, path, require_time: bool = True, days: bool = True,
            item_text: bool = False):
    from ...data.sessions import read_events

    return read_events(path, args.session_column, args.item_column, args.time_column,
                       args.day_column, args.sep, require_time=require_time, days=days,
                       item_text=item_text)


def run(args: argparse.Namespace) -> int:
    if args.action == "predict":
        return run_predict(args)
    return run_train(args)


def _model_settings(args) -> dict:
    """The GRU4Rec settings given on the command line (the others keep their defaults)."""
    at_least("--epochs", args.epochs, 1)
    at_least("--hidden", args.hidden, 1)
    at_least("--batch-size", args.batch_size, 1)
    at_least("--n-sample", args.n_sample, 0)
    at_least("--seed", args.seed, 0)
    if args.learning_rate is not None and not (math.isfinite(args.learning_rate)
                                               and args.learning_rate > 0):
        raise UsageError(f"--learning-rate must be a finite number above 0; got "
                         f"{args.learning_rate}.")
    names = {"cell": "cell", "loss": "loss", "epochs": "epochs", "hidden": "hidden",
             "tied": "tied",
             "batch_size": "batch_size", "n_sample": "n_sample",
             "learning_rate": "learning_rate", "seed": "seed"}
    return {key: getattr(args, flag) for flag, key in names.items()
            if getattr(args, flag) is not None}



def _fingerprint(train, test, config: dict) -> str:
    """What decides the results: the indexed sessions and the settings."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for s in (train, test):
        h.update(np.ascontiguousarray(s.items, np.int64).tobytes())
        h.update(np.ascontiguousarray(s.offsets, np.int64).tobytes())
        h.update(json.dumps([str(v) for v in s.vocab.tolist()]).encode())
    return h.hexdigest()


def _read_done(out: str, stamp: str) -> tuple[dict, dict]:
    """({model: its result} of the models already in OUT/metrics.json, {"model": the folder
    the run saved its GRU4Rec in, "sha256": the digest of what it saved there}, each None
    when not recorded)."""
    path = os.path.join(out, METRICS)
    none = {"model": None, "sha256": None}
    if not os.path.isfile(path):
        return {}, none
    try:
        with open(path, encoding="utf-8") as f:
            body = json.load(f)
        fp = body["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}, none  # unreadable or from an older grukit: every model runs again
    if fp != stamp:
        raise UsageError(f"{path} was written by a run with other data or settings; rerun "
                         f"with those, or without --resume to start afresh.")
    saved = {k: body.get(key) for k, key in (("model", "saved_model"),
                                             ("sha256", "saved_model_sha256"))}
    return ({m: body[m] for m in MODELS if isinstance(body.get(m), dict)},
            {k: v if isinstance(v, str) else None for k, v in saved.items()})


def _saved_digest(path: str) -> str | None:
    """SHA-256 of the model saved in ``path`` (its settings and weights), or None when there
    is none: a folder of the same settings may hold a model trained on other data."""
    from ..estimator import CONFIG_FILE, WEIGHTS_FILE

    h = hashlib.sha256()
    try:
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            with open(os.path.join(path, name), "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    except OSError:
        return None
    return h.hexdigest()


def run_train(args: argparse.Namespace) -> int:
    # every library the run needs is imported before any result is finished: a Ctrl-C that
    # lands inside a half-done import of scipy ends the process by SIGINT (exit -2) after
    # cli.main has printed its line, instead of with 130
    import pandas as pd
    import scipy.sparse  # noqa: F401

    from ...data.sessions import index_sessions, split_by_days
    from ...models.callbacks import History  # noqa: F401
    from .evaluate import ItemKNN, MostPopular, evaluate
    from .gru4rec import GRU4Rec, _check_memory

    if args.model is not None or args.k is not None:
        flag = "--model" if args.model is not None else "--k"
        raise UsageError(f"{flag} is for `grukit recommend predict`; training takes the data "
                         f"and model settings (--save DIR keeps the model).")
    if args.data and (args.train or args.test):
        raise UsageError("give --data (with --test-days) or --train and --test, not both.")
    if not args.data and not (args.train and args.test):
        raise UsageError("give --train and --test, or --data and --test-days.")
    if args.test_days is not None and not args.data:
        raise UsageError("--test-days splits --data by time; with --train and --test drop it.")
    if args.day_column is not None and not args.data:  # read, then never used
        raise UsageError("--day-column gives the days that split --data; with --train and "
                         "--test the times only order each session's events, so drop it.")
    test_days = 7 if args.test_days is None else args.test_days
    at_least("--test-days", test_days, 1)
    try:
        model = GRU4Rec(**_model_settings(args))
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.save == "":  # read as no --save: the model was trained and not kept
        raise UsageError("--save is empty; give a folder for the model.")
    if args.resume and not args.output:
        raise UsageError("--resume continues a run: give it with the --output folder of the "
                         "interrupted run.")
    out = prepare_output(args.output)
    if args.save:
        from ..estimator import prepare_save

        prepare_save(args.save, output=out)
    RUN.start(out, resumable=out is not None)

    if args.data:
        train_events, test_events = split_by_days(_events(args, args.data), test_days)
    else:
        # no split by days: times only order each session's events (milliseconds do too);
        # test item ids as text where the training ids are ("007" would be read as 7)
        train_events = _events(args, args.train, days=False)
        text = pd.api.types.infer_dtype(train_events["item"], skipna=True) == "string"
        test_events = _events(args, args.test, days=False, item_text=text)
    train, test = index_sessions(train_events, test_events)
    print(f"train: {train.report}\ntest:  {test.report}", flush=True)
    if test.n_sessions == 0:
        raise UsageError("no test session is left after dropping unseen items and sessions "
                         "shorter than 2 (see the counts above).")
    if train.n_sessions < model.config.batch_size:
        raise UsageError(f"{train.n_sessions} training sessions cannot fill --batch-size "
                         f"{model.config.batch_size}; lower it.")
    try:  # before the baselines: GRU4Rec's settings may not fit in memory
        _check_memory(model.config, train.n_items)
    except ValueError as err:
        raise UsageError(str(err)) from None

    stamp = _fingerprint(train, test, model.get_config())
    # the folder this run's GRU4Rec was saved in, and the digest of what it saved there
    done, saved = {}, {"model": None, "sha256": None}
    if out and args.resume:
        done, saved = _read_done(out, stamp)
        print(f"resuming: {', '.join(done) or 'no model'} already in "
              f"{os.path.join(out, METRICS)}", flush=True)
        if done:
            RUN.finished(f"{list(done)[-1]} ({len(done)} of {len(MODELS)} models)")
    results = dict(done)
    head = {"fingerprint": stamp, "data": {"train": train.report, "test": test.report},
            "config": model.get_config()}

    def write(name: str) -> None:
        with RUN.saving(f"{name} ({len(results)} of {len(MODELS)} models)"):
            if out:
                atomic_text(os.path.join(out, METRICS),
                            json.dumps(head | {m: results[m] for m in MODELS if m in results}
                                       | ({"saved_model": saved["model"],
                                           "saved_model_sha256": saved["sha256"]}
                                          if saved["model"] else {}), indent=2, default=int))

    for name, base in (("most_popular", MostPopular), ("item_knn", ItemKNN)):
        if name not in results:
            results[name] = evaluate(base().fit(train).score_step, test)
            write(name)
    # a model in --save is this run's when this run recorded saving it there and it is still
    # what was saved (another run of the same settings on other data may have replaced it)
    kept = args.save and saved["model"] == os.path.realpath(args.save) \
        and saved["sha256"] is not None and _saved_digest(args.save) == saved["sha256"]
    if "gru4rec" not in results or (args.save and not kept):
        start = time.perf_counter()
        model.fit(train, verbose=True)
        train_s = time.perf_counter() - start
        results["gru4rec"] = model.evaluate(test) | {"train_seconds": round(train_s, 2)}
        saved = {"model": None, "sha256": None}
        write("gru4rec")  # before saving: a save that fails keeps the results
        if args.save:
            model.save(args.save)
            saved = {"model": os.path.realpath(args.save), "sha256": _saved_digest(args.save)}
            write("gru4rec")
            print(f"saved the model to {args.save} (grukit recommend predict --model "
                  f"{args.save} --data FILE)", flush=True)

    keys = [f"{m}@{k}" for m in ("recall", "mrr") for k in (1, 5, 10, 20)]
    print("\n| model | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
    for name in ("gru4rec", "most_popular", "item_knn"):
        print(f"| {name} | " + " | ".join(f"{results[name][k]:.4f}" for k in keys) + " |")
    if out:
        print(f"\nwrote {os.path.join(out, METRICS)}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from ..estimator import CONFIG_FILE, load
    from .gru4rec import GRU4Rec

    given = argparse.Namespace(**vars(args))  # predict_args reads 0 and False as not given:
    for name in TRAIN_ONLY:  # --seed 0 or --no-tied passed unread (--resume: False unless set)
        if name != "resume" and getattr(args, name) is not None:
            setattr(given, name, True)
    predict_args(given, TRAIN_ONLY, "recommend", also=" and one --data file")
    if not args.data:
        raise UsageError("predict needs --data FILE, the sessions to recommend for.")
    at_least("--k", args.k, 1)
    if args.output and os.path.isfile(os.path.join(args.model, CONFIG_FILE)):
        here, model_dir = os.path.realpath(args.output), os.path.realpath(args.model)
        if here == model_dir or here.startswith(model_dir + os.sep):
            raise UsageError(f"--output {args.output!r} lies in the model folder {args.model!r}, "
                             f"which saving a model replaces whole; give the recommendations "
                             f"a folder of their own.")
    out = prepare_output(args.output)
    RUN.start(out)
    model = load(args.model)
    if not isinstance(model, GRU4Rec):
        raise UsageError(f"--model {args.model!r} holds a {type(model).__name__}, not a "
                         f"GRU4Rec; use its own command.")
    k = min(20, model.n_items) if args.k is None else args.k
    if k > model.n_items:
        raise UsageError(f"--k {k} is more than the {model.n_items} items the model knows; "
                         f"give --k between 1 and {model.n_items}.")
    # text item ids are read as written: "007", which a column of numbers reads as 7
    events = _events(args, args.data, require_time=False, days=False,  # no days are used
                     item_text=model.items_.kind == "str")
    table = model.predict(events, k)
    info = sys.stderr if out is None else sys.stdout
    if events.attrs.get("file_order"):  # a time column of another name is left unused
        print(f"no time column known in {args.data} (name it with --time-column): each "
              f"session's events are taken in the file's order", file=info)
    n = table["session"].nunique()
    print(f"{n} sessions, {k} recommendations each; {table.attrs['unknown_item_events']} "
          f"events on items the model never saw skipped", file=info)
    without = table.attrs["sessions_without_known_items"]
    if without:
        shown = ", ".join(map(str, without[:5])) + (" ..." if len(without) > 5 else "")
        print(f"{len(without)} session(s) hold no item the model knows and get no "
              f"recommendation: {shown}", file=info)
    missing, twice = events.attrs["dropped_missing"], events.attrs["dropped_duplicates"]
    if missing or twice:  # left out by read_events (an empty cell, or "NA" read as one)
        print(f"{missing} event(s) with a missing session, item or time and {twice} repeated "
              f"event(s) (same session, item and time) dropped while reading", file=info)
    if out is None:
        table.to_csv(sys.stdout, index=False)
        return 0
    path = os.path.join(out, RECOMMENDATIONS)
    with RUN.saving(RECOMMENDATIONS):  # a Ctrl-C waits until the line is true
        atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    print(f"wrote {path}")
    return 0
