"""grukit.nn.quantized: what quantize_int8 and Int8Stream accept and refuse, each refusal in
one sentence naming the fix."""

import numpy as np
import pytest
import torch

import grukit.nn as gnn
from grukit.nn.quantized import Int8Stream, quantize_int8


@pytest.mark.parametrize("make", [lambda: torch.nn.GRU(3, 5), lambda: torch.nn.LSTMCell(3, 5),
                                  lambda: torch.nn.Sequential(torch.nn.RNN(3, 5))],
                         ids=["GRU", "LSTMCell", "in-a-Sequential"])
@pytest.mark.parametrize("linear", ["grukit", "auto"])
def test_a_torch_nn_recurrent_module_is_refused_not_left_float(make, linear):
    # it came back as a float copy, its bytes unchanged, with no word that nothing was
    # quantized
    with pytest.raises(TypeError, match=r"quantize_int8: the model holds a torch\.nn\.\w+, "
                                        r"whose weights it cannot quantize; convert it with "
                                        r"grukit\.convert\.from_torch first"):
        quantize_int8(make(), linear=linear)


@pytest.mark.parametrize("make, batch, why", [
    (lambda: gnn.RNN(3, 5), 1, r"RNN has no int8 one-step kernel"),
    (lambda: gnn.MinGRU(3, 5), 1, r"minGRU has no int8 one-step kernel"),
    (lambda: gnn.LSTM(3, 5, proj_size=2), 1, r"no projection"),
    (lambda: gnn.GRU(3, 5, zoneout=0.1), 1, r"zoneout=0\.1"),
    (lambda: gnn.GRU(3, 5), 2, r"batch of 2"),
], ids=["RNN", "MinGRU", "LSTM-proj", "GRU-zoneout", "GRU-batch-2"])
def test_w8a8_true_is_refused_where_the_int8_kernel_cannot_step(make, batch, why):
    # the steps ran float products of the dequantized weights, w8a8=True accepted
    torch.manual_seed(0)
    q = quantize_int8(make(), linear="grukit")
    with pytest.raises(ValueError, match=rf"Int8Stream: w8a8=True needs the int8 one-step kernel "
                                         rf"\(.*\), which does not serve this stream: .*{why}"):
        Int8Stream(q, batch_size=batch, w8a8=True)
    Int8Stream(q, batch_size=batch)  # None: the best route there is, as before


@pytest.mark.parametrize("cls", [gnn.GRU, gnn.LSTM])
def test_w8a8_true_steps_int8_by_int8_where_it_serves(cls):
    torch.manual_seed(0)
    q = quantize_int8(cls(3, 5, 2), linear="grukit")
    x = torch.randn(6, 1, 3)
    stream = Int8Stream(q, w8a8=True)
    ys = np.stack([stream.step(x[t, 0].numpy()) for t in range(6)])
    assert stream._routes[1] is stream._int8_route
    with torch.no_grad():
        want = q(x)[0][:, 0].numpy()
    np.testing.assert_allclose(ys, want, atol=0.02)  # inputs and state quantised to bytes


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan], ids=["inf", "-inf", "nan"])
def test_a_w8a8_step_of_a_non_finite_input_is_nan_not_a_finite_guess(bad):
    """An Inf has no byte: its product with a scale of Inf gave finite numbers unrelated to
    the float step's; now NaN, as a NaN input gives."""
    torch.manual_seed(0)
    stream = Int8Stream(quantize_int8(gnn.GRU(3, 4), linear="grukit"), w8a8=True)
    y = stream.step(np.array([bad, 0.5, 0.0], np.float32))
    assert stream._routes[1] is stream._int8_route
    assert np.isnan(y).all(), y
    y = stream.step(np.array([0.1, 0.5, 0.0], np.float32))  # the state now holds NaN too
    assert np.isnan(y).all(), y


@pytest.mark.parametrize("make", [lambda: gnn.GRU(3, 5, 2), lambda: gnn.LSTM(3, 5, bias=False),
                                  lambda: gnn.GRUCell(3, 5)], ids=["GRU", "LSTM-no-bias", "cell"])
@pytest.mark.parametrize("convert", [lambda m: m.double(), lambda m: m.to(torch.float64)],
                         ids=["double", "to"])
def test_an_int8_module_converted_to_float64_reads_its_weights_in_float64(make, convert):
    # the weights stayed float32 beside float64 biases: the float64 input was refused,
    # the error asking for module.to(input.dtype), which had been done
    torch.manual_seed(0)
    q = quantize_int8(make(), linear="grukit")
    x = torch.randn(4, 3) if isinstance(q, gnn.GRUCell) else torch.randn(6, 2, 3)
    with torch.no_grad():
        want = q(x)
        q64 = convert(q)
        got = q64(x.double())
    for a, b in zip(torch.utils._pytree.tree_leaves(got), torch.utils._pytree.tree_leaves(want),
                    strict=True):
        assert a.dtype == torch.float64
        torch.testing.assert_close(a, b.double(), rtol=1e-5, atol=1e-5)
    if not isinstance(q, gnn.GRUCell):
        ys = np.stack([Int8Stream(q64).step(x[0, 0].double().numpy())])
        torch.testing.assert_close(torch.from_numpy(ys[0]), want[0][0, 0].double(),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bias", [True, False])
def test_an_int8_linear_converted_to_float64_reads_its_weight_in_float64(bias):
    # "self and mat2 must have the same dtype, but got Double and Float" from inside F.linear
    torch.manual_seed(0)
    q = quantize_int8(torch.nn.Sequential(torch.nn.Linear(3, 4, bias=bias)), linear="grukit")
    x = torch.randn(2, 3)
    with torch.no_grad():
        want = q(x)
        got = q.double()(x.double())
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, want.double(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bad", ["False", 2, np.array([True, False]), torch.tensor([1, 0])],
                         ids=["text", "two", "array", "tensor"])
def test_w8a8_that_is_not_a_bool_or_none_is_refused_in_one_sentence(bad):
    # an array or a tensor failed inside `in` ("The truth value of an array ... is ambiguous")
    q = quantize_int8(gnn.GRU(2, 8))
    with pytest.raises(ValueError, match=r"^Int8Stream: w8a8 must be True, False or None "
                                         r"\(where fast\); got "):
        Int8Stream(q, w8a8=bad)
    for same, want in ((np.bool_(False), False), (0, False), (None, None)):
        assert Int8Stream(q, w8a8=same).w8a8 is want
