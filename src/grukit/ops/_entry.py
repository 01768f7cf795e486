"""The one entry template of the op families: validate, default state, lengths, finite
check, masks, ``dispatch.select``, call.

Each family's ``__init__.py`` checks what is its own (weight shapes, its options), then
hands the rest to ``enter``::

    return enter(Call("gru", x, h0, lengths, reverse, backend, check_finite,
                      states=(("h0", H),), masks={"state_mask": (m, (B, H))},
                      options={"reset_after": reset_after}),
                 weight_ih, weight_hh, bias_ih, bias_hh)

Every public function of a family (its entry point and its step) is wrapped in
``entry_point``, which refuses a switch (``reverse``, ``reset_after``, ``check_finite``, ...)
that is not True or False before the function runs, fast paths included.

``options`` go to every backend's ``why_not`` and function alike; a mask given (not None)
is checked against its shape and goes to both as a keyword too, so a backend that does not
name it in its signature cannot serve it by accident (its ``why_not`` must refuse it).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from . import activations as _activations
from . import dispatch
from ._checks import as_lengths, check_finite, check_flag, check_mask, check_state


def switches(fn: Callable) -> tuple[tuple[int | None, str], ...]:
    """(position or None where keyword-only, name) of each switch of ``fn``: the parameters
    annotated ``bool`` or whose default is True or False."""
    found = []
    for i, (name, p) in enumerate(inspect.signature(fn).parameters.items()):
        if p.annotation in ("bool", bool) or isinstance(p.default, bool):
            positional = p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            found.append((i if positional else None, name))
    return tuple(found)


def entry_point(fn: Callable) -> Callable:
    """``fn`` refusing, in one sentence, a switch that is not True or False (see
    ``check_flag``); numpy's bool, 0 and 1 reach ``fn`` as the bool they equal. The
    switches are found once, from ``fn``'s signature, so no entry point can miss one."""
    found, op = switches(fn), fn.__name__
    names = tuple(name for _, name in found)  # each may come as a keyword
    at = tuple((i, name) for i, name in found if i is not None)  # or in its position

    @functools.wraps(fn)
    def checked(*args, **kwargs):  # under a µs over the call of fn
        for name in names:
            value = kwargs.get(name, False)  # absent: its default
            if value is not True and value is not False:
                kwargs[name] = check_flag(value, name, op)
        for i, name in at:
            if i < len(args) and args[i] is not True and args[i] is not False:
                args = (*args[:i], check_flag(args[i], name, op), *args[i + 1:])
        return fn(*args, **kwargs)

    return checked


@dataclass(frozen=True)
class Call:
    """One call of a family's entry point, before validation of the shared parts.

    ``states``: (name, size) of each initial state, e.g. (("h0", H),) or an LSTM's
    (("h0", P), ("c0", H)); ``h0`` is one tensor for one state, a pair for two.
    ``masks``: name -> (tensor or None, the shape it must have).
    """

    op: str
    x: Tensor
    h0: object
    lengths: object
    reverse: bool
    backend: str
    check_finite: bool
    states: tuple[tuple[str, int], ...]
    masks: Mapping[str, tuple[Tensor | None, tuple[int, ...]]] = field(default_factory=dict)
    options: Mapping[str, object] = field(default_factory=dict)


def activations(op: str, backend: str, activation, recurrent_activation,
                standard: tuple[str, str]) -> tuple[str, dict]:
    """(backend, options) of a call with Keras' ``activation`` / ``recurrent_activation``:
    the standard pair (the fused kernels' tanh and σ) leaves both as they are; any other
    runs on the reference backend, the only one that computes it ("auto" takes it, another
    name is refused in one sentence)."""
    act = _activations.check(activation, f"{op}: activation")
    gate = _activations.check(recurrent_activation, f"{op}: recurrent_activation")
    if (act, gate) == standard:
        return backend, {}
    if backend not in ("auto", "reference"):
        raise ValueError(f"{op}: backend={backend!r} computes {standard[0]} and "
                         f"{standard[1]} only; activation={act!r}, recurrent_activation="
                         f"{gate!r} run on backend='reference' (what 'auto' takes).")
    return "reference", {"activation": act, "recurrent_activation": gate}


def initial_state(call: Call) -> Tensor | tuple[Tensor, ...]:
    """The call's initial state, checked; zeros of shape (B, size) where h0 is None."""
    x, batch = call.x, call.x.shape[0]
    if call.h0 is None:
        zeros = tuple(x.new_zeros(batch, size) for _, size in call.states)
        return zeros[0] if len(zeros) == 1 else zeros
    if len(call.states) == 1:
        name, size = call.states[0]
        check_state(call.h0, name, batch, size, x, call.op)
        return call.h0
    if not isinstance(call.h0, (tuple, list)) or len(call.h0) != len(call.states):
        parts = ", ".join(f"{n} ({batch}, {s})" for n, s in call.states)
        raise TypeError(f"{call.op}: h0 must be a {_count(len(call.states))} ({parts}) or "
                        f"None; got {type(call.h0).__name__}.")
    for (name, size), h in zip(call.states, call.h0, strict=True):
        check_state(h, name, batch, size, x, call.op)
    return tuple(call.h0)


def _count(n: int) -> str:
    return "pair" if n == 2 else f"tuple of {n}"


def zero_padding(x: Tensor, lengths: Tensor | None) -> Tensor:
    """x (B, T, I) with every step at or past its sequence's length set to 0.

    No backend reads those steps (``pack_padded_sequence`` never does), but a NaN or Inf
    there would still reach the gradients through 0 · NaN: dW_ih = Σ_t dgi_tᵀ x_t with
    dgi_t = 0 past the end, and the reference's masked steps. x itself where nothing is cut.
    """
    if lengths is None:
        return x
    steps = x.shape[1]
    if not torch.compiler.is_compiling() and bool((lengths >= steps).all()):
        return x
    inside = (torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)).to(x.device)  # (B, T)
    return x.masked_fill(~inside.unsqueeze(2), 0)  # (B, T, I)


def enter(call: Call, *weights: Tensor | None):
    """Validate the shared parts of ``call``, pick its backend and run it on ``weights``.
    The steps past each sequence's length are zeroed first (``zero_padding``).

    The backend is called as ``fn(x, *weights, h0=, lengths=, reverse=, **options,
    **masks given)`` with lengths an int64 CPU tensor (B,) or None.
    """
    op = call.op
    if not isinstance(call.backend, str):  # a list failed in dispatch's look-up (unhashable)
        raise ValueError(f"{op}: unknown backend {call.backend!r}; choose one of "
                         f"{['auto', *dispatch.backends(op)]}.")
    lens = as_lengths(call.lengths, call.x.shape[0], call.x.shape[1], op)
    x = zero_padding(call.x, lens)
    h0 = initial_state(call)
    if call.check_finite:
        check_finite(x, "x", op)
    given: dict[str, Tensor] = {}
    for name, (mask, shape) in call.masks.items():
        if mask is not None:
            check_mask(mask, name, shape, x, op)
            given[name] = mask
    fn = dispatch.select(op, call.backend, x=x, h0=h0, lengths=lens, **call.options, **given)
    if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        # CPU autocast would hand the fused kernels bfloat16 projections they cannot read;
        # the recurrence runs in the weights' dtype, as without it
        with torch.autocast("cpu", enabled=False):
            return fn(x, *weights, h0=h0, lengths=lens, reverse=call.reverse, **call.options,
                      **given)
    return fn(x, *weights, h0=h0, lengths=lens, reverse=call.reverse, **call.options, **given)

