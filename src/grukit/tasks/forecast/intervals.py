"""Probabilistic forecasts: the pinball loss of quantile outputs, split-conformal intervals
and the scores of an interval or a predictive distribution.

Split conformal (Vovk et al. 2005; Lei et al. 2018), per horizon step k: with the n
calibration residuals r_ik = y − ŷ of windows the network did not train on, the interval at
level 1 − α is ŷ_k ± q_k, q_k the ⌈(n + 1)(1 − α)⌉-th smallest |r_ik| (the largest when n
is too small for that rank: then the level is not guaranteed). The same residuals added to
the forecast are the predictive distribution whose CRPS the backtest reports:

    CRPS(F, y) = E|X − y| − ½ E|X − X'|,   X, X' ~ F   (Gneiting & Raftery 2007)

Quantile outputs are trained with the pinball loss ρ_τ(u) = max(τ u, (τ − 1) u), u = y − q.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch


def point_and_pinball(horizon: int, quantiles: list[float]):
    """The loss of a head (B, horizon · (1 + Q)): MSE of the first ``horizon`` outputs (the
    point forecast) plus the mean pinball loss of the Q quantile rows after it; called as
    ``compile`` calls a loss function, (target, pred), as Keras does."""
    taus = torch.tensor(quantiles, dtype=torch.float32).reshape(1, -1, 1)  # (1, Q, 1)

    def point_and_pinball(target: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        target = target.to(pred.dtype).reshape(-1, horizon)  # (B, h)
        point = pred[:, :horizon]  # (B, h)
        q = pred[:, horizon:].reshape(len(pred), -1, horizon)  # (B, Q, h)
        u = target[:, None, :] - q
        t = taus.to(pred.dtype)
        pinball = torch.maximum(t * u, (t - 1) * u).mean()
        return torch.nn.functional.mse_loss(point, target) + pinball

    return point_and_pinball


def conformal_rank(n: int, level: float) -> int:
    """⌈(n + 1) · level⌉, the 1-based rank of the half-width among n residuals, without the
    float rounding of the product ((99 + 1) · 0.55 is 55, not 55.00000000000001: rank 56)."""
    return math.ceil(round((n + 1) * level, 9))


def conformal_halfwidth(residuals: np.ndarray, level: float) -> np.ndarray:
    """Residuals (n, h) -> half-widths (h,) of the split-conformal interval at ``level``."""
    r = np.sort(np.abs(np.asarray(residuals, np.float64)), axis=0)  # (n, h)
    n = len(r)
    rank = min(conformal_rank(n, level), n)  # 1-based
    return r[rank - 1]


def coverage(actual, lower, upper) -> float:
    a = np.asarray(actual, np.float64)
    return float(np.mean((a >= lower) & (a <= upper)))


def crps_ensemble(actual, samples) -> float:
    """Mean over steps of the CRPS of the empirical distribution ``samples`` (n, h) against
    ``actual`` (h,)."""
    x = np.asarray(samples, np.float64)  # (n, h)
    a = np.asarray(actual, np.float64)
    first = np.abs(x - a[None, :]).mean(0)  # (h,)
    spread = np.abs(x[:, None, :] - x[None, :, :]).mean((0, 1))  # (h,)
    return float(np.mean(first - 0.5 * spread))


def interval_scores(actual, forecast, residuals, level: float) -> dict:
    """{"coverage", "width", "crps"} of a forecast (h,) with calibration residuals (n, h) in
    the forecast's units."""
    half = conformal_halfwidth(residuals, level)
    f = np.asarray(forecast, np.float64)
    return {"coverage": coverage(actual, f - half, f + half), "width": float(np.mean(2 * half)),
            "crps": crps_ensemble(actual, f[None, :] + np.asarray(residuals, np.float64))}


def check_quantiles(quantiles) -> None:
    if quantiles is None:
        return
    ok = isinstance(quantiles, (list, tuple)) and len(quantiles) > 0 and all(
        isinstance(q, numbers.Real) and not isinstance(q, (bool, np.bool_)) and 0 < q < 1
        for q in quantiles)  # numpy's float32 too
    if not ok:
        raise ValueError(f"quantiles must be a list of numbers strictly between 0 and 1 (e.g. "
                         f"[0.1, 0.5, 0.9]); got {quantiles!r}.")


def check_level(name: str, level) -> None:
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, numbers.Real) or \
            not 0 < level < 1:
        raise ValueError(f"{name} must be a number strictly between 0 and 1 (0.8 for an 80% "
                         f"interval); got {level!r}.")
