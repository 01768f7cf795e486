"""The files ``grukit classify`` reads and writes besides metrics.json: data files checked
before they are parsed, unlabelled texts to predict, ``predictions.csv``, and one JSON file
a cross-validation fold (``folds/fold-03.json``) so that ``--resume`` skips finished folds.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os

import numpy as np

from ..._io import atomic_text
from ..._runs import UsageError
from .. import folds
from ..folds import FOLDS_DIR, clear_folds  # noqa: F401  (the task CLI imports them here)


def check_data_paths(paths: list[str]) -> list[str]:
    """The files behind ``--data`` (globs expanded); a folder is refused with one sentence
    saying what to give instead (encodings are the reader's: ``grukit.data.text``)."""
    from ...data.text import expand_paths

    for d in paths:
        if os.path.isdir(d):
            raise UsageError(f"--data {d!r} is a folder; give a CSV/TSV file, or a glob such "
                             f"as {os.path.join(d, '*.csv')!r}.")
    return expand_paths(paths)


def _decode(path: str) -> str:
    # as grukit.data.text reads labelled files (byte-order marks, UTF-8, else Windows-1252)
    from ...data.text import read_text_file

    return read_text_file(path)


def read_texts(path: str, text_column=None, header: bool = True, sep: str | None = None
               ) -> list[str]:
    """The texts of one column of an unlabelled CSV/TSV (or of a file of one text a line).
    ``text_column``: a name or 0-based index; by default one named like ``text`` or else the
    first column."""
    import pandas as pd

    from ...data.text import TEXT_NAMES

    text = _decode(path)
    if not text.strip():
        raise ValueError(f"{path} is empty; give a CSV/TSV file with a text column.")
    first = text.split("\n", 1)[0]
    if sep is None:
        try:
            sep = csv.Sniffer().sniff(text[:20000], delimiters=",;|\t").delimiter
        except csv.Error:
            sep = "\t" if "\t" in first else ","
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, header=0 if header else None, dtype=str,
                            keep_default_na=False, skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"{path} could not be parsed with separator {sep!r} "
                         f"({' '.join(str(err).split())}); check --sep and the quoting.") \
            from None
    if not header:
        frame.columns = [str(i) for i in range(frame.shape[1])]
    columns = [str(c) for c in frame.columns]
    if len(frame) == 0:
        raise ValueError(f"{path} has a header but no rows; give a file with data rows.")
    if text_column is None:
        col = next((c for c in columns if c.strip().lower() in TEXT_NAMES), columns[0])
    elif str(text_column) in columns:
        col = str(text_column)
    elif str(text_column).lstrip("-").isdigit() and \
            -len(columns) <= int(text_column) < len(columns):
        col = columns[int(text_column)]
    else:
        raise ValueError(f"text column {text_column!r} not found; the columns are {columns}. "
                         f"Pass a name or a 0-based index.")
    return frame[frame.columns[columns.index(col)]].astype(str).str.strip().tolist()


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
