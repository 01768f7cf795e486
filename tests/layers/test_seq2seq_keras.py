"""grukit.layers.seq2seq against Keras 3 (torch backend): AdditiveAttention with W_q = W_k = I,
b = 0 and v = Keras' scale is keras.layers.AdditiveAttention; MultiplicativeAttention with
W = I is keras.layers.Attention (dot scores), with and without a padding mask. (A source with
no position differs on purpose: Keras spreads the weights evenly, grukit gives zeros.)"""

import os

import numpy as np
import pytest
import torch

from grukit.layers.seq2seq import AdditiveAttention, MultiplicativeAttention, length_mask

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

B, S, U = 3, 5, 4


def _inputs():
    g = torch.Generator().manual_seed(0)
    return torch.randn(B, U, generator=g), torch.randn(B, S, U, generator=g)


def _np(t):
    return keras.ops.convert_to_numpy(t)


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
def test_additive_attention_equals_keras(masked):
    query, keys = _inputs()
    mask = length_mask(torch.tensor([5, 2, 1]), S) if masked else None
    att = AdditiveAttention(U, U, U)
    with torch.no_grad():
        att.w_q.weight.copy_(torch.eye(U))
        att.w_k.weight.copy_(torch.eye(U))
        att.w_k.bias.zero_()
    ka = keras.layers.AdditiveAttention(use_scale=True)
    ka.build([(B, 1, U), (B, S, U)])
    ka.scale.assign(att.v.weight[0].detach().numpy())
    with torch.no_grad():
        ctx, w = att(query, keys, att.precompute(keys), mask)
    kc, kw = ka([query[:, None].numpy(), keys.numpy()], return_attention_scores=True,
                mask=[None, None if mask is None else mask.numpy()])
    np.testing.assert_allclose(w.numpy(), _np(kw)[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ctx.numpy(), _np(kc)[:, 0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
def test_multiplicative_attention_equals_keras_dot_attention(masked):
    query, keys = _inputs()
    mask = length_mask(torch.tensor([5, 2, 1]), S) if masked else None
    att = MultiplicativeAttention(U, U)
    with torch.no_grad():
        att.w.weight.copy_(torch.eye(U))
        ctx, w = att(query, keys, att.precompute(keys), mask)
    kc, kw = keras.layers.Attention()([query[:, None].numpy(), keys.numpy()],
                                      return_attention_scores=True,
                                      mask=[None, None if mask is None else mask.numpy()])
    np.testing.assert_allclose(w.numpy(), _np(kw)[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ctx.numpy(), _np(kc)[:, 0], rtol=1e-5, atol=1e-6)
