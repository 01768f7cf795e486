"""Class labels: checked to be categorical, encoded as 0..K-1 in sorted order."""

from __future__ import annotations

from numbers import Real

import numpy as np


def as_labels(labels, what: str = "labels") -> np.ndarray:
    """``labels`` as a 1-D array; one sentence for a single value, a table, or a missing
    label (None, NaN)."""
    if isinstance(labels, (str, bytes)) or np.ndim(labels) == 0:
        raise TypeError(f"{what}: give one label per input (a list or array); got a single "
                        f"{type(labels).__name__}.")
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"{what}: labels must be one-dimensional; got shape {y.shape}.")
    if y.dtype.kind == "O" or isinstance(labels, (list, tuple)):  # a list's NaN beside
        # strings would become the text 'nan', pandas' NA '<NA>', NaT 'NaT': pandas.isna
        # knows every missing marker (None, NaN of any float type, pd.NA, NaT)
        import pandas as pd

        values = np.empty(len(y), dtype=object)  # (N,), each label as given
        values[:] = list(labels)
        bad = np.flatnonzero(pd.isna(values)).tolist()
        if bad:
            raise ValueError(f"{what}: label {bad[0]} is missing (None/NaN; {len(bad)} row(s) "
                             f"in all); fill or drop those rows.")
    if y.dtype.kind == "O":
        values = y.tolist()
        kinds = {type(v).__name__ for v in values}
        if len(kinds) > 1:  # np.unique cannot sort str beside int; the text is what they say
            numbers = all(isinstance(v, Real) and not isinstance(v, (bool, np.bool_))
                          for v in values)  # numpy's beside Python's (np.int64(1), 2): numbers
            y = np.asarray(values) if numbers else y.astype(str)
    elif y.dtype.kind == "f" and not np.isfinite(y).all():
        i = int(np.flatnonzero(~np.isfinite(y))[0])
        raise ValueError(f"{what}: label {i} is {y[i]} (missing); fill or drop those rows.")
    return y


def encode_labels(labels, folds: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, y)``: the sorted distinct labels and each row's index among them.

    Refuses, with the reason, labels that cannot train a classifier: none, a single class,
    a numeric column that looks continuous (fractional values, many distinct ones), a column
    whose values are nearly all distinct (an ID or the text itself), and — for k-fold
    cross-validation — a class with fewer rows than folds.
    """
    y = as_labels(labels)
    n = len(y)
    if n == 0:
        raise ValueError("there are no rows; give data with at least two classes.")
    classes, index, counts = np.unique(y, return_inverse=True, return_counts=True)
    k = len(classes)
    if k < 2:
        raise ValueError(f"every label is {str(classes[0])!r}: a single class; a classifier needs "
                         f"at least two (is the label column right?).")
    numeric = _as_float(classes)
    fractional = None if numeric is None else numeric != np.round(numeric)
    if fractional is not None and fractional.any() and k > 10:
        example = str(classes[np.argmax(fractional)])
        raise ValueError(f"the labels are numbers with {k} distinct values, some fractional "
                         f"(e.g. {example!r}): that is "
                         f"a regression target, not categories; bin it into classes or "
                         f"choose the label column.")
    if k > 20 and k > n // 2:
        raise ValueError(f"the labels have {k} distinct values among {n} rows, so they are "
                         f"not categories (an ID or free text?); choose the label column.")
    if folds > 1 and counts.min() < folds:
        small = str(classes[np.argmin(counts)])
        raise ValueError(f"class {small!r} has {counts.min()} row(s), fewer than the {folds} "
                         f"folds; use fewer folds or drop that class.")
    return classes, index.astype(np.int64)


def _as_float(values: np.ndarray) -> np.ndarray | None:
    try:
        out = values.astype(np.float64)
    except (TypeError, ValueError):
        return None
    return out if np.all(np.isfinite(out)) else None
