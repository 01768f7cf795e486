"""Where auto leaves cuDNN for the Triton kernels (ops._cudnn.triton_faster), checked on
stand-in CUDA tensors (the rule reads only device, dtype and torch's TF32 switch)."""

from types import SimpleNamespace

import pytest
import torch

from grukit.ops import _cudnn, _gpu_verified


def fake(device="cuda", dtype=torch.float32):
    return SimpleNamespace(device=torch.device(device), dtype=dtype)


@pytest.fixture
def verified(monkeypatch):
    monkeypatch.setattr(_gpu_verified, "prefer_torch", lambda x: False)


@pytest.mark.parametrize("hidden, dtype, tf32_on, device, faster", [
    (256, torch.float32, True, "cuda", True),
    (193, torch.float32, True, "cuda", True),
    (512, torch.float32, True, "cuda", True),
    (192, torch.float32, True, "cuda", False),  # cuDNN's persistent kernel
    (1024, torch.float32, True, "cuda", False),  # weights streamed: cuDNN measured faster
    (256, torch.float32, False, "cuda", False),  # exact fp32: cuDNN measured faster
    (256, torch.bfloat16, False, "cuda", True),
    (1024, torch.bfloat16, True, "cuda", False),  # bf16, H = 1024: cuDNN measured 4x faster
    (256, torch.float16, True, "cuda", False),  # no Triton float16 kernel
    (256, torch.float32, True, "cpu", False),
    (None, torch.float32, True, "cuda", False),
])
def test_triton_faster_only_where_measured(verified, tf32, hidden, dtype, tf32_on, device,
                                           faster):
    tf32(matmul=tf32_on)
    reason = _cudnn.triton_faster(fake(device, dtype), hidden, "LSTM")
    assert (reason is not None) == faster
    if faster:
        assert f"hidden size {hidden} in 193..512" in reason and "LSTM" in reason


def test_unverified_gpu_keeps_cudnn(monkeypatch, tf32):
    monkeypatch.setattr(_gpu_verified, "prefer_torch", lambda x: True)
    tf32(matmul=True)
    assert _cudnn.triton_faster(fake(), 512, "GRU") is None
