"""Causal self-attention with rotary positions and a key-value cache (a sliding window).

    attn = CausalSelfAttention(d_model=256, num_heads=4)
    y, cache = attn(x)                       # x (B, T, D): training, every step causal
    y1, cache = attn(x1, cache)              # x1 (B, 1, D): one more step, O(window) memory

The attention itself is ``torch.nn.functional.scaled_dot_product_attention`` (torch picks
the fused kernel); this module adds the projections, rotary position embeddings (Su et al.
2021) and the cache. Rotary positions make a score depend on the distance between a query
and a key only, so the cache can drop its oldest keys (a window of ``window`` steps) and
generation can run past the length seen in training without recomputing anything.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .core import check_switch


@dataclass
class KVCache:
    """The keys and values of the steps seen so far (the last ``window`` of them), rotated
    at their absolute positions: k, v (B, heads, S, head_dim); ``pos``: the absolute position
    of the next step."""

    k: Tensor
    v: Tensor
    pos: int

    @property
    def nbytes(self) -> int:
        return self.k.nelement() * self.k.element_size() + \
            self.v.nelement() * self.v.element_size()


def _positive(value, what: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive integer; got {value!r}.")
    return int(value)


def rotary(x: Tensor, pos: Tensor, base: float = 10000.0) -> Tensor:
    """Rotate pairs (x_i, x_{i+d/2}) of ``x`` (B, h, T, d) by angles pos·θ_i with
    θ_i = base^(−2i/d) (GPT-NeoX's half split); ``pos`` (T,) absolute positions. Angles in
    float32, or float64 for a float64 x (float32 angles are off by ~1e-4 at position 10⁴)."""
    half = x.shape[-1] // 2
    wide = torch.float64 if x.dtype == torch.float64 else torch.float32
    theta = base ** (-torch.arange(half, device=x.device, dtype=wide) / half)  # (d/2,)
    ang = pos.to(wide)[:, None] * theta[None]  # (T, d/2)
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:2 * half]
    rot = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return rot if 2 * half == x.shape[-1] else torch.cat([rot, x[..., 2 * half:]], dim=-1)


class CausalSelfAttention(nn.Module):
    r"""Multi-head causal self-attention::

        q, k, v = split(W_qkv x + b_qkv)              x (B, T, D) -> each (B, h, T, D/h)
        q, k = rotary(q, t), rotary(k, t)             t: absolute positions
        a = softmax(q kᵀ / √(D/h) + M) v              M_ts = 0 if s ≤ t (and t − s < window),
        y = W_o concat_heads(a) + b_o                 else −∞

    Args:
        d_model: D, the width of x and y.  num_heads: h (D must divide by it).
        dropout: dropout on the attention weights and on y, in training.
        window: keys kept in the cache (None: all); in training the whole input is seen.
        bias: whether the projections have biases.

    ``forward(x, cache=None) -> (y, cache)``: with a cache the steps of x follow the cached
    ones; the returned cache holds them too (trimmed to ``window``). It traces (e.g.
    ``torch.onnx.export`` with a dynamic time axis) without a cache; with a window, trace it
    on an example longer than the window (a shorter one records the plain causal branch).
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0,
                 window: int | None = None, bias: bool = True):
        super().__init__()
        d_model = _positive(d_model, "CausalSelfAttention: d_model")
        num_heads = _positive(num_heads, "CausalSelfAttention: num_heads")
        bias = check_switch(bias, "CausalSelfAttention: bias")  # "False" would build biases
        if d_model % num_heads:
            raise ValueError(f"CausalSelfAttention: d_model={d_model} must divide by "
                             f"num_heads={num_heads}; choose a num_heads among the divisors.")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0 <= dropout < 1:
            raise ValueError(f"CausalSelfAttention: dropout must be a number in [0, 1); got "
                             f"{dropout!r}.")
        self.window = None if window is None else _positive(window, "CausalSelfAttention: "
                                                                    "window")
        self.d_model, self.num_heads, self.dropout = d_model, num_heads, float(dropout)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x: Tensor, cache: KVCache | None = None) -> tuple[Tensor, KVCache]:
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"CausalSelfAttention: x must be (batch, time, d_model="
                             f"{self.d_model}); got shape {tuple(x.shape)}.")
        if cache is not None and not isinstance(cache, KVCache):
            raise ValueError(f"CausalSelfAttention: cache must be the KVCache a previous call "
                             f"returned (or None); got {type(cache).__name__}.")
        b, t, d = x.shape
        hd = d // self.num_heads
        q, k, v = self.qkv(x).view(b, t, 3, self.num_heads, hd).permute(2, 0, 3, 1, 4)
        #                                                     each (B, h, T, hd)
        start = 0 if cache is None else cache.pos
        pos = torch.arange(start, start + t, device=x.device)  # (T,)
        q, k = rotary(q, pos), rotary(k, pos)
        drop = self.dropout if self.training else 0.0
        if cache is None or cache.k.shape[2] == 0:
            keys, values, past = k, v, 0
        else:
            if cache.k.shape[0] != b:
                raise ValueError(f"CausalSelfAttention: the cache holds a batch of "
                                 f"{cache.k.shape[0]}, the input {b}; start a new cache.")
            if cache.k.shape[1] != self.num_heads or cache.k.shape[3] != hd:
                raise ValueError(f"CausalSelfAttention: the cache holds {cache.k.shape[1]} "
                                 f"heads of width {cache.k.shape[3]}, this layer "
                                 f"{self.num_heads} of width {hd}; pass each layer the cache "
                                 f"it returned.")
            keys = torch.cat([cache.k, k], dim=2)  # (B, h, S + T, hd)
            values = torch.cat([cache.v, v], dim=2)
            past = cache.k.shape[2]
        mask = self._mask(t, past, x.device)
        if mask is None and past == 0:
            a = F.scaled_dot_product_attention(q, keys, values, dropout_p=drop, is_causal=True)
        else:
            a = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, dropout_p=drop)
        y = self.out(a.transpose(1, 2).reshape(b, t, d))  # (B, T, D)
        if drop:
            y = F.dropout(y, drop, training=True)
        if self.window is not None and keys.shape[2] > self.window - 1:
            old = keys.shape[2] - (self.window - 1)  # not [-(window − 1):]: −0 keeps all
            keys, values = keys[:, :, old:], values[:, :, old:]  # (B, h, window − 1, hd)
        return y, KVCache(keys, values, start + t)

    def _mask(self, t: int, past: int, device) -> Tensor | None:
        """(T, S + T) True where a query may see a key, or None when causality alone (no
        cache) or nothing (one query, every cached key in its window) decides."""
        if past == 0 and (self.window is None or t <= self.window):
            return None
        if t == 1 and (self.window is None or past < self.window):
            return None
        qpos = torch.arange(past, past + t, device=device)[:, None]  # (T, 1)
        kpos = torch.arange(past + t, device=device)[None]  # (1, S + T)
        mask = kpos <= qpos
        if self.window is not None:
            mask = mask & (qpos - kpos < self.window)  # not &=: traceable
        return mask

    def extra_repr(self) -> str:
        w = f", window={self.window}" if self.window is not None else ""
        return f"d_model={self.d_model}, num_heads={self.num_heads}{w}"

