"""One training run as plain numbers: what every compare task returns per model and seed,
and whether the run converged (early stopping ended it) or was cut short."""

from __future__ import annotations

import numpy as np

# how a run ended: early stopping, or one of the safety limits
STOPPED_EARLY = "patience"
LIMITS = {"max_epochs": "its epoch cap", "max_seconds": "its time limit",
          "max_steps": "its step count"}


def convergence(val_curve, *, patience: int | None, stop_reason: str | None,
                unit: str = "epoch") -> tuple[bool, str]:
    """-> (converged, why): whether a run whose validation losses (lower is better) are
    ``val_curve`` ended because validation had stopped improving.

    A run is "not converged" when its best validation loss came at its last ``unit``
    (it was still improving when it ended), or when it ended at a limit (``stop_reason``
    not "patience") while validation had improved within its last ``patience`` units.
    """
    val = [float(v) for v in val_curve]
    if not val:
        return False, "no validation loss was recorded, so convergence cannot be judged"
    n, best = len(val), int(np.argmin(val)) + 1
    limit = LIMITS.get(stop_reason or "", "its limit")
    if best == n:
        return False, (f"best validation at the last {unit} ({best} of {n}): still improving "
                       f"when it stopped at {limit}")
    if stop_reason != STOPPED_EARLY and patience is not None and n - best < patience:
        return False, (f"stopped at {limit} ({n} {unit}s) {n - best} {unit}(s) after its best "
                       f"validation, before early stopping's patience of {patience}")
    if stop_reason == STOPPED_EARLY:
        return True, f"early stopping: best {unit} {best} of {n}"
    return True, (f"stopped at {limit} ({n} {unit}s), {n - best} {unit}s after its best "
                  f"validation (patience {patience})")


def fit_record(epoch_seconds, train_curve, val_curve, *, params: int, train_metric: float,
               test_metric: float, higher_is_better: bool = False,
               patience: int | None = None, stop_reason: str | None = None,
               last_epoch_partial: bool = False, **extra) -> dict:
    """Epoch times and per-epoch losses -> the record the table reads.

    ``gap`` is how much worse the test metric is than the train metric (positive:
    overfitting). ``best_epoch`` is 1-based (lowest validation loss); ``seconds_to_best``
    sums the epoch times up to and including it. ``converged`` and ``convergence`` say
    whether early stopping ended the run (``convergence``'s rule; ``patience`` and
    ``stop_reason`` are the trainer's: "patience", "max_epochs" or "max_seconds").
    ``seconds_per_epoch`` averages the whole epochs: a last epoch that a time limit cut
    short (``last_epoch_partial``) is left out of it when there are others.
    """
    val = [float(v) for v in val_curve]
    best = int(np.argmin(val)) if val else 0
    secs = [float(s) for s in epoch_seconds]
    converged, why = convergence(val, patience=patience, stop_reason=stop_reason)
    whole = secs[:-1] if last_epoch_partial and len(secs) > 1 else secs
    return {"params": int(params), "epochs": len(secs),
            "epoch_seconds": secs, "seconds_per_epoch": float(np.mean(whole)) if secs else 0.0,
            "best_epoch": best + 1, "seconds_to_best": float(sum(secs[:best + 1])),
            "train_curve": [float(v) for v in train_curve], "val_curve": val,
            "train_metric": float(train_metric), "test_metric": float(test_metric),
            "gap": (float(train_metric) - float(test_metric)) if higher_is_better
            else (float(test_metric) - float(train_metric)),
            "stop_reason": stop_reason, "patience": patience, "converged": converged,
            "last_epoch_partial": bool(last_epoch_partial),
            "convergence": why, **extra}


def stop_reason_of(epochs_run: int, max_epochs: int) -> str:
    """A Keras-style fit with EarlyStopping: fewer epochs than asked means early stopping
    ended it."""
    return STOPPED_EARLY if epochs_run < max_epochs else "max_epochs"
