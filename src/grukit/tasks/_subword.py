"""What the task tokenizers share: a trained Hugging Face ``tokenizers`` ``Tokenizer`` kept in
``self.tokenizer``, written as its own JSON and read back with its special tokens checked.

``classify.tokenizer`` (word / WordPiece, ids 0-1 = [PAD], [UNK]) and
``translate.tokenizer`` (BPE / unigram, ids 0-3 = [PAD], [UNK], [BOS], [EOS]) build on it.
"""

from __future__ import annotations


def check_utf8(text: str, what: str) -> None:
    """One sentence for a lone surrogate in ``text`` (a byte that was not UTF-8, decoded with
    errors="surrogateescape"), on which ``tokenizers`` fails with a type error."""
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"{what} holds {text[err.start]!r}, a byte that was not UTF-8 text "
                         f"(decoded with errors='surrogateescape'); read the text as UTF-8 or "
                         f"drop such bytes.") from None


def _ids_named(specials: tuple[str, ...]) -> str:
    return ", ".join(f"{s} at id {i}" for i, s in enumerate(specials))


def check_specials(tok, specials: tuple[str, ...], error: type[Exception]) -> None:
    """Raise ``error`` (one sentence) unless ``specials`` hold ids 0, 1, … in that order."""
    if [tok.token_to_id(s) for s in specials] != list(range(len(specials))):
        raise error(f"the tokenizer does not have {_ids_named(specials)}; save the model "
                    f"again.")


def read_tokenizer(text: str, specials: tuple[str, ...]):
    """The ``Tokenizer`` whose JSON ``to_str`` wrote; ValueError (one sentence) when the
    text is not one, or its special tokens are not at ids 0, 1, …"""
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_str(text)
    except Exception as err:  # tokenizers raises its own Exception type for bad JSON
        raise ValueError(f"the stored tokenizer cannot be read ({err}); save the model "
                         f"again.") from None
    check_specials(tok, specials, ValueError)
    return tok


class TrainedTokenizer:
    """Base of the task tokenizers: ``size``, ``to_str`` and the not-fitted error."""

    tokenizer = None

    def _fitted(self):
        if self.tokenizer is None:
            raise RuntimeError("call fit(texts) on the tokenizer first.")
        return self.tokenizer

    @property
    def size(self) -> int:
        """The number of ids, special tokens included."""
        return self._fitted().get_vocab_size()

    def to_str(self) -> str:
        """The trained tokenizer as Hugging Face ``tokenizers`` JSON (what ``save`` stores)."""
        return self._fitted().to_str()
