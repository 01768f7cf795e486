"""Stratified k-fold cross-validation of a classifier, with a baseline on the same folds."""

from __future__ import annotations

import time

import numpy as np

from .base import check_config
from .labels import as_labels, encode_labels
from .metrics import classification_scores


def _summary(folds: list[dict], classes) -> dict:
    acc = np.array([f["accuracy"] for f in folds])
    f1 = np.array([f["macro_f1"] for f in folds])
    confusion = np.sum([f["confusion"] for f in folds], axis=0).tolist()
    return {"accuracy": float(acc.mean()), "accuracy_std": float(acc.std()),
            "macro_f1": float(f1.mean()), "macro_f1_std": float(f1.std()),
            "confusion": confusion, "classes": [str(c) for c in classes],
            "seconds": float(sum(f["seconds"] for f in folds)), "folds": folds}


def cross_validate(classifier, inputs, labels, folds: int = 5, baseline=None,
                   on_fold=None, done: dict | None = None) -> dict:
    """Train a fresh copy of ``classifier`` (same config) on each of ``folds`` stratified
    folds and score it on the held-out fold; the same for ``baseline`` (an object with
    ``fit``/``predict``) when given.

    Returns ``{"model": summary, "baseline": summary or None}``; a summary holds the mean
    and standard deviation over folds of ``accuracy`` and ``macro_f1``, the summed confusion
    matrix, and ``folds`` (each fold's scores, sizes, seconds and epochs trained).
    ``on_fold(k, model_scores, baseline_scores)`` is called after each fold trained here.
    ``done`` maps fold numbers (0-based) to ``(model_scores, baseline_scores)`` already
    measured (read back from disk to resume): those folds are not trained again. The folds
    depend only on the labels, ``folds`` and ``classifier.config.seed``, so a resumed run
    scores the same folds as an uninterrupted one.
    """
    from sklearn.model_selection import StratifiedKFold

    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ValueError(f"cross-validation needs a whole number of folds, 2 or more; got "
                         f"{folds!r}.")
    check_config(classifier.config)  # the folds take its seed
    done = done or {}
    labels = as_labels(labels)  # as fit reads them (mixed int/str: their text)
    classes, y = encode_labels(labels, folds=folds)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=classifier.config.seed)
    model_folds, base_folds = [], []
    # read by an unfitted copy: the folds train fresh models, so data of other channels than
    # a fitted ``classifier`` knows is no reason to refuse
    unfitted = type(classifier)(classifier.config)
    inputs = unfitted._prepare(inputs)
    if unfitted._count(inputs) != len(y):
        raise ValueError(f"there are {unfitted._count(inputs)} inputs but {len(y)} labels; "
                         f"they must match.")
    for k, (tr, te) in enumerate(splitter.split(np.zeros(len(y)), y)):
        if k in done:
            scores, base = done[k]
            model_folds.append(scores)
            if base is not None:
                base_folds.append(base)
            continue
        clf = type(classifier)(classifier.config)
        start = time.perf_counter()
        history = clf.fit(clf._take(inputs, tr), labels[tr]).history_
        pred = clf.predict(clf._take(inputs, te))
        scores = classification_scores(labels[te], pred, classes)
        scores |= {"fold": k, "train": int(len(tr)), "test": int(len(te)),
                   "epochs": len(history.epoch), "seconds": time.perf_counter() - start}
        model_folds.append(scores)
        base = None
        if baseline is not None:
            start = time.perf_counter()
            b = baseline.fit(clf._take(inputs, tr), labels[tr])
            base = classification_scores(labels[te], b.predict(clf._take(inputs, te)), classes)
            base |= {"fold": k, "seconds": time.perf_counter() - start}
            base_folds.append(base)
        if on_fold is not None:
            on_fold(k, scores, base)
    return {"model": _summary(model_folds, classes),
            "baseline": _summary(base_folds, classes) if base_folds else None}
