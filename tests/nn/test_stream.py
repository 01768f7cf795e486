"""Streaming equals the whole sequence at once, on both paths (fast batch-1 GRU and LSTM,
generic)."""

import numpy as np
import pytest
import torch

import grukit.nn as gnn


def _whole(m, x):
    with torch.no_grad():
        y, h = m(x if m.batch_first else x.transpose(0, 1))
    return (y if m.batch_first else y.transpose(0, 1)), h


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gru_fast_path_steps_equal_sequence(reset_after, dtype):
    torch.manual_seed(0)
    m = gnn.GRU(3, 7, num_layers=2, reset_after=reset_after, dtype=dtype, batch_first=True)
    x = torch.randn(1, 25, 3, dtype=dtype)
    y, h = _whole(m, x)
    s = gnn.Stream(m)
    ys = np.stack([s.step(x[0, t].numpy()) for t in range(25)])
    assert s._fast is not None, "batch-1 numpy steps should take the fast path"
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(ys, y[0].numpy(), atol=tol, rtol=0)
    torch.testing.assert_close(s.state, h, atol=tol, rtol=0)


def _read_only(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("kind", ["GRU", "LSTM", "RNN", "LayerNormGRU"])
def test_fast_path_takes_strided_and_unaligned_steps(kind):
    """x_t as a column of a bigger array, a torch column, a float64 array, an unaligned
    buffer, a reversed view, a read-only array: each step equals the whole sequence."""
    torch.manual_seed(0)
    m = getattr(gnn, kind)(3, 5, batch_first=True)
    x = torch.randn(1, 12, 3)
    y, _ = _whole(m, x)
    wide = np.zeros((12, 3, 4), np.float32)
    wide[:, :, 1] = x[0].numpy()
    raw = np.zeros(12 * 3 * 4 + 1, np.uint8)
    unaligned = np.frombuffer(raw.data, np.float32, 12 * 3, offset=1).reshape(12, 3)
    unaligned[:] = x[0].numpy()
    feeds = {"strided": lambda t: wide[t, :, 1],
             "torch strided": lambda t: torch.from_numpy(wide)[t, :, 1],
             "float64": lambda t: x[0, t].numpy().astype(np.float64),
             "unaligned": lambda t: unaligned[t],
             "reversed": lambda t: np.ascontiguousarray(x[0, t].numpy()[::-1])[::-1],
             "read-only": lambda t: _read_only(x[0, t].numpy())}
    for name, feed in feeds.items():
        s = gnn.Stream(m)
        s.step(x[0, 0].numpy())  # the fast path is set up with a plain array first
        s.reset()
        ys = [np.asarray(s.step(feed(0)))]
        if name not in ("torch strided", "float64"):  # float32 numpy: the hot path serves it
            s._fast_step = None
        ys += [np.asarray(s.step(feed(t))) for t in range(1, 12)]
        np.testing.assert_allclose(np.stack(ys), y[0].numpy(), atol=1e-6, rtol=0, err_msg=name)


@pytest.mark.parametrize("kind", ["GRU", "LSTM", "RNN", "MinGRU", "LayerNormGRU"])
def test_steps_and_chunks_equal_sequence(kind):
    torch.manual_seed(0)
    m = getattr(gnn, kind)(4, 6, num_layers=2)
    x = torch.randn(3, 20, 4)  # (B, T, I)
    y, h = _whole(m, x)
    s = gnn.Stream(m, batch_size=3)
    parts = [s.step(x[:, t]) for t in range(5)]  # torch in, torch out
    parts += list(s.feed(x[:, 5:12]).unbind(1))
    parts += list(s.feed(x[:, 12:]).unbind(1))
    torch.testing.assert_close(torch.stack(parts, 1), y, rtol=1e-5, atol=1e-6)
    if kind == "LSTM":
        torch.testing.assert_close(s.state[0], h[0], rtol=1e-5, atol=1e-6)
    else:
        torch.testing.assert_close(s.state, h, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lstm_fast_path_steps_equal_sequence(dtype):
    torch.manual_seed(0)
    m = gnn.LSTM(3, 7, num_layers=2, dtype=dtype, batch_first=True, forget_bias=1.0)
    x = torch.randn(1, 25, 3, dtype=dtype)
    y, (h, c) = _whole(m, x)
    s = gnn.Stream(m)
    ys = [s.step(x[0, t].numpy()) for t in range(10)]
    assert s._fast is not None, "batch-1 numpy steps should take the fast path"
    ys += [s.step(x[0, t]).numpy() for t in range(10, 15)]  # torch in, torch out
    ys += list(s.feed(x[0, 15:]).numpy())  # then the generic path, carrying h and c
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(np.stack(ys), y[0].numpy(), atol=tol, rtol=0)
    torch.testing.assert_close(s.state, (h, c), atol=tol, rtol=0)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_fast_path_steps_equal_sequence(nonlinearity):
    torch.manual_seed(0)
    m = gnn.RNN(3, 7, num_layers=2, nonlinearity=nonlinearity, batch_first=True)
    x = torch.randn(1, 25, 3)
    y, h = _whole(m, x)
    s = gnn.Stream(m)
    ys = np.stack([s.step(x[0, t].numpy()) for t in range(25)])
    assert s._fast is not None, "batch-1 numpy steps should take the fast path"
    np.testing.assert_allclose(ys, y[0].numpy(), atol=1e-6, rtol=0)
    torch.testing.assert_close(s.state, h, atol=1e-6, rtol=0)


@pytest.mark.parametrize("path", ["numpy", "torch"])
def test_an_rnn_nonlinearity_set_mid_stream_is_the_one_stepped(path):
    # the kernel's relu flag is fixed when it is built: a switch between tanh and relu
    # mid-stream kept stepping the old one (0.85 off) until reset()
    torch.manual_seed(0)
    m = gnn.RNN(3, 7, num_layers=2, nonlinearity="tanh", batch_first=True)
    x = torch.randn(1, 20, 3)
    s = gnn.Stream(m)
    as_input = (lambda t: t.numpy()) if path == "numpy" else (lambda t: t)
    for t in range(10):
        s.step(as_input(x[0, t]))
    h = s.state.clone()  # (L, 1, H)
    m.nonlinearity = "relu"
    ys = np.stack([np.asarray(s.step(as_input(x[0, t]))) for t in range(10, 20)])
    with torch.no_grad():
        want, h_n = m(x[:, 10:], h)
    np.testing.assert_allclose(ys, want[0].numpy(), atol=1e-6, rtol=0)
    torch.testing.assert_close(s.state, h_n, atol=1e-6, rtol=0)


OPTION_CHANGES = [  # (module, its arguments, the option set mid-stream, its new value)
    ("GRU", dict(reset_after=False), "reset_after", True),
    ("GRU", dict(reset_after=True, bias=False), "reset_after", False),
    ("LayerNormGRU", dict(reset_after=False), "reset_after", True),
    ("LayerNormGRU", dict(reset_after=True, bias=False), "reset_after", False),
    ("RNN", dict(nonlinearity="tanh"), "nonlinearity", "relu"),
    ("MinGRU", dict(mode="parallel"), "mode", "sequential"),
]


def test_every_cell_option_has_a_mid_stream_case():
    from grukit import cells

    with_options = {s.module.rsplit(".", 1)[-1] for s in cells.all_specs() if s.options}
    assert with_options <= {c[0] for c in OPTION_CHANGES}


@pytest.mark.parametrize("path", ["numpy", "torch"])
@pytest.mark.parametrize("kind, kwargs, option, value", OPTION_CHANGES,
                         ids=[f"{c[0]}-{c[2]}={c[3]}" for c in OPTION_CHANGES])
def test_a_cell_option_set_mid_stream_is_the_one_stepped(kind, kwargs, option, value, path):
    # the kernel is built for the options a stream starts with: reset_after set mid-stream
    # kept stepping the old placement (a GRU's, a LayerNorm-GRU's) until reset()
    torch.manual_seed(0)
    m = getattr(gnn, kind)(3, 7, num_layers=2, batch_first=True, **kwargs)
    x = torch.randn(1, 20, 3)
    s = gnn.Stream(m)
    as_input = (lambda t: t.numpy()) if path == "numpy" else (lambda t: t)
    for t in range(10):
        s.step(as_input(x[0, t]))
    h = s.state.clone()  # (L, 1, H)
    setattr(m, option, value)
    ys = np.stack([np.asarray(s.step(as_input(x[0, t]))) for t in range(10, 20)])
    assert s._fast is not None, "the steps after the change should take the fast path"
    with torch.no_grad():
        want, h_n = m(x[:, 10:], h)
    np.testing.assert_allclose(ys, want[0].numpy(), atol=1e-6, rtol=0)
    torch.testing.assert_close(s.state, h_n, atol=1e-6, rtol=0)


@pytest.mark.parametrize("path", ["numpy", "torch"])
@pytest.mark.parametrize("kind", ["GRU", "LayerNormGRU"])
def test_a_switch_set_mid_stream_that_is_not_true_or_false_is_refused(kind, path):
    # reset_after="False" set on the module is truthy: the fast path stepped the
    # reset_after placement without a word, where the module's forward refuses it
    torch.manual_seed(0)
    m = getattr(gnn, kind)(3, 7, batch_first=True, bias=False)
    x = torch.randn(1, 4, 3)
    as_input = (lambda t: t.numpy()) if path == "numpy" else (lambda t: t)
    s = gnn.Stream(m)
    s.step(as_input(x[0, 0]))
    h = s.state.clone()
    m.reset_after = "False"
    for _ in range(2):
        with pytest.raises(TypeError, match=rf"^{kind}: reset_after must be True or False; "
                                            rf"got 'False'\.$"):
            s.step(as_input(x[0, 1]))
        torch.testing.assert_close(s.state, h, rtol=0, atol=0)
    m.reset_after = np.bool_(False)
    y = np.asarray(s.step(as_input(x[0, 1])))
    m.reset_after = False
    with torch.no_grad():
        want, _ = m(x[:, 1:2], h)
    np.testing.assert_allclose(y, want[0, 0].numpy(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias, mode", [(True, "parallel"), (False, "sequential")])
def test_mingru_fast_path_steps_equal_the_module(dtype, bias, mode):
    # the minGRU had no one-step kernel: each step called the module (the float64 scan in
    # parallel mode), ~250 µs against the GRU's ~1.5 µs
    torch.manual_seed(0)
    m = gnn.MinGRU(3, 9, num_layers=3, bias=bias, batch_first=True, mode=mode).to(dtype)
    x = torch.randn(1, 40, 3, dtype=dtype) * 3
    x[0, 5] = 1e4  # saturated gates: z = 1, h̃ = v + 0.5
    x[0, 6] = -1e4
    y, h = _whole(m, x)
    s = gnn.Stream(m)
    ys = np.stack([s.step(x[0, t].numpy()) for t in range(40)])
    assert s._fast is not None, "batch-1 numpy steps should take the fast path"
    tol = 1e-5 if dtype == torch.float32 else 1e-11
    np.testing.assert_allclose(ys, y[0].numpy(), rtol=tol, atol=tol)
    torch.testing.assert_close(s.state, h, rtol=tol, atol=tol)
    with torch.no_grad():  # a weight changed in place is packed again
        m.weight_ih_l1.mul_(0.5)
    want, _ = m(x[:, :1], s.state.clone())
    np.testing.assert_allclose(s.step(x[0, 0]).numpy(), want[0, 0].detach().numpy(),
                               rtol=tol, atol=tol)


def _lngru(reset_after: bool, bias: bool, dtype=torch.float32, layers: int = 3):
    """A LayerNorm-GRU whose gains and shifts are not their initial 1 and 0 (so a kernel
    that left one out, or put it at the wrong normalisation, differs)."""
    m = gnn.LayerNormGRU(3, 9, num_layers=layers, bias=bias, batch_first=True,
                         reset_after=reset_after).to(dtype)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.startswith("ln_"):
                p.add_(0.3 * torch.randn_like(p))
    return m


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_lngru_fast_path_steps_equal_the_module(dtype, reset_after, bias):
    # the LayerNorm-GRU had no one-step kernel: each step called the module, ~250 µs
    # against the GRU's ~1.5 µs
    torch.manual_seed(0)
    m = _lngru(reset_after, bias, dtype)
    x = torch.randn(1, 40, 3, dtype=dtype) * 3
    x[0, 5] = 1e4  # saturated: W_ih x is large, its normalisation is not
    x[0, 6] = -1e4
    y, h = _whole(m, x)
    s = gnn.Stream(m)
    ys = np.stack([s.step(x[0, t].numpy()) for t in range(40)])
    assert s._fast is not None, "batch-1 numpy steps should take the fast path"
    tol = 1e-5 if dtype == torch.float32 else 1e-11
    np.testing.assert_allclose(ys, y[0].numpy(), rtol=tol, atol=tol)
    torch.testing.assert_close(s.state, h, rtol=tol, atol=tol)
    with torch.no_grad():  # a weight changed in place mid-stream is packed again
        m.ln_hh_weight_l1.mul_(0.5)
        m.weight_hh_l2.mul_(-1.0)
        want, h_n = m(x[:, :8], s.state.clone())
    ys = np.stack([s.step(x[0, t].numpy()) for t in range(8)])
    np.testing.assert_allclose(ys, want[0].numpy(), rtol=tol, atol=tol)
    torch.testing.assert_close(s.state, h_n, rtol=tol, atol=tol)
    s.reset()  # from zero state again: the first steps as from a new stream
    with torch.no_grad():
        want, h_n = m(x[:, :8])
    ys = np.stack([s.step(x[0, t].numpy()) for t in range(8)])
    np.testing.assert_allclose(ys, want[0].numpy(), rtol=tol, atol=tol)
    torch.testing.assert_close(s.state, h_n, rtol=tol, atol=tol)


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_lngru_stream_and_module_agree_on_huge_pre_activations(reset_after):
    # W_ih x and W_hh h around 1e20: torch's float32 layer norm overflows its variance
    # there and gave the module's gates β alone (outputs 0.47 off); the kernel sums in
    # float64. Both equal the float64 module, rounded.
    torch.manual_seed(0)
    m = _lngru(reset_after, True, layers=2)
    with torch.no_grad():
        m.weight_hh_l0.mul_(1e20)
    x = torch.randn(1, 10, 3) * 1e20
    want, h64 = _whole(m.to(torch.float64), x.double())
    m.to(torch.float32)
    y, h = _whole(m, x)
    s = gnn.Stream(m)
    ys = np.stack([s.step(x[0, t].numpy()) for t in range(10)])
    assert s._fast is not None, "batch-1 numpy steps should take the fast path"
    for got in (y[0].numpy(), ys):
        np.testing.assert_allclose(got, want[0].numpy(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h.double(), h64, rtol=1e-5, atol=1e-5)


def test_an_int8_lngru_streams_its_dequantized_weights_on_the_kernel():
    from grukit.nn.quantized import Int8Stream, quantize_int8

    torch.manual_seed(0)
    q = quantize_int8(_lngru(True, True, layers=2), linear="grukit")
    x = torch.randn(1, 12, 3)
    y, _ = _whole(q, x)
    for s in (gnn.Stream(q), Int8Stream(q, w8a8=False)):
        ys = np.stack([s.step(x[0, t].numpy()) for t in range(12)])
        assert s._fast is not None, "batch-1 numpy steps should take the fast path"
        np.testing.assert_allclose(ys, y[0].numpy(), rtol=1e-5, atol=1e-5)


def test_lstm_fast_path_matches_torch_lstm_cell():
    torch.manual_seed(0)
    cell = torch.nn.LSTMCell(2, 16)
    m = gnn.LSTM(2, 16)
    m.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    s = gnn.Stream(m)
    h = c = torch.zeros(1, 16)
    xs = torch.randn(30, 2)
    with torch.no_grad():
        for t in range(30):
            h, c = cell(xs[t:t + 1], (h, c))
            out = s.step(xs[t].numpy())
    np.testing.assert_allclose(out, h[0].numpy(), atol=1e-6)
    assert gnn.Stream(gnn.LSTM(2, 4, proj_size=2)).step(np.ones(2, np.float32)).shape == (2,)


def test_fast_path_sees_weight_updates_and_reset():
    torch.manual_seed(0)
    m = gnn.GRU(2, 5)
    s = gnn.Stream(m)
    x = np.ones(2, np.float32)
    a = s.step(x)
    with torch.no_grad():
        m.weight_ih_l0.add_(1.0)  # in place, as an optimizer step
        expected = m(torch.ones(1, 1, 2), torch.from_numpy(a).reshape(1, 1, 5))[0][0, 0]
    b = s.step(x)  # carries on from a, with the new weights
    np.testing.assert_allclose(b, expected.numpy(), atol=1e-6)
    s.reset()
    with torch.no_grad():
        first = m(torch.ones(1, 2))[0][0].numpy()
    np.testing.assert_allclose(s.step(x), first, atol=1e-6)
    assert not np.allclose(a, first)


@pytest.mark.parametrize("kind", ["GRU", "GRU_before", "LSTM", "RNN", "LNGRU", "LNGRU_before",
                                  "LNGRU_3"])
def test_fast_path_sees_an_edit_of_every_parameter(kind):
    """Each parameter of a stacked model (5 to 24 of them), edited in place between two
    steps, shows in the next step."""
    torch.manual_seed(0)
    make = {"GRU": lambda: gnn.GRU(2, 3, num_layers=2),
            "GRU_before": lambda: gnn.GRU(2, 3, num_layers=2, reset_after=False),
            "LSTM": lambda: gnn.LSTM(2, 3, num_layers=2),
            "RNN": lambda: gnn.RNN(2, 3, num_layers=2),
            "LNGRU": lambda: gnn.LayerNormGRU(2, 3, num_layers=2),
            "LNGRU_before": lambda: gnn.LayerNormGRU(2, 3, num_layers=2,
                                                     reset_after=False),
            "LNGRU_3": lambda: gnn.LayerNormGRU(2, 3, num_layers=3)}[kind]
    m = make()
    x = np.ones(2, np.float32)
    for name, p in m.named_parameters():
        s = gnn.Stream(m)
        s.step(x)
        with torch.no_grad():
            p.mul_(0.5)  # in place, as an optimizer step
            state = s.state
            hx = tuple(t.clone() for t in state) if isinstance(state, tuple) else state.clone()
            want = m(torch.ones(1, 1, 2), hx)[0][0, 0]
        np.testing.assert_allclose(s.step(x), want.numpy(), atol=1e-6, err_msg=name)

@pytest.mark.parametrize("count", [0, 1, 3, 4, 5, 8, 9, 24])
def test_the_version_probe_moves_with_every_tensor_and_option(count):
    """The hot path's probe (one expression written for the count: 8 reads of a one-layer
    LayerNorm-GRU took a sum over groups of four, 1.0 µs of a 3.3 µs step) moves when any
    of its tensors changes in place, and is equal to no sum once an option changes."""
    from grukit.nn.stream import _version_probe

    m = gnn.GRU(2, 3)
    ts = [torch.zeros(2) for _ in range(count)]
    probe = _version_probe(ts, m, (("reset_after", True),))
    before = probe()
    assert before == sum(t._version for t in ts)
    for k, t in enumerate(ts):
        t.add_(1)
        assert probe() == before + k + 1
    assert _version_probe(ts)() == probe()
    m.reset_after = False
    assert probe() != probe()  # NaN: unequal to every sum, itself included


def test_fast_path_matches_torch_gru_cell():
    torch.manual_seed(0)
    cell = torch.nn.GRUCell(1, 64)
    m = gnn.GRU(1, 64)
    m.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    s = gnn.Stream(m)
    h = torch.zeros(1, 64)
    xs = torch.randn(30, 1)
    with torch.no_grad():
        for t in range(30):
            h = cell(xs[t:t + 1], h)
            out = s.step(xs[t].numpy())
    np.testing.assert_allclose(out, h[0].numpy(), atol=1e-6)


def test_stream_errors():
    with pytest.raises(ValueError, match="bidirectional layer needs the whole sequence"):
        gnn.Stream(gnn.GRU(2, 3, bidirectional=True))
    with pytest.raises(TypeError, match="Stream needs a grukit.nn"):
        gnn.Stream(torch.nn.GRU(2, 3))
    s = gnn.Stream(gnn.GRU(2, 3), batch_size=2)
    with pytest.raises(ValueError, match="batch_size=2; got a batch of 4"):
        s.step(torch.zeros(4, 2))
    s = gnn.Stream(gnn.GRU(2, 3))
    s.step(np.zeros(2, np.float32))
    with pytest.raises(ValueError, match=r"x_t has shape \(5,\); the module expects"):
        s.step(np.zeros(5, np.float32))


def test_a_keras_style_layer_is_refused_with_the_module_to_stream():
    # Stream(layers.LayerNormGRU(...)) said "Convert a torch.nn module with
    # grukit.convert.from_torch", which refuses these layers: the fix is their module
    from grukit import layers

    x = torch.zeros(1, 3, 2)
    lay, bi = layers.LayerNormGRU(4), layers.Bidirectional(layers.GRU(4))
    with pytest.raises(TypeError, match=r"Keras-style .*Stream\(layer\.rnn\) \(made on its "
                                        r"first call"):
        gnn.Stream(lay)
    lay(x)
    with pytest.raises(TypeError, match=r"LayerNormGRU, a Keras-style grukit.layers layer: "
                                        r"stream the module it holds, Stream\(layer\.rnn\)\.$"):
        gnn.Stream(lay)
    s = gnn.Stream(lay.rnn)
    with torch.no_grad():
        np.testing.assert_allclose(s.step(np.ones(2, np.float32)),
                                   lay(torch.ones(1, 1, 2))[0][0].numpy(), rtol=1e-6, atol=1e-6)
    bi(x)
    for layer in (bi, layers.Bidirectional(layers.GRU(4))):
        with pytest.raises(TypeError, match="a bidirectional layer: its backward direction "
                                            "starts at each sequence's end, so it cannot "
                                            "stream"):
            gnn.Stream(layer)
    with pytest.raises(TypeError, match=r"go_backwards=True\), a Keras-style layer that reads "
                                        r"each sequence from its end, so it cannot stream"):
        gnn.Stream(layers.GRU(4, go_backwards=True))
    with pytest.raises(TypeError, match="GRUCell, a one-step cell, which carries no state"):
        gnn.Stream(gnn.GRUCell(2, 3))
    with pytest.raises(TypeError, match="torch.nn.LSTM. Convert it with "
                                        "grukit.convert.from_torch first."):
        gnn.Stream(torch.nn.LSTM(2, 3))
    with pytest.raises(TypeError, match=r"\(GRU, LSTM, RNN, MinGRU, LayerNormGRU\); got "
                                        r"Linear\.$"):
        gnn.Stream(torch.nn.Linear(2, 3))


def test_stream_runs_in_inference_mode():
    torch.manual_seed(0)
    m = gnn.GRU(3, 5, num_layers=2, dropout=0.5, batch_first=True)  # left in training mode
    x = torch.randn(1, 12, 3)
    m.eval()
    y, _ = _whole(m, x)
    m.train()
    s = gnn.Stream(m, batch_size=1)
    torch.testing.assert_close(s.feed(x), y)
    assert m.training  # the module's mode is left as it was


# -- the fast path is a dispatched op ---------------------------------------------------------
@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn", "mingru", "lngru"])
def test_stream_ops_are_registered_with_dispatch(cell):
    from grukit.ops import dispatch

    assert dispatch.backends(f"{cell}_stream") == ["cpu"]


@pytest.mark.parametrize("make, reason", [
    (lambda: gnn.Stream(gnn.GRU(3, 4), batch_size=2), "batch of 2"),
    (lambda: gnn.Stream(gnn.GRU(3, 4, backend="reference")), "backend='reference'"),
    (lambda: gnn.Stream(gnn.LSTM(3, 4, proj_size=2)), "no projection"),
    (lambda: gnn.Stream(gnn.GRU(3, 4).to(torch.bfloat16)), "bfloat16"),
    (lambda: gnn.Stream(gnn.LayerNormGRU(3, 4, backend="reference")), "backend='reference'"),
    (lambda: gnn.Stream(gnn.GRU(3, 4, zoneout=0.5).eval()), "zoneout=0.5"),
], ids=["batch2", "named-backend", "lstm-proj", "bfloat16", "lngru-named-backend", "zoneout"])
def test_stream_falls_back_to_feed_with_the_reason_logged(make, reason, caplog):
    torch.manual_seed(0)
    s = make()
    x = torch.randn(s.batch_size, 3) if s.batch_size > 1 else torch.randn(3)
    x = x.to(s._h[0].dtype)
    with caplog.at_level("DEBUG", logger="grukit.nn.stream"):
        y = s.step(x.numpy() if x.dtype != torch.bfloat16 else x)
    assert s._fast is None, "this call should not take the one-step kernel"
    assert reason in caplog.text
    m = s.module
    with torch.no_grad():
        want = m(x.reshape(s.batch_size, 1, 3).transpose(0, 1) if not m.batch_first
                 else x.reshape(s.batch_size, 1, 3))[0]
    got = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    torch.testing.assert_close(got.reshape(-1).float(), want.reshape(-1).float())


def test_stream_module_imports_no_kernel_file_and_no_private_ops_name():
    import ast
    import inspect

    from grukit.nn import stream

    tree = ast.parse(inspect.getsource(stream))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and "ops" in node.module:
            parts = node.module.split(".")
            assert not any(p.startswith("_") or p in ("cpu", "stream") for p in parts[1:]), \
                node.module
            assert not any(a.name.startswith("_") for a in node.names), node.module


def test_zoneout_steps_equal_the_evaluation_sequence():
    """In evaluation a GRU with zoneout keeps h' = p h + (1 − p) h̃; numpy and torch steps
    (and the int8 copy's Int8Stream) give what the module gives on the whole sequence."""
    from grukit.nn.quantized import Int8Stream, quantize_int8

    torch.manual_seed(0)
    m = gnn.GRU(4, 8, zoneout=0.5).eval()
    x = torch.randn(12, 4)  # unbatched (T, I)
    with torch.no_grad():
        y, h = m(x)
    s = gnn.Stream(m)
    ys = np.stack([s.step(x[t].numpy()) for t in range(12)])
    np.testing.assert_allclose(ys, y.numpy(), atol=1e-6, rtol=0)
    torch.testing.assert_close(s.state[:, 0], h, atol=1e-6, rtol=0)
    s.reset()
    yt = torch.stack([s.step(x[t]) for t in range(12)])
    torch.testing.assert_close(yt, y, atol=1e-6, rtol=0)
    q = quantize_int8(m)
    with torch.no_grad():
        yq, _ = q(x)
    s8 = Int8Stream(q, w8a8=False)
    y8 = np.stack([s8.step(x[t].numpy()) for t in range(12)])
    np.testing.assert_allclose(y8, yq.numpy(), atol=1e-6, rtol=0)


def test_stream_of_an_int8_module_without_bias_steps_its_dequantized_weights():
    """An int8 copy without bias has no parameter left (its weights are buffers): a Stream
    of it still starts and steps what the module computes."""
    from grukit.nn.quantized import quantize_int8

    torch.manual_seed(0)
    q = quantize_int8(gnn.GRU(4, 6, bias=False))
    x = torch.randn(7, 4)
    with torch.no_grad():
        y, _ = q(x)
    s = gnn.Stream(q)
    ys = np.stack([s.step(x[t].numpy()) for t in range(7)])
    np.testing.assert_allclose(ys, y.numpy(), atol=1e-6, rtol=0)



@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_state_is_a_snapshot_that_later_steps_leave_unchanged(kind):
    """The fast path steps the carried state in place; ``state`` is a copy there as on
    feed."""
    torch.manual_seed(0)
    s = gnn.Stream(getattr(gnn, kind)(1, 4).eval())
    x = np.ones(1, np.float32)
    for path, advance in (("fast", s.step), ("feed", lambda x: s.feed(x[None]))):
        s.reset()
        advance(x)
        assert (s._fast is not None) == (path == "fast")
        saved = s.state
        saved = list(saved) if kind == "LSTM" else [saved]
        before = [t.clone() for t in saved]
        advance(x)
        assert all(torch.equal(a, b) for a, b in zip(saved, before, strict=True)), path


@pytest.mark.parametrize("make", [lambda: gnn.GRU(3, 5, 2), lambda: gnn.LSTM(3, 5),
                                  lambda: gnn.GRUCell(3, 5)])
def test_an_int8_module_pickles_and_torch_saves(make, tmp_path):
    import pickle

    from grukit.nn.quantized import Int8Recurrent, quantize_int8

    q = quantize_int8(make(), linear="grukit")
    x = torch.randn(4, 2, 3) if isinstance(q, gnn.RecurrentBase) else torch.randn(2, 3)
    torch.save(q, tmp_path / "q.pt")
    for back in (pickle.loads(pickle.dumps(q)), torch.load(tmp_path / "q.pt",
                                                           weights_only=False)):
        assert type(back) is type(q) and isinstance(back, Int8Recurrent)
        y_back, y = back(x), q(x)  # the cell: h'; the modules: (output, h_n or (h_n, c_n))
        y_back, y = (y_back, y) if isinstance(y, torch.Tensor) else (y_back[0], y[0])
        assert torch.equal(y_back, y)


def test_feed_after_module_to_carries_the_state_on_in_the_new_dtype():
    # the docstring says module.to is seen by feed: it raised "the input is torch.float32
    # ... but the weights are torch.float64" after module.double()
    torch.manual_seed(0)
    m = gnn.GRU(3, 5).eval()
    x = torch.randn(6, 3)
    s = gnn.Stream(m)
    first = s.feed(x[:3])
    m.double()
    rest = s.feed(x[3:])
    assert rest.dtype == torch.float64
    with torch.no_grad():
        y, _ = m(x.double())
    torch.testing.assert_close(torch.cat([first.double(), rest]), y, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_int8_stream_reads_changed_weights_after_reset(kind):
    # its docstring says to call reset() after changing the weights: the steps after it
    # still ran the int8 weights packed before
    from grukit.nn.quantized import Int8Stream, quantize_int8

    torch.manual_seed(0)
    q = quantize_int8(getattr(gnn, kind)(3, 6).eval(), linear="grukit")
    other = quantize_int8(getattr(gnn, kind)(3, 6).eval(), linear="grukit")
    x = torch.randn(4, 3)
    s = Int8Stream(q, w8a8=False)
    for t in range(4):
        s.step(x[t].numpy())
    q.load_state_dict(other.state_dict())
    s.reset()
    ys = np.stack([s.step(x[t].numpy()) for t in range(4)])
    with torch.no_grad():
        y, _ = other(x)
    np.testing.assert_allclose(ys, y.numpy(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
@pytest.mark.parametrize("int8", [False, True])
def test_a_copied_stream_steps_on_its_own(kind, int8):
    # a deepcopy kept the fast path's kernel over views of the original's state: the copy's
    # steps advanced the original, whose next output was then wrong; pickle failed
    import copy
    import pickle

    from grukit.nn.quantized import Int8Stream, quantize_int8

    torch.manual_seed(0)
    m = getattr(gnn, kind)(3, 5).eval()
    m = quantize_int8(m, linear="grukit") if int8 else m
    x = torch.randn(4, 3)
    s = Int8Stream(m, w8a8=False) if int8 else gnn.Stream(m)
    for t in range(2):
        s.step(x[t].numpy())
    twins = [copy.deepcopy(s), pickle.loads(pickle.dumps(s))]
    ys = [np.stack([c.step(x[t].numpy()) for t in (2, 3)]) for c in twins]
    y = np.stack([s.step(x[t].numpy()) for t in (2, 3)])
    with torch.no_grad():
        want = m(x)[0][2:].numpy()
    for got in (*ys, y):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_stream_of_an_int8_module_without_bias_sees_new_weights():
    # its weights are buffers, which the check for changed weights did not read: after a
    # load_state_dict (and reset()) the steps ran the weights packed before
    from grukit.nn.quantized import quantize_int8

    torch.manual_seed(0)
    q = quantize_int8(gnn.GRU(3, 6, bias=False), linear="grukit")
    other = quantize_int8(gnn.GRU(3, 6, bias=False), linear="grukit")
    x = torch.randn(4, 3)
    s = gnn.Stream(q)
    for t in range(4):
        s.step(x[t].numpy())
    q.load_state_dict(other.state_dict())
    s.reset()
    ys = np.stack([s.step(x[t].numpy()) for t in range(4)])
    with torch.no_grad():
        y, _ = other(x)
    np.testing.assert_allclose(ys, y.numpy(), atol=1e-6, rtol=0)


def test_a_weight_set_through_data_is_seen_by_torch_steps_and_after_reset():
    # p.data = t keeps the parameter and its version counter: the steps ran the weights
    # packed before, with torch input and after reset() alike
    torch.manual_seed(0)
    m = gnn.GRU(3, 4).eval()
    x = torch.randn(3)
    s = gnn.Stream(m)
    s.step(x.numpy())
    s.reset()
    m.weight_ih_l0.data = torch.randn(12, 3)
    with torch.no_grad():
        want = m(x[None])[0][0]
    torch.testing.assert_close(s.step(x), want, atol=1e-6, rtol=0)
    s.reset()
    np.testing.assert_allclose(s.step(x.numpy()), want.numpy(), atol=1e-6, rtol=0)


def test_int8_stream_sees_int8_weights_set_through_data_after_reset():
    from grukit.nn.quantized import Int8Stream, quantize_int8

    torch.manual_seed(0)
    q = quantize_int8(gnn.GRU(3, 6, bias=False).eval(), linear="grukit")
    other = quantize_int8(gnn.GRU(3, 6, bias=False).eval(), linear="grukit")
    x = torch.randn(3)
    s = Int8Stream(q, w8a8=False)
    s.step(x.numpy())
    for name, b in other.named_buffers():
        q._buffers[name].data = b.clone()  # a new tensor under the same buffer
    s.reset()
    with torch.no_grad():
        want = other(x[None])[0][0].numpy()
    np.testing.assert_allclose(s.step(x.numpy()), want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cls", [gnn.GRU, gnn.LSTM, gnn.RNN])
@pytest.mark.filterwarnings("error::UserWarning")
def test_a_pandas_row_or_a_list_steps_as_its_array(cls):
    # a DataFrame row (df.iloc[t], iterrows) reached the numba kernel, which failed with
    # "can't unbox array from PyObject into native value"; the read-only array of a row
    # made torch warn about non-writable tensors
    pd = pytest.importorskip("pandas")
    torch.manual_seed(0)
    m = cls(3, 4, 2).eval()
    x = torch.randn(1, 5, 3)  # (B, T, I)
    want = _whole(m, x)[0][0]  # (T, H)
    df = pd.DataFrame(x[0].numpy(), columns=["a", "b", "c"])
    for row in (lambda t: df.iloc[t], lambda t: x[0, t].tolist()):
        stream = gnn.Stream(m)
        stream.step(x[0, 0].numpy())  # the fast path warm: the row comes after it
        ys = [stream.step(row(t)) for t in range(1, 5)]
        torch.testing.assert_close(torch.stack([torch.as_tensor(y) for y in ys]), want[1:])
