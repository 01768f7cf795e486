"""Forecast accuracy: MAE, RMSE, sMAPE (%) and MASE (scaled by the in-sample MAE of the
seasonal-naive forecast with period m, Hyndman & Koehler 2006)."""

from __future__ import annotations

import numpy as np


def scores(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, m: int) -> dict:
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    err = a - f
    denom = np.abs(a) + np.abs(f)
    smape = float(np.mean(np.where(denom == 0, 0.0, 2 * np.abs(err) / np.where(denom == 0, 1,
                                                                               denom))) * 100)
    h = np.asarray(history, float)
    m = m if len(h) > m else 1
    scale = float(np.mean(np.abs(h[m:] - h[:-m])))
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2))),
            "smape": smape, "mase": float(np.mean(np.abs(err)) / scale) if scale else float("nan")}


def average(folds: list[dict]) -> dict:
    return {k: float(np.mean([f[k] for f in folds])) for k in folds[0]}
