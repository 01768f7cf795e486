"""A folder of labelled recordings: the label (and speaker) of each wav file from its name or
from a CSV.

    rec = read_audio_folder("fsdd/recordings")                      # {digit}_{speaker}_{index}
    rec = read_audio_folder("clips", pattern=r"(?P<label>[a-z]+)-\\d+\\.wav")
    rec = read_audio_folder("clips", csv="labels.csv")               # file,label[,speaker]
    train, test = rec.split("official")                              # FSDD: index 0-4 is test

The Free Spoken Digit Dataset names its files ``{digit}_{speaker}_{index}.wav``; index 0-4
of every speaker and digit is its official test split.
"""

from __future__ import annotations

import csv as _csv
import os
import re
from dataclasses import dataclass

import numpy as np

FSDD_PATTERN = r"(?P<label>\d+)_(?P<speaker>[^_]+)_(?P<index>\d+)\.(?i:wav|flac|ogg|mp3|aiff?)"
AUDIO_EXT = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")  # what read_wav (libsndfile) reads
# audio that libsndfile cannot read: refused by name rather than silently left out
OTHER_AUDIO = (".m4a", ".aac", ".opus", ".wma", ".amr", ".webm")
FSDD_TEST_INDEX = 5  # index < 5: the official test split


@dataclass
class Recordings:
    """Files of a folder with their labels; ``speakers`` and ``indices`` when known."""

    folder: str
    paths: list[str]
    labels: np.ndarray  # (N,) str
    speakers: np.ndarray | None = None  # (N,) str
    indices: np.ndarray | None = None  # (N,) int, the take of that speaker and label

    def __len__(self) -> int:
        return len(self.paths)

    def take(self, idx) -> Recordings:
        """The recordings at ``idx``: indices, or a boolean mask (N,) as numpy takes it."""
        idx = np.asarray(idx)
        if idx.dtype == bool:  # cast to int64 it would be indices 0 and 1
            if idx.shape != (len(self),):
                raise ValueError(f"a boolean mask of {idx.size} value(s) cannot select from "
                                 f"{len(self)} recordings; give one value per recording.")
            idx = np.flatnonzero(idx)
        elif idx.size and idx.dtype.kind not in "iu":
            raise ValueError(f"take needs whole-number indices or a boolean mask; got "
                             f"{idx.dtype} values.")
        idx = idx.astype(np.int64).reshape(-1)
        return Recordings(self.folder, [self.paths[i] for i in idx], self.labels[idx],
                          None if self.speakers is None else self.speakers[idx],
                          None if self.indices is None else self.indices[idx])

    def split(self, how: str = "official") -> tuple[Recordings, Recordings]:
        """(train, test): ``"official"``, FSDD's (take index 0-4 is test)."""
        if how != "official":
            raise ValueError(f"split must be 'official' (use speaker_folds for leave-one-"
                             f"speaker-out); got {how!r}.")
        if self.indices is None:
            raise ValueError(f"{self.folder!r}: the official split needs each file's take "
                             f"index (FSDD names digit_speaker_index.wav, or a name pattern "
                             f"with a (?P<index>...) group; a labels CSV gives none), so hold "
                             f"each speaker out instead (--split speaker, speaker_folds(); a "
                             f"CSV needs a speaker column for it).")
        test = self.indices < FSDD_TEST_INDEX
        if test.all():  # evaluate scores such a folder whole; only training needs both
            raise ValueError(f"{self.folder!r}: the official split puts every file in the "
                             f"test set (take indices 0-4 are test), leaving nothing to train "
                             f"on; to train, give a folder that also holds takes 5 and up.")
        if not test.any():
            raise ValueError(f"{self.folder!r}: the official split puts no file in the test "
                             f"set (take indices 0-4 are test), so there is nothing to score; "
                             f"give a folder that holds takes 0-4.")
        return self.take(np.flatnonzero(~test)), self.take(np.flatnonzero(test))

    def speaker_folds(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Leave-one-speaker-out: [(speaker, train indices, test indices)] for every speaker."""
        if self.speakers is None:
            raise ValueError(f"{self.folder!r}: the speaker split needs each file's speaker "
                             f"(from the name pattern's (?P<speaker>...) group or a CSV "
                             f"speaker column).")
        names = sorted(set(self.speakers.tolist()))
        if len(names) < 2:
            raise ValueError(f"{self.folder!r} has a single speaker ({names[0]!r}); "
                             f"leave-one-speaker-out needs two or more.")
        return [(s, np.flatnonzero(self.speakers != s), np.flatnonzero(self.speakers == s))
                for s in names]


def read_audio_folder(folder: str, pattern: str = FSDD_PATTERN,
                      csv: str | None = None) -> Recordings:
    """The labelled recordings of ``folder``: each file's label from ``pattern`` (a regular
    expression matched against the whole file name, with a ``label`` group and optionally
    ``speaker`` and ``index``), or from ``csv`` (columns ``file`` and ``label``, optionally
    ``speaker``; file names relative to the folder). Files the pattern does not match are an
    error that names one, so that nothing is silently left out."""
    if not os.path.isdir(folder):
        if os.path.exists(folder):
            raise ValueError(f"{folder!r} is a file; give the folder that holds the wav files.")
        raise FileNotFoundError(2, "no such folder", folder)
    if csv is not None:
        if pattern != FSDD_PATTERN:  # the CSV names every label: the pattern would be ignored
            raise ValueError(f"give a name pattern ({pattern!r}) or a labels CSV ({csv!r}), "
                             f"not both: the CSV gives each file its label and speaker.")
        return _from_csv(folder, csv)
    try:
        rx = re.compile(pattern)
    except re.error as err:
        raise ValueError(f"pattern {pattern!r} is not a regular expression ({err}).") from None
    if "label" not in rx.groupindex:
        raise ValueError(f"pattern {pattern!r} has no (?P<label>...) group; name the part of "
                         f"the file name that holds the label.")
    listed = os.listdir(folder)
    other = sorted(n for n in listed if n.lower().endswith(OTHER_AUDIO))
    if other:
        raise ValueError(f"{len(other)} file(s) of {folder!r} are audio this reader cannot "
                         f"decode, e.g. {other[0]!r}; convert them to {', '.join(AUDIO_EXT)} "
                         f"or move them out of the folder, or they would be left out.")
    names = sorted(n for n in listed if n.lower().endswith(AUDIO_EXT))
    if not names:
        raise ValueError(f"{folder!r} holds no audio files ({', '.join(AUDIO_EXT)}).")
    rows, missed = [], []
    for n in names:
        m = rx.fullmatch(n)
        (rows.append((n, m)) if m else missed.append(n))
    if missed:
        raise ValueError(f"{len(missed)} file(s) of {folder!r} do not match the name pattern "
                         f"{pattern!r}, e.g. {missed[0]!r}; rename or remove them, or give "
                         f"another pattern or a CSV of labels.")
    g = rx.groupindex
    for n, m in rows:  # an empty label or speaker would silently be a class or voice of its own
        for part in ("label", "speaker")[:1 + ("speaker" in g)]:
            if not m[part]:
                raise ValueError(f"pattern {pattern!r} gives file {n!r} an empty {part}; the "
                                 f"(?P<{part}>...) group must match part of every file name.")
    speakers = np.array([m["speaker"] for _, m in rows]) if "speaker" in g else None
    indices = None
    if "index" in g:
        for n, m in rows:  # int() would fail on 'x' without naming the file
            if not (m["index"] or "").strip().isdecimal():
                raise ValueError(f"pattern {pattern!r} gives file {n!r} the take index "
                                 f"{m['index']!r}; the (?P<index>...) group must hold digits "
                                 f"only, e.g. (?P<index>\\d+).")
        indices = np.array([int(m["index"]) for _, m in rows])
    return Recordings(folder, [os.path.join(folder, n) for n, _ in rows],
                      np.array([m["label"] for _, m in rows]), speakers, indices)


def _from_csv(folder: str, path: str) -> Recordings:
    if not os.path.isfile(path):
        raise FileNotFoundError(2, "no such label file", path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a BOM is not a column
            reader = _csv.DictReader(f)
            cols = reader.fieldnames or []
            for need in ("file", "label"):
                if need not in cols:
                    raise ValueError(f"{path!r} has no {need!r} column (columns: "
                                     f"{', '.join(cols) or 'none'}); it needs file and label, "
                                     f"speaker optional.")
            lines, rows = [], []  # line_num: blank lines, which DictReader skips, still count
            for r in reader:
                lines.append(reader.line_num)
                rows.append(r)
    except UnicodeDecodeError:
        raise ValueError(f"{path!r} is not UTF-8 text; save it as UTF-8 (Latin-1 and UTF-16 "
                         f"files are not read).") from None
    if not rows:
        raise ValueError(f"{path!r} lists no files.")
    paths, line = [], {}
    for i, r in zip(lines, rows, strict=True):
        if r.get(None):  # DictReader's bin for the fields past the header's
            raise ValueError(f"{path!r} line {i} has more fields than its header "
                             f"({', '.join(cols)}): {r[None]!r} would be dropped; quote a "
                             f"file name or label that holds a comma.")
        p = os.path.join(folder, r["file"] or "")
        if not r["file"] or not os.path.isfile(p):
            raise ValueError(f"{path!r} line {i}: file {r['file']!r} is not in {folder!r}.")
        real = os.path.abspath(p)  # normalised: a.wav and ./a.wav alike
        if real in line:
            raise ValueError(f"{path!r} lists {os.path.basename(p)!r} more than once (lines "
                             f"{line[real]} and {i}); list each recording once, or it is "
                             f"trained on or scored twice (or under two labels).")
        line[real] = i
        if not (r["label"] or "").strip():
            raise ValueError(f"{path!r} line {i}: the label is empty.")
        if "speaker" in cols and not (r["speaker"] or "").strip():
            raise ValueError(f"{path!r} line {i}: the speaker is empty; give every file its "
                             f"speaker, or leave the speaker column out.")
        paths.append(p)
    speakers = np.array([r["speaker"].strip() for r in rows]) if "speaker" in cols else None
    return Recordings(folder, paths, np.array([r["label"].strip() for r in rows]), speakers)
