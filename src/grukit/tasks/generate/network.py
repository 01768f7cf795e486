"""The language models: next-token logits from token ids, state carried step to step.

Four layouts share one interface, ``net(ids (B, T), state) -> (logits (B, T, V), state)``:

    stacked      Embedding → Dropout → RNN(num_layers, dropout between) → Dropout → Linear
                 (char-rnn's model; any cell of ``grukit.cells``)
    residual     Embedding → [RecurrentBlock] × L → Norm → Linear   (minGRU LM layout)
    hybrid       Embedding → blocks, every ``attention_every``-th one an AttentionBlock,
                 the others RecurrentBlocks of ``cell`` → Norm → Linear
    transformer  Embedding → [AttentionBlock] × L → Norm → Linear   (decoder-only, GPT-2
                 layout with rotary positions; torch modules and SDPA)

With ``tie_weights`` the output layer's weight is the embedding's (Press & Wolf 2017;
Inan et al. 2017). A stacked model's state is its RNN's ``hx``; a block model's is a list
with one entry per block (a recurrent block's ``hx``, an attention block's ``KVCache``).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ... import cells
from ...layers import AttentionBlock, KVCache, RecurrentBlock
from ...layers.blocks import NORMS, make_norm
from ..estimator import check_flag

EXTRA_MODELS = ("hybrid", "transformer")


def model_names() -> tuple[str, ...]:
    """The models a TextGenerator trains: every cell of ``grukit.cells`` (GRU-D excepted:
    it reads packed [x, m, δ]), then "hybrid" and "transformer"."""
    return cells.names() + EXTRA_MODELS


@dataclass(frozen=True)
class NetSpec:
    """The network's sizes (a slice of ``GeneratorConfig``); see ``TextGenerator``."""

    model: str
    vocab_size: int
    hidden: int
    layers: int
    cell: str = "gru"
    residual: bool | None = None
    heads: int = 4
    expansion: float = 1.0
    ff_expansion: float = 0.0
    attention_every: int = 2
    context: int = 128
    dropout: float = 0.0
    tie_weights: bool = True
    norm: str = "layer"

    @property
    def layout(self) -> str:
        if self.model in EXTRA_MODELS:
            return self.model
        residual = self.residual
        if residual is None:  # a cell without recurrent weights is built in blocks
            residual = not cells.get(self.model).recurrent
        return "residual" if residual else "stacked"

    def check(self) -> NetSpec:
        if self.model not in model_names():
            raise ValueError(f"unknown model {self.model!r}; choose one of "
                             f"{', '.join(model_names())}.")
        if self.cell not in cells.names():
            raise ValueError(f"unknown cell {self.cell!r} for the hybrid's recurrent layers; "
                             f"choose one of {', '.join(cells.names())}.")
        for name in ("vocab_size", "hidden", "layers", "heads", "attention_every", "context"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{name} must be a positive integer; got {v!r}.")
        if self.norm not in NORMS:  # a stacked model has no norm layer to refuse it
            raise ValueError(f"norm must be one of {', '.join(map(repr, NORMS))}; got "
                             f"{self.norm!r}.")
        check_flag(self.tie_weights, "tie_weights")  # "False" is truthy: it tied them
        if self.residual is not None:
            check_flag(self.residual, "residual", note=" (or None: blocks only for a cell "
                                                       "without recurrent weights)")
        if self.layout in EXTRA_MODELS and self.hidden % self.heads:
            raise ValueError(f"hidden={self.hidden} must divide by heads={self.heads} for "
                             f"the attention layers; choose heads among its divisors.")
        if self.layout == "hybrid" and self.attention_every > self.layers:
            raise ValueError(f"attention_every={self.attention_every} exceeds layers="
                             f"{self.layers}, so the hybrid would have no attention layer; "
                             f"give attention_every ≤ layers.")
        return self


class LanguageModel(nn.Module):
    """See the module docstring; ``spec``: a ``NetSpec``."""

    def __init__(self, spec: NetSpec):
        super().__init__()
        self.spec = s = spec.check()
        self.layout = s.layout
        h = s.hidden
        self.embed = nn.Embedding(s.vocab_size, h)
        if self.layout == "stacked":
            self.rnn = cells.get(s.model).build(h, h, num_layers=s.layers, dropout=s.dropout
                                                if s.layers > 1 else 0.0, batch_first=True)
            self.blocks, self.norm = None, None
        else:
            self.rnn = None
            self.blocks = nn.ModuleList(self._block(i) for i in range(s.layers))
            self.norm = make_norm(s.norm, h)
        self.head = nn.Linear(h, s.vocab_size)
        if s.tie_weights:
            self.head.weight = self.embed.weight
        if self.layout != "stacked":  # GPT-2's init for block stacks: N(0, 0.02)
            nn.init.normal_(self.embed.weight, std=0.02)
        else:  # AWD-LSTM's (Merity et al. 2018): small logits at the start when tied
            nn.init.uniform_(self.embed.weight, -0.1, 0.1)

    def _block(self, i: int) -> nn.Module:
        s = self.spec
        attention = s.layout == "transformer" or (
            s.layout == "hybrid" and (i + 1) % s.attention_every == 0)
        if attention:
            return AttentionBlock(s.hidden, s.heads, ff_expansion=s.ff_expansion or 4.0,
                                  dropout=s.dropout, norm=s.norm, window=s.context)
        cell = s.model if s.layout == "residual" else s.cell
        return RecurrentBlock(cell, s.hidden, expansion=s.expansion,
                              ff_expansion=s.ff_expansion, dropout=s.dropout, norm=s.norm)

    @property
    def recurrent(self) -> bool:
        """Whether the state stays the same size as the text grows (no attention layer)."""
        return self.layout in ("stacked", "residual")

    def features(self, ids: Tensor, state=None) -> tuple[Tensor, object]:
        """The last layer's output (B, T, H) before the output layer, and the new state."""
        x = self.embed(ids)  # (B, T, H)
        p = self.spec.dropout if self.training else 0.0
        if self.layout == "stacked":
            x = F.dropout(x, p, True) if p else x
            y, state = self.rnn(x, state)  # (B, T, H)
            return (F.dropout(y, p, True) if p else y), state
        state = [None] * len(self.blocks) if state is None else list(state)
        for k, block in enumerate(self.blocks):
            x, state[k] = block(x, state[k])
        return self.norm(x), state

    def forward(self, ids: Tensor, state=None) -> tuple[Tensor, object]:
        y, state = self.features(ids, state)
        return self.head(y), state  # (B, T, V)


def carry(state):
    """The state to carry into the next training window: recurrent states detached (the
    gradient stops at the window's start: truncated BPTT), key-value caches dropped (the
    attention of a hybrid sees its own window only)."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, KVCache):
        return None
    if isinstance(state, tuple):
        return tuple(carry(s) for s in state)
    return [carry(s) for s in state]


def state_bytes(state) -> int:
    """Bytes held by a state (recurrent tensors and key-value caches)."""
    if state is None:
        return 0
    if isinstance(state, Tensor):
        return state.nelement() * state.element_size()
    if isinstance(state, KVCache):
        return state.nbytes
    return sum(state_bytes(s) for s in state)


def count_params(net: nn.Module) -> int:
    """Parameters, a tied weight counted once."""
    return sum(p.numel() for p in {id(p): p for p in net.parameters()}.values())


def loss_on(net: LanguageModel, x: Tensor, y: Tensor, state=None):
    """(mean cross-entropy in nats per token, new state) of next-token prediction."""
    logits, state = net(x, state)  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)), state


def as_ids(x) -> Tensor:
    return torch.as_tensor(x, dtype=torch.long)
