"""grukit.nn.LayerNormGRU and its Keras-style layer: parameters from the cell spec, the
stacked module against the op, recurrent dropout, converters and Stream, and the article's
example trained with it."""

import numpy as np
import pytest
import torch

import grukit.nn as gnn
from grukit import cells, convert
from grukit.layers import Dense, from_config
from grukit.models import Sequential
from grukit.ops.lngru import lngru


def test_parameters_are_the_gru_ones_then_two_gains_and_two_shifts():
    m = gnn.LayerNormGRU(3, 5, num_layers=2, bidirectional=True)
    gru = gnn.GRU(3, 5, num_layers=2, bidirectional=True)
    shapes = {n: tuple(p.shape) for n, p in m.named_parameters()}
    for n, p in gru.named_parameters():  # same names, shapes and gate order as the GRU
        assert shapes[n] == tuple(p.shape)
    assert [n for n in shapes][4:8] == ["ln_ih_weight_l0", "ln_ih_bias_l0", "ln_hh_weight_l0",
                                         "ln_hh_bias_l0"]
    assert shapes["ln_hh_weight_l1_reverse"] == (15,)
    assert sum(p.numel() for p in m.parameters()) == cells.LNGRU.count(
        3, 5, num_layers=2, bidirectional=True) == \
        sum(p.numel() for p in gru.parameters()) + 4 * 4 * 15
    for n, p in m.named_parameters():
        if n.startswith("ln_") and "_weight" in n:
            assert torch.all(p == 1), n
        elif n.startswith("ln_"):
            assert torch.all(p == 0), n
        else:
            assert 0 < p.abs().max() <= 5 ** -0.5, n
    m.load_state_dict(gru.state_dict(), strict=False)  # a trained GRU's weights load as is
    torch.testing.assert_close(m.weight_hh_l1_reverse, gru.weight_hh_l1_reverse)


def test_bias_false_and_reset_before_drop_what_they_should():
    names = {n for n, _ in gnn.LayerNormGRU(3, 4, bias=False).named_parameters()}
    assert names == {"weight_ih_l0", "weight_hh_l0", "ln_ih_weight_l0", "ln_hh_weight_l0"}
    m = gnn.LayerNormGRU(3, 4, reset_after=False)
    assert "bias_hh_l0" not in dict(m.named_parameters()) and "reset_after=False" in repr(m)
    assert sum(p.numel() for p in m.parameters()) == cells.LNGRU.count(3, 4, reset_after=False)


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_stacked_bidirectional_module_is_the_op_layer_by_layer(reset_after):
    torch.manual_seed(0)
    m = gnn.LayerNormGRU(3, 4, num_layers=2, bidirectional=True, batch_first=True,
                         reset_after=reset_after, dtype=torch.float64)
    with torch.no_grad():  # gains and shifts away from their initial values
        for n, p in m.named_parameters():
            if n.startswith("ln_"):
                p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    lengths = [6, 2, 4]
    y, hn = m(x, lengths=lengths)
    inp, finals = x, []
    for layer in range(2):
        outs = []
        for d in range(2):
            p = m.layer_params(layer, d)
            yd, hd = lngru(inp, *(p.get(k) for k in ("weight_ih", "weight_hh", "bias_ih",
                                                     "bias_hh", "ln_ih_weight", "ln_ih_bias",
                                                     "ln_hh_weight", "ln_hh_bias")),
                           lengths=lengths, reset_after=reset_after, reverse=d == 1,
                           backend="reference")
            outs.append(yd)
            finals.append(hd)
        inp = torch.cat(outs, 2)
    torch.testing.assert_close(y, inp, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(hn, torch.stack(finals), rtol=1e-10, atol=1e-10)


def test_cpu_and_reference_modules_agree_with_gradients():
    torch.manual_seed(1)
    a = gnn.LayerNormGRU(2, 5, num_layers=2, batch_first=True, backend="cpu")
    b = gnn.LayerNormGRU(2, 5, num_layers=2, batch_first=True, backend="reference")
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 7, 2)
    res = []
    for m in (a, b):
        y, h = m(x, lengths=[7, 3, 5, 1])
        (y.square().sum() + h.sum()).backward()
        res.append([y, h] + [p.grad for p in m.parameters()])
    for u, v in zip(*res, strict=True):
        torch.testing.assert_close(u, v, rtol=1e-4, atol=1e-5)


def test_recurrent_dropout_trains_and_zoneout_is_refused():
    torch.manual_seed(0)
    m = gnn.LayerNormGRU(2, 4, recurrent_dropout=0.5, batch_first=True)
    x = torch.randn(3, 5, 2)
    y1, _ = m(x)
    y2, _ = m(x)
    assert not torch.equal(y1, y2)  # a fresh mask per forward in training
    m.eval()
    torch.testing.assert_close(m(x)[0], m(x)[0], rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"^LayerNormGRU: zoneout is available for GRU; "
                                         r"leave it at 0\.$"):
        gnn.LayerNormGRU(2, 4, zoneout=0.1)
    with pytest.raises(ValueError, match="LayerNormGRU: unknown backend 'torch'; choose one of "
                                         "'auto', 'cpu'"):
        gnn.LayerNormGRU(2, 4, backend="torch")


def test_converters_refuse_it_in_one_sentence_and_stream_steps_it():
    m = gnn.LayerNormGRU(3, 5, num_layers=2)
    with pytest.raises(ValueError, match=r"^torch.nn has no LayerNorm-GRU; the modules that "
                                         r"convert to torch.nn are GRU, LSTM, RNN\.$"):
        convert.to_torch(m)
    x = torch.randn(6, 3)
    stream = gnn.Stream(m)
    with torch.no_grad():
        steps = torch.stack([stream.step(x[t]) for t in range(6)])
        y, _ = m(x.unsqueeze(1))
    torch.testing.assert_close(steps, y[:, 0], rtol=1e-5, atol=1e-6)


def _sine(n=256, steps=100, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n + steps + 1)
    s = np.sin(2 * np.pi * t / 25) + 0.05 * rng.standard_normal(len(t))
    x = np.stack([s[i:i + steps] for i in range(n)])[..., None].astype("float32")
    return x, s[steps:steps + n, None].astype("float32")


def test_keras_style_layer_trains_the_articles_example():
    """Sequential(); add(LayerNormGRU(64, input_shape=(100, 1))); add(Dense(1));
    compile('adam', 'mse'); fit on a sine series: the loss falls."""
    LayerNormGRU = cells.LNGRU.layer_class()  # noqa: N806 (a class)
    assert LayerNormGRU.__name__ == "LayerNormGRU" and LayerNormGRU.spec is cells.LNGRU
    torch.manual_seed(0)
    x, y = _sine()
    model = Sequential()
    model.add(LayerNormGRU(64, input_shape=(100, 1)))
    model.add(Dense(1))
    model.compile("adam", "mse")
    assert sum(p.numel() for p in model.parameters()) == cells.LNGRU.count(1, 64) + 65
    loss = model.fit(x, y, epochs=4, batch_size=32, verbose=0, seed=0).history["loss"]
    assert loss[-1] < 0.5 * loss[0], loss
    again = from_config(model.layers[0].get_config())
    assert type(again) is LayerNormGRU and again.get_config() == model.layers[0].get_config()


def test_recurrent_dropout_runs_fused_with_the_references_masks(backend_calls):
    """Under one seed the module on the fused kernel and on the reference draw the same
    masks and give the same outputs and gradients; "auto" takes the kernel for them."""
    torch.manual_seed(2)
    a = gnn.LayerNormGRU(2, 4, num_layers=2, bidirectional=True, batch_first=True,
                         recurrent_dropout=0.3, dtype=torch.float64)
    b = gnn.LayerNormGRU(2, 4, num_layers=2, bidirectional=True, batch_first=True,
                         recurrent_dropout=0.3, dtype=torch.float64, backend="reference")
    b.load_state_dict(a.state_dict())
    x = torch.randn(3, 5, 2, dtype=torch.float64)
    res = []
    for m in (a, b):
        torch.manual_seed(7)
        y, h = m(x, lengths=[5, 2, 4])
        (y.square().sum() + h.sum()).backward()
        res.append([y, h] + [p.grad for p in m.parameters()])
    assert {c for c in backend_calls} == {("lngru", "cpu"), ("lngru", "reference")}
    assert backend_calls[:4] == [("lngru", "cpu")] * 4
    for u, v in zip(*res, strict=True):
        torch.testing.assert_close(u, v, rtol=1e-10, atol=1e-10)
