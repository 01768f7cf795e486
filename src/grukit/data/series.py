"""Time series: the public-domain series statsmodels ships, and any CSV, checked.

Built in (``grukit datasets`` lists them): co2 (Mauna Loa, weekly averaged to months, gaps
interpolated), elnino (sea surface temperature, 12 columns per year made monthly), sunspots
(yearly), nile (yearly flow at Aswan). Each comes with its season length and the horizon
used by default (12 for monthly series, 10 for yearly ones).

How a CSV is read (``read_series_csv``) — every other case is refused with one sentence
naming the file, the column or the value and what would be valid:

* bytes: as :func:`grukit.data.text.read_text_file` decodes them (byte-order marks, UTF-8,
  else Windows-1252 with a warning); the separator is the one of ``, ; tab |`` the header
  line uses most, or the one a first line ``sep=;`` (Excel's separator line) names, which
  is skipped; column names are stripped of surrounding blanks;
* times: dates or date-times in one format (ISO 8601 in any of its forms, or the format
  pandas infers from the first row; ``01/02/2020`` is read month first as pandas does, with
  a warning when every date could be read either way), month strings (``1990-01``),
  quarters (``1990Q1``), whole years (``1700`` or ``1700.0``: years, never nanoseconds since
  1970) and ``YYYYMM``/``YYYYMMDD`` numbers. One timezone offset is kept; several (daylight
  saving) are converted to UTC, or dropped when only the local clock times are regular (a
  daily series at local midnight). Rows are sorted by time;
* values: numbers, with English thousands separators (``1,234.5``), or decimal commas in
  a ``;``-separated file (``3,5``); pandas' missing markers (``""``, ``NA``, ``NaN``,
  ``null``, ``N/A``...) are missing values, as are the gaps in the time grid;
* frequency: ``freq`` when given (every timestamp must lie on its grid), else pandas'
  inferred frequency, else the one most triples of consecutive timestamps share (gaps are
  then missing values);
* missing values: ``fill="refuse"`` names the first one; ``fill="interpolate"`` fills the
  gaps between values linearly (missing values before the first or after the last value
  cannot be interpolated and are refused).
"""

from __future__ import annotations

import collections
import io
import os
import re
import warnings
from dataclasses import dataclass

import numpy as np

from .frequency import as_offset, season_of  # noqa: F401  (season_of is public here)


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

# pandas' default missing-value markers (read_csv's na_values)
NA_MARKERS = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                        "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
                        "nan", "null"})
FILL = ("refuse", "interpolate")


def load_builtin(name: str):
    """A built-in series as a float pandas Series with a regular DatetimeIndex."""
    import pandas as pd
    from statsmodels import datasets

    if not isinstance(name, str) or name not in BUILTIN:
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
        years = d[year].astype(int).astype(str)  # years as "%Y", never ints (nanoseconds)
        s = pd.Series(d[col].to_numpy(), index=pd.to_datetime(years, format="%Y"))
        s = s.asfreq("YS")
    return s.astype(float).rename(name)


def read_series_csv(path: str, time_column: str | None = None, target: str | None = None,
                    freq: str | None = None, fill: str = "refuse", *,
                    encoding: str | None = None):
    """Read one series from a CSV: ``time_column`` (times; default the first column),
    ``target`` (numbers; default the second column).

    Returns a float pandas Series named ``target`` on a regular DatetimeIndex (its ``freq``
    set), sorted by time. The module docstring lists what is accepted; everything else —
    a folder, a missing, empty, binary or header-only file, an unknown column (the columns
    are listed), a non-numeric or infinite value, an empty or unparsable timestamp,
    duplicated or irregular timestamps, timestamps off the ``freq`` grid, missing values
    with ``fill="refuse"`` — is a ``ValueError`` (``OSError`` for the file itself) of one
    sentence naming the file.
    """
    import pandas as pd

    from .text import read_text_file

    if fill not in FILL:
        raise ValueError(f"fill must be one of {FILL}; got {fill!r}.")
    path = os.fspath(path)
    offset = None if freq is None else as_offset(freq)
    text = read_text_file(path, encoding)
    if not text.strip():
        raise ValueError(f"{path!r} is empty; expected a header and one row per time step.")
    text, sep = excel_separator_line(text)
    sep = sep or _separator(text)
    read = dict(sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=True,
                skipinitialspace=True)
    try:
        # index_col=False: rows with one more field than the header (a separator at the end
        # of each line) keep their first column as the times instead of pandas moving it
        # into the index and shifting every column one place left
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            df = pd.read_csv(io.StringIO(text), index_col=False, **read)
        if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
            extra = pd.read_csv(io.StringIO(text), header=None, skiprows=1, **read)
            extra = extra.iloc[:, df.shape[1]:].fillna("").astype(str)
            if extra.map(str.strip).ne("").to_numpy().any():
                row = _row(extra.map(str.strip).ne("").any(axis=1))
                raise ValueError(f"{path!r}: data row {row} has more fields than the header "
                                 f"({list(df.columns)}); name every column in the header or "
                                 f"check the separator.")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"{path!r} could not be read as a CSV with separator {sep!r} "
                         f"({' '.join(str(err).split())}); check the separator and the "
                         f"quoting.") from None
    df.columns = [str(c).strip() for c in df.columns]
    cols = list(df.columns)
    if len(cols) < 2:
        raise ValueError(f"{path!r} has a single column {cols}; a time column and a target "
                         f"column are needed, separated by ',' ';' or a tab.")
    _refuse_a_name_given_twice(text, read, path, [c for c in (time_column, target)
                                                  if c is not None])
    time_column = cols[0] if time_column is None else str(time_column)
    target = cols[1] if target is None else str(target)
    for what, name, flag in (("time", time_column, "--time-column"),
                             ("target", target, "--target")):
        if name not in cols:
            raise ValueError(f"{path!r}: {what} column {name!r} not found; the columns are "
                             f"{cols}. Name it with {flag}.")
    if time_column == target:
        raise ValueError(f"{path!r}: the time and target columns are both {target!r}; choose "
                         f"two different columns.")
    if len(df) == 0:
        raise ValueError(f"{path!r} has a header but no rows; give one row per time step.")
    df = df.fillna("")  # a short row's missing fields
    index = _times(df[time_column], path, time_column)
    values = _numbers(df[target], path, target, sep)
    s = pd.Series(values, index=index, name=target)
    if not s.index.is_monotonic_increasing:
        s = s.sort_index(kind="stable")
    dup = s.index.duplicated()
    if dup.any():
        raise ValueError(f"{path!r}: {int(dup.sum())} duplicated timestamp(s) in "
                         f"{time_column!r}, e.g. {_stamp(s.index[dup][0])}; aggregate them "
                         f"first.")
    if offset is None:
        s, offset = _infer(s, path, time_column)
    regular = s.asfreq(offset)
    off_grid = ~s.index.isin(regular.index)
    if off_grid.any():
        raise ValueError(f"{path!r}: {int(off_grid.sum())} timestamp(s) of {time_column!r} do "
                         f"not fall on the {offset.freqstr!r} grid, e.g. "
                         f"{_stamp(s.index[off_grid][0])}; give the frequency of the data, or "
                         f"resample it.")
    s = regular
    if s.notna().sum() == 0:
        raise ValueError(f"{path!r}: the target column {target!r} has no values (all "
                         f"{len(df)} are missing); choose the column with the numbers.")
    missing = s.isna().to_numpy()
    if missing.any():
        first = _stamp(s.index[np.argmax(missing)])
        if fill == "refuse":
            raise ValueError(f"{path!r}: {int(missing.sum())} missing value(s) (gaps "
                             f"included), the first at {first}; pass --fill interpolate "
                             f"(fill='interpolate') to fill them, or clean the file.")
        valid = np.flatnonzero(~missing)
        if valid[0] > 0 or valid[-1] < len(s) - 1:
            edge = "first" if valid[0] > 0 else "last"
            count = valid[0] if valid[0] > 0 else len(s) - 1 - valid[-1]
            raise ValueError(f"{path!r}: the {edge} {count} value(s) of {target!r} are missing "
                             f"(from {first if valid[0] > 0 else _stamp(s.index[valid[-1] + 1])}"
                             f"), and interpolation only fills gaps between values; drop those "
                             f"rows.")
        s = s.interpolate(method="linear")
    return s.astype(float).rename(target)


def _refuse_a_name_given_twice(text: str, read: dict, path: str, names: list) -> None:
    """One sentence when a column asked for by name is named twice by the header: pandas
    renames the second 'v' to 'v.1', and target='v' took the first without a word."""
    import pandas as pd

    if not names:
        return
    header = pd.read_csv(io.StringIO(text), header=None, nrows=1, **read).iloc[0]
    header = [str(h).strip() for h in header.fillna("")]
    for name in map(str, names):
        where = [i + 1 for i, h in enumerate(header) if h == name]
        if len(where) > 1:
            raise ValueError(f"{path!r}: the header names {name!r} twice (columns "
                             f"{where[0]} and {where[1]}), so it cannot say which is meant; "
                             f"rename one of them.")


_EXCEL_SEP = re.compile(r'\s*"?sep=(.)"?\s*')


def excel_separator_line(text: str) -> tuple[str, str | None]:
    """(text, separator): a first line ``sep=;`` (Excel's separator line, which some exports
    write) names the separator and is left blank; else (text, None)."""
    first, newline, rest = text.partition("\n")
    found = _EXCEL_SEP.fullmatch(first)
    return ("\n" + rest, found.group(1)) if found and newline else (text, None)


def _separator(text: str) -> str:
    header = next((ln for ln in text.split("\n") if ln.strip()), "")
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _stamp(ts) -> str:
    """A timestamp as people write it: a date when it is midnight."""
    return str(ts.date()) if ts == ts.normalize() and ts.tzinfo is None else str(ts)


def _span(step, unit: str) -> str:
    """A step between timestamps as people say it: "31 days", "1 hour", "0:15:00"."""
    import pandas as pd

    td = pd.Timedelta(int(step), unit=unit)
    if td % pd.Timedelta(days=1) == pd.Timedelta(0):
        return f"{td.days} day{'s' if td.days != 1 else ''}"
    if td % pd.Timedelta(hours=1) == pd.Timedelta(0):
        hours = td // pd.Timedelta(hours=1)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return str(td)


def _row(mask) -> int:
    """The 1-based data row of the first True."""
    return int(np.argmax(np.asarray(mask))) + 1


_INT = re.compile(r"^[+-]?\d+(\.0*)?$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_OFFSET_TAIL = re.compile(r"(Z|[+-]\d\d:?\d\d)$")
_DAY_MONTH = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}\b")


def _times(raw, path: str, col: str):
    """The time column as a DatetimeIndex (see the module docstring)."""
    import pandas as pd

    vals = raw.astype(str).str.strip()
    empty = vals.isin(NA_MARKERS).to_numpy()
    if empty.any():
        raise ValueError(f"{path!r}: the time column {col!r} is empty on data row "
                         f"{_row(empty)}; every row needs a timestamp.")
    ints = vals.str.fullmatch(_INT.pattern)
    if ints.all():
        return _whole_times(vals, path, col)
    numeric = vals.str.fullmatch(_NUMBER.pattern)
    if numeric.all():
        bad = vals[~ints].iloc[0]
        raise ValueError(f"{path!r}: the time column {col!r} holds numbers with fractions "
                         f"(e.g. {bad!r}), not dates or whole years; give dates such as "
                         f"2020-01-31, or years such as 1990.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not infer format": handled below
        try:
            index = pd.to_datetime(vals, errors="coerce")
        except ValueError:  # several timezone offsets
            return _mixed_offsets(vals, path, col)
        if index.isna().any():
            try:
                iso = pd.to_datetime(vals, errors="coerce", format="ISO8601")
            except ValueError:
                return _mixed_offsets(vals, path, col)
            if iso.isna().sum() < index.isna().sum():  # the reading that fails fewer rows
                index = iso
        if index.isna().any():  # 13/02/2021 after 01/02/2021: the day comes first
            dayfirst = pd.to_datetime(vals, errors="coerce", dayfirst=True)
            if not dayfirst.isna().any() and vals.str.match(_DAY_MONTH.pattern).all():
                return pd.DatetimeIndex(dayfirst)
    bad = index.isna().to_numpy()
    if bad.all():
        raise ValueError(f"{path!r}: the time column {col!r} holds no dates that could be "
                         f"read (e.g. {vals.iloc[0]!r} on data row 1); give dates such as "
                         f"2020-01-31 (or --time-column for another column).")
    if bad.any():
        raise ValueError(f"{path!r}: the time column {col!r} has {int(bad.sum())} value(s) "
                         f"that are not dates in the format of its first row "
                         f"({vals.iloc[0]!r}), e.g. {vals[bad].iloc[0]!r} on data row "
                         f"{_row(bad)}; write every date the same way (2020-01-31 is "
                         f"safest).")
    days = vals.str.extract(_DAY_MONTH)
    if days.notna().all().all() and (days.astype(int) <= 12).all().all() \
            and (days[0] != days[1]).any():  # 01/02/2020 for every row: which comes first?
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dayfirst = pd.DatetimeIndex(pd.to_datetime(vals, errors="coerce", dayfirst=True))
            regular = [len(vals) >= 3 and not ix.isna().any()
                       and pd.infer_freq(ix.sort_values()) is not None
                       for ix in (pd.DatetimeIndex(index), dayfirst)]
        if regular == [False, True]:
            return dayfirst  # only day first gives a regular series
        if regular != [True, False]:
            warnings.warn(f"{path!r}: dates such as {vals.iloc[0]!r} in {col!r} read month "
                          f"first (as pandas does); if the day comes first, write them as "
                          f"2020-01-31.", UserWarning, stacklevel=3)
    return pd.DatetimeIndex(index)


def _whole_times(vals, path: str, col: str):
    """Whole numbers as times: years (1000-9999), YYYYMM or YYYYMMDD; never nanoseconds."""
    import pandas as pd

    digits = vals.str.replace(r"\.0*$", "", regex=True).str.lstrip("+")
    width = set(digits.str.len())
    for n, fmt, what in ((4, "%Y", "years"), (6, "%Y%m", "YYYYMM"), (8, "%Y%m%d", "YYYYMMDD")):
        if width == {n} and not digits.str.startswith("-").any():
            index = pd.to_datetime(digits, format=fmt, errors="coerce")
            bad = index.isna().to_numpy()
            if bad.any():
                raise ValueError(f"{path!r}: the time column {col!r} reads as {what}, but "
                                 f"{digits[bad].iloc[0]!r} on data row {_row(bad)} is not "
                                 f"one; fix that value.")
            return pd.DatetimeIndex(index)
    ints = digits.astype(float)
    raise ValueError(f"{path!r}: the time column {col!r} holds whole numbers ({ints.min():g} "
                     f"to {ints.max():g}) that are neither years (1000-9999) nor dates written "
                     f"YYYYMMDD; give dates such as 2020-01-31, or years.")


def _mixed_offsets(vals, path: str, col: str):
    """Times with several UTC offsets (daylight saving): in UTC, or as local clock times
    when only those are regular (a daily series at local midnight)."""
    import pandas as pd

    naive = ~vals.str.contains(_OFFSET_TAIL).to_numpy()
    if naive.any() and not naive.all():  # UTC, local time? Nothing says which
        raise ValueError(f"{path!r}: the time column {col!r} mixes times with a timezone "
                         f"offset ({vals[~naive].iloc[0]!r}) and without one "
                         f"({vals[naive].iloc[0]!r} on data row {_row(naive)}); write every "
                         f"time with its offset, or none.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            utc = pd.DatetimeIndex(pd.to_datetime(vals, utc=True, format="ISO8601"))
            local = pd.DatetimeIndex(pd.to_datetime(vals.str.replace(_OFFSET_TAIL, "",
                                                                     regex=True),
                                                    format="ISO8601"))
        except ValueError as err:
            raise ValueError(f"{path!r}: the time column {col!r} mixes timezones in a way "
                             f"that cannot be read ({' '.join(str(err).split())}); write "
                             f"every time in one timezone.") from None
        if len(vals) >= 3 and pd.infer_freq(utc.sort_values()) is None \
                and pd.infer_freq(local.sort_values()) is not None:
            return local
    return utc


def _numbers(raw, path: str, col: str, sep: str) -> np.ndarray:
    """The target column as floats (NaN where missing; see the module docstring)."""
    import pandas as pd

    vals = raw.astype(str).str.strip()
    missing = vals.isin(NA_MARKERS)
    text = vals.where(~missing, "")
    if sep != "," and text.str.fullmatch(r"[+-]?\d+,\d+").any() and \
            not text.str.contains(".", regex=False).any():
        commas = text[text.str.contains(",", regex=False)]
        if commas.str.fullmatch(r"[+-]?[1-9]\d{0,2}(,\d{3})+").all():  # 1,234: 1.234 or 1234?
            warnings.warn(f"{path!r}: values such as {commas.iloc[0]!r} in {col!r} read with a "
                          f"decimal comma ({commas.iloc[0].replace(',', '.')}); if the comma "
                          f"separates thousands, remove it from the file.", UserWarning,
                          stacklevel=3)
        text = text.str.replace(",", ".", regex=False)  # decimal commas (a ';' file)
    grouped = text.str.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")
    text = text.where(~grouped, text.str.replace(",", "", regex=False))  # 1,234.5
    numbers = pd.to_numeric(text.where(~missing, None), errors="coerce")
    bad = (numbers.isna() & ~missing).to_numpy()
    if bad.any():
        first = vals[bad].iloc[0]
        hint = " (a decimal comma? write 3.5)" if re.fullmatch(r"[+-]?\d+,\d+", first) else ""
        raise ValueError(f"{path!r}: target column {col!r} has {int(bad.sum())} non-numeric "
                         f"value(s), e.g. {first!r}{hint} on data row {_row(bad)}; forecasting "
                         f"needs numbers (missing values may be left empty or written NA).")
    out = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    inf = np.isinf(out)
    if inf.any():
        raise ValueError(f"{path!r}: target column {col!r} holds {vals[inf].iloc[0]!r} on data "
                         f"row {_row(inf)}; values must be finite numbers (leave a missing one "
                         f"empty).")
    return out


def _infer(s, path: str, col: str):
    """(series, offset): pandas' inferred frequency, else the one most triples of
    consecutive timestamps share, when every timestamp lies on its grid."""
    import pandas as pd
    from pandas.tseries.frequencies import to_offset

    if len(s) < 3:
        raise ValueError(f"{path!r} has {len(s)} row(s); at least 3 timestamps are needed to "
                         f"infer the frequency, or give it (--freq, e.g. MS for monthly).")
    with warnings.catch_warnings():  # pandas 3 announces a change of return type here
        warnings.simplefilter("ignore")
        inferred = pd.infer_freq(s.index)
        if inferred is None:
            votes = collections.Counter()
            for i in range(min(len(s) - 2, 500)):
                f = pd.infer_freq(s.index[i:i + 3])
                if f is not None:
                    votes[f] += 1
            if votes:
                inferred = votes.most_common(1)[0][0]
                if to_offset(inferred) == to_offset("D") and (s.index.dayofweek < 5).all():
                    inferred = "B"  # business days with a gap, not days with weekends missing
                grid = s.asfreq(inferred)
                if not s.index.isin(grid.index).all():
                    inferred = None
    if inferred is None:
        steps = np.diff(s.index.asi8)
        common = collections.Counter(steps.tolist()).most_common(1)[0][0]
        k = int(np.argmax(steps != common))
        raise ValueError(f"{path!r}: the timestamps of {col!r} are irregular (from "
                         f"{_stamp(s.index[k])} to {_stamp(s.index[k + 1])} is "
                         f"{_span(steps[k], s.index.unit)}, most steps are "
                         f"{_span(common, s.index.unit)}), so no frequency "
                         f"can be inferred; resample them or give --freq.")
    return s, to_offset(inferred)


def as_array(series) -> np.ndarray:
    return np.asarray(series, dtype=np.float64)
