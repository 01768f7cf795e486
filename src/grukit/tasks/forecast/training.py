"""Training the networks of a Forecaster on the grukit.models engine, and the calibration
residuals of its validation windows (the split-conformal set, ``intervals``)."""

from __future__ import annotations

import numpy as np
import torch

from .. import _diverged
from . import scaling
from .intervals import point_and_pinball


def train_network(self, ys, cs, lookback, seed, n_val, verbose, callbacks, first):
    from ...models import EarlyStopping

    cfg = self.config
    xs, ts, xv, tv = [], [], [], []
    for y, c, st, nv in zip(ys, cs, self.stats, n_val, strict=True):
        x, target = self._windows(y, c, st, lookback)
        xs.append(x[:-nv]), ts.append(target[:-nv])
        xv.append(x[-nv:]), tv.append(target[-nv:])
    torch.manual_seed(seed)
    net = self._network(lookback)
    if cfg.hybrid:  # the correction starts at zero: training starts from the smoothing forecast
        with torch.no_grad():
            for param in net.stack[-1].parameters():
                param.zero_()
    loss = point_and_pinball(cfg.horizon, cfg.quantiles) if cfg.quantiles else "mse"
    net.compile(optimizer=torch.optim.Adam(net.parameters(), lr=cfg.learning_rate),
                loss=loss)
    val = (np.concatenate(xv), np.concatenate(tv))
    # a hybrid's untrained network is the smoothing forecast itself (its correction starts at
    # zero), a fitted model: a correction that cannot beat it says nothing of the learning rate
    fit_x, fit_y = np.concatenate(xs), np.concatenate(ts)
    # (unused by a hybrid with quantiles: no check, and its start is no candidate, below)
    untrained = None if cfg.hybrid and cfg.quantiles else \
        _diverged.before(net, *val, batch_size=cfg.batch_size)
    untrained_fit = None if cfg.hybrid else \
        _diverged.before(net, fit_x, fit_y, batch_size=cfg.batch_size)
    # (with quantiles the start is no candidate: its quantile outputs are all the point
    # forecast, a fan of zero width, which nile's hybrid at seed 2 kept)
    start = {k: v.clone() for k, v in net.state_dict().items()} \
        if cfg.hybrid and not cfg.quantiles else None
    history = net.fit(
        fit_x, fit_y, validation_data=val,
        epochs=cfg.epochs, batch_size=cfg.batch_size, seed=seed, verbose=verbose,
        callbacks=[EarlyStopping(patience=cfg.patience, restore_best_weights=True),
                   *callbacks])
    _diverged.check(history, learning_rate=cfg.learning_rate,
                    untrained=None if cfg.hybrid else untrained,
                    what="the forecaster's network", untrained_fit=untrained_fit)
    # early stopping keeps the best epoch; a hybrid's start, the zero correction (its
    # smoothing forecast), is a candidate too: where no epoch beats it on the validation
    # windows it is kept (nile's default hybrid kept an epoch worse there than its start);
    # not with quantiles, whose start has no spread
    best = min((v for v in history.history.get("val_loss", []) if np.isfinite(v)),
               default=np.inf)
    if start is not None and not best < untrained:
        net.load_state_dict(start)
        history.kept_start = True
    if first:
        self.history = self.history_ = history
    return net


def calibrate(self, y, c, index: int, n_val: int) -> np.ndarray:
    """Scaled residuals (n_val, horizon) of the ensemble's point forecast on the
    validation windows of series ``index``: the split-conformal calibration set."""
    h, st = self.config.horizon, self.stats[index]
    origins = np.arange(len(y) - h - n_val, len(y) - h)  # (n_val,)
    future = y[origins[:, None] + np.arange(1, h + 1)[None, :]]  # (n_val, h)
    if self.config.strategy != "direct":
        return (future - fed_back_point(self, y, st, origins)) / st.scale
    out = member_outputs(self, y, c, st, origins)  # (M, n_val, K)
    point = np.median(out[:, :, :h], axis=0)  # (n_val, h)
    _, base = scaling.views(y, c, st, 1, origins, h)
    return (future - base) / st.scale - point


def member_outputs(self, y, c, st, origins) -> np.ndarray:
    """Raw outputs (M, N, K) of every network for the windows ending at ``origins``."""
    h = self.config.horizon
    outs = []
    for net, lookback in zip(self.nets, self._lookbacks(self.season), strict=True):
        x, _ = scaling.views(y, c, st, lookback, origins, h)
        outs.append(np.asarray(net.predict(x), np.float64))
    return np.stack(outs)


def fed_back_point(self, y, st, origins) -> np.ndarray:
    """Point forecasts (N, horizon) of a recursive or sequence forecaster from the windows
    of ``y`` ending at ``origins`` (N,)."""
    if self.config.strategy == "sequence":
        return sequence_point(self, y, st, origins)
    return recursive_point(self, y, st, origins)


def sequence_point(self, y, st, origins) -> np.ndarray:
    """Point forecasts (N, horizon) of a sequence forecaster: every network runs over its
    last ``lookback`` values (or changes) and the forecasts so far (its state carried on, as
    a stream would: the same numbers), its output at the last step o gives the next value
    ŷ = mean + std · o, or with ``differences=1`` the next change, ŷ = y_last + mean + std · o
    (the median over the networks), and ŷ joins the sequence."""
    h, lbs, d = self.config.horizon, self._lookbacks(self.season), self._differences
    span = np.asarray(origins)[:, None] + np.arange(1 - max(lbs) - d, 1)[None, :]
    w = np.asarray(y, np.float64)[span]  # (N, L + d): the windows, oldest first
    out = np.empty((len(span), h))
    for k in range(h):
        step = [np.asarray(net.predict(scaling.sequence_inputs(w[:, -(lb + k + d):], st, d)),
                           np.float64)[:, -1, 0]
                for net, lb in zip(self.nets, lbs, strict=True)]  # M × (N,)
        out[:, k] = st.mean + st.std * np.median(step, axis=0) + (w[:, -1] if d else 0.0)
        w = np.concatenate([w, out[:, k:k + 1]], axis=1)
    return out


def recursive_point(self, y, st, origins) -> np.ndarray:
    """Point forecasts (N, horizon) of a recursive forecaster from the windows of ``y``
    ending at ``origins`` (N,): at each step every network reads its last ``lookback``
    values (the forecasts so far being the newest), their median one-step output o gives
    ŷ = (last value) + scale · o, and ŷ joins the window."""
    h, lbs = self.config.horizon, self._lookbacks(self.season)
    span = np.asarray(origins)[:, None] + np.arange(1 - max(lbs), 1)[None, :]
    w = np.asarray(y, np.float64)[span]  # (N, L): the windows, oldest first
    out = np.empty((len(span), h))
    for k in range(h):
        step = [np.asarray(net.predict(scaling.plain_inputs(w[:, -lb:], st)), np.float64)[:, 0]
                for net, lb in zip(self.nets, lbs, strict=True)]  # M × (N,)
        out[:, k] = w[:, -1] + st.scale * np.median(step, axis=0)
        w = np.concatenate([w[:, 1:], out[:, k:k + 1]], axis=1)
    return out
