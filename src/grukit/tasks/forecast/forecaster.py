"""Forecaster: a recurrent network (GRU, LSTM, RNN or minGRU) that maps the last
``lookback`` values to the next ``horizon`` (direct multi-step), or to the next value applied
``horizon`` times to its own forecasts (``strategy="recursive"``), or that predicts the next
value at every step of its window and carries its state on as each forecast is fed back
(``strategy="sequence"``), built on grukit.models.

What the network reads and predicts is in ``scaling``: a correction, on each series' own
scale, to a base forecast — the last value, or with ``hybrid=True`` the exponential-smoothing
forecast whose level and season also normalise the inputs (ES-GRU, ``es``). Several series
train one global model; every statistic is per series, so series of any level and scale
share it.

``ensemble`` seeds × ``lookbacks`` networks make an ensemble whose forecast is their median
(what won M4). ``quantiles`` adds quantile outputs trained with the pinball loss; every
model keeps the residuals of the windows it validated on, which give split-conformal
intervals (``predict_interval``) and the CRPS of the backtest (``intervals``).

A Forecaster is an estimator (``grukit.tasks.estimator``): ``save(path)`` keeps the networks,
the per-series scaling, the season, the lookbacks, the calibration residuals, the recent
history that ``predict()`` and ``update(value)`` continue from (with its covariates and, when
fitted on a pandas Series with a frequency, its time stamps) and the settings a ``tune``
chose, and ``Forecaster.load(path)`` gives them back bit for bit.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field

import numpy as np

from ..estimator import Estimator
from . import checks, scaling
from .checks import MODELS, as_list, check_config, check_season, check_values, whole
from .files import end_of, offset_of, time_of
from .intervals import conformal_halfwidth
from .training import calibrate, member_outputs, train_network

__all__ = ["MODELS", "ForecastConfig", "Forecaster"]

# how an interval level that the calibration windows cannot reach is refused
CALIBRATED = "this forecaster's calibration set"
LONGER = (" or a longer series, or fit with level={level:g} (fit holds out the windows a level "
          "needs where three quarters of the windows are left to train on)")


def default_lookback(season: int, strategy: str = "direct") -> int:
    """The lookback when none is given: two seasons, at least 12 values; for the sequence
    strategy, whose windows are its training sequences, four seasons, at least 24 (Darts'
    ``RNNModel`` trains on 24 steps by default)."""
    return max(4 * season, 24) if strategy == "sequence" else max(2 * season, 12)


@dataclass
class ForecastConfig:
    """A ``Forecaster``'s settings: ``Forecaster(**settings)`` takes each field as a
    keyword, checks the values when it is made, saves them with the model and gives them
    back from ``get_config()``.

    Attributes:
        model: the recurrent cell, one of ``MODELS`` ("gru", "lstm", "rnn", "mingru", ...).
        lookback: input window in steps; None: 2 × season, at least 12 (the sequence
            strategy: 4 × season, at least 24).
        horizon: steps forecast at once.
        hidden: units of each recurrent layer.
        layers: stacked recurrent layers.
        epochs: cap on the training epochs (early stopping usually ends sooner).
        batch_size: windows per update.
        learning_rate: Adam's step size.
        patience: epochs without a lower validation loss (on the calibration windows,
            ``calibration_windows``: the last tenth, or what ``level`` needs) before training
            stops.
        seed: weight initialisation and batch order.
        dropout: dropout on the inputs of each recurrent layer.
        hybrid: the ES-GRU: exponential smoothing normalises each series and gives a base
            forecast, the network corrects it.
        ensemble: networks per lookback (seeds seed, seed + 1, ...); the forecast is their
            median.
        lookbacks: an ensemble over these lookbacks (replaces ``lookback``).
        quantiles: quantile outputs trained with the pinball loss, e.g. [0.1, 0.9].
        level: the coverage of the conformal interval the backtest and the CLI report;
            ``fit`` holds out the calibration windows it needs (4 for 0.8, 19 for 0.95)
            where three quarters of the windows are left to train on
            (``calibration_windows``), so the level also sets what the networks train on.
        tuned: what ``Forecaster.tune`` found (informational).
        strategy: "direct" (one output per step ahead), "recursive" (the network predicts
            the next value; a forecast feeds each prediction back as the newest input, h
            times) or "sequence" (the network reads the standardised series step by step and
            predicts the next value at every step of its lookback window, trained on all of
            them (teacher forcing); a forecast runs it over the last lookback values and
            carries its state on, feeding each prediction back, as Darts' ``RNNModel`` and
            DeepAR do). Recursive and sequence are for plain models without covariates or
            quantiles.
        differences: the sequence strategy's input: 0 the values, 1 their one-step changes
            y_u − y_{u−1} (standardised; a forecast adds the forecast changes to the last
            value), which follow a trend past the training range (co2) where standardised
            values cannot; "auto" fits both and keeps the changes only where they forecast
            the calibration windows better by a Diebold–Mariano test at 5 % (``choose``;
            ``chosen_`` says which, after ``fit``).
    """

    model: str = "gru"
    lookback: int | None = None  # None: 2·season, at least 12 (sequence: 4·season, ≥ 24)
    horizon: int = 12
    hidden: int = 32
    layers: int = 1
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 3e-3
    patience: int = 15  # early stopping on the calibration windows
    seed: int = 0
    dropout: float = 0.0  # on the inputs of each recurrent layer
    hybrid: bool = False  # ES-GRU: exponential smoothing normalises, the network corrects
    ensemble: int = 1  # networks per lookback (seeds seed, seed + 1, ...); median forecast
    lookbacks: list[int] | None = None  # an ensemble over these lookbacks (replaces lookback)
    quantiles: list[float] | None = None  # quantile outputs (pinball loss), e.g. [0.1, 0.9]
    level: float = 0.8  # the conformal interval; sets the windows held out (fit)
    tuned: dict = field(default_factory=dict)  # what Forecaster.tune found (informational)
    strategy: str = "direct"  # "recursive" or "sequence": one step ahead, fed back h times
    differences: int | str = 0  # the sequence strategy: 1 models the one-step changes


class Forecaster(Estimator):
    """``Forecaster(model="gru", horizon=12).fit(series, season=12).predict()``;
    ``backtest(series, folds)`` scores it beside naive, seasonal naive and ETS;
    ``predict_interval()`` gives split-conformal intervals, ``predict_quantiles()`` the
    quantile outputs; ``Forecaster.tune(series, season, trials)`` searches its settings.

    ``series`` is one 1-D array (or pandas Series, or list of numbers) or a list of them (one
    global model); ``covariates``, if given, are aligned with each series, (T,) or (T, C),
    observed up to the forecast origin.
    """

    config_class = ForecastConfig

    def __init__(self, **config):
        self.config = ForecastConfig(**self._checked_settings(config))
        check_config(self.config)  # the values only; no work is done here
        checks.as_plain(self.config)

    def _check_config(self) -> None:
        check_config(self.config)

    @property
    def net(self):
        """The first network of the ensemble (of one network: the network)."""
        return self.nets[0]

    @net.setter
    def net(self, value) -> None:
        if getattr(self, "nets", None):
            self.nets[0] = value
        else:
            self.nets = [value]

    # -- settings ----------------------------------------------------------------------------
    def _lookbacks(self, season: int) -> list[int]:
        """The lookback of every member of the ensemble, one per network."""
        cfg = self.config
        if cfg.lookbacks:
            base = list(cfg.lookbacks)
        else:
            base = [default_lookback(season, cfg.strategy) if cfg.lookback is None
                    else cfg.lookback]
        return [lb for lb in base for _ in range(cfg.ensemble)]

    def _lookback(self, season: int) -> int:
        """The lookback of the first network."""
        return self._lookbacks(season)[0]

    def history_needed(self, season: int) -> int:
        """The fewest values a forecast reads (the longest lookback; a hybrid's smoothing
        starts from two seasons and two values)."""
        from . import es

        lb = max(self._lookbacks(season)) + self._differences
        m = season if season > 1 else 1
        return max(lb, es.need(m)) if self.config.hybrid else lb

    @property
    def _differences(self) -> int:
        """How often the sequence strategy's inputs are differenced (0 for the others; for
        "auto", what ``fit`` chose, or 1, the longer history, before it)."""
        d = self.config.differences
        if d == "auto":
            d = getattr(self, "differences_", 1)
        return d if self.config.strategy == "sequence" else 0

    def calibration_windows(self, length: int, season: int) -> int:
        """The windows ``fit`` on a series of ``length`` points validates on and keeps the
        residuals of (the split-conformal set): the latest tenth of its windows, or, where
        that is fewer than an interval at the configured level needs (4 for 0.8:
        ``intervals.fewest``), that many where three quarters of the windows are left to
        train on; at least 1. (Nile's first backtest fold, 36 windows at lookback 24, kept 3
        and had no 80 % interval.)"""
        from .intervals import fewest

        first = self.history_needed(season) - 1
        windows = length - self.config.horizon - first
        need = fewest(self.config.level)
        return max(1, windows // 10, need if need <= windows // 4 else 0)

    def check_interval(self, length: int, season: int, where: str, fix: str) -> None:
        """One sentence (ValueError) where a fit on ``length`` points of ``where`` keeps too
        few calibration windows for an interval at the configured level."""
        from .intervals import check_attainable

        check_attainable(self.calibration_windows(length, season), self.config.level, where,
                         fix)

    @property
    def _steps(self) -> int:
        """Steps a network predicts at once: the horizon, or 1 for a recursive or sequence
        forecaster."""
        return self.config.horizon if self.config.strategy == "direct" else 1

    def _windows(self, y, cov, st: scaling.Stats, lookback: int):
        """Inputs (N, lookback, 2 + C) and scaled targets (N, steps) of every window; for
        the sequence strategy inputs (N, lookback, 1) and targets (N, lookback, 1), the next
        value at every step, windows ending where the recursive strategy's do."""
        if self.config.strategy == "sequence":
            return scaling.sequence_windows(y, st, lookback, self._differences)
        x, target, _ = scaling.training_windows(y, cov, st, lookback, self._steps)
        return x, target

    def _network(self, lookback: int):
        from ... import cells
        from ...layers import Dense
        from ...layers.initializers import torch_start
        from ...models import Sequential

        cfg = self.config
        layer = cells.get(cfg.model).layer_class()
        # torch's initial weights (the recorded results were trained from them)
        extra = {"dropout": cfg.dropout} if cfg.dropout else {}
        every = cfg.strategy == "sequence"  # an output at every step, any length of window
        shape = (None, 1) if every else (lookback, 2 + self.n_cov)
        stack = [layer(cfg.hidden, input_shape=shape, return_sequences=every or
                       i < cfg.layers - 1, **extra, **torch_start(layer))
                 for i in range(cfg.layers)]
        outputs = self._steps * (1 + len(cfg.quantiles or ()))
        net = Sequential(stack + [Dense(outputs, **torch_start(Dense))])
        net.build()
        return net

    # -- training ----------------------------------------------------------------------------
    def fit(self, series, season: int = 1, verbose: int = 0, covariates=None,
            callbacks=()) -> Forecaster:
        """Train on the series (``callbacks``: extra grukit.models callbacks, given to the
        training of every network of an ensemble in turn, each from its ``on_train_begin`` to
        its ``on_train_end``; with ``differences="auto"``, to the networks on the values and
        then to those on the changes, one set of which is kept); returns self (the training
        ``History`` of the first network kept is in ``history``; ``history.kept_start`` is
        True where a hybrid without quantiles kept its start, the zero correction, as no
        epoch beat it on the validation windows)."""
        cfg = self.config
        check_config(cfg)
        check_season(season)
        self.fitted_ = False  # a failed fit leaves no half-trained model behind
        self.__dict__.pop("differences_", None)  # "auto" chooses again
        ys, covs, single = as_list(series, covariates)
        need = self.history_needed(season) + cfg.horizon + 5
        for i, y in enumerate(ys):
            where = "the series" if single else f"series {i}"
            check_values(y, where)
            if len(y) < need:
                reads = self.history_needed(season)
                lookback = max(self._lookbacks(season))
                smoothing = cfg.hybrid and reads > lookback
                what = f"the smoothing's start ({reads} values: two seasons and two)" \
                    if smoothing else f"lookback {lookback}" + \
                    (" + 1 (the value before the first change)" if self._differences else "")
                fix = "the horizon, or train without hybrid" if smoothing else \
                    "the lookback or the horizon"
                raise ValueError(f"{where} has {len(y)} points; {what} + horizon "
                                 f"{cfg.horizon} need at least {need} to train. Shorten {fix}.")
        if covs is not None and cfg.strategy != "direct":
            raise ValueError(f"a {cfg.strategy} forecaster feeds its forecasts back as inputs, "
                             f"and the covariates of the steps ahead are not known; use "
                             f"strategy='direct' with covariates.")
        if cfg.strategy == "sequence" and cfg.differences == "auto":
            from .choose import fit_auto

            return fit_auto(self, series, season, verbose, covariates, list(callbacks or ()))
        cs = [None] * len(ys) if covs is None else covs
        self.n_cov = 0 if covs is None else covs[0].shape[1]
        self.stats = [scaling.fit_stats(y, c, season, cfg.hybrid, cfg.horizon)
                      for y, c in zip(ys, cs, strict=True)]
        if self._differences:
            self.stats = [scaling.of_changes(st, y) for st, y in zip(self.stats, ys, strict=True)]
        self.single, self.season = single, season
        lookbacks = self._lookbacks(season)
        # each series' latest tenth of its windows, or what the level needs, validates (the
        # same origins for every lookback: windows end where the series does)
        n_val = [self.calibration_windows(len(y), season) for y in ys]
        # a recursive network's one-step windows from the calibration origins on are held
        # out too, so that no value it forecasts there was a training target. A sequence
        # network, like a direct one, trains up to the first calibration window: holding out
        # the h − 1 windows whose targets the first calibration forecasts reach took the
        # latest years from sunspots' training (3-fold MASE 0.86–0.89 against 0.70–0.78, the
        # 80 % intervals covering 0.87–0.97 of the test points either way; BENCHMARKS.md)
        held = [v + cfg.horizon - 1 if cfg.strategy == "recursive" else v for v in n_val]
        callbacks = list(callbacks or ())  # (a generator would reach the first one only)
        start = time.perf_counter()
        self.nets = []
        for j, lookback in enumerate(lookbacks):
            self.nets.append(train_network(self, ys, cs, lookback, cfg.seed + j % cfg.ensemble,
                                             held, verbose, callbacks, j == 0))
        self.fit_seconds = time.perf_counter() - start
        self.calib = [calibrate(self, y, c, i, n_val[i])
                      for i, (y, c) in enumerate(zip(ys, cs, strict=True))]
        keep = None if cfg.hybrid else self.history_needed(season)  # a hybrid smooths it all
        self.last = [y[-keep if keep else 0:].copy() for y in ys]
        self.last_cov = None if covs is None else [c[-keep if keep else 0:].copy()
                                                   for c in covs]
        self.times = [time_of(series)] if single else \
            [time_of(s) for s in series] if isinstance(series, (list, tuple)) else \
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

    def _history(self, recent, covariates, index: int):
        """(values, covariates) a forecast reads: the last ``history_needed`` values, or for a
        hybrid every value of ``recent`` (its smoothing runs over them). A pandas ``recent``
        with a frequency must have the one series ``index`` was fitted on, where that is
        known."""
        import pandas as pd

        need = self.history_needed(self.season)
        w = checks.window(recent, need)
        fitted, given = self.times[index], time_of(recent)
        if fitted is not None and given is not None and \
                pd.tseries.frequencies.to_offset(given["freq"]) != \
                pd.tseries.frequencies.to_offset(fitted["freq"]):
            raise ValueError(f"recent is on time stamps of frequency {given['freq']} but "
                             f"series {index} was fitted on {fitted['freq']} ones; give values "
                             f"of that frequency (e.g. recent.resample({fitted['freq']!r})"
                             f".mean()).")
        if self.config.hybrid:
            w = checks.window(recent, len(np.asarray(recent).reshape(-1)))
        return w, checks.recent_covariates(covariates, self.n_cov, len(w), recent)

    def inputs(self, recent, covariates=None, index: int = 0) -> np.ndarray:
        """Input (1, T, F) of the exported graph (``export_onnx``) for the window ending at
        ``recent[-1]``: the window of the longest lookback L (of one network: its own), with
        the 2 + C channels of the direct and recursive strategies, or (1, L, 1) standardised
        values or changes for the sequence strategy (its first step; ``served``)."""
        from .served import window_inputs

        self._check_fitted("inputs")
        return window_inputs(self, recent, self._index(index), covariates)

    def unscale(self, recent, output, index: int = 0) -> np.ndarray:
        """Graph output (1, horizon) of a direct forecaster -> forecast values after
        ``recent`` (a recursive or sequence forecaster's output is one step, which
        ``grukit.export.runtime.Predictor.forecast`` feeds back)."""
        self.check_exportable("unscale")
        if self.config.strategy != "direct":
            raise ValueError(f"unscale turns a direct forecaster's graph output into values; "
                             f"this one is {self.config.strategy}, whose graph forecasts one "
                             f"step: serve it with grukit.export.runtime.Predictor.forecast, "
                             f"which feeds each step back.")
        index = self._index(index)
        st, h = self.stats[index], self.config.horizon
        if st.es is None:
            base = float(np.asarray(recent, np.float64)[-1])
        else:
            w = np.asarray(recent, np.float64)
            base = scaling.views(w, None, st, 1, np.array([len(w) - 1]), h)[1][0]
        return np.asarray(output, np.float64)[0, :h] * st.scale + base

    def _forecast(self, recent, covariates, index) -> tuple[np.ndarray, np.ndarray]:
        """(base (h,), the median of the networks' raw outputs (K,)) after ``recent``."""
        index = self._index(index)
        w, cov = self._history(recent, covariates, index)
        st, h = self.stats[index], self.config.horizon
        origin = np.array([len(w) - 1])
        out = member_outputs(self, w, cov, st, origin)[:, 0]  # (M, K)
        base = scaling.views(w, None, st, 1, origin, h)[1][0]  # (h,)
        return base, np.median(out, axis=0)

    def _predict_one(self, recent, covariates, index):
        if self.config.strategy != "direct":
            from .training import fed_back_point

            index = self._index(index)
            w, _ = self._history(recent, covariates, index)  # (refuses covariates: it has none)
            return fed_back_point(self, w, self.stats[index], np.array([len(w) - 1]))[0]
        base, out = self._forecast(recent, covariates, index)
        return out[:self.config.horizon] * self.stats[index].scale + base

    def _each(self, fn, recent, covariates, index):
        """``fn(recent, covariates, i)`` for the fitted series (stacked when several) or for
        ``recent``."""
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
            out = [fn(self.last[i], None if self.last_cov is None else self.last_cov[i], i)
                   for i in range(len(self.last))]
            return out[0] if self.single else np.stack(out)
        return fn(recent, covariates, self._index(index))

    def predict(self, recent=None, covariates=None, index: int = 0) -> np.ndarray:
        """The next ``horizon`` values after the fitted series — (horizon,) for one series,
        (n_series, horizon) for several — or after ``recent`` (series ``index``'s scaling)."""
        return self._each(self._predict_one, recent, covariates, index)

    def residuals(self, index: int = 0) -> np.ndarray:
        """Calibration residuals (n, horizon) of series ``index`` in its units."""
        self._check_fitted("residuals")
        index = self._index(index)
        return self.calib[index] * self.stats[index].scale

    def predict_interval(self, level: float | None = None, recent=None, covariates=None,
                         index: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) of the split-conformal interval at ``level`` (default the
        configured 0.8), shaped as ``predict``'s forecast; refused in one sentence where the
        calibration windows are too few for ``level`` (n < level / (1 − level): 4 for 0.8,
        9 for 0.9), whose largest residual would cover only n / (n + 1)."""
        from .intervals import check_level, plain_float

        level = self.config.level if level is None else level
        check_level("level", level)

        def one(r, c, i):
            half = conformal_halfwidth(self.residuals(i), level, CALIBRATED if self.single
                                       else f"series {i}'s calibration set",
                                       LONGER.format(level=plain_float(level)))
            f = self._predict_one(r, c, i)
            return np.stack([f - half, f + half])

        out = self._each(one, recent, covariates, index)  # (2, h) or (S, 2, h)
        return (out[0], out[1]) if out.ndim == 2 else (out[:, 0], out[:, 1])

    def predict_quantiles(self, recent=None, covariates=None, index: int = 0) -> np.ndarray:
        """The quantile outputs, (Q, horizon) (or (S, Q, horizon)) in ``quantiles``' order,
        sorted so that they never cross."""
        if not self.config.quantiles:
            raise ValueError("this forecaster has no quantile outputs; fit it with "
                             "quantiles=[0.1, 0.5, 0.9] (for example), or use "
                             "predict_interval.")
        h = self.config.horizon

        def one(r, c, i):
            base, out = self._forecast(r, c, i)
            q = out[h:].reshape(-1, h) * self.stats[i].scale + base  # (Q, h)
            order = np.argsort(np.argsort(self.config.quantiles))
            return np.sort(q, axis=0)[order]

        return self._each(one, recent, covariates, index)

    def future_index(self, index: int = 0):
        """The time stamps of ``predict()``'s forecast of series ``index`` (a pandas
        DatetimeIndex), or None when the series was not a pandas Series with a frequency."""
        import pandas as pd

        self._check_fitted("future_index")
        t = self.times[self._index(index)]
        if t is None:
            return None
        return pd.date_range(end_of(t), periods=self.config.horizon + 1,
                             freq=offset_of(t))[1:]

    def update(self, value: float, covariate=None, index: int = 0) -> np.ndarray:
        """Streaming: take one new observation of series ``index`` (and its covariates) and
        return its next ``horizon`` forecasts.

        The carried state is the last ``lookback`` observations (``history_needed``: one more
        with differences=1, the value before the first change; a hybrid: all of them, which
        its smoothing runs over); each window is read afresh rather than carrying the hidden
        state, so the result equals ``predict`` on the whole series so far.
        """

        self._check_fitted("update")
        index = self._index(index)
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"update takes one number; got {value!r}.") from None
        if not np.isfinite(value):
            raise ValueError(f"update got {value}; give a finite observation.")
        keep = 0 if self.config.hybrid else self.history_needed(self.season)
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
        self.last[index] = np.append(self.last[index], value)[-keep:]
        if row is not None:
            self.last_cov[index] = np.vstack([self.last_cov[index], row])[-keep:]
        t = self.times[index]
        if t is not None:
            t["end"] = (end_of(t) + offset_of(t)).isoformat()
        return self._predict_one(self.last[index], None if self.last_cov is None
                                 else self.last_cov[index], index)

    def export_onnx(self, path: str) -> None:
        """Write what the forecast runs as one ONNX graph (``onnx_export``, ``served``): every
        network (recurrent layers as the standard GRU/LSTM/RNN operators, a Scan for cells
        without one, then the dense head), each on its own lookback's end of the input
        window, and their median (an ensemble's forecast).

        The graph takes the window that ``inputs(recent)`` builds: a direct forecaster's
        output is the scaled forecast, which ``unscale(recent, output)`` turns into values;
        a recursive or sequence forecaster's is the next step, fed back ``horizon`` times
        (``grukit.tasks.export.export`` writes the manifest that says how, and
        ``grukit.export.runtime.Predictor.forecast`` does it with numpy). Needs the ``onnx``
        package (``pip install grukit[onnx]``).
        """
        from .onnx_export import forecaster_to_onnx

        self._check_fitted("export_onnx")
        self.check_exportable("ONNX export")
        forecaster_to_onnx(self, path)

    def check_exportable(self, what: str) -> None:
        """Every fitted forecaster exports (every strategy, ensemble, ES-GRU hybrid and
        quantile outputs: ``served``); kept for the callers that ask before writing."""
        self._check_fitted(what)

    # -- saving (``saving``) -----------------------------------------------------------------
    def _state(self) -> tuple[dict, dict]:
        from .saving import state

        return state(self)

    def _restore(self, tensors: dict, extras: dict) -> None:
        from .saving import restore

        restore(self, tensors, extras)

    # -- evaluation and tuning ---------------------------------------------------------------
    @classmethod
    def tune(cls, series, season: int = 1, trials: int = 20, *, covariates=None, fit=True,
             **options) -> Forecaster:
        """Search the settings (``tune.tune``: Optuna, rolling validation folds at the end of
        ``series`` — give it training data only; ``storage="study.db"`` makes the search
        resumable) and return a Forecaster with the best of them, fitted on the whole
        ``series`` unless ``fit=False``; its ``config.tuned`` says what the search found,
        and is saved with it."""
        from .tune import tune

        settings, summary = tune(series, season, trials, covariates=covariates, **options)
        model = cls(**settings, tuned=summary)
        return model.fit(series, season, covariates=covariates) if fit else model

    def backtest(self, series, season: int = 1, folds: int = 3, covariates=None, *,
                 on_fold=None, done=None) -> dict:
        """Rolling origin over the last ``folds · horizon`` points of every series: refit at
        each origin, forecast ``horizon`` steps, score against what happened (averaged over
        series, then folds); baselines likewise. The model's scores add the coverage, mean
        width and CRPS of its split-conformal interval at ``level`` (coverage and width None,
        undefined, where a fold keeps too few calibration windows for ``level``).

        Fold ``k`` (0: the earliest origin) depends only on the data and the settings, so
        ``done`` ({k: the fold's scores as ``on_fold`` received them}) skips folds computed
        before; ``on_fold(k, fold)`` is called as each fold finishes, with ``fold`` =
        {"model" | "naive" | "seasonal_naive" | "ets": scores, "fit_seconds": s, "forecasts":
        [per series {"origin", "model", "lower", "upper", "naive", ...}]}. Each origin
        refits a copy: the model itself is left as it was (fitted or not). The result's
        ``"model"`` entry also holds ``"forecasts"``, each fold's ``forecasts``.

        A MASE is None (undefined) where a fold's training history never changes over a
        season (its seasonal-naive error, the denominator, is zero): see ``metrics``.
        """
        from .backtest import backtest

        return backtest(self, series, season, folds, covariates, on_fold=on_fold, done=done)
