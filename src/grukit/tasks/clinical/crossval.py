"""Folds and scores of ``grukit clinical``: stratified K-fold over the labelled records
(scikit-learn's ``StratifiedKFold``, shuffled with a fixed seed, so every model sees the
same folds), AUC-ROC / AUC-PR per fold with their mean ± std, and on the pooled
out-of-fold scores with a 95% percentile bootstrap interval (records resampled with
replacement)."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from .estimator import auc_scores


def fold_indices(y: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(train, test)] positions into ``y`` (N,) for ``folds`` stratified folds; one sentence
    when a class has fewer records than folds."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(y.astype(np.int64), minlength=2)
    if counts.min() < folds:
        raise ValueError(f"{folds} stratified folds need at least {folds} records of each "
                         f"outcome; there are {counts[0]} with 0 and {counts[1]} with 1. Use "
                         f"fewer folds.")
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(skf.split(np.zeros(len(y)), y))


def bootstrap_ci(y: np.ndarray, p: np.ndarray, seed: int = 0, rounds: int = 1000,
                 level: float = 0.95) -> dict:
    """``{"auc_roc_ci95": [lo, hi], "auc_pr_ci95": [lo, hi]}``: percentile intervals over
    ``rounds`` resamples of the records (a resample with one class only is redrawn)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(seed)
    roc, pr = [], []
    n = len(y)
    while len(roc) < rounds:
        idx = rng.integers(0, n, n)  # (n,)
        yb = y[idx]
        if yb.min() == yb.max():
            continue
        roc.append(roc_auc_score(yb, p[idx]))
        pr.append(average_precision_score(yb, p[idx]))
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    return {"auc_roc_ci95": [float(v) for v in np.percentile(roc, q)],
            "auc_pr_ci95": [float(v) for v in np.percentile(pr, q)]}


def summarize(per_fold: list[dict], y: np.ndarray, p: np.ndarray, seed: int = 0,
              rounds: int = 1000) -> dict:
    """One model's block of metrics.json: its folds, their mean ± std, and the pooled
    out-of-fold scores (``y``, ``p`` over every labelled record) with bootstrap intervals."""
    out = {"per_fold": per_fold}
    for key in ("auc_roc", "auc_pr"):
        v = np.array([f[key] for f in per_fold])
        out[key] = float(v.mean())
        out[f"{key}_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    out["pooled"] = auc_scores(y, p) | bootstrap_ci(y, p, seed, rounds)
    return out


def fingerprint(data, rows, folds: int, seed: int, config: dict, baselines) -> str:
    """What decides the folds' results: the records ``rows`` of ``data`` (their ids,
    outcomes, gridded values X, mask M, δ, descriptors and raw events, which the baselines'
    summary statistics read), the grid and variables, the folds and the settings; a fold
    file of another run, or of the same records with other values, is refused on --resume."""
    rows = np.asarray(rows)
    h = hashlib.sha256()
    h.update(np.asarray(data.record_ids)[rows].astype(str).astype("U").tobytes())
    h.update(np.asarray(data.y, dtype=np.float64)[rows].tobytes())
    for a in (data.X, data.M, data.delta, data.static, data.lengths):
        h.update(np.ascontiguousarray(np.asarray(a)[rows]).tobytes())
    per = np.diff(data.event_offsets)  # (N,) events of each record
    mine = np.isin(np.repeat(np.arange(data.n_records), per), rows)  # (E,)
    h.update(per[rows].astype(np.int64).tobytes())
    for a in (data.event_time, data.event_variable, data.event_value):
        h.update(np.ascontiguousarray(np.asarray(a)[mine]).tobytes())
    # gru-simple read forward-filled x until 2026-12-06: its earlier fold files are refused
    fill = {"simple_fill": "mean"} if config.get("model") == "gru-simple" else {}
    h.update(json.dumps({"folds": folds, "seed": seed, "config": config,
                         "baselines": list(baselines), "variables": list(data.variables),
                         "statics": list(data.static_names), "step": data.step,
                         "steps": data.n_steps, "outcome": data.outcome} | fill,
                        sort_keys=True).encode())
    return h.hexdigest()
