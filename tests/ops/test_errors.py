"""Bad input: a ValueError/TypeError naming the problem and the expected shape."""

import numpy as np
import pytest
import torch

from grukit import ops
from grukit.nn import MinGRU
from grukit.ops import dispatch


@pytest.fixture
def w():
    return dict(weight_ih=torch.randn(12, 3), weight_hh=torch.randn(12, 4),
                bias_ih=torch.randn(12), bias_hh=torch.randn(12))


def test_wrong_rank(w):
    with pytest.raises(ValueError, match=r"x must have shape \(batch, time, input_size\) = "
                                         r"\(B, T, 3\); got a 2-D tensor of shape \(5, 3\)"):
        ops.gru(torch.randn(5, 3), **w)


def test_wrong_feature_size(w):
    with pytest.raises(ValueError, match=r"x has 2 features per step but the weights expect "
                                         r"input_size=3: x must have shape \(B, T, 3\)"):
        ops.gru(torch.randn(2, 5, 2), **w)


def test_not_a_tensor(w):
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        ops.gru([[1.0, 2.0, 3.0]], **w)
    with pytest.raises(TypeError, match="floating-point"):
        ops.gru(torch.ones(2, 5, 3, dtype=torch.int64), **w)


def test_h0_wrong_shape(w):
    with pytest.raises(ValueError, match=r"h0 must have shape \(batch, hidden\) = \(2, 4\); "
                                         r"got \(1, 2, 4\)"):
        ops.gru(torch.randn(2, 5, 3), **w, h0=torch.zeros(1, 2, 4))


def test_h0_wrong_dtype(w):
    with pytest.raises(TypeError, match="h0 is torch.float64 .* move it with h0.to"):
        ops.gru(torch.randn(2, 5, 3), **w, h0=torch.zeros(2, 4, dtype=torch.float64))


def test_lengths_out_of_range(w):
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, T\] = \[0, 5\]; "
                                         r"sequence 1 has length 6"):
        ops.gru(torch.randn(2, 5, 3), **w, lengths=[5, 6])
    with pytest.raises(ValueError, match="sequence 0 has length -1"):
        ops.gru(torch.randn(2, 5, 3), **w, lengths=torch.tensor([-1, 2]))


def test_lengths_wrong_size(w):
    with pytest.raises(ValueError, match=r"lengths must have one entry per sequence, "
                                         r"shape \(2,\); got shape \(3,\)"):
        ops.gru(torch.randn(2, 5, 3), **w, lengths=[1, 2, 3])
    with pytest.raises(TypeError, match="lengths must hold integers"):
        ops.gru(torch.randn(2, 5, 3), **w, lengths=torch.tensor([1.0, 2.0]))


def test_check_finite(w):
    x = torch.randn(2, 5, 3)
    x[1, 3, 0] = float("nan")
    x[1, 4, 2] = float("inf")
    with pytest.raises(ValueError, match=r"x contains 2 NaN/Inf value\(s\), the first at "
                                         r"index \(1, 3, 0\)"):
        ops.gru(x, **w, check_finite=True)
    ops.gru(x, **w)  # off by default: costs nothing


def test_weight_shapes():
    with pytest.raises(ValueError, match=r"weight_hh must have 3·hidden rows"):
        ops.gru(torch.randn(2, 5, 3), torch.randn(12, 3), torch.randn(10, 4))
    with pytest.raises(ValueError, match=r"bias_ih must have shape \(12,\); got \(11,\)"):
        ops.gru(torch.randn(2, 5, 3), torch.randn(12, 3), torch.randn(12, 4), torch.randn(11))


def test_reset_before_refuses_recurrent_bias(w):
    with pytest.raises(ValueError, match="reset_after=False has no recurrent bias"):
        ops.gru(torch.randn(2, 5, 3), **w, reset_after=False)


def test_lstm_and_mingru_errors():
    with pytest.raises(TypeError, match=r"h0 must be a pair \(h0 \(2, 4\), c0 \(2, 4\)\)"):
        ops.lstm(torch.randn(2, 5, 3), torch.randn(16, 3), torch.randn(16, 4),
                 h0=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="mode must be one of"):
        ops.mingru(torch.randn(2, 5, 3), torch.randn(8, 3), mode="fast")
    with pytest.raises(ValueError, match="rnn: nonlinearity: unknown activation 'hard_silu'; "
                                         "choose one of elu, "):
        ops.rnn(torch.randn(2, 5, 3), torch.randn(4, 3), torch.randn(4, 4),
                nonlinearity="hard_silu")


@pytest.mark.parametrize("op", ["gru", "lstm", "rnn", "mingru", "lngru"])
@pytest.mark.parametrize("backend", [["cpu"], {"name": "cpu"}, None],
                         ids=["list", "dict", "None"])
def test_a_backend_that_is_not_a_name_is_refused_in_one_sentence(op, backend):
    # a list or a dict failed inside dispatch's table look-up: "unhashable type: 'list'"
    gates = {"gru": 3, "lstm": 4, "rnn": 1, "mingru": 2, "lngru": 3}[op]
    weights = [torch.randn(gates * 4, 3)] + ([] if op == "mingru" else [torch.randn(gates * 4, 4)])
    with pytest.raises(ValueError, match=rf"^{op}: unknown backend .*; choose one of "
                                         rf"\['auto', .*'reference'\]\.$"):
        getattr(ops, op)(torch.randn(2, 5, 3), *weights, backend=backend)


@pytest.mark.parametrize("mode", [np.array(["parallel", "sequential"]), ["parallel"], None],
                         ids=["array", "list", "None"])
def test_a_mingru_mode_that_is_not_a_name_is_refused_in_one_sentence(mode):
    # an array failed inside `in`: "The truth value of an array ... is ambiguous"
    with pytest.raises(ValueError, match=r"^mingru: mode must be one of \('parallel', "
                                         r"'sequential'\); got "):
        ops.mingru(torch.randn(2, 5, 3), torch.randn(8, 3), mode=mode)
    with pytest.raises(ValueError, match=r"^MinGRU: mode must be 'parallel' or 'sequential'; "
                                         r"got "):
        MinGRU(3, 4, mode=mode)


def test_backend_choice(w):
    x = torch.randn(2, 5, 3)
    with pytest.raises(ValueError, match=r"unknown backend 'cuda'; choose one of \['auto', "
                                         r"'cpu', 'torch', 'triton', 'reference'\]"):
        ops.gru(x, **w, backend="cuda")
    y_ref, _ = ops.gru(x, **w, backend="reference")
    y_auto, _ = ops.gru(x, **w)
    torch.testing.assert_close(y_ref, y_auto)
    assert dispatch.explain("gru", "auto", x=x)[0] in dispatch.backends("gru")


def test_named_backend_that_cannot_serve_raises():
    dispatch.register("_test", dispatch.Backend("fast", lambda: "fast", lambda **c: "CPU only.",
                                                priority=1))
    dispatch.register("_test", dispatch.Backend("slow", lambda: "slow"))
    assert dispatch.explain("_test", "auto") == ("slow", {"fast": "CPU only."})
    with pytest.raises(ValueError, match="backend='fast' cannot serve this call: CPU only."):
        dispatch.select("_test", "fast")


def _weights(op, g, i=3, h=4, dtype=torch.float32):
    def r(*s):
        return torch.randn(*s, dtype=dtype)

    if op == "mingru":
        return [r(2 * h, i), r(2 * h)]
    ws = [r(g * h, i), r(g * h, h), r(g * h), r(g * h)]
    return ws + [r(3 * h) for _ in range(4)] if op == "lngru" else ws


@pytest.mark.parametrize("backend", ["auto", "cpu", "reference"])
@pytest.mark.parametrize("op,g", [("gru", 3), ("lstm", 4), ("rnn", 1), ("lngru", 3),
                                  ("mingru", 2)])
def test_weights_of_another_dtype_than_x(op, g, backend):
    """Each weight and bias must have x's dtype: one sentence naming it and the fix, never a
    compiler's traceback nor a silent mixed-precision result (torch.nn refuses too)."""
    x = torch.randn(2, 5, 3)
    for k, dtype in ((0, torch.float64), (-1, torch.float64), (0, torch.int32)):
        ws = _weights(op, g)
        ws[k] = ws[k].to(dtype)
        with pytest.raises(TypeError, match=rf"{op}: \w+ is {dtype} on cpu but x is "
                                            r"torch.float32 on cpu; convert it with \w+\.to"):
            getattr(ops, op)(x, *ws, backend=backend)
    with pytest.raises(TypeError, match=r"weight_ih is torch.float32 .* x is torch.float64"):
        getattr(ops, op)(x.double(), *_weights(op, g), backend=backend)


def test_unknown_op_is_named():
    x = torch.randn(2, 5, 3)
    for backend in ("auto", "cpu"):
        with pytest.raises(ValueError, match=r"unknown op 'gruu'; choose one of \[.*'gru'"):
            dispatch.explain("gruu", backend, x=x)


@pytest.mark.parametrize("op,g", [("gru", 3), ("lstm", 4), ("rnn", 1), ("lngru", 3),
                                  ("mingru", 2)])
def test_hidden_size_zero_is_refused(op, g):
    x = torch.randn(2, 5, 3)
    ws = [torch.randn(0, 3)] if op == "mingru" else [torch.randn(0, 3), torch.randn(0, 0)]
    for backend in ("auto", "reference"):
        with pytest.raises(ValueError, match=rf"{op}: weight_\w\w has no rows, a hidden size "
                                             r"of 0"):
            getattr(ops, op)(x, *ws, backend=backend)
