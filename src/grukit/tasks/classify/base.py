"""What the text and sequence classifiers share: training through ``Sequential.fit`` (with a
stratified validation split and early stopping), batched prediction, attention weights,
evaluation and k-fold cross-validation. Subclasses turn raw inputs into padded tensors."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ...models import EarlyStopping, EpochTimer, History
from .labels import encode_labels
from .metrics import classification_scores
from .network import build_network


def stratified_split(y: np.ndarray, fraction: float, seed: int):
    """Indices (train, held out) with ``fraction`` held out, class proportions kept when
    every class has two rows or more."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    counts = np.bincount(y)
    strat = y if counts[counts > 0].min() >= 2 else None
    return train_test_split(idx, test_size=fraction, random_state=seed, stratify=strat)


class RecurrentClassifier:
    """Base class; ``config`` is the subclass' dataclass, keyword arguments override it."""

    config_class = None

    def __init__(self, config=None, **overrides):
        base = config if config is not None else self.config_class()
        self.config = dataclasses.replace(base, **overrides)
        self.model = None

    # -- subclass hooks ----------------------------------------------------------------------
    def _fit_inputs(self, inputs) -> None:  # learn the tokenizer / scaling on training data
        raise NotImplementedError

    def _items(self, inputs) -> list[np.ndarray]:  # one array per example, (T_i, ...)
        raise NotImplementedError

    def _pad(self, items: list[np.ndarray], steps: int) -> torch.Tensor:
        raise NotImplementedError

    def _head(self, steps: int) -> list:
        raise NotImplementedError

    def _prepare(self, inputs):  # check and normalize raw inputs before any split
        return inputs

    def _count(self, inputs) -> int:
        return len(inputs)

    def _take(self, inputs, idx):
        return [inputs[i] for i in idx]

    # -- training ----------------------------------------------------------------------------
    def fit(self, inputs, labels, *, validation_data=None, validation_split: float | None = None,
            epochs: int | None = None, callbacks=None, verbose=0) -> History:
        """Train on ``inputs`` and ``labels``; returns the ``History`` (per-epoch ``loss``,
        ``accuracy``, ``val_loss``, ``val_accuracy`` and ``epoch_time`` in seconds).

        Validation: ``validation_data=(inputs, labels)``, or else a stratified
        ``validation_split`` of the training rows (``config.validation_split`` when None; 0
        trains on everything for ``epochs`` epochs). With validation, training stops after
        ``config.patience`` epochs without a lower ``val_loss`` and keeps the best weights.
        """
        cfg = self.config
        inputs = self._prepare(inputs)
        n = self._count(inputs)
        if n != len(labels):
            raise ValueError(f"there are {n} inputs but {len(labels)} labels; they must match.")
        self.classes_, y = encode_labels(labels)
        lookup = {c: i for i, c in enumerate(self.classes_)}
        split = cfg.validation_split if validation_split is None else validation_split
        val = None
        if validation_data is not None:
            v_inputs, v_labels = validation_data
            unknown = sorted({str(v) for v in v_labels} - {str(c) for c in self.classes_})
            if unknown:
                raise ValueError(f"validation labels {unknown[:5]} do not occur in training; "
                                 f"give validation data with the training classes.")
            val = (v_inputs, np.array([lookup[v] for v in np.asarray(v_labels)]))
        elif split:
            if not 0 < split < 1:
                raise ValueError(f"validation_split must be in [0, 1); got {split}.")
            tr, va = stratified_split(y, split, cfg.seed)
            val = (self._take(inputs, va), y[va])
            inputs, y = self._take(inputs, tr), y[tr]
        self._fit_inputs(inputs)
        items = self._items(inputs)
        v_items = self._items(val[0]) if val is not None else []
        self.steps_ = max(len(a) for a in items + v_items)  # T of the training tensors
        torch.manual_seed(cfg.seed)
        self.model = build_network(self._head(self.steps_), cfg.model, cfg.hidden,
                                   len(self.classes_), cfg.dropout)
        self.model.build()
        self.model.compile(torch.optim.Adam(self.model.parameters(), lr=cfg.learning_rate),
                           "sparse_categorical_crossentropy", ["accuracy"])
        timer = EpochTimer()
        cbs = [timer] + list(callbacks or [])
        val_t = None
        if val is not None:
            val_t = (self._pad(v_items, self.steps_), torch.as_tensor(val[1]))
            if cfg.patience is not None:
                cbs.append(EarlyStopping("val_loss", patience=cfg.patience,
                                         restore_best_weights=True))
        history = self.model.fit(self._pad(items, self.steps_), torch.as_tensor(y),
                                 batch_size=cfg.batch_size, epochs=epochs or cfg.epochs,
                                 verbose=verbose, callbacks=cbs, validation_data=val_t,
                                 seed=cfg.seed)
        history.history["epoch_time"] = timer.seconds
        self.history_ = history
        return history

    # -- inference ---------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.model is None:
            raise RuntimeError(f"{type(self).__name__} is not trained; call fit first.")

    def _batches(self, inputs):
        """Each batch padded to its own longest item: (index array, padded tensor)."""
        items = self._items(inputs)
        order = np.argsort([len(a) for a in items], kind="stable")  # similar lengths together
        bs = max(self.config.batch_size, 64)
        for i in range(0, len(order), bs):
            idx = order[i:i + bs]
            chunk = [items[j] for j in idx]
            yield idx, self._pad(chunk, max(len(a) for a in chunk)), chunk

    def predict_proba(self, inputs) -> np.ndarray:
        """Class probabilities (N, K), columns in the order of ``classes_``."""
        self._check_fitted()
        out = np.zeros((self._count(inputs), len(self.classes_)), dtype=np.float32)
        self.model.eval()
        with torch.no_grad():
            for idx, x, _ in self._batches(inputs):
                out[idx] = self.model(x).numpy()
        return out

    def predict(self, inputs) -> np.ndarray:
        """The most probable class of each input, as the labels given to ``fit``."""
        proba = self.predict_proba(inputs)  # (N, K)
        return self.classes_[proba.argmax(1)]

    def attention(self, inputs) -> list[np.ndarray]:
        """Each input's attention weights over its steps (T_i,), summing to 1: how much each
        step (token) contributed to the pooled vector the prediction is made from."""
        self._check_fitted()
        pool = next(la for la in self.model.layers if type(la).__name__ == "AttentionPooling")
        out: list = [None] * self._count(inputs)
        self.model.eval()
        with torch.no_grad():
            for idx, x, chunk in self._batches(inputs):
                self.model(x)
                w = pool.last_weights.numpy()  # (B, T)
                for row, j in enumerate(idx):
                    out[j] = w[row, :len(chunk[row])].copy()
        return out

    def evaluate(self, inputs, labels) -> dict:
        """``{"accuracy", "macro_f1", "confusion", "classes", "n"}`` on labelled data."""
        return classification_scores(np.asarray(labels), self.predict(inputs), self.classes_)

    def cross_validate(self, inputs, labels, folds: int = 5, baseline=None) -> dict:
        from .crossval import cross_validate

        return cross_validate(self, inputs, labels, folds=folds, baseline=baseline)
