"""On a GPU where the Triton kernels have not passed their tests, ``backend="auto"`` keeps to
torch's own GRU/LSTM (cuDNN) wherever it serves the call, and takes a Triton kernel only for
what nothing else fused serves, warning once. Checked on a stand-in CUDA input, so it runs on
any machine."""

import types
import warnings

import pytest
import torch

from grukit.ops import _gpu_verified, dispatch
from grukit.ops.gru import native as gru_native
from grukit.ops.lstm import native as lstm_native


def cuda_input(batch=2, steps=4, features=3):
    return types.SimpleNamespace(device=torch.device("cuda"), shape=(batch, steps, features),
                                 dtype=torch.float32)


@pytest.fixture
def gpu(monkeypatch, tf32):
    """A stand-in sm_80 GPU; sm_90 verified; TF32 allowed (where the Triton GRU is the faster
    above 192 units)."""
    tf32(matmul=True)
    monkeypatch.setattr(_gpu_verified, "capability", lambda x: (8, 0))
    monkeypatch.setattr(_gpu_verified, "VERIFIED", {(9, 0): "test"})
    monkeypatch.setattr(_gpu_verified, "_warned", set())
    monkeypatch.delenv(_gpu_verified.POLICY_ENV, raising=False)

    def verify(cap):
        monkeypatch.setattr(_gpu_verified, "capability", lambda x: cap)
    return verify


def test_cudnn_serves_large_gru_and_batch_one_lstm_where_triton_is_unverified(gpu):
    x = cuda_input()
    big = torch.zeros(2, 256)
    assert gru_native.why_not(x, h0=big) is None
    assert lstm_native.auto_why_not(cuda_input(batch=1)) is None
    gpu((9, 0))  # verified: the Triton kernels take them
    assert "persistent" in gru_native.why_not(x, h0=big)
    assert "batch of one" in lstm_native.auto_why_not(cuda_input(batch=1))
    assert lstm_native.why_not(cuda_input(batch=1)) is None  # backend="torch" named runs it


def test_cudnn_serves_large_gru_in_exact_fp32_even_where_verified(gpu, tf32):
    gpu((9, 0))
    tf32(matmul=False)
    assert gru_native.why_not(cuda_input(), h0=torch.zeros(2, 256)) is None


def test_auto_on_an_unverified_gpu_uses_cudnn_where_it_can(gpu):
    pytest.importorskip("triton")
    x, big = cuda_input(), torch.zeros(2, 256)
    assert dispatch.explain("gru", "auto", x=x, h0=big)[0] == "torch"
    assert dispatch.explain("lstm", "auto", x=cuda_input(batch=1))[0] == "torch"
    # what only Triton serves: the textbook GRU, lengths
    assert dispatch.explain("gru", "auto", x=x, h0=big, reset_after=False)[0] == "triton"
    assert dispatch.explain("lstm", "auto", x=x, lengths=torch.tensor([4, 2]))[0] == "triton"
    gpu((9, 0))
    assert dispatch.explain("gru", "auto", x=x, h0=big)[0] == "triton"


def test_policies(gpu, monkeypatch):
    pytest.importorskip("triton")
    x, big = cuda_input(), torch.zeros(2, 256)
    monkeypatch.setenv(_gpu_verified.POLICY_ENV, "refuse")
    name, skipped = dispatch.explain("gru", "auto", x=x, h0=big, reset_after=False)
    assert name == "reference" and "unverified on this GPU (sm_80)" in skipped["triton"]
    assert dispatch.explain("gru", "triton", x=x, h0=big, reset_after=False)[0] == "triton"
    monkeypatch.setenv(_gpu_verified.POLICY_ENV, "allow")
    assert dispatch.explain("gru", "auto", x=x, h0=big)[0] == "triton"
    monkeypatch.setenv(_gpu_verified.POLICY_ENV, "sometimes")
    with pytest.raises(ValueError, match="GRUKIT_UNVERIFIED_TRITON='sometimes' is not a policy"):
        dispatch.explain("gru", "auto", x=x, h0=big, reset_after=False)


def test_auto_warns_once_when_it_takes_an_unverified_kernel(gpu, monkeypatch):
    calls = []
    monkeypatch.setattr(dispatch, "_REGISTRY", {})
    monkeypatch.setattr(dispatch, "_ORDERED", {})
    dispatch.register("op", dispatch.Backend("reference", lambda: "ref"))
    dispatch.register("op", dispatch.Backend(
        "fused", lambda: "fused", priority=5, auto_why_not=_gpu_verified.auto_why_not,
        on_auto=lambda **call: (calls.append(call), _gpu_verified.warn_unverified(**call))))
    x = cuda_input()
    with pytest.warns(RuntimeWarning, match=r"not been verified on this GPU \(sm_80; "
                                            r"verified: sm_90\)"):
        assert dispatch.select("op", "auto", x=x)() == "fused"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dispatch.select("op", "auto", x=x)  # once per GPU kind
        dispatch.select("op", "fused", x=x)  # named: an explicit choice, no hook
    assert len(calls) == 2
    gpu((9, 0))
    _gpu_verified._warned.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dispatch.select("op", "auto", x=x)  # verified: silent


def test_cpu_tensors_are_never_affected(monkeypatch):
    monkeypatch.setenv(_gpu_verified.POLICY_ENV, "refuse")
    x = torch.randn(2, 3, 4)
    assert _gpu_verified.unverified(x) is None and _gpu_verified.auto_why_not(x) is None
    assert dispatch.explain("gru", "auto", x=x)[0] == "cpu"


def test_a_gpu_whose_tests_failed_never_gets_triton_from_auto(gpu, monkeypatch):
    pytest.importorskip("triton")
    monkeypatch.setattr(_gpu_verified, "FAILED", {(8, 0): "3 of 9 failed"})
    x, big = cuda_input(), torch.zeros(2, 256)
    name, skipped = dispatch.explain("gru", "auto", x=x, h0=big, reset_after=False)
    assert name == "reference" and "failed their tests on this GPU (sm_80: 3 of 9 failed)" \
        in skipped["triton"]
    assert dispatch.explain("gru", "auto", x=x, h0=big)[0] == "torch"
    assert dispatch.explain("gru", "triton", x=x, h0=big, reset_after=False)[0] == "triton"
    monkeypatch.setenv(_gpu_verified.POLICY_ENV, "allow")
    assert dispatch.explain("gru", "auto", x=x, h0=big, reset_after=False)[0] == "triton"


def test_the_record_is_consistent():
    assert not set(_gpu_verified.VERIFIED) & set(_gpu_verified.FAILED)
    for cap in list(_gpu_verified.VERIFIED) + list(_gpu_verified.FAILED):
        assert isinstance(cap, tuple) and len(cap) == 2


def test_a_kernel_that_never_ran_on_a_gpu_is_left_out_by_auto(gpu, monkeypatch):
    """An op in NOT_RUN_ON_GPU (a kernel newer than the last GPU run; the LayerNorm-GRU's
    was one until it passed on the H200): auto skips its Triton backend on CUDA even on a
    verified GPU, naming why; "allow" lifts it; CPU tensors are untouched; other ops keep
    the rule of every Triton kernel."""
    monkeypatch.setitem(_gpu_verified.NOT_RUN_ON_GPU, "lngru", "newer than the GPU run")
    gpu((9, 0))
    why = _gpu_verified.auto_why_not_for("lngru")
    reason = why(cuda_input(), h0=torch.zeros(2, 8))
    assert reason.startswith("grukit's Triton lngru kernel has not yet passed its tests on a "
                             "GPU") and "backend='triton' runs it" in reason
    assert why(torch.zeros(2, 3, 4)) is None
    assert _gpu_verified.auto_why_not_for("gru")(cuda_input()) is None
    monkeypatch.setenv(_gpu_verified.POLICY_ENV, "allow")
    assert why(cuda_input()) is None
    monkeypatch.setenv(_gpu_verified.POLICY_ENV, "refuse")
    gpu((8, 0))  # unverified GPU: the rule of every Triton kernel still applies
    assert "unverified on this GPU" in _gpu_verified.auto_why_not_for("gru")(cuda_input())
