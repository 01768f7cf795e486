"""Session data for next-item recommendation: read, validate, split by time, index items.

Reads GRU4Rec's TSV (``SessionId``, ``ItemId``, ``Time`` with a header), the Diginetica
CSV (``session_id;user_id;item_id;timeframe;eventdate``) and any CSV/TSV given a column
mapping. pandas does the parsing (a well-kept reader; nothing here is hand-written CSV).

What the reader does with awkward files (each refusal is one sentence naming the file):

- a gzip file is read as the text inside it (whatever its name); a folder, an empty or
  header-only file, a UTF-16 file, another archive (zip, bzip2, xz, ...), a damaged gzip
  file, rows pandas cannot split: refused;
- without ``sep`` the header decides the separator among comma, tab, semicolon, pipe and
  space; a header none of them splits (one column) is refused, asking for ``--sep``;
- a missing column: refused, listing the file's columns;
- item or session ids written as whole floats (``1.0``) are the integers they stand for, so
  ``1.0`` and ``1`` are one item; fractional ids (``1.5``) and one number written two ways in
  a text column (``"1"`` and ``"1.0"``) are refused; ids past 2**53 in a column read as
  floats (a missing cell) are read again exactly, and ids past the int64 range are text;
- times that are neither numbers nor dates, and infinite numbers, are refused with the first
  bad value and line;
  dates are read as ``grukit.data.series`` reads them: in one format, day first when a
  later row has a day past 12 (``02/05/2016`` then ``13/05/2016``), formats mixed row to
  row refused naming the row; times in several timezones are ordered in UTC, times with
  and without a timezone mixed are refused;
- a UTF-8 byte-order mark is not part of the first column's name; a first line ``sep=;``
  (Excel's separator line) names the separator and is skipped;
- Unix milliseconds have no calendar day here (refused where days are needed: splitting
  by days), and keep their order where they are not (``require_time=False``, ``days=False``);
- events with a missing session, item or time are dropped (``attrs["dropped_missing"]``),
  exact duplicates (same session, item and time) are dropped
  (``attrs["dropped_duplicates"]``); sessions shorter than 2 are dropped by
  ``index_sessions`` and counted in its reports.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np

from .series import _DAY_MONTH, _OFFSET_TAIL
from .series import _times as _dates_of_rows

# known layouts: (session, item, time, day) column names; day may be None (derived from time)
KNOWN = (
    ("SessionId", "ItemId", "Time", None),  # GRU4Rec
    ("session_id", "item_id", "timeframe", "eventdate"),  # Diginetica (CIKM Cup 2016)
)
# Unix seconds beyond this (year 5138) are not seconds: most likely milliseconds
MAX_UNIX_SECONDS = 1e11
GZIP = b"\x1f\x8b"  # read as it is (pandas decompresses it)
PACKED = {"zip": b"PK\x03\x04", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00",
          "zstandard": b"\x28\xb5\x2f\xfd", "7z": b"7z\xbc\xaf\x27\x1c"}
# the separators sniffed when none is given (the header decides); others need --sep
SEPARATORS = ",\t;| "
_WHOLE = re.compile(r"^\s*[+-]?\d+(\.0*)?\s*$")
_PADDED = re.compile(r"^\s*[+-]?0\d")  # a whole number written with a leading zero
PADDED_SAMPLE = 100_000  # events whose ids are looked at for leading zeros


@dataclass
class Sessions:
    """Sessions as flat arrays: items of session s are ``items[offsets[s]:offsets[s + 1]]``.

    ``items`` holds indices into ``vocab`` (the original item ids). ``report`` counts what was
    dropped on the way (sessions shorter than 2, unseen items, ...).
    """

    items: np.ndarray  # (N,) int64 item indices, in time order within each session
    offsets: np.ndarray  # (S + 1,) int64
    vocab: np.ndarray  # (n_items,) original item ids
    report: dict = field(default_factory=dict)
    ids: np.ndarray | None = None  # (S,) original session ids, when known

    @property
    def n_sessions(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_items(self) -> int:
        return len(self.vocab)

    def session(self, s: int) -> np.ndarray:
        return self.items[self.offsets[s]:self.offsets[s + 1]]

    def __iter__(self):
        return (self.session(s) for s in range(self.n_sessions))

    def popularity(self) -> np.ndarray:
        """Events per item, (n_items,)."""
        return np.bincount(self.items, minlength=self.n_items).astype(np.float64)


def _open_text(path: str, encoding: str):
    """``path`` as text, decompressed when it is gzip."""
    with open(path, "rb") as f:
        gz = f.read(2) == GZIP
    return (gzip.open if gz else open)(path, "rt", encoding=encoding, newline="")


def _sniff(path: str, encoding: str) -> str:
    """The separator of the header (the first line that is not blank), as csv.Sniffer finds
    it among SEPARATORS only: sniffing any character split a header ``SessionId`` at its
    letter ``s`` (columns ``Se``, ``Unnamed: 1``, ``ionId``). A header none of them splits is
    one column, which is no event file."""
    import pandas as pd

    with _open_text(path, encoding) as f:
        line = next((x for x in f if x.strip()), "")
    if not line.strip():
        raise pd.errors.EmptyDataError  # read as a file with no header
    try:
        return csv.Sniffer().sniff(line, delimiters=SEPARATORS).delimiter
    except csv.Error:
        header = line.strip()[:60]
        raise ValueError(f"{path!r} has one column ({header!r}): no comma, tab, semicolon, "
                         f"pipe or space separates its header, and an event file needs "
                         f"session, item and time columns; give --sep when another character "
                         f"separates them.") from None


def _excel_separator(head: bytes) -> str | None:
    """The separator a first line ``sep=;`` names (Excel's separator line), or None."""
    from .series import excel_separator_line

    first, newline, _ = head.partition(b"\n")
    return excel_separator_line(first.decode("utf-8-sig", "replace") + "\nx")[1] \
        if newline else None


def _refuse_names_given_twice(path: str, sep: str | None, names: list) -> None:
    """One sentence when the header names a column that is read twice: pandas renames the
    second 'ItemId' to 'ItemId.1', and the first was read without a word."""
    sep = "\t" if sep == "\\t" else sep
    with _open_text(path, "utf-8-sig") as f:  # the header only; a name not UTF-8 is not
        f.reconfigure(errors="replace")  # compared (it matches none of ``names``)
        lines = (x for x in f if x.strip())
        line = next(lines, "")
        excel = _excel_separator(line.encode() + b"\n")
        if excel:  # Excel's separator line: the header is the next one
            sep, line = sep or excel, next(lines, "")
    try:
        header = next(csv.reader([line], delimiter=sep or _sniff(path, "latin-1")))
    except (csv.Error, StopIteration):
        return
    header = [h.strip() for h in header]
    for name in dict.fromkeys(names):
        where = [i + 1 for i, h in enumerate(header) if h == name]
        if len(where) > 1:
            raise ValueError(f"{path!r}: the header names {name!r} twice (columns {where[0]} "
                             f"and {where[1]}), so it cannot say which is meant; rename one of "
                             f"them.")


def _read_table(path: str, sep: str | None, dtype: dict | None = None,
                nrows: int | None = None):
    import pandas as pd

    if sep == "\\t":  # a tab as a shell passes --sep '\t'
        sep = "\t"
    if sep is not None and (not isinstance(sep, str) or len(sep) != 1):
        raise ValueError(f"the separator (--sep) must be one character (a tab: '\\t'); got "
                         f"{sep!r}.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a folder; give an event file (CSV/TSV with a header).")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path!r} is empty; expected a header and one event per line.")
    with open(path, "rb") as f:
        head = f.read(4096)
    packed = next((name for name, magic in PACKED.items() if head.startswith(magic)), None)
    if packed:
        raise ValueError(f"{path!r} is a {packed} archive; decompress it (or gzip it: gzip "
                         f"files are read as they are).")
    compression = "gzip" if head[:2] == GZIP else "infer"
    if compression == "gzip":  # the text inside is checked
        try:
            with gzip.open(path, "rb") as f:
                head = f.read(4096)
        except (EOFError, gzip.BadGzipFile, zlib.error) as err:
            raise ValueError(f"{path!r} is a damaged gzip file ({err}); compress it "
                             f"again.") from None
        if not head:
            raise ValueError(f"{path!r} is empty; expected a header and one event per line.")
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head:
        raise ValueError(f"{path!r} is UTF-16 (or another encoding with NUL bytes), not text "
                         f"pandas can split; save it as UTF-8.")
    excel = _excel_separator(head)  # a first line "sep=;": its separator, and skipped
    sep = sep or excel
    skip = 1 if excel else 0
    mark = "\u00ef\u00bb\u00bf"  # a UTF-8 byte-order mark's bytes read as Latin-1

    def read(encoding: str):
        types = dtype if dtype is None or encoding != "latin-1" else \
            dtype | {mark + k: v for k, v in dtype.items()}  # the first name holds the mark
        if sep is None:  # sniffed from the header among SEPARATORS, read by pandas' C engine
            first = _sniff(path, encoding)  # (3x faster); what it cannot read goes the
            try:  # python engine's way
                return pd.read_csv(path, sep=first, engine="c", encoding=encoding,
                                   dtype=types, compression=compression, nrows=nrows)
            except (pd.errors.ParserError, pd.errors.EmptyDataError):
                return pd.read_csv(path, sep=first, engine="python", encoding=encoding,
                                   dtype=types, compression=compression, nrows=nrows)
        df = pd.read_csv(path, sep=sep, engine="c", encoding=encoding, dtype=types,
                         compression=compression, skiprows=skip, nrows=nrows)
        if skip:  # row i on line i + 2 still: the separator line is line 1, the header 2
            df.index = pd.RangeIndex(skip, skip + len(df))
        return df

    try:
        try:
            # utf-8-sig: a byte-order mark is not part of the first column's name
            return read("utf-8-sig")
        except UnicodeDecodeError:  # Latin-1 maps every byte: ids stay distinct
            df = read("latin-1")
            first = str(df.columns[0]).removeprefix(mark)
            df.columns = [first, *df.columns[1:]]
            return df
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path!r} holds no header; expected a header and one event per "
                         f"line.") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:  # cut short or damaged inside
        raise ValueError(f"{path!r} is a damaged gzip file ({err}); compress it "
                         f"again.") from None
    except (pd.errors.ParserError, csv.Error) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path!r} cannot be split into columns ({first}); check the "
                         f"separator (--sep).") from None


def _exact_ids(df, path: str, sep: str | None, given: list, item_text: bool = False):
    """The table with its session and item columns read again exactly where pandas read
    them as floats (a missing cell makes an integer column float) past 2**53, where floats
    hold no longer every whole number: ids 12345678901234567 and ...568 were both read as
    ...568, one item (or one session). They are read as nullable integers, or as text when
    they are no int64. With ``item_text`` the item column is read again as text where pandas
    read numbers ("007" as written, not 7). So is a session or item column of numbers
    written with leading zeros ("007", "0012") in its first ``PADDED_SAMPLE`` events: as
    numbers "007" and "7" would be one id, and "007" would come out as 7."""
    import pandas as pd

    cols = list(df.columns)
    layout = next((k for k in KNOWN if k[0] in cols and k[1] in cols), (None,) * 4)
    names = [g if g is not None else layout[i] for i, g in enumerate(given)]
    numeric = [n for n in dict.fromkeys(names) if n in cols
               and pd.api.types.is_numeric_dtype(df[n])]
    text = {n for n in numeric if n == names[1] and item_text}
    ints = [n for n in numeric if n not in text and pd.api.types.is_integer_dtype(df[n])]
    if ints:  # written "007"? (a sample: reading a whole column as text costs 4 reads)
        head = _read_table(path, sep, {n: str for n in ints}, nrows=PADDED_SAMPLE)
        text |= {n for n in ints if head[n].str.match(_PADDED).any()}
    lossy = [n for n in numeric if n not in text
             and pd.api.types.is_float_dtype(df[n]) and (df[n].abs() >= 2.0 ** 53).any()]
    if not lossy and not text:
        return df
    kinds = {n: str for n in text}
    try:
        exact = _read_table(path, sep, {n: "Int64" for n in lossy} | kinds)
    except (TypeError, ValueError, OverflowError):  # fractions, or past the int64 range
        exact = _read_table(path, sep, {n: str for n in lossy} | kinds)
    return df.assign(**{n: exact[n] for n in [*lossy, *text]})


def whole_number(v) -> int | None:
    """``v`` as an int when it is a whole number (not a bool), else None."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return int(v) if np.isfinite(v) and float(v).is_integer() else None
    if isinstance(v, str) and _WHOLE.match(v):
        return int(v.strip().split(".")[0])  # exactly, past 2**53 too ("…001.0")
    return None


def item_key(v, text: bool):
    """The item id ``v`` stands for among whole-number ids (``1``, ``1.0``, ``"1"`` are 1) or
    among text ids (``text``: ``123`` is ``"123"``); None when it cannot be one."""
    if not text:
        return whole_number(v)
    if isinstance(v, (str, np.str_)):
        return str(v)
    n = whole_number(v)
    return None if n is None else str(n)


def _items_as_in_training(train_events, test_events):
    """The test events with their item ids of the training ids' type. One text id makes a
    file's whole item column text ("7", "abc"), so training ids of numbers and test ids of
    text (or the other way round) would share no item, every test event dropped as unseen;
    here "7" is item 7 (and 7 is "7"), and ids that cannot be a training id become None
    (unseen, counted)."""
    import pandas as pd

    def kind(col):  # numbers (ints, or floats from the Python API) or text; else as they are
        inferred = pd.api.types.infer_dtype(col, skipna=True)
        return "text" if inferred == "string" else \
            "number" if inferred in ("integer", "floating", "mixed-integer-float") else None

    train, test = kind(train_events["item"]), kind(test_events["item"])
    if None in (train, test) or train == test:
        return test_events
    text = train == "text"
    return test_events.assign(item=test_events["item"].map(lambda v: item_key(v, text)))


def _line(df, idx) -> int:
    return int(idx) + 2  # the header is line 1


def _ids(col, what: str, name: str, path: str):
    """Whole floats become ints; fractional ids and one number written two ways refused."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(col):
        return col.astype(str)
    if pd.api.types.is_float_dtype(col):
        known = col.dropna()
        frac = known[known != np.floor(known)]
        if len(frac):
            first = float(frac.iloc[0])
            raise ValueError(f"{path!r}: {what} column {name!r} holds {first!r} (line "
                             f"{_line(col, frac.index[0])}); {what} ids must be whole numbers "
                             f"or text.")
        return col.astype("Int64")  # NaN stays missing (dropped later)
    if pd.api.types.is_unsigned_integer_dtype(col) and len(col) and \
            col.max() > np.iinfo(np.int64).max:  # no int64: the ids are text
        return col.astype(str)
    if pd.api.types.is_integer_dtype(col):
        return col
    text = col.dropna().astype(str)
    unique = pd.Series(text.unique())
    as_num = pd.to_numeric(unique, errors="coerce")
    numeric = unique[as_num.notna()]
    if len(numeric):
        counts = as_num[as_num.notna()].groupby(as_num[as_num.notna()]).transform("size")
        clash = numeric[counts.to_numpy() > 1]
        if len(clash):
            same = numeric[as_num[clash.index[0]] == as_num[as_num.notna()]].tolist()[:2]
            raise ValueError(f"{path!r}: {what} ids {same[0]!r} and {same[1]!r} in column "
                             f"{name!r} are one number written two ways; write each {what} "
                             f"id one way.")
    return col.where(col.isna(), col.astype(str))


def _not_a_date(col, i, name: str, path: str, role: str = "time") -> ValueError:
    what = "neither a number (Unix seconds) nor a date" if role == "time" else "no date"
    return ValueError(f"{path!r}: {role} column {name!r} holds {col[i]!r} (line "
                      f"{_line(col, i)}), which is {what}; fix that value or name the {role} "
                      f"column with --{role}-column.")


def _dates(text, path: str, name: str):
    """The series reader's dates of ``text``, read once per distinct value and spread back to
    the rows (events repeat their dates: on 500k rows the reader's checks took seconds).
    Exact: a column whose dates could be day or month first, or that the reader refuses,
    goes through the rows themselves, so that its warning or message names the file's rows."""
    import pandas as pd

    codes, uniq = pd.factorize(text)
    if len(uniq) == len(text):
        return _dates_of_rows(text, path, name)
    days = pd.Series(uniq).str.extract(_DAY_MONTH)
    if days.notna().all().all() and (days.astype(int) <= 12).all().all() \
            and (days[0] != days[1]).any():  # the reader weighs day first by the rows
        return _dates_of_rows(text, path, name)
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            each = _dates_of_rows(pd.Series(uniq), path, name)
    except ValueError:  # refused: the rows' own message names the file's row
        return _dates_of_rows(text, path, name)
    return _dates_of_rows(text, path, name) if said else pd.DatetimeIndex(each).take(codes)


def _times(col, name: str, path: str, role: str = "time"):
    """(sortable times, as datetimes or None): numbers are kept (Unix seconds); text is parsed
    as dates, refusing the first value that is not one. ``role`` ("time" or "day") names the
    column in the refusals."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(col):
        raise ValueError(f"{path!r}: {role} column {name!r} holds true/false values; give Unix "
                         f"seconds or dates.")
    if pd.api.types.is_numeric_dtype(col):
        endless = np.isinf(col.to_numpy(np.float64, na_value=0.0))
        if endless.any():  # it would sort as the last (or first) event of its session
            i = col.index[int(np.argmax(endless))]
            raise ValueError(f"{path!r}: {role} column {name!r} holds {col[i]} (line "
                             f"{_line(col, i)}), which is no time; give finite numbers or "
                             f"dates.")
        return col, None
    known = col.notna()
    if not known.any():
        return pd.to_datetime(col), None
    # the series reader's dates: one format (day first when a later row has a day past 12),
    # formats mixed row to row refused naming the row; missing times (dropped later) are
    # filled here so that its row numbers stay the file's data rows
    text = col.where(known, col[known].iloc[0]).astype(str).str.strip()
    codes, uniq = pd.factorize(text)  # the same dates repeat: each distinct value once
    zones = pd.Series(pd.Series(uniq).str.extract(_OFFSET_TAIL)[0].to_numpy()[codes],
                      index=text.index)
    if zones.notna().any() and zones.isna().any():
        i = zones.isna().idxmax()
        if pd.isna(pd.to_datetime(col[i], errors="coerce", format="mixed")):
            raise _not_a_date(col, i, name, path, role)
        raise ValueError(f"{path!r}: {role} column {name!r} holds {col[i]!r} (line "
                         f"{_line(col, i)}) without a timezone beside times with one "
                         f"({col[zones.notna().idxmax()]!r}); give every time its timezone "
                         f"or none.")
    if zones.nunique() > 1:  # several UTC offsets: each time in UTC, which orders the events
        dates = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        if dates.isna().any():
            i = dates.isna().idxmax()
            if pd.isna(pd.to_datetime(col[i], errors="coerce", format="mixed")):
                raise _not_a_date(col, i, name, path, role)
            raise ValueError(f"{path!r}: {role} column {name!r} mixes timezones, and {col[i]!r} "
                             f"(line {_line(col, i)}) is not an ISO 8601 time "
                             f"(2016-05-09T10:00:00+02:00); write every time that way.")
    else:
        try:
            dates = _dates(text, path, name)
        except ValueError as err:  # a value that is no date at all is named as such
            anyhow = pd.to_datetime(col, errors="coerce", format="mixed")
            bad = anyhow.isna() & known
            if bad.any():
                raise _not_a_date(col, bad.idxmax(), name, path, role) from None
            if role == "time":
                raise
            # the series reader speaks of its time column, and of --time-column
            raise ValueError(str(err).replace("time column", f"{role} column")
                             .replace("--time-column", f"--{role}-column")) from None
    parsed = pd.Series(dates, index=col.index).where(known)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed, parsed


def read_events(path: str, session_column: str | None = None, item_column: str | None = None,
                time_column: str | None = None, day_column: str | None = None,
                sep: str | None = None, require_time: bool = True, days: bool = True,
                item_text: bool = False):
    """Read an event file into a DataFrame with columns ``session, item, time, day``.

    Column names default to a known layout (GRU4Rec TSV, Diginetica CSV); ``sep`` defaults
    to the file's own (sniffed among comma, tab, semicolon, pipe and space); given, it is one
    character (``"\\t"``, a tab as a shell passes it, is a tab). ``day`` is the calendar day
    used by ``split_by_days``: ``day_column`` if given (a date), else ``time`` read as Unix
    seconds or as dates.
    With ``require_time=False`` a file without a time column keeps its row order (``time``
    is the line number, ``day`` is missing, ``attrs["file_order"]`` is True): enough to
    recommend, not to split by days;
    so are times too large for Unix seconds (milliseconds), which keep their order. With
    ``days=False`` (events that are not split by days: a training or test file of their
    own) a time column is still needed, and milliseconds keep their order, ``day`` missing
    (a layout's day column, Diginetica's ``eventdate``, is not read).
    ``item_text=True`` reads the item ids as text as written (``"007"``, which a column of
    numbers reads as 7): for events matched against text item ids (a model's, or training
    events' whose item column is text).
    """
    import pandas as pd  # optional at import time: only the data tasks need it

    df = _read_table(path, sep)
    df = _exact_ids(df, path, sep, [session_column, item_column], item_text)
    if df.empty:
        raise ValueError(f"{path!r} has a header but no events.")
    cols = list(df.columns)
    layout = next((k for k in KNOWN if k[0] in cols and k[1] in cols), (None,) * 4)
    given = (session_column, item_column, time_column)
    names = [layout[i] if g is None else g for i, g in enumerate(given)]
    # the layout's day column is read only where days are used: a file that is not split
    # (days=False) was refused for a date it never used
    layout_day = layout[3] if layout[3] in cols else None
    day = day_column if day_column is not None else (layout_day if days else None)
    what = ("session", "item", "time")
    flags = ("--session-column", "--item-column", "--time-column")
    for i, (name, flag) in enumerate(zip(names, flags, strict=True)):
        if name is not None and name in cols:
            continue
        if i == 2 and not require_time and time_column is None:
            names[2] = None
            continue
        found = f"column {name!r} not found" if name is not None else \
            f"no {what[i]} column known"
        raise ValueError(f"{path!r}: {found} (columns: {cols}); name it with {flag}"
                         + ("" if sep else " or give --sep") + ".")
    if day is not None and day not in cols:
        raise ValueError(f"{path!r}: day column {day!r} not found (columns: {cols}).")
    _refuse_names_given_twice(path, sep, [n for n in (*names, day) if n is not None])
    roles = [(w, n) for w, n in zip(what, names, strict=True) if n is not None]
    for i, (w, n) in enumerate(roles):  # one column as two: items as sessions, ...
        other = next((w2 for w2, n2 in roles[i + 1:] if n2 == n), None)
        if other is not None:
            raise ValueError(f"{path!r}: column {n!r} is named as both the {w} and the "
                             f"{other} column; name a column of its own for each.")
    out = pd.DataFrame({"session": _ids(df[names[0]], "session", names[0], path),
                        "item": _ids(df[names[1]], "item", names[1], path)})
    parsed = None
    if names[2] is None:
        out["time"] = np.arange(len(df), dtype=np.int64)
    else:
        out["time"], parsed = _times(df[names[2]], names[2], path)
    missing = int(out.isna().any(axis=1).sum())
    out = out.dropna()
    for c in ("session", "item"):
        if isinstance(out[c].dtype, pd.Int64Dtype):
            out[c] = out[c].astype(np.int64)
    if day is not None:
        dates, _ = _times(df.loc[out.index, day], day, path, "day")
        if pd.api.types.is_numeric_dtype(dates):
            raise ValueError(f"{path!r}: day column {day!r} holds numbers; give dates "
                             f"(2016-05-09) or leave it out to use the time column.")
        out["day"] = dates.dt.normalize()
    elif parsed is not None:
        out["day"] = parsed.loc[out.index].dt.normalize()
    elif layout_day is not None:  # days=False; its times order a session (no Unix seconds)
        out["day"] = pd.NaT
    elif names[2] is not None:
        big = out["time"].abs().max() if len(out) else 0
        if big > MAX_UNIX_SECONDS and not (require_time and days):  # ms: ordered, no days
            out["day"] = pd.NaT
        elif big > MAX_UNIX_SECONDS:
            raise ValueError(f"{path!r}: time column {names[2]!r} holds {big}, which as Unix "
                             f"seconds lies beyond the year 5000 (milliseconds?); give times "
                             f"in seconds or a --day-column of dates.")
        else:
            out["day"] = pd.to_datetime(out["time"], unit="s").dt.normalize()
    else:
        out["day"] = pd.NaT
    dup = out.duplicated(["session", "item", "time"])
    out = out[~dup]
    out = out.sort_values(["session", "time"], kind="stable").reset_index(drop=True)
    out.attrs["dropped_missing"] = missing
    out.attrs["dropped_duplicates"] = int(dup.sum())
    if names[2] is None:  # no time column: each session's events in the file's order
        out.attrs["file_order"] = True
    return out


def split_by_days(events, test_days: int):
    """Temporal split: test = sessions that end in the last ``test_days`` days."""
    import pandas as pd

    if isinstance(test_days, bool) or not isinstance(test_days, (int, np.integer)) \
            or test_days < 1:
        raise ValueError(f"test_days must be a whole number of days, 1 or more; got "
                         f"{test_days!r}.")
    missing = [c for c in ("session", "day") if c not in events.columns]
    if missing:  # a KeyError otherwise
        raise ValueError(f"the events have no {' or '.join(map(repr, missing))} column "
                         f"(columns: {list(events.columns)}); read them with read_events, "
                         f"which gives each event its day.")
    if events["day"].isna().all():
        raise ValueError("the events have no days (no time or day column was read); give "
                         "the time column (or a day column) to split by days.")
    end = events.groupby("session")["day"].transform("max")  # NaT: no event has a day
    if end.isna().any():  # such a session went to training, whenever it ended
        dayless = events.loc[end.isna(), "session"]
        first, n = dayless.tolist()[0], dayless.nunique()
        raise ValueError(f"{n} session(s) have no day on any event (the first: session "
                         f"{first!r}), so neither side of the split can be told; fill their "
                         f"day (or time) or drop their events.")
    last = events["day"].max()
    span = (last - events["day"].min()).days + 1  # from this many days every session is test
    in_test = end > last - pd.Timedelta(days=min(int(test_days), span))  # (past pandas' range)
    train, test = events[~in_test], events[in_test]
    if train.empty or test.empty:
        raise ValueError(f"splitting off the last {test_days} days leaves "
                         f"{'no training' if train.empty else 'no test'} sessions "
                         f"(data spans {events['day'].min().date()} to {last.date()}).")
    return train, test


def _check_columns(events, what: str) -> None:
    """Refuse events that would be ordered or indexed wrong without a word (a frame built by
    hand; read_events gives none): a missing time sorted its event last in its session, a
    missing session left its event out of every session while counting it, a missing item
    failed as a KeyError, and text times sort as text ("10" before "9")."""
    missing = [c for c in ("session", "item") if c not in events.columns]
    if missing:
        raise ValueError(f"the {what} events have no {' or '.join(map(repr, missing))} column "
                         f"(columns: {list(events.columns)}); read them with read_events.")
    check_event_values(events, f"{what} events")


def check_event_values(events, noun: str) -> None:
    """One sentence for a missing session, item or time in ``events`` (the ``noun`` they are
    called by: "test events") or times that do not sort as times (text, bools)."""
    import pandas as pd

    for c in ("session", "item", "time"):
        if c in events.columns and events[c].isna().any():
            n = int(events[c].isna().sum())
            raise ValueError(f"the {noun} hold {n} missing value(s) in column {c!r}; drop "
                             f"those events first (read_events drops and counts them).")
    time = events["time"] if "time" in events.columns else None
    if time is not None and (pd.api.types.is_bool_dtype(time) or not (
            pd.api.types.is_numeric_dtype(time) or pd.api.types.is_datetime64_any_dtype(time)
            or pd.api.types.is_timedelta64_dtype(time))):
        raise ValueError(f"the time column of the {noun} holds {time.dtype} values, which do "
                         f"not sort as times; give numbers, datetimes or timedeltas "
                         f"(read_events parses a file's times).")


def to_sessions(events, vocab: np.ndarray, report: dict | None = None) -> Sessions:
    """Sessions of ``events`` (columns ``session``, ``item``, optionally ``time``; every item
    in ``vocab``), each in time order (file order where times tie or are absent)."""
    keys = ["session", "time"] if "time" in events.columns else ["session"]
    events = events.sort_values(keys, kind="stable")
    index = {v: i for i, v in enumerate(vocab.tolist())}
    items = np.fromiter((index[v] for v in events["item"].tolist()), np.int64, len(events))
    groups = events.groupby("session", sort=False).size()
    offsets = np.concatenate([[0], np.cumsum(groups.to_numpy())]).astype(np.int64)
    return Sessions(items, offsets, vocab, dict(report or {}), groups.index.to_numpy())


def index_sessions(train_events, test_events=None) -> tuple[Sessions, Sessions | None]:
    """Item indices from the training events; sessions shorter than 2 dropped from both,
    test events on items unseen in training dropped (counted in each ``report``). Test item
    ids are read as the training ids' type (``"7"`` is item 7 when training ids are numbers,
    ``7`` is ``"7"`` when they are text)."""
    import pandas as pd

    def keep_long(ev):
        size = ev.groupby("session")["item"].transform("size")
        return ev[size >= 2], int(ev.loc[size < 2, "session"].nunique())

    _check_columns(train_events, "training")
    train, short_train = keep_long(train_events)
    if train.empty:
        raise ValueError("no training session has 2 or more events; next-item training needs "
                         "at least one pair of consecutive events.")
    unique = train["item"].unique()
    if pd.api.types.is_unsigned_integer_dtype(unique) and unique.max() > np.iinfo(np.int64).max:
        raise ValueError(f"item id {int(unique.max())} lies past the int64 range; give such "
                         f"ids as text (read_events does).")
    kind = np.int64 if pd.api.types.is_integer_dtype(train["item"]) else object
    try:
        vocab = np.sort(np.asarray(unique, dtype=kind))  # (n_items,) ints, or str objects
    except TypeError:  # numbers beside text do not sort (a frame built by hand)
        types = ", ".join(sorted({type(v).__name__ for v in unique.tolist()}))
        raise ValueError(f"the training item ids mix types ({types}); make them all whole "
                         f"numbers or all text (read_events reads a file's ids one "
                         f"way).") from None
    tr = to_sessions(train, vocab, {
        "events": len(train), "sessions": int(train["session"].nunique()),
        "dropped_short_sessions": short_train,
        "dropped_missing": train_events.attrs.get("dropped_missing", 0),
        "dropped_duplicates": train_events.attrs.get("dropped_duplicates", 0)})
    if test_events is None:
        return tr, None
    _check_columns(test_events, "test")
    test_events = _items_as_in_training(train_events, test_events)
    seen = test_events["item"].isin(set(vocab.tolist()))
    unseen = int((~seen).sum())
    test, short_test = keep_long(test_events[seen])
    te = to_sessions(test, vocab, {"events": len(test),
                                   "sessions": int(test["session"].nunique()),
                                   "dropped_unseen_item_events": unseen,
                                   "dropped_short_sessions": short_test})
    return tr, te
