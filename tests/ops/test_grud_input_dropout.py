"""GRU-D's variational input dropout: ``input_mask`` (B, 2D) scales [x̂, m] where the gates
read them (written out: the same as scaling the columns of W_ih and W_mh per sequence), the
fused CPU kernel equals the reference with it (outputs and gradients), ``grukit.nn.GRUD``
draws it in training only, and the clinical estimator turns it on for GRU-D."""

from __future__ import annotations

import pytest
import torch
from test_grud import TOL, _call, _series, _weights

from grukit.nn import GRUD


def _mask(batch, dims, dtype, seed=3):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, 2 * dims, generator=g) < 0.7).to(dtype) / 0.7


def test_input_mask_equals_scaling_the_input_weights_per_sequence():
    dt = torch.float64
    x, m, d = _series(2, 6, 3, dt)
    ws = _weights(3, 4, dt, False)
    keep = _mask(2, 3, dt)
    y, hn = _call(x, m, d, ws, input_mask=keep, backend="reference")
    for b in range(2):
        scaled = dict(ws) | {"weight_ih": ws["weight_ih"] * keep[b, :3],
                             "weight_mh": ws["weight_mh"] * keep[b, 3:]}
        yb, hb = _call(x[b:b + 1], m[b:b + 1], d[b:b + 1], scaled, backend="reference")
        torch.testing.assert_close(y[b:b + 1], yb, **TOL[dt])
        torch.testing.assert_close(hn[b:b + 1], hb, **TOL[dt])
    y1, _ = _call(x, m, d, ws, input_mask=torch.ones(2, 6, dtype=dt), backend="reference")
    torch.testing.assert_close(y1, _call(x, m, d, ws, backend="reference")[0], **TOL[dt])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_fused_cpu_equals_reference_with_input_mask(dtype):
    x, m, d = _series(3, 7, 4, dtype, seed=5)
    keep = _mask(3, 4, dtype)
    out = {}
    for backend in ("reference", "cpu"):
        ws = _weights(4, 5, dtype, False)
        y, hn = _call(x, m, d, ws, input_mask=keep, lengths=[7, 4, 0], backend=backend)
        (y.square().sum() + hn.sum()).backward()
        out[backend] = [y, hn] + [ws[k].grad for k in ("weight_ih", "weight_mh", "weight_hh",
                                                       "decay_h_weight", "x_mean")]
    for a, b in zip(out["reference"], out["cpu"], strict=True):
        torch.testing.assert_close(a, b, **TOL[dtype])


def test_input_mask_of_another_shape_is_one_sentence():
    x, m, d = _series(2, 3, 3, torch.float32)
    ws = _weights(3, 2, torch.float32, False)
    with pytest.raises(ValueError, match=r"grud: input_mask must have shape \(2, 6\)"):
        _call(x, m, d, ws, input_mask=torch.ones(2, 3))


def test_module_drops_in_training_only_with_one_draw_per_sequence():
    torch.manual_seed(0)
    rnn = GRUD(3, 4, batch_first=True, input_dropout=0.4, dtype=torch.float64)
    x, m, d = _series(2, 5, 3, torch.float64)
    plain = GRUD(3, 4, batch_first=True, dtype=torch.float64)
    plain.load_state_dict(rnn.state_dict())
    rnn.eval()
    torch.testing.assert_close(rnn(x, mask=m, delta=d)[0], plain(x, mask=m, delta=d)[0])
    rnn.train()
    torch.manual_seed(7)
    y, _ = rnn(x, mask=m, delta=d)
    torch.manual_seed(7)
    keep = torch.bernoulli(torch.full((2, 6), 0.6, dtype=torch.float64)) / 0.6  # (B, 2D)
    p = dict(rnn.named_parameters())
    ws = {"x_mean": rnn.x_mean} | {k: p.get(f"{k}_l0") for k in (
        "weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_mh", "decay_x_weight",
        "decay_x_bias", "decay_h_weight", "decay_h_bias")}
    want, _ = _call(x, m, d, ws, input_mask=keep, backend="reference")
    torch.testing.assert_close(y, want, **TOL[torch.float64])
    assert not torch.allclose(y, plain(x, mask=m, delta=d)[0])
    assert "input_dropout=0.4" in repr(rnn)


@pytest.mark.parametrize("rate", [1.0, -0.1, True, "0.3"])
def test_module_bad_input_dropout_is_one_sentence(rate):
    with pytest.raises(ValueError, match="GRUD: input_dropout must be in"):
        GRUD(3, 4, input_dropout=rate)


def test_clinical_grud_trains_with_input_dropout_by_default():
    from grukit.tasks.clinical import ClinicalClassifier

    assert ClinicalClassifier().config.input_dropout == 0.3
    with pytest.raises(ValueError, match=r"input_dropout must be in \[0, 1\)"):
        ClinicalClassifier(input_dropout=1.5).fit(None)


def test_clinical_network_hands_the_rate_to_its_grud_module():
    from grukit.models import Sequential
    from grukit.tasks.clinical.network import ClinicalNetwork

    net = ClinicalNetwork("grud", 4, 9, 0.3, input_shape=(5, 11))
    Sequential([net]).build()
    net.set_input_dropout(0.3)
    assert net.rnn.rnn.input_dropout == 0.3


@pytest.mark.parametrize("wanted", ["input_mask", "mask"])
def test_a_gradient_wanted_only_for_the_input_mask_or_the_mask_is_given(wanted):
    """Only input_mask (a learned dropout rate) or only a float mask requires grad: the cpu
    backend ran its inference path, and the gradient was lost (y had no grad_fn)."""
    dt = torch.float64
    x, m, d = _series(3, 7, 4, dt, seed=5)
    ws = {k: None if v is None else v.detach() for k, v in _weights(4, 5, dt, False).items()}
    out = {}
    for backend in ("reference", "cpu", "auto"):
        keep, mm = _mask(3, 4, dt), m.clone()
        leaf = (keep if wanted == "input_mask" else mm).requires_grad_()
        y, hn = _call(x, mm, d, ws, input_mask=keep, lengths=[7, 4, 0], backend=backend)
        (y.square().sum() + hn.sum()).backward()
        out[backend] = [y.detach(), leaf.grad]
    for backend in ("cpu", "auto"):
        for a, b in zip(out[backend], out["reference"], strict=True):
            assert a is not None
            torch.testing.assert_close(a, b, **TOL[dt])
