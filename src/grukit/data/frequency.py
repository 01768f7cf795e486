"""Pandas frequencies: any alias, old (A, M, Q, H, T, S...) or new (YE, ME, QE, h, min,
s...), as an offset, and the seasonal period of a frequency (``season_of``)."""

from __future__ import annotations

import re
import warnings

# Aliases pandas 3 no longer parses, by the ones that replaced them (case matters: "MS" is
# month start, "ms" milliseconds).
_LEGACY = {"A": "YE", "Y": "YE", "AS": "YS", "BA": "BYE", "BY": "BYE", "BAS": "BYS", "Q": "QE",
           "BQ": "BQE", "M": "ME", "BM": "BME", "SM": "SME", "CBM": "CBME", "H": "h",
           "BH": "bh", "CBH": "cbh", "T": "min", "S": "s", "L": "ms", "U": "us", "N": "ns"}
_ALIAS = re.compile(r"^\s*([+-]?\d*)\s*([A-Za-z]+)(-[A-Za-z0-9]+)?\s*$")


def as_offset(freq):
    """A pandas DateOffset for a frequency alias, old (A, M, Q, H, T, S...) or new (YE, ME,
    QE, h, min, s...), with a multiple ("15min") and an anchor ("W-MON", "QE-DEC")."""
    from pandas.tseries.frequencies import to_offset
    from pandas.tseries.offsets import DateOffset

    if isinstance(freq, DateOffset):
        return freq
    if not isinstance(freq, str):
        raise ValueError(f"freq must be a pandas frequency string such as 'MS', 'D' or 'h'; "
                         f"got {freq!r}.")
    m = _ALIAS.match(freq)
    text = freq.strip()
    if m:
        base = _LEGACY.get(m.group(2), m.group(2))
        text = f"{m.group(1)}{base}{m.group(3) or ''}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "d is deprecated"...
        try:
            off = to_offset(text)
        except ValueError:
            off = None
    if off is None:
        raise ValueError(f"freq {freq!r} is not a pandas frequency; give one such as 'YS' "
                         f"(yearly), 'QS', 'MS' (monthly), 'W', 'D', 'B', 'h', '15min' or "
                         f"'s'.")
    if getattr(off, "n", 1) < 1:  # "0D" divided by zero on the grid; "-1D" runs backwards
        raise ValueError(f"freq {freq!r} steps {off.n} at a time; a series' frequency steps "
                         f"forwards, e.g. 'D' or '2D'.")
    return off


# Seasonal period of each offset family for n = 1: steps per year for yearly to weekly
# data, per week for days, per day for hours and below.
_PER_YEAR = {"YearBegin": 1, "YearEnd": 1, "BYearBegin": 1, "BYearEnd": 1, "QuarterBegin": 4,
             "QuarterEnd": 4, "BQuarterBegin": 4, "BQuarterEnd": 4, "MonthBegin": 12,
             "MonthEnd": 12, "BusinessMonthBegin": 12, "BusinessMonthEnd": 12,
             "CustomBusinessMonthBegin": 12, "CustomBusinessMonthEnd": 12,
             "SemiMonthBegin": 24, "SemiMonthEnd": 24, "Week": 52, "LastWeekOfMonth": 12,
             "WeekOfMonth": 12, "FY5253": 1, "FY5253Quarter": 4, "BusinessDay": 5,
             "CustomBusinessDay": 5}
MAX_SEASON = 1440  # a day of minutes; finer data has no season here


def season_of(freq) -> int:
    """Seasonal period m for a pandas frequency (a string, old or new alias, or an offset).

    Yearly 1; quarterly 4; monthly 12 (month start or end, business months too);
    semi-monthly 24; weekly 52; business days 5 and days 7 (a week); hours 24 and minutes
    1440 (a day); a multiple divides the period when it can ("2h": 12, "15min": 96, "2QS":
    2) and gives 1 when it cannot ("5D"); a season longer than a day of minutes (seconds
    and finer) is 1. None or "" (no frequency) is 1; an unknown alias is a ValueError.
    """
    import pandas as pd

    if freq is None or (isinstance(freq, str) and not freq.strip()):
        return 1
    off = as_offset(freq)
    n = abs(int(getattr(off, "n", 1))) or 1
    name = type(off).__name__
    if name in ("BusinessHour", "CustomBusinessHour"):  # opening hours a day (9-17: 8)
        minutes = sum((e.hour * 60 + e.minute - s.hour * 60 - s.minute) % 1440
                      for s, e in zip(off.start, off.end, strict=True))
        return _divide(minutes // 60 or 24, n)
    if name in _PER_YEAR:
        return _divide(_PER_YEAR[name], n)
    try:  # fixed-length offsets: Hour, Minute, Second... (Day is a calendar day in pandas 3)
        step = pd.Timedelta(days=n) if name == "Day" else abs(pd.Timedelta(off))
    except (ValueError, TypeError):
        return 1
    day, week = pd.Timedelta(days=1), pd.Timedelta(days=7)
    if step >= day:
        return week // step if week % step == pd.Timedelta(0) and step < week else 1
    if day % step != pd.Timedelta(0):
        return 1
    m = day // step
    return m if m <= MAX_SEASON else 1


def _divide(period: int, n: int) -> int:
    return period // n if period % n == 0 else 1
