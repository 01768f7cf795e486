"""The GPUs on which the Triton kernels have passed their tests for real.

Triton's interpreter runs a grid's programs one after another, so the split-H kernels'
barriers, bf16 and TF32 are checked only on a GPU. Until ``pytest
tests/ops/test_triton_kernels.py tests/ops/test_triton_split.py`` has passed on a GPU of a
compute capability, ``backend="auto"`` does not choose a Triton kernel there where torch's
own (cuDNN) can serve the call; for what only Triton serves (the textbook GRU,
reset_after=False; ``lengths``) it takes the kernel and warns once.

The environment variable ``GRUKIT_UNVERIFIED_TRITON`` sets the policy on GPUs not in
``VERIFIED``: ``warn`` (the default, as above), ``allow`` (treat them as verified: auto
chooses as on a verified GPU, no warning) or ``refuse`` (auto never chooses a Triton kernel
there; the reference loop serves what cuDNN cannot). Where the tests ran and failed
(``FAILED``), auto never takes a Triton kernel unless the policy is ``allow``.
``backend="triton"`` always runs the kernel: naming it is opting in.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import torch

# compute capability -> the run that verified it (GPU, versions, date, result).
VERIFIED: dict[tuple[int, int], str] = {
    (9, 0): "NVIDIA H200, torch 2.11.0+cu130, Triton 3.6.0, 2026-12-04: bash "
            "benchmarks/gpu_check.sh at commit da47676, every Triton test passed (123, the "
            "LayerNorm-GRU's included; the barrier give-up test skipped: on a GPU the "
            "barrier opens); first verified at 3e77fb3",
}
# compute capability -> a run whose Triton tests failed there: auto never takes a Triton
# kernel on such a GPU (unless the policy is "allow"); the reference loop serves what cuDNN
# cannot. (sm_90 failed 23 of 88 at commit ea71306 with Triton 3.6, whose combine pass
# turned the exact multiply-sum product into a TF32 dot; fixed in 16f4d1d.)
FAILED: dict[tuple[int, int], str] = {}

# op -> why its Triton kernel has never run on a GPU: newer than every run in VERIFIED, it has
# passed under the interpreter and compiled for sm_90 only. "auto" leaves such an op to the
# other backends on CUDA (the reference loop where nothing else serves), whatever the GPU,
# unless the policy is "allow"; backend="triton" runs it. Remove the entry once
# benchmarks/gpu_check.sh (which runs the op's tests) has passed on a GPU.
NOT_RUN_ON_GPU: dict[str, str] = {
    "lngru": "its recurrent normalisation takes overflow-safe moments since bb951d4, after "
             "the 2026-12-04 run; passed under the interpreter and compiled for sm_90 only",
}

POLICY_ENV = "GRUKIT_UNVERIFIED_TRITON"
POLICIES = ("warn", "allow", "refuse")
_warned: set[tuple[int, int]] = set()


def capability(x) -> tuple[int, int]:
    """The compute capability of the GPU that holds ``x``."""
    return tuple(torch.cuda.get_device_capability(x.device))


def policy() -> str:
    value = os.environ.get(POLICY_ENV, "warn").strip().lower() or "warn"
    if value not in POLICIES:
        raise ValueError(f"{POLICY_ENV}={value!r} is not a policy; use one of "
                         f"{', '.join(POLICIES)}.")
    return value


def unverified(x) -> tuple[int, int] | None:
    """The capability of x's GPU when the Triton kernels are unverified there (and the policy
    does not waive it), else None (CPU tensors included)."""
    if getattr(x, "device", None) is None or x.device.type != "cuda":
        return None
    cap = capability(x)
    if cap in VERIFIED or policy() == "allow":
        return None
    return cap


def prefer_torch(x) -> bool:
    """Should torch's own (cuDNN) backend serve a CUDA call it would otherwise leave to
    Triton? Yes on a GPU where the Triton kernels are unverified."""
    return unverified(x) is not None


def auto_why_not(x=None, **_: object) -> str | None:
    """The reason ``auto`` skips a Triton kernel: its tests failed on this GPU, or they never
    ran there and the policy is ``refuse``; else None."""
    cap = unverified(x)
    if cap is not None and cap in FAILED:
        return (f"the Triton kernels failed their tests on this GPU (sm_{cap[0]}{cap[1]}: "
                f"{FAILED[cap]}); backend='triton' still runs them, at your risk.")
    if cap is not None and policy() == "refuse":
        return (f"the Triton kernels are unverified on this GPU (sm_{cap[0]}{cap[1]}) and "
                f"{POLICY_ENV}=refuse.")
    return None


def auto_why_not_for(op: str) -> Callable[..., str | None]:
    """The ``auto_why_not`` of op's Triton backend: that of every Triton kernel
    (``auto_why_not``), and on CUDA the reason while op's kernel has never run on a GPU
    (``NOT_RUN_ON_GPU``) and the policy is not ``allow``."""

    def why(x=None, **call: object) -> str | None:
        on_cuda = getattr(getattr(x, "device", None), "type", None) == "cuda"
        if on_cuda and op in NOT_RUN_ON_GPU and policy() != "allow":
            return (f"grukit's Triton {op} kernel has not yet passed its tests on a GPU "
                    f"({NOT_RUN_ON_GPU[op]}); backend='triton' runs it, and "
                    f"{POLICY_ENV}=allow lets auto take it.")
        return auto_why_not(x=x, **call)

    return why


def warn_unverified(x=None, **_: object) -> None:
    """Once per capability: auto chose a Triton kernel on a GPU where it is unverified."""
    cap = unverified(x)
    if cap is None or cap in _warned:
        return
    _warned.add(cap)
    warnings.warn(
        f"grukit: backend='auto' runs a Triton kernel that has not been verified on this GPU "
        f"(sm_{cap[0]}{cap[1]}; verified: "
        f"{', '.join(f'sm_{a}{b}' for a, b in sorted(VERIFIED)) or 'none'}), because torch's "
        f"own GRU/LSTM cannot serve this call. Check it with `bash benchmarks/gpu_check.sh` "
        f"(the Triton tests on the GPU); set "
        f"{POLICY_ENV}=allow to trust it, or {POLICY_ENV}=refuse (or backend='reference') to "
        f"use the reference loop instead.", RuntimeWarning, stacklevel=4)
