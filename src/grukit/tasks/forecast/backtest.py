"""Rolling-origin backtest of a Forecaster beside naive, seasonal naive and ETS, with the
model's split-conformal interval scored at every origin (coverage, width, CRPS; coverage and
width None where a fold keeps too few calibration windows for the level, ``intervals``)."""

from __future__ import annotations

import copy

import numpy as np

from . import baselines
from .checks import as_list, check_season, check_values, whole
from .intervals import bounds, interval_scores, listed
from .metrics import average, scores

NAMES = ("model", "naive", "seasonal_naive", "ets")


def origins_of(ys: list[np.ndarray], folds: int, horizon: int, k: int) -> list[int]:
    """Fold ``k``'s cut (the length of the training part) of every series: the last
    ``folds · horizon`` points of each are tested, ``horizon`` a fold."""
    return [len(y) - (folds - k) * horizon for y in ys]


def check_room(model, ys: list[np.ndarray], season: int, folds: int, single: bool) -> None:
    """Every series holds ``folds`` test folds of the horizon after a first training part
    that fits the model's lookback and horizon; one sentence (ValueError) where not."""
    h, need = model.config.horizon, model.history_needed(season)
    for i, y in enumerate(ys):
        where = "the series" if single else f"series {i}"
        check_values(y, where)
        if len(y) - folds * h < need + h + 5:
            raise ValueError(f"{where} has {len(y)} points; {folds} fold(s) of horizon {h} "
                             f"after a first training part of lookback {need} + horizon {h} "
                             f"+ 5 need at least {folds * h + need + h + 5}. Use fewer folds, "
                             f"a shorter horizon or a shorter lookback.")


def backtest(model, series, season: int = 1, folds: int = 3, covariates=None, *,
             on_fold=None, done=None) -> dict:
    """See ``Forecaster.backtest`` (``model``: a Forecaster or an AnchoredForecaster)."""
    model._check_config()
    check_season(season)
    whole("folds", folds, 1)
    ys, covs, single = as_list(series, covariates)
    h = model.config.horizon
    # each origin refits a copy: the model given keeps what it was fitted on (its predict()
    # after a backtest still continues its own series, not the last origin's training part);
    # differences="auto" chooses again at every origin, so its room is the changes' (one more)
    model = copy.deepcopy(model)
    model.__dict__.pop("differences_", None)
    check_room(model, ys, season, folds, single)
    done = done or {}
    level = model.config.level
    results = []
    for k in range(folds):
        if k in done:
            results.append(done[k])
            continue
        cut = origins_of(ys, folds, h, k)
        model.fit([y[:o] for y, o in zip(ys, cut, strict=True)], season,
                  covariates=None if covs is None else
                  [c[:o] for c, o in zip(covs, cut, strict=True)])
        per = {name: [] for name in NAMES}
        shown = []  # the forecasts of every series, for the report's plot
        for i, (y, o) in enumerate(zip(ys, cut, strict=True)):
            train, actual = y[:o], y[o:o + h]
            f = model._predict_one(train, None if covs is None else covs[i][:o], i)
            preds = {"model": f, "naive": baselines.naive(train, h),
                     "seasonal_naive": baselines.seasonal_naive(train, h, season),
                     "ets": baselines.ets(train, h, season)}
            for name, p in preds.items():
                per[name].append(scores(actual, p, train, season))
            per["model"][-1] |= interval_scores(actual, f, model.residuals(i), level)
            lower, upper = bounds(f, model.residuals(i), level)
            shown.append({"origin": int(o), "lower": listed(lower), "upper": listed(upper)} |
                         {name: np.asarray(p, float).tolist() for name, p in preds.items()})
        fold = {name: average(per[name]) for name in NAMES}
        fold["fit_seconds"] = model.fit_seconds
        fold["forecasts"] = shown
        results.append(fold)
        if on_fold is not None:
            on_fold(k, fold)
    out = {name: average([r[name] for r in results]) | {"folds": [r[name] for r in results]}
           for name in NAMES}
    # [fold][series] -> {"origin", "model", "lower", "upper", baselines}: the report's plot
    out["model"]["forecasts"] = [r.get("forecasts") for r in results]
    out["model"]["fit_seconds"] = float(np.mean([r.get("fit_seconds", 0.0) for r in results]))
    return out
