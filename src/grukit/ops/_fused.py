"""The one autograd skeleton of the fused backends: train or infer, in either direction.

A fused backend brings two functions of the (possibly reversed) input, each returning
``(y (B, T, H), state tuple)``: ``train`` goes through its ``torch.autograd.Function``
(``.apply``), ``infer`` runs the kernel's forward with no graph. ``run_fused`` picks one by
``needs_grad`` and runs it forward, or backward from each sequence's own last step::

    def train(xs):
        y, hn = _GRUFunction.apply(xs, w_ih, w_hh, b_ih, b_hh, h0, lens, reset_after)
        return y, (hn,)

    y, (hn,) = run_fused(x, lengths, reverse, (w_ih, w_hh, b_ih, b_hh, h0), train, infer)

Per-step tensors (B, T, ·) passed as ``along`` are reversed with x and handed to both
functions after it (``train(xs, *along)``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.autograd import forward_ad

from ._seq import State, run_directed

Run = Callable[..., tuple[Tensor, State]]


def needs_grad(*tensors: Tensor | None) -> bool:
    """True when autograd records and one of ``tensors`` requires a gradient."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def transform_why_not() -> str | None:
    """The reason a fused backend cannot run inside a torch.func transform (vmap, grad,
    jacrev, ...) or under forward-mode AD (``torch.autograd.forward_ad``), or None: the
    kernels read plain tensors' memory, which a transform's wrapped tensors do not have
    (torch's own GRU/LSTM have no vmap rule either), and give no tangents. The reference,
    plain torch, runs under every transform."""
    if torch.compiler.is_compiling():  # traced by compile: its own routes (custom ops)
        return None
    if torch._C._functorch.peek_interpreter_stack() is not None:
        return ("a torch.func transform (vmap, grad, jacrev, ...) is active, and this backend "
                "cannot run under it; backend='reference' (what 'auto' takes) does.")
    if forward_active():
        return ("forward-mode AD (torch.autograd.forward_ad) is active, and this backend "
                "gives no tangents; backend='reference' (what 'auto' takes) does.")
    return None


def forward_active() -> bool:
    """True inside ``torch.autograd.forward_ad.dual_level()`` (its level, -1 outside)."""
    return forward_ad._current_level >= 0


def run_fused(x: Tensor, lengths: Tensor | None, reverse: bool,
              grad_inputs: tuple[Tensor | None, ...], train: Run, infer: Run,
              along: tuple[Tensor, ...] = ()) -> tuple[Tensor, State]:
    """``train`` when x or one of ``grad_inputs`` needs a gradient, else ``infer``, run in
    the call's direction (see the module docstring)."""
    run = train if needs_grad(x, *grad_inputs, *along) else infer
    return run_directed(run, x, lengths, reverse, *along)


def first_order_only(ctx, kernel: str) -> None:
    """Refuse a backward asked to build a graph of its own (``create_graph=True``); ``kernel``
    names it ("the fused CPU GRU kernel").

    The fused kernels' backward is numpy or Triton code: torch cannot differentiate it, so a
    gradient of a gradient through it would be silently dropped (None, or "unused" errors).
    One call to ``torch.is_grad_enabled()``: autograd runs backward with grad mode off unless
    ``create_graph=True``, so first-order training pays nothing more."""
    if torch.is_grad_enabled() and any(ctx.needs_input_grad):
        raise RuntimeError(
            f"{kernel} gives first derivatives only; for gradients of "
            f"gradients (create_graph=True) use backend='reference'.")


def grad_or_zeros(grad: Tensor | None, like: Tensor) -> Tensor:
    """An output's incoming gradient, zeros where autograd passes None (output unused)."""
    return torch.zeros_like(like) if grad is None else grad
