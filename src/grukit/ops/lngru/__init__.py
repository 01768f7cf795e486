"""LayerNorm-GRU recurrence (Ba et al. 2016): one entry point, backends chosen by ``dispatch``."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor

from .. import _cpu, _gpu_verified, _stream, _triton, dispatch
from .._checks import check_layer, check_like, check_weight
from .._entry import Call, enter, entry_point
from .reference import input_gates, lngru_reference
from .reference import lngru_step as _lngru_step

__all__ = ["input_gates", "lngru", "lngru_step"]


@functools.partial(_cpu.outside_graph, kernel="the LayerNorm-GRU's")
def _lngru_cpu(*args, **kwargs):
    from .cpu import lngru_cpu  # numba loads on first use, not at import

    return lngru_cpu(*args, **kwargs)


def _why_not_cpu(x, state_mask=None, **call):
    """The fused CPU kernel serves a state mask, but gives it no gradient."""
    if state_mask is not None and state_mask.requires_grad and torch.is_grad_enabled():
        return ("state_mask requires grad and the cpu backend gives masks no gradient; pass "
                "state_mask.detach() (or use backend='reference').")
    return _cpu.why_not(x, **call) or _cpu.export_why_not("the LayerNorm-GRU's")


dispatch.register("lngru", dispatch.Backend("reference", lngru_reference))
dispatch.register("lngru", dispatch.Backend("cpu", _lngru_cpu, _why_not_cpu, priority=10))


def _lngru_triton(*args, **kwargs):
    from .triton import lngru_triton  # triton loads on first use, not at import

    return lngru_triton(*args, **kwargs)


# Below "cpu": "auto" takes it for CUDA tensors and never for CPU ones (see _triton.why_not);
# it holds a row's H units in one block (its normalisation needs the whole row of a step).
dispatch.register("lngru", dispatch.Backend("triton", _lngru_triton,
                                            _triton.why_not_one_block, priority=5,
                                            auto_why_not=_gpu_verified.auto_why_not,
                                            on_auto=_gpu_verified.warn_unverified))


def _lngru_stream(*args, **kwargs):
    from .stream import lngru_stream  # numba loads on first use, not at import

    return lngru_stream(*args, **kwargs)


# The one-step fast path of grukit.nn.Stream (see .._stream): the only backend of its op.
dispatch.register("lngru_stream", dispatch.Backend("cpu", _lngru_stream, _stream.why_not,
                                                   priority=10))


lngru_step = entry_point(_lngru_step)  # reset_after checked as lngru's switches are


@entry_point
def lngru(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None = None,
          bias_hh: Tensor | None = None, ln_ih_weight: Tensor | None = None,
          ln_ih_bias: Tensor | None = None, ln_hh_weight: Tensor | None = None,
          ln_hh_bias: Tensor | None = None, *, h0: Tensor | None = None,
          lengths: Tensor | Sequence[int] | None = None, reset_after: bool = True,
          reverse: bool = False, backend: str = "auto", check_finite: bool = False,
          state_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One LayerNorm-GRU layer over a batch of sequences (Ba et al. 2016, §3.1; as haste's
    ``LayerNormGRU``): the input and the recurrent pre-activations are each normalised over
    their 3H gate rows, then scaled by a gain g and shifted by β::

        LN(v; g, β) = (v − mean(v)) / sqrt(var(v) + 1e-5) ⊙ g + β

    Gate order r, z, n (torch/cuDNN layout), ``reset_after=True``::

        gi = LN(W_ih x; g_ih, β_ih) + b_ih        gh = LN(W_hh h; g_hh, β_hh) + b_hh
        r = σ(gi_r + gh_r)    z = σ(gi_z + gh_z)
        n = tanh(gi_n + r ⊙ gh_n)
        h' = (1 − z) ⊙ n + z ⊙ h

    ``reset_after=False`` (Cho et al. 2014): W_hn multiplies r ⊙ h, so the recurrent rows are
    normalised in two groups, the r, z rows over their 2H values and the n rows over their H
    values (with the matching slices of g_hh, β_hh); there is no recurrent bias::

        [gh_r; gh_z] = LN(W_h[r,z] h; g_hh[:2H], β_hh[:2H])
        n = tanh(gi_n + LN(W_hn (r ⊙ h); g_hh[2H:], β_hh[2H:]))

    Args:
        x: (B, T, I) input, batch first.
        weight_ih: (3H, I) rows [W_ir; W_iz; W_in].  weight_hh: (3H, H) rows [W_hr; W_hz; W_hn].
        bias_ih, bias_hh: (3H,) or None (bias_hh must be None when reset_after=False).
        ln_ih_weight, ln_ih_bias: (3H,) gain g_ih (initially 1) and shift β_ih (initially 0)
            of the input normalisation, or None (gain 1, shift 0).
        ln_hh_weight, ln_hh_bias: (3H,) the same for the recurrent normalisation.
        h0: (B, H) initial state; zeros when None.
        lengths: (B,) integers in [0, T] for right-padded batches: outputs past a sequence's
            end are zero and ``h_n`` is its state at its own last step; the padding is never
            read (NaN there reaches no output nor gradient), nor checked by check_finite.
        reverse: run from each sequence's own last step back to step 0.
        backend: "auto" or a name from ``grukit.ops.dispatch.backends("lngru")``.
        check_finite: raise a ``ValueError`` if x holds NaN or Inf.
        state_mask: (B, H) multiplier of the state fed to the recurrent weights (variational
            recurrent dropout, as Keras' ``recurrent_dropout``); reference and cpu backends.

    Returns:
        y (B, T, H) and h_n (B, H).
    """
    _, hidden = check_layer("lngru", x, weight_ih, weight_hh, 3, bias_ih, bias_hh)
    if not reset_after and bias_hh is not None:
        raise ValueError(
            "lngru: reset_after=False has no recurrent bias (Cho et al. 2014; the recurrent "
            "shift ln_hh_bias plays its part); pass bias_hh=None."
        )
    for name, v in (("ln_ih_weight", ln_ih_weight), ("ln_ih_bias", ln_ih_bias),
                    ("ln_hh_weight", ln_hh_weight), ("ln_hh_bias", ln_hh_bias)):
        if v is not None:
            check_weight(v, name, (3 * hidden,), "lngru")
            check_like(x, "lngru", **{name: v})
    masks = {"state_mask": (state_mask, (x.shape[0], hidden))}
    call = Call("lngru", x, h0, lengths, reverse, backend, check_finite, (("h0", hidden),),
                masks, {"reset_after": reset_after})
    return enter(call, weight_ih, weight_hh, bias_ih, bias_hh, ln_ih_weight, ln_ih_bias,
                 ln_hh_weight, ln_hh_bias)
