"""``grukit classify``: a recurrent classifier beside a logistic-regression baseline, on
labelled text files (CSV/TSV) or a bundled UEA sequence set; metrics.json and a
confusion-matrix PNG."""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def add_parser(sub) -> None:
    p = sub.add_parser("classify", help="classify texts or sequences with a GRU beside a "
                                        "logistic-regression baseline",
                       description="Train a recurrent classifier with attention pooling on "
                                   "labelled text files or a bundled UEA sequence set, beside "
                                   "TF-IDF (text) or summary-statistics (sequences) logistic "
                                   "regression on the same folds. --folds 1: the official "
                                   "train/test split of a UEA set, a stratified 80/20 split "
                                   "of files; K > 1: stratified K-fold cross-validation.")
    p.add_argument("--data", required=True, action="append",
                   help="a CSV/TSV file or glob (repeat for several files) or a UEA set "
                        "(grukit datasets)")
    p.add_argument("--text-column", help="name or 0-based index (default: 'text' or first)")
    p.add_argument("--label-column", help="name or 0-based index (default: 'label' or last)")
    p.add_argument("--no-header", action="store_true", help="the files have no header row")
    p.add_argument("--sep", help="field separator (default: inferred)")
    p.add_argument("--model", choices=("gru", "lstm", "bigru", "bilstm", "rnn", "mingru"),
                   default="gru")
    p.add_argument("--folds", type=int, default=1)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--epochs", type=int, help="most epochs (early stopping on a validation "
                                              "split of the training rows picks fewer)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", help="directory for metrics.json and confusion.png")
    p.set_defaults(func=run)


def _load(args):
    """(kind, inputs, labels, description, official split or None)."""
    from ...data.uea import UEA, load_uea

    if len(args.data) == 1 and args.data[0] in UEA:
        name = args.data[0]
        try:
            xtr, ytr = load_uea(name, "train")
            xte, yte = load_uea(name, "test")
        except ImportError as err:
            raise ValueError(str(err)) from err
        return "sequence", xtr + xte, np.concatenate([ytr, yte]), name, len(xtr)
    from ...data.text import read_labelled_text

    for d in args.data:
        if not os.path.exists(d) and not any(c in d for c in "*?[") and os.sep not in d \
                and "." not in d:
            raise FileNotFoundError(f"{d!r} is neither a file nor a bundled data set; "
                                    f"`grukit datasets` lists the bundled ones.")
    t = read_labelled_text(args.data, args.text_column, args.label_column,
                           header=not args.no_header, sep=args.sep)
    desc = ", ".join(os.path.basename(f) for f in t.files)
    return "text", t.texts, t.labels, desc, None


def run(args: argparse.Namespace) -> int:
    from .baselines import SummaryLogReg, TfidfLogReg
    from .crossval import cross_validate
    from .labels import encode_labels
    from .metrics import classification_scores
    from .sequence import SequenceClassifier
    from .text import TextClassifier

    if args.folds < 1:
        raise ValueError(f"--folds must be 1 or more; got {args.folds}.")
    kind, inputs, labels, desc, n_train = _load(args)
    classes, _ = encode_labels(labels, folds=args.folds)
    overrides = {"model": args.model, "hidden": args.hidden, "seed": args.seed}
    if args.epochs:
        overrides["epochs"] = args.epochs
    clf = (TextClassifier if kind == "text" else SequenceClassifier)(**overrides)
    baseline = TfidfLogReg(seed=args.seed) if kind == "text" else SummaryLogReg(seed=args.seed)
    counts = dict(zip(*np.unique(labels, return_counts=True), strict=True))
    print(f"{desc}: {len(labels)} {kind}s, {len(classes)} classes "
          f"({', '.join(f'{c}: {n}' for c, n in counts.items())})")
    start = time.perf_counter()
    if args.folds > 1:
        protocol = f"stratified {args.folds}-fold cross-validation (seed {args.seed})"
        print(f"{protocol}, {args.model.upper()} beside {baseline.name}")

        def report(k, m, b):
            print(f"  fold {k + 1}: {args.model} accuracy {m['accuracy']:.4f} macro-F1 "
                  f"{m['macro_f1']:.4f} ({m['epochs']} epochs, {m['seconds']:.0f} s) | "
                  f"{baseline.name} accuracy {b['accuracy']:.4f}", flush=True)

        res = cross_validate(clf, inputs, labels, folds=args.folds, baseline=baseline,
                             on_fold=report)
        model_res, base_res = res["model"], res["baseline"]
    else:
        idx = np.arange(len(labels))
        if n_train is not None:
            tr, te = idx[:n_train], idx[n_train:]
            protocol = "official train/test split"
        else:
            from .base import stratified_split

            tr, te = stratified_split(encode_labels(labels)[1], 0.2, args.seed)
            protocol = f"stratified 80/20 train/test split (seed {args.seed})"
        print(protocol)
        take = clf._take
        history = clf.fit(take(inputs, tr), labels[tr]).history_
        model_res = clf.evaluate(take(inputs, te), labels[te])
        model_res["epochs"] = len(history.epoch)
        base_pred = baseline.fit(take(inputs, tr), labels[tr]).predict(take(inputs, te))
        base_res = classification_scores(labels[te], base_pred, classes)
        if kind == "text":
            _show_attention(clf, [inputs[i] for i in te[:3]])
    seconds = time.perf_counter() - start
    _print_table(args.model, model_res, baseline.name, base_res, args.folds)
    print(f"\n{seconds:.0f} s")
    if args.output:
        _write(args, desc, protocol, classes, model_res, baseline.name, base_res, seconds)
        print(f"wrote metrics.json and confusion.png to {args.output}")
    return 0


def _show_attention(clf, texts) -> None:
    print("\nattention (top tokens) on test texts:")
    for t in texts:
        pred = clf.predict([t])[0]
        tops = ", ".join(f"{tok} {w:.2f}" for tok, w in clf.explain(t, top=3))
        print(f"  [{pred}] {t[:70]!r}: {tops}")


def _print_table(model: str, m: dict, base_name: str, b: dict, folds: int) -> None:
    print("\n| model | accuracy | macro-F1 |\n|---|---|---|")
    for name, r in ((model.upper(), m), (base_name, b)):
        if folds > 1:
            print(f"| {name} | {r['accuracy']:.4f} ± {r['accuracy_std']:.4f} | "
                  f"{r['macro_f1']:.4f} ± {r['macro_f1_std']:.4f} |")
        else:
            print(f"| {name} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} |")
    winner = model.upper() if m["accuracy"] > b["accuracy"] else base_name
    print(f"\nhigher accuracy: {winner}")


def _write(args, desc, protocol, classes, m, base_name, b, seconds) -> None:
    from ..._io import atomic_text

    os.makedirs(args.output, exist_ok=True)

    def block(r):
        keys = ("accuracy", "macro_f1", "accuracy_std", "macro_f1_std", "epochs")
        out = {k: r[k] for k in keys if k in r}
        if "folds" in r:
            out["per_fold"] = [{k: f[k] for k in ("fold", "accuracy", "macro_f1", "epochs",
                                                   "seconds") if k in f} for f in r["folds"]]
        return out

    metrics = {"data": desc, "protocol": protocol, "folds": args.folds,
               "classes": [str(c) for c in classes], "model": args.model,
               "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
               args.model: block(m), "baseline": {"name": base_name} | block(b),
               "confusion_matrix": m["confusion"], "seconds": seconds}
    if args.folds > 1:
        metrics["per_fold"] = block(m)["per_fold"]
    atomic_text(os.path.join(args.output, "metrics.json"), json.dumps(metrics, indent=2))
    from .plot import plot_confusion

    plot_confusion(m["confusion"], [str(c) for c in classes],
                   f"{args.model.upper()} on {desc[:60]} ({protocol.split(' (')[0]})",
                   os.path.join(args.output, "confusion.png"))
