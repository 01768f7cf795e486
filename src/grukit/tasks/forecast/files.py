"""The files ``grukit forecast`` writes besides metrics.json: one JSON file a backtest fold
(``folds/fold-02.json``, written as the fold finishes, so that ``--resume`` skips it) and
``forecast.csv``. Every file is written atomically."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from ..._io import atomic_text
from .. import folds
from ..folds import FOLDS_DIR, clear_folds  # noqa: F401  (the task CLI imports them here)


def fingerprint(values: np.ndarray, season: int, folds: int, config: dict,
                covariates: np.ndarray | None = None) -> str:
    """What decides a fold's result: the series, its covariates (T, C), the season, the
    folds, the settings; a fold file written under another fingerprint is not reused."""
    h = hashlib.sha256()
    h.update(json.dumps([season, folds, config], sort_keys=True).encode())
    h.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    if covariates is not None:  # (a series without them hashes as it always did)
        c = np.ascontiguousarray(covariates, dtype=np.float64)
        h.update(json.dumps(["covariates", list(c.shape)]).encode())
        h.update(c.tobytes())
    return h.hexdigest()


def write_fold(output: str, k: int, stamp: str, fold: dict) -> None:
    folds.write_fold(output, k, stamp, {"scores": fold})


def read_folds(output: str, n: int, stamp: str) -> dict:
    """{k: the fold's scores} of the folds finished in ``output``."""
    return {k: p["scores"] for k, p in folds.read_folds(output, n, stamp, ("scores",)).items()
            if isinstance(p["scores"], dict)}


def forecast_table(forecasts: np.ndarray, index=None, series: list[str] | None = None):
    """A DataFrame of the forecast: ``time`` (or ``step`` 1..h when no time stamps are known)
    and ``forecast``; with several series, one row per series and step and a ``series``
    column. ``forecasts``: (h,) or (S, h); ``index``: one DatetimeIndex or a list of them."""
    import pandas as pd

    forecasts = np.asarray(forecasts, np.float64)
    rows = forecasts[None] if forecasts.ndim == 1 else forecasts
    indexes = index if isinstance(index, list) else [index] * len(rows)
    if any(idx is None for idx in indexes):  # one kind of column for every series
        indexes = [None] * len(rows)
    frames = []
    for i, (f, idx) in enumerate(zip(rows, indexes, strict=True)):
        col = ("time", idx) if idx is not None else ("step", np.arange(1, len(f) + 1))
        frame = pd.DataFrame({col[0]: col[1], "forecast": f})
        if forecasts.ndim == 2:
            frame.insert(0, "series", series[i] if series else i)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def write_table(path: str, table) -> None:
    atomic_text(path, table.to_csv(index=False, lineterminator="\n"))


def time_of(series) -> dict | None:
    """{"end": last time stamp, "freq": pandas frequency[, "tz": its timezone's name][,
    "name": the Series' name, e.g. its CSV column][, "weekmask", "holidays": a custom
    business day's, from the last stamp on][, "hours": a business hour's [[start, ...],
    [end, ...]]]} of a pandas Series with a regular
    DatetimeIndex or PeriodIndex (its periods' start times), else None (a forecast is then
    numbered by step: a TimedeltaIndex or a plain range has no calendar to continue)."""
    import pandas as pd

    index = getattr(series, "index", None)
    if isinstance(index, pd.PeriodIndex):
        index = index.to_timestamp()
        index = pd.DatetimeIndex(index, freq=pd.infer_freq(index) if len(index) > 2 else None)
    if not isinstance(index, pd.DatetimeIndex) or index.freqstr is None or len(index) == 0:
        return None
    out = {"end": index[-1].isoformat(), "freq": index.freqstr}
    holidays = getattr(index.freq, "holidays", None)
    if holidays is not None:  # a custom business day: its freqstr ("C") has no holidays
        last = np.datetime64(index[-1].date(), "D")
        out |= {"weekmask": str(index.freq.weekmask),
                "holidays": [str(d) for d in np.asarray(holidays, "datetime64[D]")
                             if d >= last]}  # the forecasts' days, not the past ones
    if isinstance(index.freq, pd.offsets.BusinessHour | pd.offsets.CustomBusinessHour):
        # nor has a business hour's ("bh") its opening hours: 09:00-17:00 is assumed
        out["hours"] = [[t.strftime("%H:%M") for t in index.freq.start],
                        [t.strftime("%H:%M") for t in index.freq.end]]
    if hasattr(series, "columns") and series.shape[1] == 1:  # a one-column DataFrame
        series = series.iloc[:, 0]  # (df.name would be a column called "name")
    if isinstance(series, pd.Series) and series.name is not None:
        out["name"] = str(series.name)
    # a named zone (Europe/Berlin) is kept: "end" holds only its offset at the last stamp,
    # and the days after a change of daylight saving time start at another offset
    zone = getattr(index.tz, "key", None) or getattr(index.tz, "zone", None)
    return out | {"tz": str(zone)} if zone else out


def end_of(t: dict):
    """The last time stamp of ``time_of``'s dict, in its timezone when one is named."""
    import pandas as pd

    end = pd.Timestamp(t["end"])
    return end.tz_convert(t["tz"]) if t.get("tz") and end.tzinfo is not None else end


def offset_of(t: dict):
    """The pandas offset of ``time_of``'s dict: its frequency, and for a custom business day
    its weekmask and holidays (which the frequency's name, "C", does not hold), for a
    business hour its opening hours (nor does "bh")."""
    import pandas as pd

    offset = pd.tseries.frequencies.to_offset(t["freq"])
    kept = {}
    if "holidays" in t:
        kept |= {"weekmask": t["weekmask"], "holidays": list(t["holidays"])}
    if "hours" in t:
        kept |= {"start": list(t["hours"][0]), "end": list(t["hours"][1])}
    if kept:
        offset = type(offset)(n=offset.n, normalize=offset.normalize, **kept)
    return offset
