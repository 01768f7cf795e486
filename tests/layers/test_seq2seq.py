"""grukit.layers.seq2seq: additive and multiplicative attention give the papers' scores, put
weight zero past each source's length, and the decoder step runs GRU and LSTM cells from
their specs with input feeding."""

import pytest
import torch

from grukit.layers.seq2seq import (
    AdditiveAttention,
    AttentionalDecoderCell,
    MultiplicativeAttention,
    length_mask,
)


def _inputs(b=3, s=5, q=4, k=6):
    g = torch.Generator().manual_seed(0)
    query = torch.randn(b, q, generator=g, dtype=torch.float64)
    keys = torch.randn(b, s, k, generator=g, dtype=torch.float64)
    lengths = torch.tensor([5, 2, 1])
    return query, keys, length_mask(lengths, s)


def test_additive_attention_is_bahdanaus_formula():
    query, keys, mask = _inputs()
    att = AdditiveAttention(4, 6, 7).double()
    ctx, w = att(query, keys, att.precompute(keys), mask)
    e = torch.einsum("u,bsu->bs", att.v.weight[0],
                     torch.tanh(att.w_q(query)[:, None] + keys @ att.w_k.weight.t()
                                + att.w_k.bias))
    e = e.masked_fill(~mask, float("-inf"))
    want = torch.softmax(e, -1)
    torch.testing.assert_close(w, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ctx, torch.einsum("bs,bsk->bk", want, keys), rtol=1e-10,
                               atol=1e-12)


def test_multiplicative_attention_is_luongs_general_score():
    query, keys, mask = _inputs()
    att = MultiplicativeAttention(4, 6).double()
    _, w = att(query, keys, att.precompute(keys), mask)
    e = torch.einsum("bq,qk,bsk->bs", query, att.w.weight, keys)
    want = torch.softmax(e.masked_fill(~mask, float("-inf")), -1)
    torch.testing.assert_close(w, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", [AdditiveAttention, MultiplicativeAttention])
def test_no_weight_past_a_sources_length(cls):
    query, keys, mask = _inputs()
    att = cls(4, 6).double()
    keys2 = keys.clone()
    keys2[~mask] = 1e3  # what lies past the end must not matter
    ctx, w = att(query, keys, att.precompute(keys), mask)
    ctx2, w2 = att(query, keys2, att.precompute(keys2), mask)
    assert bool((w[~mask] == 0).all())
    torch.testing.assert_close(w.sum(-1), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(ctx, ctx2, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("attention", ["bahdanau", "luong", "none"])
def test_decoder_step_shapes_states_and_gradients(cell, attention):
    torch.manual_seed(0)
    dec = AttentionalDecoderCell(5, 8, 6, 7, cell=cell, attention=attention)
    b, s = 3, 4
    keys = torch.randn(b, s, 6, requires_grad=True)
    mask = length_mask(torch.tensor([4, 2, 1]), s)
    state = tuple(torch.zeros(b, 8) for _ in ("h", "c")[:2 if cell == "lstm" else 1])
    out, state, w = dec(torch.randn(b, 5), state, None, keys, dec.precompute(keys), mask)
    out2, state, w = dec(torch.randn(b, 5), state, out, keys, dec.precompute(keys), mask)
    assert out2.shape == (b, 7) and len(state) == (2 if cell == "lstm" else 1)
    assert (w is None) == (attention == "none")
    out2.sum().backward()
    assert (keys.grad is not None and keys.grad.abs().sum() > 0) == (attention != "none")
    if cell == "lstm":  # forget-gate bias 1 from the spec's baseline
        assert torch.equal(dec.cell.bias_ih[8:16] + 0 * dec.cell.bias_hh[8:16],
                           torch.ones(8))


def test_bad_cell_or_attention_is_one_sentence():
    with pytest.raises(ValueError, match="attention must be one of"):
        AttentionalDecoderCell(5, 8, 6, 7, attention="dot")
    with pytest.raises(ValueError, match="no one-step cell"):
        AttentionalDecoderCell(5, 8, 6, 7, cell="mingru")
    with pytest.raises(ValueError, match="unknown cell 'nope'"):
        AttentionalDecoderCell(5, 8, 6, 7, cell="nope")


@pytest.mark.parametrize("cls", [AdditiveAttention, MultiplicativeAttention])
def test_a_source_of_length_zero_gets_weights_and_context_zero_not_nan(cls):
    query, keys, _ = _inputs()
    keys.requires_grad_(True)
    mask = length_mask(torch.tensor([5, 0, 2]), 5)
    att = cls(4, 6).double()
    ctx, w = att(query, keys, att.precompute(keys), mask)
    assert torch.equal(w[1], torch.zeros(5, dtype=torch.float64))
    assert torch.equal(ctx[1], torch.zeros(6, dtype=torch.float64))
    torch.testing.assert_close(w[[0, 2]].sum(-1), torch.ones(2, dtype=torch.float64))
    ctx.sum().backward()
    assert bool(torch.isfinite(keys.grad).all())
    assert all(bool(torch.isfinite(p.grad).all()) for p in att.parameters())


@pytest.mark.parametrize("cls", [AdditiveAttention, MultiplicativeAttention])
def test_nan_past_a_sources_length_does_not_reach_the_context(cls):
    query, keys, mask = _inputs()
    att = cls(4, 6).double()
    ctx, w = att(query, keys, att.precompute(keys), mask)
    keys2 = keys.clone()
    keys2[~mask] = float("nan")
    ctx2, w2 = att(query, keys2, att.precompute(keys2), mask)
    torch.testing.assert_close(ctx2, ctx, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(w2, w, rtol=1e-12, atol=1e-12)
    ctx3, _ = att(query, keys2, att.precompute(keys2, mask), mask)  # and out of the gradient
    ctx3.sum().backward()
    assert all(bool(torch.isfinite(p.grad).all()) for p in att.parameters())


def test_additive_attention_units_are_checked_not_replaced():
    assert AdditiveAttention(4, 6, 3).v.in_features == 3
    assert AdditiveAttention(4, 6).v.in_features == 4
    for units in (0, -2, 2.5):
        with pytest.raises(ValueError, match="units must be a positive integer"):
            AdditiveAttention(4, 6, units)
    with pytest.raises(ValueError, match="key_size must be a positive integer"):
        MultiplicativeAttention(4, 0)


@pytest.mark.parametrize("cls", [AdditiveAttention, MultiplicativeAttention])
def test_a_wrong_query_or_mask_is_one_sentence(cls):
    query, keys, mask = _inputs()
    att = cls(4, 6).double()
    proj = att.precompute(keys)
    with pytest.raises(ValueError, match=r"query must be \(batch, 4\)"):
        att(query[:, None], keys, proj, mask)  # Keras' (B, 1, Q)
    with pytest.raises(ValueError, match="mask must be a bool"):
        att(query, keys, proj, mask.double())  # 1/0 or an additive −inf mask


@pytest.mark.parametrize("cell, ref_cls", [("gru", torch.nn.GRUCell),
                                           ("lstm", torch.nn.LSTMCell)])
def test_decoder_step_equals_torch_cells_and_luongs_equations(cell, ref_cls):
    torch.manual_seed(1)
    dec = AttentionalDecoderCell(3, 5, 6, 7, cell=cell, attention="luong").double()
    ref = ref_cls(3 + 7, 5).double()
    ref.load_state_dict(dec.cell.state_dict())
    keys = torch.randn(2, 4, 6, dtype=torch.float64)
    mask = length_mask(torch.tensor([4, 2]), 4)
    y, feed = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 7, dtype=torch.float64)
    state = tuple(torch.randn(2, 5, dtype=torch.float64) for _ in dec.spec.states)
    out, _, _ = dec(y, state, feed, keys, None, mask)  # None: precompute here
    r = ref(torch.cat([y, feed], -1), state if cell == "lstm" else state[0])
    h = r[0] if cell == "lstm" else r
    e = torch.einsum("bh,hk,bsk->bs", h, dec.attention.w.weight, keys)
    c = torch.einsum("bs,bsk->bk", torch.softmax(e.masked_fill(~mask, float("-inf")), -1), keys)
    want = torch.tanh(torch.cat([h, c], -1) @ dec.combine.weight.t())
    torch.testing.assert_close(out, want, rtol=1e-10, atol=1e-12)


def test_decoder_sizes_dropout_state_and_projected_are_checked_in_one_sentence():
    for kwargs, match in [({"input_size": 0}, "input_size must be a positive integer"),
                          ({"output_size": 0}, "output_size must be a positive integer"),
                          ({"dropout": float("nan")}, "dropout must be a number in"),
                          ({"dropout": 1.0}, "dropout must be a number in")]:
        with pytest.raises(ValueError, match=match):
            AttentionalDecoderCell(**{"input_size": 5, "hidden_size": 8, "key_size": 6,
                                      "output_size": 7, **kwargs})
    dec = AttentionalDecoderCell(5, 8, 6, 7, cell="lstm")
    keys, mask = torch.randn(2, 3, 6), length_mask(torch.tensor([3, 1]), 3)
    h = torch.zeros(2, 8)
    with pytest.raises(ValueError, match=r"state must be a tuple \('h', 'c'\).*got 1 of"):
        dec(torch.randn(2, 5), (h,), None, keys, dec.precompute(keys), mask)
    with pytest.raises(ValueError, match="projected must be precompute"):  # a beam's keys
        dec(torch.randn(2, 5), (h, h), None, keys, dec.precompute(keys[:1]), mask)
