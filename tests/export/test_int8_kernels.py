"""int8 weights with per-row scales: the quantiser, the int8 GRU and LSTM streaming kernels
(equal to the float kernels on the dequantized weights), ``quantize_int8`` modules (batch path
equal to the float module on the dequantized weights, within 1% of the float model) and
``Int8Stream`` (steps equal the whole sequence, through the int8 kernel)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grukit import nn as gnn
from grukit.nn import Stream
from grukit.nn.quantized import Int8Stream, model_bytes, quantize_int8, torch_dynamic_quantization
from grukit.ops import dispatch
from grukit.ops.gru import quant as gq
from grukit.ops.gru import stream as gs
from grukit.ops.lstm import quant as lq
from grukit.ops.lstm import stream as ls

TOL = {torch.float32: 1e-5, torch.float64: 1e-12}
NP = {torch.float32: np.float32, torch.float64: np.float64}


def test_quantize_rows_scales_each_row_and_rounds_to_nearest():
    torch.manual_seed(0)
    w = torch.randn(6, 9)
    w[2] = 0.0
    q, s = gq.quantize_rows(w)
    assert q.dtype == torch.int8 and s.shape == (6,) and s.dtype == torch.float32
    torch.testing.assert_close(s[[0, 1, 3]], w[[0, 1, 3]].abs().amax(1) / 127)
    assert s[2] == 1.0 and (q[2] == 0).all()
    assert q.abs().amax(1)[[0, 1, 3]].eq(127).all()  # each row uses the full range
    err = (gq.dequantize_rows(q, s) - w).abs()
    assert (err <= s[:, None] / 2 + 1e-7).all()  # round to nearest: at most half a step


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_dequantized_rows_round_once_into_the_dtype(dtype):
    """s q in bfloat16 was the product of two bfloat16 roundings; it is now float32's s q
    rounded once into the dtype (float64: exact)."""
    torch.manual_seed(0)
    q, s = gq.quantize_rows(torch.randn(64, 33) * torch.logspace(-3, 1, 64)[:, None])
    exact = q.double() * s.double()[:, None]
    assert torch.equal(gq.dequantize_rows(q, s, dtype), (q.float() * s[:, None]).to(dtype)
                       if dtype != torch.float64 else exact)


@pytest.mark.parametrize("bad", ["1-D", "int", "nan"])
def test_quantize_rows_refuses_bad_weights(bad):
    w = {"1-D": torch.ones(4), "int": torch.ones(2, 2, dtype=torch.int64),
         "nan": torch.tensor([[1.0, float("nan")]])}[bad]
    with pytest.raises(ValueError, match="quantize_rows"):
        gq.quantize_rows(w)


def _int8_layers(m):
    q, d = [], []
    for layer in range(m.num_layers):
        p = m.layer_params(layer, 0)
        qi, si = gq.quantize_rows(p["weight_ih"])
        qh, sh = gq.quantize_rows(p["weight_hh"])
        q.append({"weight_ih_int8": qi, "weight_ih_scale": si, "weight_hh_int8": qh,
                  "weight_hh_scale": sh, "bias_ih": p["bias_ih"], "bias_hh": p["bias_hh"]})
        dt = p["weight_hh"].dtype
        d.append({"weight_ih": gq.dequantize_rows(qi, si, dt),
                  "weight_hh": gq.dequantize_rows(qh, sh, dt),
                  "bias_ih": p["bias_ih"], "bias_hh": p["bias_hh"]})
    return q, d


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cell", ["gru", "gru_reset_before", "lstm"])
def test_int8_stream_kernel_equals_float_kernel_on_dequantized_weights(cell, dtype):
    torch.manual_seed(1)
    if cell == "lstm":
        m = gnn.LSTM(5, 12, num_layers=2).to(dtype)
    else:
        m = gnn.GRU(5, 12, num_layers=2, reset_after=cell == "gru").to(dtype)
    ra = cell == "gru"
    qlayers, flayers = _int8_layers(m)
    states_q = [np.zeros((2, 12), NP[dtype]) for _ in range(2 if cell == "lstm" else 1)]
    states_f = [s.copy() for s in states_q]
    if cell == "lstm":
        kq, kf = lq.lstm_stream_int8(states_q, 5, w8a8=False), ls.lstm_stream(states_f, 5)
    else:
        kq = gq.gru_stream_int8(states_q, 5, reset_after=ra, w8a8=False)
        kf = gs.gru_stream(states_f, 5, reset_after=ra)
    pq, pf = kq.pack(qlayers), kf.pack(flayers)
    rng = np.random.default_rng(0)
    for _ in range(15):
        x = rng.standard_normal(5).astype(NP[dtype])
        kq.step(x, states_q[0], pq, kq.extra)
        kf.step(x, states_f[0], pf, kf.extra)
    for a, b in zip(states_q, states_f, strict=True):
        np.testing.assert_allclose(a, b, atol=TOL[dtype], rtol=0)
    assert np.abs(states_q[0]).max() > 0.05  # the state moved


def _float_twin(q):
    """A float module holding the int8 module's dequantized weights."""
    f = type(q).__mro__[2](q.input_size, q.hidden_size, num_layers=q.num_layers,
                           batch_first=q.batch_first, bidirectional=q.bidirectional,
                           **({} if q.spec.name != "gru" else {"reset_after": q.reset_after}))
    with torch.no_grad():
        for name in q.int8_names:
            getattr(f, name).copy_(getattr(q, name))
        for name, p in q.named_parameters():
            getattr(f, name).copy_(p)
    return f.eval()


MODULES = {
    "gru": lambda: gnn.GRU(3, 16, num_layers=2, batch_first=True),
    "gru_reset_before_bidir": lambda: gnn.GRU(3, 16, batch_first=True, reset_after=False,
                                             bidirectional=True),
    "lstm": lambda: gnn.LSTM(3, 16, num_layers=2, batch_first=True),
}


@pytest.mark.parametrize("kind", list(MODULES))
def test_int8_module_runs_the_float_kernels_on_dequantized_weights(kind):
    torch.manual_seed(2)
    m = MODULES[kind]()
    q = quantize_int8(m)
    assert type(q).__name__ == f"Int8{type(m).__name__}"
    assert all(q.get_buffer(f"{n}_int8").dtype == torch.int8 for n in q.int8_names)
    x = torch.randn(4, 25, 3)
    lengths = torch.tensor([25, 7, 1, 19])
    with torch.no_grad():
        y, _ = q(x, lengths=lengths)
        y_twin, _ = _float_twin(q)(x, lengths=lengths)
        y_float, _ = m(x, lengths=lengths)
    torch.testing.assert_close(y, y_twin, atol=1e-6, rtol=0)
    rel = ((y - y_float).norm() / y_float.norm()).item()
    assert 0 < rel < 0.01, rel  # per-row int8 moves the outputs, by well under 1%


def test_int8_weights_take_under_a_third_of_the_bytes():
    m = gnn.GRU(1, 64)
    assert model_bytes(quantize_int8(m)) < model_bytes(m) / 3


@pytest.mark.parametrize("kind", ["gru", "gru_reset_before", "lstm"])
def test_int8_stream_steps_equal_the_sequence_through_the_int8_kernel(kind):
    torch.manual_seed(3)
    m = {"gru": lambda: gnn.GRU(3, 16, num_layers=2),
         "gru_reset_before": lambda: gnn.GRU(3, 16, reset_after=False),
         "lstm": lambda: gnn.LSTM(3, 16, num_layers=2)}[kind]()
    q = quantize_int8(m)
    x = torch.randn(20, 1, 3)
    with torch.no_grad():
        y, _ = q(x)
    s = Int8Stream(q, w8a8=False)  # float products of the int8 weights: the module's numbers
    steps = np.stack([s.step(x[t, 0].numpy()) for t in range(20)])
    assert s._kernel.step.__name__ == "step_int8"  # dispatch gave the int8 kernel
    assert dispatch.backends(f"{kind[:4].rstrip('_')}_stream_int8") == ["cpu"]
    np.testing.assert_allclose(steps, y[:, 0].numpy(), atol=1e-5, rtol=0)
    s.reset()
    np.testing.assert_allclose(s.step(x[0, 0].numpy()), y[0, 0].numpy(), atol=1e-5, rtol=0)
    plain = Stream(q)  # the float stream on the dequantized weights: same numbers
    np.testing.assert_allclose(np.stack([plain.step(x[t, 0].numpy()) for t in range(20)]),
                               steps, atol=1e-5, rtol=0)


def test_sequential_with_dense_head_int8_within_one_percent():
    from grukit.layers import GRU, Dense
    from grukit.models import Sequential

    torch.manual_seed(4)
    m = Sequential([GRU(32, input_shape=(50, 1)), Dense(8, activation="tanh"), Dense(1)])
    m.build()
    x = torch.randn(16, 50, 1)
    with torch.no_grad():
        y = m(x)
        for linear in ("grukit", "torch"):
            if linear == "torch" and not torch_dynamic_quantization():
                continue
            yq = quantize_int8(m, linear=linear)(x)
            rel = ((yq - y).norm() / y.norm()).item()
            assert 0 < rel < 0.02, (linear, rel)


def test_bad_input_one_sentence():
    m = gnn.GRU(3, 4)
    with pytest.raises(TypeError, match="quantize_int8 takes a torch.nn.Module"):
        quantize_int8("model")
    with pytest.raises(ValueError, match="linear must be one of auto, torch, grukit"):
        quantize_int8(m, linear="fbgemm")
    with pytest.raises(ValueError, match="already has int8 weights"):
        quantize_int8(quantize_int8(m))
    with pytest.raises(TypeError, match="Int8Stream needs a module with int8 weights"):
        Int8Stream(m)


@pytest.mark.parametrize("cell", ["GRUCell", "LSTMCell"])
def test_one_step_cells_get_int8_weights_too(cell):
    torch.manual_seed(5)
    m = getattr(gnn, cell)(3, 16)
    q = quantize_int8(m)
    assert q.get_buffer("weight_hh_int8").dtype == torch.int8
    assert "weight_hh" not in dict(q.named_parameters())
    x = torch.randn(4, 3)
    with torch.no_grad():
        out, out_q = m(x), q(x)
    out, out_q = (out[0], out_q[0]) if isinstance(out, tuple) else (out, out_q)
    rel = ((out_q - out).norm() / out.norm()).item()
    assert 0 < rel < 0.01, rel


def test_int8_copies_refuse_save_and_torch_quantized_ones_refuse_export(tmp_path):
    """save refuses any quantize_int8 copy (a model file holds float weights), load names
    the int8 weights of a file saved before that; to_pt2 and to_onnx refuse torch's
    dynamically quantized Linear layers in one sentence saying what to do instead."""
    import json

    from safetensors.torch import save_file

    from grukit.export import to_onnx, to_pt2
    from grukit.layers import GRU, Dense
    from grukit.models import Sequential, load
    from grukit.models.saving import FORMAT

    m = Sequential([GRU(4, input_shape=(None, 3)), Dense(2)])
    m.build()
    g = quantize_int8(m, linear="grukit")
    with pytest.raises(ValueError, match=r"int8 weights .* save the float model"):
        g.save(str(tmp_path / "g.keras"))
    assert not list(tmp_path.iterdir())
    old = tmp_path / "old.keras"  # what save wrote for such a copy before it refused
    save_file({k: v.contiguous() for k, v in g.state_dict().items()}, str(old),
              metadata={"format": FORMAT, "config": json.dumps(m.get_config())})
    with pytest.raises(ValueError, match=r"holds int8 weights .* no model can load"):
        load(str(old))
    if not torch_dynamic_quantization():
        return
    q = quantize_int8(m, linear="torch")
    with pytest.raises(ValueError, match="int8 weights"):
        q.save(str(tmp_path / "q.keras"))
    with pytest.raises(ValueError, match=r"to_pt2: .*dynamic quantization.*linear='grukit'"):
        to_pt2(q, tmp_path / "q.pt2", example=torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match=r"to_onnx: .*dynamic quantization.*int8=True"):
        to_onnx(q, tmp_path / "q.onnx")
    assert [p.name for p in tmp_path.iterdir()] == ["old.keras"]


@pytest.mark.parametrize("kind, bound", [("GRU", 0.006), ("LSTM", 0.006), ("RNN", 0.006),
                                         ("MinGRU", 0.006), ("LayerNormGRU", 0.02)])
def test_int8_moves_outputs_within_the_documented_figures(kind, bound):
    """docs/applications/deployment.md: about 0.5% (up to 0.54% measured) for the GRU,
    LSTM, RNN and minGRU, 1-2% for the LayerNorm-GRU."""
    from grukit.export import relative_error

    torch.manual_seed(0)
    m = getattr(gnn, kind)(8, 16, num_layers=2, batch_first=True).eval()
    x = torch.randn(4, 50, 8)
    with torch.no_grad():
        rel = relative_error(m(x)[0], quantize_int8(m, linear="grukit")(x)[0])["relative"]
    assert 0 < rel < bound, rel
