"""GRU4Rec's network and losses (Hidasi et al. 2016; Hidasi & Karatzoglou 2018).

Per step, for a batch of B sessions (one per slot):

    e = dropout(E[item])                       (B, D)   item embedding
    h = GRU(e, h)                              (B, H)   one GRU step per layer
    o = dropout(h)
    r = o W_outᵀ + b_out  over candidates      (B, C)   C = B in-batch targets + S samples

Losses over the candidate scores r (row b's positive is column b):

    cross-entropy:  −log softmax(r − α log Q)_bb          (α = logq; Q: popularity for the B
                                                           in-batch candidates, drawn as the
                                                           data is, popularity^sample_alpha
                                                           for the S samples, as GRU4Rec)
    BPR-max:        −log Σ_j s_j σ(r_bb − r_bj) + λ Σ_j s_j r_bj²,   s = softmax over j ≠ b
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ... import nn as gnn
from ..estimator import check_flag

CELLS = {"gru": gnn.GRUCell, "lstm": gnn.LSTMCell}


class GRU4RecNet(nn.Module):
    """Embedding → stacked GRU (or LSTM) cells → item scores; ``tied`` shares E and W_out.

    The carried state is (L, B, S): S = H for the GRU, S = 2H for the LSTM ([h, c] side by
    side), so resetting a slot's state is the same zeroing for both cells."""

    def __init__(self, n_items: int, hidden: int = 100, layers: int = 1, tied: bool = False,
                 dropout_embedding: float = 0.0, dropout_hidden: float = 0.0,
                 cell: str = "gru"):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}; got {cell!r}.")
        tied = check_flag(tied, "tied", "GRU4RecNet: ")  # "False" is truthy: it tied them
        self.n_items, self.hidden, self.tied, self.cell = n_items, hidden, tied, cell
        self.dropout_embedding, self.dropout_hidden = dropout_embedding, dropout_hidden
        self.embedding = nn.Embedding(n_items, hidden)
        nn.init.normal_(self.embedding.weight, std=0.01)
        self.cells = nn.ModuleList(CELLS[cell](hidden, hidden) for _ in range(layers))
        if not tied:
            self.out_weight = nn.Parameter(torch.randn(n_items, hidden) * 0.01)
        self.out_bias = nn.Parameter(torch.zeros(n_items))

    @property
    def output_weight(self) -> Tensor:
        return self.embedding.weight if self.tied else self.out_weight

    @property
    def state_size(self) -> int:
        return self.hidden * (2 if self.cell == "lstm" else 1)

    def init_state(self, batch: int) -> Tensor:
        return self.embedding.weight.new_zeros(len(self.cells), batch, self.state_size)

    def step(self, items: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """items (B,) indices, h (L, B, S) -> output (B, H), new state (L, B, S)."""
        x = F.dropout(self.embedding(items), self.dropout_embedding, self.training)
        states = []
        for layer, cell in enumerate(self.cells):
            if self.cell == "lstm":
                hx, cx = h[layer].split(self.hidden, dim=-1)  # each (B, H)
                x, c = cell(x, (hx, cx))
                states.append(torch.cat([x, c], dim=-1))  # (B, 2H)
            else:
                x = cell(x, h[layer])
                states.append(x)
        return F.dropout(x, self.dropout_hidden, self.training), torch.stack(states)

    def scores(self, out: Tensor, candidates: Tensor | None = None) -> Tensor:
        """out (B, H) -> scores (B, C) over ``candidates`` (C,), or over all items."""
        if candidates is None:
            return out @ self.output_weight.t() + self.out_bias
        return out @ self.output_weight[candidates].t() + self.out_bias[candidates]


def cross_entropy_loss(scores: Tensor, log_q: Tensor | None = None, logq: float = 0.0) -> Tensor:
    """scores (B, C) with positives on the diagonal; optional logQ correction by ``logq``
    times ``log_q`` (C,), the log sampling probability of each candidate."""
    if logq and log_q is None:  # the correction was left out without a word
        raise ValueError(f"logq={logq!r} corrects the scores by log_q, the log sampling "
                         f"probability of each of the {scores.shape[1]} candidates; give "
                         f"log_q, or logq=0.")
    if logq:
        if log_q.shape != scores.shape[1:]:
            raise ValueError(f"log_q must be (C,) = ({scores.shape[1]},), one per candidate "
                             f"column of scores; got shape {tuple(log_q.shape)}.")
        scores = scores - logq * log_q  # (C,) broadcast over rows
    target = torch.arange(scores.shape[0], device=scores.device)
    return F.cross_entropy(scores, target)


def bpr_max_loss(scores: Tensor, reg: float = 1.0, elu: float = 0.0) -> Tensor:
    """BPR-max with score regularisation; scores (B, C), positives on the diagonal.

    With ``elu`` > 0 the scores first pass through ELU with α = ``elu``, as the official
    GRU4Rec's ``bpr_max_loss_with_elu`` does (its default 0.5): r ← r for r > 0,
    α (eˣ − 1) below, which bounds how far a negative score can fall. Then, with s_j the
    softmax of the negatives' scores, L = −log Σ_j s_j σ(r_i − r_j) + λ Σ_j s_j r_j².
    (ELU is monotonic: the ranking of the items does not change, only the training.)"""
    if elu:
        scores = F.elu(scores, alpha=float(elu))
    b = scores.shape[0]
    eye = torch.zeros_like(scores, dtype=torch.bool)
    eye[torch.arange(b), torch.arange(b)] = True
    pos = scores.diagonal().unsqueeze(1)  # (B, 1)
    weights = torch.softmax(scores.masked_fill(eye, float("-inf")), dim=1)  # over negatives
    ranked = (weights * torch.sigmoid(pos - scores)).sum(1)
    return (-torch.log(ranked + 1e-24) + reg * (weights * scores ** 2).sum(1)).mean()
