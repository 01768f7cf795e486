"""One int8 step against the float step (torch.nn.GRU / torch.nn.LSTM, and the Cho et al.
formula for reset_after=False), from the same state, within a bound derived from the scales:

    weights  |(W v − s ⊙ q v)_j| ≤ s_j / 2 · ‖v‖₁                       (round to nearest)
    w8a8     |(s ⊙ q)(v − s_v (u − 128))|_j ≤ s_v / 2 · s_j Σ_k |q_jk|   (the vector too)

carried through the gates with their Lipschitz constants (σ: 1/4, tanh: 1), per unit. Odd
sizes (not multiples of 4, 16 or 64), an input of one feature and a wide one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grukit.ops.gru import quant as gq
from grukit.ops.lstm import quant as lq

SLACK = 2e-5  # float32 rounding of sums of a few hundred terms


def _quantized(w_ih, w_hh, b_ih, b_hh):
    qi, si = gq.quantize_rows(w_ih)
    qh, sh = gq.quantize_rows(w_hh)
    return {"weight_ih_int8": qi, "weight_ih_scale": si, "weight_hh_int8": qh,
            "weight_hh_scale": sh, "bias_ih": b_ih, "bias_hh": b_hh}


def _eps(layer, which, v, w8a8):
    """(G,) bound on the error of the product W v (``which``: "ih" or "hh"), float64."""
    q = layer[f"weight_{which}_int8"].double().numpy()
    s = layer[f"weight_{which}_scale"].double().numpy()
    v = np.asarray(v, np.float64)
    e = s / 2 * np.abs(v).sum()
    if w8a8:
        e += np.abs(v).max() / 127 / 2 * s * np.abs(q).sum(axis=1)
    return e


def _sig(a):
    return 1 / (1 + np.exp(-a))


SIZES = [(1, 1), (1, 3), (40, 17), (3, 65), (300, 5)]  # (input, hidden)


@pytest.mark.parametrize("w8a8", [False, True], ids=["int8", "w8a8"])
@pytest.mark.parametrize("inp,hid", SIZES, ids=lambda v: str(v))
def test_gru_reset_after_step_within_the_scale_bound_of_torch(inp, hid, w8a8):
    torch.manual_seed(inp * 100 + hid)
    ref = torch.nn.GRU(inp, hid).requires_grad_(False)
    with torch.no_grad():
        ref.weight_hh_l0[0].zero_()  # a row all zero (scale 1, q 0)
        ref.weight_ih_l0[-1] = -ref.weight_ih_l0[-1].abs()  # a row all negative
        ref.weight_ih_l0[hid, 0] = 3.0  # a row with one large weight
    layer = _quantized(ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0, ref.bias_hh_l0)
    rng = np.random.default_rng(hid)
    x = rng.standard_normal(inp).astype(np.float32)
    h0 = rng.uniform(-0.9, 0.9, hid).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(x)[None, None], torch.from_numpy(h0)[None, None])[0]
    want = want.reshape(-1).double().numpy()
    h = h0[None].copy()  # (1, H)
    k = gq.gru_stream_int8([h], inp, reset_after=True, w8a8=w8a8)
    k.step(x, h, k.pack([layer]), k.extra)
    # the bound, from the float step's own values
    w_hh, b_hh = ref.weight_hh_l0.double().numpy(), ref.bias_hh_l0.double().numpy()
    gi = ref.weight_ih_l0.double().numpy() @ x + ref.bias_ih_l0.double().numpy()
    gh = w_hh @ h0 + b_hh
    ei, eh = _eps(layer, "ih", x, w8a8), _eps(layer, "hh", h0, w8a8)
    r = _sig(gi[:hid] + gh[:hid])
    n = np.tanh(gi[2 * hid:] + r * gh[2 * hid:])
    dr = (ei[:hid] + eh[:hid]) / 4
    dz = (ei[hid:2 * hid] + eh[hid:2 * hid]) / 4
    dn = ei[2 * hid:] + dr * (np.abs(gh[2 * hid:]) + eh[2 * hid:]) + eh[2 * hid:]
    bound = dn + dz * np.abs(h0 - n) + SLACK
    err = np.abs(h[0] - want)
    assert (err <= bound).all(), (err - bound).max()
    assert err.max() > 0  # quantized, not the float weights


@pytest.mark.parametrize("w8a8", [False, True], ids=["int8", "w8a8"])
@pytest.mark.parametrize("inp,hid", SIZES, ids=lambda v: str(v))
def test_gru_reset_before_step_within_the_scale_bound_of_its_formula(inp, hid, w8a8):
    torch.manual_seed(inp * 100 + hid + 1)
    b = 1 / hid ** 0.5
    w_ih = torch.empty(3 * hid, inp).uniform_(-b, b)
    w_hh = torch.empty(3 * hid, hid).uniform_(-b, b)
    b_ih = torch.empty(3 * hid).uniform_(-b, b)
    w_hh[-1] = 0.0
    layer = _quantized(w_ih, w_hh, b_ih, None)
    rng = np.random.default_rng(hid)
    x = rng.standard_normal(inp).astype(np.float32)
    h0 = rng.uniform(-0.9, 0.9, hid).astype(np.float32)
    wi, wh = w_ih.double().numpy(), w_hh.double().numpy()
    gi = wi @ x + b_ih.double().numpy()
    ghr = wh[:2 * hid] @ h0
    r, z = _sig(gi[:hid] + ghr[:hid]), _sig(gi[hid:2 * hid] + ghr[hid:])
    ghn = wh[2 * hid:] @ (r * h0)
    n = np.tanh(gi[2 * hid:] + ghn)
    want = n + z * (h0 - n)  # Cho et al. 2014: W_hn (r ⊙ h), no recurrent bias
    h = h0[None].copy()
    k = gq.gru_stream_int8([h], inp, reset_after=False, w8a8=w8a8)
    k.step(x, h, k.pack([layer]), k.extra)
    ei, eh = _eps(layer, "ih", x, w8a8), _eps(layer, "hh", h0, w8a8)
    dr = (ei[:hid] + eh[:hid]) / 4
    dz = (ei[hid:2 * hid] + eh[hid:2 * hid]) / 4
    # W_hn (r ⊙ h): its weights' error on r̂ ⊙ h (|r̂| ≤ 1), r's error through |W_hn|, and
    # (w8a8) r̂ ⊙ h quantised: its scale ≤ max|h| / 127
    q_hn = layer["weight_hh_int8"][2 * hid:].double().numpy()
    s_hn = layer["weight_hh_scale"][2 * hid:].double().numpy()
    e_hn = s_hn / 2 * np.abs(h0).sum() + np.abs(wh[2 * hid:]) @ (dr * np.abs(h0))
    if w8a8:
        e_hn += np.abs(h0).max() / 127 / 2 * s_hn * np.abs(q_hn).sum(axis=1)
    dn = ei[2 * hid:] + e_hn
    bound = dn + dz * np.abs(h0 - n) + SLACK
    err = np.abs(h[0] - want)
    assert (err <= bound).all(), (err - bound).max()
    assert err.max() > 0


@pytest.mark.parametrize("w8a8", [False, True], ids=["int8", "w8a8"])
@pytest.mark.parametrize("inp,hid", SIZES, ids=lambda v: str(v))
def test_lstm_step_within_the_scale_bound_of_torch(inp, hid, w8a8):
    torch.manual_seed(inp * 100 + hid + 2)
    ref = torch.nn.LSTM(inp, hid).requires_grad_(False)
    with torch.no_grad():
        ref.weight_ih_l0[1].zero_()
        ref.weight_hh_l0[2 * hid, 0] = 2.5
    layer = _quantized(ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0, ref.bias_hh_l0)
    rng = np.random.default_rng(hid)
    x = rng.standard_normal(inp).astype(np.float32)
    h0 = rng.uniform(-0.9, 0.9, hid).astype(np.float32)
    c0 = rng.uniform(-2, 2, hid).astype(np.float32)
    with torch.no_grad():
        _, (hn, cn) = ref(torch.from_numpy(x)[None, None],
                          (torch.from_numpy(h0)[None, None], torch.from_numpy(c0)[None, None]))
    h, c = h0[None].copy(), c0[None].copy()
    k = lq.lstm_stream_int8([h, c], inp, w8a8=w8a8)
    k.step(x, h, k.pack([layer]), k.extra)
    a = (ref.weight_ih_l0.double().numpy() @ x + ref.weight_hh_l0.double().numpy() @ h0
         + (ref.bias_ih_l0 + ref.bias_hh_l0).double().numpy())
    e = _eps(layer, "ih", x, w8a8) + _eps(layer, "hh", h0, w8a8)
    i, g = _sig(a[:hid]), np.tanh(a[2 * hid:3 * hid])
    di, df, dg, do = e[:hid] / 4, e[hid:2 * hid] / 4, e[2 * hid:3 * hid], e[3 * hid:] / 4
    dc = df * np.abs(c0) + di * np.abs(g) + (i + di) * dg
    err_c = np.abs(c[0] - cn.reshape(-1).double().numpy())
    err_h = np.abs(h[0] - hn.reshape(-1).double().numpy())
    assert (err_c <= dc + SLACK).all(), (err_c - dc).max()
    assert (err_h <= do + dc + SLACK).all(), (err_h - do - dc).max()
    assert err_h.max() > 0
