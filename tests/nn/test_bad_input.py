"""Bad input to the torch.nn modules, the cells and Stream: each case is refused in one
sentence naming the argument and the fix, or gives the correct result."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import grukit.nn as gnn

MODULES = [gnn.GRU, gnn.LSTM, gnn.RNN, gnn.MinGRU]
FAST = [gnn.GRU, gnn.LSTM, gnn.RNN]  # the Stream fast path serves these


def _gru():
    torch.manual_seed(0)
    return gnn.GRU(3, 4, batch_first=True)


# -- lengths --------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.1, 4.9).filter(lambda v: v != int(v)), min_size=2, max_size=2))
def test_fractional_lengths_are_refused_never_truncated(lens):
    with pytest.raises(TypeError, match=r"lengths must hold integers.*float64"):
        _gru()(torch.randn(2, 5, 3), lengths=lens)
    with pytest.raises(TypeError, match="lengths must hold integers"):
        _gru()(torch.randn(2, 5, 3), lengths=np.array(lens))


@pytest.mark.parametrize("lens", [[True, True], np.array([True, False]),
                                  torch.tensor([True, True])], ids=["list", "numpy", "tensor"])
def test_boolean_lengths_are_refused(lens):
    with pytest.raises(TypeError, match="lengths must hold integers"):
        _gru()(torch.randn(2, 5, 3), lengths=lens)


@pytest.mark.parametrize("lens", [[3.0, 2.0], torch.tensor([3.0, 2.0]), [float("nan"), 2]],
                         ids=["whole-floats", "float-tensor", "nan"])
def test_float_lengths_are_refused_even_when_whole(lens):
    with pytest.raises(TypeError, match="lengths must hold integers"):
        _gru()(torch.randn(2, 5, 3), lengths=lens)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-50, 50), min_size=2, max_size=2).filter(
    lambda v: min(v) < 0 or max(v) > 5))
def test_lengths_outside_0_T_are_refused(lens):
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, T\] = \[0, 5\]"):
        _gru()(torch.randn(2, 5, 3), lengths=lens)


@pytest.mark.parametrize("lens", [[3], [3, 3, 3], [[3, 3]], 3], ids=["1", "3", "2-D", "scalar"])
def test_lengths_of_the_wrong_batch_size_are_refused(lens):
    with pytest.raises(ValueError, match=r"lengths must have one entry per sequence, shape \(2,\)"):
        _gru()(torch.randn(2, 5, 3), lengths=lens)


def test_text_lengths_are_refused():
    with pytest.raises(TypeError, match="lengths must hold integers"):
        _gru()(torch.randn(2, 5, 3), lengths="ab")
    with pytest.raises(TypeError, match="lengths must be a 1-D sequence of 2 integers"):
        _gru()(torch.randn(2, 5, 3), lengths=[[1, 2], [3]])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=3, max_size=3),
       st.sampled_from([list, np.array, torch.tensor]))
def test_integer_lengths_of_any_container_match_truncated_sequences(lens, kind):
    """Length 0 is legitimate: the output is zero and h_n is the initial state."""
    torch.manual_seed(1)
    m, x = _gru(), torch.randn(3, 5, 3)
    y, h = m(x, lengths=kind(lens))
    for b, n in enumerate(lens):
        if n == 0:
            assert not y[b].any() and not h[0, b].any()
            continue
        yb, hb = m(x[b:b + 1, :n])
        torch.testing.assert_close(y[b, :n], yb[0])
        torch.testing.assert_close(h[0, b], hb[0, 0])
        assert not y[b, n:].any()


def test_lengths_from_pandas_are_read_without_torch_s_read_only_warning():
    """A pandas Series' array is read-only: torch warned about non-writable tensors (once per
    process, so in a fresh one)."""
    code = ("import warnings, pandas as pd, torch, grukit.nn as gnn\n"
            "warnings.simplefilter('error')\n"
            "y, h = gnn.GRU(3, 4, batch_first=True)(torch.randn(2, 5, 3), "
            "lengths=pd.Series([5, 3]))\n"
            "assert not y[1, 3:].any()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr


# -- dtype, device, features --------------------------------------------------------------
@pytest.mark.parametrize("cls", MODULES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_input_of_another_dtype_names_both_dtypes(cls, dtype):
    m = cls(3, 4)
    with pytest.raises(TypeError, match=rf"input is {dtype} .* weights are torch.float32"):
        m(torch.randn(5, 2, 3, dtype=dtype))


@pytest.mark.parametrize("cls", [gnn.GRUCell, gnn.RNNCell, gnn.LSTMCell])
def test_cells_name_both_dtypes(cls):
    cell = cls(3, 4)
    with pytest.raises(TypeError, match=r"input is torch.float64 .* weights are torch.float32"):
        cell(torch.randn(2, 3, dtype=torch.float64))
    state = torch.zeros(2, 4, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"is torch.float64 .* input is torch.float32"):
        cell(torch.randn(2, 3), (state, state) if cls is gnn.LSTMCell else state)


@pytest.mark.parametrize("cls", [gnn.GRUCell, gnn.RNNCell, gnn.LSTMCell])
def test_cells_name_a_numpy_input_as_an_array(cls):
    # a float32 array was reported as "got float32", as if the tensor's dtype were wrong
    with pytest.raises(TypeError, match=r"floating-point tensor of shape \(batch, 3\); got "
                                        r"ndarray\. Convert it with torch\.as_tensor"):
        cls(3, 4)(np.zeros((2, 3), dtype=np.float32))


@pytest.mark.parametrize("cls", MODULES)
def test_wrong_feature_count_names_both(cls):
    with pytest.raises(ValueError, match="input has 4 features .* input_size=3"):
        cls(3, 4)(torch.randn(5, 2, 4))


# -- constructor arguments ------------------------------------------------------------------
@pytest.mark.parametrize("cls", [gnn.GRU, gnn.RNN, gnn.MinGRU])
def test_proj_size_is_lstm_only(cls):
    with pytest.raises(ValueError, match="proj_size applies to LSTM only"):
        cls(3, 4, proj_size=2)


@pytest.mark.parametrize("proj", [-1, 1.5, True, 4])
def test_proj_size_must_be_an_integer_below_hidden(proj):
    with pytest.raises(ValueError, match=r"proj_size must be an integer in \[0, hidden_size=4\)"):
        gnn.LSTM(3, 4, proj_size=proj)


@pytest.mark.parametrize("arg", ["input_size", "hidden_size", "num_layers"])
@pytest.mark.parametrize("value", [0, -1, 2.0, True])
def test_sizes_must_be_positive_integers(arg, value):
    kwargs = {"input_size": 3, "hidden_size": 4, "num_layers": 1, arg: value}
    with pytest.raises(ValueError, match=f"{arg} must be a positive integer"):
        gnn.GRU(**kwargs)


@pytest.mark.parametrize("cls", [gnn.GRU, gnn.LSTM, gnn.RNN, gnn.MinGRU, gnn.LayerNormGRU,
                                 gnn.GRUD, gnn.GRUCell, gnn.LSTMCell, gnn.RNNCell])
def test_sizes_and_rates_take_numpy_scalars_as_torch_nn_does(cls):
    # a size or rate read from an array or a data frame (np.int64, np.float32) was refused,
    # "must be a positive integer; got np.int64(3)"; torch.nn takes them
    cell = cls.__name__.endswith("Cell")
    rates = {} if cell or cls is gnn.GRUD else {"dropout": np.float32(0.25)}
    if cls is gnn.GRUD:
        rates["input_dropout"] = np.float32(0.25)
    if cls in (gnn.GRU, gnn.LSTM, gnn.RNN, gnn.LayerNormGRU, gnn.GRUD):
        rates["recurrent_dropout"] = np.float64(0.25)
    sizes = (np.int64(3), np.int32(4)) + (() if cell or cls is gnn.GRUD else (np.int64(2),))
    torch.manual_seed(0)
    got = cls(*sizes, **rates)
    torch.manual_seed(0)
    want = cls(*(int(v) for v in sizes), **{k: float(v) for k, v in rates.items()})
    assert repr(got) == repr(want)
    assert type(got.input_size) is int and type(got.hidden_size) is int
    for k in rates:
        assert type(getattr(got, k)) is float
    for (n, a), (m, b) in zip(got.state_dict().items(), want.state_dict().items(), strict=True):
        assert n == m and torch.equal(a, b)
    if cls is gnn.LSTM:
        assert gnn.LSTM(3, 4, proj_size=np.int64(2)).proj_size == 2


# -- Stream ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", MODULES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("kind", ["numpy32", "numpy64", "torch"])
def test_stream_check_finite_refuses_on_every_path(cls, bad, kind):
    """The batch-1 numpy fast path included, before and after it is warm; the state is
    left as it was."""
    torch.manual_seed(0)
    stream = gnn.Stream(cls(3, 4, check_finite=True))
    stream.step(np.ones(3, np.float32))  # warms the fast path
    before = [s.clone() for s in stream._h]
    x = np.array([0.5, bad, 0.0])
    x = (x.astype(np.float32) if kind == "numpy32" else x if kind == "numpy64"
         else torch.tensor(x, dtype=torch.float32))
    with pytest.raises(ValueError, match="contains 1 NaN/Inf value"):
        stream.step(x)
    for a, b in zip(stream._h, before, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    stream.reset()
    with pytest.raises(ValueError, match="contains 1 NaN/Inf value"):
        stream.step(x)  # the first step, before the fast path is set up


@pytest.mark.parametrize("cls", FAST)
def test_stream_without_check_finite_keeps_the_fast_path_result(cls):
    torch.manual_seed(0)
    m = cls(3, 4)
    x = torch.randn(6, 1, 3)
    stream = gnn.Stream(m)
    ys = [stream.step(x[t, 0].numpy()) for t in range(6)]
    torch.testing.assert_close(torch.from_numpy(np.stack(ys)), m(x)[0][:, 0].detach())


def test_stream_feed_refuses_one_step_and_text():
    stream = gnn.Stream(gnn.GRU(3, 4))
    with pytest.raises(ValueError, match=r"feed takes several steps.*got shape \(3,\). Use step"):
        stream.feed(np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="chunk must be a numeric array"):
        stream.feed("abc")
    with pytest.raises(TypeError, match="x_t must be a numeric array"):
        stream.step("abc")


@pytest.mark.parametrize("bs", [0, -1, True, 2.0, "2"])
def test_stream_batch_size_must_be_a_positive_integer(bs):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        gnn.Stream(gnn.GRU(3, 4), batch_size=bs)


def test_stream_batch_size_accepts_numpy_integers():
    assert gnn.Stream(gnn.GRU(3, 4), batch_size=np.int64(2)).batch_size == 2


# -- recurrent dropout, zoneout -------------------------------------------------------------
@pytest.mark.parametrize("arg", ["recurrent_dropout", "zoneout"])
@pytest.mark.parametrize("value", [1.0, -0.1, "0.2", True])
def test_rates_must_be_in_0_1(arg, value):
    with pytest.raises(ValueError, match=rf"GRU: {arg} must be a number in \[0, 1\)"):
        gnn.GRU(3, 4, **{arg: value})


def test_recurrent_dropout_needs_recurrent_weights():
    with pytest.raises(ValueError, match="MinGRU has no recurrent weights, so "
                                         "recurrent_dropout does not apply"):
        gnn.MinGRU(3, 4, recurrent_dropout=0.2)


@pytest.mark.parametrize("cls", [gnn.LSTM, gnn.RNN, gnn.MinGRU])
def test_zoneout_only_where_the_op_takes_it(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: zoneout is available for GRU"):
        cls(3, 4, zoneout=0.1)


# -- reset_after ----------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [gnn.GRU, gnn.GRUCell, gnn.LayerNormGRU, gnn.GRUD])
@pytest.mark.parametrize("value", ["False", None, 2])
def test_reset_after_must_be_a_bool(cls, value):
    # "False" is truthy: it made a reset_after=True module without a word
    with pytest.raises(TypeError, match=rf"{cls.__name__}: reset_after must be True or False"):
        cls(3, 4, reset_after=value)


@pytest.mark.parametrize("value", [False, 0, np.bool_(False)])
def test_reset_after_takes_booleans_of_any_kind(value):
    m = gnn.GRU(3, 4, reset_after=value)
    assert m.reset_after is False and not hasattr(m, "bias_hh_l0")


# -- torch.nn's switches ---------------------------------------------------------------------
SWITCHES = {f"{cls.__name__}-{k}": (cls, k) for cls in (*MODULES, gnn.LayerNormGRU)
            for k in ("bias", "batch_first", "bidirectional", "check_finite")}
SWITCHES |= {f"{cls.__name__}-bias": (cls, "bias")
             for cls in (gnn.GRUCell, gnn.LSTMCell, gnn.RNNCell)}
SWITCHES |= {f"GRUD-{k}": (gnn.GRUD, k) for k in ("bias", "batch_first", "bidirectional",
                                                 "gate_masks")}


@pytest.mark.parametrize("case", sorted(SWITCHES))
def test_a_switch_that_is_not_true_or_false_is_refused(case):
    # torch.nn takes any truthy value: batch_first="False" read (B, T, I) as (T, B, I),
    # bias="False" built the biases, bidirectional="False" doubled the output, without a word
    cls, name = SWITCHES[case]
    for bad in ("False", None, [True], 1.0, torch.tensor([True])):
        with pytest.raises(TypeError, match=rf"^{cls.__name__}: {name} must be True or "
                                            rf"False; got .*\.$"):
            cls(3, 4, **{name: bad})
    torch.manual_seed(0)
    want = cls(3, 4, **{name: False})
    for same in (0, np.bool_(False)):
        torch.manual_seed(0)
        got = cls(3, 4, **{name: same})
        assert getattr(got, name) is False
        assert repr(got) == repr(want)
        for (k, a), (_, b) in zip(got.state_dict().items(), want.state_dict().items(),
                                  strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)


# -- forget_bias ----------------------------------------------------------------------------
@pytest.mark.parametrize("value", [float("nan"), float("inf"), "1.0", True, False, [1.0]],
                         ids=["nan", "inf", "text", "True", "False", "list"])
def test_forget_bias_must_be_a_finite_number(value):
    # NaN and Inf filled the forget gate's bias without a word; False set it to 0 (not
    # torch's draw); text failed inside torch's item assignment
    with pytest.raises(TypeError, match=r"LSTM: forget_bias must be a finite number \(1\.0 "
                                        r"as Jozefowicz et al\. 2015\) or None"):
        gnn.LSTM(3, 4, forget_bias=value)


@pytest.mark.parametrize("value", [1, 1.0, np.float32(2.0), -0.5])
def test_forget_bias_takes_numbers_of_any_kind(value):
    m = gnn.LSTM(3, 4, forget_bias=value)
    assert torch.all(m.bias_ih_l0[4:8] == float(value)) and m.forget_bias == float(value)


# -- hx -------------------------------------------------------------------------------------
def test_a_projected_lstm_state_of_the_wrong_width_names_proj_size():
    # "h_0 must have shape (num_layers·num_directions, batch, hidden) = (1, 2, 2)" with
    # hidden_size=4: the width asked for is proj_size's
    m = gnn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"LSTM: h_0 must have shape \(num_layers·"
                                         r"num_directions, batch, proj_size\) = \(1, 2, 2\); "
                                         r"got \(1, 2, 4\)\."):
        m(torch.randn(5, 2, 3), (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match=r"c_0 must have shape \(num_layers·num_directions, "
                                         r"hidden\) = \(1, 4\); got \(1, 2\)\."):
        m(torch.randn(5, 3), (torch.zeros(1, 2), torch.zeros(1, 2)))  # unbatched


def test_a_grud_last_value_state_of_the_wrong_width_names_input_size():
    m = gnn.GRUD(3, 4)
    with pytest.raises(ValueError, match=r"GRUD: x_last_0 must have shape \(num_layers·"
                                         r"num_directions, batch, input_size\) = \(1, 2, 3\)"):
        m(torch.zeros(5, 2, 9), (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))


@pytest.mark.parametrize("cls", ["GRU", "LSTM", "RNN"])
def test_check_finite_looks_inside_the_lengths_only(cls):
    # padding past each length is never read (as pack_padded_sequence), so a batch padded
    # with NaN runs; it was refused as "input contains NaN"
    torch.manual_seed(0)
    m = getattr(gnn, cls)(2, 3, batch_first=True, check_finite=True)
    x = torch.randn(2, 4, 2)
    lengths = torch.tensor([4, 3])
    want, _ = m(x, lengths=lengths)
    x[1, 3:] = float("nan")
    got, _ = m(x, lengths=lengths)
    torch.testing.assert_close(got, want)
    x[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match=r"input contains 1 NaN/Inf value\(s\), the first at "
                                         r"index \(1, 2, 0\)"):
        m(x, lengths=lengths)
