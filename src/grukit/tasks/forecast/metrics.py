"""Forecast accuracy: MAE, RMSE, sMAPE (%) and MASE (scaled by the in-sample MAE of the
seasonal-naive forecast with period m, Hyndman & Koehler 2006).

MASE is undefined where that denominator is zero: a history that never changes over a
season (a constant series, for one). There ``scores`` gives ``"mase": None`` rather than
NaN or infinity, an average over folds or series containing such a value is None too, and
``lowest`` names no winner by it (``grukit forecast`` then says so and names the lowest
MAE, which is defined for any series). Where several tie for the lowest score (a yearly
series' seasonal naive is its naive forecast), ``tied`` names them all and so does
``grukit forecast``."""

from __future__ import annotations

import math

import numpy as np

KEYS = ("mae", "rmse", "smape", "mase")


def scores(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, m: int) -> dict:
    """``{"mae", "rmse", "smape", "mase"}`` of ``forecast`` against ``actual``; MASE divides
    the MAE by the in-sample MAE of the seasonal-naive forecast of period ``m`` on
    ``history`` (period 1 when the history is not longer than ``m``), None where that is 0.
    """
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    err = a - f
    denom = np.abs(a) + np.abs(f)
    smape = float(np.mean(np.where(denom == 0, 0.0, 2 * np.abs(err) / np.where(denom == 0, 1,
                                                                               denom))) * 100)
    h = np.asarray(history, float)
    m = m if len(h) > m else 1
    scale = float(np.mean(np.abs(h[m:] - h[:-m])))
    mae = float(np.mean(np.abs(err)))
    return {"mae": mae, "rmse": float(np.sqrt(np.mean(err ** 2))), "smape": smape,
            "mase": mae / scale if scale > 0 else None}


def average(folds: list[dict]) -> dict:
    """Mean of each score over folds (or series); None where any of them is None."""
    return {k: None if any(f[k] is None for f in folds) else float(np.mean([f[k] for f in folds]))
            for k in folds[0]}


def lowest(results: dict[str, dict], key: str) -> str | None:
    """The name whose ``key`` score is lowest (of tied ones, the first: ``tied`` names them
    all), or None when any is undefined or not finite (no winner is named by a score that
    some contender lacks)."""
    names = tied(results, key)
    return None if names is None else names[0]


def tied(results: dict[str, dict], key: str) -> list[str] | None:
    """Every name whose ``key`` score is the lowest, in ``results``' order (two or more when
    they tie: with season 1, seasonal naive is naive), or None as ``lowest``."""
    values = {name: r.get(key) for name, r in results.items()}
    if any(v is None or not math.isfinite(v) for v in values.values()):
        return None
    best = min(values.values())
    return [name for name, v in values.items() if math.isclose(v, best, rel_tol=1e-12,
                                                               abs_tol=1e-300)]
