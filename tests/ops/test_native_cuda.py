"""torch's own GRU/LSTM behind ``backend="torch"`` (cuDNN on a GPU, what auto takes there
wherever the Triton kernels are not verified): outputs and every gradient against the
reference. cuDNN refuses backward through an inference-mode call, which the CPU never shows."""

import pytest
import torch
from triton_cases import DEVICE, compare, gru_case, lstm_case


@pytest.fixture(autouse=True)
def exact_cudnn(tf32):
    """cuDNN computes fp32 RNNs with TF32 by default (torch.backends.cudnn.allow_tf32); the
    reference's products are exact fp32."""
    tf32(cudnn=False)


@pytest.mark.parametrize("shape", [(3, 5, 4, 16), (2, 4, 3, 48)], ids=["H16", "H48"])
def test_torch_backend_gru_trains(shape):
    compare(*gru_case(shape, None, True), backend="torch")


@pytest.mark.parametrize("batch", [2, 3], ids=["B2", "B3"])
def test_torch_backend_lstm_trains(batch):
    compare(*lstm_case((batch, 5, 4, 16), None), backend="torch")


def test_inference_call_keeps_no_graph():
    fn, tensors = gru_case((2, 3, 4, 8), None, True)
    with torch.no_grad():
        y, h = fn("torch")
    assert not y.requires_grad and y.device.type == DEVICE
