"""torch's own LSTM (oneDNN on CPU, cuDNN on GPU) behind the ``grukit.ops.lstm`` signature.

oneDNN's LSTM runs its GEMMs near the FMA peak; for batches above one it is faster on a CPU
than the fused numba kernel (BENCHMARKS.md), so ``backend="auto"`` takes it there. It does
not serve ``lengths`` (that needs packing). ``auto`` leaves it a single sequence, where the
fused kernel wins, and on CUDA the sizes where the Triton kernel is faster (``_cudnn``:
float32 above 192 units with TF32 allowed, on a GPU where the Triton kernels are verified);
``backend="torch"`` named runs those too (``auto_why_not`` holds the speed preferences).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import _cudnn, _gpu_verified
from .._fused import transform_why_not
from .._seq import run_directed


def why_not(x: Tensor, lengths: Tensor | None = None, state_mask: Tensor | None = None,
            **_: object) -> str | None:
    """None when torch's LSTM can serve the call (a named ``backend="torch"`` runs it),
    else the reason."""
    if state_mask is not None:
        return "state_mask: torch's LSTM has no recurrent dropout (the cpu backend has)."
    if lengths is not None:
        return "lengths given: torch's LSTM serves them only through packing."
    if x.shape[0] == 0 or x.shape[1] == 0:
        return "x has no time steps or no sequences; torch's LSTM needs at least one of each."
    return transform_why_not()


def auto_why_not(x: Tensor, h0: tuple[Tensor, Tensor] | None = None,
                 weight_hr: Tensor | None = None, **_: object) -> str | None:
    """Where ``backend="auto"`` prefers another backend although torch's LSTM could serve the
    call (speed only: consulted by "auto", never for a named backend), else None."""
    if x.shape[0] == 1 and not _gpu_verified.prefer_torch(x):
        return ("batch of one: the fused kernel (CPU, or Triton on CUDA) is faster there.")
    if weight_hr is not None:  # the Triton LSTM has no projection
        return None
    return _cudnn.triton_faster(x, None if h0 is None else h0[-1].shape[-1], "LSTM")


def compiled_training(x: Tensor) -> bool:
    """A training step being compiled on a CPU (inductor cannot lower ``aten::lstm``'s
    backward there): the oneDNN kernel then runs as grukit's ops (``.onednn``)."""
    return x.device.type == "cpu" and torch.is_grad_enabled() and \
        torch.compiler.is_compiling()


def lstm_native(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
                bias_hh: Tensor | None, *, h0: tuple[Tensor, Tensor], lengths: Tensor | None,
                weight_hr: Tensor | None, reverse: bool):
    """x (B, T, I) -> y (B, T, P), (h_n, c_n) through ``torch.lstm`` (one layer)."""
    has_bias = bias_ih is not None or bias_hh is not None  # one alone: the other is zeros
    params = [weight_ih, weight_hh]
    if has_bias:
        b_ih = bias_ih if bias_ih is not None else torch.zeros_like(bias_hh)
        params += [b_ih, bias_hh if bias_hh is not None else torch.zeros_like(b_ih)]
    if weight_hr is not None:
        params.append(weight_hr)
    hx = (h0[0].unsqueeze(0), h0[1].unsqueeze(0))  # (1, B, P), (1, B, H)
    if compiled_training(x) and weight_hr is None:
        from .onednn import available, lstm_onednn

        if available(x):  # the same oneDNN kernel, as an op inductor keeps whole
            return run_directed(lambda xs: lstm_onednn(xs, weight_ih, weight_hh, bias_ih,
                                                       bias_hh, h0[0], h0[1]),
                                x, lengths, reverse)

    def run(xs: Tensor):
        # torch.lstm(input, hx, params, has_biases, num_layers, dropout, train,
        #            bidirectional, batch_first)
        # train=True wherever autograd records: cuDNN refuses backward through an
        # inference-mode call (dropout is 0, so outputs are the same).
        y, h, c = torch.lstm(xs, hx, params, has_bias, 1, 0.0, torch.is_grad_enabled(),
                             False, True)
        return y, (h[0], c[0])

    y, (h, c) = run_directed(run, x, lengths, reverse)
    return y, (h, c)
