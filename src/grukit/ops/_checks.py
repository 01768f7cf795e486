"""Input checks shared by every recurrence: one sentence naming the problem and the fix.

User input never meets a bare ``assert``: wrong ranks, feature sizes, state shapes and
lengths raise ``ValueError`` / ``TypeError`` with the expected shape spelled out.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


def shape_str(t: Tensor) -> str:
    """``(2, 3)``, ``(5,)``: a shape as people write it."""
    return str(tuple(t.shape))


def check_input(x: object, input_size: int, op: str) -> None:
    """x must be a floating tensor of shape (B, T, input_size)."""
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{op}: x must be a torch.Tensor of shape (batch, time, {input_size}); "
            f"got {type(x).__name__}. Convert it with torch.as_tensor(x, dtype=torch.float32)."
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{op}: x must be a floating-point tensor; got dtype {x.dtype}. "
            f"Convert it with x.float()."
        )
    if x.dim() != 3:
        raise ValueError(
            f"{op}: x must have shape (batch, time, input_size) = (B, T, {input_size}); "
            f"got a {x.dim()}-D tensor of shape {shape_str(x)}."
        )
    if x.shape[2] != input_size:
        raise ValueError(
            f"{op}: x has {x.shape[2]} features per step but the weights expect "
            f"input_size={input_size}: x must have shape (B, T, {input_size}); "
            f"got {shape_str(x)}."
        )


def check_weight(w: object, name: str, shape: tuple[int, ...], op: str) -> None:
    if not isinstance(w, Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor of shape {shape}; "
                        f"got {type(w).__name__}.")
    if tuple(w.shape) != shape:
        raise ValueError(f"{op}: {name} must have shape {shape}; got {shape_str(w)}.")


def check_state(h: object, name: str, batch: int, size: int, x: Tensor, op: str) -> None:
    """An initial state must be (B, size) and live with x."""
    if not isinstance(h, Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor of shape (B, {size}) = "
                        f"({batch}, {size}); got {type(h).__name__}.")
    if tuple(h.shape) != (batch, size):
        raise ValueError(
            f"{op}: {name} must have shape (batch, hidden) = ({batch}, {size}); got {shape_str(h)}."
        )
    if h.dtype != x.dtype or h.device != x.device:
        raise TypeError(
            f"{op}: {name} is {h.dtype} on {h.device} but x is {x.dtype} on {x.device}; "
            f"move it with {name}.to(x)."
        )


def check_like(x: Tensor, op: str, **tensors: object) -> None:
    """Each weight given (None is skipped) must have x's dtype and live on x's device: the
    kernels compute in one dtype (torch.nn refuses a mix too)."""
    for name, t in tensors.items():
        if isinstance(t, Tensor) and (t.dtype != x.dtype or t.device != x.device):
            raise TypeError(f"{op}: {name} is {t.dtype} on {t.device} but x is {x.dtype} on "
                            f"{x.device}; convert it with {name}.to(x).")


def check_mask(m: object, name: str, shape: tuple[int, ...], x: Tensor, op: str) -> None:
    """A mask (dropout, zoneout) must be a floating tensor of ``shape`` living with x."""
    dims = ", ".join(str(d) for d in shape)
    if not isinstance(m, Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor of shape ({dims}); "
                        f"got {type(m).__name__}.")
    if tuple(m.shape) != shape:
        raise ValueError(f"{op}: {name} must have shape ({dims}); got {shape_str(m)}.")
    if m.dtype != x.dtype or m.device != x.device:
        raise TypeError(
            f"{op}: {name} is {m.dtype} on {m.device} but x is {x.dtype} on {x.device}; "
            f"move it with {name}.to(x)."
        )


def as_lengths(lengths: Tensor | Sequence[int] | None, batch: int, steps: int,
               op: str) -> Tensor | None:
    """Validate ``lengths`` and return it as an int64 CPU tensor of shape (B,), or None.

    Every length lies in [0, T]; a sequence of length 0 keeps its initial state.
    """
    if lengths is None:
        return None
    if isinstance(lengths, Tensor):
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise TypeError(f"{op}: lengths must hold integers; got dtype {lengths.dtype}. "
                            f"Convert it with lengths.long().")
        t = lengths.detach().to("cpu", torch.int64)
    else:
        # through numpy, so that [2.7, 3] or [True, False] are refused, never truncated
        try:
            a = np.asarray(lengths)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{op}: lengths must be a 1-D sequence of {batch} integers; "
                            f"got {lengths!r}.") from err
        if a.dtype == bool or a.dtype.kind not in "iu" and a.size:
            kind = "booleans" if a.dtype == bool else f"dtype {a.dtype}"
            raise TypeError(f"{op}: lengths must hold integers (the number of valid steps of "
                            f"each sequence); got {kind}: {lengths!r}. Pass whole numbers.")
        t = torch.tensor(a.astype(np.int64, copy=False))  # a copy: a pandas array is read-only
    if t.dim() != 1 or t.numel() != batch:
        raise ValueError(
            f"{op}: lengths must have one entry per sequence, shape ({batch},); "
            f"got shape {shape_str(t)}."
        )
    bad = (t < 0) | (t > steps)
    if torch.compiler.is_compiling():  # a traced graph cannot branch on values: checked as it runs
        torch._assert_async(~bad.any(), f"{op}: lengths must lie in [0, T] = [0, {steps}]; "
                                        f"pad x to the longest sequence or fix the lengths.")
        return t
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"{op}: lengths must lie in [0, T] = [0, {steps}]; sequence {i} has length "
            f"{int(t[i])}. Pad x to the longest sequence or fix the lengths."
        )
    return t


def check_flag(value: object, name: str, op: str) -> bool:
    """``value`` as a bool where it is one (numpy's bool and 0 / 1 too, as Keras and torch.nn
    take them), else one sentence: a string such as "False" is truthy, so ``reverse="False"``
    would run the sequences reversed without a word."""
    # (1.0 and a one-element tensor equal a bool too, but are not one: refused, as the
    # layers' and the tasks' switches refuse them)
    ok = isinstance(value, bool | np.bool_) or (isinstance(value, numbers.Integral)
                                                and value in (0, 1))
    if not ok:
        raise TypeError(f"{op}: {name} must be True or False; got {value!r}.")
    return bool(value)


def check_finite(x: Tensor, name: str, op: str) -> None:
    """Raise when x holds NaN or Inf (opt-in: it costs a pass over the data)."""
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        n = int(bad.sum())
        where = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"{op}: {name} contains {n} NaN/Inf value(s), the first at index {where}; "
            f"impute or drop them before training (or pass check_finite=False to skip this check)."
        )


def check_layer(op: str, x: object, weight_ih: object, weight_hh: object, gates: int,
                bias_ih: object = None, bias_hh: object = None,
                state_size: int | None = None) -> tuple[int, int]:
    """Check x (B, T, I) against weight_ih (G·H, I), weight_hh (G·H, S) and the biases (G·H,),
    all of x's dtype and device.

    ``gates`` is G (3 for a GRU, 4 for an LSTM, 1 for an RNN); S is the size of the state fed
    back (H, or an LSTM's projection size). Returns (input_size, hidden_size).
    """
    for name, w in (("weight_ih", weight_ih), ("weight_hh", weight_hh)):
        if not isinstance(w, Tensor) or w.dim() != 2:
            got = shape_str(w) if isinstance(w, Tensor) else type(w).__name__
            raise ValueError(f"{op}: {name} must be a 2-D tensor ({gates}·hidden, features); "
                             f"got {got}.")
    if weight_hh.shape[0] % gates:
        raise ValueError(f"{op}: weight_hh must have {gates}·hidden rows (gates stacked); "
                         f"got shape {shape_str(weight_hh)}.")
    hidden = weight_hh.shape[0] // gates
    if hidden == 0:
        raise ValueError(f"{op}: weight_hh has no rows, a hidden size of 0; a layer needs at "
                         f"least one unit (torch.nn refuses hidden_size=0 too).")
    state = hidden if state_size is None else state_size
    input_size = weight_ih.shape[1]
    check_weight(weight_ih, "weight_ih", (gates * hidden, input_size), op)
    check_weight(weight_hh, "weight_hh", (gates * hidden, state), op)
    for name, b in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if b is not None:
            check_weight(b, name, (gates * hidden,), op)
    check_input(x, input_size, op)
    check_like(x, op, weight_ih=weight_ih, weight_hh=weight_hh, bias_ih=bias_ih,
               bias_hh=bias_hh)
    return input_size, hidden
