"""Training text for a language model: a text file, a folder of text files, or a CSV column;
the split into training and validation text; token streams cut into batches.

    text = read_text("tinyshakespeare.txt")           # or a folder, or ("x.csv", "column")
    train, val = split_text(text, 0.1)                # the last 10% for validation
"""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import torch

TEXT_SUFFIXES = (".txt", ".md", ".text", ".rst")


def _decode(raw: bytes, path: str) -> str:
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # its NUL bytes would say "binary"
        raise ValueError(f"{path!r} is UTF-16 text (it starts with a UTF-16 byte-order mark); "
                         f"convert it to UTF-8 first (e.g. iconv -f utf-16 -t utf-8).")
    if b"\0" in raw[:1 << 20]:
        raise ValueError(f"{path!r} looks binary (it holds NUL bytes), not text; give a UTF-8 "
                         f"text file.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path!r} is not UTF-8 text (byte {err.start} cannot be decoded); "
                         f"convert it to UTF-8 first.") from None


def read_text(path: str, column: str | int | None = None) -> str:
    """The text of ``path``: a file (UTF-8), a folder (its text files, sorted by name,
    joined with a blank line), or with ``column`` a CSV file's column (name or 0-based index,
    an int or a str; its cells below the header row joined with newlines). Empty, binary and
    non-UTF-8 input is refused."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"data must be a path or a str of text; got {type(path).__name__}.")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no file or folder at {path!r}.")
    if os.path.isdir(path):
        if column is not None:
            raise ValueError("column applies to one CSV file, not a folder; give the CSV file.")
        names = sorted(n for n in os.listdir(path) if n.lower().endswith(TEXT_SUFFIXES)
                       and os.path.isfile(os.path.join(path, n)))  # not a folder "notes.md"
        if not names:
            raise ValueError(f"the folder {path!r} holds no text files "
                             f"({', '.join(TEXT_SUFFIXES)}); give a folder of text files.")
        parts = []
        for n in names:
            with open(os.path.join(path, n), "rb") as f:
                parts.append(_decode(f.read(), os.path.join(path, n)))
        text = "\n\n".join(p for p in parts if p)
    else:
        with open(path, "rb") as f:
            text = _decode(f.read(), path)
        if column is not None:
            text = _csv_column(text, column, path)
    if not text.strip():
        raise ValueError(f"{path!r} holds no text (it is empty or only whitespace); give a "
                         f"file with the text to learn.")
    return text


def _csv_column(text: str, column: str | int, path: str) -> str:
    # a file-like reader with newline="": a quoted cell's line breaks stay in it (the lines of
    # str.splitlines came back joined without them, and it also splits at \u2028, \x0c, ...)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        raise ValueError(f"{path!r} holds no text (it is empty); give a CSV file with a "
                         f"header row.")
    header = rows[0]
    name = str(column)  # an index may come as an int (the API) or a str (--column 1)
    if name in header:
        k = header.index(name)
    elif name.lstrip("-").isdigit() and -len(header) <= int(name) < len(header):
        k = int(name) % len(header)
    else:
        raise ValueError(f"{path!r} has no column {column!r}; its columns are "
                         f"{', '.join(map(repr, header[:12]))} (or give a 0-based index).")
    # the first row names the columns, whether the column is given by name or by index (the
    # header's name was the first line of the text read by index)
    return "\n".join(r[k] for r in rows[1:] if len(r) > k)


def split_text(text: str, val_fraction: float) -> tuple[str, str]:
    """(training text, validation text): the last ``val_fraction`` of the characters is the
    validation text (as nanoGPT and char-rnn split tinyshakespeare)."""
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) \
            or not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be a number in [0, 1); got {val_fraction!r}.")
    cut = len(text) - int(round(len(text) * val_fraction))
    return text[:cut], text[cut:]


def streams(ids: np.ndarray, batch: int) -> torch.Tensor:
    """The token stream cut into ``batch`` contiguous rows (B, N // B) (char-rnn's layout:
    row b continues across windows, so a state carried from window to window is the state
    of that row's text so far)."""
    n = len(ids) // batch
    return torch.as_tensor(ids[: n * batch], dtype=torch.long).view(batch, n)  # (B, N/B)


def windows(rows: torch.Tensor, seq_len: int):
    """(start, x (B, T), y (B, T)) of consecutive windows over ``rows`` (B, N); y is x one
    step later; the last window may be shorter."""
    n = rows.shape[1]
    for i in range(0, n - 1, seq_len):
        t = min(seq_len, n - 1 - i)
        yield i, rows[:, i:i + t], rows[:, i + 1:i + 1 + t]


def random_windows(ids: torch.Tensor, batch: int, seq_len: int, gen: torch.Generator):
    """x, y (B, T) at random offsets of the stream ``ids`` (N,) (nanoGPT's batches)."""
    start = torch.randint(0, len(ids) - seq_len - 1, (batch,), generator=gen)  # (B,)
    idx = start[:, None] + torch.arange(seq_len + 1)[None]  # (B, T + 1)
    w = ids[idx]
    return w[:, :-1], w[:, 1:]
