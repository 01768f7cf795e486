"""TextClassifier and SequenceClassifier keep the estimator contract: the constructor stores,
fit returns self, save/load round-trips bit for bit, and a wrong folder is one sentence."""

import hashlib
import json

import numpy as np
import pytest

from grukit.tasks import estimator
from grukit.tasks.classify import SequenceClassifier, TextClassifier
from grukit.tasks.estimator import NotFittedError

POS = ["good", "great", "lovely"]
NEG = ["bad", "awful", "poor"]
FILL = ["the", "phone", "was", "food"]


def _texts(n, seed=0):
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        words = list(rng.choice(FILL, size=3))
        words.insert(1, rng.choice(POS if i % 2 else NEG))
        texts.append(" ".join(words))
        labels.append("pos" if i % 2 else "neg")
    return texts, np.array(labels)


def _sequences(n, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((int(rng.integers(3, 9)), 2)).astype(np.float32) + (i % 2)
          for i in range(n)]
    return xs, np.array([i % 2 for i in range(n)])


@pytest.fixture(scope="module")
def text_model():
    texts, labels = _texts(40)
    return TextClassifier(embed_dim=8, hidden=8, epochs=2, patience=None).fit(texts, labels)


@pytest.fixture(scope="module")
def seq_model():
    xs, ys = _sequences(30)
    return SequenceClassifier(hidden=8, epochs=2, patience=None).fit(xs, ys)


def test_constructor_only_stores_and_fit_returns_self():
    clf = TextClassifier(hidden=4, epochs=0)  # checked in fit, not here
    assert clf.get_config()["hidden"] == 4 and clf.model is None
    assert TextClassifier(**clf.get_config()).get_config() == clf.get_config()
    texts, labels = _texts(20)
    clf = TextClassifier(embed_dim=4, hidden=4, epochs=1, patience=None)
    assert clf.fit(texts, labels) is clf and clf.fitted_
    assert len(clf.history_.history["loss"]) == 1
    with pytest.raises(TypeError, match="TextClassifier has no setting 'units'; its settings "
                                        "are"):
        TextClassifier(units=3)
    with pytest.raises(NotFittedError, match="SequenceClassifier is not trained; call fit"):
        SequenceClassifier().save("unused")


def test_text_round_trip_is_bit_identical(text_model, tmp_path):
    texts, _ = _texts(25, seed=3)
    texts += ["", "zebra unicorn", "GOOD PHONE!"]
    text_model.save(str(tmp_path / "m"))
    loaded = TextClassifier.load(str(tmp_path / "m"))
    assert np.array_equal(loaded.predict_proba(texts), text_model.predict_proba(texts))
    assert loaded.classes_.dtype == text_model.classes_.dtype and \
        loaded.classes_.tolist() == ["neg", "pos"]
    assert loaded.get_config() == text_model.get_config()
    assert loaded.tokenizer_.to_str() == text_model.tokenizer_.to_str()
    assert type(estimator.load(str(tmp_path / "m"))) is TextClassifier


def test_sequence_round_trip_keeps_int_labels_and_scaler(seq_model, tmp_path):
    xs, _ = _sequences(12, seed=5)
    seq_model.save(str(tmp_path / "s"))
    loaded = SequenceClassifier.load(str(tmp_path / "s"))
    assert np.array_equal(loaded.predict_proba(xs), seq_model.predict_proba(xs))
    assert loaded.classes_.dtype == np.int64 and loaded.predict(xs).dtype == np.int64
    assert np.array_equal(loaded.mean_, seq_model.mean_)
    assert np.array_equal(loaded.std_, seq_model.std_)
    assert loaded.channels_ == 2 and loaded.steps_ == seq_model.steps_


def test_labels_of_other_types_survive_saving(tmp_path):
    xs, _ = _sequences(20)
    for labels in (np.array([True, False] * 10), np.array([0.5, 2.0] * 10),
                   np.array(["a", "bb"] * 10, dtype=object)):
        clf = SequenceClassifier(hidden=4, epochs=1, patience=None).fit(xs, labels)
        clf.save(str(tmp_path / "m"))
        got = SequenceClassifier.load(str(tmp_path / "m")).classes_
        assert got.dtype == clf.classes_.dtype and got.tolist() == clf.classes_.tolist()


def test_labels_save_cannot_write_are_refused_before_training():
    xs, _ = _sequences(10)
    for labels, dtype in ((np.array([b"a", b"b"] * 5), r"\|S1"),
                          (np.array(["2020-01-01", "2021-01-01"] * 5, dtype="datetime64[D]"),
                           r"datetime64\[D\]")):
        clf = SequenceClassifier(hidden=4, epochs=1)
        with pytest.raises(TypeError, match=f"labels of dtype {dtype} cannot be saved; use "
                                            f"strings or numbers"):
            clf.fit(xs, labels)  # was trained, then refused by save
        assert clf.model is None


def _rewrite(folder, edit, resign=True):
    p = folder / "config.json"
    body = json.loads(p.read_text())
    old = body.pop("sha256")
    edit(body)
    body["sha256"] = hashlib.sha256(estimator._canonical(body)).hexdigest() if resign else old
    p.write_text(json.dumps(body))


def test_load_refusals_are_one_sentence(text_model, seq_model, tmp_path):
    text_model.save(str(tmp_path / "t"))
    seq_model.save(str(tmp_path / "s"))
    with pytest.raises(ValueError, match="holds a SequenceClassifier, not a TextClassifier; "
                                         "load it with SequenceClassifier.load"):
        TextClassifier.load(str(tmp_path / "s"))
    with pytest.raises(ValueError, match="holds a TextClassifier, not a SequenceClassifier"):
        SequenceClassifier.load(str(tmp_path / "t"))
    with pytest.raises(FileNotFoundError, match="no saved model at"):
        TextClassifier.load(str(tmp_path / "missing"))
    # a hand-edited setting without a new checksum
    _rewrite(tmp_path / "t", lambda b: b["config"].update(hidden=16), resign=False)
    with pytest.raises(ValueError, match="does not match its checksum"):
        TextClassifier.load(str(tmp_path / "t"))
    # re-signed: the weights no longer fit the settings
    _rewrite(tmp_path / "t", lambda b: b["config"].update(hidden=16))
    with pytest.raises(ValueError, match=r"does not fit its own settings \(.* is \(24, 8\) "
                                         r"there, \(48, 8\)"):
        TextClassifier.load(str(tmp_path / "t"))
    # a setting this grukit does not know
    _rewrite(tmp_path / "s", lambda b: b["config"].update(attention_heads=4))
    with pytest.raises(ValueError, match=r"settings \['attention_heads'\] that this grukit's "
                                         r"SequenceClassifier does not know"):
        SequenceClassifier.load(str(tmp_path / "s"))


def test_load_refuses_settings_no_classifier_trains_with(seq_model, tmp_path):
    seq_model.save(str(tmp_path / "s"))
    _rewrite(tmp_path / "s", lambda b: b["config"].update(hidden=0))
    with pytest.raises(ValueError, match="hidden must be a whole number of 1 or more; got 0"):
        SequenceClassifier.load(str(tmp_path / "s"))
    seq_model.save(str(tmp_path / "c"))
    _rewrite(tmp_path / "c", lambda b: b["extras"].update(classes="nope"))
    with pytest.raises(ValueError, match="saved SequenceClassifier is incomplete or damaged"):
        SequenceClassifier.load(str(tmp_path / "c"))
