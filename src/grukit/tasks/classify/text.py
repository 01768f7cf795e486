"""``TextClassifier``: tokenizer (trained on the training split) -> Embedding(mask_zero) ->
GRU/LSTM (or bidirectional) -> AttentionPooling -> Dense(softmax); the attention weights
name the tokens a prediction rests on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...layers import Dropout, Embedding
from .base import RecurrentClassifier, _whole
from .tokenizer import TextTokenizer


@dataclass(frozen=True)
class TextConfig:
    """Settings of a ``TextClassifier``.

    Attributes:
        model (str): a cell of ``grukit.cells`` (gru, lstm, rnn, mingru, lngru) or bi + it.
        embed_dim (int): token embedding width.
        hidden (int): recurrent units.
        dropout (float): dropout on the embeddings and on the pooled vector.
        tokenizer (str): "word" or "wordpiece", trained on the training texts only.
        vocab_size (int): most tokens in the vocabulary.
        min_frequency (int): fewest occurrences for a token to enter it.
        max_len (int): tokens kept per text (the first ones).
        epochs (int): the epoch cap (early stopping usually ends training first).
        batch_size (int): texts a batch.
        learning_rate (float): Adam's learning rate.
        validation_split (float): share held out for early stopping (0 turns it off).
        patience (int | None): epochs without improvement before stopping.
        seed (int): seeds the weights, the split and the batches.
    """

    model: str = "gru"  # a cell of grukit.cells (gru, lstm, rnn, mingru) or bi + it
    embed_dim: int = 64
    hidden: int = 64
    dropout: float = 0.3  # on the embeddings and on the pooled vector
    tokenizer: str = "word"  # word or wordpiece
    vocab_size: int = 8000
    min_frequency: int = 1
    max_len: int = 64  # tokens kept per text (the first ones)
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 2e-3
    validation_split: float = 0.1  # for early stopping; 0 turns it off
    patience: int | None = 3
    seed: int = 0


class TextClassifier(RecurrentClassifier):
    """Classify texts (a list of strings) into the labels seen in ``fit``.

    >>> clf = TextClassifier(epochs=10)
    >>> clf.fit(texts, labels).history_           # History: loss, val_loss, epoch_time
    >>> clf.predict(["great phone"]), clf.predict_proba(["great phone"])
    >>> clf.explain("not good at all", top=3)     # [(token, attention weight), ...]
    >>> clf.save("model/"); TextClassifier.load("model/").predict(["great phone"])

    An empty text is a valid input (it becomes the unknown token); a missing one (None,
    NaN) is refused with the row's number. A DataFrame of one column is read as its texts.
    """

    config_class = TextConfig

    def _prepare(self, texts) -> list[str]:
        if isinstance(texts, (str, bytes)):
            raise TypeError("pass a list of texts, not a single string (wrap it: [text]).")
        if getattr(texts, "ndim", None) == 2 and hasattr(texts, "columns"):  # a DataFrame
            # iterates over its column names, which were read as the texts
            if texts.shape[1] != 1:
                names = [str(c) for c in texts.columns]
                which = f"df[{names[0]!r}]" if names else "a Series or a list"
                raise ValueError(f"the texts are a DataFrame of {len(names)} columns "
                                 f"{names[:10]}; pass its column of texts ({which}).")
            texts = texts.iloc[:, 0]  # (N,)
        try:
            texts = list(texts)
        except TypeError:
            raise TypeError(f"pass a list of texts; got a {type(texts).__name__}.") from None
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                import pandas as pd  # isna knows every missing marker: None, NaN, pd.NA, NaT

                what = "missing (None/NaN)" if np.ndim(t) == 0 and pd.isna(t) \
                    else f"of type {type(t).__name__}, not a string"
                raise ValueError(f"text {i} is {what}; give a string (\"\" for an empty "
                                 f"text) or drop the row.")
            try:  # the tokenizer (Rust) takes valid Unicode only
                t.encode("utf-8")
            except UnicodeEncodeError as err:
                raise ValueError(f"text {i} holds {t[err.start]!r} at position {err.start}, a "
                                 f"lone surrogate that is not valid Unicode (bytes decoded with "
                                 f"errors='surrogateescape'?); decode the text with its "
                                 f"encoding, or drop that character.") from None
        return texts

    def _extra_state(self) -> tuple[dict, dict]:
        return {}, {"tokenizer": self.tokenizer_.to_str()}

    def _export_files(self, path: str) -> None:
        from ..export import beside, write_text

        write_text(beside(path, "tokenizer"), self.tokenizer_.to_str())

    def _restore_extra(self, tensors: dict, extras: dict) -> None:
        cfg = self.config
        self.tokenizer_ = TextTokenizer.from_str(extras["tokenizer"], cfg.tokenizer,
                                                 cfg.vocab_size, cfg.min_frequency)

    def _fit_inputs(self, texts) -> None:
        cfg = self.config
        self.tokenizer_ = TextTokenizer(cfg.tokenizer, cfg.vocab_size,
                                        cfg.min_frequency).fit(texts)

    def _items(self, texts) -> list[np.ndarray]:
        return self.tokenizer_.encode(list(texts), self.config.max_len)

    def _pad(self, items, steps: int) -> torch.Tensor:
        out = torch.zeros(len(items), steps, dtype=torch.long)  # (B, T), 0 = padding
        for i, ids in enumerate(items):
            out[i, :len(ids)] = torch.from_numpy(ids[:steps])
        return out

    def _head(self, steps: int) -> list:
        cfg = self.config
        head = [Embedding(self.tokenizer_.size, cfg.embed_dim, mask_zero=True,
                          input_shape=(steps,))]
        return head + ([Dropout(cfg.dropout)] if cfg.dropout else [])

    def explain(self, text: str, top: int = 5) -> list[tuple[str, float]]:
        """The ``top`` tokens of ``text`` with the largest attention weights, largest first
        (``top`` 1 or more)."""
        _whole("top", top)
        weights = self.attention([text])[0]
        tokens = self.tokenizer_.tokens(text, self.config.max_len)
        order = np.argsort(-weights, kind="stable")[:top]
        return [(tokens[i], float(weights[i])) for i in order]
