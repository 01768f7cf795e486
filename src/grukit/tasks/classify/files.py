"""The files ``grukit classify`` reads and writes besides metrics.json: data files checked
before they are parsed, unlabelled texts to predict, ``predictions.csv``, and one JSON file
a cross-validation fold (``folds/fold-03.json``) so that ``--resume`` skips finished folds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings

import numpy as np

from ..._io import atomic_text
from ..._runs import UsageError
from .. import folds
from ..folds import FOLDS_DIR, clear_folds  # noqa: F401  (the task CLI imports them here)


def check_data_paths(paths: list[str]) -> list[str]:
    """The files behind ``--data`` (globs expanded); a folder, and a file matched twice (its
    rows would be read twice, the copies on both sides of a split), are refused with one
    sentence saying what to give instead (encodings are the reader's: ``grukit.data.text``)."""
    from ...data.text import expand_paths

    for d in paths:
        if os.path.isdir(d):
            raise UsageError(f"--data {d!r} is a folder; give a CSV/TSV file, or a glob such "
                             f"as {os.path.join(d, '*.csv')!r}.")
    files = expand_paths(paths)
    seen = set()
    for f in files:
        real = os.path.realpath(f)
        if real in seen:
            raise UsageError(f"--data matches {f!r} twice, so its rows would be read twice "
                             f"(copies in both the training and the test rows); give each file "
                             f"once.")
        seen.add(real)
    return files


def read_texts(path: str, text_column=None, header: bool = True, sep: str | None = None
               ) -> list[str]:
    """The texts of one column of an unlabelled CSV/TSV (or of a file of one text a line),
    one a non-blank line or quoted record, in file order. ``text_column``: a name or 0-based
    index; by default one named like ``text`` or else the first column.

    Read by ``grukit.data.text``'s reader of labelled files, so a file gives predict the texts
    it gives training: the same decoding, separator rule and quoted fields (a blank line
    inside one is kept), and when quoting joins lines into fewer records than the file has
    lines (an unbalanced quote, as on a few lines of ``imdb_labelled.txt``) while every line
    on its own has the fields of the first, one record a line. Refused rather than read
    shifted, dropped or predicted: a row with more fields than the header (an unquoted
    separator inside a text), a header that looks like a first data row (its last column's
    name is also a value below it) and, read without a header, a first text that is a column
    name (``text``, ``review``...), and a row that repeats the header (files joined with their
    headers). A header that reads like a text (words, or a word with a sentence's
    punctuation such as 'Great!', and not a known column name) draws a warning.
    """
    from ...data.text import TEXT_NAMES, _read_one

    try:  # the rows as training reads them: blank lines inside a quoted text are kept
        frame = _read_one(path, header, sep)
    except ValueError as err:
        if str(err).startswith(f"{path} is empty;"):
            raise ValueError(f"{path} is empty; give a CSV/TSV file with a text column."
                             ) from None
        raise
    width = frame.shape[1]
    columns = [str(c).strip() for c in frame.columns]
    body = frame.to_numpy(dtype=str).tolist()  # (N, width), a short row's missing fields ""
    if text_column is None:
        col = next((i for i, c in enumerate(columns) if c.lower() in TEXT_NAMES), 0)
    elif str(text_column) in columns:
        col = columns.index(str(text_column))
    elif str(text_column).lstrip("-").isdigit() and \
            -len(columns) <= int(text_column) < len(columns):
        col = int(text_column) % len(columns)
    else:
        raise ValueError(f"text column {text_column!r} not found; the columns are {columns}. "
                         f"Pass a name or a 0-based index.")
    first = body[0][col].strip()
    if not header and first.lower() in TEXT_NAMES and len(body) > 1:
        raise ValueError(f"{path}: the first row's text {first!r} looks like a column name, but "
                         f"the file is read without a header (--no-header); drop --no-header, "
                         f"or delete that row.")
    last = columns[-1]
    if header and width > 1 and col != width - 1 and last and \
            columns[col].lower() not in TEXT_NAMES and any(r[-1].strip() == last for r in body):
        raise ValueError(f"{path}: the header ({columns[col]!r}, {last!r}) looks like a first "
                         f"data row (its {last!r} is also a value of the rows below); read the "
                         f"file without a header (--no-header).")
    name = columns[col]  # words, or a word with a sentence's punctuation ('Great!'): a text
    if header and name.lower() not in TEXT_NAMES and (
            len(name.split()) > 1 or re.search(r"[.!?,;:'\"]", name)):
        warnings.warn(f"{path}: the first line was read as the header, so {columns[col]!r} is "
                      f"a column name and not predicted; if it is a text, read the file without "
                      f"a header (--no-header).", UserWarning, stacklevel=2)
    if header:  # the header again among the rows (files joined with theirs): not a text
        def bare(v: str) -> str:
            return v.strip().lstrip("\ufeff").strip().lower()

        head = [bare(c) for c in columns]
        again = [i for i, r in enumerate(body) if [bare(v) for v in r] == head]
        if again:
            raise ValueError(f"{path}: data row {again[0] + 1} repeats the header {columns}, as "
                             f"when files are joined with their headers; delete that row "
                             f"({len(again)} such row(s) in all).")
    texts = [r[col].strip() for r in body]
    if text_column is None and width > 1:
        check_default_text_column(path, columns[col], texts)
    return texts


def check_default_text_column(path: str, name: str, texts) -> None:
    """One sentence when the text column found by default in a file of several columns (one
    named like ``text``, else the first) is not one of texts: named like labels
    (``label,body``) or holding numbers alone (an ``id``), which would be trained on or
    predicted as the texts."""
    from ...data.text import LABEL_NAMES, TEXT_NAMES

    if name.strip().lower() in TEXT_NAMES:
        return
    if name.strip().lower() in LABEL_NAMES:
        why = "is named like labels"
    else:
        values = [t for t in texts if t]
        try:
            [float(t) for t in values]
        except ValueError:
            return
        if not values:
            return
        why = "holds numbers alone"
    raise ValueError(f"{path}: no column is named like texts ({', '.join(TEXT_NAMES)}), and "
                     f"the first, {name!r}, which would be read as the texts, {why}; name the "
                     f"column of texts with --text-column.")


def predictions_csv(pred: np.ndarray, proba: np.ndarray, classes) -> str:
    """CSV text: index (the row's 0-based position in the input), prediction, and
    ``p_<class>`` per class."""
    import pandas as pd

    frame = pd.DataFrame({"index": np.arange(len(pred)), "prediction": pred})
    for j, c in enumerate(classes):
        frame[f"p_{c}"] = proba[:, j]
    return frame.to_csv(index=False, lineterminator="\n")


def write_predictions(path: str, pred: np.ndarray, proba: np.ndarray, classes) -> None:
    """``predictions.csv`` (see ``predictions_csv``), written atomically."""
    atomic_text(path, predictions_csv(pred, proba, classes))


# -- cross-validation folds on disk --------------------------------------------------------------
def fingerprint(kind: str, inputs, labels, folds: int, config: dict, baseline: str) -> str:
    """What decides a fold's result: the data, the folds, the settings; a fold file written
    under another fingerprint is not reused."""
    h = hashlib.sha256()
    h.update(json.dumps([kind, folds, config, baseline], sort_keys=True).encode())
    for y in labels:
        h.update(str(y).encode() + b"\x1f")
    for x in inputs:
        if isinstance(x, str):
            h.update(x.encode("utf-8", "surrogatepass") + b"\x1e")
        else:
            a = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
            h.update(str(a.shape).encode() + a.tobytes())
    return h.hexdigest()


def write_fold(output: str, k: int, stamp: str, model: dict, base: dict | None) -> None:
    folds.write_fold(output, k, stamp, {"model": model, "baseline": base}, strict=False)


def read_folds(output: str, n: int, stamp: str) -> dict:
    """{k: (model scores, baseline scores)} of the folds finished in ``output``."""
    return {k: (p["model"], p["baseline"])
            for k, p in folds.read_folds(output, n, stamp, ("model", "baseline")).items()}
