"""Forecaster: a recurrent network (GRU, LSTM, RNN or minGRU) that maps the last
``lookback`` values to the next ``horizon`` (direct multi-step), built on grukit.models.

Each step feeds two channels: the value relative to the window's last value, divided by
the spread of the training series' one-step changes (shape, which follows a trend past the
training range), and the value standardised with the training series' mean and deviation
(level, which a stationary series needs); then one channel per covariate, standardised.
Targets are taken relative to the window's last value on the first channel's scale.

Several series train one global model; every statistic above is per series, so series of
any level and scale share it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from . import baselines
from .metrics import average, scores

MODELS = ("gru", "lstm", "rnn", "mingru")


@dataclass
class _Stats:
    """Per-series scaling: one-step-change spread, mean, deviation; covariate mean/dev."""

    scale: float
    mean: float
    std: float
    cmean: np.ndarray  # (C,)
    cstd: np.ndarray  # (C,)


def _as_list(series, covariates):
    """-> (list of (T_i,) arrays, list of (T_i, C) arrays or None, one series given?)."""
    single = not isinstance(series, (list, tuple)) and np.ndim(series) == 1
    ys = [np.asarray(series, np.float64)] if single else \
        [np.asarray(s, np.float64) for s in series]
    if covariates is None:
        return ys, None, single
    covs = [covariates] if single else list(covariates)
    if len(covs) != len(ys):
        raise ValueError(f"{len(covs)} covariate arrays for {len(ys)} series; give one per "
                         f"series.")
    out = []
    for i, (y, c) in enumerate(zip(ys, covs, strict=True)):
        c = np.asarray(c, np.float64)
        c = c[:, None] if c.ndim == 1 else c
        if c.shape[0] != len(y):
            raise ValueError(f"series {i} has {len(y)} points but its covariates have "
                             f"{c.shape[0]} rows; align them on the same time steps.")
        if not np.isfinite(c).all():
            raise ValueError(f"the covariates of series {i} hold missing or infinite values.")
        out.append(c)
    if len({c.shape[1] for c in out}) != 1:
        raise ValueError("every series needs the same number of covariates.")
    return ys, out, single


@dataclass
class ForecastConfig:
    model: str = "gru"
    lookback: int | None = None  # default: 2·season, at least 12
    horizon: int = 12
    hidden: int = 32
    layers: int = 1
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 3e-3
    patience: int = 15  # early stopping on the last 10 % of the windows
    seed: int = 0


class Forecaster:
    """``Forecaster(model="gru", horizon=12).fit(series, season=12).predict()``;
    ``backtest(series, folds)`` scores it beside naive, seasonal naive and ETS.

    ``series`` is one 1-D array or a list of them (one global model); ``covariates``, if
    given, are aligned with each series, (T,) or (T, C), observed up to the forecast origin.
    """

    def __init__(self, **config):
        self.config = ForecastConfig(**config)
        if self.config.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}; got {self.config.model!r}.")

    def _lookback(self, season: int) -> int:
        return self.config.lookback or max(2 * season, 12)

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

    def fit(self, series, season: int = 1, verbose: int = 0, covariates=None,
            callbacks=()) -> Forecaster:
        """Train on the series (``callbacks``: extra grukit.models callbacks)."""
        from ...layers import GRU, LSTM, Dense, MinGRU, SimpleRNN
        from ...models import EarlyStopping, Sequential

        cfg = self.config
        ys, covs, self.single = _as_list(series, covariates)
        self.season, lookback = season, self._lookback(season)
        need = lookback + cfg.horizon + 1
        self.stats, xs, ts, xv, tv = [], [], [], [], []
        for i, y in enumerate(ys):
            where = "the series" if self.single else f"series {i}"
            if not np.isfinite(y).all():
                raise ValueError(f"{where} has {int((~np.isfinite(y)).sum())} missing or "
                                 f"infinite value(s); fill or drop them first.")
            if len(y) < need + 4:
                raise ValueError(f"{where} has {len(y)} points; lookback {lookback} + horizon "
                                 f"{cfg.horizon} need at least {need + 4} to train. Shorten "
                                 f"the lookback or the horizon.")
            spread = np.std(np.diff(y))
            c = None if covs is None else covs[i]
            st = _Stats(float(spread if spread > 0 else max(np.std(y), 1.0)),
                        float(np.mean(y)), float(np.std(y) or 1.0),
                        np.zeros(0) if c is None else c.mean(0),
                        np.ones(0) if c is None else np.where(c.std(0) > 0, c.std(0), 1.0))
            self.stats.append(st)
            x, target = self._windows(y, c, st, lookback)
            n_val = max(1, len(x) // 10)  # each series' latest windows validate
            xs.append(x[:-n_val]), ts.append(target[:-n_val])
            xv.append(x[-n_val:]), tv.append(target[-n_val:])
        self.n_cov = 0 if covs is None else covs[0].shape[1]
        torch.manual_seed(cfg.seed)
        layer = {"gru": GRU, "lstm": LSTM, "rnn": SimpleRNN, "mingru": MinGRU}[cfg.model]
        stack = [layer(cfg.hidden, input_shape=(lookback, 2 + self.n_cov),
                       return_sequences=i < cfg.layers - 1) for i in range(cfg.layers)]
        self.net = Sequential(stack + [Dense(cfg.horizon)])
        self.net.build()
        self.net.compile(optimizer=torch.optim.Adam(self.net.parameters(),
                                                    lr=cfg.learning_rate), loss="mse")
        start = time.perf_counter()
        self.history = self.net.fit(
            np.concatenate(xs), np.concatenate(ts),
            validation_data=(np.concatenate(xv), np.concatenate(tv)),
            epochs=cfg.epochs, batch_size=cfg.batch_size, seed=cfg.seed, verbose=verbose,
            callbacks=[EarlyStopping(patience=cfg.patience, restore_best_weights=True),
                       *callbacks])
        self.fit_seconds = time.perf_counter() - start
        self.last = [y[-lookback:] for y in ys]
        self.last_cov = None if covs is None else [c[-lookback:] for c in covs]
        return self

    def _check_fitted(self, what: str) -> None:
        if not hasattr(self, "net"):
            raise RuntimeError(f"fit the Forecaster before {what}().")

    def inputs(self, recent, covariates=None, index: int = 0) -> np.ndarray:
        """Network input (1, lookback, 2 + C) for the window ending at ``recent[-1]``."""
        lookback = self._lookback(self.season)
        window = np.asarray(recent, dtype=np.float64)
        if len(window) < lookback:
            raise ValueError(f"predict needs the last {lookback} values; got {len(window)}.")
        if self.n_cov and covariates is None:
            raise ValueError(f"this forecaster was fitted with {self.n_cov} covariate(s); give "
                             f"their last {lookback} rows too.")
        cov = None
        if self.n_cov:
            cov = np.asarray(covariates, np.float64).reshape(len(covariates), -1)
            cov = cov[-lookback:][None]  # (1, lookback, C)
        return self._inputs(window[-lookback:][None, :], cov, self.stats[index])

    def unscale(self, recent, output, index: int = 0) -> np.ndarray:
        """Network output (1, horizon) -> forecast values after ``recent``."""
        return np.asarray(output, np.float64)[0] * self.stats[index].scale + float(recent[-1])

    def predict(self, recent=None, covariates=None, index: int = 0) -> np.ndarray:
        """The next ``horizon`` values after the fitted series — (horizon,) for one series,
        (n_series, horizon) for several — or after ``recent`` (series ``index``'s scaling)."""
        self._check_fitted("predict")
        if recent is None:
            out = [self._predict_one(self.last[i], None if self.last_cov is None
                                     else self.last_cov[i], i) for i in range(len(self.last))]
            return out[0] if self.single else np.stack(out)
        return self._predict_one(recent, covariates, index)

    def _predict_one(self, recent, covariates, index):
        return self.unscale(recent, self.net.predict(self.inputs(recent, covariates, index)),
                            index)

    def update(self, value: float, covariate=None, index: int = 0) -> np.ndarray:
        """Streaming: take one new observation of series ``index`` (and its covariates) and
        return its next ``horizon`` forecasts.

        The carried state is the last ``lookback`` observations (each window is read relative
        to its own last value, so the network re-reads the window rather than carrying its
        hidden state); the result equals ``predict`` on the whole series so far.
        """
        self._check_fitted("update")
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"update got {value}; give a finite observation.")
        lookback = self._lookback(self.season)
        self.last[index] = np.append(self.last[index], value)[-lookback:]
        if self.n_cov:
            if covariate is None:
                raise ValueError("this forecaster uses covariates; give the new row too.")
            row = np.asarray(covariate, np.float64).reshape(1, -1)
            self.last_cov[index] = np.vstack([self.last_cov[index], row])[-lookback:]
        return self._predict_one(self.last[index], None if self.last_cov is None
                                 else self.last_cov[index], index)

    def export_onnx(self, path: str) -> None:
        """Write the fitted network as ONNX (the standard GRU operator, then Gemm).

        The model takes the windows that ``inputs(recent)`` builds and returns the scaled
        forecast; ``unscale(recent, output)`` turns it into values. Needs the ``onnx``
        package (``pip install grukit[onnx]``); GRU forecasters only.
        """
        from .onnx_export import gru_dense_to_onnx

        self._check_fitted("export_onnx")
        if self.config.model != "gru":
            raise ValueError(f"export_onnx covers GRU forecasters; this one is "
                             f"{self.config.model!r}.")
        gru_layer, dense = self.net.stack[0], self.net.stack[-1]
        gru_dense_to_onnx(gru_layer.rnn, dense, path, self._lookback(self.season),
                          2 + self.n_cov)

    def backtest(self, series, season: int = 1, folds: int = 3, covariates=None) -> dict:
        """Rolling origin over the last ``folds · horizon`` points of every series: refit at
        each origin, forecast ``horizon`` steps, score against what happened (averaged over
        series, then folds); baselines likewise."""
        ys, covs, _ = _as_list(series, covariates)
        h = self.config.horizon
        for y in ys:
            if folds < 1 or len(y) - folds * h < self._lookback(season) + h + 5:
                raise ValueError(f"{folds} folds of {h} leave too little history in {len(y)} "
                                 f"points; use fewer folds or a shorter horizon.")
        per = {"model": [], "naive": [], "seasonal_naive": [], "ets": []}
        seconds = 0.0
        for k in range(folds, 0, -1):
            cut = [len(y) - k * h for y in ys]
            trains = [y[:o] for y, o in zip(ys, cut, strict=True)]
            self.fit(trains, season, covariates=None if covs is None else
                     [c[:o] for c, o in zip(covs, cut, strict=True)])
            seconds += self.fit_seconds
            fold = {name: [] for name in per}
            for i, (y, o) in enumerate(zip(ys, cut, strict=True)):
                train, actual = y[:o], y[o:o + h]
                preds = {"model": self._predict_one(train, None if covs is None
                                                    else covs[i][:o], i),
                         "naive": baselines.naive(train, h),
                         "seasonal_naive": baselines.seasonal_naive(train, h, season),
                         "ets": baselines.ets(train, h, season)}
                for name, f in preds.items():
                    fold[name].append(scores(actual, f, train, season))
            for name in per:
                per[name].append(average(fold[name]))
        out = {name: average(v) | {"folds": v} for name, v in per.items()}
        out["model"]["fit_seconds"] = seconds / folds
        return out
