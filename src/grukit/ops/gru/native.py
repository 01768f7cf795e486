"""torch's own GRU (cuDNN on a GPU) behind the ``grukit.ops.gru`` signature, reset_after only.

On CUDA ``backend="auto"`` takes it except where the Triton kernel is faster (``_cudnn``:
float32 above 192 units with TF32 allowed, on a GPU where the Triton kernels are verified).
On a CPU torch's GRU is slower than the fused numba kernel (BENCHMARKS.md), so ``auto``
reaches it only for calls that kernel declines (bfloat16, float16), where the alternative is
the reference loop. It serves neither ``lengths`` (that needs packing) nor the textbook form
(reset_after=False), which no torch or cuDNN GRU has.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import _cudnn
from .._fused import transform_why_not
from .._seq import run_directed


def why_not(x: Tensor, h0: Tensor | None = None, lengths: Tensor | None = None,
            reset_after: bool = True, state_mask: Tensor | None = None,
            zoneout_mask: Tensor | None = None, **_: object) -> str | None:
    """None when torch's GRU should serve the call, else the reason."""
    if state_mask is not None:
        return "state_mask: torch's GRU has no recurrent dropout (the cpu backend has)."
    if zoneout_mask is not None:
        return "zoneout_mask: torch's GRU has no zoneout (the cpu backend has)."
    if not reset_after:
        return "torch's GRU (cuDNN's) has only the reset-after form; reset_after=False is not it."
    if lengths is not None:
        return "lengths given: torch's GRU serves them only through packing."
    if x.shape[0] == 0 or x.shape[1] == 0:
        return "x has no time steps or no sequences; torch's GRU needs at least one of each."
    return transform_why_not() or _cudnn.triton_faster(
        x, None if h0 is None else h0.shape[-1], "GRU")


def gru_native(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
               bias_hh: Tensor | None, *, h0: Tensor, lengths: Tensor | None,
               reset_after: bool, reverse: bool) -> tuple[Tensor, Tensor]:
    """x (B, T, I) -> y (B, T, H), h_n (B, H) through ``torch.gru`` (one layer)."""
    if not reset_after:
        raise ValueError("gru: backend='torch' serves reset_after=True only.")
    has_bias = bias_ih is not None or bias_hh is not None
    params = [weight_ih, weight_hh]
    if has_bias:
        b_ih = bias_ih if bias_ih is not None else torch.zeros_like(bias_hh)
        params += [b_ih, bias_hh if bias_hh is not None else torch.zeros_like(b_ih)]

    def run(xs: Tensor):
        # torch.gru(input, hx, params, has_biases, num_layers, dropout, train,
        #           bidirectional, batch_first)
        # train=True wherever autograd records: cuDNN refuses backward through an
        # inference-mode call (dropout is 0, so outputs are the same).
        y, h = torch.gru(xs, h0.unsqueeze(0), params, has_bias, 1, 0.0,
                         torch.is_grad_enabled(), False, True)
        return y, (h[0],)

    y, (h,) = run_directed(run, x, lengths, reverse)
    return y, h
