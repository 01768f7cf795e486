"""Time series: the public-domain series statsmodels ships, and any CSV, checked.

Built in (``grukit datasets`` lists them): co2 (Mauna Loa, weekly averaged to months, gaps
interpolated), elnino (sea surface temperature, 12 columns per year made monthly), sunspots
(yearly), nile (yearly flow at Aswan). Each comes with its season length and the horizon
used by default (12 for monthly series, 10 for yearly ones).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Info:
    description: str
    freq: str
    season: int  # seasonal period m (1: none)
    horizon: int


BUILTIN = {
    "co2": Info("Mauna Loa CO2 (ppm), monthly means of weekly data, 1958-2001", "MS", 12, 12),
    "elnino": Info("El Nino sea surface temperature (C), monthly, 1950-2010", "MS", 12, 12),
    "sunspots": Info("Yearly sunspot activity, 1700-2008", "YS", 1, 10),
    "nile": Info("Yearly Nile flow at Aswan (10^8 m^3), 1871-1970", "YS", 1, 10),
}


def load_builtin(name: str):
    """A built-in series as a float pandas Series with a regular DatetimeIndex."""
    import pandas as pd
    from statsmodels import datasets

    if name not in BUILTIN:
        raise ValueError(f"unknown built-in series {name!r}; choose one of {sorted(BUILTIN)} "
                         f"or give a CSV path.")
    if name == "co2":
        s = datasets.co2.load_pandas().data["co2"].resample("MS").mean().interpolate()
    elif name == "elnino":
        d = datasets.elnino.load_pandas().data
        values = d.drop(columns="YEAR").to_numpy().ravel()
        start = f"{int(d['YEAR'].iloc[0])}-01-01"
        s = pd.Series(values, index=pd.date_range(start, periods=len(values), freq="MS"))
    else:
        d = getattr(datasets, name).load_pandas().data
        year, col = d.columns[0], d.columns[1]
        s = pd.Series(d[col].to_numpy(), index=pd.to_datetime(d[year].astype(int).astype(str)))
        s = s.asfreq("YS")
    return s.astype(float).rename(name)


def read_series_csv(path: str, time_column: str | None = None, target: str | None = None,
                    freq: str | None = None, fill: str = "refuse"):
    """Read one series from a CSV: ``time_column`` (dates), ``target`` (numbers).

    Clear errors for an unknown column (the columns are listed), a non-numeric target,
    duplicated or irregular timestamps; missing values are counted and refused, or filled
    by interpolation with ``fill="interpolate"``.
    """
    import pandas as pd

    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path!r} is empty; expected a header and one row per time step.")
    df = pd.read_csv(path)
    cols = list(df.columns)
    time_column = time_column or cols[0]
    target = target or (cols[1] if len(cols) > 1 else None)
    for what, name, flag in (("time", time_column, "--time-column"),
                             ("target", target, "--target")):
        if name not in cols:
            raise ValueError(f"{path!r}: {what} column {name!r} not found; the columns are "
                             f"{cols}. Name it with {flag}.")
    values = pd.to_numeric(df[target], errors="coerce")
    bad = int(values.isna().sum() - df[target].isna().sum())
    if bad:
        first = df[target][values.isna() & df[target].notna()].iloc[0]
        raise ValueError(f"{path!r}: target column {target!r} has {bad} non-numeric value(s), "
                         f"e.g. {first!r}; forecasting needs numbers.")
    index = pd.to_datetime(df[time_column], errors="coerce")
    if index.isna().any():
        raise ValueError(f"{path!r}: {int(index.isna().sum())} value(s) of {time_column!r} are "
                         f"not dates.")
    s = pd.Series(values.to_numpy(dtype=float), index=pd.DatetimeIndex(index)).sort_index()
    dups = int(s.index.duplicated().sum())
    if dups:
        raise ValueError(f"{path!r}: {dups} duplicated timestamp(s) in {time_column!r}, e.g. "
                         f"{s.index[s.index.duplicated()][0]}; aggregate them first.")
    if freq is None:
        import warnings

        with warnings.catch_warnings():  # pandas 3 announces a change of return type here
            warnings.simplefilter("ignore")
            inferred = pd.infer_freq(s.index)
        freq = None if inferred is None else pd.tseries.frequencies.to_offset(inferred)
    if freq is None:
        raise ValueError(f"{path!r}: the timestamps are irregular, so no frequency can be "
                         f"inferred; resample them or give --freq.")
    s = s.asfreq(freq)
    missing = int(s.isna().sum())
    if missing:
        if fill != "interpolate":
            raise ValueError(f"{path!r}: {missing} missing value(s) (gaps included); pass "
                             f"--fill interpolate to fill them, or clean the file.")
        s = s.interpolate()
    return s.rename(target)


def season_of(freq: str) -> int:
    """Seasonal period for a pandas frequency string (12 monthly, 7 daily, 4 quarterly...)."""
    f = freq.upper()
    for prefix, m in (("MS", 12), ("ME", 12), ("M", 12), ("QS", 4), ("Q", 4), ("W", 52),
                      ("D", 7), ("B", 5), ("H", 24)):
        if f.startswith(prefix):
            return m
    return 1


def as_array(series) -> np.ndarray:
    return np.asarray(series, dtype=np.float64)
