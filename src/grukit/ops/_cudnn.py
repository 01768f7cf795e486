"""Where ``backend="auto"`` leaves cuDNN for grukit's Triton kernels on a GPU, and why.

cuDNN runs a small GRU/LSTM (H ≤ 192) with its persistent kernel, whose step a
Python-launched Triton call does not beat (H200, seed shape: cuDNN GRU forward 0.07 ms, the
Triton kernel 1.35 ms). Above that it launches a GEMM plus pointwise work per step, the
latency the one-launch split-H Triton kernels remove. Measured on an H200 (BENCHMARKS.md,
forward + backward): with TF32 allowed for float32 matmuls the split-H kernels are
1.9-2.5x cuDNN's GRU and 1.9-2.2x its LSTM (mid and long shapes); with exact fp32 products
they are slower than cuDNN (0.5-1.0x), and in bf16 at the large shape (H = 1024) 0.2-0.25x.
So the rule: Triton for float32 tensors above ``CUDNN_PERSISTENT_MAX_H`` units with TF32
allowed (``torch.backends.cuda.matmul.allow_tf32``) on a GPU where the kernels are verified;
cuDNN everywhere else it serves the call.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import _gpu_verified

CUDNN_PERSISTENT_MAX_H = 192  # the largest H cuDNN runs with its persistent kernel


def triton_faster(x: Tensor, hidden: int | None, what: str) -> str | None:
    """The reason torch's ``what`` (cuDNN) leaves a CUDA call to the Triton kernel, else
    None (cuDNN serves it)."""
    if x.device.type != "cuda" or x.dtype != torch.float32 or hidden is None:
        return None
    if hidden <= CUDNN_PERSISTENT_MAX_H or not torch.backends.cuda.matmul.allow_tf32:
        return None
    if _gpu_verified.prefer_torch(x):
        return None
    return (f"hidden size {hidden} > {CUDNN_PERSISTENT_MAX_H} with TF32 allowed: cuDNN's "
            f"{what} leaves its persistent kernel there for a GEMM launch per step, which the "
            f"one-launch Triton kernel avoids (about 2x cuDNN measured on an H200).")
