"""What the Forecaster accepts, checked before any work: its settings, the series (one 1-D
array or a list of them, finite and within a scale float64 can hold), the covariates aligned
with them, and the windows given to ``predict``. Each refusal is one sentence naming the
argument, the value and what would be valid."""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from ... import cells
from .intervals import check_level, check_quantiles, plain_float

MODELS = cells.names()

# A value this many times the series' typical magnitude (the median |value| of its nonzero
# values) is taken for a sentinel or a unit error, not an observation: one such value sets
# the scale of every window and the forecast follows it instead of the series.
OUTLIER_RATIO = 1e12

# direct: one output per step ahead; recursive: the next value from a window, fed back;
# sequence: the next value at every step of a window (trained on all of them), fed back
STRATEGIES = ("direct", "recursive", "sequence")


def whole(name: str, value, least: int, *, none_ok: bool = False) -> None:
    """``value`` must be an integer ≥ ``least`` (``None`` too where ``none_ok``)."""
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a whole number {least} or more"
                         f"{' (or None for the default)' if none_ok else ''}; got {value!r}.")
    if value < least:
        raise ValueError(f"{name} must be {least} or more; got {value}.")


def check_config(cfg) -> None:
    """The constructor's settings (a ``ForecastConfig``)."""
    if cfg.model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}; got {cfg.model!r}.")
    whole("lookback", cfg.lookback, 1, none_ok=True)
    for name in ("horizon", "hidden", "layers", "epochs", "batch_size"):
        whole(name, getattr(cfg, name), 1)
    whole("patience", cfg.patience, 0)
    whole("seed", cfg.seed, 0)
    lr = cfg.learning_rate
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) \
            or lr <= 0:
        raise ValueError(f"learning_rate must be a positive number; got {lr!r}.")
    whole("ensemble", cfg.ensemble, 1)
    lbs = cfg.lookbacks
    if lbs is not None and (not isinstance(lbs, (list, tuple)) or not lbs):
        raise ValueError(f"lookbacks must be a non-empty list of whole numbers (an ensemble "
                         f"over lookbacks) or None; got {lbs!r}.")
    for lb in lbs or ():
        whole("each of lookbacks", lb, 1)
    d = cfg.dropout
    if isinstance(d, bool) or not isinstance(d, numbers.Real) or not 0 <= d < 1:
        raise ValueError(f"dropout must be a number from 0 to below 1; got {d!r}.")
    if not isinstance(cfg.hybrid, bool):
        raise ValueError(f"hybrid must be True or False; got {cfg.hybrid!r}.")
    if not isinstance(cfg.tuned, dict):
        raise ValueError(f"tuned must be a dict (what Forecaster.tune found); got "
                         f"{cfg.tuned!r}.")
    check_quantiles(cfg.quantiles)
    check_level("level", cfg.level)
    if cfg.strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(map(repr, STRATEGIES))}; got "
                         f"{cfg.strategy!r}.")
    if cfg.strategy != "direct" and (cfg.hybrid or cfg.quantiles):
        what = "hybrid=True" if cfg.hybrid else "quantiles"
        raise ValueError(f"strategy={cfg.strategy!r} forecasts a plain network's next value and "
                         f"feeds it back; {what} needs strategy='direct'.")
    d = cfg.differences
    if not (isinstance(d, str) and d == "auto") and (
            isinstance(d, bool) or not isinstance(d, numbers.Integral) or d not in (0, 1)):
        raise ValueError(f"differences must be 0 (the values), 1 (their one-step changes) or "
                         f"'auto' (the better on the calibration windows); got {d!r}.")
    if cfg.differences and cfg.strategy != "sequence":
        raise ValueError(f"differences={d!r} is an input of strategy='sequence'; the "
                         f"{cfg.strategy} strategy already reads every window relative to its "
                         f"last value, so drop differences or use strategy='sequence'.")


def as_plain(cfg) -> None:
    """Checked settings as Python numbers (numpy's int64 or float32 pass the checks, train,
    then fail to be written as JSON by ``save``, after the training; ``plain_float``)."""
    for name in ("lookback", "horizon", "hidden", "layers", "epochs", "batch_size", "patience",
                 "seed", "ensemble", "differences"):
        if getattr(cfg, name) is not None and getattr(cfg, name) != "auto":
            setattr(cfg, name, int(getattr(cfg, name)))
    for name in ("learning_rate", "dropout", "level"):
        setattr(cfg, name, plain_float(getattr(cfg, name)))
    if cfg.lookbacks is not None:
        cfg.lookbacks = [int(lb) for lb in cfg.lookbacks]
    if cfg.quantiles is not None:
        cfg.quantiles = [plain_float(q) for q in cfg.quantiles]


def check_season(season) -> None:
    if isinstance(season, bool) or not isinstance(season, numbers.Integral) or season < 1:
        raise ValueError(f"season must be a whole number 1 or more (1: no seasonality, 12: "
                         f"monthly data with a yearly cycle); got {season!r}.")


def _floats(values, what: str) -> np.ndarray:
    dtype = getattr(values, "dtype", None)
    if getattr(dtype, "kind", None) in ("M", "m"):  # float64 reads them as counts of a unit
        verb = "hold" if what.startswith("the covariates") else "holds"
        raise ValueError(f"{what} {verb} {'dates' if dtype.kind == 'M' else 'durations'} "
                         f"({dtype}), not numbers; give the column of values (durations as "
                         f"numbers of a unit you name, e.g. s.dt.total_seconds()).")
    with warnings.catch_warnings():  # float64 would drop the imaginary parts with a warning
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        try:
            return np.asarray(values, dtype=np.float64)
        except np.exceptions.ComplexWarning:
            raise ValueError(f"{what} must hold real numbers, not complex ones; give their "
                             f"real part or magnitude, as the series means.") from None
        except (TypeError, ValueError, OverflowError) as err:  # 10**400: beyond float64
            raise ValueError(f"{what} must hold numbers ({' '.join(str(err).split())}).") \
                from None


def _in_time_order(series, what: str) -> None:
    """A pandas Series on time stamps (dates, periods, time spans) must hold them in order,
    each once: its values are read in the order they are stored, as steps of one series."""
    import pandas as pd

    index = getattr(series, "index", None)
    if not isinstance(index, (pd.DatetimeIndex, pd.PeriodIndex, pd.TimedeltaIndex)):
        return
    dup = index.duplicated()
    if dup.any():
        raise ValueError(f"{what} has {int(dup.sum())} duplicated time stamp(s), e.g. "
                         f"{index[dup][0]}; aggregate them first (e.g. "
                         f"series.groupby(level=0).mean()).")
    if not index.is_monotonic_increasing:
        i = int(np.flatnonzero(index[1:] < index[:-1])[0])
        raise ValueError(f"{what} has its time stamps out of order ({index[i + 1]} after "
                         f"{index[i]}), and its values are read in the order they are "
                         f"stored; sort it first (series.sort_index()).")


def _same_times(series, covariates, i: int) -> None:
    """A series and its covariates that are both pandas objects on time stamps of one kind
    must be on the same ones: rows are paired by position."""
    import pandas as pd

    a, b = getattr(series, "index", None), getattr(covariates, "index", None)
    kinds = (pd.DatetimeIndex, pd.PeriodIndex, pd.TimedeltaIndex)
    if not (isinstance(a, kinds) and type(a) is type(b) and len(a) == len(b)) or a.equals(b):
        return
    k = int(np.flatnonzero(np.asarray(a != b))[0])
    raise ValueError(f"the covariates of series {i} are on other time stamps than the series "
                     f"(row {k}: {b[k]} beside {a[k]}), and rows are paired by position; "
                     f"align them first (covariates.reindex(series.index)).")


def _is_scalar_list(series) -> bool:
    return isinstance(series, (list, tuple)) and len(series) > 0 and \
        all(np.ndim(v) == 0 for v in series)


def as_list(series, covariates=None):
    """-> (list of (T_i,) float64 arrays, list of (T_i, C) arrays or None, one series given?).

    One series: a 1-D array, a pandas Series, or a list of numbers. Several: a list of 1-D
    arrays (of any lengths) or a 2-D array (one series a row)."""
    if isinstance(series, (list, tuple)) and len(series) == 0:
        raise ValueError("series is an empty list; give one 1-D array or a list of them.")
    if hasattr(series, "columns") and np.ndim(series) == 2:  # a pandas DataFrame
        if series.shape[1] != 1:
            raise ValueError(f"series is a DataFrame of {series.shape[1]} columns; give one "
                             f"column (df[name]) or a list of them ([df[c] for c in df]), "
                             f"one series each.")
        series = series.iloc[:, 0]
    single = _is_scalar_list(series) or \
        (not isinstance(series, (list, tuple)) and np.ndim(series) == 1)
    if single:
        _in_time_order(series, "the series")
        ys = [_floats(series, "the series")]
    elif isinstance(series, (list, tuple)):
        for i, s in enumerate(series):
            _in_time_order(s, f"series {i}")
        ys = [_floats(s, f"series {i}") for i, s in enumerate(series)]
    else:
        arr = _floats(series, "the series")
        if arr.ndim != 2:
            raise ValueError(f"series must be one 1-D array or a list of them (or a 2-D array, "
                             f"one series a row); got an array of shape {arr.shape}.")
        if arr.shape[1] == 1 and arr.shape[0] > 1:
            raise ValueError(f"series has shape {arr.shape}, which reads as {arr.shape[0]} "
                             f"series of one point (a 2-D array holds one series a row); "
                             f"pass y.ravel() for one series of {arr.shape[0]} points.")
        ys = list(arr)
    for i, y in enumerate(ys):
        if y.ndim != 1:
            raise ValueError(f"series {i} has shape {y.shape}; each series must be 1-D (one "
                             f"value a time step).")
    if covariates is None:
        return ys, None, single
    covs = [covariates] if single else list(covariates)
    if len(covs) != len(ys):
        raise ValueError(f"{len(covs)} covariate arrays for {len(ys)} series; give one per "
                         f"series.")
    given = [series] if single else list(series) if isinstance(series, (list, tuple)) else \
        [None] * len(ys)
    out = []
    for i, (y, c) in enumerate(zip(ys, covs, strict=True)):
        _same_times(given[i], c, i)
        c = _floats(c, f"the covariates of series {i}")
        c = c[:, None] if c.ndim == 1 else c
        if c.ndim != 2:
            raise ValueError(f"the covariates of series {i} have shape {c.shape}; give (T,) or "
                             f"(T, C), one row a time step.")
        if c.shape[0] != len(y):
            raise ValueError(f"series {i} has {len(y)} points but its covariates have "
                             f"{c.shape[0]} rows; align them on the same time steps.")
        if not np.isfinite(c).all():
            raise ValueError(f"the covariates of series {i} hold "
                             f"{int((~np.isfinite(c)).sum())} missing or infinite value(s); "
                             f"fill or drop them first.")
        out.append(c)
    if len({c.shape[1] for c in out}) != 1:
        raise ValueError(f"every series needs the same number of covariates; got "
                         f"{sorted({c.shape[1] for c in out})}.")
    return ys, out, single


def check_values(y: np.ndarray, where: str) -> None:
    """Finite values, none a sentinel-sized outlier, spreads that float64 can compute."""
    if len(y) == 0:
        raise ValueError(f"{where} has no values; give one value a time step.")
    bad = ~np.isfinite(y)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where} has {int(bad.sum())} missing or infinite value(s) (the "
                         f"first, {y[i]}, at position {i}); fill or drop them first.")
    mag = np.abs(y)
    nonzero = mag[mag > 0]
    if len(nonzero):
        typical = float(np.median(nonzero))
        i = int(np.argmax(mag))
        if mag[i] > OUTLIER_RATIO * typical:
            raise ValueError(f"{where} has the value {y[i]:g} at position {i}, more than "
                             f"{OUTLIER_RATIO:g} times its typical magnitude ({typical:g}): a "
                             f"fill value or a unit error? Fix or drop it (or forecast the "
                             f"logarithm of a series that spans that many orders).")
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.std(np.diff(y)) if len(y) > 1 else 0.0
        std = np.std(y)
    if not (np.isfinite(spread) and np.isfinite(std)):
        raise ValueError(f"{where} varies too much to scale in float64 (values up to "
                         f"{float(mag.max()):g}); divide it by a power of ten first.")
    # squares below 1e-308 are zeros: the deviation of values such as 1e-300 comes out 0 (or
    # short of its least, range / (2 √n)), and the forecast would be made on a scale of 1
    low = np.ptp(y) / (2 * np.sqrt(len(y)))
    if low > 0 and std < low:
        raise ValueError(f"{where} varies too little to scale in float64 (values up to "
                         f"{float(mag.max()):g}); multiply it by a power of ten first.")


def window(recent, lookback: int, what: str = "recent") -> np.ndarray:
    """The last ``lookback`` values of ``recent`` as float64, checked."""
    _in_time_order(recent, what)
    w = _floats(recent, what)
    if w.ndim != 1:
        raise ValueError(f"{what} must be one 1-D series; got shape {w.shape} (for several "
                         f"series call predict once per series with its index).")
    if len(w) < lookback:
        raise ValueError(f"predict needs the last {lookback} values (the lookback); {what} "
                         f"has {len(w)}.")
    w = w[-lookback:]
    if not np.isfinite(w).all():
        raise ValueError(f"{what} has {int((~np.isfinite(w)).sum())} missing or infinite "
                         f"value(s) among its last {lookback}; fill them first.")
    return w


def _same_end(recent, covariates, rows: int) -> None:
    """Pandas ``recent`` values and covariates on time stamps of one kind: the last ``rows``
    rows a forecast reads must be on the same stamps (they are paired by position from the
    end, so covariates running on past the forecast origin met the wrong steps)."""
    import pandas as pd

    a, b = getattr(recent, "index", None), getattr(covariates, "index", None)
    kinds = (pd.DatetimeIndex, pd.PeriodIndex, pd.TimedeltaIndex)
    if not (isinstance(a, kinds) and type(a) is type(b) and len(b) >= rows):
        return
    a, b = a[-rows:], b[-rows:]
    if a.equals(b):
        return
    if b[-1] != a[-1]:
        raise ValueError(f"the covariates end at {b[-1]} but recent at {a[-1]}, and their last "
                         f"rows are paired with its last values; give them up to the forecast "
                         f"origin (covariates.loc[:recent.index[-1]]).")
    k = int(np.flatnonzero(np.asarray(a != b))[-1])
    raise ValueError(f"the covariates are on other time stamps than recent ({b[k]} beside "
                     f"{a[k]}), and rows are paired by position from the end; align them "
                     f"first (covariates.reindex(recent.index)).")


def recent_covariates(covariates, n_cov: int, rows: int, recent=None):
    """The covariates given with ``rows`` recent values: (rows, C) float64 or None
    (``recent``: the values as given, whose time stamps pandas covariates must share)."""
    if n_cov and covariates is None:
        raise ValueError(f"this forecaster was fitted with {n_cov} covariate(s); give "
                         f"their last {rows} rows too.")
    if not n_cov:
        if covariates is not None:
            raise ValueError("this forecaster was fitted without covariates; drop them.")
        return None
    _same_end(recent, covariates, rows)
    cov = _floats(covariates, "the covariates")  # as fit reads them: no dates or complex
    cov = cov[:, None] if cov.ndim == 1 else cov
    if cov.ndim != 2 or cov.shape[1] != n_cov or len(cov) < rows:
        raise ValueError(f"covariates must have at least {rows} rows of {n_cov} "
                         f"value(s) (the lookback); got shape {cov.shape}.")
    tail = len(cov) - rows  # rows before those read
    cov = cov[-rows:]
    if not np.isfinite(cov).all():
        k = int(np.flatnonzero(~np.isfinite(cov).all(axis=1))[0])
        raise ValueError(f"the covariates hold {int((~np.isfinite(cov)).sum())} missing or "
                         f"infinite value(s) in their last {rows} rows (row {tail + k}), which "
                         f"are paired with the last {rows} values of recent: they must end "
                         f"where recent ends (drop the rows of the steps ahead), then fill "
                         f"what is missing.")
    return cov
