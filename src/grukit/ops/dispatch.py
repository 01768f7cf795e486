"""Backend choice per call: ``"auto"`` picks the fastest backend that can serve the call and
logs why it skipped the others; a named backend serves the call or raises a clear error.

Each ops family registers its backends here (``register``). A backend brings a function with
the family's one signature and a ``why_not(**call)`` predicate that returns ``None`` when it can
serve the call, or one sentence saying why it cannot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)


def _always(**_: object) -> str | None:
    return None


@dataclass(frozen=True)
class Backend:
    name: str
    fn: Callable
    why_not: Callable[..., str | None] = _always
    priority: int = 0  # "auto" tries higher priorities first
    # Consulted by "auto" only (a named backend is an explicit choice): one more reason to
    # skip, and a hook run when auto takes this backend (e.g. a warning, once).
    auto_why_not: Callable[..., str | None] = _always
    on_auto: Callable[..., None] | None = None


_REGISTRY: dict[str, dict[str, Backend]] = {}


def register(op: str, backend: Backend) -> None:
    _REGISTRY.setdefault(op, {})[backend.name] = backend
    _ORDERED.pop(op, None)


_ORDERED: dict[str, list[Backend]] = {}  # op -> its backends, best first (cleared by register)


def backends(op: str) -> list[str]:
    """Names of the backends registered for ``op``, best first."""
    return [b.name for b in _ordered(op)]


def _ordered(op: str) -> list[Backend]:
    if op not in _ORDERED:
        _ORDERED[op] = sorted(_REGISTRY.get(op, {}).values(), key=lambda b: -b.priority)
    return _ORDERED[op]


def explain(op: str, backend: str, **call: object) -> tuple[str, dict[str, str]]:
    """Which backend serves this call, and why each better one was skipped.

    Returns ``(name, {skipped_name: reason})``. Raises ``ValueError`` for an unknown op or
    backend name, or a named backend that cannot serve the call.
    """
    table = _REGISTRY.get(op)
    if not table:
        raise ValueError(f"unknown op {op!r}; choose one of {sorted(_REGISTRY)}.")
    if backend == "auto":
        skipped: dict[str, str] = {}
        for b in _ordered(op):
            reason = b.why_not(**call) or b.auto_why_not(**call)
            if reason is None:
                return b.name, skipped
            skipped[b.name] = reason
        raise ValueError(f"{op}: no backend can serve this call: {skipped}")
    if backend not in table:
        raise ValueError(
            f"{op}: unknown backend {backend!r}; choose one of {['auto', *backends(op)]}."
        )
    reason = table[backend].why_not(**call)
    if reason is not None:
        raise ValueError(
            f"{op}: backend={backend!r} cannot serve this call: {reason} "
            f"Use backend='auto' to fall back automatically."
        )
    return backend, {}


def select(op: str, backend: str, **call: object) -> Callable:
    """The function that serves this call (see ``explain``); logs skipped backends."""
    name, skipped = explain(op, backend, **call)
    if not torch.compiler.is_compiling():  # a logging call would break a compiled graph
        for other, reason in skipped.items():
            log.debug("%s: backend %r skipped: %s Using %r.", op, other, reason, name)
    chosen = _REGISTRY[op][name]
    if backend == "auto" and chosen.on_auto is not None:
        chosen.on_auto(**call)
    return chosen.fn
