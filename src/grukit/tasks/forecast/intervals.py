"""Probabilistic forecasts: the pinball loss of quantile outputs, split-conformal intervals
and the scores of an interval or a predictive distribution.

Split conformal (Vovk et al. 2005; Lei et al. 2018), per horizon step k: with the n
calibration residuals r_ik = y − ŷ of windows the network did not train on, the interval at
level 1 − α is ŷ_k ± q_k, q_k the ⌈(n + 1)(1 − α)⌉-th smallest |r_ik|. Where n is too small
for that rank (n < (1 − α)/α: 9 windows for 0.9) even the largest |r_ik| guarantees only
n/(n + 1), so such a level is refused in one sentence naming the windows it needs (as MAPIE
refuses it) rather than reported as reached. The same residuals added to the forecast are
the predictive distribution whose CRPS the backtest reports:

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


def plain_float(value) -> float:
    """``value`` as a Python float; a numpy float32 (or float16) as the decimal it prints as
    (np.float32(0.8) is 0.8, not 0.800000011920929: a level above 0.8 that 4 calibration
    windows do not reach, so 0.8 was refused as needing 5)."""
    if isinstance(value, np.floating) and np.finfo(value.dtype).bits < 64:
        return float(str(value))  # numpy's shortest repr that reads back as the same value
    return float(value)


def conformal_rank(n: int, level: float) -> int:
    """⌈(n + 1) · level⌉, the 1-based rank of the half-width among n residuals, without the
    float rounding of the product ((99 + 1) · 0.55 is 55, not 55.00000000000001: rank 56)."""
    return math.ceil(round((n + 1) * plain_float(level), 9))


def attainable(n: int, level: float) -> bool:
    """Whether ``n`` calibration residuals give an interval at ``level``: the rank
    ⌈(n + 1) · level⌉ is at most n, i.e. n ≥ level / (1 − level) (4 for 0.8, 9 for 0.9)."""
    return conformal_rank(n, level) <= n


def fewest(level: float) -> int:
    """The fewest calibration residuals that give an interval at ``level`` (``attainable``):
    4 for 0.8, 9 for 0.9, 19 for 0.95. (The search starts below level / (1 − level), which
    float32 arithmetic made 4.0000005 for np.float32(0.8): it skipped 4.)"""
    check_level("level", level)
    level = plain_float(level)
    n = max(1, math.floor(level / (1 - level)) - 1)
    while not attainable(n, level):
        n += 1
    return n


def check_attainable(n: int, level: float, where: str = "the calibration set",
                     fix: str = "") -> None:
    """One sentence (ValueError) where ``n`` calibration residuals cannot give an interval at
    ``level`` (``attainable``): the largest residual covers only n / (n + 1), so the interval
    is refused (as MAPIE refuses it) rather than given under a level it does not reach."""
    if attainable(n, level):
        return
    level = plain_float(level)
    need = fewest(level)
    top = math.floor(1000 * n / (n + 1)) / 1000
    raise ValueError(f"a split-conformal interval at level {level:g} needs at least {need} "
                     f"calibration windows ((n + 1) · level ≤ n); {where} has {n}, whose "
                     f"largest residual covers only {n}/{n + 1}. Give a level of at most "
                     f"{top:g}{fix}.")


def conformal_halfwidth(residuals: np.ndarray, level: float, where: str = "the calibration "
                        "set", fix: str = "") -> np.ndarray:
    """Residuals (n, h) -> half-widths (h,) of the split-conformal interval at ``level``,
    the ⌈(n + 1) · level⌉-th smallest |r| of each step; refused (``check_attainable``) where
    that rank is past n."""
    r = np.sort(np.abs(np.asarray(residuals, np.float64)), axis=0)  # (n, h)
    check_attainable(len(r), level, where, fix)
    return r[conformal_rank(len(r), level) - 1]  # 1-based


def listed(bound) -> list | None:
    """A bound of ``bounds`` as a JSON list (None stays None)."""
    return None if bound is None else np.asarray(bound, np.float64).tolist()


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
    the forecast's units; coverage and width are None (undefined, as an undefined MASE)
    where n residuals do not reach ``level`` (``attainable``)."""
    f = np.asarray(forecast, np.float64)
    crps = crps_ensemble(actual, f[None, :] + np.asarray(residuals, np.float64))
    lower, upper = bounds(f, residuals, level)
    if lower is None:
        return {"coverage": None, "width": None, "crps": crps}
    return {"coverage": coverage(actual, lower, upper), "width": float(np.mean(upper - lower)),
            "crps": crps}


def bounds(forecast, residuals, level: float):
    """(lower, upper) (h,) of the interval around ``forecast`` (h,), or (None, None) where
    the residuals (n, h) do not reach ``level``."""
    if not attainable(len(residuals), level):
        return None, None
    half = conformal_halfwidth(residuals, level)
    f = np.asarray(forecast, np.float64)
    return f - half, f + half


def percent(level: float) -> str:
    """A level as the percentage it is: 0.8 -> "80%", 0.975 -> "97.5%" (not "98%")."""
    return f"{round(100 * level, 6):g}%"


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
