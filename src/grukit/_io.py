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
