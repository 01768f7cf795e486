"""``grukit classify``: a recurrent classifier beside a logistic-regression baseline, on
labelled text files (CSV/TSV) or a bundled UEA sequence set; metrics.json and a
confusion-matrix PNG."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from ..._runs import RUN, UsageError, at_least, predict_args, prepare_output, training_model
from .files import (
    FOLDS_DIR,
    check_data_paths,
    check_default_text_column,
    clear_folds,
    fingerprint,
    predictions_csv,
    read_folds,
    read_texts,
    write_fold,
    write_predictions,
)
from .network import MODELS, display

TRAIN_ONLY = ("folds", "hidden", "epochs", "seed", "save", "resume")


def add_parser(sub) -> None:
    p = sub.add_parser("classify", help="classify texts or sequences with a GRU beside a "
                                        "logistic-regression baseline",
                       description="Train a recurrent classifier with attention pooling on "
                                   "labelled text files or a bundled UEA sequence set, beside "
                                   "TF-IDF (text) or summary-statistics (sequences) logistic "
                                   "regression on the same folds. --folds 1: the official "
                                   "train/test split of a UEA set, a stratified 80/20 split "
                                   "of files; K > 1: stratified K-fold cross-validation. "
                                   "`grukit classify predict --model DIR --data FILE` applies "
                                   "a model saved with --save to new data.")
    p.add_argument("action", nargs="?", choices=("train", "predict"), default="train",
                   help="train (default) or predict with a saved model")
    p.add_argument("--data", required=True, action="append",
                   help="a CSV/TSV file or glob (repeat for several files) or a UEA set "
                        "(grukit datasets)")
    p.add_argument("--text-column", help="name or 0-based index (default: 'text' or first)")
    p.add_argument("--label-column", help="name or 0-based index (default: 'label' or last); "
                                          "with predict, scores the predictions against it")
    p.add_argument("--no-header", action="store_true", help="the files have no header row")
    p.add_argument("--sep", help="field separator (default: inferred)")
    p.add_argument("--model", help=f"train: the network, one of {', '.join(MODELS)} (default "
                                   f"gru); predict: the folder written by --save")
    p.add_argument("--folds", type=int, help="1 (default): one train/test split; K > 1: "
                                             "K-fold cross-validation")
    p.add_argument("--hidden", type=int, help="units of the recurrent layer (default 64)")
    p.add_argument("--epochs", type=int, help="most epochs (early stopping on a validation "
                                              "split of the training rows picks fewer)")
    p.add_argument("--seed", type=int, help="seed of the split, folds and training (default 0)")
    p.add_argument("--output", help="directory for metrics.json and confusion.png (predict: "
                                    "predictions.csv; printed when not given)")
    p.add_argument("--save", help="folder to save the trained model in (with --folds K, a "
                                  "model trained on all rows after the cross-validation)")
    p.add_argument("--resume", action="store_true", default=None,
                   help="with --folds and --output: skip the folds already in OUTPUT/folds/")
    p.set_defaults(func=run)


def _load(args):
    """(kind, inputs, labels, description, official split or None)."""
    from ...data.uea import UEA, load_uea

    if len(args.data) == 1 and args.data[0] in UEA:
        name = args.data[0]
        _file_options_unused(args, name)
        try:
            xtr, ytr = load_uea(name, "train")
            xte, yte = load_uea(name, "test")
        except ImportError as err:
            raise ValueError(str(err)) from err
        return "sequence", xtr + xte, np.concatenate([ytr, yte]), name, len(xtr)
    from ...data.text import read_labelled_text

    bundled = [d for d in args.data if d in UEA and not os.path.exists(d)]
    if bundled:  # beside other --data: not a file, and called "neither" by _check_names
        raise UsageError(f"--data {bundled[0]} is a bundled sequence set, which is read alone; "
                         f"give it as the only --data (several --data are CSV/TSV files of "
                         f"texts).")
    _check_names(args.data)
    files = check_data_paths(args.data)
    t = read_labelled_text(files, args.text_column, args.label_column,
                           header=not args.no_header, sep=args.sep)
    if args.text_column is None:
        check_default_text_column(", ".join(t.files), t.text_column, t.texts)
    desc = ", ".join(os.path.basename(f) for f in t.files)
    return "text", t.texts, t.labels, desc, None


def _file_options_unused(args, name: str) -> None:
    """A bundled set has its own columns: the options that read a file are refused, not
    ignored."""
    given = [flag for flag, value in (("--text-column", args.text_column),
                                      ("--label-column", args.label_column),
                                      ("--no-header", args.no_header), ("--sep", args.sep))
             if value not in (None, False)]
    if given:
        raise UsageError(f"{', '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} "
                         f"to CSV/TSV files, and {name} is a bundled sequence set with its own "
                         f"labels; drop {'it' if len(given) == 1 else 'them'}.")


def _check_names(data: list[str]) -> None:
    from ...data.uea import UEA

    for d in data:
        if not os.path.exists(d) and not any(c in d for c in "*?[") and os.sep not in d \
                and "." not in d:
            close = [n for n in UEA if n.lower() == d.strip().lower()]
            hint = f" (did you mean {close[0]!r}? the names are case-sensitive)" if close else ""
            raise FileNotFoundError(f"{d!r} is neither a file nor a bundled data set{hint}; "
                                    f"`grukit datasets` lists the bundled ones.")


def run(args: argparse.Namespace) -> int:
    if args.sep == "":  # read_labelled_text would infer one: the option ignored
        raise UsageError("--sep is empty; give the field separator (such as ',' or ';'), or "
                         "leave --sep out to have it inferred.")
    if args.action == "predict":
        return run_predict(args)
    return run_train(args)


def run_train(args: argparse.Namespace) -> int:
    from .base import check_config
    from .baselines import SummaryLogReg, TfidfLogReg
    from .crossval import cross_validate
    from .labels import encode_labels
    from .metrics import classification_scores
    from .sequence import SequenceClassifier
    from .text import TextClassifier

    model = training_model(args.model, MODELS, "classify")
    folds = 1 if args.folds is None else args.folds
    seed = 0 if args.seed is None else args.seed
    at_least("--folds", folds, 1)
    at_least("--epochs", args.epochs, 1)
    at_least("--hidden", args.hidden, 1)
    at_least("--seed", seed, 0)
    if args.resume and (folds < 2 or not args.output):
        raise UsageError("--resume continues a cross-validation: give it with --folds K (2 or "
                         "more) and the --output folder of the interrupted run.")
    out = prepare_output(args.output)
    _no_folders_at(out, ("metrics.json", "confusion.png"))
    if out and folds > 1 and os.path.isfile(os.path.join(out, FOLDS_DIR)):
        raise UsageError(f"--output {out!r} holds a file named {FOLDS_DIR!r}, where the run "
                         f"keeps each fold's results in a folder of that name; move that file "
                         f"or give another --output.")
    if args.save:
        from ..estimator import prepare_save

        prepare_save(args.save, output=out)
    RUN.start(out, resumable=folds > 1)
    kind, inputs, labels, desc, n_train = _load(args)
    classes, _ = encode_labels(labels, folds=folds)
    overrides = {"model": model, "seed": seed}
    if args.hidden is not None:
        overrides["hidden"] = args.hidden
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    clf = (TextClassifier if kind == "text" else SequenceClassifier)(**overrides)
    check_config(clf.config)  # before the splits, which take the seed too
    baseline = TfidfLogReg(seed=seed) if kind == "text" else SummaryLogReg(seed=seed)
    counts = dict(zip(*np.unique(labels, return_counts=True), strict=True))
    print(f"{desc}: {len(labels)} {kind}s, {len(classes)} classes "
          f"({', '.join(f'{c}: {n}' for c, n in counts.items())})")
    start = time.perf_counter()
    if folds > 1:
        protocol = f"stratified {folds}-fold cross-validation (seed {seed})"
        print(f"{protocol}, {display(model)} beside {baseline.name}")
        done, stamp = {}, None
        if out:
            stamp = fingerprint(kind, inputs, labels, folds, clf.get_config(), baseline.name)
            if args.resume:
                done = read_folds(out, folds, stamp)
                print(f"resuming: {len(done)} of {folds} folds already in "
                      f"{os.path.join(out, FOLDS_DIR)}")
                if done:
                    RUN.finished(f"{len(done)} of {folds} folds")
            else:
                clear_folds(out)

        def report(k, m, b):
            if out:
                with RUN.saving(f"fold {k + 1} of {folds}"):
                    write_fold(out, k, stamp, m, b)
            print(f"  fold {k + 1}: {model} accuracy {m['accuracy']:.4f} macro-F1 "
                  f"{m['macro_f1']:.4f} ({m['epochs']} epochs, {m['seconds']:.0f} s) | "
                  f"{baseline.name} accuracy {b['accuracy']:.4f}", flush=True)

        res = cross_validate(clf, inputs, labels, folds=folds, baseline=baseline,
                             on_fold=report, done=done)
        model_res, base_res = res["model"], res["baseline"]
    else:
        idx = np.arange(len(labels))
        if n_train is not None:
            tr, te = idx[:n_train], idx[n_train:]
            protocol = "official train/test split"
        else:
            from .base import stratified_split

            tr, te = stratified_split(encode_labels(labels)[1], 0.2, seed, strict=True,
                                      classes=classes)
            protocol = f"stratified 80/20 train/test split (seed {seed})"
        print(protocol)
        take = clf._take
        history = clf.fit(take(inputs, tr), labels[tr]).history_
        if args.save:  # before the scores and the plot: a failure there keeps the model
            _save(clf, args.save, desc, n_train, folds)
        model_res = clf.evaluate(take(inputs, te), labels[te])
        model_res["epochs"] = len(history.epoch)
        base_pred = baseline.fit(take(inputs, tr), labels[tr]).predict(take(inputs, te))
        base_res = classification_scores(labels[te], base_pred, classes)
        if kind == "text":
            _show_attention(clf, [inputs[i] for i in te[:3]])
    seconds = time.perf_counter() - start
    _print_table(model, model_res, baseline.name, base_res, folds)
    print(f"\n{seconds:.0f} s")
    if out:
        with RUN.saving("metrics.json"):
            _write(out, folds, model, desc, protocol, classes, model_res, baseline.name,
                   base_res, seconds)
        print(f"wrote metrics.json and confusion.png to {out}")
    if args.save and folds > 1:  # after the results are written: a stop here loses none
        print(f"training on all {len(labels)} rows for --save", flush=True)
        clf.fit(inputs, labels)
        _save(clf, args.save, desc, n_train, folds)
    return 0


def _no_folders_at(out: str | None, names: tuple[str, ...]) -> None:
    """One sentence, before any work, when a file the run writes in ``out`` is a folder
    there: writing it failed after the training or predicting, naming a temporary file."""
    for name in names if out else ():
        if os.path.isdir(os.path.join(out, name)):
            raise UsageError(f"--output {out!r} holds a folder named {name!r}, where the run "
                             f"writes its file {name}; move that folder or give another "
                             f"--output.")


def _save(clf, folder: str, desc: str, n_train, folds: int) -> None:
    """``clf`` saved in ``folder`` (--save), with the bundled set's splits it trained on."""
    if n_train is not None:  # predict scores on the set's test split: not when it trained
        clf.trained_on_ = {"set": desc, "splits": ["train", "test"] if folds > 1
                           else ["train"]}
    clf.save(folder)
    print(f"saved the model to {folder} (grukit classify predict --model {folder} "
          f"--data FILE)")


def run_predict(args: argparse.Namespace) -> int:
    from ..estimator import load

    predict_args(args, TRAIN_ONLY, "classify")
    if len(args.data) != 1:
        raise UsageError(f"predict reads one --data file; got {len(args.data)}.")
    if args.output:
        here, there = os.path.realpath(args.model), os.path.realpath(args.output)
        if there == here or there.startswith(here + os.sep):
            raise UsageError(f"--output {args.output!r} is {'' if there == here else 'in '}"
                             f"the --model folder {args.model!r}, which saving a model there "
                             f"replaces whole; give the predictions a folder of their own.")
    out = prepare_output(args.output)
    _no_folders_at(out, ("predictions.csv", "metrics.json"))
    RUN.start(out)
    clf = load(args.model)
    if type(clf).__name__ not in ("TextClassifier", "SequenceClassifier"):  # SpeechClassifier
        # is a SequenceClassifier, of recordings: it read each text as the path of a wav file
        raise UsageError(f"--model {args.model!r} holds a {type(clf).__name__}, not a text or "
                         f"sequence classifier; use its own command.")
    inputs, labels, column, desc = _load_for_predict(args, clf)
    if column is not None:  # a file's label column (a UEA set's labels are checked by evaluate)
        labels = _scorable(clf, labels, column, args.label_column is not None, desc)
    earlier = _metrics_writer(out) if out else None
    if labels is not None and earlier == "other":
        raise UsageError(f"--output {out!r} holds a metrics.json that predict did not write "
                         f"(a training run's?), which the scores would replace; give predict "
                         f"a folder of its own.")
    proba = clf.predict_proba(inputs)  # (N, K)
    pred = clf.classes_[proba.argmax(1)]
    scores = None
    if labels is not None:
        scores = clf.evaluate(inputs, labels)
    classes = [str(c) for c in clf.classes_]
    if out:
        from ..._io import atomic_text

        with RUN.saving("predictions.csv"):  # a Ctrl-C waits until both files agree
            write_predictions(os.path.join(out, "predictions.csv"), pred, proba, classes)
            if scores is not None:
                atomic_text(os.path.join(out, "metrics.json"), json.dumps(
                    {"data": desc, "model": args.model, "accuracy": scores["accuracy"],
                     "macro_f1": scores["macro_f1"], "classes": classes,
                     "confusion_matrix": scores["confusion"], "n": scores["n"]}, indent=2))
            elif earlier == "predict":  # an earlier run's scores, not of these predictions
                os.remove(os.path.join(out, "metrics.json"))
        print(f"{desc}: {len(pred)} predictions written to "
              f"{os.path.join(out, 'predictions.csv')}")
    else:
        print(predictions_csv(pred, proba, classes), end="")
    if scores is not None:
        print(f"accuracy {scores['accuracy']:.4f}, macro-F1 {scores['macro_f1']:.4f} on "
              f"{scores['n']} labelled rows", file=sys.stderr if not out else sys.stdout)
    return 0


def _scorable(clf, labels, column: str, named: bool, desc: str):
    """The labels predict scores against. A column found by its name (``category``,
    ``class``...) none of whose values is a class of the model holds something else: its
    predictions are written unscored, with a warning. Labels the model never saw in a column
    given with ``--label-column``, or beside its classes, are refused in one sentence."""
    from .base import UnseenLabels

    try:
        clf._label_index(labels, "predict")
    except UnseenLabels as err:
        what = (f"{desc}, column {column!r}: label(s) {err.names[:5]} ({err.rows} row(s)) "
                f"never occurred in training (the model knows "
                f"{[str(c) for c in clf.classes_[:20]]})")
        if named:
            raise UsageError(f"{what}, so no prediction can match them; drop those rows, or "
                             f"leave out --label-column to predict without scores.") from None
        if err.rows < len(labels):
            raise UsageError(f"{what}, so no prediction can match them; drop those rows or "
                             f"retrain with them.") from None
        print(f"grukit classify: warning: {what}: the column holds no class of the model, so "
              f"the predictions are not scored.", file=sys.stderr)
        return None
    return labels


def _metrics_writer(out: str) -> str | None:
    """Who wrote ``out/metrics.json``: None (there is none), "predict" (a JSON object without
    a training run's "protocol") or "other"."""
    path = os.path.join(out, "metrics.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            old = json.load(fh)
    except (OSError, ValueError):
        return "other"
    return "predict" if isinstance(old, dict) and "protocol" not in old else "other"


def _load_for_predict(args, clf):
    """(inputs, labels or None, the file's label column or None, description) of the one
    --data given to predict. Labels are read (and the predictions scored) when
    --label-column is given, or when the file's header names a label column (label, class,
    ...)."""
    from ...data.text import LABEL_NAMES, read_labelled_text
    from ...data.uea import UEA, load_uea

    data = args.data[0]
    if type(clf).__name__ == "SequenceClassifier":
        if data not in UEA:
            raise UsageError(f"a SequenceClassifier predicts on a bundled UEA set (its test "
                             f"split: {', '.join(UEA)}); got --data {data!r}.")
        _file_options_unused(args, data)
        try:
            x, y = load_uea(data, "test")
        except ImportError as err:
            raise ValueError(str(err)) from err
        seen = getattr(clf, "trained_on_", None) or {}
        if seen.get("set") == data and "test" in seen.get("splits", ()):
            print(f"grukit classify: warning: the model was trained on the test split of "
                  f"{data} too (--folds K --save trains on every row), so its predictions "
                  f"there are not scored.", file=sys.stderr)
            y = None
        return x, y, None, f"{data} (test split)"
    if data in UEA and not os.path.exists(data):
        raise UsageError(f"--model {args.model!r} holds a TextClassifier, which predicts on "
                         f"texts, and {data} is a bundled sequence set; give a CSV/TSV file of "
                         f"texts, or a model trained on {data}.")
    _check_names([data])
    paths = check_data_paths([data])
    if len(paths) != 1:
        raise UsageError(f"predict reads one file; --data {data!r} matches {len(paths)} "
                         f"({', '.join(map(os.path.basename, paths[:3]))}"
                         f"{', ...' if len(paths) > 3 else ''}); give one of them.")
    (path,) = paths
    labelled = args.label_column is not None
    if not labelled and not args.no_header:  # a header naming a label column: score too
        try:
            t = read_labelled_text(path, args.text_column, None, header=True, sep=args.sep)
        except ValueError as err:  # one column, empty labels...: read as unlabelled texts
            if "label column" in str(err) and "is empty on" in str(err):  # say why no score
                print(f"grukit classify: warning: predictions are not scored: "
                      f"{str(err).removesuffix('.')} to score them.", file=sys.stderr)
        else:
            if t.label_column.strip().lower() in LABEL_NAMES:
                if args.text_column is None:
                    check_default_text_column(path, t.text_column, t.texts)
                return t.texts, t.labels, t.label_column, os.path.basename(path)
    if labelled:
        t = read_labelled_text(path, args.text_column, args.label_column,
                               header=not args.no_header, sep=args.sep)
        if args.text_column is None:
            check_default_text_column(path, t.text_column, t.texts)
        return t.texts, t.labels, t.label_column, os.path.basename(path)
    texts = read_texts(path, args.text_column, header=not args.no_header, sep=args.sep)
    return texts, None, None, os.path.basename(path)


def _show_attention(clf, texts) -> None:
    print("\nattention (top tokens) on test texts:")
    for t in texts:
        pred = clf.predict([t])[0]
        tops = ", ".join(f"{tok} {w:.2f}" for tok, w in clf.explain(t, top=3))
        print(f"  [{pred}] {t[:70]!r}: {tops}")


def _print_table(model: str, m: dict, base_name: str, b: dict, folds: int) -> None:
    print("\n| model | accuracy | macro-F1 |\n|---|---|---|")
    for name, r in ((display(model), m), (base_name, b)):
        if folds > 1:
            print(f"| {name} | {r['accuracy']:.4f} ± {r['accuracy_std']:.4f} | "
                  f"{r['macro_f1']:.4f} ± {r['macro_f1_std']:.4f} |")
        else:
            print(f"| {name} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} |")
    if m["accuracy"] == b["accuracy"]:
        print(f"\nequal accuracy: {display(model)} and {base_name}")
    else:
        winner = display(model) if m["accuracy"] > b["accuracy"] else base_name
        print(f"\nhigher accuracy: {winner}")


def _write(output, folds, model, desc, protocol, classes, m, base_name, b, seconds) -> None:
    from ..._io import atomic_text

    def block(r):
        keys = ("accuracy", "macro_f1", "accuracy_std", "macro_f1_std", "epochs")
        out = {k: r[k] for k in keys if k in r}
        if "folds" in r:
            out["per_fold"] = [{k: f[k] for k in ("fold", "accuracy", "macro_f1", "epochs",
                                                   "seconds") if k in f} for f in r["folds"]]
        return out

    metrics = {"data": desc, "protocol": protocol, "folds": folds,
               "classes": [str(c) for c in classes], "model": model,
               "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
               model: block(m), "baseline": {"name": base_name} | block(b),
               "confusion_matrix": m["confusion"], "seconds": seconds}
    if folds > 1:
        metrics["per_fold"] = block(m)["per_fold"]
    atomic_text(os.path.join(output, "metrics.json"), json.dumps(metrics, indent=2))
    from .plot import plot_confusion

    plot_confusion(m["confusion"], [str(c) for c in classes],
                   f"{display(model)} on {desc[:60]} ({protocol.split(' (')[0]})",
                   os.path.join(output, "confusion.png"))
