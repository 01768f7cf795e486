"""Sub-word vocabularies for translation: BPE or unigram from Hugging Face ``tokenizers``
(a well-kept, fast library: no hand-written tokenizer), trained on the training side only.

Ids 0-3 are ``[PAD]``, ``[UNK]``, ``[BOS]``, ``[EOS]``. Text is NFKC-normalised, split at
whitespace with the Metaspace scheme (``▁`` marks a word's start), so decoding gives back
the text with its spaces and case (what sacreBLEU scores). Characters never seen in training
become ``[UNK]``.
"""

from __future__ import annotations

import numpy as np

from .._subword import TrainedTokenizer, check_specials, read_tokenizer

PAD, UNK, BOS, EOS = "[PAD]", "[UNK]", "[BOS]", "[EOS]"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
KINDS = ("bpe", "unigram")


class SubwordTokenizer(TrainedTokenizer):
    """``kind`` "bpe" or "unigram"; ``vocab_size`` caps the vocabulary."""

    def __init__(self, kind: str = "bpe", vocab_size: int = 8000):
        if kind not in KINDS:
            raise ValueError(f"tokenizer must be one of {KINDS}; got {kind!r}.")
        if not isinstance(vocab_size, int) or vocab_size < 16:
            raise ValueError(f"vocab_size must be an integer of at least 16; got "
                             f"{vocab_size!r}.")
        self.kind, self.vocab_size = kind, vocab_size
        self.tokenizer = None

    def fit(self, texts: list[str]) -> SubwordTokenizer:
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

        if self.kind == "bpe":
            tok = Tokenizer(models.BPE(unk_token=UNK))
            trainer = trainers.BpeTrainer(vocab_size=self.vocab_size, special_tokens=list(
                SPECIALS), show_progress=False)
        else:
            tok = Tokenizer(models.Unigram())
            trainer = trainers.UnigramTrainer(vocab_size=self.vocab_size, unk_token=UNK,
                                              special_tokens=list(SPECIALS),
                                              show_progress=False)
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        try:
            tok.train_from_iterator(list(texts), trainer)
        except Exception as err:  # tokenizers raises a bare Exception
            if "not large enough to contain all chars" not in str(err):
                raise
            chars = len(set("".join(texts)) - {" "})
            raise ValueError(f"a unigram vocabulary of vocab_size={self.vocab_size} cannot hold "
                             f"every character of the training text ({chars} distinct); raise "
                             f"vocab_size or use the bpe tokenizer.") from None
        check_specials(tok, SPECIALS, RuntimeError)
        self.tokenizer = tok
        return self

    @classmethod
    def from_str(cls, text: str, kind: str = "bpe", vocab_size: int = 8000) -> SubwordTokenizer:
        """The tokenizer ``to_str`` wrote; refuses JSON that is not a tokenizer with the
        special tokens at ids 0-3."""
        out = cls(kind, vocab_size)
        out.tokenizer = read_tokenizer(text, SPECIALS)
        return out

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        """Each text's ids (T_i,), int64, without BOS/EOS; an empty text gives no ids. A text
        that holds "[PAD]", "[BOS]" or "[EOS]" gets the unknown token there: the tokenizer
        reads them as its special tokens, and an EOS inside a target sentence would teach
        the decoder to stop there (as the classification tokenizer does with "[PAD]")."""
        out = []
        for e in self._fitted().encode_batch([str(t) for t in texts]):
            ids = np.asarray(e.ids, dtype=np.int64)  # (T_i,)
            ids[np.isin(ids, (PAD_ID, BOS_ID, EOS_ID))] = UNK_ID
            out.append(ids)
        return out

    def decode(self, ids) -> str:
        """Text of ``ids``, stopping at the first EOS; PAD/BOS/EOS dropped."""
        ids = [int(i) for i in ids]
        if EOS_ID in ids:
            ids = ids[:ids.index(EOS_ID)]
        return self._fitted().decode([i for i in ids if i > EOS_ID or i == UNK_ID],
                                     skip_special_tokens=False)

    def pieces(self, ids) -> list[str]:
        """The token string of each id (attention plots)."""
        tok = self._fitted()
        return [tok.id_to_token(int(i)) or "?" for i in ids]

    def unknown_share(self, ids: list[np.ndarray]) -> float:
        """The fraction of all tokens that are ``[UNK]`` (0 when there are none)."""
        n = sum(len(x) for x in ids)
        return 0.0 if n == 0 else float(sum(int((x == UNK_ID).sum()) for x in ids)) / n
