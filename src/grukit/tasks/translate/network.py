"""The encoder–decoder: a bidirectional recurrent encoder (a ``grukit.nn`` module built from
its cell's spec, run with ``lengths`` so padding is never computed and the backward
direction starts at each source's own last token), a bridge from the encoder's final states
to the decoder's first, and the attentional decoder of ``grukit.layers.seq2seq`` with input
feeding; the output layer shares its weights with the target embedding (Press and Wolf
2017), so ``h̃`` has the embedding's width::

    K = enc(E_src[x], lengths)              # (B, S, 2H)
    s_0 = tanh(W_b [h_fwd; h_bwd])          # (B, H) per state (LSTM: h and c)
    h̃_t, s_t = step(E_tgt[y_{t−1}], s_{t−1}, h̃_{t−1}, K)
    logits_t = h̃_t E_tgtᵀ + b               # (B, V_tgt)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ... import cells
from ...layers.seq2seq import AttentionalDecoderCell, length_mask
from .tokenizer import BOS_ID, PAD_ID


@dataclass(frozen=True)
class Shape:
    src_vocab: int
    tgt_vocab: int
    embed: int = 256
    hidden: int = 256
    cell: str = "gru"
    attention: str = "bahdanau"
    dropout: float = 0.2
    shared_embeddings: bool = False  # joint vocabulary: one table for source and target


@dataclass
class Encoded:
    keys: Tensor  # (B, S, 2H)
    projected: Tensor | None  # attention's precomputed keys (B, S, ·)
    mask: Tensor  # (B, S) bool
    state: tuple[Tensor, ...]  # the decoder's first state, each (B, H)

    def select(self, index: Tensor) -> Encoded:
        """The rows ``index`` (beam search repeats each source K times)."""
        return Encoded(self.keys[index], None if self.projected is None else
                       self.projected[index], self.mask[index],
                       tuple(s[index] for s in self.state))


class Seq2Seq(nn.Module):
    def __init__(self, shape: Shape):
        super().__init__()
        spec = cells.get(shape.cell)
        if spec.cell_class() is None:
            ok = [s.name for s in cells.all_specs() if s.cell_module is not None]
            raise ValueError(f"cell {shape.cell!r} has no one-step cell for the decoder; "
                             f"choose one of {', '.join(ok)}.")
        self.shape, self.spec = shape, spec
        self.tgt_embed = nn.Embedding(shape.tgt_vocab, shape.embed, padding_idx=PAD_ID)
        self.src_embed = self.tgt_embed if shape.shared_embeddings else \
            nn.Embedding(shape.src_vocab, shape.embed, padding_idx=PAD_ID)
        for emb in {id(e): e for e in (self.src_embed, self.tgt_embed)}.values():
            nn.init.normal_(emb.weight, std=shape.embed ** -0.5)
            with torch.no_grad():
                emb.weight[PAD_ID].zero_()
        self.encoder = spec.build(shape.embed, shape.hidden, bidirectional=True,
                                  batch_first=True)
        self.bridge = nn.ModuleList(nn.Linear(2 * shape.hidden, shape.hidden)
                                    for _ in spec.states)
        self.decoder = AttentionalDecoderCell(shape.embed, shape.hidden, 2 * shape.hidden,
                                              shape.embed, cell=shape.cell,
                                              attention=shape.attention,
                                              dropout=shape.dropout)
        self.out_bias = nn.Parameter(torch.zeros(shape.tgt_vocab))
        self.drop = nn.Dropout(shape.dropout)

    def encode(self, src: Tensor, lengths: Tensor) -> Encoded:
        """src (B, S) ids right-padded with 0, lengths (B,) -> ``Encoded``."""
        x = self.drop(self.src_embed(src))  # (B, S, E)
        keys, h_n = self.encoder(x, lengths=lengths)  # (B, S, 2H), (2, B, H) or a tuple
        finals = h_n if isinstance(h_n, tuple) else (h_n,)
        state = tuple(torch.tanh(b(torch.cat([f[0], f[1]], dim=-1)))  # (B, H)
                      for b, f in zip(self.bridge, finals, strict=True))
        keys = self.drop(keys)
        return Encoded(keys, self.decoder.precompute(keys), length_mask(lengths, src.shape[1]),
                       state)

    def logits(self, out: Tensor) -> Tensor:
        """h̃ (..., E) -> (..., V_tgt) through the tied embedding."""
        return out @ self.tgt_embed.weight.t() + self.out_bias

    def step(self, prev: Tensor, state, feed, enc: Encoded):
        """prev (B,) ids -> (logits (B, V), state, feed, weights (B, S) or None)."""
        out, state, weights = self.decoder(self.drop(self.tgt_embed(prev)), state, feed,
                                           enc.keys, enc.projected, enc.mask)
        return self.logits(out), state, out, weights

    def forward(self, src: Tensor, lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: tgt_in (B, T) = BOS + target (padded) -> logits (B, T, V). Steps
        past the longest target in the batch are never run; shorter targets' padded steps
        are masked out of the loss by the caller."""
        enc = self.encode(src, lengths)
        state, feed, outs = enc.state, None, []
        emb = self.drop(self.tgt_embed(tgt_in))  # (B, T, E)
        for t in range(tgt_in.shape[1]):
            out, state, _ = self.decoder(emb[:, t], state, feed, enc.keys, enc.projected,
                                         enc.mask)
            feed = out
            outs.append(out)
        return self.logits(torch.stack(outs, dim=1))  # (B, T, V)


def pad_batch(seqs: list, bos: bool = False, eos: int | None = None) -> tuple[Tensor, Tensor]:
    """Ragged id arrays -> (ids (B, T) right-padded with 0, lengths (B,)); ``bos`` puts BOS
    first, ``eos`` appends that id."""
    rows = []
    for s in seqs:
        r = list(int(i) for i in s)
        if bos:
            r = [BOS_ID] + r
        if eos is not None:
            r = r + [eos]
        rows.append(r)
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    out = torch.full((len(rows), int(lengths.max())), PAD_ID, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r, dtype=torch.long)
    return out, lengths


def count_params(shape: Shape) -> int:
    """Parameters of the model ``shape`` describes (a shared table counted once)."""
    with torch.device("meta"):  # shapes only: nothing is allocated or initialised
        net = Seq2Seq(shape)
    return sum(p.numel() for p in net.parameters())


def matched_hidden(shape: Shape, params: int) -> int:
    """The recurrent width at which ``shape`` (its cell, vocabularies, embedding and
    attention kept) has the parameter count closest to ``params``: GRU against LSTM at
    equal parameters (``grukit compare --task translate``)."""
    lo, hi = 1, 4 * shape.hidden  # the cells differ in gates: 1 to 4 per unit
    while lo < hi:  # the count grows with the width
        mid = (lo + hi) // 2
        if count_params(Shape(**(shape.__dict__ | {"hidden": mid}))) < params:
            lo = mid + 1
        else:
            hi = mid
    below = max(lo - 1, 1)
    return min((below, lo), key=lambda h: abs(count_params(
        Shape(**(shape.__dict__ | {"hidden": h}))) - params))
