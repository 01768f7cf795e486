"""Labelled text from CSV/TSV files: one column of text, one of labels, checked.

Files are read as bytes and decoded as UTF-8 (Latin-1 when that fails, which never loses a
row); bare carriage returns, as in the UCI Sentiment Labelled Sentences files, count as line
ends. The separator is a tab for ``.tsv``/``.tab``/``.txt`` files whose first line has one,
otherwise whatever ``csv.Sniffer`` finds among ``, ; | tab`` (a comma when it finds none).
pandas parses the rows (quoted fields, doubled quotes). When that yields fewer rows than the
file has lines — an unbalanced quote made one field swallow the lines after it, as on a few
lines of ``imdb_labelled.txt`` — and every line on its own has the right number of fields,
the file is read one record per line instead, so no row is lost.
"""

from __future__ import annotations

import csv
import glob
import io
import os
from dataclasses import dataclass

import numpy as np

TEXT_NAMES = ("text", "sentence", "review", "comment", "message", "document")
LABEL_NAMES = ("label", "labels", "class", "sentiment", "target", "category", "y")


@dataclass
class LabelledText:
    texts: list[str]
    labels: np.ndarray  # (N,) strings
    text_column: str
    label_column: str
    files: list[str]


def expand_paths(paths) -> list[str]:
    """Paths and glob patterns -> existing files, in the order given (patterns sorted)."""
    out = []
    for p in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
        p = os.fspath(p)
        if any(c in p for c in "*?["):
            hits = sorted(glob.glob(p))
            if not hits:
                raise FileNotFoundError(f"no file matches {p!r}; check the pattern.")
            out += hits
        elif not os.path.isfile(p):
            raise FileNotFoundError(f"no such file: {p!r}.")
        else:
            out.append(p)
    return out


def _decode(path: str) -> str:
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _separator(path: str, text: str) -> str:
    first = text.split("\n", 1)[0]
    if "\t" in first and (path.lower().endswith((".tsv", ".tab", ".txt")) or "," not in first):
        return "\t"
    try:
        return csv.Sniffer().sniff(text[:20000], delimiters=",;|\t").delimiter
    except csv.Error:
        return ","


def _read_one(path: str, header: bool, sep: str | None):
    import pandas as pd

    text = _decode(path)
    if not text.strip():
        raise ValueError(f"{path} is empty; give a CSV/TSV file with a text and a label "
                         f"column.")
    sep = sep or _separator(path, text)
    lines = [ln for ln in text.split("\n") if ln.strip()]
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, header=0 if header else None, dtype=str,
                            keep_default_na=False, skip_blank_lines=True)
        failure = None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        frame, failure = None, err
    if frame is None or len(frame) != len(lines) - int(header):
        width = frame.shape[1] if frame is not None else _width(lines[0], sep)
        by_line = _per_line(lines, sep, width)
        if by_line is not None:
            frame = pd.DataFrame(by_line[1:] if header else by_line,
                                 columns=by_line[0] if header else None)
    if frame is None:
        raise ValueError(f"{path} could not be parsed with separator {sep!r} ({failure}); "
                         f"check the separator and the quoting.")
    if not header:
        frame.columns = [str(i) for i in range(frame.shape[1])]
    if len(frame) == 0:
        raise ValueError(f"{path} has a header but no rows; give a file with data rows.")
    return frame


def _width(line: str, sep: str) -> int:
    try:
        return len(next(csv.reader([line], delimiter=sep, strict=True)))
    except csv.Error:
        return len(line.split(sep))


def _per_line(lines: list[str], sep: str, width: int) -> list[list[str]] | None:
    """Each line as one record (csv rules within the line, a plain split where its quotes
    do not balance), or None when some line does not have ``width`` fields."""
    rows = []
    for line in lines:
        try:
            row = next(csv.reader([line], delimiter=sep, strict=True))
        except csv.Error:
            row = line.split(sep)
        if len(row) != width:
            return None
        rows.append(row)
    return rows


def _resolve(columns: list[str], spec, role: str, names: tuple, default: int) -> str:
    if spec is None:
        for c in columns:
            if c.strip().lower() in names:
                return c
        return columns[default]
    spec = str(spec)
    if spec in columns:
        return spec
    if spec.lstrip("-").isdigit():
        i = int(spec)
        if -len(columns) <= i < len(columns):
            return columns[i]
        raise ValueError(f"{role} column index {i} is out of range; the file has "
                         f"{len(columns)} columns: {columns}.")
    raise ValueError(f"{role} column {spec!r} not found; the columns are {columns}. Pass a "
                     f"name or a 0-based index.")


def read_labelled_text(paths, text_column=None, label_column=None, header: bool = True,
                       sep: str | None = None) -> LabelledText:
    """Read (text, label) rows from one or more CSV/TSV files (or glob patterns).

    ``text_column``/``label_column``: a name or a 0-based index; by default a column named
    like ``text``/``label`` or else the first/last column. With ``header=False`` columns are
    named "0", "1", ... Empty texts are kept (as ""); a row without a label is an error.
    """
    import pandas as pd

    files = expand_paths(paths)
    if not files:
        raise ValueError("no data file given; pass at least one CSV/TSV path.")
    frames = [_read_one(f, header, sep) for f in files]
    columns = [str(c) for c in frames[0].columns]
    for f, fr in zip(files[1:], frames[1:], strict=True):
        if [str(c) for c in fr.columns] != columns:
            raise ValueError(f"{f} has columns {list(map(str, fr.columns))} but {files[0]} has "
                             f"{columns}; give files with the same columns.")
    if len(columns) < 2:
        raise ValueError(f"{files[0]} has a single column {columns}; a text and a label "
                         f"column are needed (is the separator right?).")
    tcol = _resolve(columns, text_column, "text", TEXT_NAMES, 0)
    lcol = _resolve(columns, label_column, "label", LABEL_NAMES, -1)
    if tcol == lcol:
        raise ValueError(f"the text and label columns are both {tcol!r}; choose two different "
                         f"columns.")
    frame = pd.concat(frames, ignore_index=True)
    labels = frame[lcol].astype(str).str.strip()
    missing = np.flatnonzero(labels.to_numpy() == "")
    if len(missing):
        raise ValueError(f"the label column {lcol!r} is empty on {len(missing)} row(s) (first: "
                         f"data row {missing[0] + 1}); fill or drop those rows.")
    texts = frame[tcol].astype(str).str.strip().tolist()
    return LabelledText(texts, labels.to_numpy(dtype=str), tcol, lcol, files)
