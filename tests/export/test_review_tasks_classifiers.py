"""An exported classifier, served by grukit.export.runtime.Predictor, reads its input as the
estimator's predict reads it (a pandas DataFrame, bytes), and an export never replaces the
tokenizer that the other format's export of the same stem reads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pd = pytest.importorskip("pandas")

from conftest import SHARED_DATA  # noqa: E402
from grukit.export.runtime import Predictor  # noqa: E402
from grukit.tasks.export import beside, export  # noqa: E402

SENTENCES = SHARED_DATA / "text" / "amazon_cells_labelled.txt"
TOL = 1e-5  # float32 probabilities


def _sentence(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg.endswith("."), msg
    return msg


def _sentences():
    if not SENTENCES.is_file():
        pytest.skip(f"{SENTENCES} is absent; set GRUKIT_SHARED_DATA to the shared data folder")
    rows = [line.rsplit("\t", 1) for line in SENTENCES.read_text(encoding="utf-8").splitlines()
            if "\t" in line][:160]
    return [t for t, _ in rows], [int(y) for _, y in rows]


@pytest.fixture(scope="module")
def texts():
    return _sentences()


def _text_model(texts, labels, **settings):
    from grukit.tasks.classify import TextClassifier

    torch.manual_seed(0)
    return TextClassifier(embed_dim=4, hidden=4, epochs=1, validation_split=0,
                          **settings).fit(texts, labels)


@pytest.fixture(scope="module")
def text_model(texts, tmp_path_factory):
    clf = _text_model(texts[0][:120], texts[1][:120], vocab_size=300)
    path = tmp_path_factory.mktemp("text") / "reviews.onnx"
    export(clf, path)
    return clf, Predictor(path), texts[0][120:]


def test_a_dataframe_of_one_text_column_is_read_as_its_texts(text_model):
    """A DataFrame iterates over its column names: the Predictor gave one prediction, of the
    column's name, where predict gives one for each row."""
    clf, p, test = text_model
    df = pd.DataFrame({"review": test})
    want = clf.predict_proba(df)
    assert want.shape == (len(test), 2)
    np.testing.assert_allclose(p.predict_proba(df), want, atol=TOL, rtol=0)
    assert p.predict(df).tolist() == clf.predict(df).tolist()
    two = pd.DataFrame({"review": test, "stars": range(len(test))})
    with pytest.raises(ValueError):
        clf.predict(two)
    with pytest.raises(ValueError) as e:
        p.predict(two)
    assert "DataFrame of 2 columns ['review', 'stars']" in _sentence(e)


def test_bytes_are_refused_as_the_estimator_refuses_them(text_model):
    """Bytes iterate as numbers: each byte was served as a text of one token id."""
    clf, p, _ = text_model
    with pytest.raises(TypeError):
        clf.predict(b"great phone")
    with pytest.raises(TypeError) as e:
        p.predict(b"great phone")
    assert "not a single string" in _sentence(e)


def test_a_missing_text_among_texts_is_named_with_its_fix(text_model):
    """A text column with a missing value was refused as "texts or token-id lists, not
    both", naming neither the row nor the fix."""
    clf, p, test = text_model
    for missing in (None, float("nan")):
        column = pd.Series([test[0], missing, test[1]], dtype=object)
        with pytest.raises(ValueError, match="text 1 is missing"):
            clf.predict(column)
        with pytest.raises(TypeError) as e:
            p.predict(column)
        assert f"item 1 is {missing!r} among texts (a missing text: give \"\" or drop the " \
            "row)" in _sentence(e)

def test_one_texts_token_ids_unwrapped_are_refused_not_read_as_texts_of_one_token(
        text_model):
    """[5, 17, 2] was served as three texts of one token each."""
    clf, p, test = text_model
    ids = clf.tokenizer_.encode(test[:1], clf.config.max_len)[0]  # (T,)
    assert len(ids) > 1
    np.testing.assert_allclose(p.predict_proba([ids.tolist()]), clf.predict_proba(test[:1]),
                               atol=TOL, rtol=0)
    for flat in (ids.tolist(), ids, ids.astype(float)):
        with pytest.raises(ValueError) as e:
            p.predict_proba(flat)
        first = np.asarray(flat[0]).item()  # 5, or 5.0
        assert f"sequence 0 is the single number {first!r}, not a list of token ids" in \
            _sentence(e)


def test_a_dataframe_of_steps_is_read_as_sequences_of_one_channel(tmp_path):
    """A DataFrame (N, T) is N sequences of one channel to the estimator; the Predictor read
    its column names as the sequences."""
    from grukit.tasks.classify import SequenceClassifier

    rng = np.random.default_rng(0)
    walks = np.cumsum(rng.normal(size=(40, 7)), axis=1)  # (N, T)
    labels = (walks[:, -1] > walks[:, 0]).astype(int)
    torch.manual_seed(0)
    clf = SequenceClassifier(hidden=4, epochs=1, validation_split=0).fit(walks[:30], labels[:30])
    export(clf, tmp_path / "walks.onnx")
    df = pd.DataFrame(walks[30:])
    want = clf.predict_proba(df)
    assert want.shape == (10, 2)
    np.testing.assert_allclose(Predictor(tmp_path / "walks.onnx").predict_proba(df), want,
                               atol=TOL, rtol=0)


def test_an_export_does_not_replace_the_tokenizer_the_other_formats_export_reads(
        texts, text_model, tmp_path):
    """The ONNX graph and the pt2 program of one stem share <stem>.tokenizer.json: another
    model's pt2 export there replaced it, and the ONNX Predictor then tokenised its input
    with that model's vocabulary."""
    clf, _, test = text_model
    other = _text_model(texts[0][:120], texts[1][:120], vocab_size=300, tokenizer="wordpiece")
    assert other.tokenizer_.to_str() != clf.tokenizer_.to_str()
    export(clf, tmp_path / "m.onnx")
    export(clf, tmp_path / "m.pt2", format="pt2")  # the same model: its own tokenizer
    before = {f.name: f.read_bytes() for f in tmp_path.iterdir()}
    for fmt, other_manifest in (("pt2", "m.manifest.json"), ("onnx", "m.pt2-manifest.json")):
        with pytest.raises(ValueError) as e:
            export(other, tmp_path / f"m.{fmt}", format=fmt)
        assert "reads 'm.tokenizer.json' too" in _sentence(e)
        assert f"delete {other_manifest!r}" in str(e.value)
        assert {f.name: f.read_bytes() for f in tmp_path.iterdir()} == before
    np.testing.assert_allclose(Predictor(tmp_path / "m.onnx").predict_proba(test),
                               clf.predict_proba(test), atol=TOL, rtol=0)
    (tmp_path / "m.manifest.json").unlink()  # as the sentence says: then it is written
    export(other, tmp_path / "m.pt2", format="pt2")
    manifest = json.loads(beside(tmp_path / "m.pt2", "pt2-manifest").read_text())
    assert (tmp_path / manifest["tokenizer"]).read_text() == other.tokenizer_.to_str()


def test_an_export_does_not_replace_the_audio_front_end_the_other_format_reads(tone_speech,
                                                                               tmp_path):
    """A speech model of other features exported as pt2 beside another's ONNX graph replaced
    <stem>.audio.json, and the ONNX Predictor then computed those features for its network."""
    from grukit.tasks.speech import SpeechClassifier

    clf, waves = tone_speech
    torch.manual_seed(0)
    other = SpeechClassifier(model="gru", hidden=4, epochs=1, validation_split=0,
                             spec_augment=False, features="logmel", n_mels=39,
                             deltas=0).fit(waves, ["low", "high"] * 2)
    export(clf, tmp_path / "s.onnx")
    with pytest.raises(ValueError) as e:
        export(other, tmp_path / "s.pt2", format="pt2")
    assert "reads 's.audio.json' too, and this model's audio front end differs" in \
        _sentence(e)
    assert not (tmp_path / "s.pt2").exists()
    np.testing.assert_allclose(Predictor(tmp_path / "s.onnx").predict_proba(waves),
                               clf.predict_proba(waves), atol=TOL, rtol=0)


def test_a_damaged_audio_front_end_is_refused_in_one_sentence_naming_it(tone_speech,
                                                                        tmp_path):
    """Cut short in a copy, it failed in json's words ("Expecting value: line 33 ..."), or
    with a bare KeyError."""
    clf, waves = tone_speech
    export(clf, tmp_path / "s.onnx")
    front = tmp_path / "s.audio.json"
    whole = front.read_text()
    for damaged in (whole[:300], json.dumps({"n_fft": 200}), "[1, 2]"):
        front.write_text(damaged)
        with pytest.raises(ValueError) as e:
            Predictor(tmp_path / "s.onnx").predict(waves)
        assert f"cannot read the speech front end {str(front)!r}" in _sentence(e)
        assert "copy it again from the export" in str(e.value)
    front.write_text(whole)
    np.testing.assert_allclose(Predictor(tmp_path / "s.onnx").predict_proba(waves),
                               clf.predict_proba(waves), atol=TOL, rtol=0)
