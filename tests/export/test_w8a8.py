"""The int8 × int8 ("w8a8") streaming kernel: its integer product equals an int64 matmul
(VNNI and the plain loop alike), one step equals a numpy model of the same quantised math,
a stream stays within quantisation error of the float module, and ``Int8Stream`` picks it
where the CPU has VNNI. Also: a step's output is never overwritten by the next step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grukit import nn as gnn
from grukit.nn import Stream
from grukit.nn.quantized import Int8Stream, quantize_int8
from grukit.ops import _vnni
from grukit.ops.gru import quant as gq
from grukit.ops.gru.w8a8 import gru_stream_w8a8
from grukit.ops.lstm import quant as lq
from grukit.ops.lstm.w8a8 import lstm_stream_w8a8

F = np.float32


def _int8_layers(m):
    out = []
    for layer in range(m.num_layers):
        p = m.layer_params(layer, 0)
        qi, si = gq.quantize_rows(p["weight_ih"])
        qh, sh = gq.quantize_rows(p["weight_hh"])
        out.append({"weight_ih_int8": qi, "weight_ih_scale": si, "weight_hh_int8": qh,
                    "weight_hh_scale": sh, "bias_ih": p["bias_ih"], "bias_hh": p["bias_hh"]})
    return out


DOTS = [pytest.param(_vnni._dot_loop, id="loop"),
        pytest.param(_vnni._dot_vnni, id="vnni", marks=pytest.mark.skipif(
            not _vnni.VNNI, reason="this CPU has no AVX-512 VNNI"))]


@pytest.mark.parametrize("dot", DOTS)
@pytest.mark.parametrize("rows,cols", [(64, 4), (192, 64), (70, 9), (256, 33)],
                         ids=lambda v: str(v))
def test_dot_u8s8_equals_an_integer_matmul(dot, rows, cols):
    from numba import njit

    rng = np.random.default_rng(rows + cols)
    q = torch.from_numpy(rng.integers(-127, 128, (rows, cols)).astype(np.int8))
    u = rng.integers(0, 256, _vnni.padded(cols, 4)).astype(np.uint8)  # (Kp,) bytes
    w = _vnni.block_weight(q)
    rp, k4 = _vnni.padded(rows, 64), _vnni.padded(cols, 4) // 4
    ints = np.zeros(3 + k4 + 2 * rp, np.int32)  # a few words, x, acc, then the start c
    ints[3:3 + k4] = u.view(np.int32)
    c = rng.integers(-10**6, 10**6, rp).astype(np.int32)
    ints[3 + k4 + rp:] = c

    @njit
    def run(ints, w):
        dot(ints, 3 + k4, w, 0, 3, rp, k4, 3 + k4 + rp)

    run(ints, w)
    want = q.numpy().astype(np.int64) @ u[:cols].astype(np.int64) + c[:rows]  # (R,)
    np.testing.assert_array_equal(ints[3 + k4:3 + k4 + rows], want)


def _quant(v):
    """The kernel's quantiser in numpy: (scale, bytes u)."""
    amax = F(np.abs(v).max())
    if amax == 0:
        return F(1), np.full(v.shape, 128, np.int64)
    inv = F(127) / amax
    return F(amax * F(1 / 127)), np.floor((v * inv).astype(F) + F(128.5)).astype(np.int64)


def _product(q, s, v):
    """s_j s_v (q u − 128 Σ q) as the kernel forms it, float32."""
    sv, u = _quant(v)
    acc = q.numpy().astype(np.int64) @ (u - 128)
    return (s.detach().numpy() * sv * acc.astype(F)).astype(F)


def _sig(a):
    return 1 / (1 + np.exp(-a.astype(np.float64)))


def _emulated_step(x, h, layers, reset_after):
    """One step of the w8a8 GRU in numpy (float64 gates): h (L, H) -> new h."""
    h = h.copy()
    hid = h.shape[1]
    for layer, p in enumerate(layers):
        xin = x if layer == 0 else h[layer - 1]
        gi = _product(p["weight_ih_int8"], p["weight_ih_scale"], xin)
        gi = gi + p["bias_ih"].detach().numpy()
        b_hh = 0 * gi if p["bias_hh"] is None else p["bias_hh"].detach().numpy()
        hl = h[layer]
        if reset_after:
            gh = _product(p["weight_hh_int8"], p["weight_hh_scale"], hl)
            r = _sig(gi[:hid] + gh[:hid] + b_hh[:hid])
            z = _sig(gi[hid:2 * hid] + gh[hid:2 * hid] + b_hh[hid:2 * hid])
            n = np.tanh(gi[2 * hid:] + r * (gh[2 * hid:] + b_hh[2 * hid:]))
        else:
            q, s = p["weight_hh_int8"], p["weight_hh_scale"]
            gh = _product(q[:2 * hid], s[:2 * hid], hl)
            r = _sig(gi[:hid] + gh[:hid])
            z = _sig(gi[hid:2 * hid] + gh[hid:])
            ghn = _product(q[2 * hid:], s[2 * hid:], (r * hl).astype(F))
            n = np.tanh(gi[2 * hid:] + ghn)
        h[layer] = (n + z * (hl - n)).astype(F)
    return h


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("inp,hid,layers", [(1, 64, 1), (5, 12, 2), (3, 70, 1)],
                         ids=lambda v: str(v))
def test_w8a8_gru_step_equals_a_numpy_model_of_its_math(reset_after, inp, hid, layers):
    torch.manual_seed(inp + hid)
    m = gnn.GRU(inp, hid, num_layers=layers, reset_after=reset_after)
    qlayers = _int8_layers(m)
    h = np.zeros((layers, hid), F)
    k = gru_stream_w8a8([h], inp, reset_after=reset_after)
    packed = k.pack(qlayers)
    rng = np.random.default_rng(0)
    for _ in range(8):
        x = rng.standard_normal(inp).astype(F)
        want = _emulated_step(x, h, qlayers, reset_after)
        k.step(x, h, packed, k.extra)
        np.testing.assert_allclose(h, want, atol=1e-5, rtol=0)
    assert np.abs(h).max() > 0.05  # the state moved


def _emulated_lstm_step(x, h, c, layers):
    h, c = h.copy(), c.copy()
    hid = h.shape[1]
    for layer, p in enumerate(layers):
        xin = x if layer == 0 else h[layer - 1]
        a = (_product(p["weight_ih_int8"], p["weight_ih_scale"], xin)
             + _product(p["weight_hh_int8"], p["weight_hh_scale"], h[layer])
             + p["bias_ih"].detach().numpy() + p["bias_hh"].detach().numpy())
        i, f = _sig(a[:hid]), _sig(a[hid:2 * hid])
        g, o = np.tanh(a[2 * hid:3 * hid]), _sig(a[3 * hid:])
        c[layer] = (f * c[layer] + i * g).astype(F)
        h[layer] = (o * np.tanh(c[layer].astype(np.float64))).astype(F)
    return h, c


@pytest.mark.parametrize("inp,hid,layers", [(1, 64, 1), (5, 12, 2)], ids=lambda v: str(v))
def test_w8a8_lstm_step_equals_a_numpy_model_of_its_math(inp, hid, layers):
    torch.manual_seed(inp + hid)
    m = gnn.LSTM(inp, hid, num_layers=layers)
    qlayers = _int8_layers(m)
    h, c = np.zeros((layers, hid), F), np.zeros((layers, hid), F)
    k = lstm_stream_w8a8([h, c], inp)
    packed = k.pack(qlayers)
    rng = np.random.default_rng(0)
    for _ in range(8):
        x = rng.standard_normal(inp).astype(F)
        want_h, want_c = _emulated_lstm_step(x, h, c, qlayers)
        k.step(x, h, packed, k.extra)
        np.testing.assert_allclose(h, want_h, atol=1e-5, rtol=0)
        np.testing.assert_allclose(c, want_c, atol=1e-5, rtol=0)
    assert np.abs(h).max() > 0.05  # the state moved


@pytest.mark.parametrize("cell", ["gru", "gru_reset_before", "lstm"])
def test_w8a8_stream_stays_within_quantisation_error_of_the_float_module(cell):
    torch.manual_seed(7)
    m = (gnn.LSTM(3, 32, num_layers=2) if cell == "lstm"
         else gnn.GRU(3, 32, num_layers=2, reset_after=cell == "gru")).eval()
    x = torch.randn(40, 1, 3)
    with torch.no_grad():
        y, _ = m(x)
    s = Int8Stream(quantize_int8(m), w8a8=True)
    steps = np.stack([s.step(x[t, 0].numpy()) for t in range(40)])
    assert s._kernel.step.__name__ == "step_w8a8"
    err = np.abs(steps - y[:, 0].numpy()).max()
    assert 1e-6 < err < 0.01, err  # quantised, and by little


@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_int8_stream_takes_w8a8_where_the_cpu_has_vnni(cell):
    q = quantize_int8(getattr(gnn, cell)(2, 8))
    s = Int8Stream(q)
    s.step(np.ones(2, F))
    assert s._kernel.step.__name__ == ("step_w8a8" if _vnni.VNNI else "step_int8")
    s64 = Int8Stream(quantize_int8(gnn.GRU(2, 8).double()))
    s64.step(np.ones(2))
    assert s64._kernel.step.__name__ == "step_int8"  # w8a8 serves float32 states


def test_w8a8_nan_input_gives_nan_not_a_finite_number():
    s = Int8Stream(quantize_int8(gnn.GRU(2, 8)), w8a8=True)
    s.step(np.ones(2, F))
    y = s.step(np.array([np.nan, 1.0], F))
    assert np.isnan(y).all()


@pytest.mark.parametrize("kind", ["Stream", "Int8Stream", "Int8Stream-w8a8-off"])
def test_a_kept_output_is_not_changed_by_the_next_step(kind):
    m = gnn.GRU(2, 8)
    s = {"Stream": lambda: Stream(m), "Int8Stream": lambda: Int8Stream(quantize_int8(m)),
         "Int8Stream-w8a8-off": lambda: Int8Stream(quantize_int8(m), w8a8=False)}[kind]()
    y1 = s.step(np.ones(2, F))
    kept = y1.copy()
    y2 = s.step(np.full(2, -3.0, F))
    np.testing.assert_array_equal(y1, kept)
    assert not np.array_equal(y1, y2)


def test_w8a8_bad_choices_get_one_sentence():
    q = quantize_int8(gnn.GRU(2, 8))
    with pytest.raises(ValueError, match="w8a8 must be True, False or None"):
        Int8Stream(q, w8a8="yes")
    with pytest.raises(ValueError, match="w8a8=True needs a float32 module"):
        Int8Stream(quantize_int8(gnn.GRU(2, 8).double()), w8a8=True)
    with pytest.raises(ValueError, match="w8a8=True needs a float32 state"):
        gq.gru_stream_int8([np.zeros((1, 8))], 2, w8a8=True)
    with pytest.raises(ValueError, match="w8a8=True needs a float32 state"):
        lq.lstm_stream_int8([np.zeros((1, 8)), np.zeros((1, 8))], 2, w8a8=True)
    with pytest.raises(ValueError, match="at most 16384 products a row in int32"):
        gq.gru_stream_int8([np.zeros((1, 8), np.float32)], 20000, w8a8=True)
