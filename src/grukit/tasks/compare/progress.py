"""``partial.json``: the runs of ``grukit compare`` finished so far, rewritten atomically after
each one, so that Ctrl-C loses at most the run under way and ``--resume`` skips the others.

    {"fingerprint": sha256 of the settings and the data, "seconds": time spent so far,
     "machine": the platform, CPU and torch the runs were timed on,
     "runs": [record per (model, seed)], "memory": [record per memory run]}

A record reused on resume keeps the timings it was measured with; the runs done after the
resume are timed in the resumed process, which must run on the same machine (``machine``):
the timing rows do not mix two CPUs' figures, and the report says how many runs were
resumed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform

from ..._io import atomic_text
from ..._runs import UsageError

PARTIAL = "partial.json"


def fingerprint(cfg, threads: int | None = None) -> str:
    """What decides the records: every setting, the torch threads the runs use when given
    (the timing rows are measured with them, so runs timed with other threads are not mixed
    into one table), and
    the bytes of a --data file, or the names and bytes of every file under a --data folder
    (a built-in data set is named by its name)."""
    settings = dataclasses.asdict(cfg) | ({} if threads is None else {"threads": threads})
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    files = []
    if cfg.data and os.path.isfile(cfg.data):
        files = [cfg.data]
    elif cfg.data and os.path.isdir(cfg.data):  # speech's wav folder, generate's text folder
        for root, dirs, names in os.walk(cfg.data):
            dirs.sort()
            # regular files only: a socket's open() fails, a FIFO's never returns
            files += [os.path.join(root, n) for n in sorted(names)
                      if os.path.isfile(os.path.join(root, n))]
    for path in files:
        if len(files) > 1:
            h.update(os.path.relpath(path, cfg.data).encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def machine() -> str:
    """What the timing rows depend on beyond the settings: the platform, the CPU model and
    torch's version, e.g. "Linux-6.1-x86_64, Intel(R) Xeon(R) ..., torch 2.13.0"."""
    import torch

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f
                        if ln.startswith("model name")), cpu)
    except OSError:  # not Linux
        pass
    return f"{platform.platform()}, {cpu or platform.machine()}, torch {torch.__version__}"


def write(folder: str, stamp: str, runs: list, memory: list, seconds: float) -> None:
    atomic_text(os.path.join(folder, PARTIAL),
                json.dumps({"fingerprint": stamp, "seconds": seconds, "machine": machine(),
                            "runs": runs, "memory": memory}, indent=1))


def clear_reports(folder: str) -> None:
    """The results.json, reports and plots of an earlier finished run in ``folder``: removed
    once the new run has a result of its own, so that an interrupted run does not leave
    them beside its partial.json as if they were its own."""
    from .report import PLOTS

    for name in ("results.json", "report.md", "report.html", *PLOTS):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            os.remove(path)


def read(folder: str, stamp: str) -> dict:
    """{"runs", "memory", "seconds"} finished in ``folder`` (empty when there is no readable
    partial.json); one sentence when they belong to other settings or data."""
    path = os.path.join(folder, PARTIAL)
    empty = {"runs": [], "memory": [], "seconds": 0.0}
    if not os.path.isfile(path):
        return empty
    try:
        with open(path, encoding="utf-8") as f:
            body = json.load(f)
        fp, runs, memory = body["fingerprint"], body["runs"], body["memory"]
        seconds = float(body.get("seconds", 0.0))
        if not isinstance(runs, list) or not isinstance(memory, list):
            raise TypeError("runs and memory are not lists")
        for r in runs:
            r["model"], r["seed"]  # noqa: B018 - the keys a record is matched by
        for r in memory:
            r["task"], r["length"], r["model"], r["seed"]  # noqa: B018
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UsageError(f"{path} cannot be resumed from ({type(err).__name__}: {err}); "
                         f"rerun without --resume to start afresh.") from None
    if fp != stamp:
        raise UsageError(f"{path} was written by a run with other settings or data (or "
                         f"torch threads: --threads, OMP_NUM_THREADS); rerun with those, or "
                         f"without --resume to start afresh.")
    if body.get("machine", machine()) != machine():  # a file before it was kept: taken
        raise UsageError(f"{path} holds runs timed on another machine ({body['machine']}; "
                         f"this is {machine()}), and one table would mix the two machines' "
                         f"timings; resume it there, or rerun without --resume to start "
                         f"afresh.")
    return {"runs": runs, "memory": memory, "seconds": seconds}
