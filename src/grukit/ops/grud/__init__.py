"""GRU-D recurrence (Che et al. 2018): one entry point, backends chosen by ``dispatch``."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor

from .. import _cpu, dispatch
from .._checks import check_finite as _check_finite
from .._checks import check_layer, check_state, check_weight, shape_str
from .._entry import Call, enter, entry_point
from .reference import final_observed, grud_reference, input_side
from .reference import grud_step as _grud_step

__all__ = ["final_observed", "grud", "grud_step", "input_side"]


@functools.partial(_cpu.outside_graph, kernel="GRU-D's")
def _grud_cpu(*args, **kwargs):
    from .cpu import grud_cpu  # numba loads on first use, not at import

    return grud_cpu(*args, **kwargs)


def _why_not_cpu(x, state_mask=None, **call):
    """The fused CPU kernel serves ``state_mask`` but gives it no gradient."""
    return _cpu.masks_why_not(state_mask=state_mask) or _cpu.why_not(x, **call) or \
        _cpu.export_why_not("GRU-D's")


dispatch.register("grud", dispatch.Backend("reference", grud_reference))
dispatch.register("grud", dispatch.Backend("cpu", _grud_cpu, _why_not_cpu, priority=10))


def _check_series(x: Tensor, mask: object, delta: object, check_finite: bool) -> None:
    """mask and delta (B, T, D) like x; mask in {0, 1}; delta ≥ 0 and finite; x finite where
    observed (NaN allowed where mask is 0)."""
    for name, v in (("mask", mask), ("delta", delta)):
        if not isinstance(v, Tensor):
            raise TypeError(f"grud: {name} must be a torch.Tensor of shape {shape_str(x)} "
                            f"like x; got {type(v).__name__}.")
        if tuple(v.shape) != tuple(x.shape):
            raise ValueError(f"grud: {name} must have the shape of x, (B, T, D) = "
                             f"{shape_str(x)}; got {shape_str(v)}.")
        if v.device != x.device:
            raise TypeError(f"grud: {name} is on {v.device} but x is on {x.device}; move it "
                            f"with {name}.to(x.device).")
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(f"grud: mask must be boolean or floating (1 observed, 0 missing); got "
                        f"dtype {mask.dtype}.")
    if mask.dtype != torch.bool and bool(((mask != 0) & (mask != 1)).any()):
        raise ValueError("grud: mask must hold only 0 (missing) and 1 (observed); found other "
                         "values.")
    if delta.dtype != x.dtype:
        raise TypeError(f"grud: delta is {delta.dtype} but x is {x.dtype}; convert it with "
                        f"delta.to(x.dtype).")
    if not bool(torch.isfinite(delta).all()) or bool((delta < 0).any()):
        raise ValueError("grud: delta (the time since each variable was last observed) must be "
                         "finite and ≥ 0; found a negative, NaN or Inf value.")
    observed = mask.bool()
    bad = torch.isnan(x) & observed
    if bool(bad.any()):
        where = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"grud: x is NaN where mask is 1 (first at index {where}); NaN may "
                         f"stand only for missing values: set mask to 0 there.")
    if check_finite:
        _check_finite(torch.where(observed, x, torch.zeros_like(x)), "x (where observed)",
                      "grud")


def _gate_mask(m: object, name: str, batch: int, width: int, what: str) -> tuple:
    """A dropout mask shared by the gates (B, W), or one per gate given as (B, 3, W) or
    (B, 3W): (the mask as the backends take it, the shape it must then have)."""
    if not isinstance(m, Tensor):
        return m, (batch, width)  # None, or check_mask names the wrong type
    shape = tuple(m.shape)
    if shape == (batch, 3, width):
        if what == "state":  # the backends read [s_r, s_z, s_n] (B, 3H)
            return m.reshape(batch, 3 * width), (batch, 3 * width)
        return m, shape
    if shape in ((batch, width), (batch, 3 * width)):
        if what == "input" and shape[1] == 3 * width:  # the op reads (B, 3, 2D) per gate
            return m.reshape(batch, 3, width), (batch, 3, width)
        return m, shape
    w = "2D" if what == "input" else "H"
    raise ValueError(f"grud: {name} must have shape ({batch}, {width}) = (B, {w}), one mask "
                     f"shared by the gates, or ({batch}, 3, {width}) / ({batch}, {3 * width}), "
                     f"one per gate r, z, n; got {shape_str(m)}.")


grud_step = entry_point(_grud_step)  # reset_after checked as grud's switches are


@entry_point
def grud(x: Tensor, mask: Tensor, delta: Tensor, x_mean: Tensor, weight_ih: Tensor,
         weight_hh: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None,
         weight_mh: Tensor, decay_x_weight: Tensor, decay_x_bias: Tensor | None,
         decay_h_weight: Tensor, decay_h_bias: Tensor | None, *, h0: Tensor | None = None,
         x_last0: Tensor | None = None, lengths: Tensor | Sequence[int] | None = None,
         reset_after: bool = False,
         reverse: bool = False, backend: str = "auto",
         check_finite: bool = False,
         input_mask: Tensor | None = None,
         state_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One GRU-D layer over a batch of irregular series (Che et al. 2018, eqs. 5-9)::

        γ_x = exp(−max(0, w_γx ⊙ δ_t + b_γx))            (D,)  one rate per variable
        γ_h = exp(−max(0, W_γh δ_t + b_γh))              (H,)
        x̂_t = m_t ⊙ x_t + (1 − m_t) ⊙ (γ_x ⊙ x_last,t + (1 − γ_x) ⊙ x̄)
        ĥ = γ_h ⊙ h_{t−1}
        r = σ(W_ir x̂ + W_mr m + b_ir + W_hr ĥ + b_hr)
        z = σ(W_iz x̂ + W_mz m + b_iz + W_hz ĥ + b_hz)
        n = tanh(W_in x̂ + W_mn m + b_in + W_hn (r ⊙ ĥ))          reset_after=False (paper)
        n = tanh(W_in x̂ + W_mn m + b_in + r ⊙ (W_hn ĥ + b_hn))   reset_after=True
        h_t = (1 − z) ⊙ n + z ⊙ ĥ

    With ``state_mask`` s (recurrent dropout) every ĥ that W_hh reads above is s ⊙ ĥ (per
    gate: s_r, s_z, s_n for W_hr, W_hz, W_hn); the blend's ĥ is not.

    Gate order r, z, n and torch's labelling of z: the paper's update gate z' is our 1 − z
    (it writes h_t = (1 − z') ⊙ ĥ + z' ⊙ h̃). x_last,t is computed here: the variable's value
    at its last observed step ≤ t; before its first observation in x, ``x_last0``.

    A series fed in chunks (streaming) gives what it gives whole when each chunk starts
    from the previous one's ``h_n`` and ``x_last0 = final_observed(x, mask, x_mean, lengths,
    x_last0)`` of it (δ carries the time across chunks by itself).

    Args:
        x: (B, T, D) values; may hold NaN where mask is 0 (never where it is 1).
        mask: (B, T, D) 1 where observed, 0 where missing (bool or x's floating dtype).
        delta: (B, T, D) time since each variable was last observed, finite and ≥ 0.
        x_mean: (D,) empirical mean x̄ of each variable (from the training data).
        weight_ih: (3H, D) [W_ir; W_iz; W_in] on x̂.  weight_hh: (3H, H) on ĥ.
        bias_ih, bias_hh: (3H,) or None (bias_hh must be None when reset_after=False).
        weight_mh: (3H, D) [W_mr; W_mz; W_mn] on the mask (the paper's V).
        decay_x_weight, decay_x_bias: (D,) diagonal input-decay rates w_γx and b_γx (or None).
        decay_h_weight: (H, D) W_γh.  decay_h_bias: (H,) b_γh or None.
        h0: (B, H) initial state; zeros when None.
        x_last0: (B, D) each variable's last observed value before x (from a previous
            chunk); x̄ when None (nothing observed yet).
        lengths: (B,) integers in [0, T] for right-padded batches: outputs past a sequence's
            end are zero and ``h_n`` is its state at its own last step.
        reset_after: where the reset gate applies (see above); False is the paper's.
        reverse: refused: δ counts time forward, so GRU-D runs forward only.
        backend: "auto" or a name from ``grukit.ops.dispatch.backends("grud")``.
        check_finite: also raise if x holds Inf where observed.
        input_mask: (B, 2D) multiplier of [x̂, m] where W_ih and W_mh read them, the same at
            every step: variational input dropout (Gal & Ghahramani 2016; Che et al.'s code
            drops both at 0.3). The imputation x̂ reads the true mask. (B, 3, 2D) or
            (B, 6D): one mask per gate r, z, n, gate k reading d_k ⊙ [x̂, m] (Che et al.'s
            Keras layer, ``implementation=1``, draws one per gate).
        state_mask: (B, H) multiplier of ĥ where W_hh reads it, the same at every step:
            variational recurrent dropout (Keras' ``recurrent_dropout``; Che et al.'s code
            drops ĥ at 0.3). (B, 3, H) or (B, 3H): one mask per gate, [s_r, s_z, s_n]:
            W_hr (s_r ⊙ ĥ), W_hz (s_z ⊙ ĥ), W_hn (r ⊙ s_n ⊙ ĥ) (Che et al.'s layer). The
            "cpu" backend gives masks no gradient.

    Returns:
        y (B, T, H) and h_n (B, H).
    """
    if reverse:
        raise ValueError("grud: reverse=True is not supported: δ counts the time since the "
                         "last observation forward, so GRU-D runs forward only.")
    dims, hidden = check_layer("grud", x, weight_ih, weight_hh, 3, bias_ih, bias_hh)
    if not reset_after and bias_hh is not None:
        raise ValueError("grud: reset_after=False has no recurrent bias (Cho et al. 2014); "
                         "pass bias_hh=None.")
    check_weight(weight_mh, "weight_mh", (3 * hidden, dims), "grud")
    check_weight(x_mean, "x_mean", (dims,), "grud")
    check_weight(decay_x_weight, "decay_x_weight", (dims,), "grud")
    check_weight(decay_h_weight, "decay_h_weight", (hidden, dims), "grud")
    for name, v, size in (("decay_x_bias", decay_x_bias, dims),
                          ("decay_h_bias", decay_h_bias, hidden)):
        if v is not None:
            check_weight(v, name, (size,), "grud")
    for name, v in (("x_mean", x_mean), ("weight_ih", weight_ih), ("weight_hh", weight_hh),
                    ("bias_ih", bias_ih), ("bias_hh", bias_hh), ("weight_mh", weight_mh),
                    ("decay_x_weight", decay_x_weight), ("decay_x_bias", decay_x_bias),
                    ("decay_h_weight", decay_h_weight), ("decay_h_bias", decay_h_bias)):
        if v is not None and (v.dtype != x.dtype or v.device != x.device):
            raise TypeError(f"grud: {name} is {v.dtype} on {v.device} but x is {x.dtype} on "
                            f"{x.device}; convert it with {name}.to(x).")
    _check_series(x, mask, delta, check_finite)
    if x_last0 is not None:
        check_state(x_last0, "x_last0", x.shape[0], dims, x, "grud")
        _check_finite(x_last0, "x_last0", "grud")
    input_mask, in_shape = _gate_mask(input_mask, "input_mask", x.shape[0], 2 * dims, "input")
    state_mask, st_shape = _gate_mask(state_mask, "state_mask", x.shape[0], hidden, "state")
    call = Call("grud", x, h0, lengths, False, backend, False, (("h0", hidden),),
                masks={"input_mask": (input_mask, in_shape),
                       "state_mask": (state_mask, st_shape)},
                options={"reset_after": reset_after})
    return enter(call, mask, delta, x_mean, x_last0, weight_ih, weight_hh, bias_ih, bias_hh,
                 weight_mh, decay_x_weight, decay_x_bias, decay_h_weight, decay_h_bias)
