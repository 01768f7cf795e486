"""Every op's True/False switches (reverse, reset_after, check_finite, ...) refuse anything
but a bool in one sentence: reverse="False", a truthy string, ran the sequences reversed
without a word (reset_after="False" the reset_after placement). numpy's bool, 0 and 1 are the
bools they equal, as torch.nn and Keras take them.

The switches are found from each function's signature, and every public function of
``grukit.ops`` and its families that has one must have a call here: a new op cannot miss
the check."""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest
import torch

import grukit.ops

FAMILIES = ("gru", "lstm", "rnn", "mingru", "lngru", "grud")
B, T, D, H = 2, 4, 3, 5


def _t(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def _grud_args():
    mask = (torch.rand(B, T, D) > 0.3).double()
    return (_t(B, T, D), mask, torch.rand(B, T, D, dtype=torch.float64), _t(D), _t(3 * H, D),
            _t(3 * H, H), _t(3 * H), None, _t(3 * H, D), _t(D), _t(D), _t(H, D), _t(H))


# name -> (function, positional args with each switch at its default False-able value);
# bias_hh is None where reset_after is a switch, which both placements take
CALLS = {
    "gru": lambda: (grukit.ops.gru, (_t(B, T, D), _t(3 * H, D), _t(3 * H, H), _t(3 * H))),
    "gru_step": lambda: (grukit.ops.gru_step,
                         (_t(B, 3 * H), _t(B, H), _t(3 * H, H), None, False)),
    "lstm": lambda: (grukit.ops.lstm, (_t(B, T, D), _t(4 * H, D), _t(4 * H, H))),
    "rnn": lambda: (grukit.ops.rnn, (_t(B, T, D), _t(H, D), _t(H, H))),
    "mingru": lambda: (grukit.ops.mingru, (_t(B, T, D), _t(2 * H, D))),
    "lngru": lambda: (grukit.ops.lngru, (_t(B, T, D), _t(3 * H, D), _t(3 * H, H), _t(3 * H))),
    "lngru_step": lambda: (importlib.import_module("grukit.ops.lngru").lngru_step,
                           (_t(B, 3 * H), _t(B, H), _t(3 * H, H), None, None, None, False)),
    "grud": lambda: (importlib.import_module("grukit.ops.grud").grud, _grud_args()),
    "grud_step": lambda: (importlib.import_module("grukit.ops.grud").grud_step,
                          (_t(B, 3 * H), torch.rand(B, H, dtype=torch.float64), _t(B, H),
                           _t(3 * H, H), None, False)),
}


def _switches(fn) -> list[tuple[int | None, str]]:
    out = []
    for i, (name, p) in enumerate(inspect.signature(fn).parameters.items()):
        if p.annotation in ("bool", bool) or isinstance(p.default, bool):
            out.append((i if p.default is inspect.Parameter.empty else None, name))
    return out


def _public():
    """name -> function of every public function of grukit.ops and its families."""
    found = {}
    for module in (grukit.ops, *(importlib.import_module(f"grukit.ops.{f}") for f in FAMILIES)):
        for name in module.__all__:
            fn = getattr(module, name)
            if inspect.isfunction(fn):
                found.setdefault(name, fn)
    return found


CASES = [(name, s) for name, make in sorted(CALLS.items()) for _, s in _switches(make()[0])]


def test_every_public_op_with_a_switch_has_a_call_here():
    with_switches = sorted(n for n, fn in _public().items() if _switches(fn))
    assert with_switches == sorted(CALLS)
    assert len(CASES) >= 15


def _call(name, switch, value):
    fn, args = CALLS[name]()
    where = dict((s, i) for i, s in _switches(fn))[switch]
    if where is None:
        return fn(*args, **{switch: value})
    return fn(*args[:where], value, *args[where + 1:])


@pytest.mark.parametrize(("name", "switch"), CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_a_switch_that_is_not_true_or_false_is_refused(name, switch):
    for bad in ("False", "True", None, [True], np.array([True, False]), 0.5, 1.0,
                torch.tensor([True]), 2):
        with pytest.raises(TypeError, match=rf"^{name}: {switch} must be True or False; "
                                            rf"got .*\.$"):
            _call(name, switch, bad)
    torch.manual_seed(0)
    want = _call(name, switch, False)
    for same in (0, np.bool_(False)):
        torch.manual_seed(0)
        got = _call(name, switch, same)
        for a, b in zip(*(r if isinstance(r, tuple) else (r,) for r in (got, want)),
                        strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
