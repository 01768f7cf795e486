"""Baselines shown beside every forecast: naive, seasonal naive, ETS (statsmodels)."""

from __future__ import annotations

import warnings

import numpy as np


def naive(history: np.ndarray, horizon: int) -> np.ndarray:
    """The last value of ``history`` repeated ``horizon`` times: ŷ_{T+h} = y_T."""
    return np.repeat(history[-1], horizon)


def seasonal_naive(history: np.ndarray, horizon: int, m: int) -> np.ndarray:
    """The last season of ``history`` repeated: ŷ_{T+h} = y_{T+h−m·⌈h/m⌉}, (horizon,);
    ``naive`` when ``m`` ≤ 1 or the history is shorter than a season."""
    if m <= 1 or len(history) < m:
        return naive(history, horizon)
    last = history[-m:]
    return np.array([last[i % m] for i in range(horizon)])


def ets(history: np.ndarray, horizon: int, m: int) -> np.ndarray:
    """Exponential smoothing (statsmodels' ETSModel), additive error, the trend/season
    combination with the lowest AIC."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    best, best_aic = None, np.inf
    seasonal = [None, "add"] if m > 1 and len(history) >= 2 * m + 2 else [None]
    for trend in (None, "add"):
        for damped in ((False, True) if trend else (False,)):
            for season in seasonal:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        fit = ETSModel(history, error="add", trend=trend, damped_trend=damped,
                                       seasonal=season,
                                       seasonal_periods=m if season else None).fit(disp=False)
                    except (ValueError, np.linalg.LinAlgError):
                        continue
                if np.isfinite(fit.aic) and fit.aic < best_aic:
                    best, best_aic = fit, fit.aic
    if best is None:
        return naive(history, horizon)
    return np.asarray(best.forecast(horizon))
