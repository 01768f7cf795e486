"""Forecaster: a recurrent network (GRU, LSTM, RNN or minGRU) that maps the last
``lookback`` values to the next ``horizon`` (direct multi-step), built on grukit.models.

Each step feeds two channels: the value relative to the window's last value, divided by
the spread of the training series' one-step changes (shape, which follows a trend past the
training range), and the value standardised with the training series' mean and deviation
(level, which a stationary series needs); then one channel per covariate, standardised.
Targets are taken relative to the window's last value on the first channel's scale.
A constant series has no spread: its scale is 1 (its windows are all zeros, the network
learns to forecast no change).

Several series train one global model; every statistic above is per series, so series of
any level and scale share it.

A Forecaster is an estimator (``grukit.tasks.estimator``): ``save(path)`` keeps the network,
the per-series scaling, the season, the lookback, the recent history that ``predict()`` and
``update(value)`` continue from (with its covariates and, when fitted on a pandas Series
with a frequency, its time stamps), and ``Forecaster.load(path)`` gives them back bit for bit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..estimator import Estimator, load_module_state
from . import baselines
from .checks import MODELS, as_list, check_config, check_season, check_values, whole, window
from .metrics import average, scores

__all__ = ["MODELS", "ForecastConfig", "Forecaster"]


@dataclass
class _Stats:
    """Per-series scaling: one-step-change spread, mean, deviation; covariate mean/dev."""

    scale: float
    mean: float
    std: float
    cmean: np.ndarray  # (C,)
    cstd: np.ndarray  # (C,)


def _stats(y: np.ndarray, c: np.ndarray | None) -> _Stats:
    spread, std = float(np.std(np.diff(y))), float(np.std(y))
    # a constant series (or one that only jumps once) has no spread: scale 1, in its units
    scale = spread if spread > 0 else max(std, 1.0)
    return _Stats(scale, float(np.mean(y)), std if std > 0 else 1.0,
                  np.zeros(0) if c is None else c.mean(0),
                  np.ones(0) if c is None else np.where(c.std(0) > 0, c.std(0), 1.0))


def _time_of(series) -> dict | None:
    """{"end": last time stamp, "freq": pandas frequency} of a pandas Series with a regular
    DatetimeIndex, else None."""
    index = getattr(series, "index", None)
    freq = getattr(index, "freqstr", None)
    if freq is None or len(index) == 0:
        return None
    return {"end": index[-1].isoformat(), "freq": freq}


@dataclass
class ForecastConfig:
    model: str = "gru"
    lookback: int | None = None  # None: 2·season, at least 12
    horizon: int = 12
    hidden: int = 32
    layers: int = 1
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 3e-3
    patience: int = 15  # early stopping on the last 10 % of the windows
    seed: int = 0


class Forecaster(Estimator):
    """``Forecaster(model="gru", horizon=12).fit(series, season=12).predict()``;
    ``backtest(series, folds)`` scores it beside naive, seasonal naive and ETS.

    ``series`` is one 1-D array (or pandas Series, or list of numbers) or a list of them (one
    global model); ``covariates``, if given, are aligned with each series, (T,) or (T, C),
    observed up to the forecast origin.
    """

    config_class = ForecastConfig

    def __init__(self, **config):
        self.config = ForecastConfig(**config)
        check_config(self.config)  # the values only; no work is done here

    def _lookback(self, season: int) -> int:
        lookback = self.config.lookback
        return max(2 * season, 12) if lookback is None else lookback

    def _inputs(self, x: np.ndarray, cov: np.ndarray | None, st: _Stats) -> np.ndarray:
        """Windows x (N, lookback), cov (N, lookback, C) -> inputs (N, lookback, 2 + C)."""
        chans = [(x - x[:, -1:]) / st.scale, (x - st.mean) / st.std]
        if cov is not None:
            chans += list(np.moveaxis((cov - st.cmean) / st.cstd, 2, 0))
        return np.stack(chans, axis=2).astype(np.float32)

    def _windows(self, y, cov, st: _Stats, lookback: int):
        h = self.config.horizon
        idx = np.arange(lookback, len(y) - h + 1)
        x = np.stack([y[t - lookback:t] for t in idx])  # (N, lookback)
        c = None if cov is None else np.stack([cov[t - lookback:t] for t in idx])
        target = np.stack([y[t:t + h] for t in idx])  # (N, horizon)
        return self._inputs(x, c, st), ((target - x[:, -1:]) / st.scale).astype(np.float32)

    def _network(self, lookback: int):
        from ... import cells
        from ...layers import Dense
        from ...models import Sequential

        cfg = self.config
        layer = cells.get(cfg.model).layer_class()
        stack = [layer(cfg.hidden, input_shape=(lookback, 2 + self.n_cov),
                       return_sequences=i < cfg.layers - 1) for i in range(cfg.layers)]
        net = Sequential(stack + [Dense(cfg.horizon)])
        net.build()
        return net

    def fit(self, series, season: int = 1, verbose: int = 0, covariates=None,
            callbacks=()) -> Forecaster:
        """Train on the series (``callbacks``: extra grukit.models callbacks); returns self
        (the training ``History`` is in ``history``)."""
        from ...models import EarlyStopping

        cfg = self.config
        check_config(cfg)
        check_season(season)
        self.fitted_ = False  # a failed fit leaves no half-trained model behind
        ys, covs, single = as_list(series, covariates)
        lookback = self._lookback(season)
        need = lookback + cfg.horizon + 5
        stats, xs, ts, xv, tv = [], [], [], [], []
        for i, y in enumerate(ys):
            where = "the series" if single else f"series {i}"
            check_values(y, where)
            if len(y) < need:
                raise ValueError(f"{where} has {len(y)} points; lookback {lookback} + horizon "
                                 f"{cfg.horizon} need at least {need} to train. Shorten the "
                                 f"lookback or the horizon.")
            c = None if covs is None else covs[i]
            st = _stats(y, c)
            stats.append(st)
            x, target = self._windows(y, c, st, lookback)
            n_val = max(1, len(x) // 10)  # each series' latest windows validate
            xs.append(x[:-n_val]), ts.append(target[:-n_val])
            xv.append(x[-n_val:]), tv.append(target[-n_val:])
        self.single, self.season, self.stats = single, season, stats
        self.n_cov = 0 if covs is None else covs[0].shape[1]
        torch.manual_seed(cfg.seed)
        self.net = self._network(lookback)
        self.net.compile(optimizer=torch.optim.Adam(self.net.parameters(),
                                                    lr=cfg.learning_rate), loss="mse")
        start = time.perf_counter()
        self.history = self.history_ = self.net.fit(
            np.concatenate(xs), np.concatenate(ts),
            validation_data=(np.concatenate(xv), np.concatenate(tv)),
            epochs=cfg.epochs, batch_size=cfg.batch_size, seed=cfg.seed, verbose=verbose,
            callbacks=[EarlyStopping(patience=cfg.patience, restore_best_weights=True),
                       *callbacks])
        self.fit_seconds = time.perf_counter() - start
        self.last = [y[-lookback:].copy() for y in ys]  # (lookback,) each: update changes them
        self.last_cov = None if covs is None else [c[-lookback:].copy() for c in covs]
        self.times = [_time_of(series)] if single else \
            [_time_of(s) for s in series] if isinstance(series, (list, tuple)) else \
            [None] * len(ys)
        self.fitted_ = True
        return self

    # -- forecasting -------------------------------------------------------------------------
    def _index(self, index) -> int:
        whole("index", index, 0)
        if index >= len(self.stats):
            raise ValueError(f"index {index} is out of range: this forecaster was fitted on "
                             f"{len(self.stats)} series (index 0 to {len(self.stats) - 1}).")
        return int(index)

    def inputs(self, recent, covariates=None, index: int = 0) -> np.ndarray:
        """Network input (1, lookback, 2 + C) for the window ending at ``recent[-1]``."""
        self._check_fitted("inputs")
        index = self._index(index)
        lookback = self._lookback(self.season)
        w = window(recent, lookback)
        if self.n_cov and covariates is None:
            raise ValueError(f"this forecaster was fitted with {self.n_cov} covariate(s); give "
                             f"their last {lookback} rows too.")
        cov = None
        if self.n_cov:
            cov = np.asarray(covariates, np.float64)
            cov = cov[:, None] if cov.ndim == 1 else cov
            if cov.ndim != 2 or cov.shape[1] != self.n_cov or len(cov) < lookback:
                raise ValueError(f"covariates must have at least {lookback} rows of "
                                 f"{self.n_cov} value(s) (the lookback); got shape "
                                 f"{cov.shape}.")
            cov = cov[-lookback:]
            if not np.isfinite(cov).all():
                raise ValueError("the covariates hold missing or infinite values among their "
                                 "last rows; fill them first.")
            cov = cov[None]  # (1, lookback, C)
        elif covariates is not None:
            raise ValueError("this forecaster was fitted without covariates; drop them.")
        return self._inputs(w[None, :], cov, self.stats[index])

    def unscale(self, recent, output, index: int = 0) -> np.ndarray:
        """Network output (1, horizon) -> forecast values after ``recent``."""
        return np.asarray(output, np.float64)[0] * self.stats[index].scale + float(recent[-1])

    def predict(self, recent=None, covariates=None, index: int = 0) -> np.ndarray:
        """The next ``horizon`` values after the fitted series — (horizon,) for one series,
        (n_series, horizon) for several — or after ``recent`` (series ``index``'s scaling)."""
        self._check_fitted("predict")
        if recent is None:
            if covariates is not None:
                raise ValueError("covariates go with recent values: predict(recent, "
                                 "covariates); predict() continues the fitted series.")
            out = [self._predict_one(self.last[i], None if self.last_cov is None
                                     else self.last_cov[i], i) for i in range(len(self.last))]
            return out[0] if self.single else np.stack(out)
        return self._predict_one(recent, covariates, index)

    def _predict_one(self, recent, covariates, index):
        x = self.inputs(recent, covariates, index)
        return self.unscale(np.asarray(recent, np.float64)[-1:], self.net.predict(x), index)

    def future_index(self, index: int = 0):
        """The time stamps of ``predict()``'s forecast of series ``index`` (a pandas
        DatetimeIndex), or None when the series was not a pandas Series with a frequency."""
        import pandas as pd

        self._check_fitted("future_index")
        t = self.times[self._index(index)]
        if t is None:
            return None
        return pd.date_range(pd.Timestamp(t["end"]), periods=self.config.horizon + 1,
                             freq=t["freq"])[1:]

    def update(self, value: float, covariate=None, index: int = 0) -> np.ndarray:
        """Streaming: take one new observation of series ``index`` (and its covariates) and
        return its next ``horizon`` forecasts.

        The carried state is the last ``lookback`` observations (each window is read relative
        to its own last value, so the network re-reads the window rather than carrying its
        hidden state); the result equals ``predict`` on the whole series so far.
        """
        import pandas as pd

        self._check_fitted("update")
        index = self._index(index)
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"update takes one number; got {value!r}.") from None
        if not np.isfinite(value):
            raise ValueError(f"update got {value}; give a finite observation.")
        lookback = self._lookback(self.season)
        row = None
        if self.n_cov:
            if covariate is None:
                raise ValueError("this forecaster uses covariates; give the new row too.")
            row = np.asarray(covariate, np.float64).reshape(1, -1)
            if row.shape[1] != self.n_cov or not np.isfinite(row).all():
                raise ValueError(f"the covariate row must be {self.n_cov} finite value(s); got "
                                 f"{np.asarray(covariate).tolist()!r}.")
        elif covariate is not None:
            raise ValueError("this forecaster was fitted without covariates; drop them.")
        self.last[index] = np.append(self.last[index], value)[-lookback:]
        if row is not None:
            self.last_cov[index] = np.vstack([self.last_cov[index], row])[-lookback:]
        t = self.times[index]
        if t is not None:
            t["end"] = (pd.Timestamp(t["end"]) + pd.tseries.frequencies.to_offset(t["freq"])
                        ).isoformat()
        return self._predict_one(self.last[index], None if self.last_cov is None
                                 else self.last_cov[index], index)

    def export_onnx(self, path: str) -> None:
        """Write the fitted network as ONNX: every recurrent layer (the standard GRU/LSTM/RNN
        operators, a Scan for cells without one), then the dense head.

        The model takes the windows that ``inputs(recent)`` builds and returns the scaled
        forecast; ``unscale(recent, output)`` turns it into values. Needs the ``onnx``
        package (``pip install grukit[onnx]``).
        """
        from .onnx_export import network_to_onnx

        self._check_fitted("export_onnx")
        network_to_onnx(self.net, path, self._lookback(self.season), 2 + self.n_cov)

    # -- saving ------------------------------------------------------------------------------
    def _state(self) -> tuple[dict, dict]:
        n = len(self.stats)
        tensors = {f"network.{k}": v for k, v in self.net.state_dict().items()}
        tensors |= {
            "stats.scale": np.array([s.scale for s in self.stats]),  # (S,)
            "stats.mean": np.array([s.mean for s in self.stats]),
            "stats.std": np.array([s.std for s in self.stats]),
            "stats.cmean": np.stack([s.cmean for s in self.stats]).reshape(n, self.n_cov),
            "stats.cstd": np.stack([s.cstd for s in self.stats]).reshape(n, self.n_cov),
        }
        for i in range(n):
            tensors[f"last.{i}"] = np.array(self.last[i], np.float64)  # (lookback,)
            if self.last_cov is not None:
                tensors[f"last_cov.{i}"] = np.array(self.last_cov[i], np.float64)  # (L, C)
        extras = {"season": int(self.season), "lookback": self._lookback(self.season),
                  "single": bool(self.single), "n_series": n, "n_cov": int(self.n_cov),
                  "times": [None if t is None else dict(t) for t in self.times]}
        return tensors, extras

    def _restore(self, tensors: dict, extras: dict) -> None:
        where = "the saved Forecaster"
        try:
            season, n, n_cov = int(extras["season"]), int(extras["n_series"]), \
                int(extras["n_cov"])
            check_season(season)
            lookback = self._lookback(season)
            if int(extras["lookback"]) != lookback:
                raise ValueError(f"lookback {extras['lookback']} does not follow from its "
                                 f"settings ({lookback})")
            self.season, self.n_cov, self.single = season, n_cov, bool(extras["single"])
            self.times = [None if t is None else {"end": str(t["end"]), "freq": str(t["freq"])}
                          for t in extras["times"]]
            get = {k: v.numpy() for k, v in tensors.items() if not k.startswith("network.")}
            self.stats = [_Stats(float(get["stats.scale"][i]), float(get["stats.mean"][i]),
                                 float(get["stats.std"][i]), get["stats.cmean"][i],
                                 get["stats.cstd"][i]) for i in range(n)]
            self.last = [get[f"last.{i}"] for i in range(n)]
            self.last_cov = [get[f"last_cov.{i}"] for i in range(n)] if n_cov else None
            if len(self.times) != n or any(len(x) != lookback for x in self.last) or \
                    any(s.cmean.shape != (n_cov,) for s in self.stats):
                raise ValueError("its series do not match their count, lookback or "
                                 "covariates")
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise ValueError(f"{where} is incomplete or damaged ({type(err).__name__}: {err}); "
                             f"save the model again.") from None
        with torch.random.fork_rng(devices=[]):  # building draws initial weights
            self.net = self._network(lookback)
        load_module_state(self.net, tensors, "network.", where)
        self.net.eval()

    # -- evaluation --------------------------------------------------------------------------
    def backtest(self, series, season: int = 1, folds: int = 3, covariates=None, *,
                 on_fold=None, done=None) -> dict:
        """Rolling origin over the last ``folds · horizon`` points of every series: refit at
        each origin, forecast ``horizon`` steps, score against what happened (averaged over
        series, then folds); baselines likewise.

        Fold ``k`` (0: the earliest origin) depends only on the data and the settings, so
        ``done`` ({k: the fold's scores as ``on_fold`` received them}) skips folds computed
        before; ``on_fold(k, fold)`` is called as each fold finishes, with ``fold`` =
        {"model" | "naive" | "seasonal_naive" | "ets": scores, "fit_seconds": s}. Afterwards
        the model is the one fitted at the last origin it trained.

        A MASE is None (undefined) where a fold's training history never changes over a
        season (its seasonal-naive error, the denominator, is zero): see ``metrics``.
        """
        check_config(self.config)
        check_season(season)
        whole("folds", folds, 1)
        ys, covs, single = as_list(series, covariates)
        h, lookback = self.config.horizon, self._lookback(season)
        for i, y in enumerate(ys):
            check_values(y, "the series" if single else f"series {i}")
            if len(y) - folds * h < lookback + h + 5:
                raise ValueError(f"{'the series' if single else f'series {i}'} has {len(y)} "
                                 f"points; {folds} fold(s) of horizon {h} after a first "
                                 f"training part of lookback {lookback} + horizon {h} + 5 "
                                 f"need at least {folds * h + lookback + h + 5}. Use fewer "
                                 f"folds, a shorter horizon or a shorter lookback.")
        done = done or {}
        names = ("model", "naive", "seasonal_naive", "ets")
        results = []
        for k in range(folds):
            if k in done:
                results.append(done[k])
                continue
            back = folds - k
            cut = [len(y) - back * h for y in ys]
            trains = [y[:o] for y, o in zip(ys, cut, strict=True)]
            self.fit(trains, season, covariates=None if covs is None else
                     [c[:o] for c, o in zip(covs, cut, strict=True)])
            per = {name: [] for name in names}
            for i, (y, o) in enumerate(zip(ys, cut, strict=True)):
                train, actual = y[:o], y[o:o + h]
                preds = {"model": self._predict_one(train, None if covs is None
                                                    else covs[i][:o], i),
                         "naive": baselines.naive(train, h),
                         "seasonal_naive": baselines.seasonal_naive(train, h, season),
                         "ets": baselines.ets(train, h, season)}
                for name, f in preds.items():
                    per[name].append(scores(actual, f, train, season))
            fold = {name: average(per[name]) for name in names}
            fold["fit_seconds"] = self.fit_seconds
            results.append(fold)
            if on_fold is not None:
                on_fold(k, fold)
        out = {name: average([r[name] for r in results]) | {"folds": [r[name] for r in results]}
               for name in names}
        out["model"]["fit_seconds"] = float(np.mean([r.get("fit_seconds", 0.0)
                                                     for r in results]))
        return out
