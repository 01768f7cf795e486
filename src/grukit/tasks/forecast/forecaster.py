"""Forecaster: a recurrent network (GRU, LSTM, RNN or minGRU) that maps the last
``lookback`` values to the next ``horizon`` (direct multi-step), built on grukit.models.

Each step feeds two channels: the value relative to the window's last value, divided by
the spread of the training series' one-step changes (shape, which follows a trend past the
training range), and the value standardised with the training series' mean and deviation
(level, which a stationary series needs). Targets are taken relative to the window's last
value on the first channel's scale.
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
    ``backtest(series, folds)`` scores it beside naive, seasonal naive and ETS."""

    def __init__(self, **config):
        self.config = ForecastConfig(**config)
        if self.config.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}; got {self.config.model!r}.")

    def _lookback(self, season: int) -> int:
        return self.config.lookback or max(2 * season, 12)

    def _inputs(self, x: np.ndarray) -> np.ndarray:
        """Windows x (N, lookback) -> network inputs (N, lookback, 2)."""
        shape = (x - x[:, -1:]) / self.scale
        level = (x - self.mean) / self.std
        return np.stack([shape, level], axis=2).astype(np.float32)

    def _windows(self, y: np.ndarray, lookback: int):
        h = self.config.horizon
        idx = np.arange(lookback, len(y) - h + 1)
        x = np.stack([y[t - lookback:t] for t in idx])  # (N, lookback)
        target = np.stack([y[t:t + h] for t in idx])  # (N, horizon)
        return self._inputs(x), ((target - x[:, -1:]) / self.scale).astype(np.float32)

    def fit(self, series, season: int = 1, verbose: int = 0) -> Forecaster:
        from ...layers import GRU, LSTM, Dense, MinGRU, SimpleRNN
        from ...models import EarlyStopping, Sequential

        cfg = self.config
        y = np.asarray(series, dtype=np.float64)
        if not np.isfinite(y).all():
            raise ValueError(f"the series has {int((~np.isfinite(y)).sum())} missing or "
                             f"infinite value(s); fill or drop them first.")
        self.season, lookback = season, self._lookback(season)
        need = lookback + cfg.horizon + 1
        if len(y) < need + 4:
            raise ValueError(f"the series has {len(y)} points; lookback {lookback} + horizon "
                             f"{cfg.horizon} need at least {need + 4} to train. Shorten the "
                             f"lookback or the horizon.")
        spread = np.std(np.diff(y))
        self.scale = float(spread if spread > 0 else max(np.std(y), 1.0))
        self.mean, self.std = float(np.mean(y)), float(np.std(y) or 1.0)
        x, target = self._windows(y, lookback)
        torch.manual_seed(cfg.seed)
        layer = {"gru": GRU, "lstm": LSTM, "rnn": SimpleRNN, "mingru": MinGRU}[cfg.model]
        stack = [layer(cfg.hidden, input_shape=(lookback, 2),
                       return_sequences=i < cfg.layers - 1) for i in range(cfg.layers)]
        self.net = Sequential(stack + [Dense(cfg.horizon)])
        self.net.build()
        self.net.compile(optimizer=torch.optim.Adam(self.net.parameters(),
                                                    lr=cfg.learning_rate), loss="mse")
        n_val = max(1, len(x) // 10)
        start = time.perf_counter()
        self.history = self.net.fit(
            x[:-n_val], target[:-n_val], validation_data=(x[-n_val:], target[-n_val:]),
            epochs=cfg.epochs, batch_size=cfg.batch_size, seed=cfg.seed, verbose=verbose,
            callbacks=[EarlyStopping(patience=cfg.patience, restore_best_weights=True)])
        self.fit_seconds = time.perf_counter() - start
        self.last = y[-lookback:]
        return self

    def predict(self, recent=None) -> np.ndarray:
        """The next ``horizon`` values after the fitted series (or after ``recent``)."""
        if not hasattr(self, "net"):
            raise RuntimeError("fit the Forecaster before predict().")
        window = np.asarray(self.last if recent is None else recent, dtype=np.float64)
        lookback = self._lookback(self.season)
        if len(window) < lookback:
            raise ValueError(f"predict needs the last {lookback} values; got {len(window)}.")
        return self.unscale(window, self.net.predict(self.inputs(window)))

    def update(self, value: float) -> np.ndarray:
        """Streaming: take one new observation and return the next ``horizon`` forecasts.

        The carried state is the last ``lookback`` observations (each window is read relative
        to its own last value, so the network re-reads the window rather than carrying its
        hidden state); the result equals ``predict`` on the whole series so far.
        """
        if not hasattr(self, "net"):
            raise RuntimeError("fit the Forecaster before update().")
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"update got {value}; give a finite observation.")
        self.last = np.append(self.last, value)[-self._lookback(self.season):]
        return self.predict()

    def export_onnx(self, path: str) -> None:
        """Write the fitted network as ONNX (the standard GRU operator, then Gemm).

        The model takes the two-channel windows that ``inputs(recent)`` builds and returns
        the scaled forecast; ``unscale(recent, output)`` turns it into values. Needs the
        ``onnx`` package (``pip install grukit[onnx]``); GRU forecasters only.
        """
        from .onnx_export import gru_dense_to_onnx

        if not hasattr(self, "net"):
            raise RuntimeError("fit the Forecaster before export_onnx().")
        if self.config.model != "gru":
            raise ValueError(f"export_onnx covers GRU forecasters; this one is "
                             f"{self.config.model!r}.")
        gru_layer, dense = self.net.stack[0], self.net.stack[-1]
        gru_dense_to_onnx(gru_layer.rnn, dense, path, self._lookback(self.season), 2)

    def inputs(self, recent) -> np.ndarray:
        """Network input (1, lookback, 2) for the window ending at ``recent[-1]``."""
        window = np.asarray(recent, dtype=np.float64)[-self._lookback(self.season):][None, :]
        return self._inputs(window)

    def unscale(self, recent, output) -> np.ndarray:
        """Network output (1, horizon) -> forecast values after ``recent``."""
        return np.asarray(output, dtype=np.float64)[0] * self.scale + float(recent[-1])

    def backtest(self, series, season: int = 1, folds: int = 3) -> dict:
        """Rolling origin over the last ``folds · horizon`` points: refit at each origin,
        forecast ``horizon`` steps, score against what happened; baselines likewise."""
        y = np.asarray(series, dtype=np.float64)
        h = self.config.horizon
        if folds < 1 or len(y) - folds * h < self._lookback(season) + h + 5:
            raise ValueError(f"{folds} folds of {h} leave too little history in {len(y)} "
                             f"points; use fewer folds or a shorter horizon.")
        per = {"model": [], "naive": [], "seasonal_naive": [], "ets": []}
        seconds = 0.0
        for k in range(folds, 0, -1):
            origin = len(y) - k * h
            train, actual = y[:origin], y[origin:origin + h]
            self.fit(train, season)
            seconds += self.fit_seconds
            preds = {"model": self.predict(), "naive": baselines.naive(train, h),
                     "seasonal_naive": baselines.seasonal_naive(train, h, season),
                     "ets": baselines.ets(train, h, season)}
            for name, f in preds.items():
                per[name].append(scores(actual, f, train, season))
        out = {name: average(v) | {"folds": v} for name, v in per.items()}
        out["model"]["fit_seconds"] = seconds / folds
        return out
