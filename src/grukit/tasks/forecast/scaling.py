"""What the network of a Forecaster reads and predicts, per series.

A forecast from origin t (the last value seen) is ``base + scale · output``: the network
predicts a correction on the series' own scale to a base forecast.

* plain: base = y_t (no change); the first input channel is (y_u − y_t) / scale with scale
  the spread of the training series' one-step changes (shape, which follows a trend past
  the training range);
* hybrid (ES-GRU, ``es``): base = the exponential-smoothing forecast ŷ_{t+k|t}; the first
  channel is the deseasonalised window relative to the last level, (y_u − s_{u−m} − l_t) /
  scale, with scale the spread of the one-step smoothing errors.

The second channel is (y_u − mean) / std (level, which a stationary series needs) — for a
hybrid, the one-step smoothing error (y_u − ŷ_{u|u−1}) / scale instead (a level channel
leaves its training range on a trending series, and the network then extrapolates) — then
one standardised channel per covariate. A series whose changes are all alike has no
spread: its scale is its standard deviation — 1 in its units for a constant series (its
windows are all zeros, the network learns to forecast no change).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import es


@dataclass
class Stats:
    """Per-series scaling; ``es`` holds the smoothing parameters of a hybrid model."""

    scale: float
    mean: float
    std: float
    cmean: np.ndarray  # (C,)
    cstd: np.ndarray  # (C,)
    es: es.ESParams | None = None


def fit_stats(y: np.ndarray, c: np.ndarray | None, season: int, hybrid: bool,
              horizon: int = 1) -> Stats:
    params = es.fit_params(y, season, horizon) if hybrid else None
    if params is None:
        spread = float(np.std(np.diff(y)))
    else:
        st = es.filter(y, params)
        one = es.forecast(st, params, np.arange(len(y) - 1), 1)[:, 0]  # (n − 1,)
        spread = float(np.std(y[1:] - one))
    # a constant series' deviation is float rounding too (7e-3 sixty times: 8.7e-19)
    std = float(np.std(y)) if np.ptp(y) > 0 else 0.0
    # a series whose changes are all alike (a straight line; a constant series) has no
    # spread: float rounding leaves one ~1e-16 of its values, which would blow its windows up
    # by as much. Its standard deviation is the scale then (1 for a constant series), so a
    # line is read alike whatever its units.
    tiny = std == 0 or not (np.isfinite(spread) and spread > 1e-9 * std)
    scale = (std if std > 0 else 1.0) if tiny else spread
    return Stats(scale, float(np.mean(y)), std if std > 0 else 1.0,
                 np.zeros(0) if c is None else c.mean(0),
                 np.ones(0) if c is None else
                 np.where((np.ptp(c, 0) > 0) & (c.std(0) > 0), c.std(0), 1.0), params)


def history_needed(st: Stats, lookback: int) -> int:
    """The fewest values a forecast reads: the lookback, and for a hybrid the values its
    smoothing starts from."""
    return lookback if st.es is None else max(lookback, es.need(st.es.season))


def views(y: np.ndarray, cov: np.ndarray | None, st: Stats, lookback: int,
          origins: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (N, lookback, 2 + C) float32 and base forecasts (N, horizon) float64 for the
    windows of ``y`` (n,) ending at each of ``origins`` (N,) (0-based index of the last value
    a window holds; each ≥ lookback − 1)."""
    origins = np.asarray(origins)
    span = origins[:, None] + np.arange(1 - lookback, 1)[None, :]  # (N, lookback)
    x = y[span]  # (N, lookback)
    if st.es is None:
        shape, second = plain_channels(x, st)
        base = np.repeat(x[:, -1:], horizon, axis=1)  # (N, horizon)
    else:
        states = es.filter(y, st.es)
        d = es.deseasonalised(y, states, st.es)  # (n,)
        shape = (d[span] - states.level[origins][:, None]) / st.scale
        one = es.forecast(states, st.es, np.arange(len(y) - 1), 1)[:, 0]  # (n − 1,)
        errors = np.r_[0.0, y[1:] - one] / st.scale  # (n,) one-step smoothing errors
        second = errors[span]
        base = es.forecast(states, st.es, origins, horizon)  # (N, horizon)
    chans = [shape, second]
    if cov is not None:
        c = (cov[span] - st.cmean) / st.cstd  # (N, lookback, C)
        chans += list(np.moveaxis(c, 2, 0))
    return np.stack(chans, axis=2).astype(np.float32), base


def plain_channels(x: np.ndarray, st: Stats) -> tuple[np.ndarray, np.ndarray]:
    """A plain model's two channels of windows x (N, lookback): shape, level."""
    return (x - x[:, -1:]) / st.scale, (x - st.mean) / st.std


def plain_inputs(x: np.ndarray, st: Stats) -> np.ndarray:
    """Inputs (N, lookback, 2) float32 of a plain model without covariates."""
    return np.stack(plain_channels(x, st), axis=2).astype(np.float32)


def training_windows(y, cov, st: Stats, lookback: int, horizon: int):
    """Every window of a training series with its scaled target: inputs (N, lookback, 2 + C),
    targets (N, horizon) float32, origins (N,)."""
    first = max(lookback, es.need(st.es.season) if st.es is not None else 0) - 1
    origins = np.arange(first, len(y) - horizon)
    x, base = views(y, cov, st, lookback, origins, horizon)
    future = y[origins[:, None] + np.arange(1, horizon + 1)[None, :]]  # (N, horizon)
    return x, ((future - base) / st.scale).astype(np.float32), origins


def sequence_inputs(x: np.ndarray, st: Stats, differences: int = 0) -> np.ndarray:
    """Inputs (N, T − d, 1) float32 of the sequence strategy for windows x (N, T): the values
    (d = 0) or their one-step changes v_u = y_u − y_{u−1} (d = 1) standardised,
    (v_u − mean) / std (the stats of the values or of the changes, ``of_changes``)."""
    v = np.diff(x, axis=1) if differences else x
    return ((v - st.mean) / st.std)[:, :, None].astype(np.float32)


def sequence_windows(y: np.ndarray, st: Stats, lookback: int,
                     differences: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The sequence strategy's training windows: inputs (N, lookback, 1) of the windows
    ending at lookback − 1 … n − d − 2 of the standardised values (d = 0) or changes (d = 1),
    and their targets (N, lookback, 1), each step's next value (or change) standardised alike
    (a window's last target is the one after it, the recursive strategy's target for the
    same window)."""
    z = sequence_inputs(y[None, :], st, differences)[0]  # (n − d, 1)
    origins = np.arange(lookback - 1, len(z) - 1)  # (N,)
    span = origins[:, None] + np.arange(1 - lookback, 1)[None, :]  # (N, lookback)
    return z[span], z[span + 1]


def of_changes(st: Stats, y: np.ndarray) -> Stats:
    """``st`` with the mean and standard deviation of the one-step changes of ``y`` (what a
    sequence forecaster with ``differences=1`` standardises by); a series whose changes are
    all alike (a straight line) has 1 for their deviation, as ``fit_stats`` does: float
    rounding leaves the changes of a line such as 3 + 0.1 t a deviation of ~1e-15, which
    would blow its inputs up by as much."""
    v = np.diff(y)
    mean = float(np.mean(v))
    std = float(np.std(v)) if np.ptp(v) > 0 else 0.0
    return replace(st, mean=mean, std=std if std > 1e-9 * abs(mean) else 1.0)


def stats_tensors(stats: list[Stats], n_cov: int) -> dict:
    n = len(stats)
    out = {"stats.scale": np.array([s.scale for s in stats]),  # (S,)
           "stats.mean": np.array([s.mean for s in stats]),
           "stats.std": np.array([s.std for s in stats]),
           "stats.cmean": np.stack([s.cmean for s in stats]).reshape(n, n_cov),
           "stats.cstd": np.stack([s.cstd for s in stats]).reshape(n, n_cov)}
    if stats[0].es is not None:
        out["stats.es"] = np.stack([s.es.as_array() for s in stats])  # (S, 5)
    return out


def stats_from(get: dict, n: int) -> list[Stats]:
    hybrid = "stats.es" in get
    return [Stats(float(get["stats.scale"][i]), float(get["stats.mean"][i]),
                  float(get["stats.std"][i]), get["stats.cmean"][i], get["stats.cstd"][i],
                  es.ESParams.from_array(get["stats.es"][i]) if hybrid else None)
            for i in range(n)]
