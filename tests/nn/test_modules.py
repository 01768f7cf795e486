"""grukit-only module behaviour: reset_after=False, MinGRU, lengths, clear errors."""

import pytest
import torch

import grukit
import grukit.nn as gnn
from conftest import ran_only


def test_reset_before_gru_has_no_recurrent_bias():
    m = gnn.GRU(1, 64, reset_after=False)
    assert not hasattr(m, "bias_hh_l0") or m.bias_hh_l0 is None
    assert grukit.count_params(m) == 12_672
    assert grukit.count_params(gnn.GRU(1, 64)) == 12_864
    assert "reset_after=False" in repr(m)


@pytest.mark.parametrize("make, shown", [
    (lambda: gnn.GRUCell(3, 4, reset_after=False), "GRUCell(3, 4, reset_after=False)"),
    (lambda: gnn.RNNCell(3, 4, nonlinearity="relu"), "RNNCell(3, 4, nonlinearity='relu')"),
    (lambda: gnn.MinGRU(3, 4, mode="sequential"), "MinGRU(3, 4, mode='sequential')"),
    (lambda: gnn.GRUCell(3, 4), "GRUCell(3, 4)")])
def test_repr_shows_the_options_that_change_the_math(make, shown):
    # a textbook GRUCell and a relu RNNCell printed as the defaults
    assert repr(make()) == shown


def test_mingru_module_parallel_equals_sequential():
    torch.manual_seed(0)
    par = gnn.MinGRU(3, 6, 2, bidirectional=True, batch_first=True)
    seq = gnn.MinGRU(3, 6, 2, bidirectional=True, batch_first=True, mode="sequential")
    seq.load_state_dict(par.state_dict())
    x = torch.randn(4, 40, 3)
    lengths = [40, 31, 2, 9]
    ya, ha = par(x, lengths=lengths)
    yb, hb = seq(x, lengths=lengths)
    torch.testing.assert_close(ya, yb, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ha, hb, rtol=1e-4, atol=1e-5)
    assert ya.shape == (4, 40, 12) and ha.shape == (4, 4, 6)
    assert [n for n, _ in par.named_parameters()][:2] == ["weight_ih_l0", "bias_ih_l0"]


def test_bidirectional_lengths_each_sequence_alone():
    torch.manual_seed(0)
    m = gnn.GRU(3, 4, 2, bidirectional=True, batch_first=True, reset_after=False)
    x = torch.randn(3, 6, 3)
    lengths = [6, 2, 4]
    y, h = m(x, lengths=lengths)
    for b, n in enumerate(lengths):
        y1, h1 = m(x[b:b + 1, :n])
        torch.testing.assert_close(y[b, :n], y1[0])
        torch.testing.assert_close(h[:, b], h1[:, 0])
        assert torch.all(y[b, n:] == 0)


def test_module_errors_name_problem_and_shape():
    m = gnn.GRU(3, 4, 2, bidirectional=True)
    with pytest.raises(ValueError, match=r"input has 5 features in its last dimension but "
                                         r"input_size=3; expected \(time, batch, features\)"):
        m(torch.randn(7, 2, 5))
    with pytest.raises(ValueError, match=r"input must be 3-D \(time, batch, features\)"):
        m(torch.randn(7, 2, 3, 1))
    with pytest.raises(ValueError, match=r"hx must have shape \(num_layers·num_directions, "
                                         r"batch, hidden\) = \(4, 2, 4\); got \(2, 2, 4\)"):
        m(torch.randn(7, 2, 3), torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, T\] = \[0, 7\]"):
        m(torch.randn(7, 2, 3), lengths=[8, 1])
    with pytest.raises(TypeError, match=r"hx must be a pair \(h_0, c_0\)"):
        gnn.LSTM(3, 4)(torch.randn(7, 2, 3), torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        gnn.GRU(3, 0)
    with pytest.raises(ValueError, match=r"input must have shape \(batch, input_size\) = "
                                         r"\(B, 3\)"):
        gnn.GRUCell(3, 4)(torch.randn(2, 4))
    x = torch.randn(7, 2, 3)
    x[2, 1, 0] = float("nan")
    with pytest.raises(ValueError, match="input contains 1 NaN/Inf"):
        gnn.GRU(3, 4, check_finite=True)(x)


def test_backend_argument(backend_calls):
    x = torch.randn(5, 2, 3)
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        gnn.GRU(3, 4, backend="cuda")(x)
    m = gnn.GRU(3, 4, backend="reference")
    assert m(x)[0].shape == (5, 2, 4)
    ran_only(backend_calls, "reference")


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_float64_and_state_dict_roundtrip(backend, backend_calls):
    """float64 end to end, against torch.nn.GRU in float64; a state_dict loaded into a fresh
    module gives the same numbers (the same code twice: bit for bit)."""
    torch.manual_seed(0)
    theirs = torch.nn.GRU(3, 4, dtype=torch.float64)
    m = gnn.GRU(3, 4, dtype=torch.float64, backend=backend)
    assert m.weight_ih_l0.dtype == torch.float64
    m.load_state_dict(theirs.state_dict())
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    y, h = m(x)
    assert y.dtype == h.dtype == torch.float64
    y_t, h_t = theirs(x)
    torch.testing.assert_close(y, y_t)  # float64 defaults: rtol 1e-7, atol 1e-7
    torch.testing.assert_close(h, h_t)
    ran_only(backend_calls, backend)
    m2 = gnn.GRU(3, 4, dtype=torch.float64, backend=backend)
    m2.load_state_dict(m.state_dict())
    y2, h2 = m2(x)
    assert torch.equal(y2, y) and torch.equal(h2, h)


# -- recurrent dropout and zoneout ----------------------------------------------------------
def _manual(module, x, op, *, state_masks=None, zoneout_masks=None, **kw):
    """The layer × direction loop written out with given masks (float64, reference)."""
    layer_in, finals = x, []
    for layer in range(module.num_layers):
        outs = []
        for d in range(module.num_directions):
            k = layer * module.num_directions + d
            p = module.layer_params(layer, d)
            extra = {}
            if state_masks is not None:
                extra["state_mask"] = state_masks[k]
            if zoneout_masks is not None:
                extra["zoneout_mask"] = zoneout_masks[k]
            weights = [p[n] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            y, h = op(layer_in, *weights, reverse=d == 1, backend="reference", **extra, **kw)
            outs.append(y)
            finals.append(h)
        layer_in = torch.cat(outs, dim=2)
    return layer_in, finals


@pytest.mark.parametrize("name", ["gru", "lstm", "rnn"])
def test_recurrent_dropout_draws_one_mask_per_layer_and_direction_in_order(name):
    """nn's masks are Bernoulli(keep)/keep of shape (B, P), drawn layer by layer, direction
    by direction: the same seed gives the same masks written out by hand."""
    from grukit import cells

    spec = cells.get(name)
    torch.manual_seed(0)
    m = spec.module_class()(3, 5, 2, batch_first=True, bidirectional=True,
                            recurrent_dropout=0.4, backend="reference").double()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    torch.manual_seed(1)
    y, _ = m(x)
    torch.manual_seed(1)
    masks = [torch.bernoulli(x.new_full((2, 5), 0.6)) / 0.6 for _ in range(4)]
    want, _ = _manual(m, x, getattr(grukit.ops, name), state_masks=masks)
    torch.testing.assert_close(y, want, rtol=1e-10, atol=1e-10)
    m.eval()  # off at inference: the plain recurrence
    plain = spec.module_class()(3, 5, 2, batch_first=True, bidirectional=True).double()
    plain.load_state_dict(m.state_dict())
    torch.testing.assert_close(m(x)[0], plain(x)[0], rtol=1e-10, atol=1e-10)


def test_recurrent_dropout_mask_has_the_projection_width():
    torch.manual_seed(0)
    m = gnn.LSTM(3, 6, proj_size=2, batch_first=True, recurrent_dropout=0.5)
    y, (h, c) = m(torch.randn(4, 5, 3))
    assert y.shape == (4, 5, 2) and h.shape == (1, 4, 2) and c.shape == (1, 4, 6)


def test_gru_zoneout_draws_bernoulli_masks_in_training_and_uses_the_rate_in_eval():
    torch.manual_seed(0)
    m = gnn.GRU(3, 5, 2, batch_first=True, bidirectional=True, zoneout=0.3,
                recurrent_dropout=0.2, backend="reference").double()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    torch.manual_seed(1)
    y, _ = m(x)
    torch.manual_seed(1)
    state, zone = [], []
    for _ in range(4):  # per layer and direction: recurrent-dropout mask, then zoneout mask
        state.append(torch.bernoulli(x.new_full((2, 5), 0.8)) / 0.8)
        zone.append(torch.bernoulli(x.new_full((2, 6, 5), 0.3)))
    want, _ = _manual(m, x, grukit.ops.gru, state_masks=state, zoneout_masks=zone)
    torch.testing.assert_close(y, want, rtol=1e-10, atol=1e-10)
    m.eval()
    rate = [x.new_full((2, 6, 5), 0.3)] * 4
    want, _ = _manual(m, x, grukit.ops.gru, zoneout_masks=rate)
    torch.testing.assert_close(m(x)[0], want, rtol=1e-10, atol=1e-10)
    assert "zoneout=0.3" in repr(m) and "recurrent_dropout=0.2" in repr(m)


def test_backend_is_checked_when_the_module_is_made():
    with pytest.raises(ValueError, match=r"LSTM: unknown backend 'numba'; choose one of "
                                         r"'auto', .*'cpu'"):
        gnn.LSTM(3, 4, backend="numba")


# -- the plain call: no lengths, masks or gradient ------------------------------------------
@pytest.mark.parametrize("layers,batch_first,with_hx,dtype,reset_after,bias", [
    (1, True, False, torch.float32, True, True),
    (1, False, True, torch.float32, True, True),
    (2, True, True, torch.float64, True, True),
    (1, True, True, torch.float32, False, True),
    (2, False, False, torch.float32, True, False),
    (1, True, False, torch.float64, False, False),
], ids=["1L-bf", "1L-tf-hx", "2L-f64-hx", "reset_before-hx", "2L-nobias", "before-f64-nobias"])
def test_plain_inference_call_equals_the_full_path(layers, batch_first, with_hx, dtype,
                                                   reset_after, bias, backend_calls):
    """Without lengths, masks or gradient a call skips the entry's checks and dispatch; it
    runs the same kernel as a call with full lengths (which takes the whole path), so the
    two agree bit for bit, one short (T = 1) and one long call each."""
    torch.manual_seed(0)
    m = gnn.GRU(5, 6, layers, bias=bias, batch_first=batch_first, dtype=dtype,
                reset_after=reset_after).eval()
    for steps in (1, 9):
        shape = (3, steps, 5) if batch_first else (steps, 3, 5)
        x = torch.randn(shape, dtype=dtype)
        hx = torch.randn(layers, 3, 6, dtype=dtype) if with_hx else None
        with torch.no_grad():
            y, h = m(x, hx)
            y_full, h_full = m(x, hx, lengths=torch.full((3,), steps))
        assert torch.equal(y, y_full) and torch.equal(h, h_full)
        assert y.shape == y_full.shape and h.shape == (layers, 3, 6)
    ran_only(backend_calls, "cpu")


@pytest.mark.parametrize("nonlinearity,bias,with_hx", [("tanh", True, True),
                                                       ("relu", False, False)])
def test_plain_rnn_inference_call_equals_the_full_path(nonlinearity, bias, with_hx,
                                                       backend_calls):
    """The RNN's plain call: the same kernel as the whole path, bit for bit."""
    torch.manual_seed(2)
    m = gnn.RNN(5, 6, 2, nonlinearity=nonlinearity, bias=bias, batch_first=True).eval()
    for steps in (1, 9):
        x = torch.randn(3, steps, 5)
        hx = torch.randn(2, 3, 6) if with_hx else None
        with torch.no_grad():
            y, h = m(x, hx)
            y_full, h_full = m(x, hx, lengths=torch.full((3,), steps))
        assert torch.equal(y, y_full) and torch.equal(h, h_full)
    ran_only(backend_calls, "cpu")


def test_plain_inference_call_skips_dispatch_and_matches_torch(monkeypatch):
    """The plain call never reaches dispatch, and its numbers are torch.nn.GRU's."""
    from grukit.ops import dispatch

    torch.manual_seed(1)
    theirs = torch.nn.GRU(4, 8, batch_first=True)
    m = gnn.GRU(4, 8, batch_first=True)
    m.load_state_dict(theirs.state_dict())
    x, hx = torch.randn(2, 1, 4), torch.randn(1, 2, 8)

    def refuse(*args, **kwargs):
        raise AssertionError("the plain call went through dispatch")

    monkeypatch.setattr(dispatch, "select", refuse)
    with torch.no_grad():
        y, h = m(x, hx)
        y_t, h_t = theirs(x, hx)
    torch.testing.assert_close(y, y_t)
    torch.testing.assert_close(h, h_t)
    with pytest.raises(AssertionError, match="went through dispatch"):  # a gradient: the
        m(x, hx)                                                         # whole path


def test_plain_call_keeps_the_full_paths_errors():
    """The short path decides, the full path explains: bad calls fail as they always did."""
    m = gnn.GRU(4, 8, batch_first=True).eval()
    with torch.no_grad():
        with pytest.raises(ValueError, match="input has 3 features"):
            m(torch.randn(2, 1, 3))
        with pytest.raises(ValueError, match=r"hx must have shape"):
            m(torch.randn(2, 1, 4), torch.randn(1, 3, 8))
        with pytest.raises(TypeError, match="hx is torch.float64"):
            m(torch.randn(2, 1, 4), torch.randn(1, 2, 8, dtype=torch.float64))
        with pytest.raises(TypeError, match="the input is torch.float64"):
            m(torch.randn(2, 1, 4, dtype=torch.float64))


@pytest.mark.parametrize("cls", [gnn.MinGRU, gnn.GRU, gnn.LSTM, gnn.RNN, gnn.LayerNormGRU])
@pytest.mark.parametrize("steps", [0, 1, 4], ids=["T0", "T1", "T4"])
def test_h_n_is_its_own_tensor_as_torch_nn_s(cls, steps):
    # a MinGRU's h_n was a view of the output's last step, so masking the output in place
    # (y.mul_(mask)) changed h_n too; with no steps h_n was hx itself, so an in-place
    # reset of h_n changed the caller's hx
    torch.manual_seed(0)
    m = cls(3, 4, batch_first=True)
    x = torch.randn(2, steps, 3)
    hx = (torch.randn(1, 2, 4), torch.randn(1, 2, 4)) if cls is gnn.LSTM else torch.randn(1, 2, 4)
    kept = tuple(h.clone() for h in hx) if cls is gnn.LSTM else hx.clone()
    with torch.no_grad():
        y, h = m(x, hx)
        want = tuple(t.clone() for t in h) if cls is gnn.LSTM else h.clone()
        y.zero_()
        for t in h if cls is gnn.LSTM else (h,):
            t.add_(1.0)
    torch.testing.assert_close(hx, kept, rtol=0, atol=0)  # the caller's state unchanged
    got = tuple(t - 1.0 for t in h) if cls is gnn.LSTM else h - 1.0
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)  # h_n unchanged by y.zero_()
