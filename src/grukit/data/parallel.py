"""Parallel text: two aligned files (one sentence a line, line i of each the same sentence;
plain or gzipped) or one TSV file (``source<TAB>target`` a line).

Bad input, and what happens to it:

* files with different line counts: refused in one sentence naming both counts;
* a TSV line without exactly one tab: refused in one sentence naming the line;
* an empty line on either side: the pair is dropped (``empty="skip"``, the default; the count
  is in ``ParallelText.dropped`` and a warning), refused (``empty="error"``) or kept as it is
  (``empty="keep"``: scoring, where an empty source line still has its reference);
* a line over ``max_chars`` characters on either side: dropped (``long="skip"``, the default,
  counted and warned) or refused (``long="error"``);
* bytes that are not UTF-8: refused in one sentence naming the file and line (a UTF-16
  file, by its byte-order mark, as UTF-16);
* line ends: ``\n`` or ``\r\n``; a bare ``\r`` inside a line is part of the sentence, except
  in a file without any ``\n``, whose lines end at ``\r`` (classic Mac OS).

Unknown characters are not this module's business: the tokenizer maps them to its unknown
token (``grukit.tasks.translate`` warns when most of an input is unknown).
"""

from __future__ import annotations

import gzip
import io
import numbers
import os
import warnings
from dataclasses import dataclass, field

POLICIES = ("skip", "error")
EMPTY_POLICIES = POLICIES + ("keep",)


@dataclass
class ParallelText:
    """Aligned sentence pairs. ``lines``: each pair's 1-based line number in the files;
    ``dropped``: {"empty": n, "long": n} pairs left out."""

    src: list[str]
    tgt: list[str]
    lines: list[int] = field(default_factory=list)
    dropped: dict = field(default_factory=lambda: {"empty": 0, "long": 0})

    def __len__(self) -> int:
        return len(self.src)


def _open(path: str):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"expected a file path; got {type(path).__name__}.")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}.")
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a folder; give a text file (one sentence a line, plain "
                         f"or .gz).")
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    raw = gzip.open(path, "rb") if gz else open(path, "rb")
    # lines end at "\n" only (a CRLF's "\r" is stripped by read_lines): a bare "\r" inside a
    # sentence is no line break, so a file of n lines gives n sentences, as `wc -l` counts; a
    # leading byte-order mark is dropped
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="\n")


def read_lines(path_or_stream) -> list[str]:
    """Every line of a file (plain or gzipped) or an open text stream, without its line
    break; non-UTF-8 bytes are refused with the line number."""
    name = getattr(path_or_stream, "name", path_or_stream)
    f = path_or_stream if hasattr(path_or_stream, "read") else _open(path_or_stream)
    out, newline = [], False
    try:
        i = 0
        while True:
            i += 1
            try:
                line = f.readline()
            except UnicodeDecodeError:  # the reader decodes ahead: find the line in bytes
                if i == 1 and _utf16(f if f is path_or_stream else path_or_stream):
                    raise ValueError(f"{name!r} is UTF-16 text (it starts with a UTF-16 "
                                     f"byte-order mark); convert it to UTF-8 first (e.g. iconv "
                                     f"-f utf-16 -t utf-8).") from None
                at = _bad_line_of_stream(f) if f is path_or_stream else \
                    _first_bad_line(path_or_stream)
                where = f"{name!r}" + ("" if at is None else f" line {at}")
                raise ValueError(f"{where} is not UTF-8 text; convert the file to UTF-8 (e.g. "
                                 f"iconv -t utf-8).") from None
            except (OSError, EOFError) as err:
                raise ValueError(f"{name!r} cannot be read ({err}); is the .gz file "
                                 f"complete?") from None
            if not line:
                break
            newline = newline or line.endswith("\n")
            out.append(line.rstrip("\r\n"))
    finally:
        if f is not path_or_stream:
            f.close()
    if len(out) == 1 and not newline and "\r" in out[0]:
        # no "\n" in the whole file, but "\r"s: classic Mac OS line ends, one sentence each
        # (as Python's universal newlines and sacreBLEU read it), not one sentence of them all
        out = out[0].split("\r")
    return out


def _first_bad_line(path) -> int | None:
    """The 1-based number of the first line of ``path`` (plain or gzipped) that is not
    UTF-8, or None."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as raw:
        return _bad_line(raw)


def _utf16(source) -> bool:
    """Whether the file (plain or gzipped) or the re-readable text stream ``source`` starts
    with a UTF-16 byte-order mark."""
    if hasattr(source, "read"):
        raw = getattr(source, "buffer", None)
        if raw is None or not raw.seekable():
            return False
        raw.seek(0)
        return raw.read(2) in (b"\xff\xfe", b"\xfe\xff")
    with open(source, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    with (gzip.open(source, "rb") if gz else open(source, "rb")) as raw:
        return raw.read(2) in (b"\xff\xfe", b"\xfe\xff")


def _bad_line_of_stream(f) -> int | None:
    """The first line that is not UTF-8 of a text stream whose bytes can be read again (its
    ``buffer`` seekable: stdin as ``grukit translate`` reads it), or None (then unknown: the
    decoder reads ahead, so the line it failed on may be a later one)."""
    raw = getattr(f, "buffer", None)
    if raw is None or not raw.seekable():
        return None
    raw.seek(0)
    return _bad_line(raw)


def _bad_line(raw) -> int | None:
    """The 1-based number of the first line of the binary stream ``raw`` that is not UTF-8
    (a leading byte-order mark allowed), or None."""
    for i, line in enumerate(raw, 1):
        try:
            (line[3:] if i == 1 and line.startswith(b"\xef\xbb\xbf") else line).decode("utf-8")
        except UnicodeDecodeError:
            return i
    return None


def _check_policy(name: str, value: str, policies: tuple = POLICIES) -> None:
    if value not in policies:
        raise ValueError(f"{name} must be one of {policies}; got {value!r}.")


def read_parallel(src: str, tgt: str | None = None, *, max_chars: int | None = 1000,
                  empty: str = "skip", long: str = "skip", warn: bool = True) -> ParallelText:
    """Read aligned pairs from ``src`` and ``tgt`` (two files), or from ``src`` alone when it
    is a TSV (``tgt`` None: each line ``source<TAB>target``).

    ``max_chars``: the longest line kept (characters, either side; None: no limit).
    ``empty`` / ``long``: "skip" drops such pairs (counted, warned) or "error" refuses them;
    ``empty="keep"`` keeps a pair with an empty side as it is.
    """
    _check_policy("empty", empty, EMPTY_POLICIES)
    _check_policy("long", long)
    if max_chars is not None and (isinstance(max_chars, bool) or not isinstance(
            max_chars, numbers.Integral) or max_chars < 1):  # True would be a limit of 1
        raise ValueError(f"max_chars must be a positive integer or None; got {max_chars!r}.")
    max_chars = None if max_chars is None else int(max_chars)  # np.int64 as an int
    if tgt is None:
        rows = read_lines(src)
        s, t = [], []
        for i, row in enumerate(rows, start=1):
            if row.count("\t") != 1:
                if not row.strip():  # an empty pair: dropped, kept or refused below
                    s.append("")
                    t.append("")
                    continue
                raise ValueError(f"{src!r} line {i} has {row.count(chr(9))} tabs; a parallel "
                                 f"TSV holds source<TAB>target, one tab a line (or give two "
                                 f"aligned files).")
            a, b = row.split("\t")
            s.append(a)
            t.append(b)
        where = f"{src!r}"
    else:
        s, t = read_lines(src), read_lines(tgt)
        if len(s) != len(t):
            raise ValueError(f"the files are not aligned: {src!r} has {len(s)} lines and "
                             f"{tgt!r} has {len(t)}; line i of each must be the same "
                             f"sentence.")
        where = f"{src!r} / {tgt!r}"
    if not s:
        raise ValueError(f"{where}: no sentences (the file is empty).")
    out = ParallelText([], [])
    for i, (a, b) in enumerate(zip(s, t, strict=True), start=1):
        a, b = a.strip(), b.strip()
        if (not a or not b) and empty != "keep":
            if empty == "error":
                raise ValueError(f"{where} line {i} is empty on the "
                                 f"{'source' if not a else 'target'} side; remove the pair or "
                                 f"read with empty='skip'.")
            out.dropped["empty"] += 1
            continue
        if max_chars is not None and max(len(a), len(b)) > max_chars:
            if long == "error":
                raise ValueError(f"{where} line {i} has {max(len(a), len(b))} characters, over "
                                 f"max_chars={max_chars}; split the sentence, raise max_chars "
                                 f"or read with long='skip'.")
            out.dropped["long"] += 1
            continue
        out.src.append(a)
        out.tgt.append(b)
        out.lines.append(i)
    if not out.src:
        raise ValueError(f"{where}: every pair was empty or over max_chars={max_chars}; no "
                         f"sentences left.")
    if warn and (out.dropped["empty"] or out.dropped["long"]):
        long = "" if max_chars is None else \
            f" and {out.dropped['long']} over {max_chars} characters"  # none without a limit
        warnings.warn(f"{where}: left out {out.dropped['empty']} pair(s) with an empty "
                      f"side{long}; {len(out)} kept.", UserWarning, stacklevel=2)
    return out
