"""grukit.layers attention and residual blocks: causality, the cache equals the whole
sequence, the sliding window equals attention over the last steps, blocks carry state."""

from __future__ import annotations

import math

import pytest
import torch

from grukit import cells
from grukit.layers import AttentionBlock, CausalSelfAttention, FeedForward, RecurrentBlock
from grukit.layers.attention import rotary


def _naive(attn: CausalSelfAttention, x: torch.Tensor, window: int | None = None):
    """Attention written out: scores, mask, softmax, one head at a time."""
    b, t, d = x.shape
    h = attn.num_heads
    hd = d // h
    q, k, v = attn.qkv(x).view(b, t, 3, h, hd).permute(2, 0, 3, 1, 4)
    pos = torch.arange(t)
    q, k = rotary(q, pos), rotary(k, pos)
    s = q @ k.transpose(-1, -2) / math.sqrt(hd)  # (B, h, T, T)
    qp, kp = pos[:, None], pos[None]
    ok = kp <= qp
    if window is not None:
        ok &= qp - kp < window
    s = s.masked_fill(~ok, float("-inf"))
    a = torch.softmax(s, -1) @ v
    return attn.out(a.transpose(1, 2).reshape(b, t, d))


def test_attention_equals_the_written_out_math_float64():
    torch.manual_seed(0)
    attn = CausalSelfAttention(12, 3).double()
    x = torch.randn(2, 9, 12, dtype=torch.float64)
    y, _ = attn(x)
    torch.testing.assert_close(y, _naive(attn, x), atol=1e-10, rtol=1e-10)


def test_attention_is_causal_future_input_does_not_change_past_output():
    torch.manual_seed(1)
    attn = CausalSelfAttention(8, 2)
    x = torch.randn(1, 10, 8)
    x2 = x.clone()
    x2[:, 6:] = torch.randn(1, 4, 8)
    y, _ = attn(x)
    y2, _ = attn(x2)
    torch.testing.assert_close(y[:, :6], y2[:, :6], atol=1e-6, rtol=1e-6)
    assert (y[:, 6:] - y2[:, 6:]).abs().max() > 1e-3


def test_cache_step_by_step_equals_the_whole_sequence():
    torch.manual_seed(2)
    attn = CausalSelfAttention(8, 2).double().eval()
    x = torch.randn(2, 7, 8, dtype=torch.float64)
    whole, _ = attn(x)
    y, cache = attn(x[:, :3])  # a prompt, then one step at a time
    outs = [y]
    for t in range(3, 7):
        y, cache = attn(x[:, t:t + 1], cache)
        outs.append(y)
    torch.testing.assert_close(torch.cat(outs, 1), whole, atol=1e-10, rtol=1e-10)
    assert cache.pos == 7 and cache.k.shape == (2, 2, 7, 4)


def test_sliding_window_cache_attends_to_the_last_window_steps():
    torch.manual_seed(3)
    attn = CausalSelfAttention(8, 2, window=4).double().eval()
    x = torch.randn(1, 11, 8, dtype=torch.float64)
    ref = _naive(attn, x, window=4)
    cache, outs = None, []
    for t in range(11):
        y, cache = attn(x[:, t:t + 1], cache)
        outs.append(y)
        assert cache.k.shape[2] <= 3  # window − 1 keys kept for the next step
    torch.testing.assert_close(torch.cat(outs, 1), ref, atol=1e-10, rtol=1e-10)
    # a chunk after the cache (T > 1 with a cache) takes the masked path
    y, cache = attn(x[:, :5])
    y2, _ = attn(x[:, 5:], cache)
    torch.testing.assert_close(y2, ref[:, 5:], atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("cell", ["gru", "lstm", "mingru", "lngru"])
def test_recurrent_block_carrying_state_equals_the_whole_sequence(cell):
    torch.manual_seed(4)
    block = RecurrentBlock(cell, 6, expansion=1.5, ff_expansion=2).double().eval()
    assert block.rnn.spec is cells.get(cell)
    x = torch.randn(2, 8, 6, dtype=torch.float64)
    whole, _ = block(x)
    a, s = block(x[:, :5])
    b, _ = block(x[:, 5:], s)
    torch.testing.assert_close(torch.cat([a, b], 1), whole, atol=1e-10, rtol=1e-10)


def test_attention_block_with_cache_equals_the_whole_sequence():
    torch.manual_seed(5)
    block = AttentionBlock(8, 2, ff_expansion=2).double().eval()
    x = torch.randn(1, 6, 8, dtype=torch.float64)
    whole, _ = block(x)
    a, c = block(x[:, :4])
    b, _ = block(x[:, 4:], c)
    torch.testing.assert_close(torch.cat([a, b], 1), whole, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("make, match", [
    (lambda: CausalSelfAttention(10, 3), "d_model=10 must divide by num_heads=3"),
    (lambda: CausalSelfAttention(8, 0), "num_heads must be a positive integer"),
    (lambda: CausalSelfAttention(8, 2, dropout=1.0), "dropout must be a number in"),
    (lambda: RecurrentBlock("gruu", 8), "unknown cell 'gruu'"),
    (lambda: RecurrentBlock("gru", 8, norm="batch"), "norm must be one of"),
    (lambda: RecurrentBlock("gru", 8, expansion=-1), "expansion must be a finite number"),
    (lambda: RecurrentBlock("gru", 8, expansion=float("nan")), "expansion must be a finite"),
    (lambda: RecurrentBlock("gru", 8, ff_expansion=float("inf")), "ff_expansion must be a fin"),
    (lambda: AttentionBlock(8, 2, ff_expansion=float("nan")), "ff_expansion must be a finite"),
    (lambda: RecurrentBlock("gru", -1), "RecurrentBlock: d_model must be a positive integer"),
    (lambda: RecurrentBlock("gru", 2.5), "RecurrentBlock: d_model must be a positive integer"),
    (lambda: FeedForward(0), "FeedForward: d_model must be a positive integer"),
    (lambda: AttentionBlock(-8, 2), "d_model must be a positive integer; got -8"),
    (lambda: AttentionBlock(8.5, 2), "d_model must be a positive integer; got 8.5"),
], ids=["heads-divide", "heads-zero", "dropout", "cell", "norm", "expansion", "expansion-nan",
        "ff-inf", "attention-ff-nan", "d-negative", "d-float", "ff-d-zero",
        "block-d-negative", "block-d-float"])
def test_bad_settings_raise_one_sentence(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_attention_refuses_a_wrong_width_and_a_cache_of_another_batch():
    attn = CausalSelfAttention(8, 2)
    with pytest.raises(ValueError, match=r"x must be \(batch, time, d_model=8\)"):
        attn(torch.randn(1, 3, 6))
    _, cache = attn(torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match="the cache holds a batch of 2"):
        attn(torch.randn(1, 1, 8), cache)


def test_a_window_of_one_keeps_no_key_in_the_cache():
    torch.manual_seed(6)
    attn = CausalSelfAttention(8, 2, window=1).double().eval()
    x = torch.randn(1, 5, 8, dtype=torch.float64)
    cache, outs = None, []
    for t in range(5):
        y, cache = attn(x[:, t:t + 1], cache)
        outs.append(y)
        assert cache.k.shape[2] == 0 and cache.pos == t + 1  # each step sees itself only
    torch.testing.assert_close(torch.cat(outs, 1), _naive(attn, x, window=1), atol=1e-10,
                               rtol=1e-10)


def test_a_cache_of_another_layer_is_refused_in_one_sentence():
    _, cache = CausalSelfAttention(8, 2)(torch.randn(1, 3, 8))
    with pytest.raises(ValueError, match="the cache holds 2 heads of width 4, this layer 4"):
        CausalSelfAttention(8, 4)(torch.randn(1, 1, 8), cache)
    with pytest.raises(ValueError, match="cache must be the KVCache"):
        CausalSelfAttention(8, 2)(torch.randn(1, 1, 8), (cache.k, cache.v))


def test_rotary_in_float64_rotates_by_float64_angles():
    torch.manual_seed(7)
    x = torch.randn(1, 1, 5, 8, dtype=torch.float64)
    pos = torch.arange(10_000, 10_005)
    theta = 10000.0 ** (-torch.arange(4, dtype=torch.float64) / 4)
    ang = pos.double()[:, None] * theta  # (T, d/2), written out in float64
    x1, x2 = x[..., :4], x[..., 4:]
    want = torch.cat([x1 * ang.cos() - x2 * ang.sin(), x1 * ang.sin() + x2 * ang.cos()], -1)
    torch.testing.assert_close(rotary(x, pos), want, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("window", [None, 3], ids=["no-window", "window3"])
def test_attention_traces_to_onnx_and_runs_at_other_lengths(window):
    ort = pytest.importorskip("onnxruntime")
    import io
    import warnings

    torch.manual_seed(8)
    attn = CausalSelfAttention(8, 2, window=window).eval()

    class Out(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = attn

        def forward(self, x):
            return self.attn(x)[0]

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Out(), (torch.randn(2, 5, 8),), buf, dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "batch", 1: "time"}})
    run = ort.InferenceSession(buf.getvalue()).run
    for shape in ((3, 9, 8), (1, 1, 8)):
        x = torch.randn(*shape)
        with torch.no_grad():
            want = attn(x)[0].numpy()
        torch.testing.assert_close(torch.from_numpy(run(None, {"x": x.numpy()})[0]),
                                   torch.from_numpy(want), atol=1e-5, rtol=1e-5)
