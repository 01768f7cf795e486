"""The files ``grukit classify`` reads and writes besides metrics.json: data files checked
before they are parsed, unlabelled texts to predict, ``predictions.csv``, and one JSON file
a cross-validation fold (``folds/fold-03.json``) so that ``--resume`` skips finished folds.
"""

from __future__ import annotations

import codecs
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
    """The files behind ``--data`` (globs expanded), each one a readable text file: a
    folder, or a UTF-16/UTF-32 file (which the reader would take for Latin-1 and garble), is
    refused with one sentence saying what to give instead."""
    from ...data.text import expand_paths

    for d in paths:
        if os.path.isdir(d):
            raise UsageError(f"--data {d!r} is a folder; give a CSV/TSV file, or a glob such "
                             f"as {os.path.join(d, '*.csv')!r}.")
    files = expand_paths(paths)
    for f in files:
        with open(f, "rb") as fh:
            head = fh.read(4096)
        enc = _wide_encoding(head)
        if enc:
            raise UsageError(f"{f} is {enc}-encoded text; grukit reads UTF-8 (or Latin-1): "
                             f"convert it, e.g. `iconv -f {enc} -t UTF-8 {f} > "
                             f"{os.path.splitext(f)[0]}-utf8{os.path.splitext(f)[1]}`.")
    return files


def _wide_encoding(head: bytes) -> str | None:
    """'UTF-16'/'UTF-32' when ``head`` starts with their byte-order mark or, without one,
    is full of NUL bytes (every other byte for ASCII text in UTF-16)."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "UTF-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16"
    if head and head.count(0) > len(head) // 4:
        return "UTF-32" if head.count(0) > len(head) // 2 else "UTF-16"
    return None


def _decode(path: str) -> str:
    # as grukit.data.text reads labelled files: UTF-8 (with or without BOM), else Latin-1,
    # bare carriage returns as line ends
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


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
