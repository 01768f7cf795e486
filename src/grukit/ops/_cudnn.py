"""Where ``backend="auto"`` leaves cuDNN for grukit's Triton kernels on a GPU, and why.

cuDNN runs a small GRU/LSTM (H ≤ 192) with its persistent kernel, whose step a
Python-launched Triton call does not beat (H200, seed shape: cuDNN GRU forward 0.07 ms, the
Triton kernel 1.35 ms). Above that it launches a GEMM plus pointwise work per step, the
latency the one-launch split-H Triton kernels remove. Measured on an H200 (BENCHMARKS.md,
forward + backward, same runs):

- TF32 allowed for float32 matmuls: split-H 2.0-2.5x cuDNN's GRU and 1.7-1.9x its LSTM
  (mid H = 256 and long shapes);
- bf16 at H = 256: 2.3-3.5x (GRU) and 2.0-2.7x (LSTM) (mid and long shapes); at H = 1024
  (large), where the weights no longer fit on chip and are read from L2 every step, 0.25x
  and 0.18x;
- exact fp32 products: 0.95-1.06x (mid) and 0.81x (long) for the GRU, 0.6-0.8x for the LSTM.

So the rule: Triton for float32 with TF32 allowed and for bfloat16, from
``CUDNN_PERSISTENT_MAX_H`` + 1 up to ``HELD_MAX_H`` units (weights held on chip), on a GPU
where the kernels are verified; cuDNN everywhere else it serves the call.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import _gpu_verified

CUDNN_PERSISTENT_MAX_H = 192  # the largest H cuDNN runs with its persistent kernel
HELD_MAX_H = 512  # the largest H whose weights the split-H kernels hold on chip by default


def triton_faster(x: Tensor, hidden: int | None, what: str) -> str | None:
    """The reason torch's ``what`` (cuDNN) leaves a CUDA call to the Triton kernel, else
    None (cuDNN serves it)."""
    if x.device.type != "cuda" or hidden is None:
        return None
    if not CUDNN_PERSISTENT_MAX_H < hidden <= HELD_MAX_H:
        return None
    if x.dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32:
        mode = "float32 with TF32 allowed"
    elif x.dtype == torch.bfloat16:
        mode = "bfloat16"
    else:
        return None
    if _gpu_verified.prefer_torch(x):
        return None
    return (f"hidden size {hidden} in {CUDNN_PERSISTENT_MAX_H + 1}..{HELD_MAX_H}, {mode}: "
            f"cuDNN's {what} leaves its persistent kernel there for a GEMM launch per step, "
            f"which the one-launch Triton kernel avoids (about 2x cuDNN measured on an H200).")
