"""Exponential smoothing as the first stage of the ES-GRU hybrid (in the spirit of Smyl's
ES-RNN, the M4 winner): per series, additive Holt-Winters with a damped trend

    l_t = α (y_t − s_{t−m}) + (1 − α)(l_{t−1} + φ b_{t−1})
    b_t = β (l_t − l_{t−1}) + (1 − β) φ b_{t−1}
    s_t = γ (y_t − l_{t−1} − φ b_{t−1}) + (1 − γ) s_{t−m}
    ŷ_{t+k|t} = l_t + (φ + … + φ^k) b_t + s_{t+k−m⌈k/m⌉}

(no s when m = 1; no b when the model without a trend forecasts the training series
better over the horizon). statsmodels'
``ExponentialSmoothing`` estimates α, β, γ, φ given the initial states below; ``filter``
then runs the recursion over any history with those parameters (the same numbers at fit and
at predict time, so ``predict()`` equals ``predict(whole series)``). The states normalise
the network's inputs and give the base forecast the network corrects.

Initial states (a fixed rule, so that a history alone decides them): with a season, the level
is the mean of the first season, the trend the change of the seasonal means over the first
two seasons divided by m, the season the first season minus its mean; without one, the
level is the first value and the trend the mean change over the first few values.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass
class ESParams:
    alpha: float
    beta: float
    gamma: float
    phi: float
    season: int  # m; 1 when the series is modelled without a season
    trend: bool = True  # False: no trend (β = φ = 0, b = 0 throughout)

    def as_array(self) -> np.ndarray:
        return np.array([self.alpha, self.beta, self.gamma, self.phi, self.season,
                         float(self.trend)], np.float64)

    @classmethod
    def from_array(cls, a) -> ESParams:
        a = np.asarray(a, np.float64)
        return cls(float(a[0]), float(a[1]), float(a[2]), float(a[3]), int(a[4]),
                   bool(a[5]))


def need(season: int) -> int:
    """The fewest values whose states ``filter`` can start from."""
    return 2 * season + 2 if season > 1 else 4


def initial(y: np.ndarray, m: int, trend: bool = True) -> tuple[float, float, np.ndarray]:
    """(level, trend, season (m,)) before the first value: the fixed rule above (trend 0
    without one)."""
    if m > 1:
        first, second = y[:m].mean(), y[m:2 * m].mean()
        return float(first), float((second - first) / m) if trend else 0.0, y[:m] - first
    k = min(len(y) - 1, 4)
    return float(y[0]), float((y[k] - y[0]) / k) if trend else 0.0, np.zeros(1)


def fit_params(y: np.ndarray, m: int, horizon: int = 1) -> ESParams:
    """α, β, γ, φ by statsmodels (its SSE fit), with the initial states of ``initial``;
    with a damped trend or none, whichever forecasts the series itself better ``horizon``
    steps ahead (in-sample MAE from every origin; with one step, the lower AIC). A series
    shorter than two seasons plus two values is modelled without its season."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    m = m if m > 1 and len(y) >= need(m) else 1
    best, best_aic = None, np.inf
    for trend in (True, False):
        level, slope, season = initial(y, m, trend)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ExponentialSmoothing(
                y, trend="add" if trend else None, damped_trend=trend,
                seasonal="add" if m > 1 else None, seasonal_periods=m if m > 1 else None,
                initialization_method="known", initial_level=level,
                initial_trend=slope if trend else None,
                initial_seasonal=season if m > 1 else None).fit(optimized=True)
        p = fit.params
        params = ESParams(float(p["smoothing_level"]),
                          float(p["smoothing_trend"]) if trend else 0.0,
                          float(p["smoothing_seasonal"]) if m > 1 else 0.0,
                          float(p["damping_trend"]) if trend else 0.0, m, trend)
        score = fit.aic if horizon <= 1 else _h_step_mae(y, params, horizon)
        if best is None or (np.isfinite(score) and score < best_aic):
            best, best_aic = params, score
    return best


def _h_step_mae(y: np.ndarray, p: ESParams, horizon: int) -> float:
    """Mean absolute error of the forecasts 1..horizon steps ahead from every origin of ``y``
    (a trend that only chases the last change scores badly here, however well it fits one
    step ahead)."""
    origins = np.arange(need(p.season) - 1, len(y) - horizon)
    if len(origins) == 0:
        return np.inf
    f = forecast(filter(y, p), p, origins, horizon)  # (N, h)
    return float(np.mean(np.abs(y[origins[:, None] + np.arange(1, horizon + 1)] - f)))


@dataclass
class States:
    level: np.ndarray  # (n,) l_t after y_t
    trend: np.ndarray  # (n,) b_t
    season: np.ndarray  # (n + m,) s_{t−m} at index t: season[t + m] is s_t


def filter(y: np.ndarray, p: ESParams) -> States:
    """Run the recursion over ``y`` (n ≥ ``need(p.season)``) from ``initial``."""
    m, n = p.season, len(y)
    l0, b0, s0 = initial(y, m, p.trend)
    level, trend = np.empty(n), np.empty(n)
    season = np.empty(n + m)
    season[:m] = s0 if m > 1 else 0.0
    lp, bp = l0, b0
    a, b, g, phi = p.alpha, p.beta, p.gamma, p.phi
    for t in range(n):
        s_old = season[t] if m > 1 else 0.0
        lt = a * (y[t] - s_old) + (1 - a) * (lp + phi * bp)
        bt = b * (lt - lp) + (1 - b) * phi * bp
        season[t + m] = g * (y[t] - lp - phi * bp) + (1 - g) * s_old if m > 1 else 0.0
        level[t], trend[t] = lt, bt
        lp, bp = lt, bt
    return States(level, trend, season)


def forecast(st: States, p: ESParams, origins: np.ndarray, horizon: int) -> np.ndarray:
    """ŷ_{t+k|t} for every origin t (0-based index of the last value seen) and k = 1..horizon:
    (len(origins), horizon)."""
    m, phi = p.season, p.phi
    k = np.arange(1, horizon + 1)
    damp = np.cumsum(phi ** k)  # (h,) φ + … + φ^k
    t = np.asarray(origins)[:, None]  # (N, 1)
    out = st.level[t] + damp[None, :] * st.trend[t]  # (N, h)
    if m > 1:
        back = m * ((k - 1) // m + 1)  # (h,) m⌈k/m⌉
        out = out + st.season[t + k[None, :] - back[None, :] + m]
    return out


def deseasonalised(y: np.ndarray, st: States, p: ESParams) -> np.ndarray:
    """y_t − s_{t−m}: the series with the season that was known before each value removed."""
    if p.season == 1:
        return y.copy()
    return y - st.season[:len(y)]
