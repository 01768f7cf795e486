"""Compare on forecasting: a built-in series (or a CSV), rolling-origin backtest.

Per model and seed: ``folds`` origins over the last ``folds · horizon`` points, refit at
each (grukit.tasks.forecast.Forecaster); test MASE averaged over the folds. Training
figures (epoch times, learning curves, time to the best validation loss) come from the
fit at the last origin. The train metric is the in-sample MASE of the same direct
multi-step forecasts over every window of the points before that origin (the calibration
windows, which early stopping held out, included), so test − train is the generalisation gap
on one scale.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from ... import count_params
from ...models import EpochTimer
from ..forecast import baselines
from ..forecast.forecaster import Forecaster
from ..forecast.metrics import scores
from .record import convergence, fit_record, stop_reason_of


def load(data: str | None):
    """-> (name, values (T,), season, horizon)."""
    from ...data.series import BUILTIN, load_builtin, read_series_csv, season_of

    name = data or "sunspots"
    if name in BUILTIN:
        info = BUILTIN[name]
        return name, load_builtin(name).to_numpy(), info.season, info.horizon
    if not os.path.exists(name) and os.sep not in name and "." not in name:
        raise ValueError(f"--data {name!r} is neither a file nor a built-in series ("
                         f"{', '.join(BUILTIN)}; `grukit datasets` lists them).")
    _one_value_column(name)
    try:
        series = read_series_csv(name)
    except ValueError as err:  # compare has no --fill: say so instead of offering it
        text = str(err)
        if "; pass --fill" not in text:
            raise
        raise ValueError(f"{text.split('; pass --fill')[0]}; compare reads a series without "
                         f"gaps: fill them in the file (or use grukit forecast, which takes "
                         f"--fill interpolate).") from None
    season = season_of(series.index.freqstr or "")
    return name, series.to_numpy(), season, 12 if season == 12 else max(season, 10)


def _one_value_column(path: str) -> None:
    """One sentence when the CSV's header names more than a time and one value column:
    read_series_csv would take the second column, and compare has no --target to say which
    (a file that cannot be read is left to read_series_csv's own sentence)."""
    from ...data.series import excel_separator_line
    from ...data.text import read_text_file

    if not os.path.isfile(path):
        return
    try:
        text = read_text_file(path)
    except (OSError, ValueError):
        return
    text, named = excel_separator_line(text)
    header = next((ln for ln in text.split("\n") if ln.strip()), "")
    sep = named or max((",", ";", "\t", "|"), key=header.count)
    columns = [c.strip() for c in next(csv.reader([header], delimiter=sep))]  # "a, b" is one
    while len(columns) > 1 and not columns[-1]:  # a separator that ends every line
        columns.pop()
    if len(columns) > 2:
        raise ValueError(f"{path!r} has {len(columns)} columns ({', '.join(columns)}); compare "
                         f"reads a time column and one value column, so keep only the series "
                         f"to compare on (or use grukit forecast --target).")


def _in_sample_mase(fc: Forecaster, train: np.ndarray, season: int) -> float:
    lookback = fc._lookback(season)
    st = fc.stats[0]
    x, target = fc._windows(train, None, st, lookback)  # (N, L, 2), (N, h) scaled
    pred = fc.net.predict(x)  # (N, h) scaled
    mae = float(np.mean(np.abs(pred - target))) * st.scale
    m = season if len(train) > season else 1
    return mae / float(np.mean(np.abs(train[m:] - train[:-m])))


def _mase(actual, forecast, history, season: int) -> float:
    """Test MASE; one sentence where it is undefined (the history never changes over a
    season, so the seasonal-naive error it divides by is zero)."""
    mase = scores(actual, forecast, history, season)["mase"]
    if mase is None:
        raise ValueError(f"MASE is undefined on this series: its first {len(history)} points "
                         f"do not change over a season of {season}; compare needs a series "
                         f"that varies.")
    return mase


def check_length(values, season: int, horizon: int, folds: int) -> None:
    """One sentence when the series is too short for ``folds`` origins of ``horizon``
    points: the first origin needs 2·max(2·season, 12) + horizon points before it."""
    if len(values) - folds * horizon < 2 * max(2 * season, 12) + horizon:
        raise ValueError(f"{len(values)} points are too few for {folds} folds of {horizon}; "
                         f"use a longer series or fewer folds.")


def baseline_scores(values, season: int, horizon: int, folds: int) -> dict[str, float]:
    """Test MASE of naive, seasonal naive and ETS over the same origins."""
    check_length(values, season, horizon, folds)
    out = {}
    for name, fn in (("naive", lambda h: baselines.naive(h, horizon)),
                     ("seasonal naive", lambda h: baselines.seasonal_naive(h, horizon, season)),
                     ("ETS", lambda h: baselines.ets(h, horizon, season))):
        per = []
        for k in range(folds, 0, -1):
            o = len(values) - k * horizon
            per.append(_mase(values[o:o + horizon], fn(values[:o]), values[:o], season))
        out[name] = float(np.mean(per))
    return out


def warm_up(values, season: int, horizon: int, model: str, hidden: int) -> None:
    """One untimed epoch of ``model`` at ``hidden`` units on the points before the first
    origin of a one-fold backtest (``tasks.warm_up``: first-call costs out of the timed
    epochs; with ``--folds 1`` the one timed fit was the first)."""
    Forecaster(model=model, hidden=hidden, horizon=horizon, epochs=1).fit(
        values[:len(values) - horizon], season)


def run(values, season: int, horizon: int, model: str, hidden: int, seed: int, *,
        folds: int = 3, epochs: int = 100) -> tuple[dict, object]:
    """One model, one seed -> (record, the network's recurrent module)."""
    check_length(values, season, horizon, folds)
    tests, unfinished = [], []
    for k in range(folds, 0, -1):
        o = len(values) - k * horizon
        train = values[:o]
        timer = EpochTimer()
        fc = Forecaster(model=model, hidden=hidden, horizon=horizon, epochs=epochs, seed=seed)
        fc.fit(train, season, callbacks=[timer])
        pred = fc.predict()
        tests.append(_mase(values[o:o + horizon], pred, train, season))
        h = {"loss": [], "val_loss": []} | fc.history.history
        stop = stop_reason_of(len(h["loss"]), epochs, fc.history)
        ok, why = convergence(h["val_loss"], patience=fc.config.patience, stop_reason=stop)
        if not ok:
            unfinished.append(f"origin {folds - k + 1} of {folds}: {why}")
    rec = fit_record(timer.seconds, h["loss"], h["val_loss"], params=count_params(fc.net),
                     train_metric=_in_sample_mase(fc, train, season),
                     test_metric=float(np.mean(tests)), patience=fc.config.patience,
                     stop_reason=stop)
    if unfinished:  # every origin's fit must have converged for the test MASE to count
        rec["converged"], rec["convergence"] = False, "; ".join(unfinished)
    return rec, fc.net.stack[0].rnn
