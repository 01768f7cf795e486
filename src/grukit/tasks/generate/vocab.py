"""Vocabularies of a language model: characters, or sub-words learnt with Hugging Face
``tokenizers`` (byte-level BPE; a well-kept, fast library: no hand-written BPE here).

    vocab = make_vocab("char").fit(text)      # or make_vocab("bpe", size=2000)
    ids = vocab.encode("ROMEO:")              # (T,) int64
    vocab.decode(ids) == "ROMEO:"

A character vocabulary refuses text with characters it has not seen and names them; a
byte-level BPE vocabulary covers any text.
"""

from __future__ import annotations

import json

import numpy as np

from .._subword import check_utf8

KINDS = ("char", "bpe")


class CharVocab:
    """One id per distinct character of the training text, in code-point order."""

    kind = "char"

    def __init__(self, chars: str = ""):
        self.chars = chars
        self._index = {c: i for i, c in enumerate(chars)}

    def fit(self, text: str) -> CharVocab:
        self.__init__("".join(sorted(set(text))))
        return self

    @property
    def size(self) -> int:
        return len(self.chars)

    def unknown(self, text: str) -> list[str]:
        """The characters of ``text`` outside the vocabulary, in order of appearance."""
        return list(dict.fromkeys(c for c in text if c not in self._index))

    def encode(self, text: str, what: str = "the text") -> np.ndarray:
        missing = self.unknown(text)
        if missing:
            shown = ", ".join(repr(c) for c in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise ValueError(f"{what} has {len(missing)} character(s) the model never saw in "
                             f"training: {shown}{more}; remove or replace them.")
        return np.fromiter((self._index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def to_json(self) -> str:
        return json.dumps({"kind": "char", "chars": self.chars})


class BPEVocab:
    """Byte-level BPE (GPT-2's scheme) trained on the training text with ``tokenizers``."""

    kind = "bpe"

    def __init__(self, size: int = 2000):
        self.target = size
        self.tokenizer = None

    def fit(self, text: str) -> BPEVocab:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        check_utf8(text, "the training text")
        trainer = trainers.BpeTrainer(vocab_size=self.target,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
        # lines as the trainer's units (its word counts stay the same either way)
        tok.train_from_iterator(text.splitlines(keepends=True), trainer)
        self.tokenizer = tok
        return self

    @property
    def size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def unknown(self, text: str) -> list[str]:
        return []  # every byte has a token

    def encode(self, text: str, what: str = "the text") -> np.ndarray:
        check_utf8(text, what)
        return np.asarray(self.tokenizer.encode(text).ids, dtype=np.int64)

    def decode(self, ids) -> str:
        return self.tokenizer.decode([int(i) for i in ids])

    def to_json(self) -> str:
        return json.dumps({"kind": "bpe", "tokenizer": self.tokenizer.to_str()})




def make_vocab(kind: str, size: int = 2000):
    """An untrained vocabulary of ``kind`` ("char" or "bpe"; ``size``: BPE's target size)."""
    if kind == "char":
        return CharVocab()
    if kind == "bpe":
        if isinstance(size, bool) or not isinstance(size, int) or size < 257:
            raise ValueError(f"vocab_size must be an integer of at least 257 for a byte-level "
                             f"BPE vocabulary (256 bytes plus merges); got {size!r}.")
        return BPEVocab(size)
    raise ValueError(f"tokenizer must be one of {', '.join(map(repr, KINDS))}; got {kind!r}.")


def vocab_from_json(text: str):
    """The vocabulary ``to_json`` wrote; one sentence when it is not one."""
    try:
        body = json.loads(text)
        if body["kind"] == "char":
            return CharVocab(str(body["chars"]))
        if body["kind"] == "bpe":
            from tokenizers import Tokenizer

            out = BPEVocab()
            out.tokenizer = Tokenizer.from_str(body["tokenizer"])
            out.target = out.size
            return out
        raise KeyError("kind")
    except Exception as err:  # json, key or tokenizers' own errors: all mean a damaged file
        raise ValueError(f"the stored vocabulary cannot be read ({err!r:.80}); save the model "
                         f"again.") from None
