"""What every CLI command shares: its output folder checked before any work, a record of
what has finished (for the line printed on Ctrl-C), and the errors it reports in one line.

    out = prepare_output(args.output)        # before training: exists as a file, read-only...
    RUN.start(out, resumable=True)
    for k in range(folds):
        ...                                  # write fold k's results atomically
        RUN.finished(f"fold {k + 1} of {folds}")
"""

from __future__ import annotations

import os
import signal
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass


class UsageError(ValueError):
    """Bad input a person can fix: the CLI prints its one sentence and exits with 2."""


def at_least(flag: str, value, least: int) -> None:
    """A CLI number checked against its least value (None: not given, the default holds)."""
    if value is not None and value < least:
        raise UsageError(f"{flag} must be {least} or more; got {value}.")


def training_model(name: str | None, models, command: str, default: str = "gru") -> str:
    """``--model`` of a training run: one of ``models`` (a saved model's folder is for the
    command's ``predict``)."""
    name = default if name is None else name
    if name not in models:
        import os

        hint = f" (a saved model is used with `grukit {command} predict --model DIR`)" \
            if os.path.isdir(name) else ""
        raise UsageError(f"--model must be one of {', '.join(models)} for training; got "
                         f"{name!r}{hint}.")
    return name


def predict_args(args, train_only, command: str, also: str = "") -> None:
    """``grukit COMMAND predict``: no training flag given (``train_only``: argparse dests) and
    a saved model named with --model. ``also`` names what else predict uses, for the hint.

    A flag is given when its value is not None, whatever the value (``--seed 0``,
    ``--learning-rate 0``, ``--no-tied``: 0 and False are given values), so each of
    ``train_only`` must default to None (a ``store_true`` flag: ``default=None``)."""
    given = [f"--{n.replace('_', '-')}" for n in train_only if getattr(args, n) is not None]
    if given:
        raise UsageError(f"{', '.join(given)} set(s) training; predict uses the saved model's "
                         f"settings{also}, so drop {'it' if len(given) == 1 else 'them'}.")
    if not args.model:
        raise UsageError(f"predict needs --model DIR, the folder written by "
                         f"`grukit {command} ... --save DIR`.")


@contextmanager
def torch_threads(threads: int | None):
    """Run the block with torch at ``threads`` threads (None: as it is) and give the caller's
    count back after it: a command called in-process (a notebook, a test) must not leave its
    thread count behind, since the count changes the last digits of results."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def prepare_output(path: str | None, what: str = "--output") -> str | None:
    """Create the folder ``path`` and prove it writable before any work is done; one
    sentence (``UsageError``) for a path that is a file, under a file, or not writable."""
    if path is None:
        return None
    if path == "":
        raise UsageError(f"{what} is empty; give a folder for the results.")
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{what} {path!r} is a file; give a folder (it is created if "
                         f"missing).")
    if os.path.islink(path) and not os.path.exists(path):  # makedirs says "File exists"
        raise UsageError(f"{what} {path!r} is a link to {os.readlink(path)!r}, which does not "
                         f"exist; create that folder or give another.")
    try:
        _make_recorded(path)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".grukit-write-test-")
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        reason = err.strerror or str(err)
        raise UsageError(f"{what} {path!r} cannot be written ({reason}); give a folder you can "
                         f"write to.") from None
    return path


CREATED: list[str] = []  # folders prepare_output made during this command, outermost first


def _make_recorded(path: str) -> None:
    """``os.makedirs(path)``, noting each folder it makes in ``CREATED``."""
    new, at = [], os.path.abspath(path)
    while not os.path.exists(at):
        new.append(at)
        parent = os.path.dirname(at)
        if parent == at:
            break
        at = parent
    os.makedirs(path, exist_ok=True)
    CREATED.extend(reversed(new))


def drop_empty_created() -> None:
    """Remove the folders this command made that are still empty (a refused or interrupted
    command leaves none behind), innermost first; anything with a file in it stays."""
    for folder in reversed(CREATED):
        try:
            os.rmdir(folder)  # only succeeds on an empty folder
        except OSError:
            pass
    CREATED.clear()


@dataclass
class RunRecord:
    """What the running command has finished so far (read when it is interrupted)."""

    output: str | None = None
    done: str | None = None
    resumable: bool = False

    def start(self, output: str | None, resumable: bool = False) -> None:
        self.output, self.done, self.resumable = output, None, resumable

    def finished(self, what: str) -> None:
        self.done = what

    @contextmanager
    def saving(self, what: str):
        """Write a result and record it as finished as one step: a Ctrl-C that arrives while
        the block runs is held until both are done (the line printed then names the result
        whose file exists)."""
        held, hold = [], True
        try:  # a handler that only notes the Ctrl-C; Python runs it in the main thread,
            # whichever thread the OS hands the signal to (blocking it in this thread alone
            # did not hold it in a process with other threads)
            old = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
        except ValueError:  # not the main thread, which is the one a Ctrl-C interrupts
            old, hold = None, False
        try:
            yield
            self.finished(what)
        finally:
            if hold:  # old None: a handler set outside Python, which cannot be put back
                signal.signal(signal.SIGINT, signal.default_int_handler if old is None else old)
                if held:  # the Ctrl-C, now: to the handler it was meant for
                    signal.raise_signal(signal.SIGINT)

    def interrupted_line(self, command: str) -> str:
        parts = [f"grukit {command}: interrupted"
                 + (f" after {self.done}" if self.done else " before any result was finished")]
        if self.output:
            parts.append(f"partial results in {self.output}" if self.done
                         else f"nothing written to {self.output}")
            if self.resumable:
                parts.append("rerun with --resume to continue")
        return "; ".join(parts)


RUN = RunRecord()
