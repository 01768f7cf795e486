"""One training run as plain numbers: what every compare task returns per model and seed."""

from __future__ import annotations

import numpy as np


def fit_record(epoch_seconds, train_curve, val_curve, *, params: int, train_metric: float,
               test_metric: float, higher_is_better: bool = False, **extra) -> dict:
    """Epoch times and per-epoch losses -> the record the table reads.

    ``gap`` is how much worse the test metric is than the train metric (positive:
    overfitting). ``best_epoch`` is 1-based (lowest validation loss); ``seconds_to_best``
    sums the epoch times up to and including it.
    """
    val = [float(v) for v in val_curve]
    best = int(np.argmin(val)) if val else 0
    secs = [float(s) for s in epoch_seconds]
    return {"params": int(params), "epochs": len(secs),
            "epoch_seconds": secs, "seconds_per_epoch": float(np.mean(secs)) if secs else 0.0,
            "best_epoch": best + 1, "seconds_to_best": float(sum(secs[:best + 1])),
            "train_curve": [float(v) for v in train_curve], "val_curve": val,
            "train_metric": float(train_metric), "test_metric": float(test_metric),
            "gap": (float(train_metric) - float(test_metric)) if higher_is_better
            else (float(test_metric) - float(train_metric)), **extra}
