"""The GRU4Rec recommender: configuration, session-parallel training, recommendations."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ...data.sessions import Sessions
from .batching import session_parallel
from .evaluate import evaluate
from .model import GRU4RecNet, bpr_max_loss, cross_entropy_loss

LOSSES = ("cross-entropy", "bpr-max")
OPTIMIZERS = ("adagrad", "adam")


@dataclass
class GRU4RecConfig:
    """Defaults chosen on a validation split (the 7 days before the test days) of the
    Diginetica sample, never on its test days: tied embeddings help most on sparse data."""

    hidden: int = 100
    layers: int = 1
    loss: str = "cross-entropy"
    n_sample: int = 1024  # shared popularity-sampled negatives per mini-batch
    sample_alpha: float = 0.5  # sampling ∝ popularity^alpha (0: uniform, 1: popularity)
    logq: float = 0.0  # logQ correction weight for cross-entropy (1.0: full correction)
    bpreg: float = 1.0  # BPR-max score regularisation λ
    batch_size: int = 32
    epochs: int = 20
    learning_rate: float = 0.05
    optimizer: str = "adagrad"
    tied: bool = True  # share input and output item embeddings
    dropout_embedding: float = 0.2
    dropout_hidden: float = 0.2
    seed: int = 0

    def check(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}; got {self.loss!r}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {self.optimizer!r}.")
        for name in ("hidden", "layers", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}.")


class GRU4Rec:
    """Session-based next-item recommender (Hidasi et al.). Constructor stores the config;
    ``fit(train_sessions)`` trains; ``recommend(items, k)`` ranks the next item."""

    def __init__(self, **config):
        self.config = GRU4RecConfig(**config)

    def fit(self, train: Sessions, verbose: bool = False) -> dict:
        cfg = self.config
        cfg.check()
        if train.n_sessions < cfg.batch_size:
            raise ValueError(f"{train.n_sessions} training sessions cannot fill batch_size="
                             f"{cfg.batch_size} slots; lower batch_size.")
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        self.train_data = train
        self.net = GRU4RecNet(train.n_items, cfg.hidden, cfg.layers, cfg.tied,
                              cfg.dropout_embedding, cfg.dropout_hidden)
        opt_cls = torch.optim.Adagrad if cfg.optimizer == "adagrad" else torch.optim.Adam
        opt = opt_cls(self.net.parameters(), lr=cfg.learning_rate)
        q = torch.as_tensor(train.popularity() ** cfg.sample_alpha, dtype=torch.float32)
        q = q / q.sum()  # (n_items,) sampling distribution
        log_q_all = torch.log(q)
        history = {"loss": [], "seconds": []}
        for epoch in range(cfg.epochs):
            self.net.train()
            start, total, steps = time.perf_counter(), 0.0, 0
            h = self.net.init_state(cfg.batch_size)  # (L, B, H)
            order = rng.permutation(train.n_sessions)
            for inputs, targets, reset, _ in session_parallel(train, cfg.batch_size, order):
                h = h.detach()
                h[:, torch.from_numpy(reset)] = 0  # new sessions start from zero state
                out, h = self.net.step(torch.from_numpy(inputs), h)
                tgt = torch.from_numpy(targets)
                if cfg.n_sample:
                    neg = torch.multinomial(q, cfg.n_sample, replacement=True)
                    cand = torch.cat([tgt, neg])  # (B + S,)
                else:
                    cand = tgt
                scores = self.net.scores(out, cand)  # (B, B + S)
                if cfg.loss == "cross-entropy":
                    loss = cross_entropy_loss(scores, log_q_all[cand], cfg.logq)
                else:
                    loss = bpr_max_loss(scores, cfg.bpreg)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch + 1}; "
                                             f"lower learning_rate (now {cfg.learning_rate}).")
                opt.zero_grad()
                loss.backward()
                opt.step()
                total, steps = total + loss.item(), steps + 1
            history["loss"].append(total / max(steps, 1))
            history["seconds"].append(time.perf_counter() - start)
            if verbose:
                print(f"epoch {epoch + 1}/{cfg.epochs}: loss {history['loss'][-1]:.4f} "
                      f"({history['seconds'][-1]:.1f} s)")
        self.history = history
        return history

    # -- inference ---------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "net"):
            raise RuntimeError("this GRU4Rec is not fitted yet; call fit(train_sessions) first.")

    def scorer(self, batch_size: int):
        """A ``score_step`` for ``evaluate``: carries one state per slot across steps."""
        self._check_fitted()
        self.net.eval()
        state = {"h": self.net.init_state(batch_size)}

        def score_step(inputs, reset, active):
            with torch.no_grad():
                h = state["h"]
                h[:, torch.from_numpy(reset)] = 0
                out, state["h"] = self.net.step(torch.from_numpy(inputs), h)
                return self.net.scores(out).numpy()

        return score_step

    def evaluate(self, test: Sessions, batch_size: int = 64) -> dict[str, float]:
        return evaluate(self.scorer(batch_size), test, batch_size)

    def recommend(self, session_items, k: int = 20) -> list:
        """The k most likely next items (original ids) after ``session_items`` (original ids,
        oldest first). Items unseen in training are skipped; an empty history gets the most
        popular items."""
        self._check_fitted()
        index = {v: i for i, v in enumerate(self.train_data.vocab.tolist())}
        known = [index[v] for v in session_items if v in index]
        if not known:
            top = np.argsort(-self.train_data.popularity(), kind="stable")[:k]
            return self.train_data.vocab[top].tolist()
        self.net.eval()
        with torch.no_grad():
            h = self.net.init_state(1)
            for item in known:
                out, h = self.net.step(torch.tensor([item]), h)
            scores = self.net.scores(out)[0]
        top = torch.topk(scores, min(k, len(scores))).indices.numpy()
        return self.train_data.vocab[top].tolist()

    def get_config(self) -> dict:
        return asdict(self.config)
