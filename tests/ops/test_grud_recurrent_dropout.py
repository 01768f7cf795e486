"""GRU-D's variational recurrent dropout: ``state_mask`` (B, H) scales ĥ where W_hh reads it
(written out: the same as scaling the columns of W_hh per sequence, the blend reading ĥ
itself), the fused CPU kernel equals the reference with it (outputs and every gradient, both
reset placements, with lengths), ``grukit.nn.GRUD(recurrent_dropout=)`` draws it in training
only, and the clinical estimator turns it on for GRU-D."""

from __future__ import annotations

import pytest
import torch
from test_grud import TOL, _call, _fused_equals_reference, _placement, _series, _weights

from grukit.nn import GRUD
from grukit.ops.grud import grud_step


def _smask(batch, hidden, dtype, seed=4):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, hidden, generator=g) < 0.7).to(dtype) / 0.7


@pytest.mark.parametrize("reset_after", [False, True], ids=_placement)
def test_state_mask_scales_what_w_hh_reads_and_not_the_blend(reset_after):
    dt = torch.float64
    g = torch.Generator().manual_seed(2)
    gi, gam, h = (torch.randn(2, k, generator=g, dtype=dt) for k in (15, 5, 5))
    ws = _weights(3, 5, dt, reset_after)
    s = _smask(2, 5, dt)
    got = grud_step(gi, gam, h, ws["weight_hh"], ws["bias_hh"], reset_after, s)
    # by hand: hm = s ⊙ ĥ in the gates' recurrent products, ĥ in the blend
    hd = gam * h
    hm = hd * s
    w, hid = ws["weight_hh"], 5
    if reset_after:
        gh = hm @ w.t() + ws["bias_hh"]
        r = torch.sigmoid(gi[:, :hid] + gh[:, :hid])
        z = torch.sigmoid(gi[:, hid:2 * hid] + gh[:, hid:2 * hid])
        n = torch.tanh(gi[:, 2 * hid:] + r * gh[:, 2 * hid:])
    else:
        r = torch.sigmoid(gi[:, :hid] + hm @ w[:hid].t())
        z = torch.sigmoid(gi[:, hid:2 * hid] + hm @ w[hid:2 * hid].t())
        n = torch.tanh(gi[:, 2 * hid:] + (r * hm) @ w[2 * hid:].t())
    torch.testing.assert_close(got, (1 - z) * n + z * hd, **TOL[dt])
    ones = grud_step(gi, gam, h, w, ws["bias_hh"], reset_after, torch.ones(2, 5, dtype=dt))
    torch.testing.assert_close(ones, grud_step(gi, gam, h, w, ws["bias_hh"], reset_after),
                               **TOL[dt])
    assert not torch.allclose(got, ones)


@pytest.mark.parametrize("reset_after", [False, True], ids=_placement)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_fused_cpu_equals_reference_with_state_mask(dtype, reset_after):
    x, m, d = _series(3, 7, 4, dtype, seed=5)
    s = _smask(3, 5, dtype)
    keep = (torch.rand(3, 8, generator=torch.Generator().manual_seed(9)) < 0.7).to(dtype) / 0.7
    _fused_equals_reference(x, m, d, dtype, reset_after, state_mask=s, input_mask=keep)


def test_auto_runs_the_fused_kernel_with_a_state_mask():
    from grukit.ops import dispatch

    x, _, _ = _series(2, 3, 3, torch.float32)
    s = _smask(2, 4, torch.float32)
    assert dispatch.explain("grud", "auto", x=x, state_mask=s)[0] == "cpu"
    name, skipped = dispatch.explain("grud", "auto", x=x, state_mask=s.requires_grad_())
    assert name == "reference" and "state_mask requires grad" in skipped["cpu"]


def test_state_mask_of_another_shape_is_one_sentence():
    x, m, d = _series(2, 3, 3, torch.float32)
    ws = _weights(3, 4, torch.float32, False)
    with pytest.raises(ValueError, match=r"grud: state_mask must have shape \(2, 4\)"):
        _call(x, m, d, ws, state_mask=torch.ones(2, 3))


def test_module_drops_the_state_in_training_only_with_one_draw_per_sequence():
    torch.manual_seed(0)
    rnn = GRUD(3, 4, batch_first=True, recurrent_dropout=0.4, dtype=torch.float64)
    x, m, d = _series(2, 5, 3, torch.float64)
    plain = GRUD(3, 4, batch_first=True, dtype=torch.float64)
    plain.load_state_dict(rnn.state_dict())
    rnn.eval()
    torch.testing.assert_close(rnn(x, mask=m, delta=d)[0], plain(x, mask=m, delta=d)[0])
    rnn.train()
    torch.manual_seed(7)
    y, _ = rnn(x, mask=m, delta=d)
    torch.manual_seed(7)
    s = torch.bernoulli(torch.full((2, 4), 0.6, dtype=torch.float64)) / 0.6  # (B, H)
    p = dict(rnn.named_parameters())
    ws = {"x_mean": rnn.x_mean} | {k: p.get(f"{k}_l0") for k in (
        "weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_mh", "decay_x_weight",
        "decay_x_bias", "decay_h_weight", "decay_h_bias")}
    want, _ = _call(x, m, d, ws, state_mask=s, backend="reference")
    torch.testing.assert_close(y, want, **TOL[torch.float64])
    assert not torch.allclose(y, plain(x, mask=m, delta=d)[0])
    assert "recurrent_dropout=0.4" in repr(rnn)


@pytest.mark.parametrize("rate", [1.0, -0.1, "0.3"])
def test_module_bad_recurrent_dropout_is_one_sentence(rate):
    with pytest.raises(ValueError, match="recurrent_dropout"):
        GRUD(3, 4, recurrent_dropout=rate)


def test_clinical_grud_trains_with_recurrent_dropout_by_default():
    from grukit.models import Sequential
    from grukit.tasks.clinical import ClinicalClassifier
    from grukit.tasks.clinical.network import ClinicalNetwork

    assert ClinicalClassifier().config.recurrent_dropout == 0.3
    with pytest.raises(ValueError, match=r"recurrent_dropout must be in \[0, 1\)"):
        ClinicalClassifier(recurrent_dropout=1.5).fit(None)
    net = ClinicalNetwork("grud", 4, 9, 0.3, input_shape=(5, 11))
    Sequential([net]).build()
    net.set_recurrent_dropout(0.3)
    assert net.rnn.rnn.recurrent_dropout == 0.3


def test_keras_style_layer_passes_recurrent_dropout_to_its_module():
    from grukit import cells
    from grukit.models import Sequential

    layer = cells.GRUD.layer_class()(5, recurrent_dropout=0.3, return_sequences=True,
                                     input_shape=(4, 9))
    Sequential([layer]).build()
    assert isinstance(layer.rnn, GRUD) and layer.rnn.recurrent_dropout == 0.3
    x, m, d = _series(2, 4, 3, torch.float32)
    packed = GRUD.pack(x, m, d)  # (B, T, 3D)
    layer.eval()
    y1, _ = layer(packed, None)
    torch.testing.assert_close(layer(packed, None)[0], y1)  # no dropout outside training


def test_keras_style_layer_drops_inside_the_cell_with_gate_masks():
    """The GRU-D layer's dropout is its module's input dropout on [x̂, m]: the packed mask
    and δ reach the module undropped (the layer's output is the module's on the same input
    and seed), gate_masks reaches the module, and both survive get_config / from_config."""
    from grukit import cells
    from grukit.layers import from_config
    from grukit.models import Sequential

    layer = cells.GRUD.layer_class()(5, dropout=0.3, recurrent_dropout=0.3, gate_masks=True,
                                     return_sequences=True, input_shape=(4, 9))
    Sequential([layer]).build()
    assert layer.rnn.input_dropout == 0.3 and layer.rnn.gate_masks
    layer.train()
    x, m, d = _series(2, 4, 3, torch.float32)
    packed = GRUD.pack(x, m, d)  # (B, T, 3D)
    torch.manual_seed(11)
    y_layer, _ = layer(packed, None)
    torch.manual_seed(11)
    y_module, _ = layer.rnn(packed)
    torch.testing.assert_close(y_layer, y_module, rtol=0, atol=0)
    torch.manual_seed(11)
    y_other, _ = layer(packed, None)
    torch.manual_seed(12)
    assert not torch.equal(layer(packed, None)[0], y_other)  # the masks are drawn per call
    again = from_config(layer.get_config())
    Sequential([again]).build()
    assert again.rnn.input_dropout == 0.3 and again.rnn.gate_masks \
        and again.rnn.recurrent_dropout == 0.3
    plain = cells.GRUD.layer_class()(5, input_shape=(4, 9))
    Sequential([plain]).build()
    assert not plain.rnn.gate_masks and plain.rnn.input_dropout == 0.0
    assert "gate_masks" not in plain.get_config()["config"]


def test_keras_style_layer_refuses_an_unknown_option_naming_gate_masks():
    from grukit import cells

    with pytest.raises(TypeError, match="its cell options are reset_after, gate_masks"):
        cells.GRUD.layer_class()(5, input_shape=(4, 9), gate_mask=True)
    with pytest.raises(TypeError, match="its cell options are reset_after, gate_masks"):
        cells.GRUD.layer_class()(5, input_shape=(4, 9), input_dropout=0.3)  # it is dropout


def test_lstm_layer_takes_forget_bias_and_keeps_its_default_otherwise():
    from grukit.layers import LSTM
    from grukit.models import Sequential

    for kwargs, want in (({}, 1.0), ({"forget_bias": 0.0}, 0.0)):
        layer = LSTM(3, input_shape=(4, 2), **kwargs)
        Sequential([layer]).build()
        forget = layer.rnn.bias_ih_l0[3:6]  # torch's gate order i, f, g, o
        torch.testing.assert_close(forget, torch.full((3,), want))
