"""grukit.export.runtime.Predictor refuses what the estimators refuse, in one sentence, where
it gave a meaningless result or failed deep inside a library: sequences that leave float32's
range once standardised, texts that are not valid Unicode, a session given as a set."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from grukit.export.runtime import Predictor  # noqa: E402
from grukit.tasks.export import export  # noqa: E402


def _sentence(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg.endswith("."), msg
    return msg


def test_sequences_beyond_float32_once_standardised_are_refused_naming_them(tmp_path):
    """Training std ~1e-3 and values ~1e37: standardised, they passed float32's range, the
    cast warned 'overflow encountered in cast' and onnxruntime gave finite probabilities of
    nothing; the estimator refuses such a sequence, naming it."""
    from grukit.tasks.classify import SequenceClassifier

    rng = np.random.default_rng(0)
    seqs = [rng.normal(scale=1e-3, size=(int(n), 2)) + 1e-3 * (i % 2)
            for i, n in enumerate(rng.integers(3, 8, 16))]
    torch.manual_seed(0)
    clf = SequenceClassifier(hidden=4, epochs=1, validation_split=0).fit(
        seqs, [i % 2 for i in range(16)])
    export(clf, tmp_path / "seq.onnx")
    p = Predictor(tmp_path / "seq.onnx")
    huge = np.full((4, 2), 1e37)
    with pytest.raises(ValueError, match="sequence 1, standardised"):
        clf.predict([seqs[0], huge])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the overflow warning was all that was said
        with pytest.raises(ValueError) as e:
            p.predict_proba([seqs[0], huge])
    msg = _sentence(e)
    assert msg.startswith("sequence 1, standardised with the training data's mean and std, "
                          "reaches ") and "beyond float32's range" in msg
    # values on the training scale, and large ones still within range, predict as before
    ok = [seqs[0], np.full((3, 2), 1e30)]
    np.testing.assert_allclose(p.predict_proba(ok), clf.predict_proba(ok), atol=1e-5)


def test_a_text_with_a_lone_surrogate_is_refused_naming_the_text_and_character(tmp_path):
    """A lone surrogate (bytes decoded with errors='surrogateescape') failed inside the
    tokenizers library with 'TextEncodeInput must be Union[...]'; the estimator refuses it in
    one sentence naming the text and the character."""
    from grukit.tasks.classify import TextClassifier

    texts = ["good phone", "great sound", "bad battery", "awful screen"] * 4
    torch.manual_seed(0)
    clf = TextClassifier(embed_dim=4, hidden=4, epochs=1, vocab_size=40,
                         validation_split=0).fit(texts, ["pos", "pos", "neg", "neg"] * 4)
    export(clf, tmp_path / "txt.onnx")
    p = Predictor(tmp_path / "txt.onnx")
    bad = ["good phone", "bad \ud800 text"]
    with pytest.raises(ValueError) as want:
        clf.predict(bad)
    for call in (p.tokenize, p.predict_proba, p.predict):
        with pytest.raises(ValueError) as e:
            call(bad)
        assert _sentence(e) == str(want.value)
        assert _sentence(e).startswith("text 1 holds '\\ud800' at position 4, a lone "
                                       "surrogate")
    ok = ["good phone", "bad \u00e9 text"]  # other non-ASCII text is read as before
    np.testing.assert_allclose(p.predict_proba(ok), clf.predict_proba(ok), atol=1e-5)


def test_recommend_refuses_a_set_and_takes_a_numpy_integer_k(tmp_path):
    """A set (or a dict) has no order, yet its own order was taken as the session's events,
    as the estimator refuses it; k=np.int64(5), which the estimator takes, was refused."""
    import pandas as pd

    from grukit.tasks.recommend import GRU4Rec

    rng = np.random.default_rng(0)
    rows = [(s, int(i), t) for s in range(24)
            for t, i in enumerate(rng.integers(0, 8, rng.integers(2, 5)))]
    torch.manual_seed(0)
    m = GRU4Rec(hidden=3, epochs=1, n_sample=0, batch_size=4).fit(
        pd.DataFrame(rows, columns=["session", "item", "time"]))
    export(m, tmp_path / "rec.onnx")
    p = Predictor(tmp_path / "rec.onnx")
    for unordered in ({3, 1, 5}, frozenset({3, 1}), {3: "a", 1: "b"}):
        with pytest.raises(TypeError) as want:
            m.recommend(unordered)
        for call in (p.scores, p.recommend, p.predict):
            with pytest.raises(TypeError) as e:
                call(unordered)
            assert _sentence(e) == str(want.value), (call, unordered)
    for k in (np.int64(5), np.int32(5), np.uint8(5)):
        assert p.recommend([3, 1], k=k) == m.recommend([3, 1], k=k) == \
            p.recommend([3, 1], k=5)
    assert p.predict((i for i in [3, 1]), k=np.int64(2)) == m.recommend([3, 1], k=2)
    for bad in (np.bool_(True), True, 5.0, np.float64(5.0), 0, 9):
        with pytest.raises(ValueError) as e:
            p.recommend([3, 1], k=bad)
        assert "k must be a whole number between 1 and 8" in _sentence(e), bad
