"""GRU-D's per-gate dropout masks (Che et al.'s Keras layer, ``implementation=1``, draws one
mask per gate): ``state_mask`` (B, 3H) or (B, 3, H) = [s_r, s_z, s_n] scales ĥ where each
gate's block of W_hh reads it, ``input_mask`` (B, 3, 2D) or (B, 6D) scales [x̂, m] where each
gate's block of [W_ih, W_mh] reads it; the fused CPU kernel equals the reference with them
(outputs and every gradient, both reset placements, with lengths); three equal masks give
the shared mask's result; wrong shapes are refused in one sentence."""

from __future__ import annotations

import pytest
import torch
from test_grud import TOL, _call, _fused_equals_reference, _placement, _series, _weights

from grukit.ops.grud import grud_step, input_side


def _keep(*shape, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < 0.7).to(dtype) / 0.7


@pytest.mark.parametrize("reset_after", [False, True], ids=_placement)
def test_per_gate_state_mask_scales_each_gates_recurrent_read(reset_after):
    dt, hid = torch.float64, 5
    g = torch.Generator().manual_seed(2)
    gi, gam, h = (torch.randn(2, k, generator=g, dtype=dt) for k in (15, 5, 5))
    ws = _weights(3, hid, dt, reset_after)
    s = _keep(2, 3 * hid, dtype=dt, seed=4)
    got = grud_step(gi, gam, h, ws["weight_hh"], ws["bias_hh"], reset_after, s)
    hd = gam * h
    s_r, s_z, s_n = s[:, :hid], s[:, hid:2 * hid], s[:, 2 * hid:]
    w = ws["weight_hh"]
    b = ws["bias_hh"] if reset_after else torch.zeros(3 * hid, dtype=dt)
    r = torch.sigmoid(gi[:, :hid] + (hd * s_r) @ w[:hid].t() + b[:hid])
    z = torch.sigmoid(gi[:, hid:2 * hid] + (hd * s_z) @ w[hid:2 * hid].t() + b[hid:2 * hid])
    if reset_after:
        n = torch.tanh(gi[:, 2 * hid:] + r * ((hd * s_n) @ w[2 * hid:].t() + b[2 * hid:]))
    else:
        n = torch.tanh(gi[:, 2 * hid:] + (r * s_n * hd) @ w[2 * hid:].t())
    torch.testing.assert_close(got, (1 - z) * n + z * hd, **TOL[dt])
    shared = s_r.repeat(1, 3)  # three equal masks: the shared mask's result
    torch.testing.assert_close(
        grud_step(gi, gam, h, w, ws["bias_hh"], reset_after, shared),
        grud_step(gi, gam, h, w, ws["bias_hh"], reset_after, s_r), **TOL[dt])


def test_per_gate_input_mask_scales_each_gates_input_read():
    dt = torch.float64
    x, m, d = _series(2, 4, 3, dt, seed=3)
    ws = _weights(3, 5, dt, False)
    side = [ws[k] for k in ("x_mean", "weight_ih", "bias_ih", "weight_mh", "decay_x_weight",
                            "decay_x_bias", "decay_h_weight", "decay_h_bias")]
    keep = _keep(2, 3, 6, dtype=dt, seed=8)  # (B, 3, 2D)
    gi, _ = input_side(x, m, d, *side, input_mask=keep)
    for k in range(3):  # gate k's block equals the shared path with d_k
        gk, _ = input_side(x, m, d, *side, input_mask=keep[:, k])
        torch.testing.assert_close(gi[..., 5 * k:5 * (k + 1)], gk[..., 5 * k:5 * (k + 1)],
                                   **TOL[dt])
    same, _ = input_side(x, m, d, *side, input_mask=keep[:, :1].expand(-1, 3, -1))
    shared, _ = input_side(x, m, d, *side, input_mask=keep[:, 0])
    torch.testing.assert_close(same, shared, **TOL[dt])


@pytest.mark.parametrize("reset_after", [False, True], ids=_placement)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("layout", ["flat", "3d"])
def test_fused_cpu_equals_reference_with_per_gate_masks(dtype, reset_after, layout):
    x, m, d = _series(3, 7, 4, dtype, seed=5)
    s = _keep(3, 3, 5, dtype=dtype, seed=4)  # (B, 3, H)
    keep = _keep(3, 3, 8, dtype=dtype, seed=9)  # (B, 3, 2D)
    if layout == "flat":
        s, keep = s.reshape(3, 15), keep.reshape(3, 24)
    _fused_equals_reference(x, m, d, dtype, reset_after, state_mask=s, input_mask=keep)


@pytest.mark.parametrize("reset_after", [False, True], ids=_placement)
def test_fused_cpu_three_equal_masks_give_the_shared_result(reset_after):
    dt = torch.float64
    x, m, d = _series(3, 6, 4, dt, seed=1)
    s = _keep(3, 5, dtype=dt, seed=2)
    out = []
    for mask in (s, s.repeat(1, 3)):
        ws = _weights(4, 5, dt, reset_after)
        y, hn = _call(x, m, d, ws, state_mask=mask, lengths=[6, 2, 5], reset_after=reset_after,
                      backend="cpu")
        (y.square().sum() + hn.sum()).backward()
        out.append([y, hn, ws["weight_hh"].grad, ws["decay_h_weight"].grad])
    for a, b in zip(*out, strict=True):
        torch.testing.assert_close(a, b, **TOL[dt])


@pytest.mark.parametrize("name,shape", [("state_mask", (2, 2, 4)), ("state_mask", (2, 8)),
                                        ("input_mask", (2, 3, 5)), ("input_mask", (2, 2, 6))])
def test_per_gate_mask_of_another_shape_is_one_sentence(name, shape):
    x, m, d = _series(2, 3, 3, torch.float32)
    ws = _weights(3, 4, torch.float32, False)
    with pytest.raises(ValueError, match=rf"grud: {name} must have shape .* one per gate"):
        _call(x, m, d, ws, **{name: torch.ones(*shape)})


def test_module_gate_masks_draws_one_mask_per_gate_in_training_only():
    from grukit.nn import GRUD

    dt = torch.float64
    torch.manual_seed(0)
    rnn = GRUD(3, 4, batch_first=True, recurrent_dropout=0.4, input_dropout=0.3,
               gate_masks=True, dtype=dt)
    x, m, d = _series(2, 5, 3, dt)
    p = dict(rnn.named_parameters())
    ws = {"x_mean": rnn.x_mean} | {k: p.get(f"{k}_l0") for k in (
        "weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_mh", "decay_x_weight",
        "decay_x_bias", "decay_h_weight", "decay_h_bias")}
    rnn.eval()
    torch.testing.assert_close(rnn(x, mask=m, delta=d)[0],
                               _call(x, m, d, ws, backend="reference")[0], **TOL[dt])
    rnn.train()
    torch.manual_seed(7)
    y, _ = rnn(x, mask=m, delta=d)
    torch.manual_seed(7)
    s = torch.bernoulli(torch.full((2, 12), 0.6, dtype=dt)) / 0.6  # (B, 3H), drawn first
    keep = torch.bernoulli(torch.full((2, 3, 6), 0.7, dtype=dt)) / 0.7  # (B, 3, 2D)
    want, _ = _call(x, m, d, ws, state_mask=s, input_mask=keep, backend="reference")
    torch.testing.assert_close(y, want, **TOL[dt])
    assert "gate_masks=True" in repr(rnn)
    with pytest.raises(TypeError, match="gate_masks must be True or False"):
        GRUD(3, 4, gate_masks="yes")
