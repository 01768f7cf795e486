"""LSTM recurrence: one functional entry point, several backends (see ``dispatch``)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .. import _cpu, _gpu_verified, _stream, _triton, dispatch
from .._checks import check_layer, check_like, check_weight
from .._entry import Call, activations, enter, entry_point
from .native import auto_why_not as _auto_prefers_not_native
from .native import lstm_native
from .native import why_not as _why_not_native
from .reference import lstm_reference, lstm_step

__all__ = ["lstm", "lstm_step"]


def _lstm_cpu(*args, **kwargs):
    from .cpu import lstm_cpu  # numba loads on first use, not at import

    return lstm_cpu(*args, **kwargs)


def _why_not_cpu(x, weight_hr=None, state_mask=None, **call):
    if weight_hr is not None:
        return "the fused CPU LSTM has no projection (proj_size > 0)."
    return _cpu.masks_why_not(state_mask=state_mask) or _cpu.why_not(x, **call)


dispatch.register("lstm", dispatch.Backend("reference", lstm_reference))
def _auto_why_not_native(x, weight_hr=None, **call):
    from .native import compiled_training
    from .onednn import available

    if compiled_training(x) and (weight_hr is not None or not available(x)):
        return ("a compiled training step: inductor cannot compile the backward of torch's "
                "LSTM, and grukit's oneDNN op serves float32 without projection only; the "
                "fused CPU kernel runs as a custom op.")
    return _auto_prefers_not_native(x, weight_hr=weight_hr, **call)


dispatch.register("lstm", dispatch.Backend("torch", lstm_native, _why_not_native, priority=20,
                                           auto_why_not=_auto_why_not_native))
dispatch.register("lstm", dispatch.Backend("cpu", _lstm_cpu, _why_not_cpu, priority=10))


def _lstm_stream(*args, **kwargs):
    from .stream import lstm_stream  # numba loads on first use, not at import

    return lstm_stream(*args, **kwargs)


# The one-step fast path of grukit.nn.Stream (see .._stream): the only backend of its op.
dispatch.register("lstm_stream", dispatch.Backend("cpu", _lstm_stream, _stream.why_not,
                                                 priority=10))


def _lstm_stream_int8(*args, **kwargs):
    from .quant import lstm_stream_int8  # numba loads on first use, not at import

    return lstm_stream_int8(*args, **kwargs)


# The int8-weight one-step kernel of grukit.nn.quantized.Int8Stream (same conditions).
dispatch.register("lstm_stream_int8", dispatch.Backend("cpu", _lstm_stream_int8,
                                                      _stream.why_not, priority=10))


def _lstm_triton(*args, **kwargs):
    from .triton import lstm_triton  # triton loads on first use, not at import

    return lstm_triton(*args, **kwargs)


def _why_not_triton(x, weight_hr=None, **call):
    if weight_hr is not None:
        return "the Triton LSTM has no projection (proj_size > 0)."
    return _triton.why_not(x, **call)


# Below "torch" and "cpu": on CUDA "auto" keeps cuDNN where it serves the call and takes
# triton for lengths; it never takes triton for CPU tensors (see _triton.why_not).
dispatch.register("lstm", dispatch.Backend("triton", _lstm_triton, _why_not_triton, priority=5,
                                           auto_why_not=_gpu_verified.auto_why_not,
                                           on_auto=_gpu_verified.warn_unverified))


@entry_point
def lstm(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None = None,
         bias_hh: Tensor | None = None, *, weight_hr: Tensor | None = None,
         h0: tuple[Tensor, Tensor] | None = None,
         lengths: Tensor | Sequence[int] | None = None, reverse: bool = False,
         backend: str = "auto",
         check_finite: bool = False,
         state_mask: Tensor | None = None, activation: str = "tanh",
         recurrent_activation: str = "sigmoid") -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """One LSTM layer over a batch of sequences (torch layout, gate order i, f, g, o)::

        c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g)
        h' = σ(o) ⊙ tanh(c')          (then h' = W_hr h' with a projection of size P)

    where [i; f; g; o] = W_ih x + b_ih + W_hh h + b_hh.

    Args:
        x: (B, T, I).  weight_ih: (4H, I).  weight_hh: (4H, P) with P = H without projection.
        bias_ih, bias_hh: (4H,) or None.  weight_hr: (P, H) projection or None.
        h0: (h0 (B, P), c0 (B, H)) or None for zeros.
        lengths, reverse, backend, check_finite, state_mask: as in ``grukit.ops.gru``.
        activation, recurrent_activation: Keras' names replacing tanh (g, c') and σ (i, f,
            o); any other pair runs on the "reference" backend.

    Returns:
        y (B, T, P) and (h_n (B, P), c_n (B, H)).
    """
    if weight_hr is not None:
        if not isinstance(weight_hr, Tensor) or weight_hr.dim() != 2:
            raise ValueError("lstm: weight_hr must be a 2-D tensor (proj_size, hidden).")
        proj = weight_hr.shape[0]
    else:
        proj = None
    _, hidden = check_layer("lstm", x, weight_ih, weight_hh, 4, bias_ih, bias_hh,
                            state_size=proj)
    out = hidden if proj is None else proj
    if weight_hr is not None:
        check_weight(weight_hr, "weight_hr", (proj, hidden), "lstm")
        check_like(x, "lstm", weight_hr=weight_hr)
    masks = {"state_mask": (state_mask, (x.shape[0], out))}
    backend, acts = activations("lstm", backend, activation, recurrent_activation,
                                ("tanh", "sigmoid"))
    call = Call("lstm", x, h0, lengths, reverse, backend, check_finite,
                (("h0", out), ("c0", hidden)), masks, {"weight_hr": weight_hr} | acts)
    return enter(call, weight_ih, weight_hh, bias_ih, bias_hh)
