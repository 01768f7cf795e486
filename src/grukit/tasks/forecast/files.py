"""The files ``grukit forecast`` writes besides metrics.json: one JSON file a backtest fold
(``folds/fold-02.json``, written as the fold finishes, so that ``--resume`` skips it) and
``forecast.csv``. Every file is written atomically."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from ..._io import atomic_text
from ..._runs import UsageError

FOLDS_DIR = "folds"


def fingerprint(values: np.ndarray, season: int, folds: int, config: dict) -> str:
    """What decides a fold's result: the series, the season, the folds, the settings; a fold
    file written under another fingerprint is not reused."""
    h = hashlib.sha256()
    h.update(json.dumps([season, folds, config], sort_keys=True).encode())
    h.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return h.hexdigest()


def fold_path(output: str, k: int) -> str:
    return os.path.join(output, FOLDS_DIR, f"fold-{k + 1:02d}.json")


def write_fold(output: str, k: int, print_: str, fold: dict) -> None:
    os.makedirs(os.path.join(output, FOLDS_DIR), exist_ok=True)
    atomic_text(fold_path(output, k), json.dumps({"fingerprint": print_, "fold": k,
                                                  "scores": fold}, indent=1, allow_nan=False))


def clear_folds(output: str) -> None:
    """Remove the fold files of an earlier run (a run without --resume starts afresh)."""
    d = os.path.join(output, FOLDS_DIR)
    if os.path.isdir(d):
        for name in os.listdir(d):
            if name.startswith("fold-") and name.endswith(".json"):
                os.remove(os.path.join(d, name))


def read_folds(output: str, folds: int, print_: str) -> dict:
    """{k: the fold's scores} of the folds finished in ``output``; one sentence when they
    belong to another run (other data or settings)."""
    done = {}
    for k in range(folds):
        p = fold_path(output, k)
        if not os.path.isfile(p):
            continue
        try:
            with open(p, encoding="utf-8") as f:
                body = json.load(f)
            fp, fold = body["fingerprint"], body["scores"]
            if not isinstance(fold, dict):
                continue
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable: that fold is computed again
        if fp != print_:
            raise UsageError(f"{p} was written by a run with other data, folds or settings; "
                             f"rerun with those, or without --resume to start afresh.")
        done[k] = fold
    return done


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
