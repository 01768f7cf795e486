"""One training run as plain numbers: what every compare task returns per model and seed,
and whether the run converged (early stopping ended it) or was cut short."""

from __future__ import annotations

import numpy as np

# how a run ended: early stopping, or one of the safety limits
STOPPED_EARLY = "patience"
LIMITS = {"max_epochs": "its epoch cap", "max_seconds": "its time limit",
          "max_steps": "its step count"}
NONFINITE = "nonfinite"  # the training loss became NaN or Inf, and training stopped


def _best(val: list[float]) -> int | None:
    """0-based index of the lowest validation loss, NaN never the lowest (numpy's argmin
    takes the first NaN); None when no value is a number."""
    v = np.asarray(val, float)
    if not v.size or np.isnan(v).all():
        return None
    return int(np.argmin(np.where(np.isnan(v), np.inf, v)))


def convergence(val_curve, *, patience: int | None, stop_reason: str | None,
                unit: str = "epoch") -> tuple[bool, str]:
    """-> (converged, why): whether a run whose validation losses (lower is better) are
    ``val_curve`` ended because validation had stopped improving.

    A run is "not converged" when its best validation loss came at its last ``unit``
    (it was still improving when it ended), or when it ended at a limit (``stop_reason``
    not "patience") while validation had improved within its last ``patience`` units, or
    when its training loss became NaN or Inf (``stop_reason`` "nonfinite"). NaN is never
    the best validation loss.
    """
    val = [float(v) for v in val_curve]
    if stop_reason == NONFINITE:
        return False, (f"its training loss became NaN or Inf after {len(val)} finished "
                       f"{unit}(s), and training stopped there (not early stopping)")
    if _best(val) is None:
        return False, "no validation loss was recorded, so convergence cannot be judged"
    n, best = len(val), _best(val) + 1
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
    overfitting). ``best_epoch`` is 1-based (lowest validation loss, NaN never the lowest);
    ``seconds_to_best`` sums the epoch times up to and including it. A run with no finished
    epoch (its training loss NaN or Inf in the first) has None for both and for
    ``seconds_per_epoch``: no time of 0 enters the training-speed rows. ``converged`` and
    ``convergence`` say whether early stopping ended the run (``convergence``'s rule;
    ``patience`` and ``stop_reason`` are the trainer's: "patience", "max_epochs",
    "max_seconds" or "nonfinite").
    ``seconds_per_epoch`` averages the whole epochs: a last epoch that a time limit cut
    short (``last_epoch_partial``) is left out of it when there are others.
    """
    val = [float(v) for v in val_curve]
    best = _best(val)
    secs = [float(s) for s in epoch_seconds]
    converged, why = convergence(val, patience=patience, stop_reason=stop_reason)
    whole = secs[:-1] if last_epoch_partial and len(secs) > 1 else secs
    return {"params": int(params), "epochs": len(secs),
            "epoch_seconds": secs, "seconds_per_epoch": float(np.mean(whole)) if secs else None,
            "best_epoch": None if best is None else best + 1,
            "seconds_to_best": None if best is None or not secs else float(sum(secs[:best + 1])),
            "train_curve": [float(v) for v in train_curve], "val_curve": val,
            "train_metric": float(train_metric), "test_metric": float(test_metric),
            "gap": (float(train_metric) - float(test_metric)) if higher_is_better
            else (float(test_metric) - float(train_metric)),
            "stop_reason": stop_reason, "patience": patience, "converged": converged,
            "last_epoch_partial": bool(last_epoch_partial),
            "convergence": why, **extra}


def stop_reason_of(epochs_run: int, max_epochs: int, history=None) -> str:
    """A Keras-style fit with EarlyStopping: fewer epochs than asked means early stopping
    ended it, unless its ``history`` (``grukit.models.History``) says the training loss
    became NaN or Inf ("nonfinite")."""
    if getattr(history, "stop_reason", None) == NONFINITE:
        return NONFINITE
    return STOPPED_EARLY if epochs_run < max_epochs else "max_epochs"
