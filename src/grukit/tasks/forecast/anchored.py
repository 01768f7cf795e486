"""The forecast a ``tune`` search leads to: the median of its best trials' forecasts,
anchored on ETS with a shrinkage chosen on the search's validation origins.

    ŷ = e + λ (median_k f_k − e)

e is the ETS forecast (``baselines.ets``: additive error, trend, damping and season chosen
by AIC, refit at each origin: the full model, not the hybrid's smoothing stage), f_k the
forecasts of the ``top`` best trials' settings (each refit at the origin) and λ ∈ [0, 1]
the point of a grid whose forecasts score the lowest mean MASE at the validation origins of
the search (ties go to the smaller λ). This is ES-RNN's idea applied at the output: the
network's correction of the exponential-smoothing forecast is shrunk by what the validation
origins support, so the result cannot do much worse than its base where the network has
nothing to add (λ = 0 is ETS itself, λ = 1 the median of the networks). The median over the
best trials, rather than the single best, is what the noisy ranking of trials on a short
series calls for (an ensemble of M4's kind, over settings instead of seeds).

Everything is chosen from the points the search was given: the trials' forecasts at the
validation origins (kept with each trial), the ETS forecasts at the same origins and the
actual values after them. The interval is split conformal on the residuals of the anchored
forecast at those origins, per horizon step (``intervals.conformal_halfwidth``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import baselines
from .checks import as_list, check_season, whole
from .intervals import bounds, check_level, interval_scores, listed
from .metrics import average, scores

# how an interval level that the search's validation origins cannot reach is refused
ORIGINS = "the search (one per validation origin)"
MORE_ORIGINS = " or search with more validation origins (origins=, 9 by default)"
GRID = tuple(np.round(np.linspace(0.0, 1.0, 21), 2))  # λ: 0, 0.05, ..., 1


@dataclass
class Anchored:
    """What ``choose`` picked: the members' settings, λ and the calibration residuals."""

    members: list[dict]  # settings of the best trials, best first
    shrink: float  # λ
    season: int
    residuals: list[np.ndarray] = field(default_factory=list)  # per series (origins, h)
    validation: dict = field(default_factory=dict)  # mean MASE per λ, the members' scores

    @property
    def horizon(self) -> int:
        return int(self.members[0]["horizon"])


def ets_at(ys, season: int, plan: list[list[int]], horizon: int) -> np.ndarray:
    """ETS forecasts (S, origins, h) at the validation origins of ``plan``."""
    ends = [d for group in plan for d in group]
    return np.array([[baselines.ets(y[:len(y) - d], horizon, season) for d in ends]
                     for y in ys])


def _mase(ys, season, plan, horizon, forecasts) -> float:
    """Mean MASE of forecasts (S, origins, h) at the origins of ``plan``."""
    ends = [d for group in plan for d in group]
    out = []
    for i, y in enumerate(ys):
        for j, d in enumerate(ends):
            o = len(y) - d
            m = scores(y[o:o + horizon], forecasts[i, j], y[:o], season)["mase"]
            out.append(np.inf if m is None else m)
    return float(np.mean(out))


def choose(series, season: int, ranked: list, plan: list[list[int]], *, ets=None,
           grid=GRID) -> Anchored:
    """Pick λ for the median of ``ranked`` (``tune.ranked``: [(score, settings, validation
    forecasts (S, origins, h))], best first) on the validation origins of ``plan`` (the
    summary's ``"plan"``) of ``series`` (what the search was given); ``ets``: the ETS
    forecasts at those origins when already computed (``ets_at``)."""
    check_season(season)
    if not ranked:
        raise ValueError("ranked holds no finished trial; run the search longer.")
    ys, _, _ = as_list(series, None)
    h = int(ranked[0][1]["horizon"])
    med = np.median(np.stack([f for _, _, f in ranked]), axis=0)  # (S, origins, h)
    e = ets_at(ys, season, plan, h) if ets is None else np.asarray(ets, np.float64)
    if e.shape != med.shape:
        raise ValueError(f"ets must be shaped as the trials' forecasts {med.shape}; got "
                         f"{e.shape}.")
    table = {float(lam): _mase(ys, season, plan, h, e + lam * (med - e)) for lam in grid}
    lam = min(table, key=lambda k: (table[k], k))
    ends = [d for group in plan for d in group]
    best = e + lam * (med - e)  # (S, origins, h)
    residuals = [np.array([y[len(y) - d:len(y) - d + h] for d in ends]) - best[i]
                 for i, y in enumerate(ys)]
    return Anchored([s for _, s, _ in ranked], lam, season, residuals,
                    {"mase_by_shrink": table, "members": [v for v, _, _ in ranked],
                     "median": table[1.0], "ets": table[0.0]})


def forecast(a: Anchored, history: np.ndarray, index: int = 0) -> dict:
    """Forecasts (h,) after ``history``: {"model": anchored, "median", "ets", "members"}; the
    members are refit on ``history``."""
    from .forecaster import Forecaster

    h = a.horizon
    members = np.array([Forecaster(**s).fit(history, a.season).predict() for s in a.members])
    med = np.median(members, axis=0)  # (h,)
    e = baselines.ets(history, h, a.season)
    return {"model": e + a.shrink * (med - e), "median": med, "ets": e, "members": members,
            "index": index}


def backtest(a: Anchored, series, folds: int = 3, level: float = 0.8, on_fold=None) -> dict:
    """The rolling-origin backtest of ``Forecaster.backtest`` (the same folds: the last
    ``folds · horizon`` points, ``horizon`` a fold) for the anchored forecast, beside the
    members' median, ETS, naive and seasonal naive; the model's scores add the coverage,
    width and CRPS of its conformal interval at ``level``; "best" is the best trial alone."""
    from .backtest import origins_of

    whole("folds", folds, 1)
    check_level("level", level)
    ys, _, _ = as_list(series, None)
    h, m = a.horizon, a.season
    names = ("model", "median", "best", "ets", "naive", "seasonal_naive")
    results = []
    for k in range(folds):
        cut = origins_of(ys, folds, h, k)
        per = {n: [] for n in names}
        shown = []
        for i, (y, o) in enumerate(zip(ys, cut, strict=True)):
            train, actual = y[:o], y[o:o + h]
            f = forecast(a, train, i)
            preds = {"model": f["model"], "median": f["median"], "best": f["members"][0],
                     "ets": f["ets"],
                     "naive": baselines.naive(train, h),
                     "seasonal_naive": baselines.seasonal_naive(train, h, m)}
            for n, p in preds.items():
                per[n].append(scores(actual, p, train, m))
            per["model"][-1] |= interval_scores(actual, f["model"], a.residuals[i], level)
            lower, upper = bounds(f["model"], a.residuals[i], level)
            shown.append({"origin": int(o), "lower": listed(lower), "upper": listed(upper),
                          "members": f["members"].tolist()} |
                         {n: np.asarray(p, float).tolist() for n, p in preds.items()})
        fold = {n: average(per[n]) for n in names} | {"forecasts": shown}
        results.append(fold)
        if on_fold is not None:
            on_fold(k, fold)
    out = {n: average([r[n] for r in results]) | {"folds": [r[n] for r in results]}
           for n in names}
    out["model"]["forecasts"] = [r["forecasts"] for r in results]
    return out
