"""Session data for next-item recommendation: read, validate, split by time, index items.

Reads GRU4Rec's TSV (``SessionId``, ``ItemId``, ``Time`` with a header), the Diginetica
CSV (``session_id;user_id;item_id;timeframe;eventdate``) and any CSV/TSV given a column
mapping. pandas does the parsing (a well-kept reader; nothing here is hand-written CSV).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

# known layouts: (session, item, time, day) column names; day may be None (derived from time)
KNOWN = (
    ("SessionId", "ItemId", "Time", None),  # GRU4Rec
    ("session_id", "item_id", "timeframe", "eventdate"),  # Diginetica (CIKM Cup 2016)
)


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


def read_events(path: str, session_column: str | None = None, item_column: str | None = None,
                time_column: str | None = None, day_column: str | None = None,
                sep: str | None = None):
    """Read an event file into a DataFrame with columns ``session, item, time, day``.

    Column names default to a known layout (GRU4Rec TSV, Diginetica CSV); ``sep`` defaults
    to the file's own (sniffed). ``day`` is the calendar day used by ``split_by_days``:
    ``day_column`` if given (a date), else ``time`` read as Unix seconds.
    """
    import pandas as pd  # optional at import time: only the data tasks need it

    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path!r} is empty; expected a header and one event per line.")
    df = pd.read_csv(path, sep=sep, engine="python" if sep is None else "c")
    if df.empty:
        raise ValueError(f"{path!r} has a header but no events.")
    cols = list(df.columns)
    layout = next((k for k in KNOWN if k[0] in cols and k[1] in cols), (None,) * 4)
    names = [session_column or layout[0], item_column or layout[1], time_column or layout[2]]
    day = day_column or (layout[3] if layout[3] in cols else None)
    flags = ("--session-column", "--item-column", "--time-column")
    for name, flag in zip(names, flags, strict=True):
        if name is None or name not in cols:
            raise ValueError(f"{path!r}: column {name!r} not found (columns: {cols}); name it "
                             f"with {flag}" + ("" if sep else " or give --sep") + ".")
    if day is not None and day not in cols:
        raise ValueError(f"{path!r}: day column {day!r} not found (columns: {cols}).")
    out = pd.DataFrame({"session": df[names[0]], "item": df[names[1]], "time": df[names[2]]})
    missing = int(out.isna().any(axis=1).sum())
    out = out.dropna()
    if day is not None:
        out["day"] = pd.to_datetime(df.loc[out.index, day]).dt.normalize()
    elif pd.api.types.is_numeric_dtype(out["time"]):
        out["day"] = pd.to_datetime(out["time"], unit="s").dt.normalize()
    else:
        out["day"] = pd.to_datetime(out["time"]).dt.normalize()
    out = out.sort_values(["session", "time"], kind="stable").reset_index(drop=True)
    out.attrs["dropped_missing"] = missing
    return out


def split_by_days(events, test_days: int):
    """Temporal split: test = sessions that end in the last ``test_days`` days."""
    if not isinstance(test_days, int) or test_days < 1:
        raise ValueError(f"test_days must be a positive integer; got {test_days!r}.")
    end = events.groupby("session")["day"].transform("max")
    last = events["day"].max()
    import pandas as pd

    in_test = end > last - pd.Timedelta(days=test_days)
    train, test = events[~in_test], events[in_test]
    if train.empty or test.empty:
        raise ValueError(f"splitting off the last {test_days} days leaves "
                         f"{'no training' if train.empty else 'no test'} sessions "
                         f"(data spans {events['day'].min().date()} to {last.date()}).")
    return train, test


def _to_sessions(events, vocab: np.ndarray, report: dict) -> Sessions:
    index = {v: i for i, v in enumerate(vocab.tolist())}
    items = np.fromiter((index[v] for v in events["item"].tolist()), np.int64, len(events))
    sizes = events.groupby("session", sort=False).size().to_numpy()
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return Sessions(items, offsets, vocab, report)


def index_sessions(train_events, test_events=None) -> tuple[Sessions, Sessions | None]:
    """Item indices from the training events; sessions shorter than 2 dropped from both,
    test events on items unseen in training dropped (counted in each ``report``)."""
    def keep_long(ev):
        size = ev.groupby("session")["item"].transform("size")
        return ev[size >= 2], int(ev.loc[size < 2, "session"].nunique())

    train, short_train = keep_long(train_events)
    if train.empty:
        raise ValueError("no training session has 2 or more events; next-item training needs "
                         "at least one pair of consecutive events.")
    vocab = np.sort(train["item"].unique())
    tr = _to_sessions(train, vocab, {"events": len(train), "sessions": train["session"].nunique(),
                                     "dropped_short_sessions": short_train,
                                     "dropped_missing": train_events.attrs.get(
                                         "dropped_missing", 0)})
    if test_events is None:
        return tr, None
    seen = test_events["item"].isin(set(vocab.tolist()))
    unseen = int((~seen).sum())
    test, short_test = keep_long(test_events[seen])
    te = _to_sessions(test, vocab, {"events": len(test), "sessions": test["session"].nunique(),
                                    "dropped_unseen_item_events": unseen,
                                    "dropped_short_sessions": short_test})
    return tr, te
