"""Decoding a batch of sources: greedy, and beam search with a length penalty.

Beam search keeps, for each source, the ``beam`` best partial translations by total
log-probability; a hypothesis that emits EOS is finished and scored
``log p / lp(len)`` with GNMT's length penalty ``lp(n) = ((5 + n) / 6)^α`` (Wu et al.
2016; α = 0: raw log-probability). Scores are compared as the cost
``log(−log p) − α·log((5 + n) / 6)`` (lower is better; the same order, since log p ≤ 0),
which no α overflows (``lp`` itself leaves a float's range once α·log((5 + n) / 6) > 709,
e.g. α = 200 at 210 tokens).
Search for a source stops when its best finished score beats every live hypothesis' best
possible score (log-probabilities only fall, so with α = 0 that is the live best's own
score) or at ``max_len`` tokens. With ``beam=1`` and α = 0 beam search is greedy decoding.

``max_len`` is one limit for the batch or one per source (B,): a source's translation does
not depend on the sources decoded beside it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .network import Seq2Seq
from .tokenizer import BOS_ID, EOS_ID, PAD_ID


def length_penalty(n: Tensor | float, alpha: float):
    return ((5.0 + n) / 6.0) ** alpha


def _cost(score: float, n: int, alpha: float) -> float:
    """log(−score / lp(n)) for a log-probability ``score`` ≤ 0 of ``n`` tokens: ordered as
    ``score / lp(n)`` reversed (lower is better), without computing lp (no overflow)."""
    lead = -math.inf if score >= 0 else math.log(-score)
    return lead - alpha * math.log((5.0 + n) / 6.0) if alpha else lead


def _checked(logits: Tensor) -> Tensor:
    """``logits`` (N, V), refused when a row holds NaN or +inf (damaged weights): argmax and
    top-k would pick such a token's id as if it were the most likely."""
    if not bool(torch.isfinite(logits.amax(-1)).all()):  # a row's max is NaN if any is
        raise ValueError("the model's next-token scores are NaN or infinite, so nothing can "
                         "be decoded; its weights are damaged or its training diverged: "
                         "train it again (with a lower lr).")
    return logits


def _limits(max_len: int | Tensor, b: int) -> Tensor:
    """The most tokens of each of the ``b`` translations (B,), from one limit or B."""
    return torch.as_tensor(max_len, dtype=torch.long).expand(b).clone()  # (B,)


@torch.no_grad()
def greedy(net: Seq2Seq, src: Tensor, lengths: Tensor, max_len: int,
           keep_attention: bool = False) -> tuple[list[list[int]], list | None]:
    """src (B, S), lengths (B,), max_len an int or (B,) -> (ids of each translation without
    BOS/EOS, and, with ``keep_attention``, each translation's weights (T_out, S_b))."""
    enc = net.encode(src, lengths)
    b = src.shape[0]
    limits = _limits(max_len, b)  # (B,)
    prev = torch.full((b,), BOS_ID, dtype=torch.long)
    state, feed = enc.state, None
    done = limits < 1  # (B,)
    out, att = [], []
    for t in range(int(limits.max())):
        logits, state, feed, weights = net.step(prev, state, feed, enc)
        prev = _checked(logits).argmax(-1)  # (B,)
        prev = torch.where(done, torch.full_like(prev, PAD_ID), prev)
        out.append(prev)
        if keep_attention and weights is not None:
            att.append(weights)
        done |= (prev == EOS_ID) | (limits <= t + 1)
        if bool(done.all()):
            break
    ids = torch.stack(out, 1).tolist() if out else [[] for _ in range(b)]  # (B, T)
    result = [_cut(r) for r in ids]
    if not keep_attention:
        return result, None
    maps = None
    if att:
        a = torch.stack(att, 1)  # (B, T, S)
        maps = [a[i, :len(r) + 1, :int(lengths[i])] for i, r in enumerate(result)]
    return result, maps


def _cut(ids: list[int]) -> list[int]:
    out = []
    for i in ids:
        if i in (EOS_ID, PAD_ID):
            break
        out.append(i)
    return out


@torch.no_grad()
def beam_search(net: Seq2Seq, src: Tensor, lengths: Tensor, max_len: int, beam: int = 5,
                alpha: float = 0.6) -> list[list[int]]:
    """src (B, S), lengths (B,), max_len an int or (B,) -> the best translation of each
    source (ids, no BOS/EOS), all sources searched together (B·K rows a step)."""
    b, k = src.shape[0], beam
    limits = _limits(max_len, b).tolist()
    enc = net.encode(src, lengths).select(torch.arange(b).repeat_interleave(k))  # B·K rows
    state, feed = enc.state, None
    prev = torch.full((b * k,), BOS_ID, dtype=torch.long)
    # only the first copy of each source is live at the start (the others would duplicate it)
    scores = torch.full((b, k), float("-inf"))
    scores[:, 0] = 0.0  # (B, K)
    history = torch.zeros(b, k, 0, dtype=torch.long)  # (B, K, t)
    best = [None] * b  # (cost of the normalised score, ids)
    open_ = torch.tensor([n >= 1 for n in limits], dtype=torch.bool)  # (B,)
    for t in range(max(limits)):
        logits, state, feed, _ = net.step(prev, state, feed, enc)
        logp = torch.log_softmax(_checked(logits).float(), -1).view(b, k, -1)  # (B, K, V)
        vocab = logp.shape[-1]
        total = (scores[:, :, None] + logp).view(b, -1)  # (B, K·V)
        top, idx = total.topk(min(2 * k, total.shape[1]), dim=-1)  # (B, 2K): K alive after EOS
        origin, token = idx // vocab, idx % vocab  # (B, 2K)
        new_scores = torch.full((b, k), float("-inf"))
        new_origin = torch.zeros(b, k, dtype=torch.long)
        new_token = torch.full((b, k), PAD_ID, dtype=torch.long)
        top_l, origin_l, token_l = top.tolist(), origin.tolist(), token.tolist()
        for i in range(b):
            if not open_[i]:
                continue
            kept = 0
            for s, o, w in zip(top_l[i], origin_l[i], token_l[i], strict=True):
                if s == float("-inf"):
                    break
                if w == EOS_ID:
                    cost = _cost(s, t + 1, alpha)
                    if best[i] is None or cost < best[i][0]:
                        best[i] = (cost, history[i, o].tolist())
                    continue
                new_scores[i, kept], new_origin[i, kept], new_token[i, kept] = s, o, w
                kept += 1
                if kept == k:
                    break
            live = new_scores[i, 0].item()
            if t + 1 >= limits[i]:  # this source's last step: its best finished, or live, one
                if best[i] is None and kept:
                    best[i] = (_cost(live, t + 1, alpha), history[i, new_origin[i, 0]]
                               .tolist() + [int(new_token[i, 0])])
                open_[i] = False
                continue
            # stop when no live hypothesis can beat the best finished one: a live score only
            # falls, and its penalty grows at most to that of its limit's tokens
            if best[i] is not None:
                bound = _cost(live, limits[i] if live < 0 and alpha > 0 else t + 1, alpha)
                if kept == 0 or bound >= best[i][0]:
                    open_[i] = False
            elif kept == 0:
                open_[i] = False
        if not bool(open_.any()):
            break
        rows = (torch.arange(b)[:, None] * k + new_origin).view(-1)  # (B·K,) parent rows
        history = torch.cat([history[torch.arange(b)[:, None], new_origin],
                             new_token[:, :, None]], dim=2)
        scores = new_scores
        state = tuple(s[rows] for s in state)
        feed = None if feed is None else feed[rows]
        prev = new_token.view(-1)
    out = []
    for i in range(b):
        if best[i] is None:  # nothing finished within max_len: the best live hypothesis
            out.append(history[i, 0].tolist())
        else:
            out.append(best[i][1])
    return out
