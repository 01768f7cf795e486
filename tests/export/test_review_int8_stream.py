"""``Int8Stream`` after the module's int8 weights change: the next step uses the new weights
(the same numbers as a stream made on them), never the packed copy of the old ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grukit import nn as gnn
from grukit.nn import Stream
from grukit.nn.quantized import Int8Stream, quantize_int8


@pytest.mark.parametrize("w8a8", [False, True], ids=["int8", "w8a8"])
@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_steps_after_load_state_dict_use_the_loaded_weights(cell, w8a8):
    torch.manual_seed(0)
    old = quantize_int8(getattr(gnn, cell)(3, 17, num_layers=2))
    new = quantize_int8(getattr(gnn, cell)(3, 17, num_layers=2))
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    s = Int8Stream(old, w8a8=w8a8)
    s.step(x[0])
    s.reset()  # a reset before the change: the weights are read again all the same
    old.load_state_dict(new.state_dict())
    got = np.stack([s.step(x_t) for x_t in x])
    fresh = Int8Stream(new, w8a8=w8a8)
    want = np.stack([fresh.step(x_t) for x_t in x])
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_a_step_after_load_state_dict_mid_stream_equals_the_new_module(cell):
    torch.manual_seed(1)
    old = quantize_int8(getattr(gnn, cell)(3, 17))
    new = quantize_int8(getattr(gnn, cell)(3, 17))
    x = np.random.default_rng(1).standard_normal((3, 3)).astype(np.float32)
    s = Int8Stream(old, w8a8=False)  # float products: the module's own numbers
    s.step(x[0])
    s.step(x[1])
    state = s.state
    old.load_state_dict(new.state_dict())
    with torch.no_grad():
        want, _ = new(torch.from_numpy(x[2:3, None]), state)  # (1, 1, H)
    np.testing.assert_allclose(s.step(x[2]), want[0, 0].numpy(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("value", ["tensor", "parameter"])
def test_setting_an_int8_weight_is_refused_and_batch_and_stream_still_agree(value):
    torch.manual_seed(2)
    q = quantize_int8(gnn.GRU(3, 4))
    new = torch.zeros(12, 4)
    with pytest.raises(AttributeError, match=r"Int8GRU: weight_hh_l0 is stored as int8 .*"
                                             r"quantize it again"):
        q.weight_hh_l0 = new if value == "tensor" else torch.nn.Parameter(new)
    x = torch.randn(5, 1, 3)
    with torch.no_grad():
        y, _ = q(x)
    s = Int8Stream(q, w8a8=False)
    steps = np.stack([s.step(x[t, 0].numpy()) for t in range(5)])
    np.testing.assert_allclose(steps, y[:, 0].numpy(), atol=1e-5, rtol=0)
    assert q.weight_hh_l0.abs().amax() > 0  # the int8 weights, unchanged


def test_a_module_moved_off_the_cpu_streams_there_as_stream_does():
    """The meta device stands in for a GPU: Int8Stream made its state on the CPU, routed to
    the CPU kernel and failed packing the weights (a tensor off the CPU has no numpy)."""
    q = quantize_int8(gnn.GRU(3, 4)).to("meta")
    s, plain = Int8Stream(q), Stream(q)
    assert s.state.device == plain.state.device == torch.device("meta")
    x = torch.ones(3, device="meta")
    assert s.step(x).device == plain.step(x).device == torch.device("meta")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_an_int8_module_on_cuda_steps_the_numbers_of_the_cpu():
    torch.manual_seed(3)
    q = quantize_int8(gnn.GRU(3, 16))
    x = torch.randn(6, 3)
    cpu = Int8Stream(q, w8a8=False)
    want = torch.stack([cpu.step(x_t) for x_t in x])
    gpu = Int8Stream(q.cuda())
    got = torch.stack([gpu.step(x_t.cuda()) for x_t in x]).cpu()
    torch.testing.assert_close(got, want, atol=5e-3, rtol=0)  # cuDNN may multiply in TF32


def test_w8a8_true_for_rows_too_long_for_int32_sums_is_refused_when_made():
    q = quantize_int8(gnn.GRU(20000, 4))
    with pytest.raises(ValueError, match="at most 16384 products a row in int32"):
        Int8Stream(q, w8a8=True)  # (it was made, and its first step refused)
    s = Int8Stream(q)  # None: float products, which have no such limit
    s.step(np.ones(20000, np.float32))
    assert s._kernel.step.__name__ == "step_int8"
