"""AnchoredForecaster: the forecast of ``anchored`` as an estimator you train, save, load and
serve — the median of several Forecasters (the best trials of a search), anchored on ETS:

    ŷ = e + λ (median_k f_k − e)

e the ETS forecast (``baselines.ets``, refit on the history a forecast continues), f_k the
members' forecasts, λ the shrinkage a search chose on its validation origins
(``anchored.choose``). The split-conformal interval uses the anchored forecast's residuals at
those origins, so a model made by ``AnchoredForecaster.tune`` carries them; one built by hand
from settings has none and gives point forecasts only.

It keeps the whole training history (ETS refits on it), so ``predict()`` after ``load`` is
the forecast made before saving, to the bit.
"""

from __future__ import annotations

import math
import numbers
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from ..estimator import Estimator
from . import baselines
from .anchored import MORE_ORIGINS, ORIGINS
from .checks import as_list, check_season, check_values, whole
from .intervals import check_attainable, check_level, conformal_halfwidth


@dataclass
class AnchoredConfig:
    """Attributes:
        members: the ``Forecaster`` settings of each member (best trial first); they share
            one horizon.
        shrink: λ ∈ [0, 1], the weight of the members' median against ETS (0: ETS alone).
        level: the coverage of the conformal interval the backtest and the CLI report.
        tuned: what the search found (informational).
    """

    members: list[dict] = field(default_factory=list)
    shrink: float = 1.0
    level: float = 0.8
    tuned: dict = field(default_factory=dict)

    @property
    def horizon(self) -> int:
        return int(self.members[0].get("horizon", 12))


def _json(a) -> dict:
    """``choose``'s validation scores as saved (JSON keys are strings: λ goes in a list)."""
    from .tune import finite_or_none as ok  # an undefined MASE is None, not infinity

    v = a.validation
    return {"mase": ok(v["mase_by_shrink"][a.shrink]), "median": ok(v["median"]),
            "ets": ok(v["ets"]), "members": [ok(m) for m in v["members"]],
            "mase_by_shrink": [[k, ok(m)] for k, m in v["mase_by_shrink"].items()]}


class AnchoredForecaster(Estimator):
    """``AnchoredForecaster.tune(series, season, trials, top=5)`` searches, keeps the best
    ``top`` trials and fits them; ``predict()``, ``predict_interval()``, ``backtest`` and
    ``save``/``load`` as a ``Forecaster``'s."""

    config_class = AnchoredConfig

    def __init__(self, **config):
        self.config = AnchoredConfig(**self._checked_settings(config))
        self._check_config()
        # as Python floats: numpy's float32 passes the checks but not save's JSON
        self.config.level, self.config.shrink = float(self.config.level), \
            float(self.config.shrink)
        self.calib = None  # residuals per series (origins, h), from the search

    def _check_config(self) -> None:
        from .forecaster import Forecaster

        cfg = self.config
        if not isinstance(cfg.members, list) or not cfg.members or \
                not all(isinstance(s, dict) for s in cfg.members):
            raise ValueError("members must be a non-empty list of Forecaster settings (dicts); "
                             f"got {cfg.members!r}.")
        for s in cfg.members:
            Forecaster(**s)  # each member's settings checked as a Forecaster's
        horizons = {int(s.get("horizon", 12)) for s in cfg.members}
        if len(horizons) > 1:
            raise ValueError(f"the members must share one horizon; got {sorted(horizons)}.")
        if isinstance(cfg.shrink, (bool, np.bool_)) or not isinstance(cfg.shrink, numbers.Real) or \
                not (math.isfinite(cfg.shrink) and 0.0 <= cfg.shrink <= 1.0):
            raise ValueError(f"shrink must be a number from 0 to 1; got {cfg.shrink!r}.")
        check_level("level", cfg.level)

    # -- the search ---------------------------------------------------------------------------
    @classmethod
    def tune(cls, series, season: int = 1, trials: int = 20, *, top: int = 5, covariates=None,
             fit: bool = True, level: float = 0.8, member_settings: dict | None = None,
             **options) -> AnchoredForecaster:
        """``tune.tune`` on ``series`` (training data only; Optuna, its ``options``), then the
        median of the ``top`` best trials anchored on ETS with λ chosen at the search's
        validation origins (``anchored.choose``); fitted on the whole ``series`` unless
        ``fit=False``. ``member_settings`` are added to every member's (e.g. ``ensemble``)."""
        from .anchored import choose
        from .tune import _optuna, ranked
        from .tune import tune as search

        whole("top", top, 1)
        if options.get("backend", "optuna") != "optuna":
            raise ValueError("the anchored forecast ranks the trials' validation forecasts, "
                             "which the optuna backend keeps; use backend='optuna'.")
        with tempfile.TemporaryDirectory() as tmp:
            if options.get("storage") is None:  # the ranking reads the study back
                options["storage"] = os.path.join(tmp, "study.db")
            storage = options["storage"]
            _, summary = search(series, season, trials, covariates=covariates, **options)
            study = _optuna().load_study(study_name=summary["study"],
                                         storage=f"sqlite:///{storage}")
            best = ranked(study, top)
        a = choose(series, season, best, summary["plan"])
        extra = dict(member_settings or {})
        model = cls(members=[s | extra for s in a.members], shrink=a.shrink, level=level,
                    tuned=summary | {"top": top, "validation": _json(a)})
        model.calib = a.residuals
        return model.fit(series, season, covariates=covariates) if fit else model

    # -- training and forecasting ---------------------------------------------------------------
    def history_needed(self, season: int) -> int:
        return max(m.history_needed(season) for m in self._members())

    def _members(self):
        from .forecaster import Forecaster

        return [Forecaster(**s) for s in self.config.members]

    def fit(self, series, season: int = 1, verbose: int = 0,
            covariates=None) -> AnchoredForecaster:
        """Fit every member on ``series``; keep the history ETS refits on. Returns self."""
        check_season(season)
        self.fitted_ = False
        ys, covs, single = as_list(series, covariates)
        if self.calib is not None and len(self.calib) != len(ys):
            raise ValueError(f"this model's interval was calibrated on {len(self.calib)} "
                             f"series; fit it on as many (got {len(ys)}).")
        start = time.perf_counter()
        self.members = [m.fit(series, season, verbose=verbose, covariates=covariates)
                        for m in self._members()]
        self.fit_seconds = time.perf_counter() - start
        self.season, self.single = season, single
        self.history = [np.array(y, np.float64) for y in ys]
        self.fitted_ = True
        return self

    @property
    def n_cov(self) -> int:
        return self.members[0].n_cov

    @property
    def stats(self):
        """The first member's per-series scaling (one entry per series)."""
        return self.members[0].stats

    @property
    def times(self):
        return self.members[0].times

    def future_index(self, index: int = 0):
        return self.members[0].future_index(index)

    def _predict_one(self, recent, covariates, index, fitted: bool = False) -> np.ndarray:
        """e + λ (median − e) after ``recent`` (series ``index``), (h,); ``fitted``: after the
        fitted series, each member continuing its own fitted values and covariates (their
        lookbacks differ, and a hybrid's smoothing reads all of them)."""
        h = self.config.horizon
        if fitted:
            med = np.median([m._predict_one(m.last[index], None if m.last_cov is None else
                                            m.last_cov[index], index) for m in self.members],
                            axis=0)
        else:
            med = np.median([m._predict_one(recent, covariates, index)
                             for m in self.members], axis=0)
        history = np.asarray(recent, np.float64).reshape(-1)
        check_values(history, "recent (ETS refits on all of it)")
        e = baselines.ets(history, h, self.season)
        return e + self.config.shrink * (med - e)

    def _each(self, fn, recent, covariates, index):
        self._check_fitted("predict")
        if recent is None:
            if covariates is not None:
                raise ValueError("covariates go with recent values: predict(recent, "
                                 "covariates); predict() continues the fitted series.")
            if not (isinstance(index, numbers.Integral) and index == 0):
                raise ValueError(f"index {index!r} goes with recent values: predict(recent, "
                                 f"index=i) reads them with series i's scaling; predict() "
                                 f"continues every fitted series (row i of its result is "
                                 f"series i).")
            out = [fn(y, None, i, True) for i, y in enumerate(self.history)]
            return out[0] if self.single else np.stack(out)
        return fn(recent, covariates, self.members[0]._index(index), False)

    def predict(self, recent=None, covariates=None, index: int = 0) -> np.ndarray:
        """The next ``horizon`` values after the fitted series (or after ``recent``, which ETS
        refits on: give the whole history), shaped as ``Forecaster.predict``'s."""
        return self._each(self._predict_one, recent, covariates, index)

    def check_interval(self, length: int, season: int, where: str, fix: str) -> None:
        """One sentence where its level is past what its calibration residuals reach: one per
        validation origin of the search, whatever the series it is fitted on."""
        check_attainable(len(self.residuals(0)), self.config.level, ORIGINS, MORE_ORIGINS)

    def residuals(self, index: int = 0) -> np.ndarray:
        """The anchored forecast's residuals (origins, h) at the search's validation origins."""
        if self.calib is None:
            raise ValueError("this AnchoredForecaster was built from settings, without a "
                             "search, so it has no calibration residuals for an interval; "
                             "make it with AnchoredForecaster.tune.")
        whole("index", index, 0)
        if index >= len(self.calib):
            raise ValueError(f"index {index} is out of range: this model was calibrated on "
                             f"{len(self.calib)} series (index 0 to {len(self.calib) - 1}).")
        return self.calib[index]

    def predict_interval(self, level: float | None = None, recent=None, covariates=None,
                         index: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) of the split-conformal interval at ``level`` (default the
        configured one), shaped as ``predict``'s forecast."""
        level = self.config.level if level is None else level
        check_level("level", level)

        def one(r, c, i, fitted):
            half = conformal_halfwidth(self.residuals(i), level, ORIGINS, MORE_ORIGINS)
            f = self._predict_one(r, c, i, fitted)
            return np.stack([f - half, f + half])

        out = self._each(one, recent, covariates, index)
        return (out[0], out[1]) if out.ndim == 2 else (out[:, 0], out[:, 1])

    def backtest(self, series, season: int = 1, folds: int = 3, covariates=None, *,
                 on_fold=None, done=None) -> dict:
        """``Forecaster.backtest``'s rolling origin, every member and ETS refit at each
        origin; λ and the interval's residuals stay those of the search."""
        from .backtest import backtest

        self.residuals(0)  # no interval, no backtest: one sentence before any work
        return backtest(self, series, season, folds, covariates, on_fold=on_fold, done=done)

    # -- saving -------------------------------------------------------------------------------
    def _state(self) -> tuple[dict, dict]:
        tensors, member_extras = {}, []
        for k, m in enumerate(self.members):
            t, e = m._state()
            tensors |= {f"m{k}.{name}": v for name, v in t.items()}
            member_extras.append(e)
        for i, y in enumerate(self.history):
            tensors[f"history.{i}"] = y
            if self.calib is not None:
                tensors[f"calib.{i}"] = np.asarray(self.calib[i], np.float64)
        return tensors, {"members": member_extras, "season": int(self.season),
                         "single": bool(self.single), "n_series": len(self.history),
                         "calibrated": self.calib is not None}

    def _restore(self, tensors: dict, extras: dict) -> None:
        try:
            n = int(extras["n_series"])
            self.season, self.single = int(extras["season"]), bool(extras["single"])
            check_season(self.season)
            self.history = [tensors[f"history.{i}"].numpy() for i in range(n)]
            self.calib = [tensors[f"calib.{i}"].numpy() for i in range(n)] \
                if extras["calibrated"] else None
            if len(extras["members"]) != len(self.config.members):
                raise ValueError("its members do not match its settings")
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"the saved AnchoredForecaster is incomplete or damaged "
                             f"({type(err).__name__}: {err}); save the model again.") from None
        self.members = self._members()
        for k, (m, e) in enumerate(zip(self.members, extras["members"], strict=True)):
            p = f"m{k}."
            m._restore({name[len(p):]: v for name, v in tensors.items() if name.startswith(p)},
                       e)
            m.fitted_ = True
        self.fit_seconds = 0.0
