"""Writing files so that a crash never leaves half a file: write beside, then rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable


def atomic_write(path: str, write: Callable[[str], object]) -> None:
    """``write(tmp)`` fills a temporary file in ``path``'s folder, which then replaces
    ``path`` in one step; the file gets the mode ``open()`` would give it (umask applied),
    and the temporary file is removed if ``write`` fails."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_text(path: str, text: str) -> None:
    """``atomic_write`` for a UTF-8 text."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_write(path, write)


def output_file(what: str, path, suffix: str):
    """``path`` as a ``Path`` to write a file at, checked first: a file path (not a
    folder, which gets a file name in it ending in ``suffix``) in a folder that exists and
    can be written to; else one sentence starting with ``what``."""
    from pathlib import Path

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what}: path must be a file path (str or os.PathLike); got "
                        f"{type(path).__name__}.")
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise OSError(f"{what}: {str(p)!r} is a folder; give a file path such as "
                      f"{str(p / ('model' + suffix))!r}.")
    if not folder.is_dir():
        raise OSError(f"{what}: the folder {str(folder)!r} of {str(p)!r} does not exist; "
                      f"create it first.")
    if not os.access(folder, os.W_OK):
        raise OSError(f"{what}: cannot write to the folder {str(folder)!r}; choose a path "
                      f"in a folder you can write to.")
    return p
