"""minGRU recurrence: parallel (log-space scan) and sequential paths that agree."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .. import _cpu, _gpu_verified, _stream, _triton, dispatch
from .._checks import check_input, check_like, check_weight
from .._entry import Call, enter, entry_point
from .reference import mingru_reference, mingru_step

__all__ = ["mingru", "mingru_step"]

MODES = ("parallel", "sequential")

dispatch.register("mingru", dispatch.Backend("reference", mingru_reference))


def _mingru_cpu(*args, **kwargs):
    from .cpu import mingru_cpu  # numba loads on first use, not at import

    return mingru_cpu(*args, **kwargs)


def _why_not_cpu(x, **call):
    """The fused CPU kernel is no torch custom op: torch.compile and torch.export trace the
    reference's scan (what "auto" takes there)."""
    return _cpu.untraced_why_not("the minGRU's") or _cpu.why_not(x, **call)


# "auto" takes it on the CPU: forward + backward 15-20x faster than the reference's scan at
# B=32, T=100, I=1, H=64 and B=64, T=200, I=32, H=256 on one thread
# (benchmarks/bench_mingru_cpu.py); in float32 its result is the step loop's (the scan rounds
# once from float64: 1.9e-6 against 7.5e-8 off float64 over 5000 steps of a slow gate)
dispatch.register("mingru", dispatch.Backend("cpu", _mingru_cpu, _why_not_cpu, priority=10))


def _mingru_triton(*args, **kwargs):
    from .triton import mingru_triton  # triton loads on first use, not at import

    return mingru_triton(*args, **kwargs)


def _auto_why_not_triton(x=None, **call):
    """auto takes the scan kernel on CUDA only (H200, long shape: 5.8x the reference's
    log-space scan forward + backward in exact fp32, 8.4x with TF32; BENCHMARKS.md): for CPU
    tensors the reference serves, and the interpreter runs the kernel only when named."""
    if getattr(getattr(x, "device", None), "type", None) != "cuda":
        return ("auto runs the Triton minGRU scan on CUDA tensors only; on the CPU the "
                "reference's log-space scan serves (backend='triton' runs the kernel under "
                "TRITON_INTERPRET=1).")
    return _gpu_verified.auto_why_not(x=x, **call)


dispatch.register("mingru", dispatch.Backend("triton", _mingru_triton, _triton.why_not,
                                             priority=5, auto_why_not=_auto_why_not_triton,
                                             on_auto=_gpu_verified.warn_unverified))


def _mingru_stream(*args, **kwargs):
    from .stream import mingru_stream  # numba loads on first use, not at import

    return mingru_stream(*args, **kwargs)


# The one-step fast path of grukit.nn.Stream (see .._stream): the only backend of its op.
dispatch.register("mingru_stream", dispatch.Backend("cpu", _mingru_stream, _stream.why_not,
                                                    priority=10))


@entry_point
def mingru(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None = None, *,
           h0: Tensor | None = None, lengths: Tensor | Sequence[int] | None = None,
           mode: str = "parallel", reverse: bool = False, backend: str = "auto",
           check_finite: bool = False) -> tuple[Tensor, Tensor]:
    """One minGRU layer (Feng et al. 2024)::

        [k; v] = W_ih x + b_ih,   z = σ(k),   h̃ = g(v),   h' = (1 − z) ⊙ h + z ⊙ h̃

    with g(v) = v + 0.5 for v ≥ 0 and σ(v) otherwise (the paper's log-space form, h̃ > 0).
    The gates depend on x only, so training runs a parallel log-space scan over time
    (``mode="parallel"``) and inference may step (``mode="sequential"``); both agree.

    Args:
        x: (B, T, I).  weight_ih: (2H, I) rows [W_z; W_h].  bias_ih: (2H,) or None.
        h0: (B, H) initial state (any real values); zeros when None.
        mode: "parallel" or "sequential".
        lengths, reverse, backend, check_finite: as in ``grukit.ops.gru``. On the CPU,
            "auto" runs the reference; backend="cpu" the fused numba kernel (both modes run
            its one loop, in x's dtype, as "sequential" does).

    Returns:
        y (B, T, H) and h_n (B, H).
    """
    if not isinstance(mode, str) or mode not in MODES:  # an array: `in` cannot compare it
        raise ValueError(f"mingru: mode must be one of {MODES}; got {mode!r}.")
    if not isinstance(weight_ih, Tensor) or weight_ih.dim() != 2 or weight_ih.shape[0] % 2:
        got = tuple(weight_ih.shape) if isinstance(weight_ih, Tensor) else type(weight_ih)
        raise ValueError(f"mingru: weight_ih must be a 2-D tensor (2·hidden, input_size) "
                         f"with rows [W_z; W_h]; got {got}.")
    hidden, input_size = weight_ih.shape[0] // 2, weight_ih.shape[1]
    if hidden == 0:
        raise ValueError("mingru: weight_ih has no rows, a hidden size of 0; a layer needs at "
                         "least one unit (torch.nn refuses hidden_size=0 too).")
    if bias_ih is not None:
        check_weight(bias_ih, "bias_ih", (2 * hidden,), "mingru")
    check_input(x, input_size, "mingru")
    check_like(x, "mingru", weight_ih=weight_ih, bias_ih=bias_ih)
    call = Call("mingru", x, h0, lengths, reverse, backend, check_finite, (("h0", hidden),),
                options={"mode": mode})
    return enter(call, weight_ih, bias_ih)
