"""Elman RNN recurrence (tanh, relu or another elementwise activation): one functional entry
point, several backends."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from torch import Tensor

from .. import _cpu, _stream, activations, dispatch
from .._checks import check_layer
from .._entry import Call, enter, entry_point
from .reference import FUSED, rnn_reference, rnn_step

__all__ = ["rnn", "rnn_step"]


@functools.partial(_cpu.outside_graph, kernel="the RNN's")
def _rnn_cpu(*args, **kwargs):
    from .cpu import rnn_cpu  # numba loads on first use, not at import

    return rnn_cpu(*args, **kwargs)


def _rnn_cpu_plain(*args):
    global _rnn_cpu_plain
    from .cpu import rnn_cpu_plain  # numba loads on first use, not at import

    _rnn_cpu_plain = rnn_cpu_plain  # later calls skip this import
    return rnn_cpu_plain(*args)


dispatch.register("rnn", dispatch.Backend("reference", rnn_reference))
def _why_not_cpu(x, state_mask=None, nonlinearity="tanh", **call):
    if nonlinearity not in FUSED:
        return f"the cpu kernel computes tanh and relu; nonlinearity={nonlinearity!r} runs on " \
               f"the reference."
    return _cpu.masks_why_not(state_mask=state_mask) or _cpu.why_not(x, **call) or \
        _cpu.export_why_not("the RNN's")


dispatch.register("rnn", dispatch.Backend("cpu", _rnn_cpu, _why_not_cpu, priority=10))


def _rnn_stream(*args, **kwargs):
    from .stream import rnn_stream  # numba loads on first use, not at import

    return rnn_stream(*args, **kwargs)


# The one-step fast path of grukit.nn.Stream (see .._stream): the only backend of its op.
dispatch.register("rnn_stream", dispatch.Backend("cpu", _rnn_stream, _stream.why_not,
                                                 priority=10))


def _reference_only(backend: str, nonlinearity: str | None) -> str:
    """The backend of an activation the fused kernels lack: "auto" takes the reference, a
    fused backend named is refused in one sentence (an unknown name is dispatch's to refuse)."""
    if backend == "auto":
        return "reference"
    if backend != "reference" and backend in dispatch.backends("rnn"):
        raise ValueError(f"rnn: backend={backend!r} computes tanh and relu only; "
                         f"nonlinearity={nonlinearity!r} runs on backend='reference' (what "
                         f"'auto' takes).")
    return backend


@entry_point
def rnn(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None = None,
        bias_hh: Tensor | None = None, *, h0: Tensor | None = None,
        lengths: Tensor | Sequence[int] | None = None, nonlinearity: str = "tanh",
        reverse: bool = False, backend: str = "auto",
        check_finite: bool = False, state_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One Elman RNN layer: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``.

    Args:
        x: (B, T, I).  weight_ih: (H, I).  weight_hh: (H, H).  bias_ih, bias_hh: (H,) or None.
        nonlinearity: act, "tanh" or "relu" (the fused kernels' and torch's), or another
            activation of ``grukit.ops.activations.ELEMENTWISE`` by Keras' name ("sigmoid",
            "elu", "linear", ...: Keras' ``SimpleRNN(activation=...)``), which runs on the
            "reference" backend ("auto" takes it; another backend name is refused).
        h0, lengths, reverse, backend, check_finite, state_mask: as in ``grukit.ops.gru``.

    Returns:
        y (B, T, H) and h_n (B, H).
    """
    if nonlinearity not in FUSED:  # checked; any other runs on the reference
        nonlinearity = activations.check(nonlinearity, "rnn: nonlinearity")
        if nonlinearity not in FUSED:
            backend = _reference_only(backend, nonlinearity)
    if (backend in _cpu.PLAIN_BACKENDS and lengths is None and not reverse
            and state_mask is None and not check_finite
            and _cpu.plain(x, weight_ih, weight_hh, bias_ih, bias_hh, h0, 1)):
        # the common inference call, which "auto" gives the fused CPU kernel anyway
        return _rnn_cpu_plain(x, weight_ih, weight_hh, bias_ih, bias_hh, h0, nonlinearity)
    _, hidden = check_layer("rnn", x, weight_ih, weight_hh, 1, bias_ih, bias_hh)
    masks = {"state_mask": (state_mask, (x.shape[0], hidden))}
    call = Call("rnn", x, h0, lengths, reverse, backend, check_finite, (("h0", hidden),),
                masks, {"nonlinearity": nonlinearity})
    return enter(call, weight_ih, weight_hh, bias_ih, bias_hh)
