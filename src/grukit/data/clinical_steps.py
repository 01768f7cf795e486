"""The vectorised steps behind ``grukit.data.clinical``: text rows to measurements, and
measurements on a regular grid with what the models of Che et al. (2018, "Recurrent Neural
Networks for Multivariate Time Series with Missing Values") take: values with a mask, the
time since each variable was last seen, z-scoring fitted on training records only, mean and
forward-fill imputation, and per-variable summary statistics.

Events are flat arrays, one entry per measurement: ``record`` (E,) int, ``time`` (E,) float
in hours, ``variable`` (E,) int, ``value`` (E,) float. pandas parses (a well-kept C reader;
nothing here splits CSV by hand beyond counting fields to name a malformed line).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .text import read_text_file

PHYSIONET_HEADER = "Time,Parameter,Value"

SUMMARY_STATISTICS = ("count", "mean", "std", "min", "max", "first", "last")


def grid_index(time: np.ndarray, step: float, n_steps: int) -> np.ndarray:
    """The grid step of each time: step k holds ``k·step <= t < (k+1)·step``; the window is
    closed at its end (a measurement at exactly ``n_steps·step``, PhysioNet's 48:00, belongs
    to the last step). Times after the window get ``-1``.

    ``t / step`` within a relative 1e-9 of a whole number counts as that number before it is
    floored: times are minutes turned into hours (00:18 = 0.3 h) and neither 0.3 nor a step
    of 0.1 h is exact in binary, so 0.3 / 0.1 = 2.9999999999999996 would put a measurement
    taken exactly on a step boundary into the step before."""
    q = np.asarray(time, dtype=np.float64) / step  # (E,) time in steps
    whole = np.rint(q)
    q = np.where(np.abs(q - whole) <= 1e-9 * np.maximum(np.abs(whole), 1.0), whole, q)
    k = np.floor(np.minimum(q, n_steps + 1)).astype(np.int64)  # (E,) 1e300 fits no int64
    k[q == n_steps] = n_steps - 1
    k[q > n_steps] = -1
    return k


def to_grid(record, time, variable, value, n_records: int, n_variables: int, step: float,
            n_steps: int):
    """Values X (N, T, D) float32 (NaN where nothing was measured), mask M (N, T, D) float32,
    lengths (N,) int64 and the number of measurements merged into a step that already held
    one, per variable (D,).

    Several measurements of one variable in one step are averaged (the documented rule, as for
    duplicated timestamps). ``lengths[i]`` is one past the last step where record i has any
    measurement, at least 1 (a record with none gets one all-missing step, so a model still
    scores it from the means; the reader lists such records). Events after the window must be
    removed before (see ``grid_index``).
    """
    k = grid_index(time, step, n_steps)
    if (k < 0).any():
        raise ValueError("to_grid got measurements after the window; drop them first "
                         "(grid_index gives -1 for those).")
    record = np.asarray(record, dtype=np.int64)
    variable = np.asarray(variable, dtype=np.int64)
    flat = (record * n_steps + k) * n_variables + variable  # (E,) index into (N, T, D)
    size = n_records * n_steps * n_variables
    counts = np.bincount(flat, minlength=size)
    sums = np.bincount(flat, weights=np.asarray(value, dtype=np.float64), minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    x = x.reshape(n_records, n_steps, n_variables).astype(np.float32)  # (N, T, D)
    m = (counts > 0).reshape(n_records, n_steps, n_variables).astype(np.float32)  # (N, T, D)
    merged = np.bincount(variable, minlength=n_variables) - m.sum(axis=(0, 1)).astype(np.int64)
    last = np.full(n_records, -1, dtype=np.int64)
    if len(record):
        np.maximum.at(last, record, k)
    lengths = np.maximum(last + 1, 1)  # (N,)
    return x, m, lengths, merged


def time_since_observed(mask: np.ndarray, times) -> np.ndarray:
    """δ (N, T, D): time since each variable was last observed, Che et al. (2018) eq. (1):

        δ_0 = 0;   δ_t = s_t − s_{t−1} + δ_{t−1}  if m_{t−1} = 0,   else  s_t − s_{t−1}

    ``mask`` (N, T, D); ``times`` the stamps s_t: a step width (a regular grid, s_t = t·step),
    (T,) shared by all records, or (N, T) per record (irregular series padded to T).
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"mask must be (N, T, D); got shape {mask.shape}.")
    n, t, d = mask.shape
    s = np.asarray(times, dtype=np.float64)
    if s.ndim == 0:
        s = s * np.arange(t, dtype=np.float64)
    if s.shape not in ((t,), (n, t)):
        raise ValueError(f"times must be a step, (T,)=({t},) or (N, T)=({n}, {t}); got shape "
                         f"{np.shape(times)}.")
    if not np.isfinite(s).all():  # a NaN stamp made every δ after it NaN
        raise ValueError("times must be finite numbers of hours; got NaN or inf.")
    gap = np.diff(np.broadcast_to(s, (n, t)), axis=1)  # (N, T-1)
    if (gap < 0).any():
        raise ValueError("times must not decrease along T (they are stamps since admission).")
    delta = np.zeros((n, t, d), dtype=np.float32)  # (N, T, D)
    for i in range(1, t):
        carried = np.where(mask[:, i - 1] > 0, 0.0, delta[:, i - 1])  # (N, D)
        delta[:, i] = gap[:, i - 1, None] + carried
    return delta


def _floats(x) -> np.ndarray:
    """x as an array of floats: its own float dtype, float64 for integers and booleans (cast
    back to them, z-scores and imputed means were truncated: 85.5 bpm became 85)."""
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def _rows(x: np.ndarray, indices) -> np.ndarray:
    if indices is None:
        return x
    idx = np.asarray(indices)
    if idx.dtype == bool:
        if idx.shape != (len(x),):
            raise ValueError(f"a boolean train_indices must have one entry per record "
                             f"({len(x)}); got shape {idx.shape}.")
    elif idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError("train_indices must be a non-empty array of record positions "
                         "(integers) or a boolean mask over the records.")
    elif idx.min() < -len(x) or idx.max() >= len(x):
        raise ValueError(f"train_indices holds positions outside 0..{len(x) - 1}.")
    return x[idx]


def _check_observed(x: np.ndarray, observed: np.ndarray) -> None:
    """One sentence when ``x`` holds NaN or inf where ``observed`` says a value was measured
    (the statistics of that variable would be NaN, and so every input after z-scoring)."""
    if not np.isfinite(x[observed]).all():
        raise ValueError("x holds NaN or inf where the mask marks a value observed; give the "
                         "mask 0 there, or a finite value.")


def empirical_mean(x: np.ndarray, mask: np.ndarray, train_indices=None,
                   names=None) -> np.ndarray:
    """x̄ (D,) float32: the mean of each variable over its observed steps in the training
    records only (GRU-D's decay target and the GRU-mean imputation). A variable never
    observed in them is refused: it has no mean to decay towards."""
    xs, ms = _rows(np.asarray(x), train_indices), _rows(np.asarray(mask), train_indices)
    seen = ms.sum(axis=(0, 1))  # (D,)
    if (seen == 0).any():
        d = int(np.flatnonzero(seen == 0)[0])
        name = names[d] if names is not None else f"variable {d}"
        raise ValueError(f"{name} is never observed in the training records, so it has no "
                         f"empirical mean; fit on records that measure it, or leave it out "
                         f"(ClinicalClassifier and grukit clinical read such a variable as "
                         f"never measured).")
    _check_observed(xs, ms > 0)
    total = np.where(ms > 0, xs, 0.0).sum(axis=(0, 1), dtype=np.float64)
    return (total / seen).astype(np.float32)


@dataclass(frozen=True)
class Standardization:
    """z-scoring ``(x − mean) / std`` per variable, fitted on training records only; keep it
    to transform new stays the same way. ``std`` of a constant variable is 1."""

    mean: np.ndarray  # (D,) float64
    std: np.ndarray  # (D,) float64

    @classmethod
    def fit(cls, x: np.ndarray, mask: np.ndarray | None = None, train_indices=None,
            names=None) -> Standardization:
        """Statistics of the observed values (mask 1, or not NaN when no mask is given) of
        ``x`` (N, T, D) or (N, D) in the records ``train_indices``."""
        x = np.asarray(x, dtype=np.float64)
        obs = ~np.isnan(x) if mask is None else np.asarray(mask) > 0
        xs, os_ = _rows(x, train_indices), _rows(obs, train_indices)
        axes = tuple(range(xs.ndim - 1))
        n = os_.sum(axis=axes)  # (D,)
        if (n == 0).any():
            d = int(np.flatnonzero(n == 0)[0])
            name = names[d] if names is not None else f"variable {d}"
            raise ValueError(f"{name} is never observed in the training records, so it "
                             f"cannot be standardised; fit on records that measure it, or "
                             f"leave it out (ClinicalClassifier and grukit clinical read "
                             f"such a variable as never measured).")
        _check_observed(xs, os_)
        v = np.where(os_, xs, 0.0)
        mean = v.sum(axis=axes) / n
        var = (np.where(os_, xs - mean, 0.0) ** 2).sum(axis=axes) / n
        std = np.sqrt(var)
        return cls(mean=mean, std=np.where(std > 0, std, 1.0))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``(x − mean) / std`` in x's float dtype (float64 for integers and booleans); NaN
        stays NaN. x (..., D)."""
        x = _floats(x)
        if x.shape[-1] != len(self.mean):
            raise ValueError(f"x has {x.shape[-1]} variables in its last axis; these "
                             f"statistics were fitted on {len(self.mean)}.")
        return ((x - self.mean) / self.std).astype(x.dtype, copy=False)

    def invert(self, z: np.ndarray) -> np.ndarray:
        """``z · std + mean`` in z's float dtype (float64 for integers)."""
        z = _floats(z)
        return (z * self.std + self.mean).astype(z.dtype, copy=False)


def impute_mean(x: np.ndarray, mask: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """GRU-mean's input: each missing value (mask 0) replaced by the variable's mean (D,), in
    x's float dtype (float64 for integers and booleans)."""
    x = _floats(x)
    return np.where(np.asarray(mask) > 0, x, np.asarray(mean, dtype=x.dtype))


def impute_forward(x: np.ndarray, mask: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """GRU-forward's input: each missing value replaced by the last observed value of its
    variable in the same record, or the variable's mean (D,) before the first observation; in
    x's float dtype (float64 for integers and booleans)."""
    x = _floats(x)
    m = np.asarray(mask) > 0
    out = np.empty_like(x)
    prev = np.broadcast_to(np.asarray(mean, dtype=x.dtype), (x.shape[0], x.shape[2])).copy()
    for t in range(x.shape[1]):
        prev = np.where(m[:, t], x[:, t], prev)  # (N, D)
        out[:, t] = prev
    return out


def summary_features(record, time, variable, value, n_records: int, names,
                     statistics=SUMMARY_STATISTICS):
    """Per-record, per-variable summary statistics of the measurements given (for the
    logistic-regression / gradient-boosting baselines): (N, D·S) float64 with NaN where a
    record has no measurement of a variable (``count`` is 0 there), and the column names
    ``"<variable>_<statistic>"``. ``std`` is the population standard deviation (0 for one
    value); ``first``/``last`` are by time."""
    unknown = [s for s in statistics if s not in SUMMARY_STATISTICS]
    if unknown:
        raise ValueError(f"unknown summary statistic {unknown[0]!r}; choose from "
                         f"{', '.join(SUMMARY_STATISTICS)}.")
    frame = pd.DataFrame({"r": np.asarray(record), "t": np.asarray(time),
                          "d": np.asarray(variable), "v": np.asarray(value)})
    frame = frame.sort_values(["r", "d", "t"], kind="stable")
    g = frame.groupby(["r", "d"], sort=True)["v"]
    agg = {"count": g.size(), "mean": g.mean(), "std": g.std(ddof=0), "min": g.min(),
           "max": g.max(), "first": g.first(), "last": g.last()}
    d = len(names)
    out = np.full((n_records, d, len(statistics)), np.nan)  # (N, D, S)
    for j, stat in enumerate(statistics):
        series = agg[stat]
        r = series.index.get_level_values(0).to_numpy()
        v = series.index.get_level_values(1).to_numpy()
        if stat == "count":
            out[:, :, j] = 0.0
        out[r, v, j] = series.to_numpy(dtype=np.float64)
    columns = [f"{name}_{stat}" for name in names for stat in statistics]
    return out.reshape(n_records, d * len(statistics)), columns


def _fail_at(rows: pd.DataFrame, bad: np.ndarray, what: str) -> None:
    """Raise for the first row flagged in ``bad``: ``what`` formats its fields."""
    i = int(np.flatnonzero(bad)[0])
    row = rows.iloc[i]
    raise ValueError(f"{row['file']!r} line {row['line']}: " + what.format(**row.to_dict()))


def read_physionet_files(folder, outcomes="auto"):
    """Rows of every stay file of a PhysioNet 2012 set, as a DataFrame with columns rec (file
    position), time (hours), name, value, file, line (RecordID rows taken out); the stays'
    RecordIDs (N,) int64; the outcome file's path (or None); the hidden files not read.

    A stay file is a ``*.txt`` in the set's folder other than ``Outcomes*.txt``. Hidden files
    (names starting with ``.``) are not read: they are copies and metadata that file
    managers and macOS leave (``._1.txt`` is an AppleDouble resource file, ``.1.txt`` a
    hidden copy of ``1.txt``), never stays of the set; their names are returned so that the
    reading report lists them."""
    folder = os.fspath(folder)
    if os.path.isfile(folder):
        raise NotADirectoryError(f"{folder!r} is a file; give the PhysioNet 2012 folder that "
                                 f"holds set-a/ and Outcomes-a.txt (a long-format CSV of your "
                                 f"own is read by grukit.data.read_long_csv).")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"no such folder: {folder!r}; give the PhysioNet 2012 folder "
                                f"that holds set-a/ and Outcomes-a.txt.")
    sets = sorted(d for d in os.listdir(folder) if d.startswith("set-")
                  and os.path.isdir(os.path.join(folder, d)))
    if len(sets) > 1:
        raise ValueError(f"{folder!r} holds several sets ({', '.join(sets)}); give one of "
                         f"them, e.g. {os.path.join(folder, sets[0])!r}.")
    stays = os.path.join(folder, sets[0]) if sets else folder
    every = sorted(f for f in os.listdir(stays)
                   if f.endswith(".txt") and not f.startswith("Outcomes"))
    hidden = [f for f in every if f.startswith(".")]
    names = [f for f in every if not f.startswith(".")]
    if not names:
        raise FileNotFoundError(f"{stays!r} holds no stay files (*.txt, one Time,Parameter,"
                                f"Value CSV per ICU stay" + (f"; hidden files such as "
                                f"{hidden[0]!r} are not read" if hidden else "") + ").")
    if isinstance(outcomes, str) and outcomes == "auto":
        outcomes = _find_outcomes(folder, stays)
    texts, lines_per_file = [], []
    for name in names:
        path = os.path.join(stays, name)
        text = read_text_file(path)
        head, _, body = text.partition("\n")
        if not text.strip():
            raise ValueError(f"{path!r} is empty; a stay file starts with the line "
                             f"{PHYSIONET_HEADER} followed by its measurements.")
        if head.strip().replace(" ", "") != PHYSIONET_HEADER:
            raise ValueError(f"{path!r} starts with {head[:60]!r}, not the header "
                             f"{PHYSIONET_HEADER}; is it a PhysioNet 2012 stay file?")
        body = body.rstrip("\n")
        if not body.strip():
            raise ValueError(f"{path!r} has no rows below its header; a stay file holds at "
                             f"least its RecordID row.")
        texts.append(body)
        lines_per_file.append(body.count("\n") + 1)
    counts = np.asarray(lines_per_file)
    starts = np.repeat(np.cumsum(counts) - counts, counts)  # (L,) first line of its file
    rows = pd.DataFrame({"rec": np.repeat(np.arange(len(names)), counts),
                         "file": np.repeat(np.asarray([os.path.join(stays, n) for n in names],
                                                      dtype=object), counts),
                         "line": np.arange(counts.sum()) - starts + 2})
    rows = _parse_physionet_rows("\n".join(texts).encode("utf-8"), rows)
    ids = _physionet_ids(rows, [os.path.join(stays, n) for n in names])
    return rows[rows["name"] != "RecordID"], ids, outcomes, hidden


def _parse_physionet_rows(raw: bytes, rows: pd.DataFrame) -> pd.DataFrame:
    """``HH:MM,Parameter,Value`` lines (bytes, one per row of ``rows``) -> rows with time in
    hours, name and value. Fields are counted on the bytes with numpy and the colon of each
    time becomes a comma, so pandas' C parser reads hours, minutes and values as numbers in
    one pass (per-row Python string methods took 15 s on set A)."""
    a = np.frombuffer(raw, dtype=np.uint8)  # (bytes,)
    newline = np.flatnonzero(a == 10)
    n_lines = len(newline) + 1
    begin = np.r_[0, newline + 1]  # (L,)
    end = np.r_[newline, len(a)]
    comma, colon = np.flatnonzero(a == 44), np.flatnonzero(a == 58)
    n_comma = np.bincount(np.searchsorted(newline, comma), minlength=n_lines)
    colon_line = np.searchsorted(newline, colon)
    n_colon = np.bincount(colon_line, minlength=n_lines)
    blank = end == begin
    bad = ~blank & (n_comma != 2)
    if bad.any():
        rows["text"] = [raw[i:j].decode("utf-8", "replace")
                        for i, j in zip(begin, end, strict=True)]
        rows["n"] = n_comma + 1
        _fail_at(rows, bad, "{text!r} has {n} fields; each row is Time,Parameter,Value.")
    first_comma = np.full(n_lines, len(a))  # (L,) every non-blank line has two commas now
    first_comma[~blank] = comma[::2]
    one = n_colon[colon_line] == 1
    in_time = colon < first_comma[colon_line]
    bad = ~blank & ~np.bincount(colon_line[one & in_time], minlength=n_lines).astype(bool)
    if bad.any():
        rows["time"] = [raw[i:j].decode("utf-8", "replace").split(",")[0]
                        for i, j in zip(begin, end, strict=True)]
        _fail_at(rows, bad, "time {time!r} is not HH:MM (hours:minutes since admission, "
                 "e.g. 07:30).")
    # the time field holds digits, its colon and spaces only: pandas would also read a sign,
    # a decimal point or an exponent there (-0:30 as 00:30, 1e1:30 as 10:30)
    edge = np.zeros(len(a) + 1, dtype=np.int8)  # +1 where a time field begins, -1 after it
    edge[begin[~blank]] += 1
    edge[first_comma[~blank]] -= 1
    time_byte = np.cumsum(edge[:-1], dtype=np.int8) > 0  # (bytes,)
    odd = time_byte & ~(((a >= 48) & (a <= 57)) | (a == 58) | (a == 32))
    if odd.any():
        i = int(np.searchsorted(newline, np.flatnonzero(odd)[0]))
        rows["time"] = ""
        rows.loc[i, "time"] = raw[begin[i]:first_comma[i]].decode("utf-8", "replace")
        _fail_at(rows, np.arange(n_lines) == i, "time {time!r} is not HH:MM (hours:minutes "
                 "since admission, e.g. 07:30).")
    # two digits of minutes, as the long-CSV reader asks: 1:5 is 1:05 or 1:50 to a reader
    digits = np.r_[0, np.cumsum((a >= 48) & (a <= 57))]  # digits before each byte
    at = colon[one & in_time]  # the time's colon of each non-blank line, in line order
    short = np.zeros(n_lines, dtype=bool)
    short[colon_line[one & in_time]] = digits[first_comma[colon_line[one & in_time]]] \
        - digits[at + 1] != 2
    if short.any():
        rows["time"] = [raw[i:j].decode("utf-8", "replace").split(",")[0].strip()
                        for i, j in zip(begin, end, strict=True)]
        _fail_at(rows, short, "time {time!r} is not HH:MM (hours:minutes since admission, "
                 "two digits of minutes, e.g. 07:05).")
    b = a.copy()
    b[colon] = 44  # (bytes,) HH,MM,Parameter,Value
    parts = pd.read_csv(io.BytesIO(b.tobytes()), header=None, names=["h", "m", "p", "v"],
                        dtype={"p": str}, quoting=csv.QUOTE_NONE, skip_blank_lines=False,
                        keep_default_na=False, na_values=[""])
    keep = ~blank
    parts, rows = parts[keep].reset_index(drop=True), rows[keep].reset_index(drop=True)
    hm = [pd.to_numeric(parts[c], errors="coerce").to_numpy(np.float64) for c in ("h", "m")]
    good = ((hm[0] >= 0) & (hm[0] == np.round(hm[0])) & (hm[1] >= 0) & (hm[1] < 60)
            & (hm[1] == np.round(hm[1])))
    if not good.all():
        rows["time"] = parts["h"].astype(str) + ":" + parts["m"].astype(str)
        _fail_at(rows, ~good, "time {time!r} is not HH:MM (hours:minutes since admission, "
                 "e.g. 07:30).")
    value = pd.to_numeric(parts["v"], errors="coerce").to_numpy(np.float64)
    # spaces around a name are layout, as in the header (``Time, Parameter, Value``)
    rows["name"] = parts["p"].fillna("").str.strip().to_numpy(dtype=object)
    if not np.isfinite(value).all():
        rows["value"] = parts["v"].astype(object).where(parts["v"].notna(), "").to_numpy()
        _fail_at(rows, ~np.isfinite(value), "value {value!r} of {name!r} is not a number; "
                 "write an unknown value as -1 or leave the row out.")
    if (rows["name"] == "").any():
        _fail_at(rows, (rows["name"] == "").to_numpy(), "the row has no parameter name.")
    rows["time"], rows["value"] = hm[0] + hm[1] / 60.0, value
    return rows


# RecordIDs are read as float64 numbers, whole and exact up to 2^53
LARGEST_ID = 2 ** 53


def _physionet_ids(rows: pd.DataFrame, paths) -> np.ndarray:
    """(N,) int64: each stay's RecordID row, which must agree with its file name when that is
    a number, or else that number. A RecordID is a whole number from 0 to 2^53; two stay
    files of one RecordID (``1.txt`` and ``1 (copy).txt``) are refused, naming both."""
    ids = np.full(len(paths), -1, dtype=np.int64)
    for i, path in enumerate(paths):
        stem = os.path.basename(path)[:-4]
        if stem.isascii() and stem.isdigit():
            if int(stem) > LARGEST_ID:
                raise ValueError(f"{path!r}: the number {stem} of its name is too large for a "
                                 f"RecordID (at most 2^53 = {LARGEST_ID}); name the file "
                                 f"<RecordID>.txt.")
            ids[i] = int(stem)
    rid = rows[rows["name"] == "RecordID"]
    twice = rid["rec"].duplicated().to_numpy()
    if twice.any():
        r = rid[twice].iloc[0]
        raise ValueError(f"{r['file']!r} line {r['line']}: a second RecordID row; a stay "
                         f"file has one.")
    value = rid["value"].to_numpy()
    bad = (value < 0) | (value != np.round(value)) | (value > LARGEST_ID)
    if bad.any():
        r = rid[bad].iloc[0]
        raise ValueError(f"{r['file']!r} line {r['line']}: RecordID {r['value']:g} is not a "
                         f"record number (a whole number from 0 to 2^53; -1 is PhysioNet's "
                         f"unknown value, which a RecordID cannot be); write the stay's id "
                         f"in that row.")
    clash = (ids[rid["rec"]] >= 0) & (ids[rid["rec"]] != value)
    if clash.any():
        r = rid[clash].iloc[0]
        raise ValueError(f"{r['file']!r} line {r['line']}: RecordID {r['value']:g} does not "
                         f"match the file name; rename the file to <RecordID>.txt.")
    ids[rid["rec"].to_numpy()] = value.astype(np.int64)
    if (ids < 0).any():
        i = int(np.flatnonzero(ids < 0)[0])
        raise ValueError(f"stay file {paths[i]!r} has no RecordID row and its name is not a "
                         f"number; add the row 00:00,RecordID,<id>.")
    order = np.argsort(ids, kind="stable")
    same = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if same.size:
        a, b = order[same[0]], order[same[0] + 1]
        raise ValueError(f"{paths[a]!r} and {paths[b]!r} both hold RecordID {ids[a]}; keep "
                         f"one file per stay.")
    return ids


def _find_outcomes(folder: str, stays: str):
    """The outcome file of the stays in ``stays``: for a ``set-<x>/`` folder its
    ``Outcomes-<x>.txt`` in the folder given, in ``stays`` or in the folder above it; else
    the first ``Outcomes*.txt`` in the folder given or in ``stays`` — never another
    ``Outcomes-*.txt`` of the folder above, which holds the other sets' outcome files."""
    name = os.path.basename(os.path.normpath(stays))
    own = f"Outcomes-{name[len('set-'):]}.txt" if name.startswith("set-") else None
    places = list(dict.fromkeys((folder, stays)))
    if own:
        for where in dict.fromkeys((*places, os.path.dirname(os.path.normpath(stays)))):
            if os.path.isfile(os.path.join(where, own)):
                return os.path.join(where, own)
    for where in places:
        found = sorted(f for f in os.listdir(where)
                       if f.startswith("Outcomes") and f.endswith(".txt"))
        if found:
            return os.path.join(where, found[0])
    raise FileNotFoundError(f"no outcome file ({own or 'Outcomes-*.txt'}) beside {stays!r}; "
                            f"put the outcome file there (in Python, read_physionet2012 also "
                            f"takes outcomes=PATH, or outcomes=None to read the stays without "
                            f"one).")


def parse_rows(rows: pd.DataFrame, time_unit: float = 1.0, time_format: str = "auto"):
    """rows with text columns time, name, value (and file, line for errors) -> the same rows
    with time in hours (float) and value (float). Times are ``HH:MM`` or numbers times
    ``time_unit`` hours; ``time_format`` "hh:mm", "number" or "auto" (by the first row)."""
    text = rows["time"].astype(str).str.strip()
    if time_format == "auto":
        time_format = "hh:mm" if ":" in text.iloc[0] else "number"
    if time_format == "hh:mm":
        ok = text.str.fullmatch(r"\d+:[0-5]\d").to_numpy()
        if not ok.all():
            _fail_at(rows, ~ok, "time {time!r} is not HH:MM (hours:minutes since admission, "
                     "e.g. 07:30).")
        hm = text.str.split(":", n=1, expand=True).astype(np.int64)
        hours = hm[0].to_numpy() + hm[1].to_numpy() / 60.0
    else:
        hours = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64) * time_unit
        bad = ~np.isfinite(hours) | (hours < 0)
        if bad.any():
            _fail_at(rows, bad, "time {time!r} is not a number of hours since admission "
                     "(>= 0), nor HH:MM.")
    value = pd.to_numeric(rows["value"].astype(str).str.strip(), errors="coerce")
    value = value.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(value)
    if bad.any():
        _fail_at(rows, bad, "value {value!r} of {name!r} is not a number; write an unknown "
                 "value as -1 or leave the row out.")
    empty = (rows["name"].astype(str).str.strip() == "").to_numpy()
    if empty.any():
        _fail_at(rows, empty, "the row has no parameter name.")
    out = rows.copy()
    out["time"], out["value"] = hours, value
    return out


def named_columns(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """``frame`` without the columns of no name and no value (a spreadsheet's trailing
    commas); one sentence when a header names a column twice (pandas would take the first,
    or a frame of both, where one column is read)."""
    blank = (frame.columns == "") & (frame == "").all(axis=0).to_numpy()
    frame = frame.loc[:, ~blank]
    twice = frame.columns[frame.columns.duplicated()]
    if len(twice):
        raise ValueError(f"{what} names the column {twice[0]!r} twice in its header; give "
                         f"each column once.")
    return frame


def read_outcomes(path, id_column: str):
    """An outcome CSV as its record ids (n,) (text, from ``id_column``) and {column: (n,)
    float64} for the other columns. Duplicated ids, a missing id column, a row with more
    fields than the header and outcomes that are not finite numbers are refused."""
    path = os.fspath(path)
    try:
        # header=None: a row with more fields than the header is refused with its line (with
        # a header, pandas takes the extra first field as an index and shifts every column)
        frame = pd.read_csv(io.StringIO(read_text_file(path)), dtype=str,
                            keep_default_na=False, header=None, skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"outcome file {path!r} is not a readable CSV "
                         f"({str(err).strip()}).") from None
    frame = frame.iloc[1:].set_axis([str(c).strip() for c in frame.iloc[0]], axis=1)
    frame = named_columns(frame, f"outcome file {path!r}")
    line = np.arange(len(frame)) + 2  # (rows,) line numbers, blank lines included
    filled = (frame != "").any(axis=1).to_numpy()
    frame, line = frame[filled].reset_index(drop=True), line[filled]
    if frame.empty:
        raise ValueError(f"outcome file {path!r} has no rows below its header.")
    if id_column not in frame.columns:
        raise ValueError(f"outcome file {path!r} has no {id_column!r} column; its columns "
                         f"are {', '.join(map(repr, frame.columns))}.")
    ids = frame[id_column].str.strip()
    if ids.duplicated().any():
        raise ValueError(f"outcome file {path!r} lists record {ids[ids.duplicated()].iloc[0]!r} "
                         f"twice; give one row per record.")
    table = {}
    for col in frame.columns.drop(id_column):
        values = pd.to_numeric(frame[col].str.strip(), errors="coerce")
        bad = (values.isna() & (frame[col].str.strip() != "")) | np.isinf(values)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(f"outcome file {path!r} line {line[i]}: {col} "
                             f"{frame[col].iloc[i]!r} is not a finite number; write each "
                             f"outcome as a number (1 for yes or true, 0 for no or false), "
                             f"or leave the cell empty when it is unknown.")
        table[col] = values.to_numpy(dtype=np.float64)
    return ids.to_numpy(dtype=str), table
