"""grukit.nn.GRUD: parameters from the spec, the module against the op, the packed input,
x_mean, the Keras-style layer made from the spec, bad input."""

from __future__ import annotations

import pytest
import torch

from grukit import cells, ops
from grukit.nn import GRUD


def _series(batch=3, steps=6, dims=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    m = (torch.rand(batch, steps, dims, generator=g) < 0.5).float()
    x = torch.randn(batch, steps, dims, generator=g)
    x = torch.where(m > 0, x, torch.full_like(x, float("nan")))
    d = torch.rand(batch, steps, dims, generator=g) * 3
    return x, m, d


@pytest.mark.parametrize("reset_after", [False, True])
def test_parameters_follow_the_spec(reset_after):
    mod = GRUD(4, 5, reset_after=reset_after)
    shapes = cells.GRUD.param_shapes(4, 5, reset_after=reset_after)
    got = {n[:-3]: tuple(p.shape) for n, p in mod.named_parameters()}
    assert got == shapes
    assert sum(p.numel() for p in mod.parameters()) == cells.GRUD.count(
        4, 5, reset_after=reset_after)
    if not reset_after:  # the docstring's formula, paper's placement
        assert cells.GRUD.count(4, 5) == 3 * (2 * 4 * 5 + 5 * 5 + 5) + 2 * 4 + 4 * 5 + 5
    assert tuple(mod.x_mean.shape) == (4,)
    assert (mod.decay_x_weight_l0 >= 0).all() and (mod.decay_h_weight_l0 >= 0).all()
    assert (mod.decay_x_bias_l0 == 0).all() and (mod.decay_h_bias_l0 == 0).all()
    assert "x_mean" in mod.state_dict()


def test_module_equals_op_and_packed_input_equals_keywords():
    torch.manual_seed(0)
    mod = GRUD(4, 5, batch_first=True).set_empirical_mean(torch.tensor([0.1, -0.2, 0.3, 0.0]))
    x, m, d = _series()
    h0 = torch.randn(1, 3, 5)
    hx = (h0, torch.zeros(1, 3, 4))  # nothing observed before: x_last0 = x̄
    y, (hn, _) = mod(x, hx, mask=m, delta=d, lengths=[6, 3, 1])
    p = mod.layer_params(0, 0)
    y2, hn2 = ops.grud(x, m, d, mod.x_mean, p["weight_ih"], p["weight_hh"], p["bias_ih"],
                       p["bias_hh"], p["weight_mh"], p["decay_x_weight"], p["decay_x_bias"],
                       p["decay_h_weight"], p["decay_h_bias"], h0=h0[0], lengths=[6, 3, 1],
                       backend="reference")
    torch.testing.assert_close(y, y2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(hn[0], hn2, rtol=1e-5, atol=1e-5)
    y3, (hn3, _) = mod(GRUD.pack(x, m, d), hx, lengths=[6, 3, 1])
    torch.testing.assert_close(y3, y)  # same code twice
    torch.testing.assert_close(hn3, hn)


def test_time_major_input():
    torch.manual_seed(0)
    tm = GRUD(4, 5)
    bf = GRUD(4, 5, batch_first=True)
    bf.load_state_dict(tm.state_dict())
    x, m, d = _series()
    y, _ = tm(x.transpose(0, 1), mask=m.transpose(0, 1), delta=d.transpose(0, 1))
    y2, _ = bf(x, mask=m, delta=d)
    torch.testing.assert_close(y.transpose(0, 1), y2)


def test_empirical_mean_is_what_missing_values_decay_to():
    """A variable never observed is imputed as x̄: the output moves with x_mean."""
    torch.manual_seed(0)
    mod = GRUD(2, 3, batch_first=True)
    x = torch.full((1, 4, 2), float("nan"))
    m = torch.zeros(1, 4, 2)
    d = torch.arange(4.0).view(1, 4, 1).expand(1, 4, 2).contiguous()
    a, _ = mod(x, mask=m, delta=d)
    b, _ = mod.set_empirical_mean([1.0, -1.0])(x, mask=m, delta=d)
    assert not torch.allclose(a, b)
    # equal to the fully observed series at x̄
    c, _ = mod(torch.tensor([1.0, -1.0]).expand(1, 4, 2).contiguous(), mask=m, delta=d)
    torch.testing.assert_close(b, c)


def test_gradients_reach_every_parameter_through_the_cpu_kernel():
    torch.manual_seed(0)
    mod = GRUD(4, 5, batch_first=True, backend="cpu")
    x, m, d = _series()
    y, (hn, _) = mod(x, mask=m, delta=d, lengths=[6, 4, 2])
    (y.sum() + hn.sum()).backward()
    for name, p in mod.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, \
            name


def test_keras_style_layer_from_the_spec():
    from grukit.layers import Dense
    from grukit.models import Sequential

    layer_cls = cells.GRUD.layer_class()
    model = Sequential([layer_cls(8, input_shape=(6, 12)), Dense(1)])
    x, m, d = _series(dims=4)
    out = model(GRUD.pack(x, m, d))
    assert tuple(out.shape) == (3, 1)
    assert isinstance(model.layers[0].rnn, GRUD) and model.layers[0].rnn.input_size == 4
    assert torch.isfinite(out).all()


def test_keras_style_layer_refuses_go_backwards():
    # reversing the packed [x, m, δ] would feed δ backwards: refused, not a wrong result
    with pytest.raises(ValueError, match="runs forward only; leave go_backwards=False"):
        cells.GRUD.layer_class()(8, input_shape=(6, 12), go_backwards=True)


def test_stream_step_by_step_equals_the_whole_series():
    """Risk updated as each measurement arrives: one packed step [x_t, m_t, δ_t] at a time
    through Stream gives the whole series' outputs (the last observed values are carried)."""
    from grukit.nn import Stream

    torch.manual_seed(0)
    mod = GRUD(4, 5, batch_first=True).set_empirical_mean([0.5, -0.5, 1.0, 0.0])
    x, m, d = _series(batch=1, steps=7, seed=3)
    packed = GRUD.pack(x, m, d)[0]  # (T, 3D)
    with torch.no_grad():
        whole, (hn, xl) = mod(packed.unsqueeze(0))
    stream = Stream(mod)
    steps = torch.stack([stream.step(packed[t]) for t in range(packed.shape[0])])  # (T, H)
    torch.testing.assert_close(steps, whole[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(stream.state[0], hn)
    torch.testing.assert_close(stream.state[1], xl)
    chunks = Stream(mod)
    torch.testing.assert_close(torch.cat([chunks.feed(packed[:3]), chunks.feed(packed[3:])]),
                               whole[0], rtol=1e-5, atol=1e-6)


def test_last_observed_state_is_each_variables_last_value():
    torch.manual_seed(0)
    mod = GRUD(2, 3, batch_first=True).set_empirical_mean([10.0, 20.0])
    x = torch.tensor([[[1.0, float("nan")], [float("nan"), float("nan")], [3.0, float("nan")]]])
    m = (~torch.isnan(x)).float()
    _, (_, offset) = mod(x, mask=m, delta=torch.zeros_like(x), lengths=[2])
    torch.testing.assert_close(offset[0, 0] + mod.x_mean, torch.tensor([1.0, 20.0]))


def test_keras_style_model_learns_the_last_observed_value():
    """Sequential([GRUD(16), Dense(1)]) fit on the packed [x, m, δ] (NaN where missing, made 0
    by pack): the target is variable 0's last observed value, and the loss falls."""
    from grukit.layers import Dense
    from grukit.models import Sequential
    from grukit.ops.grud import final_observed

    torch.manual_seed(0)
    n, steps, dims = 256, 12, 3
    m = (torch.rand(n, steps, dims) < 0.3).float()
    x = torch.where(m > 0, torch.randn(n, steps, dims), torch.full((n, steps, dims), torch.nan))
    d = torch.zeros(n, steps, dims)  # steps since the last observation
    for t in range(1, steps):
        d[:, t] = 1 + (1 - m[:, t - 1]) * d[:, t - 1]
    target = final_observed(x, m, torch.zeros(dims))[:, :1]  # (N, 1)
    model = Sequential()
    model.add(cells.GRUD.layer_class()(16, input_shape=(steps, 3 * dims)))
    model.add(Dense(1))
    model.compile("adam", "mse")
    loss = model.fit(GRUD.pack(x, m, d), target, epochs=12, batch_size=32, verbose=0,
                     seed=0).history["loss"]
    assert loss[-1] < 0.6 * loss[0]


def test_keras_style_model_saves_and_loads_with_its_empirical_mean(tmp_path):
    from grukit.layers import Dense
    from grukit.models import Sequential, load

    torch.manual_seed(0)
    model = Sequential()
    model.add(cells.GRUD.layer_class()(8, reset_after=True, input_shape=(5, 6)))
    model.add(Dense(1))
    x, m, d = _series(4, 5, 2)
    packed = GRUD.pack(x, m, d)
    model(packed)
    model.layers[0].rnn.set_empirical_mean([3.0, -2.0])
    before = model(packed)
    model.save(str(tmp_path / "grud"))
    again = load(str(tmp_path / "grud"))
    assert again.layers[0].rnn.reset_after is True
    torch.testing.assert_close(again.layers[0].rnn.x_mean, torch.tensor([3.0, -2.0]))
    torch.testing.assert_close(again(packed), before)  # same code, same weights


def test_converters_refuse_it_in_one_sentence():
    from grukit import convert

    with pytest.raises(ValueError, match=r"^torch.nn has no GRU-D; .*\.$"):
        convert.to_torch(GRUD(3, 4))


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_layers=2), "one layer, forward in time only"),
    (dict(bidirectional=True), "one layer, forward in time only"),
    (dict(zoneout=0.2), "GRUD has no zoneout"),
    (dict(recurrent_dropout=1.0), "recurrent_dropout"),
    (dict(backend="triton"), "unknown backend"),
])
def test_bad_construction_one_sentence(kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        GRUD(4, 5, **kwargs)
    assert "\n" not in str(err.value)


def test_bad_forward_one_sentence():
    mod = GRUD(4, 5, batch_first=True)
    x, m, d = _series()
    cases = [(lambda: mod(x, mask=m), "pass both mask= and delta="),
             (lambda: mod(x, mask=m[:, :2], delta=d), "mask must be a tensor of the input's"),
             (lambda: mod(x), "input has 4 features .* but input_size=12"),
             (lambda: mod(x, mask=torch.ones_like(m), delta=d), "x is NaN where mask is 1"),
             (lambda: mod.set_empirical_mean([1.0]), "x_mean must be 4 finite values")]
    for call, match in cases:
        with pytest.raises(ValueError, match=match) as err:
            call()
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="3 tensors packed"):
        cells.GRUD.build(10, 5)


def test_packed_sequence_with_mask_and_delta_names_the_fix():
    # "mask must be a tensor of the input's shape (…, 4); got (3, 6, 4)": the mask was right
    from torch.nn.utils.rnn import pack_padded_sequence

    mod = GRUD(4, 5, batch_first=True)
    x, m, d = _series()
    packed = pack_padded_sequence(torch.nan_to_num(x), [6, 4, 2], batch_first=True)
    with pytest.raises(TypeError, match=r"GRUD: mask= and delta= go with x as a tensor; got a "
                                        r"PackedSequence\. Pack GRUD\.pack\(x, mask, delta\)"):
        mod(packed, mask=m, delta=d)
    whole = pack_padded_sequence(GRUD.pack(x, m, d), [6, 4, 2], batch_first=True)
    y, _ = mod(whole)  # the fix the message names
    torch.testing.assert_close(torch.nn.utils.rnn.pad_packed_sequence(y, batch_first=True)[0],
                               mod(x, mask=m, delta=d, lengths=[6, 4, 2])[0][:, :6])


def test_mask_and_delta_of_another_dtype_are_read_in_the_inputs():
    # a float64 delta beside a float32 x was reported as "the input is torch.float64"
    torch.manual_seed(0)
    mod = GRUD(4, 5, batch_first=True)
    x, m, d = _series()
    want = mod(x, mask=m, delta=d)[0]
    for mask, delta in ((m.double(), d.double()), (m.bool(), d.half()), (m.int(), d)):
        torch.testing.assert_close(mod(x, mask=mask, delta=delta)[0], want,
                                   rtol=1e-3 if delta.dtype == torch.half else 1e-6, atol=1e-4)


@pytest.mark.filterwarnings("error::UserWarning")
def test_empirical_mean_from_a_data_frame():
    # df.mean() (a Series indexed by the column names, NaN skipped) failed inside torch:
    # "could not determine the shape of object type 'Series'"
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"hr": [80.0, None, 90.0], "temp": [37.0, 38.0, None],
                       "sbp": [120.0, 110.0, 130.0]})
    mod = GRUD(3, 4).set_empirical_mean(df.mean())
    torch.testing.assert_close(mod.x_mean, torch.tensor([85.0, 37.5, 120.0]))


@pytest.mark.parametrize("value, match", [
    ([1.0, float("nan"), 2.0], r"got \[1\.0, nan, 2\.0\] \(NaN or Inf: a variable never observed"),
    (["a", "b", "c"], r"got list \['a', 'b', 'c'\]"),
    ([1.0, 2.0], r"got shape \(2,\)")], ids=["nan", "text", "short"])
def test_empirical_mean_refusals_name_the_problem(value, match):
    with pytest.raises(ValueError, match=r"GRUD\.set_empirical_mean: x_mean must be 3 finite "
                                         r"values, one per variable; " + match):
        GRUD(3, 4).set_empirical_mean(value)


def test_x_that_is_not_a_tensor_is_named_beside_a_right_mask():
    # "mask must be a tensor of the input's shape (…, 4); got (3, 6, 4)": x was the numpy one
    mod = GRUD(4, 5, batch_first=True)
    x, m, d = _series()
    with pytest.raises(TypeError, match=r"^GRUD: x must be a torch\.Tensor like mask and "
                                        r"delta; got ndarray\. Convert it with "
                                        r"torch\.from_numpy\(x\)\.$"):
        mod(x.numpy(), mask=m, delta=d)


def test_integer_x_keeps_the_fractional_delta():
    # pack cast m and δ to x's dtype: with x int64 (scores, counts), δ = 0.71 h became 0
    torch.manual_seed(0)
    mod = GRUD(4, 5, batch_first=True)
    x, m, d = _series()
    counts = torch.nan_to_num(x * 3).round().to(torch.int64)
    packed = GRUD.pack(counts, m, d)
    assert packed.dtype == torch.float32
    torch.testing.assert_close(packed[..., 8:], d)  # δ as given
    torch.testing.assert_close(mod(counts, mask=m, delta=d)[0],
                               mod(counts.float(), mask=m, delta=d)[0])


@pytest.mark.parametrize("value", ["False", "no", None, 2])
def test_check_finite_that_is_not_a_flag_is_refused(value):
    # "False" is a true string: it turned the check on
    with pytest.raises(TypeError, match=r"^GRUD: check_finite must be True or False; got "):
        GRUD(3, 4, check_finite=value)
    assert GRUD(3, 4, check_finite=True).check_finite_observed is True


def test_mask_or_delta_on_another_device_is_one_sentence():
    # torch's "Tensor on device cpu is not on the expected device meta!" from inside pack
    mod = GRUD(4, 5, batch_first=True)
    x, m, d = _series()
    for mask, delta, name in ((m.to("meta"), d, "mask"), (m, d.to("meta"), "delta")):
        with pytest.raises(TypeError, match=rf"^GRUD: {name} is on meta but x is on cpu; move "
                                            rf"it with {name}\.to\(x\.device\)\.$"):
            mod(x, mask=mask, delta=delta)
