"""Text -> token ids with a Hugging Face ``tokenizers`` tokenizer trained on the training
split (a well-kept, fast library: no hand-written tokenizer here).

Id 0 is padding (``Embedding(mask_zero=True)``), id 1 the unknown token, so words never seen
in training map to 1 (and so does the text "[PAD]", which the tokenizer reads as its special
token). An empty text becomes the single unknown token, so every sequence has
at least one step.
"""

from __future__ import annotations

import numpy as np

from .._subword import TrainedTokenizer, check_specials, read_tokenizer

PAD, UNK = "[PAD]", "[UNK]"
SPECIALS = (PAD, UNK)


class TextTokenizer(TrainedTokenizer):
    """``kind="word"`` (WordLevel: lower-cased words and punctuation) or ``"wordpiece"``
    (sub-words, so unseen inflections still share pieces). ``vocab_size`` caps the
    vocabulary; with "word", words seen fewer than ``min_frequency`` times in training become
    unknown; with "wordpiece", pieces seen fewer times are not learnt, so such a word is cut
    into smaller pieces it knows (down to its letters, which are always kept)."""

    def __init__(self, kind: str = "word", vocab_size: int = 8000, min_frequency: int = 1):
        if kind not in ("word", "wordpiece"):
            raise ValueError(f"tokenizer kind must be 'word' or 'wordpiece'; got {kind!r}.")
        self.kind, self.vocab_size, self.min_frequency = kind, vocab_size, min_frequency
        self.tokenizer = None

    def fit(self, texts: list[str]) -> TextTokenizer:
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

        if self.kind == "word":
            tok = Tokenizer(models.WordLevel(unk_token=UNK))
            trainer = trainers.WordLevelTrainer(vocab_size=self.vocab_size,
                                                min_frequency=self.min_frequency,
                                                special_tokens=list(SPECIALS),
                                                show_progress=False)
        else:
            tok = Tokenizer(models.WordPiece(unk_token=UNK))
            trainer = trainers.WordPieceTrainer(vocab_size=self.vocab_size,
                                                min_frequency=self.min_frequency,
                                                special_tokens=list(SPECIALS),
                                                show_progress=False)
        # (show_progress=False: the progress bar wrote blank lines to stdout, mid-output)
        # NFKC composes accents, so words keep them ("café" stays apart from "cafe")
        tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        tok.train_from_iterator(list(texts), trainer)
        check_specials(tok, SPECIALS, RuntimeError)  # the trainer keeps their order
        self.tokenizer = tok
        return self

    @classmethod
    def from_str(cls, text: str, kind: str = "word", vocab_size: int = 8000,
                 min_frequency: int = 1) -> TextTokenizer:
        """The tokenizer ``to_str`` wrote; refuses JSON that is not a tokenizer with [PAD]
        at 0 and [UNK] at 1."""
        out = cls(kind, vocab_size, min_frequency)
        out.tokenizer = read_tokenizer(text, SPECIALS)
        return out

    def encode(self, texts: list[str], max_len: int | None = None) -> list[np.ndarray]:
        """Each text's ids (T_i,), int64, cut to ``max_len``; never empty and never 0 (a
        text that holds the string "[PAD]" gets the unknown token there, not padding)."""
        out = []
        for enc in self._fitted().encode_batch([str(t) for t in texts]):
            ids = np.asarray(enc.ids if max_len is None else enc.ids[:max_len], dtype=np.int64)
            ids[ids == 0] = 1  # (T_i,); id 0 is padding, which only _pad writes
            out.append(ids if len(ids) else np.array([1], dtype=np.int64))
        return out

    def tokens(self, text: str, max_len: int | None = None) -> list[str]:
        """The tokens ``encode`` gives for one text (what attention weights refer to)."""
        toks = self._fitted().encode(str(text)).tokens
        toks = toks if max_len is None else toks[:max_len]
        return toks or [UNK]
