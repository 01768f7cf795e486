"""Text -> token ids with a Hugging Face ``tokenizers`` tokenizer trained on the training
split (a well-kept, fast library: no hand-written tokenizer here).

Id 0 is padding (``Embedding(mask_zero=True)``), id 1 the unknown token, so words never seen
in training map to 1. An empty text becomes the single unknown token, so every sequence has
at least one step.
"""

from __future__ import annotations

import numpy as np

PAD, UNK = "[PAD]", "[UNK]"


class TextTokenizer:
    """``kind="word"`` (WordLevel: lower-cased words and punctuation) or ``"wordpiece"``
    (sub-words, so unseen inflections still share pieces). ``vocab_size`` caps the
    vocabulary; words seen fewer than ``min_frequency`` times in training become unknown."""

    def __init__(self, kind: str = "word", vocab_size: int = 8000, min_frequency: int = 1):
        if kind not in ("word", "wordpiece"):
            raise ValueError(f"tokenizer kind must be 'word' or 'wordpiece'; got {kind!r}.")
        self.kind, self.vocab_size, self.min_frequency = kind, vocab_size, min_frequency
        self.tokenizer = None

    def fit(self, texts: list[str]) -> TextTokenizer:
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

        specials = [PAD, UNK]
        if self.kind == "word":
            tok = Tokenizer(models.WordLevel(unk_token=UNK))
            trainer = trainers.WordLevelTrainer(vocab_size=self.vocab_size,
                                                min_frequency=self.min_frequency,
                                                special_tokens=specials)
        else:
            tok = Tokenizer(models.WordPiece(unk_token=UNK))
            trainer = trainers.WordPieceTrainer(vocab_size=self.vocab_size,
                                                min_frequency=self.min_frequency,
                                                special_tokens=specials)
        tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(),
                                               normalizers.StripAccents()])
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        tok.train_from_iterator(list(texts), trainer)
        if tok.token_to_id(PAD) != 0 or tok.token_to_id(UNK) != 1:  # trainer keeps the order
            raise RuntimeError("tokenizer: [PAD] and [UNK] did not get ids 0 and 1.")
        self.tokenizer = tok
        return self

    def to_str(self) -> str:
        """The trained tokenizer as Hugging Face ``tokenizers`` JSON (what ``save`` stores)."""
        return self._fitted().to_str()

    @classmethod
    def from_str(cls, text: str, kind: str = "word", vocab_size: int = 8000,
                 min_frequency: int = 1) -> TextTokenizer:
        """The tokenizer ``to_str`` wrote; refuses JSON that is not a tokenizer with [PAD]
        at 0 and [UNK] at 1."""
        from tokenizers import Tokenizer

        out = cls(kind, vocab_size, min_frequency)
        try:
            tok = Tokenizer.from_str(text)
        except Exception as err:  # tokenizers raises its own Exception type for bad JSON
            raise ValueError(f"the stored tokenizer cannot be read ({err}); save the model "
                             f"again.") from None
        if tok.token_to_id(PAD) != 0 or tok.token_to_id(UNK) != 1:
            raise ValueError("the stored tokenizer does not have [PAD] at id 0 and [UNK] at "
                             "id 1; save the model again.")
        out.tokenizer = tok
        return out

    @property
    def size(self) -> int:
        return self._fitted().get_vocab_size()

    def _fitted(self):
        if self.tokenizer is None:
            raise RuntimeError("call fit(texts) on the tokenizer first.")
        return self.tokenizer

    def encode(self, texts: list[str], max_len: int | None = None) -> list[np.ndarray]:
        """Each text's ids (T_i,), int64, cut to ``max_len``; never empty."""
        out = []
        for enc in self._fitted().encode_batch([str(t) for t in texts]):
            ids = np.asarray(enc.ids if max_len is None else enc.ids[:max_len], dtype=np.int64)
            out.append(ids if len(ids) else np.array([1], dtype=np.int64))
        return out

    def tokens(self, text: str, max_len: int | None = None) -> list[str]:
        """The tokens ``encode`` gives for one text (what attention weights refer to)."""
        toks = self._fitted().encode(str(text)).tokens
        toks = toks if max_len is None else toks[:max_len]
        return toks or [UNK]
