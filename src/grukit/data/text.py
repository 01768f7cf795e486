"""Labelled text from CSV/TSV files: one column of text, one of labels, checked.

Files are read as bytes and decoded as UTF-8 (Latin-1 when that fails, which never loses a
row); bare carriage returns, as in the UCI Sentiment Labelled Sentences files, count as line
ends. The separator is a tab for ``.tsv``/``.tab``/``.txt`` files whose first line has one,
otherwise whatever ``csv.Sniffer`` finds among ``, ; | tab`` (a comma when it finds none);
a first line ``sep=;``, which Excel reads and some exports write, names it and is skipped.
pandas parses the rows (quoted fields, doubled quotes). When that yields fewer rows than the
file has lines — an unbalanced quote made one field swallow the lines after it, as on a few
lines of ``imdb_labelled.txt`` — and every line on its own has the right number of fields,
the file is read one record per line instead, so no row is lost. A row with more fields than
the header (an unquoted separator inside a text) is refused, naming its line, rather than
read with its columns shifted.
"""

from __future__ import annotations

import codecs
import csv
import glob
import io
import os
import re
import warnings
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
        elif os.path.isdir(p):
            raise IsADirectoryError(f"{p!r} is a folder; give a CSV/TSV file, or a glob such "
                                    f"as {os.path.join(p, '*.csv')!r}.")
        elif not os.path.isfile(p):
            raise FileNotFoundError(f"no such file: {p!r}.")
        else:
            out.append(p)
    return out


# Byte-order marks, longest first (the UTF-32-LE mark starts with the UTF-16-LE one).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"), (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
         (codecs.BOM_UTF8, "utf-8", "UTF-8"), (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
         (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"))
# Formats people give by mistake for a CSV, by their first bytes.
_MAGIC = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
          (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook?)"),
          (b"\x1f\x8b", "gzip-compressed"), (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook"),
          (b"PAR1", "a Parquet file"), (b"SQLite format 3", "an SQLite database"),
          (b"\x93NUMPY", "a NumPy .npy array"))


def _windows_1252(err: UnicodeDecodeError):
    # the five bytes Windows-1252 leaves undefined map to the code points of the same value,
    # as the WHATWG encoding standard (what browsers call "windows-1252") does
    return err.object[err.start:err.end].decode("latin-1"), err.end


codecs.register_error("grukit-windows-1252", _windows_1252)


def read_text_file(path, encoding: str | None = None) -> str:
    """The text of a data file, decoded; lines end with "\\n" whatever they ended with.

    With ``encoding=None``: a byte-order mark decides (UTF-8, UTF-16 or UTF-32); without
    one, UTF-16 without a mark is recognised by its NUL bytes, then UTF-8 is tried and, when
    the bytes are not UTF-8, the file is read as Windows-1252 (Latin-1 with the quotes,
    dashes and euro sign of 0x80-0x9F), the usual encoding of spreadsheets saved on Windows
    in Western Europe, and a ``UnicodeWarning`` names the file and the encoding assumed (pass
    ``encoding=`` to choose another). A folder, a missing file, a binary file (an image, a
    workbook, an archive...) or bytes that are not valid in the ``encoding`` given are
    refused with one sentence naming the file.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a folder; give a file (CSV/TSV text).")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}.")
    with open(path, "rb") as fh:
        raw = fh.read()
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r} for {path!r}; give a Python codec "
                             f"name such as 'utf-8', 'cp1252' or 'utf-16'.") from None
        return _lines(_strict(raw, encoding, path, encoding), path)
    for bom, codec, name in _BOMS:
        if raw.startswith(bom):
            return _lines(_strict(raw[len(bom):], codec, path, name + " (it has a " + name
                                  + " byte-order mark)"), path)
    for magic, what in _MAGIC:
        if raw.startswith(magic):
            raise ValueError(f"{path!r} is {what}, not a text file; give a CSV/TSV text file.")
    if b"\x00" in raw:
        codec = _utf16_without_bom(raw)
        if codec is None:
            raise ValueError(f"{path!r} is a binary file (it holds NUL bytes), not text; give "
                             f"a CSV/TSV text file.")
        return _lines(_strict(raw, codec, path, "UTF-16 (it has no byte-order mark)"), path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        text = raw.decode("cp1252", errors="grukit-windows-1252")
        warnings.warn(f"{path!r} is not UTF-8 (byte 0x{raw[err.start]:02X} at offset "
                      f"{err.start}), so it was read as Windows-1252; if its accented letters "
                      f"look wrong, save it as UTF-8 or pass its encoding.", UnicodeWarning,
                      stacklevel=3)
    return _lines(text, path)


def _strict(raw: bytes, codec: str, path: str, name: str) -> str:
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path!r} is not valid {name}: byte 0x{raw[err.start]:02X} at "
                         f"offset {err.start} ({err.reason}); save it as UTF-8.") from None


def _utf16_without_bom(raw: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when the NUL bytes sit at every other position, as in mostly
    ASCII text written in UTF-16 without a byte-order mark; None otherwise."""
    if len(raw) % 2:
        return None
    head = raw[:4096]
    even, odd = head[0::2].count(0), head[1::2].count(0)
    half = len(head) // 2
    for codec, zeros, other in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if zeros > 0.6 * half and other == 0:
            try:
                raw.decode(codec)
            except UnicodeDecodeError:
                return None
            return codec
    return None


def _lines(text: str, path: str) -> str:
    if "\x00" in text:
        raise ValueError(f"{path!r} holds NUL characters, so it is not text; give a CSV/TSV "
                         f"text file.")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode(path: str, encoding: str | None = None) -> str:
    return read_text_file(path, encoding)


def _separator(path: str, text: str) -> str:
    first = text.split("\n", 1)[0]
    if "\t" in first and (path.lower().endswith((".tsv", ".tab", ".txt")) or "," not in first):
        return "\t"
    try:
        return csv.Sniffer().sniff(text[:20000], delimiters=",;|\t").delimiter
    except csv.Error:
        return ","


def _records(text: str, sep: str) -> tuple[list[list[str]], list[int]]:
    """The records of the non-blank lines of ``text`` (csv rules: quoted fields may hold the
    separator and line ends) and the 1-based line of the file each starts on; one record a
    line instead when quoting joined lines and every line on its own has the first line's
    number of fields. A separator of several characters is a regular expression, as pandas
    reads it (no quoting then)."""
    numbered = [(i, ln) for i, ln in enumerate(text.split("\n"), 1) if ln.strip()]
    lines, numbers = [ln for _, ln in numbered], [i for i, _ in numbered]
    if len(sep) > 1:
        return [re.split(sep, ln) for ln in lines], numbers
    reader = csv.reader([ln + "\n" for ln in lines], delimiter=sep, strict=True)
    rows, starts, start = [], [], 0
    try:
        for row in reader:
            rows.append(row)
            starts.append(numbers[start])
            start = reader.line_num  # lines read so far: the next record starts after them
    except csv.Error:
        rows = None
    if rows is None or len(rows) != len(lines):
        by_line = [_line_fields(ln, sep) for ln in lines]
        if rows is None or all(len(r) == len(by_line[0]) for r in by_line):
            rows, starts = by_line, numbers
    return rows, starts


def _line_fields(line: str, sep: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=sep, strict=True))
    except csv.Error:  # quotes that do not balance within the line: a plain split
        return line.split(sep)


def _refuse_long_rows(path: str, rows: list[list[str]], lines: list[int], sep: str,
                      header: bool) -> None:
    """One sentence for the first row with more fields than the first (the header): an
    unquoted separator inside a text, which a reader would otherwise take for a column
    break and shift the row's fields (pandas even takes the header's first column for an
    index when every row has one field more)."""
    width = len(rows[0])
    for row, line in zip(rows[1:], lines[1:], strict=True):
        if len(row) > width:
            raise ValueError(f"{path}: line {line} has {len(row)} fields with separator {sep!r} "
                             f"but the {'header' if header else 'first row'} has {width}; "
                             f"put the texts that hold it in double quotes (or delete a separator "
                             f"at the line's end), or pass the separator the file uses (--sep; "
                             f"for one text a line, a character no text holds, such as a tab).")


def _read_one(path: str, header: bool, sep: str | None, encoding: str | None = None):
    import pandas as pd

    text = _decode(path, encoding)
    first, _, rest = text.partition("\n")
    excel = re.fullmatch(r'\s*"?sep=(.)"?\s*', first)  # Excel's separator line: "sep=;"
    if excel:  # its separator; the line left blank, so that line numbers stay the file's
        sep, text = sep or excel.group(1), "\n" + rest
    if not text.strip():  # nothing, or Excel's separator line alone
        raise ValueError(f"{path} is empty; give a CSV/TSV file with a text and a label "
                         f"column.")
    sep = sep or _separator(path, text)
    records = _records(text, sep)
    _refuse_long_rows(path, *records, sep, header)
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
        if by_line is not None and (frame is None or _quotes_swallowed_rows(
                frame, by_line[1:] if header else by_line)):
            frame = pd.DataFrame(by_line[1:] if header else by_line,
                                 columns=by_line[0] if header else None)
    if frame is None:
        raise ValueError(f"{path} could not be parsed with separator {sep!r} ({failure}); "
                         f"check the separator and the quoting.")
    if not header:
        frame.columns = [str(i) for i in range(frame.shape[1])]
    if len(frame) == 0:
        raise ValueError(f"{path} has a header but no rows; give a file with data rows.")
    frame = frame.fillna("")  # a short row's missing fields: "" (not the text "nan")
    # the header as written: pandas renames a second 'label' to 'label.1'
    frame.attrs["header"] = [str(h).strip().lstrip("\ufeff").strip() for h in records[0][0]] \
        if header and records[0] else []
    return frame


def _quotes_swallowed_rows(frame, by_line: list[list[str]]) -> bool:
    """Whether the records that span lines in ``frame`` (the CSV reading) are rows joined by
    a stray quote rather than texts quoted over several lines: the lines inside them, read
    one record a line (``by_line``), hold in some label-like column (at most 20 values) only
    values the CSV reading's records hold there, as the rows of a file whose quotes are
    literal characters do (imdb_labelled.txt: '"You'll love it!\t1\nThis movie is
    BAD.\t0\n...' read as one text); a quoted text's lines hold pieces of text there."""
    seen = {tuple(r) for r in frame.itertuples(index=False)}
    inside = [r for r in by_line if tuple(r) not in seen]  # lines of the multi-line records
    if not inside:
        return False
    for j in range(frame.shape[1]):
        values = set(frame.iloc[:, j])
        if len(values) <= 20 and all(r[j] in values for r in inside):
            return True
    return False


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
        row = _line_fields(line, sep)
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
                       sep: str | None = None, *, encoding: str | None = None) -> LabelledText:
    """Read (text, label) rows from one or more CSV/TSV files (or glob patterns).

    ``text_column``/``label_column``: a name or a 0-based index; by default a column named
    like ``text``/``label`` or else the first/last column. With ``header=False`` columns are
    named "0", "1", ... Files are decoded as :func:`read_text_file` says (``encoding``
    overrides it). Fields are kept as written ("NA" or "None" is a text or a class like any
    other); empty texts are kept (as ""), but a file whose texts are all empty, a row without
    a label (or with the label "nan", as pandas writes a missing one) is an error. A
    ``header=False`` read of a file whose first row names the columns (``text,label``), and a
    header row that looks like data (its label is also a label of the rows below), are
    refused; a label column whose every value is distinct (10 rows or more) draws a warning,
    since it is most likely the wrong column.
    """
    import pandas as pd

    files = expand_paths(paths)
    if not files:
        raise ValueError("no data file given; pass at least one CSV/TSV path.")
    frames = [_read_one(f, header, sep, encoding) for f in files]
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
    for f, fr in zip(files, frames, strict=True):
        for role, name in (("text", tcol), ("label", lcol)):
            where = [i + 1 for i, h in enumerate(fr.attrs.get("header", [])) if h == name]
            if len(where) > 1:  # pandas' first of them, taken without a word
                raise ValueError(f"{f}: the header names the {role} column {name!r} twice "
                                 f"(columns {where[0]} and {where[1]}), so it cannot say which "
                                 f"is meant; rename one of them.")
    for f, fr in zip(files, frames, strict=True):
        _check_header(f, fr, header, tcol, lcol, named=label_column is not None
                      and str(label_column) in columns)
    frame = pd.concat(frames, ignore_index=True)
    labels = frame[lcol].astype(str).str.strip()
    missing = np.flatnonzero(labels.isin(["", "nan", "NaN"]).to_numpy())
    if len(missing):
        f, row = _where(files, frames, missing[0])
        raise ValueError(f"{f}: the label column {lcol!r} is empty on {len(missing)} row(s) "
                         f"(first: data row {row}); fill or drop those rows.")
    _refuse_numbers_written_two_ways(files, frames, labels, lcol)
    texts = frame[tcol].astype(str).str.strip().tolist()
    if not any(texts):
        raise ValueError(f"the text column {tcol!r} of {', '.join(files)} is empty on every row; "
                         f"choose the column that holds the texts.")
    n = len(labels)
    if n >= 10 and labels.nunique() == n:
        warnings.warn(f"the label column {lcol!r} of {', '.join(files)} has a different value "
                      f"on each of its {n} rows (e.g. {labels.iloc[0]!r}), so it is most likely "
                      f"not the labels; choose the label column by name or index.", UserWarning,
                      stacklevel=2)
    return LabelledText(texts, labels.to_numpy(dtype=str), tcol, lcol, files)


def _refuse_numbers_written_two_ways(files, frames, labels, lcol: str) -> None:
    """One sentence when one whole-number class is written with and without decimal zeros
    ('1' and '1.0', as pandas writes an integer column that held a missing value): read as
    written they were two classes of one."""
    whole = labels.str.fullmatch(r"[+-]?\d+(\.0*)?")
    if not whole.any():
        return
    spelled = labels[whole]
    body = spelled.str.replace(r"\.0*$", "", regex=True)  # '-01.0' -> '-01'
    digits = body.str.lstrip("+-").str.lstrip("0")  # the magnitude: '1', or '' for zero
    value = digits.where(digits != "", "0")
    value = value.where(~body.str.startswith("-") | (value == "0"), "-" + value)  # '-1'; '-0' is 0
    for _, group in spelled.groupby(value, sort=False):
        ways = list(dict.fromkeys(group))
        if len(ways) > 1:
            f, row = _where(files, frames, int(group.index[group != ways[0]][0]))
            raise ValueError(f"the label column {lcol!r} writes one number two ways, "
                             f"{ways[0]!r} and {ways[1]!r} (data row {row} of {f}), which "
                             f"would be two classes; write every label one way.")


def _where(files, frames, row: int) -> tuple[str, int]:
    """(file, 1-based data row in it) of a 0-based row of the concatenated frames."""
    for f, fr in zip(files, frames, strict=True):
        if row < len(fr):
            return f, row + 1
        row -= len(fr)
    return files[-1], row + 1


def _check_header(path: str, frame, header: bool, tcol: str, lcol: str, named: bool) -> None:
    """Refuse a header read as data (``header=False`` on ``text,label``), data read as a
    header (the first row of a file without one) and a row that repeats the header (files
    joined with their headers, whose repeated header would train as a class of its own)."""
    labels = frame[lcol].astype(str).str.strip()
    if not header:
        first_t, first_l = str(frame[tcol].iloc[0]).strip(), labels.iloc[0]
        named_t, named_l = first_t.lower() in TEXT_NAMES, first_l.lower() in LABEL_NAMES
        # a column name in either place ('review,rating' as much as 'text,label'), above a
        # label no other row has: the header, which would train as a class of one row
        if (named_t or named_l) and (labels == first_l).sum() == 1 and (
                named_t and named_l or len(labels) > 1):
            raise ValueError(f"{path}: the first row ({first_t!r}, {first_l!r}) looks like a "
                             f"header, but the file is read without one (--no-header); drop "
                             f"--no-header, or delete that row.")
    elif not named and lcol.strip() and (labels == lcol.strip()).any() \
            and tcol.strip().lower() not in TEXT_NAMES:
        raise ValueError(f"{path}: the header ({tcol!r}, {lcol!r}) looks like a first data row "
                         f"(its label {lcol.strip()!r} is also a label of the rows below); read "
                         f"the file with header=False (--no-header).")
    else:  # the header again among the rows (files joined with theirs): a class of one row
        def bare(values):
            return values.astype(str).str.strip().str.lstrip("\ufeff").str.strip().str.lower()

        again = (bare(frame[tcol]) == tcol.strip().lstrip("\ufeff").strip().lower()) & \
            (bare(frame[lcol]) == lcol.strip().lstrip("\ufeff").strip().lower())
        if again.any():
            row = int(np.flatnonzero(again.to_numpy())[0]) + 1
            raise ValueError(f"{path}: data row {row} repeats the header ({tcol!r}, {lcol!r}), "
                             f"as when files are joined with their headers; delete that row "
                             f"({int(again.sum())} such row(s) in all).")
