"""GRU recurrence: one functional entry point, several backends (see ``dispatch``)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .. import _cpu, _gpu_verified, _stream, _triton, dispatch
from .._checks import check_layer
from .._entry import Call, activations, enter, entry_point
from .native import gru_native
from .native import why_not as _why_not_native
from .reference import gru_reference
from .reference import gru_step as _gru_step

__all__ = ["gru", "gru_step"]


def _gru_cpu(*args, **kwargs):
    from .cpu import gru_cpu  # numba loads on first use, not at import

    return gru_cpu(*args, **kwargs)


def _gru_cpu_plain(*args):
    global _gru_cpu_plain
    from .cpu import gru_cpu_plain  # numba loads on first use, not at import

    _gru_cpu_plain = gru_cpu_plain  # later calls skip this import
    return gru_cpu_plain(*args)


dispatch.register("gru", dispatch.Backend("reference", gru_reference))
def _why_not_cpu(x, state_mask=None, zoneout_mask=None, **call):
    """The fused CPU kernel serves both masks, but gives them no gradient."""
    return (_cpu.masks_why_not(state_mask=state_mask, zoneout_mask=zoneout_mask)
            or _cpu.why_not(x, **call))


dispatch.register("gru", dispatch.Backend("cpu", _gru_cpu, _why_not_cpu, priority=10))


def _gru_stream(*args, **kwargs):
    from .stream import gru_stream  # numba loads on first use, not at import

    return gru_stream(*args, **kwargs)


# The one-step fast path of grukit.nn.Stream (see .._stream): the only backend of its op.
dispatch.register("gru_stream", dispatch.Backend("cpu", _gru_stream, _stream.why_not,
                                                 priority=10))


def _gru_stream_int8(*args, **kwargs):
    from .quant import gru_stream_int8  # numba loads on first use, not at import

    return gru_stream_int8(*args, **kwargs)


# The int8-weight one-step kernel of grukit.nn.quantized.Int8Stream (same conditions).
dispatch.register("gru_stream_int8", dispatch.Backend("cpu", _gru_stream_int8,
                                                      _stream.why_not, priority=10))
# Below "cpu" (faster on a CPU), above "triton": cuDNN's small-H GRU on CUDA (see native).
dispatch.register("gru", dispatch.Backend("torch", gru_native, _why_not_native, priority=8))


def _gru_triton(*args, **kwargs):
    from .triton import gru_triton  # triton loads on first use, not at import

    return gru_triton(*args, **kwargs)


def _why_not_triton(x, zoneout_mask=None, state_mask=None, **call):
    for name, m in (("state_mask", state_mask), ("zoneout_mask", zoneout_mask)):
        if m is not None:
            return f"{name} is served by the reference and the cpu backend only."
    return _triton.why_not(x, **call)


# Below "cpu": "auto" takes it for CUDA tensors and never for CPU ones (see _triton.why_not).
# On a GPU where the kernels are unverified, auto leaves them what only they serve (warning
# once) and torch's GRU takes the rest (see _gpu_verified).
dispatch.register("gru", dispatch.Backend("triton", _gru_triton, _why_not_triton, priority=5,
                                          auto_why_not=_gpu_verified.auto_why_not,
                                          on_auto=_gpu_verified.warn_unverified))


gru_step = entry_point(_gru_step)  # reset_after checked as gru's switches are


@entry_point
def gru(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None = None,
        bias_hh: Tensor | None = None, *, h0: Tensor | None = None,
        lengths: Tensor | Sequence[int] | None = None, reset_after: bool = True,
        reverse: bool = False, backend: str = "auto",
        check_finite: bool = False, state_mask: Tensor | None = None,
        zoneout_mask: Tensor | None = None, activation: str = "tanh",
        recurrent_activation: str = "sigmoid") -> tuple[Tensor, Tensor]:
    """One GRU layer over a batch of sequences.

    Equations (gate order r, z, n; torch/cuDNN layout), ``reset_after=True``::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)
        z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        h' = (1 − z) ⊙ n + z ⊙ h

    ``reset_after=False`` is the textbook form of Cho et al. (2014):
    ``n = tanh(W_in x + b_in + W_hn (r ⊙ h))``; it has no recurrent bias (pass
    ``bias_hh=None``), exactly as Keras' ``reset_after=False``.

    Args:
        x: (B, T, I) input, batch first.
        weight_ih: (3H, I) rows [W_ir; W_iz; W_in].  weight_hh: (3H, H) rows [W_hr; W_hz; W_hn].
        bias_ih, bias_hh: (3H,) or None.
        h0: (B, H) initial state; zeros when None.
        lengths: (B,) integers in [0, T] for right-padded batches: outputs past a sequence's
            end are zero and ``h_n`` is its state at its own last step; the padding is never
            read (NaN there reaches no output nor gradient), nor checked by check_finite.
        reverse: run from each sequence's own last step back to step 0.
        backend: "auto" or a name from ``grukit.ops.dispatch.backends("gru")``.
        check_finite: raise a ``ValueError`` if x holds NaN or Inf.
        state_mask: (B, H) multiplier of the state fed to the recurrent weights (variational
            recurrent dropout, as Keras' ``recurrent_dropout``).
        zoneout_mask: (B, T, H) zoneout (Krueger et al. 2017): where it is 1 a unit keeps its
            previous state, ``h_t = m_t ⊙ h_{t−1} + (1 − m_t) ⊙ h̃_t`` with h̃_t the update
            above; its step t goes with x[:, t] (also with ``reverse``); y_t is h_t.
        activation, recurrent_activation: Keras' names replacing tanh (n) and σ (r, z); any
            other pair runs on the "reference" backend.

    Returns:
        y (B, T, H) and h_n (B, H).
    """
    if (backend in _cpu.PLAIN_BACKENDS and lengths is None and not reverse
            and state_mask is None and zoneout_mask is None and not check_finite
            and (reset_after or bias_hh is None)
            and activation == "tanh" and recurrent_activation == "sigmoid"
            and _cpu.plain(x, weight_ih, weight_hh, bias_ih, bias_hh, h0, 3)):
        # the common inference call, which "auto" gives the fused CPU kernel anyway: it
        # skips the entry's checks and dispatch (~60 µs of a one-step call)
        return _gru_cpu_plain(x, weight_ih, weight_hh, bias_ih, bias_hh, h0, reset_after)
    _, hidden = check_layer("gru", x, weight_ih, weight_hh, 3, bias_ih, bias_hh)
    if not reset_after and bias_hh is not None:
        raise ValueError(
            "gru: reset_after=False has no recurrent bias (Cho et al. 2014; Keras "
            "reset_after=False); pass bias_hh=None and fold b_hr, b_hz into bias_ih."
        )
    batch, steps = x.shape[0], x.shape[1]
    masks = {"state_mask": (state_mask, (batch, hidden)),
             "zoneout_mask": (zoneout_mask, (batch, steps, hidden))}
    backend, acts = activations("gru", backend, activation, recurrent_activation,
                                ("tanh", "sigmoid"))
    call = Call("gru", x, h0, lengths, reverse, backend, check_finite, (("h0", hidden),),
                masks, {"reset_after": reset_after} | acts)
    return enter(call, weight_ih, weight_hh, bias_ih, bias_hh)
