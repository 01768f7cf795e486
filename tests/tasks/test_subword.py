"""The task tokenizers' shared base: JSON round trip, damaged or foreign JSON refused in one
sentence, and the not-fitted error."""

import numpy as np
import pytest

from grukit.tasks.classify.tokenizer import TextTokenizer
from grukit.tasks.translate.tokenizer import SubwordTokenizer

TEXTS = ["the cat sat on the mat", "a dog ran to the cat", "the mat was red"] * 4


@pytest.mark.parametrize("make", [lambda: TextTokenizer("word", 50),
                                  lambda: SubwordTokenizer("bpe", 40)], ids=["text", "subword"])
def test_round_trip_keeps_ids_and_size(make):
    tok = make().fit(TEXTS)
    again = type(tok).from_str(tok.to_str(), tok.kind, tok.vocab_size)
    assert again.size == tok.size
    for a, b in zip(tok.encode(TEXTS[:3]), again.encode(TEXTS[:3]), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", [TextTokenizer, SubwordTokenizer])
def test_damaged_json_is_one_sentence(cls):
    with pytest.raises(ValueError, match=r"stored tokenizer cannot be read .*save the model"):
        cls.from_str('{"version": "1.0", "model": ')


def test_a_tokenizer_without_the_special_ids_is_refused():
    text = TextTokenizer("word", 50).fit(TEXTS).to_str()  # [PAD], [UNK] only
    with pytest.raises(ValueError, match=r"does not have \[PAD\] at id 0, \[UNK\] at id 1, "
                                         r"\[BOS\] at id 2, \[EOS\] at id 3; save the model"):
        SubwordTokenizer.from_str(text)


@pytest.mark.parametrize("cls", [TextTokenizer, SubwordTokenizer])
def test_unfitted_tokenizer_says_fit_first(cls):
    with pytest.raises(RuntimeError, match=r"call fit\(texts\) on the tokenizer first"):
        cls().to_str()


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_special_token_text_inside_a_sentence_is_the_unknown_token(kind):
    # the tokenizer reads "[EOS]" written in a text as its end token: in a target sentence
    # it taught the decoder to stop there, and "[PAD]" in a source read as padding
    tok = SubwordTokenizer(kind, 60).fit(TEXTS)
    plain = tok.encode(["the cat sat"])[0]
    for special in ("[PAD]", "[BOS]", "[EOS]"):
        ids = tok.encode([f"the cat {special} sat"])[0]
        assert not np.isin(ids, [0, 2, 3]).any() and (ids == 1).any()
        assert tok.decode(ids).startswith("the cat") and tok.decode(ids).endswith("sat")
    np.testing.assert_array_equal(tok.encode(["the cat sat"])[0], plain)
