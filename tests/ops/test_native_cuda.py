"""torch's own GRU/LSTM behind ``backend="torch"`` (cuDNN on a GPU, what auto takes there
wherever the Triton kernels are not verified): outputs and every gradient against the
reference. cuDNN refuses backward through an inference-mode call, which the CPU never shows."""

import pytest
import torch
from triton_cases import DEVICE, compare, gru_case, lstm_case

from grukit.ops import dispatch


@pytest.fixture(autouse=True)
def exact_cudnn(tf32):
    """cuDNN computes fp32 RNNs with TF32 by default (torch.backends.cudnn.allow_tf32); the
    reference's products are exact fp32."""
    tf32(cudnn=False)


@pytest.mark.parametrize("shape", [(3, 5, 4, 16), (2, 4, 3, 48)], ids=["H16", "H48"])
def test_torch_backend_gru_trains(shape):
    compare(*gru_case(shape, None, True), backend="torch", scaled=True)


@pytest.mark.parametrize("batch", [2, 3], ids=["B2", "B3"])
def test_torch_backend_lstm_trains(batch):
    compare(*lstm_case((batch, 5, 4, 16), None), backend="torch", scaled=True)


def test_inference_call_keeps_no_graph():
    fn, tensors = gru_case((2, 3, 4, 8), None, True)
    with torch.no_grad():
        y, h = fn("torch")
    assert not y.requires_grad and y.device.type == DEVICE


@pytest.mark.skipif(DEVICE != "cuda", reason="needs a CUDA GPU")
@pytest.mark.parametrize("hidden, tf32_on, want", [(256, True, "triton"), (256, False, "torch"),
                                                   (64, True, "torch")],
                         ids=["H256-tf32", "H256-exact", "H64-tf32"])
def test_auto_on_cuda_takes_triton_only_where_measured_faster(tf32, monkeypatch, hidden,
                                                              tf32_on, want):
    monkeypatch.setenv("GRUKIT_UNVERIFIED_TRITON", "allow")
    tf32(matmul=tf32_on)
    x = torch.randn(4, 6, 3, device=DEVICE)
    h = torch.zeros(4, hidden, device=DEVICE)
    assert dispatch.explain("gru", "auto", x=x, h0=h)[0] == want
    assert dispatch.explain("lstm", "auto", x=x, h0=(h, h), weight_hr=None)[0] == want
    bf16 = "triton" if hidden > 192 else "torch"
    assert dispatch.explain("gru", "auto", x=x.bfloat16(), h0=h.bfloat16())[0] == bf16
    assert dispatch.explain("mingru", "auto", x=x)[0] == "triton"
