"""Irregular clinical time series: the PhysioNet/CinC Challenge 2012 format and long-format
CSVs (``id, time, variable, value``), resampled to a grid with mask and time since last
observation for GRU-D (Che et al. 2018) and its baselines.

``read_physionet2012(folder)`` reads ``set-a/*.txt`` (one ``Time,Parameter,Value`` CSV per
ICU stay, ``HH:MM`` since admission) and ``Outcomes-a.txt``; ``read_long_csv(path, ...)``
reads one CSV of any layout given its column names. Both return a ``ClinicalData``.

Rules (each counted in ``data.report``, nothing dropped without a count):

- static descriptors (PhysioNet: Age, Gender, Height, ICUType, Weight) are kept apart from
  the series: a descriptor that is also a series variable (Weight) is static at time 0 and
  a measurement afterwards. A descriptor given twice keeps the mean (numbers) or becomes
  missing when the values conflict (categories: Gender, ICUType);
- ``-1`` (PhysioNet's "unknown") and values outside the plausible range of their variable
  are missing (reasons ``"unknown (-1)"`` and ``"implausible"``);
- several values of one variable at the same time are averaged (``report.duplicates``);
  so are several values of one variable in one grid step;
- measurements after the window (48 h) stay in the raw events and are counted
  (``report.out_of_window``), not gridded;
- a parameter name outside the known variables is refused by default (``unknown="drop"``
  drops and counts it, ``unknown="keep"`` adds it as a variable and counts it);
- outcome rows without a record file, records without an outcome row and records whose
  outcome cell is empty are listed (``report.without_file``, ``report.without_outcome``,
  ``report.empty_outcome``; their ``y`` is NaN); record ids are matched as numbers when
  both sides are whole numbers (``0001`` is record 1), else as text;
- hidden files in the stay folder (names starting with ``.``: ``._1.txt``, ``.1.txt``) are
  not read, and listed (``report.hidden_files``); two stay files of one RecordID are refused,
  naming both;
- a missing folder or file, an empty file, a row without three fields, a bad ``HH:MM``, a
  non-numeric value, a RecordID that is not a whole number from 0 to 2^53, an outcome file
  that matches no record: one sentence, naming the file and line.

pandas does the parsing: all files are read as text (``read_text_file``: encodings checked),
joined, and parsed once, so the 3,996 stays of set A read in seconds.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .clinical_steps import (
    SUMMARY_STATISTICS,
    Standardization,
    _rows,
    empirical_mean,
    grid_index,
    impute_forward,
    impute_mean,
    named_columns,
    parse_rows,
    read_outcomes,
    read_physionet_files,
    summary_features,
    time_since_observed,
    to_grid,
)
from .text import read_text_file

# The 37 time series of the PhysioNet/CinC Challenge 2012 (Weight is both a descriptor and a
# series), in alphabetical order; the static descriptors; the outcome columns.
PHYSIONET_VARIABLES = (
    "ALP", "ALT", "AST", "Albumin", "BUN", "Bilirubin", "Cholesterol", "Creatinine",
    "DiasABP", "FiO2", "GCS", "Glucose", "HCO3", "HCT", "HR", "K", "Lactate", "MAP",
    "MechVent", "Mg", "NIDiasABP", "NIMAP", "NISysABP", "Na", "PaCO2", "PaO2", "Platelets",
    "RespRate", "SaO2", "SysABP", "Temp", "TroponinI", "TroponinT", "Urine", "WBC", "Weight",
    "pH")
PHYSIONET_STATICS = ("Age", "Gender", "Height", "ICUType", "Weight")
PHYSIONET_CATEGORICAL = ("Gender", "ICUType")
PHYSIONET_OUTCOMES = ("SAPS-I", "SOFA", "Length_of_stay", "Survival", "In-hospital_death")

# Plausible ranges (inclusive, in PhysioNet's units); a value outside is missing. Source: the
# "OUTLIER LOW/HIGH" bounds of the MIMIC-III benchmark (Harutyunyan et al. 2019, Scientific
# Data; resources/variable_ranges.csv, also shipped by MIMIC-Extract), which mark values no
# living patient has, as opposed to abnormal ones. Changes, each for a reason:
# - heart rate, arterial pressures (invasive and non-invasive), height and weight start at 1:
#   a 0 there is a disconnected sensor or an unknown written as 0, not a measurement;
# - SaO2 ends at 100 (a saturation is a percentage); ALT ends at 22,000 like AST (both reach
#   10^4 IU/L in ischaemic hepatitis; set A has ALT up to 11,470); TroponinT ends at 25 (set
#   A's largest values, 24.9, sit at the assay's reporting limit);
# - not in that table: Age 0-120 years (older than any documented human), Gender 0/1, ICUType
#   1-4 (the challenge's four ICU types), MechVent 0/1 (an indicator), GCS 3-15 (its scale).
PHYSIONET_RANGES = {
    "ALP": (0, 4000), "ALT": (0, 22000), "AST": (0, 22000), "Albumin": (0, 60),
    "BUN": (0, 275), "Bilirubin": (0, 66), "Cholesterol": (0, 660), "Creatinine": (0, 66),
    "DiasABP": (1, 375), "FiO2": (0.2, 1.1), "GCS": (3, 15), "Glucose": (0, 2200),
    "HCO3": (0, 66), "HCT": (0, 100), "HR": (1, 390), "K": (0, 15), "Lactate": (0, 33),
    "MAP": (1, 375), "MechVent": (0, 1), "Mg": (0, 22), "NIDiasABP": (1, 375),
    "NIMAP": (1, 375), "NISysABP": (1, 375), "Na": (0, 250), "PaCO2": (0, 220),
    "PaO2": (0, 770), "Platelets": (0, 2200), "RespRate": (0, 330), "SaO2": (0, 100),
    "SysABP": (1, 375), "Temp": (14.2, 47), "TroponinI": (0, 575), "TroponinT": (0, 25),
    "Urine": (0, 2445), "WBC": (0, 1100), "Weight": (1, 250), "pH": (6.3, 10),
    "Age": (0, 120), "Gender": (0, 1), "Height": (1, 275), "ICUType": (1, 4)}

__all__ = ["PHYSIONET_RANGES", "PHYSIONET_STATICS", "PHYSIONET_VARIABLES", "SUMMARY_STATISTICS",
           "ClinicalData", "OutcomeMismatch", "ReadReport", "Standardization",
           "empirical_mean", "impute_forward", "impute_mean", "read_long_csv",
           "read_physionet2012", "summary_features", "time_since_observed"]

UNKNOWN_CODE = "unknown (-1)"
IMPLAUSIBLE = "implausible"
CONFLICTING = "conflicting"


@dataclass
class ReadReport:
    """What reading changed or could not use, with counts per variable and reason."""

    dropped: dict = field(default_factory=dict)  # (variable, reason) -> values made missing
    duplicates: dict = field(default_factory=dict)  # variable -> values merged by their mean
    same_step: dict = field(default_factory=dict)  # variable -> values averaged in a step
    out_of_window: dict = field(default_factory=dict)  # variable -> measurements after it
    stays_beyond_window: int = 0  # records with a measurement after the window
    unknown_parameters: dict = field(default_factory=dict)  # name -> rows (dropped or kept)
    unknown_policy: str = "error"
    absent_statics: dict = field(default_factory=dict)  # descriptor -> records without it
    without_file: list = field(default_factory=list)  # outcome ids with no record, as written
    without_outcome: list = field(default_factory=list)  # record ids with no outcome row
    empty_outcome: list = field(default_factory=list)  # record ids whose outcome cell is empty
    no_measurements: list = field(default_factory=list)  # record ids with nothing in window
    hidden_files: list = field(default_factory=list)  # stay folder's .*.txt, not read

    def table(self) -> pd.DataFrame:
        """One row per (variable, what, count), for printing or saving."""
        rows = [(v, r, n) for (v, r), n in self.dropped.items()]
        rows += [(v, "duplicate timestamp (mean)", n) for v, n in self.duplicates.items()]
        rows += [(v, "same grid step (mean)", n) for v, n in self.same_step.items()]
        rows += [(v, "after the window", n) for v, n in self.out_of_window.items()]
        rows += [(v, f"unknown parameter ({self.unknown_policy})", n)
                 for v, n in self.unknown_parameters.items()]
        rows += [(v, "descriptor absent", n) for v, n in self.absent_statics.items()]
        return pd.DataFrame(rows, columns=["variable", "what", "count"])

    def __str__(self) -> str:
        table = self.table()
        lines = [table.to_string(index=False) if len(table) else
                 "no value dropped, merged or left out"]
        if self.stays_beyond_window:
            lines.append(f"{self.stays_beyond_window} records have measurements after the "
                         f"window (kept in the raw events, not on the grid)")
        for name, ids in (("outcome rows without a record file", self.without_file),
                          ("records without an outcome row", self.without_outcome),
                          ("records whose outcome cell is empty (no label)",
                           self.empty_outcome),
                          ("records with no measurement in the window",
                           self.no_measurements),
                          ("hidden files not read (names starting with '.')",
                           self.hidden_files)):
            if ids:
                shown = ", ".join(map(str, ids[:10])) + (" ..." if len(ids) > 10 else "")
                lines.append(f"{len(ids)} {name}: {shown}")
        return "\n".join(lines)


@dataclass
class ClinicalData:
    """Clinical series on a grid of ``n_steps`` steps of ``step`` hours, plus the raw events.

    X, M, delta: (N, T, D) float32 values (NaN where missing), mask, hours since the variable
    was last observed (Che et al. 2018, eq. 1); lengths (N,): one past the last step with a
    measurement (later steps are padding: mask 0, δ still growing). ``inputs()`` gives X
    z-scored with 0 where missing, as a model takes it. static (N, S) float32 descriptors
    (NaN missing); ``categorical`` names those that are categories (a model one-hots them).
    y (N,) float64 the outcome
    ``outcome`` (NaN: no outcome row); ``outcomes`` holds every outcome column by name.
    Events (cleaned, in time order per record, after-window ones included): those of record
    i are ``event_*[event_offsets[i]:event_offsets[i + 1]]``, times in hours.
    """

    X: np.ndarray
    M: np.ndarray
    delta: np.ndarray
    lengths: np.ndarray
    static: np.ndarray
    y: np.ndarray
    record_ids: np.ndarray
    variables: tuple
    static_names: tuple
    outcome: str | None
    outcomes: dict
    step: float
    event_offsets: np.ndarray  # (N + 1,) int64
    event_time: np.ndarray  # (E,) float64 hours
    event_variable: np.ndarray  # (E,) int64 index into variables
    event_value: np.ndarray  # (E,) float64
    report: ReadReport
    categorical: tuple = ("Gender", "ICUType")  # the descriptors that are categories

    @property
    def n_records(self) -> int:
        return len(self.record_ids)

    @property
    def n_steps(self) -> int:
        return self.X.shape[1]

    def record_events(self, i: int):
        """Record i's irregular series: times (n,) hours and values (n, D), NaN where a
        variable was not measured at that time (continuous-time models' input)."""
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) \
                or not 0 <= i < self.n_records:  # -1 gave no events, not the last record's
            raise ValueError(f"i must be a record position in 0..{self.n_records - 1}; got "
                             f"{i!r}.")
        a, b = self.event_offsets[i], self.event_offsets[i + 1]
        times, inverse = np.unique(self.event_time[a:b], return_inverse=True)
        values = np.full((len(times), len(self.variables)), np.nan)  # (n, D)
        values[inverse, self.event_variable[a:b]] = self.event_value[a:b]
        return times, values

    def inputs(self, standardization=None, fill: float = 0.0):
        """(x, m, delta), each (N, T, D) float32, for GRU-D and GRU-simple: x z-scored by
        ``standardization`` when given, ``fill`` where missing (NaN would poison m ⊙ x)."""
        x = self.X if standardization is None else standardization.apply(self.X)
        x = np.where(self.M > 0, x, np.float32(fill)).astype(np.float32)
        return x, self.M, self.delta

    def with_outcome(self, name: str) -> ClinicalData:
        """The same data with ``y`` set to the outcome column ``name`` (the report's
        ``empty_outcome`` lists the records whose cell of that column is empty)."""
        y = _outcome_column(self.outcomes, name)
        report = replace(self.report, empty_outcome=_empty_cells(self.record_ids, y,
                                                                 self.report))
        return replace(self, y=y, outcome=name, report=report)

    def fit_standardization(self, train_indices) -> Standardization:
        """z-score statistics of the series fitted on the training records only."""
        return Standardization.fit(self.X, self.M, train_indices, names=self.variables)

    def fit_static_standardization(self, train_indices) -> Standardization:
        """z-score statistics of the descriptors (N, S) fitted on the training records only.
        A descriptor that none of them gives (set A has no ICUType) has no statistics: its
        mean and std are NaN, so ``apply`` leaves it missing (NaN) in every record."""
        given = np.isfinite(_rows(self.static, train_indices)).any(axis=0)  # (S,)
        mean, std = np.full(len(given), np.nan), np.full(len(given), np.nan)
        if given.any():
            names = [n for n, g in zip(self.static_names, given, strict=True) if g]
            st = Standardization.fit(self.static[:, given], None, train_indices, names=names)
            mean[given], std[given] = st.mean, st.std
        return Standardization(mean=mean, std=std)

    def empirical_mean(self, train_indices, standardization=None) -> np.ndarray:
        """x̄ (D,): each variable's mean over its observed steps in the training records,
        after ``standardization`` when given (GRU-D's decay target)."""
        x = self.X if standardization is None else standardization.apply(self.X)
        return empirical_mean(x, self.M, train_indices, names=self.variables)

    def imputed(self, how: str, mean: np.ndarray, standardization=None) -> np.ndarray:
        """X with missing values filled: ``"mean"`` (GRU-mean) or ``"forward"`` (GRU-forward:
        last observed value, the mean before the first), after ``standardization``."""
        x = self.X if standardization is None else standardization.apply(self.X)
        if how == "mean":
            return impute_mean(x, self.M, mean)
        if how == "forward":
            return impute_forward(x, self.M, mean)
        raise ValueError(f"how={how!r} is not an imputation; use 'mean' or 'forward'.")

    def summary_features(self, statistics=SUMMARY_STATISTICS, with_static: bool = True):
        """(N, D·S [+ S_static]) per-variable summary statistics of the measurements inside
        the window, and the column names (NaN where a variable was never measured)."""
        rec = np.repeat(np.arange(self.n_records), np.diff(self.event_offsets))
        inside = grid_index(self.event_time, self.step, self.n_steps) >= 0
        feats, names = summary_features(rec[inside], self.event_time[inside],
                                        self.event_variable[inside], self.event_value[inside],
                                        self.n_records, self.variables, statistics)
        if with_static and self.static.shape[1]:
            feats = np.concatenate([feats, self.static.astype(np.float64)], axis=1)
            names = names + list(self.static_names)
        return feats, names


class OutcomeMismatch(ValueError):
    """An outcome file that does not fit the stays: it matches none of them, or it has no
    column of the outcome asked for. ``problem`` says which (the message adds the fix), so a
    caller that can go on without outcomes (scoring new stays) can say why it does."""

    def __init__(self, problem: str, fix: str):
        super().__init__(f"{problem}; {fix}")
        self.problem = problem


def _outcome_column(outcomes: dict, name: str, path: str | None = None) -> np.ndarray:
    if name not in outcomes:
        where = f"outcome file {path!r}" if path else "the outcome file"
        raise OutcomeMismatch(f"no outcome column {name!r}: {where} has "
                              f"{', '.join(map(repr, outcomes)) or 'none'}",
                              "pass one of those as outcome= (grukit clinical: --outcome).")
    return outcomes[name]


def read_physionet2012(folder, outcomes="auto", outcome: str | None = None,
                       n_steps: int = 48, step: float = 1.0, unknown: str = "error",
                       ranges=None, variables=None) -> ClinicalData:
    """Read a PhysioNet/CinC 2012 set: ``folder`` holds ``set-a/`` (or is that folder of
    ``*.txt`` stays) and ``Outcomes-a.txt``; ``outcomes`` is its path ("auto": the
    ``Outcomes-*.txt`` beside the stays, None: none), ``outcome`` its column (default
    "In-hospital_death"; refused with ``outcomes=None``, which reads none). The grid:
    ``n_steps`` steps of ``step`` hours (the paper: 48 hourly). ``ranges`` ({name: (low,
    high)}) replaces the plausible ranges of the names it gives and keeps
    ``PHYSIONET_RANGES`` for the others (``(-inf, inf)`` lifts one); ``variables`` the
    series, in order (default ``PHYSIONET_VARIABLES``; a model trained with
    ``unknown="keep"`` reads new stays with its own)."""
    _check_grid(step, n_steps, unknown)
    if outcomes is None and outcome is not None:
        raise ValueError(f"outcome={outcome!r} reads the outcome file, and outcomes=None reads "
                         f"none; pass outcomes='auto' (the Outcomes-*.txt beside the stays) or "
                         f"its path.")
    outcome = "In-hospital_death" if outcome is None else outcome
    rows, record_ids, outcome_path, hidden = read_physionet_files(folder, outcomes)
    ranges = PHYSIONET_RANGES | ({} if ranges is None else dict(ranges))
    table = (*read_outcomes(outcome_path, "RecordID"), outcome_path) if outcome_path else None
    variables = PHYSIONET_VARIABLES if variables is None else _names(variables, "variables")
    data = _build(rows, record_ids, variables, PHYSIONET_STATICS,
                  PHYSIONET_CATEGORICAL, ranges, (-1.0,), unknown, step, n_steps, table,
                  outcome if table is not None else None)
    data.report.hidden_files = hidden
    return data


def read_long_csv(path, id_column: str = "id", time_column: str = "time",
                  variable_column: str = "variable", value_column: str = "value",
                  time_unit: float = 1.0, variables=None, statics=(), categorical=(),
                  ranges=None, missing_values=(), outcomes=None, outcome: str | None = None,
                  outcome_id_column: str | None = None, n_steps: int = 48, step: float = 1.0,
                  unknown: str = "error", encoding: str | None = None) -> ClinicalData:
    """Read long-format irregular series from one CSV: a row per measurement with a record
    id, a time (a number, in hours times ``time_unit`` (1/60 for minutes), or ``HH:MM``), a
    variable name and a value. ``variables`` fixes the series (default: every name that is
    not in ``statics``); ``statics`` names per-record descriptors, ``categorical`` those of
    them that are codes of categories (a model one-hots them); ``ranges`` maps a name to
    its plausible (low, high); ``missing_values`` are codes for unknown (e.g. ``(-1,)``); a
    name both in ``statics`` and ``variables`` is a descriptor at time 0, a series after (a
    ``categorical`` name not in ``statics`` is refused).
    ``outcomes``: a CSV with a column of record ids (``outcome_id_column``, default the id
    column's name) and outcome columns; ``outcome`` picks one."""
    _check_time_unit(time_unit)  # 0 put every measurement at admission
    if outcomes is None and (outcome is not None or outcome_id_column is not None):
        given = "outcome" if outcome is not None else "outcome_id_column"
        raise ValueError(f"{given}={outcome if outcome is not None else outcome_id_column!r} "
                         f"reads the outcome file, and none is given; pass outcomes=PATH, the "
                         f"CSV of record ids and outcomes.")
    statics, categorical = _names(statics, "statics", 0), _names(categorical, "categorical", 0)
    stray = [c for c in categorical if c not in statics]
    if stray:  # it was dropped in silence, the name read as a series of numbers
        raise ValueError(f"categorical names {stray[0]!r}, which is not in statics; "
                         f"categorical marks descriptors: give statics=({stray[0]!r},) too.")
    missing_values = (missing_values,) if isinstance(missing_values, (int, float)) \
        else tuple(missing_values)
    if not all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
               for v in missing_values):  # numpy's "could not convert string to float"
        raise ValueError(f"missing_values must be numbers, the codes written for an unknown "
                         f"value (e.g. (-1,)); got {missing_values!r} (a value that is not "
                         f"a number is refused on reading).")
    text = read_text_file(path, encoding)
    try:
        # header=None: a row with more fields than the header is refused with its line
        # (with a header, pandas would silently take the extra first field as an index)
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                            skip_blank_lines=False, header=None)
        frame = frame.iloc[1:].set_axis([str(c).strip() for c in frame.iloc[0]], axis=1)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"{os.fspath(path)!r} is not a readable CSV ({str(err).strip()}); "
                         f"give one row per measurement with a header line.") from None
    _check_grid(step, n_steps, unknown)
    frame = named_columns(frame, repr(os.fspath(path)))
    line = np.arange(len(frame)) + 2  # (rows,) line numbers, blank lines included
    filled = (frame != "").any(axis=1).to_numpy()
    frame, line = frame[filled].reset_index(drop=True), line[filled]
    if frame.empty:
        raise ValueError(f"{os.fspath(path)!r} has no measurement rows; give one row per "
                         f"measurement below the header line.")
    cols = (id_column, time_column, variable_column, value_column)
    for role, col in zip(("id_column", "time_column", "variable_column", "value_column"), cols,
                         strict=True):
        if col not in frame.columns:
            raise ValueError(f"{role}={col!r} is not a column of {os.fspath(path)!r}; its "
                             f"columns are {', '.join(map(repr, frame.columns))}.")
    ids = frame[id_column].str.strip()
    record_ids, rec = np.unique(ids.to_numpy(), return_inverse=True)
    raw = pd.DataFrame({"rec": rec, "time": frame[time_column], "name": frame[variable_column]
                        .str.strip(), "value": frame[value_column],
                        "file": os.fspath(path), "line": line})
    if (ids == "").any():
        r = raw[(ids == "").to_numpy()].iloc[0]
        raise ValueError(f"{r['file']!r} line {r['line']}: the row has no record id "
                         f"({id_column}).")
    rows = parse_rows(raw, time_unit)
    if variables is None:
        variables = tuple(sorted(set(rows["name"]) - set(statics)))
    variables = _names(variables, "variables")
    table = None
    if outcomes is not None:
        table = (*read_outcomes(outcomes, outcome_id_column or id_column), os.fspath(outcomes))
    return _build(rows, record_ids, tuple(variables), tuple(statics), tuple(categorical),
                  ranges or {}, tuple(missing_values), unknown, step, n_steps, table, outcome)


def _check_time_unit(time_unit):
    if isinstance(time_unit, bool) or not isinstance(time_unit, (int, float, np.number)) \
            or not (np.isfinite(time_unit) and time_unit > 0):
        raise ValueError(f"time_unit must be a positive number, the hours in one unit of the "
                         f"time column (1/60 for minutes); got {time_unit!r}.")


def _names(value, what: str, least: int = 1) -> tuple:
    """``value``, a collection of names, as a tuple; one sentence for a single string (read
    as its letters, ``"HR"`` was the variables H and R), a name given twice, or fewer than
    ``least`` names."""
    if isinstance(value, str):
        raise ValueError(f"{what} must be a list of names; got the string {value!r} (for one "
                         f"name write ({value!r},)).")
    names = tuple(value)
    twice = [n for i, n in enumerate(names) if n in names[:i]]
    if twice:
        raise ValueError(f"{what} names {twice[0]!r} twice; give each name once.")
    if len(names) < least:
        raise ValueError(f"{what} is empty; give at least one series variable.")
    return names


def _check_grid(step, n_steps, unknown):
    if isinstance(n_steps, bool) or not (isinstance(n_steps, (int, np.integer))
                                         and n_steps >= 1):
        raise ValueError(f"n_steps must be a positive integer (the paper: 48); got {n_steps!r}.")
    if isinstance(step, bool) or not isinstance(step, (int, float, np.number)) \
            or not (np.isfinite(step) and step > 0):
        raise ValueError(f"step must be a positive number of hours (the paper: 1.0); got "
                         f"{step!r}.")
    if unknown not in ("error", "drop", "keep"):
        raise ValueError(f"unknown={unknown!r} is not a policy; use 'error', 'drop' or 'keep'.")



def _count(report: dict, names, key=None) -> None:
    for name, k in pd.Series(names).value_counts(sort=False).items():
        report[name if key is None else (name, key)] = int(k)


def _build(rows, record_ids, variables, statics, categorical, ranges, missing, unknown, step,
           n_steps, table, outcome) -> ClinicalData:
    report, n = ReadReport(unknown_policy=unknown), len(record_ids)
    for name, bounds in ranges.items():
        if not (isinstance(bounds, (tuple, list)) and len(bounds) == 2
                and all(isinstance(b, (int, float, np.number)) and not isinstance(b, bool)
                        for b in bounds) and bounds[0] <= bounds[1]):
            raise ValueError(f"ranges[{name!r}] must be (low, high) numbers with low <= high; "
                             f"got {bounds!r}.")
    names = rows["name"]
    strange = ~names.isin(set(variables) | set(statics)).to_numpy()
    if strange.any():
        _count(report.unknown_parameters, names[strange])
        if unknown == "error":
            r = rows[strange].iloc[0]
            raise ValueError(f"{r['file']!r} line {r['line']}: unknown parameter "
                             f"{r['name']!r} ({strange.sum()} such rows, "
                             f"{len(report.unknown_parameters)} unknown names); to drop and "
                             f"count them pass unknown='drop' (grukit clinical: --unknown "
                             f"drop), to add them as variables unknown='keep' (--unknown "
                             f"keep).")
        if unknown == "drop":
            rows = rows[~strange]
        else:
            variables = tuple(variables) + tuple(sorted(report.unknown_parameters))
    is_static = (rows["name"].isin(statics)
                 & (~rows["name"].isin(variables) | (rows["time"] == 0))).to_numpy()
    # report keys: a descriptor that is also a series (Weight) is named "Weight (descriptor)"
    key = np.where(is_static & rows["name"].isin(variables).to_numpy(),
                   rows["name"].to_numpy(dtype=object) + " (descriptor)",
                   rows["name"].to_numpy(dtype=object))
    present = rows.loc[is_static, ["rec", "name"]].drop_duplicates()["name"].value_counts()
    report.absent_statics = {s: n - int(present.get(s, 0)) for s in statics
                             if n - int(present.get(s, 0))}
    value = rows["value"].to_numpy()
    coded = np.isin(value, np.asarray(missing, dtype=np.float64))
    lo = rows["name"].map({k: v[0] for k, v in ranges.items()}).to_numpy(dtype=np.float64)
    hi = rows["name"].map({k: v[1] for k, v in ranges.items()}).to_numpy(dtype=np.float64)
    implausible = ~coded & ((value < lo) | (value > hi))
    _count(report.dropped, key[coded], UNKNOWN_CODE)
    _count(report.dropped, key[implausible], IMPLAUSIBLE)
    good = ~(coded | implausible)
    huge = good & (np.abs(value) > np.finfo(np.float32).max)  # inf on the float32 grid
    if huge.any():
        r = rows[huge].iloc[0]
        raise ValueError(f"{r['file']!r} line {r['line']}: value {r['value']:g} of "
                         f"{r['name']!r} is beyond the range of float32 (3.4e38), in which the "
                         f"grid holds values; write it in a larger unit or give the variable "
                         f"a plausible range (ranges=).")
    static = _statics(rows[good & is_static], key[good & is_static], n, statics, categorical,
                      report)
    series = rows[good & ~is_static]
    var = pd.Categorical(series["name"], categories=list(variables)).codes.astype(np.int64)
    ev = pd.DataFrame({"r": series["rec"].to_numpy(), "t": series["time"].to_numpy(),
                       "d": var, "v": series["value"].to_numpy()})
    g = ev.groupby(["r", "t", "d"], sort=True)["v"]
    merged = g.mean().reset_index()  # sorted by record, time, variable
    extra = g.size().to_numpy() - 1
    _count(report.duplicates, np.repeat(np.asarray(variables, dtype=object)[merged["d"]],
                                        extra))
    r, t, d, v = (merged[c].to_numpy() for c in ("r", "t", "d", "v"))
    inside = grid_index(t, step, n_steps) >= 0
    _count(report.out_of_window, np.asarray(variables, dtype=object)[d[~inside]])
    report.stays_beyond_window = len(np.unique(r[~inside]))
    x, m, lengths, same = to_grid(r[inside], t[inside], d[inside], v[inside], n,
                               len(variables), step, n_steps)
    report.same_step = {variables[i]: int(k) for i, k in enumerate(same) if k}
    report.no_measurements = np.asarray(record_ids)[m.sum(axis=(1, 2)) == 0].tolist()
    outcomes, y = {}, np.full(n, np.nan)
    if table is not None:
        outcomes = _match_outcomes(table, record_ids, report)
        if outcome is not None:
            y = _outcome_column(outcomes, outcome, table[2])
            report.empty_outcome = _empty_cells(record_ids, y, report)
    return ClinicalData(
        X=x, M=m, delta=time_since_observed(m, step), lengths=lengths, static=static, y=y,
        record_ids=np.asarray(record_ids), variables=tuple(variables),
        static_names=tuple(statics), outcome=outcome if table is not None else None,
        outcomes=outcomes, step=float(step),
        event_offsets=np.searchsorted(r, np.arange(n + 1)).astype(np.int64),
        event_time=t, event_variable=d, event_value=v, report=report,
        categorical=tuple(c for c in categorical if c in statics))


def _statics(rows, key, n, statics, categorical, report) -> np.ndarray:
    """(N, S) float32: each descriptor's value; duplicates keep the mean (numbers) or become
    missing when they conflict (categories)."""
    out = np.full((n, len(statics)), np.nan, dtype=np.float32)
    if not len(rows):
        return out
    frame = pd.DataFrame({"r": rows["rec"].to_numpy(), "s": rows["name"].to_numpy(),
                          "k": key, "v": rows["value"].to_numpy()})
    g = frame.groupby(["r", "s", "k"], sort=False)["v"].agg(["mean", "min", "max", "size"])
    g = g.reset_index()
    _count(report.duplicates, np.repeat(g["k"].to_numpy(), g["size"].to_numpy() - 1))
    conflict = g["s"].isin(categorical).to_numpy() & (g["min"] != g["max"]).to_numpy()
    _count(report.dropped, g["k"][conflict], CONFLICTING)
    col = pd.Categorical(g["s"], categories=list(statics)).codes
    out[g["r"].to_numpy(), col] = np.where(conflict, np.nan, g["mean"].to_numpy())
    return out


def _match_outcomes(table, record_ids, report: ReadReport) -> dict:
    """{column: (N,) float64} of the outcome rows of the records (NaN: no row, or an empty
    cell). Ids are matched as numbers when both sides are whole numbers (``0001`` is record
    1), else as text; the report shows the outcome file's ids as written there."""
    ids, columns, path = table
    mine = np.asarray([str(i) for i in record_ids])
    theirs, keys = ids, mine
    if _integers(ids) and _integers(mine) and len(set(map(int, mine))) == len(mine):
        theirs, keys = [int(i) for i in ids], [int(i) for i in mine]
        seen = {}
        for text, number in zip(ids, theirs, strict=True):
            if number in seen:
                raise ValueError(f"outcome file {path!r} lists record {number} twice (as "
                                 f"{seen[number]!r} and {str(text)!r}); give one row per "
                                 f"record.")
            seen[number] = str(text)
    pos = pd.Index(theirs).get_indexer(keys)  # (N,) row of each record, -1: none
    if (pos < 0).all():
        raise OutcomeMismatch(f"outcome file {path!r} matches none of the {len(mine)} records "
                              f"(its ids begin {', '.join(ids[:3])}, the records' "
                              f"{', '.join(mine[:3])})", "give the outcome file of this set.")
    report.without_outcome = np.asarray(record_ids)[pos < 0].tolist()
    matched = np.zeros(len(ids), dtype=bool)
    matched[pos[pos >= 0]] = True
    report.without_file = [str(i) for i in ids[~matched]]
    return {c: np.where(pos >= 0, col[np.maximum(pos, 0)], np.nan)
            for c, col in columns.items()}


def _integers(ids) -> bool:
    return bool(len(ids)) and bool(pd.Series(ids, dtype=str).str.fullmatch(r"-?\d+").all())


def _empty_cells(record_ids, y, report: ReadReport) -> list:
    """The records that have an outcome row whose cell of the outcome is empty."""
    has_row = ~np.isin(np.asarray(record_ids), np.asarray(report.without_outcome))
    return np.asarray(record_ids)[has_row & np.isnan(y)].tolist()
