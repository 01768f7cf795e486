"""Finished folds on disk, so that ``--resume`` skips them: one JSON file a fold
(``OUT/folds/fold-03.json``), written atomically as the fold finishes, stamped with a
fingerprint of what decides its result (data, folds, settings) so that a file of another run
is refused instead of reused."""

from __future__ import annotations

import json
import os

from .._io import atomic_text
from .._runs import UsageError

FOLDS_DIR = "folds"


def fold_path(output: str, k: int) -> str:
    return os.path.join(output, FOLDS_DIR, f"fold-{k + 1:02d}.json")


def write_fold(output: str, k: int, stamp: str, payload: dict, strict: bool = True) -> None:
    """Fold k's ``payload`` (JSON-able; ``strict``: no NaN/Inf) under ``stamp``."""
    os.makedirs(os.path.join(output, FOLDS_DIR), exist_ok=True)
    body = {"fingerprint": stamp, "fold": k} | payload
    atomic_text(fold_path(output, k), json.dumps(body, indent=1, allow_nan=not strict))


def clear_folds(output: str) -> None:
    """Remove the fold files of an earlier run (a run without --resume starts afresh)."""
    d = os.path.join(output, FOLDS_DIR)
    if os.path.isdir(d):
        for name in os.listdir(d):
            if name.startswith("fold-") and name.endswith(".json"):
                os.remove(os.path.join(d, name))


def read_folds(output: str, folds: int, stamp: str, keys: tuple[str, ...]) -> dict[int, dict]:
    """{k: {key: value}} of the folds of ``folds`` finished in ``output`` (an unreadable file
    is skipped: that fold runs again); one sentence when one belongs to another run."""
    done = {}
    for k in range(folds):
        p = fold_path(output, k)
        if not os.path.isfile(p):
            continue
        try:
            with open(p, encoding="utf-8") as f:
                body = json.load(f)
            fp, payload = body["fingerprint"], {key: body[key] for key in keys}
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if fp != stamp:
            raise UsageError(f"{p} was written by a run with other data, folds or settings; "
                             f"rerun with those, or without --resume to start afresh.")
        done[k] = payload
    return done
