"""Bad input to the classifiers and to ``grukit classify``: each case is one sentence naming
the problem (exit 2 on the command line), or the correct result."""

import os
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from grukit.cli import main
from grukit.tasks.classify import SequenceClassifier, TextClassifier
from grukit.tasks.classify.network import MODELS

POS = ["good", "great", "lovely"]
NEG = ["bad", "awful", "poor"]
FILL = ["the", "phone", "was", "food"]


def _texts(n, seed=0):
    rng = np.random.default_rng(seed)
    texts = []
    for i in range(n):
        words = list(rng.choice(FILL, size=3))
        words.insert(1, rng.choice(POS if i % 2 else NEG))
        texts.append(" ".join(words))
    return texts, np.array(["pos" if i % 2 else "neg" for i in range(n)])


def _sequences(n, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((int(rng.integers(3, 8)), channels)).astype(np.float32)
          + 2 * (i % 2) for i in range(n)]
    return xs, np.array([i % 2 for i in range(n)])


@pytest.fixture(scope="module")
def text_model():
    texts, labels = _texts(40)
    return TextClassifier(embed_dim=8, hidden=8, epochs=3, patience=None,
                          learning_rate=1e-2).fit(texts, labels)


@pytest.fixture(scope="module")
def seq_model():
    xs, ys = _sequences(30)
    return SequenceClassifier(hidden=8, epochs=3, patience=None).fit(xs, ys)


def _err(capsys) -> str:
    out, err = capsys.readouterr()
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


# -- the Python API -------------------------------------------------------------------------------
def test_unseen_label_in_evaluate_is_named(text_model):
    texts, labels = _texts(6, seed=1)
    labels[2] = "meh"
    with pytest.raises(ValueError, match=r"evaluate: label\(s\) \['meh'\] \(1 row\(s\)\) never "
                                         r"occurred in training.*knows \['neg', 'pos'\]"):
        text_model.evaluate(texts, labels)
    with pytest.raises(ValueError, match=r"validation_data: label\(s\) \['meh'\]"):
        TextClassifier(epochs=1).fit(*_texts(20), validation_data=(texts, labels))


def test_evaluate_on_no_rows_is_one_sentence(text_model):
    with pytest.raises(ValueError, match="evaluate got no rows; give at least one labelled "
                                         "input"):
        text_model.evaluate([], [])


def test_numeric_and_string_labels_are_matched_by_value(text_model, seq_model):
    xs, ys = _sequences(20, seed=2)  # trained on ints 0/1
    as_int = seq_model.evaluate(xs, ys)
    assert seq_model.evaluate(xs, ys.astype(str)) == as_int  # "0"/"1" from a CSV
    assert seq_model.evaluate(xs, ys.astype(float)) == as_int  # 0.0/1.0 from pandas
    pred = seq_model.predict(xs)
    assert as_int["accuracy"] == np.mean(pred == ys)
    # a model trained on the strings "0"/"1" (a CSV column) scores ints
    texts, labels = _texts(30)
    num = np.where(labels == "pos", "1", "0")
    clf = TextClassifier(embed_dim=4, hidden=4, epochs=1, patience=None).fit(texts, num)
    assert clf.classes_.tolist() == ["0", "1"]
    assert clf.evaluate(texts, num.astype(int)) == clf.evaluate(texts, num)
    # float32 labels (0.1 is 0.10000000149 there) match the same numbers in float64 or text:
    # they were refused as never seen, beside "the model knows ['0.1', '0.2']"
    f32 = np.where(labels == "pos", 0.2, 0.1).astype(np.float32)
    clf = TextClassifier(embed_dim=4, hidden=4, epochs=1, patience=None).fit(texts, f32)
    for other in (f32.astype(np.float64), f32.astype(np.float64).tolist(), f32.astype(str)):
        assert clf.evaluate(texts, other) == clf.evaluate(texts, f32)


def test_missing_labels_are_refused(seq_model):
    xs, _ = _sequences(4)
    with pytest.raises(ValueError, match=r"label 2 is missing \(None/NaN; 1 row"):
        SequenceClassifier(epochs=1).fit(xs, ["a", "b", None, "a"])
    with pytest.raises(ValueError, match=r"label 1 is missing \(None/NaN"):
        seq_model.evaluate(xs, [0.0, np.nan, 1.0, 0.0])
    with pytest.raises(ValueError, match="label 1 is nan"):  # an array: its dtype's message
        seq_model.evaluate(xs, np.array([0.0, np.nan, 1.0, 0.0]))


def test_empty_texts_are_predicted_and_missing_ones_refused(text_model):
    proba = text_model.predict_proba(["", "   ", "good phone"])
    assert proba.shape == (3, 2) and np.allclose(proba.sum(1), 1, atol=1e-6)
    assert np.array_equal(proba[0], proba[1])  # both are the unknown token alone
    texts, labels = _texts(10)
    texts[3] = np.nan
    with pytest.raises(ValueError, match=r"text 3 is missing \(None/NaN\); give a string"):
        TextClassifier(epochs=1).fit(texts, labels)
    with pytest.raises(ValueError, match=r"text 1 is missing"):
        text_model.predict(["ok", None])
    with pytest.raises(ValueError, match=r"text 0 is of type int, not a string"):
        text_model.predict([5])
    for column in (pd.Series(["ok", None], dtype="string"), ["ok", pd.NaT]):  # pd.NA, NaT
        with pytest.raises(ValueError, match=r"text 1 is missing \(None/NaN\)"):
            text_model.predict(column)


def test_the_text_pad_token_in_a_text_is_unknown_not_padding(text_model):
    ids = text_model.tokenizer_.encode(["good [PAD] phone", "[PAD]"])
    assert ids[0][1] == 1 and ids[1].tolist() == [1]  # id 0 mid-text stopped the network
    proba = text_model.predict_proba(["good [PAD] phone", "good [UNK] phone"])
    assert np.array_equal(proba[0], proba[1])
    texts, labels = _texts(10)
    TextClassifier(embed_dim=4, hidden=4, epochs=1).fit(texts[:-1] + ["bad [PAD] food"],
                                                        labels)


def test_a_single_string_or_sequence_is_not_a_batch(text_model, seq_model):
    with pytest.raises(TypeError, match=r"pass a list of texts, not a single string \(wrap it"):
        text_model.predict("good phone")
    with pytest.raises(TypeError, match="not a single string"):
        text_model.predict_proba("good phone")
    with pytest.raises(ValueError, match=r"have 1 channel\(s\) but the model was trained on 2 "
                                         r"\(a 2-D array is read as N sequences of one channel"):
        seq_model.predict(np.zeros((5, 2), dtype=np.float32))
    assert seq_model.predict(np.zeros((1, 5, 2), dtype=np.float32)).shape == (1,)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_sequences_at_predict(seq_model, bad):
    xs, _ = _sequences(3)
    xs[1][2, 0] = bad
    with pytest.raises(ValueError, match="sequence 1 contains NaN/Inf; impute or drop"):
        seq_model.predict(xs)


def test_sequences_without_channels_or_beyond_float32_are_named(seq_model):
    with pytest.raises(ValueError, match=r"sequence 0 has shape \(4, 0\), no channels"):
        SequenceClassifier(hidden=4, epochs=1).fit(np.zeros((6, 4, 0)), [0, 1] * 3)
    xs, _ = _sequences(3)
    xs[2] = xs[2].astype(np.float64)
    xs[2][0, 1] = -1e39  # float32 would make it -inf
    with pytest.raises(ValueError, match=r"sequence 2 holds -1e\+39, beyond float32's range"):
        seq_model.predict(xs)


def test_large_values_within_float32_are_standardised():
    """Values of 1e20 fit float32, but their squares do not: the scaler's std was inf, so
    every standardised step was 0 and the network saw nothing."""
    xs, ys = _sequences(8)
    big = [x * 1e20 for x in xs]
    clf = SequenceClassifier(hidden=4, epochs=1, validation_split=0)
    clf._fit_inputs(big)
    steps = np.concatenate(big).astype(np.float64)
    assert np.allclose(clf.std_, steps.std(0), rtol=1e-6)
    assert np.allclose(clf.mean_, steps.mean(0), rtol=1e-6)
    items = np.concatenate(clf._items(big))  # (ΣT, C)
    assert np.allclose(items.std(0), 1, atol=1e-5) and np.isfinite(items).all()


def test_a_channel_constant_but_for_rounding_is_not_scaled_up():
    """A channel whose spread is float rounding (deltas of a pure tone: 0 +- 1e-16; a level
    0.3 stored as 0.1 + 0.2) keeps std 1 and scales to about 0, as an exactly constant one
    does; dividing by its std of ~1e-16 turned the noise into values of order 1."""
    rng = np.random.default_rng(0)
    xs = []
    for _ in range(6):
        x = rng.standard_normal((5, 4))
        x[:, 1] = rng.choice([-1e-16, 0.0, 1e-16], size=5)
        x[:, 2] = rng.choice([0.1 + 0.2, 0.3], size=5)
        x[:, 3] = 7.0 + 1e-3 * rng.standard_normal(5)  # small but real spread: still scaled
        xs.append(x)
    clf = SequenceClassifier(hidden=4)
    clf._fit_inputs(xs)
    np.testing.assert_array_equal(clf.std_[1:3], [1.0, 1.0])
    assert 1e-4 < clf.std_[3] < 1e-2 and 0.5 < clf.std_[0] < 2
    scaled = np.concatenate(clf._items(xs))  # (ΣT, 4)
    assert np.abs(scaled[:, 1:3]).max() < 1e-5
    assert 0.5 < scaled[:, 3].std() < 1.5


def test_data_on_a_small_scale_is_scaled_not_taken_for_constant():
    """Every channel on a scale of 1e-7 (a quantity in small units) is standardised, as
    scikit-learn's StandardScaler does: a std below 1e-6 was taken for rounding and kept at
    1, so the network saw values of about 1e-7, learnt nothing from them (accuracy 0.5 on
    separable classes) and said nothing. Beside a channel of order 1, a spread of 1e-16 is
    still rounding (test above)."""
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    xs = [1e-7 * (rng.standard_normal((5, 2)) + [2 * (i % 2), 5]) for i in range(8)]
    clf = SequenceClassifier(hidden=4)
    clf._fit_inputs(xs)
    ref = StandardScaler().fit(np.concatenate(xs))
    np.testing.assert_allclose(clf.std_, ref.scale_, rtol=1e-5)
    np.testing.assert_allclose(np.concatenate(clf._items(xs)),
                               ref.transform(np.concatenate(xs)), rtol=1e-4, atol=1e-5)


def test_a_time_stamp_channel_keeps_its_variation():
    """A channel of time stamps (1.7e9 + seconds) was cast to float32 before it was
    standardised: float32 steps by 128 there, so its seconds were lost and the channel
    came out (almost) constant, without a word. The standardised values now equal
    scikit-learn's StandardScaler on the float64 data (to float32's rounding of the stored
    mean: an offset, the variation kept), and the ONNX runtime standardises alike."""
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    xs = [np.stack([1.7e9 + np.arange(5.0) + 30 * i, rng.standard_normal(5)], 1)
          for i in range(6)]  # (5, 2): seconds, a channel of order 1
    clf = SequenceClassifier(hidden=4)
    clf._fit_inputs(xs)
    ref = StandardScaler().fit(np.concatenate(xs))
    np.testing.assert_allclose(clf.std_, ref.scale_, rtol=1e-5)
    got, want = np.concatenate(clf._items(xs)), ref.transform(np.concatenate(xs))
    offset = (got - want)[:, 0]  # the float32 mean's rounding: one shift for every step
    assert np.ptp(offset) < 1e-5 and abs(offset[0]) < 128 / ref.scale_[0]
    np.testing.assert_allclose(got[:, 1], want[:, 1], rtol=1e-5, atol=1e-6)


def test_other_channel_counts_at_predict(seq_model):
    with pytest.raises(ValueError, match=r"have 3 channel\(s\) but the model was trained on 2\.$"):
        seq_model.predict(_sequences(3, channels=3)[0])
    xs = _sequences(2)[0] + _sequences(1, channels=3)[0]
    with pytest.raises(ValueError, match="sequence 2 has 3 channels but sequence 0 has 2"):
        seq_model.predict_proba(xs)


@pytest.mark.parametrize("setting, value, message", [
    ("epochs", 0, "epochs must be a whole number of 1 or more; got 0"),
    ("epochs", -2, "epochs must be a whole number of 1 or more; got -2"),
    ("hidden", 0, "hidden must be a whole number of 1 or more; got 0"),
    ("epochs", 2.5, "epochs must be a whole number of 1 or more; got 2.5"),
    ("dropout", 1.0, r"dropout must be in \[0, 1\); got 1.0"),
    ("learning_rate", 0, "learning_rate must be a positive number; got 0"),
    ("model", "transformer", "model must be one of"),
    ("seed", 2 ** 32, r"seed must be below 2\*\*32 \(4294967296\); got 4294967296"),
])
def test_settings_that_cannot_train_are_refused_in_fit(setting, value, message):
    xs, ys = _sequences(10)
    clf = SequenceClassifier(**{setting: value})  # stored, not checked, by the constructor
    with pytest.raises(ValueError, match=message):
        clf.fit(xs, ys)


def test_fit_epochs_zero_is_refused_not_replaced_by_the_default():
    xs, ys = _sequences(10)
    clf = SequenceClassifier(hidden=4, epochs=3, patience=None)
    with pytest.raises(ValueError, match="epochs must be a whole number of 1 or more; got 0"):
        clf.fit(xs, ys, epochs=0)
    assert len(clf.fit(xs, ys, epochs=1).history_.epoch) == 1


def test_text_settings_vocab_size_below_three_and_explain_top_below_one(text_model):
    texts, labels = _texts(10)
    with pytest.raises(ValueError, match="vocab_size must be a whole number of 3 or more; "
                                         "got 1"):  # was the tokenizers library's traceback
        TextClassifier(vocab_size=1).fit(texts, labels)
    for top in (0, -1):  # -1 gave every token but the last
        with pytest.raises(ValueError, match=f"top must be a whole number of 1 or more; got "
                                             f"{top}"):
            text_model.explain("good phone", top=top)
    assert len(text_model.explain("good phone", top=1)) == 1


def test_numpy_numbers_as_settings_train_and_save(tmp_path):
    xs, ys = _sequences(10)
    clf = SequenceClassifier(hidden=np.int64(4), seed=np.int64(3), epochs=np.int64(1),
                             learning_rate=np.float32(0.01), validation_split=0)
    clf.fit(xs, ys, epochs=np.int64(1)).save(str(tmp_path / "m"))
    config = SequenceClassifier.load(str(tmp_path / "m")).get_config()
    assert config["hidden"] == 4 and config["seed"] == 3 and type(config["seed"]) is int


# -- the command line -----------------------------------------------------------------------------
def _csv(path, n=30, header="text,label"):
    texts, labels = _texts(n)
    path.write_text(header + "\n" + "".join(f"{t},{y}\n" for t, y in
                                            zip(texts, labels, strict=True)))
    return path


@pytest.mark.parametrize("flags, message", [
    (["--folds", "0"], "--folds must be 1 or more; got 0."),
    (["--folds", "-3"], "--folds must be 1 or more; got -3."),
    (["--epochs", "0"], "--epochs must be 1 or more; got 0."),
    (["--epochs", "-1"], "--epochs must be 1 or more; got -1."),
    (["--hidden", "0"], "--hidden must be 1 or more; got 0."),
    (["--model", "cnn"], f"--model must be one of {', '.join(MODELS)} for training; got "
                         f"'cnn'."),
    (["--seed", str(2 ** 32)], "seed must be below 2**32 (4294967296); got 4294967296."),
])
def test_cli_numbers_below_one_are_refused(tmp_path, capsys, flags, message):
    data = _csv(tmp_path / "d.csv")
    assert main(["classify", "--data", str(data), *flags]) == 2
    assert _err(capsys) == f"grukit classify: error: {message}"


def test_cli_folds_and_class_sizes(tmp_path, capsys):
    p = tmp_path / "d.csv"
    p.write_text("text,label\n" + "".join(f"good {i},a\n" for i in range(6))
                 + "".join(f"bad {i},b\n" for i in range(6)) + "meh,c\n")
    assert main(["classify", "--data", str(p), "--folds", "1", "--epochs", "1"]) == 2
    assert _err(capsys) == ("grukit classify: error: class 'c' has a single row, so a "
                            "train/test split cannot have it on both sides; give it more rows "
                            "or drop it.")
    p.write_text("text,label\n" + "".join(f"good {i},a\n" for i in range(6))
                 + "".join(f"bad {i},b\n" for i in range(2)))
    assert main(["classify", "--data", str(p), "--folds", "3", "--epochs", "1"]) == 2
    assert _err(capsys) == ("grukit classify: error: class 'b' has 2 row(s), fewer than the 3 "
                            "folds; use fewer folds or drop that class.")
    p.write_text("text,label\ngood,a\nfine,a\nbad,b\nawful,b\n")  # 1-row test side of 2 classes
    assert main(["classify", "--data", str(p), "--epochs", "1"]) == 2
    assert _err(capsys) == ("grukit classify: error: 4 rows are too few for a stratified 80%/20% "
                            "split of 2 classes (each side needs a row of every class); give "
                            "more rows.")


def test_cli_file_options_with_a_bundled_set_are_refused_not_ignored(seq_model, tmp_path,
                                                                     capsys):
    pytest.importorskip("sktime")
    assert main(["classify", "--data", "GunPoint", "--label-column", "3", "--epochs", "1"]) == 2
    assert _err(capsys) == ("grukit classify: error: --label-column only applies to CSV/TSV "
                            "files, and GunPoint is a bundled sequence set with its own labels; "
                            "drop it.")
    seq_model.save(str(tmp_path / "m"))
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data", "GunPoint",
                 "--no-header", "--sep", ","]) == 2
    assert "--no-header, --sep only apply to CSV/TSV files" in _err(capsys)


def test_cli_predict_does_not_score_a_test_split_the_model_was_trained_on(tmp_path, capsys):
    pytest.importorskip("sktime")
    from grukit.data.uea import load_uea

    x, y = load_uea("BasicMotions", "test")
    clf = SequenceClassifier(hidden=2, epochs=1, validation_split=0).fit(x, y)
    clf.trained_on_ = {"set": "BasicMotions", "splits": ["train", "test"]}  # as --folds K --save
    clf.save(str(tmp_path / "m"))
    assert SequenceClassifier.load(str(tmp_path / "m")).trained_on_ == clf.trained_on_
    assert clf.fit(x[::4], y[::4]).trained_on_ is None  # a new fit forgets it
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data",
                 "BasicMotions", "--output", str(tmp_path / "p")]) == 0
    assert _err(capsys) == ("grukit classify: warning: the model was trained on the test split "
                            "of BasicMotions too (--folds K --save trains on every row), so its "
                            "predictions there are not scored.")  # scored its training rows
    assert os.listdir(tmp_path / "p") == ["predictions.csv"]
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data", "GunPoint",
                 "--output", str(tmp_path / "p")]) == 2  # another set: channels differ


def test_cli_predict_with_a_text_model_on_a_bundled_set_names_the_mismatch(text_model,
                                                                           tmp_path, capsys):
    text_model.save(str(tmp_path / "m"))
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data",
                 "BasicMotions"]) == 2
    assert _err(capsys) == (f"grukit classify: error: --model {str(tmp_path / 'm')!r} holds a "
                            f"TextClassifier, which predicts on texts, and BasicMotions is a "
                            f"bundled sequence set; give a CSV/TSV file of texts, or a model "
                            f"trained on BasicMotions.")  # was: 'neither a file nor a bundled set'


def test_cli_numeric_label_column(tmp_path, capsys):
    texts, labels = _texts(40)
    p = tmp_path / "n.csv"
    p.write_text("text,stars\n" + "".join(f"{t},{5 if y == 'pos' else 1}\n"
                                          for t, y in zip(texts, labels, strict=True)))
    assert main(["classify", "--data", str(p), "--label-column", "stars", "--epochs", "2",
                 "--hidden", "8", "--save", str(tmp_path / "m")]) == 0
    assert TextClassifier.load(str(tmp_path / "m")).classes_.tolist() == ["1", "5"]
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data", str(p),
                 "--label-column", "stars", "--output", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "predictions.csv").read_text().startswith(
        "index,prediction,p_1,p_5\n")
    capsys.readouterr()
    p.write_text("text,stars\n" + "".join(f"t{i},{i / 7:.4f}\n" for i in range(30)))
    assert main(["classify", "--data", str(p), "--label-column", "stars"]) == 2
    assert "regression target, not categories" in _err(capsys)


def test_cli_unseen_label_at_predict_names_it(tmp_path, capsys):
    data = _csv(tmp_path / "d.csv")
    assert main(["classify", "--data", str(data), "--epochs", "1", "--hidden", "4", "--save",
                 str(tmp_path / "m")]) == 0
    capsys.readouterr()
    (tmp_path / "new.csv").write_text("text,label\ngood phone,pos\nso so,neutral\n")
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data",
                 str(tmp_path / "new.csv"), "--output", str(tmp_path / "o")]) == 2
    assert "label(s) ['neutral'] (1 row(s)) never occurred in training" in _err(capsys)


def test_cli_empty_text_cells_are_kept(tmp_path, capsys):
    texts, labels = _texts(30)
    texts[4] = ""
    p = tmp_path / "d.csv"
    p.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in
                                          zip(texts, labels, strict=True)))
    assert main(["classify", "--data", str(p), "--epochs", "1", "--hidden", "4",
                 "--save", str(tmp_path / "m")]) == 0
    (tmp_path / "new.csv").write_text('text\n""\ngood phone\n')
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data",
                 str(tmp_path / "new.csv"), "--output", str(tmp_path / "o")]) == 0
    assert len((tmp_path / "o" / "predictions.csv").read_text().splitlines()) == 3


def test_cli_reads_utf16_and_latin1_as_utf8(tmp_path):
    texts, labels = _texts(30)
    body = "text,label\n" + "".join(f"{t} café,{y}\n" for t, y in
                                    zip(texts, labels, strict=True))
    files = {"u16": body.encode("utf-16"), "u16nobom": body.encode("utf-16-le"),
             "l1": body.encode("latin-1"), "u8": body.encode("utf-8")}
    for name, raw in files.items():  # the same model and predictions from every copy
        (tmp_path / f"{name}.csv").write_bytes(raw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnicodeWarning)  # Latin-1 read as Windows-1252
            assert main(["classify", "--data", str(tmp_path / f"{name}.csv"), "--epochs", "1",
                         "--hidden", "4", "--save", str(tmp_path / f"m-{name}")]) == 0
    b = TextClassifier.load(str(tmp_path / "m-u8"))
    assert "café" in b.tokenizer_.tokenizer.get_vocab()
    for name in ("u16", "u16nobom", "l1"):
        a = TextClassifier.load(str(tmp_path / f"m-{name}"))
        assert a.tokenizer_.to_str() == b.tokenizer_.to_str(), name
        assert np.array_equal(a.predict_proba(texts), b.predict_proba(texts)), name


@pytest.mark.parametrize("action", [[], ["predict", "--model", "m"]])
def test_cli_refuses_an_empty_separator(tmp_path, capsys, action):
    data = _csv(tmp_path / "d.csv")
    assert main(["classify", *action, "--data", str(data), "--sep", ""]) == 2  # was inferred
    assert _err(capsys) == ("grukit classify: error: --sep is empty; give the field separator "
                            "(such as ',' or ';'), or leave --sep out to have it inferred.")


def test_cli_predict_refuses_a_speech_model(tmp_path, capsys, monkeypatch):
    import grukit.tasks.estimator as estimator
    from grukit.tasks.speech.estimator import SpeechClassifier

    speech = SpeechClassifier()  # a SequenceClassifier of recordings, as load gives it
    speech.classes_ = np.array(["a", "b"])
    monkeypatch.setattr(estimator, "load", lambda path: speech)
    data = _csv(tmp_path / "d.csv")  # each text was read as the path of a wav file
    assert main(["classify", "predict", "--model", "m", "--data", str(data)]) == 2
    assert _err(capsys) == ("grukit classify: error: --model 'm' holds a SpeechClassifier, not "
                            "a text or sequence classifier; use its own command.")


def test_cli_table_names_no_winner_on_equal_accuracy(capsys):
    from grukit.tasks.classify.cli import _print_table

    same = {"accuracy": 0.75, "macro_f1": 0.7}
    _print_table("gru", same, "tfidf_logreg", dict(same), folds=1)
    assert capsys.readouterr().out.endswith("\nequal accuracy: GRU and tfidf_logreg\n")
    _print_table("gru", {"accuracy": 0.8, "macro_f1": 0.7}, "tfidf_logreg", same, folds=1)
    assert capsys.readouterr().out.endswith("\nhigher accuracy: GRU\n")


def test_cli_refuses_a_file_matched_twice(tmp_path, capsys):
    a, b = _csv(tmp_path / "a.csv"), _csv(tmp_path / "b.csv")
    for data in ([str(tmp_path / "*.csv"), str(b)], [str(a), str(a)],
                 [str(a), os.path.join(str(tmp_path), ".", "a.csv")]):
        flags = [f for d in data for f in ("--data", d)]
        assert main(["classify", *flags, "--epochs", "1", "--hidden", "4"]) == 2
        err = _err(capsys)  # was read twice: its rows on both sides of the split
        assert err.startswith("grukit classify: error: --data matches ") and err.endswith(
            " twice, so its rows would be read twice (copies in both the training and the test "
            "rows); give each file once."), err


def test_cli_header_only_folder_and_missing_column(tmp_path, capsys):
    p = tmp_path / "h.csv"
    p.write_text("text,label\n")
    assert main(["classify", "--data", str(p)]) == 2
    assert _err(capsys) == (f"grukit classify: error: {p} has a header but no rows; give a "
                            f"file with data rows.")
    assert main(["classify", "--data", str(tmp_path)]) == 2
    assert _err(capsys) == (f"grukit classify: error: --data {str(tmp_path)!r} is a folder; "
                            f"give a CSV/TSV file, or a glob such as "
                            f"{str(tmp_path / '*.csv')!r}.")
    data = _csv(tmp_path / "d.csv")
    assert main(["classify", "--data", str(data), "--text-column", "review"]) == 2
    assert _err(capsys) == ("grukit classify: error: text column 'review' not found; the "
                            "columns are ['text', 'label']. Pass a name or a 0-based index.")
    assert main(["classify", "--data", str(data), "--epochs", "1", "--hidden", "4", "--save",
                 str(tmp_path / "m")]) == 0
    capsys.readouterr()
    model = ["classify", "predict", "--model", str(tmp_path / "m"), "--data"]
    assert main(model + [str(p)]) == 2
    assert "has a header but no rows" in _err(capsys)
    assert main(model + [str(tmp_path)]) == 2
    assert "is a folder" in _err(capsys)
    (tmp_path / "new.csv").write_text("id,body\n1,good\n")
    assert main(model + [str(tmp_path / "new.csv"), "--text-column", "text"]) == 2
    assert _err(capsys) == ("grukit classify: error: text column 'text' not found; the columns "
                            "are ['id', 'body']. Pass a name or a 0-based index.")
    assert main(model + [str(data), "--label-column", "stars"]) == 2
    assert "label column 'stars' not found; the columns are ['text', 'label']" in _err(capsys)
    assert main(model + [str(tmp_path / "*.csv")]) == 2  # was a tuple-unpacking error
    assert _err(capsys) == (f"grukit classify: error: predict reads one file; --data "
                            f"{str(tmp_path / '*.csv')!r} matches 3 (d.csv, h.csv, new.csv); "
                            f"give one of them.")


# -- the unlabelled texts predict reads ------------------------------------------------------------
def test_predict_reader_keeps_every_line_an_unbalanced_quote_would_join(tmp_path):
    from grukit.tasks.classify.files import read_texts

    p = tmp_path / "new.txt"  # imdb_labelled.txt's pattern: a quote opens, closes lines later
    p.write_text('good one\t1\n"so bad\t0\nfine\t1\nquote ends here"\t0\n')
    assert read_texts(str(p), header=False) == ["good one", '"so bad', "fine",
                                                'quote ends here"']
    q = tmp_path / "q.csv"  # a quoted text over two lines stays one text
    q.write_text('id,text\n1,"two\nlines"\n2,plain\n')
    assert read_texts(str(q)) == ["two\nlines", "plain"]


def test_a_row_that_repeats_the_header_is_refused_at_predict(text_model, tmp_path, capsys):
    from grukit.tasks.classify.files import read_texts

    one = tmp_path / "one.csv"  # two files joined with their headers: 'text' was predicted
    one.write_bytes(b"\xef\xbb\xbftext\ngood phone\n\xef\xbb\xbftext\nbad food\n")
    with pytest.raises(ValueError, match=r"data row 2 repeats the header \['text'\], as when "
                                         r"files are joined with their headers; delete that row"):
        read_texts(str(one))
    two = tmp_path / "two.csv"  # scored files: the labelled reading refused it, predict went on
    two.write_text("text,label\ngood phone,pos\ntext,label\nbad food,neg\n")
    text_model.save(str(tmp_path / "m"))
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data",
                 str(two)]) == 2
    assert "data row 2 repeats the header ['text', 'label']" in _err(capsys)
    ok = tmp_path / "ok.csv"  # a text that holds the column's name is a text
    ok.write_text('text\ntext of a review\n"TEXT!"\n')
    assert read_texts(str(ok)) == ["text of a review", "TEXT!"]


def test_predict_reader_reads_blank_lines_in_quoted_texts_as_training_does(tmp_path):
    import codecs
    import csv
    import io

    from grukit.data.text import read_labelled_text
    from grukit.tasks.classify.files import read_texts

    body = 'text,label\n"first paragraph\n\nsecond",pos\nplain,neg\n"a\n  \n\nb",pos\n'
    want = [r[0] for r in csv.reader(io.StringIO(body))][1:]  # the csv module's fields
    assert want[0] == "first paragraph\n\nsecond"
    for name, raw in (("lf", body.encode()), ("crlf", body.replace("\n", "\r\n").encode()),
                      ("bom", codecs.BOM_UTF8 + body.encode()), ("u16", body.encode("utf-16"))):
        p = tmp_path / f"{name}.csv"
        p.write_bytes(raw)
        assert read_labelled_text(str(p)).texts == want, name
        assert read_texts(str(p)) == want, name  # blank lines inside a text were dropped


def test_a_default_text_column_of_ids_or_labels_is_refused(text_model, tmp_path, capsys):
    from grukit.tasks.classify.files import read_texts

    texts, labels = _texts(30)
    rows = list(zip(texts, labels, strict=True))
    ibl = tmp_path / "ibl.csv"  # no column named like texts: the first, 'id', was the text
    ibl.write_text("id,body,label\n" + "".join(f"{i},{t},{y}\n" for i, (t, y) in
                                               enumerate(rows)))
    why = {"id": "holds numbers alone", "label": "is named like labels"}
    want = ("no column is named like texts (text, sentence, review, comment, message, "
            "document), and the first, {!r}, which would be read as the texts, {}; name the "
            "column of texts with --text-column.")
    assert main(["classify", "--data", str(ibl), "--epochs", "1", "--hidden", "4"]) == 2
    assert _err(capsys) == f"grukit classify: error: {ibl}: " + want.format("id", why["id"])
    text_model.save(str(tmp_path / "m"))
    assert main(["classify", "predict", "--model", str(tmp_path / "m"), "--data",
                 str(ibl)]) == 2  # predicted the ids
    assert _err(capsys) == f"grukit classify: error: {ibl}: " + want.format("id", why["id"])
    ib, lb = tmp_path / "ib.csv", tmp_path / "lb.csv"
    ib.write_text("id,body\n" + "".join(f"{i},{t}\n" for i, (t, _) in enumerate(rows)))
    lb.write_text("label,body\n" + "".join(f"{y},{t}\n" for t, y in rows))
    for p, col in ((ib, "id"), (lb, "label")):
        with pytest.raises(ValueError, match=re.escape(f"{p}: " + want.format(col, why[col]))):
            read_texts(str(p))
        assert read_texts(str(p), text_column="body") == texts
    assert read_texts(str(ib), text_column="id")[:2] == ["0", "1"]  # named: read as given


def test_predict_reader_refuses_rows_it_would_shift_or_a_header_of_data(tmp_path):
    from grukit.tasks.classify.files import read_texts

    p = tmp_path / "one.txt"  # one text a line, commas inside: not a table
    p.write_text("great phone, love it\nbad, awful, terrible\nok\n")
    with pytest.raises(ValueError, match=r"line 2 has 3 fields with separator ',' but the first "
                                         r"row has 2; put the texts .* in double quotes"):
        read_texts(str(p), header=False)
    assert read_texts(str(p), header=False, sep="\t") == [
        "great phone, love it", "bad, awful, terrible", "ok"]
    u = tmp_path / "uci.txt"  # sentence<TAB>label without a header, read with one
    u.write_text("Loved it.\t1\nAwful.\t0\nGreat.\t1\n")
    with pytest.raises(ValueError, match=r"the header \('Loved it.', '1'\) looks like a first "
                                         r"data row .*--no-header"):
        read_texts(str(u))
    assert read_texts(str(u), header=False) == ["Loved it.", "Awful.", "Great."]
    h = tmp_path / "h.csv"  # a header read as a text to predict
    h.write_text("id,review\n1,good\n2,bad\n")
    with pytest.raises(ValueError, match=r"the first row's text 'review' looks like a column "
                                         r"name, but the file is read without a header"):
        read_texts(str(h), text_column=1, header=False)
    assert read_texts(str(h)) == ["good", "bad"]
    s = tmp_path / "plain.txt"
    s.write_text("great phone love it\nbad awful\n")
    with pytest.warns(UserWarning, match="'great phone love it' is a column name and not "
                                         "predicted; .*--no-header"):
        assert read_texts(str(s)) == ["bad awful"]
    s.write_text("Great!\nbad awful\n")  # one word and a '!': dropped without a word
    with pytest.warns(UserWarning, match="'Great!' is a column name and not predicted"):
        assert read_texts(str(s)) == ["bad awful"]
    s.write_text("body\nbad awful\n")  # a column name
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_texts(str(s)) == ["bad awful"]


def test_cross_validation_reads_mixed_int_and_str_labels_as_fit_does():
    from grukit.tasks.classify import TfidfLogReg, cross_validate

    texts, labels = _texts(20)
    mixed = np.array([1 if y == "pos" else "neg" for y in labels], dtype=object)
    clf = TextClassifier(embed_dim=4, hidden=4, epochs=1, validation_split=0)
    got = cross_validate(clf, texts, mixed, folds=2, baseline=TfidfLogReg())
    for part in ("model", "baseline"):  # every row scored under its label's text
        assert got[part]["classes"] == ["1", "neg"]
        assert np.sum(got[part]["confusion"], axis=1).tolist() == [10, 10]


def test_tfidf_baseline_on_texts_without_words_uses_characters():
    from grukit.tasks.classify import TfidfLogReg

    texts = ["😀 👍", "😡 👎", "👍 😀 😀", "👎 👎", "😀", "😡"]  # no word of two letters
    labels = ["pos", "neg", "pos", "neg", "pos", "neg"]
    base = TfidfLogReg().fit(texts, labels)  # was sklearn's 'empty vocabulary' traceback
    assert base.analyzer_ == "char_wb"
    assert base.predict(["👍 👍", "👎"]).tolist() == ["pos", "neg"]
    assert TfidfLogReg().fit(["good one", "bad one"], ["pos", "neg"]).analyzer_ == "word"


def test_baselines_take_fractional_classes():
    # LogisticRegression refused them: 'Unknown label type: continuous' (cross_validate's
    # baseline after the fold's network had trained)
    from grukit.tasks.classify import SummaryLogReg, TfidfLogReg

    texts, labels = _texts(12)
    y = np.where(labels == "pos", 1.5, 0.5)
    pred = TfidfLogReg().fit(texts, y).predict(texts)
    assert pred.dtype == y.dtype and set(pred.tolist()) <= {0.5, 1.5}
    xs, ys = _sequences(12)
    pred = SummaryLogReg().fit(xs, ys + 0.5).predict(xs)
    assert pred.dtype == np.float64 and (pred == ys + 0.5).mean() > 0.8
    assert TfidfLogReg().fit(texts, labels).predict(texts[:2]).tolist() == labels[:2].tolist()


def test_a_nan_label_in_a_list_of_strings_is_refused_not_read_as_the_text_nan():
    from grukit.tasks.classify.labels import as_labels

    with pytest.raises(ValueError, match="label 1 is missing"):
        as_labels(["pos", np.nan, "neg"])
    assert list(as_labels(["pos", "neg"])) == ["pos", "neg"]


@pytest.mark.parametrize("labels", [
    pd.Series(["pos", None, "neg", "pos"], dtype="string"),  # pd.NA
    pd.Series([True, None, False, True], dtype="boolean"),
    ["pos", pd.NaT, "neg", "pos"],
    ["pos", np.float32("nan"), "neg", "pos"],
], ids=["string-NA", "boolean-NA", "NaT", "float32-nan"])
def test_pandas_missing_labels_are_refused_not_read_as_a_class(labels):
    from grukit.tasks.classify.labels import as_labels, encode_labels

    with pytest.raises(ValueError, match=r"label 1 is missing \(None/NaN"):
        as_labels(labels)
    with pytest.raises(ValueError, match=r"label 1 is missing"):
        encode_labels(labels)


def test_sequences_as_a_dataframe_or_of_non_numbers(seq_model):
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((6, 5))  # (N, T): six sequences of one channel
    xs, ys = list(rows), np.array([0, 1] * 3)
    model = SequenceClassifier(hidden=4, epochs=1, validation_split=0).fit(xs, ys)
    for columns in (None, list("abcde")):  # iterating a DataFrame gives its column names
        frame = pd.DataFrame(rows, columns=columns)
        np.testing.assert_array_equal(model.predict_proba(frame), model.predict_proba(rows))
    with pytest.raises(ValueError, match=r"sequence 1 cannot be read as real numbers"):
        seq_model.predict([np.zeros((3, 2)), np.array([["a", "b"]] * 3)])
    with pytest.raises(ValueError, match=r"sequence 0 cannot be read as real numbers "
                                         r"\(complex numbers\)"):
        seq_model.predict([np.zeros((3, 2)) + 1j])


def test_texts_as_a_dataframe_are_its_column_not_its_column_names(text_model):
    # iterating a DataFrame gives its column names: predict(df[["text"]]) predicted the one
    # text 'text', predict(df) the texts 'text' and 'label'
    texts, labels = _texts(6)
    frame = pd.DataFrame({"text": texts, "label": labels})
    np.testing.assert_array_equal(text_model.predict_proba(frame[["text"]]),
                                  text_model.predict_proba(texts))
    with pytest.raises(ValueError, match=r"^the texts are a DataFrame of 2 columns \['text', "
                                         r"'label'\]; pass its column of texts \(df\['text'\]\)"
                                         r"\.$"):
        text_model.predict(frame)
    with pytest.raises(ValueError, match=r"DataFrame of 0 columns \[\]; pass its column of "
                                         r"texts \(a Series or a list\)\.$"):
        text_model.predict(pd.DataFrame(index=range(3)))


def test_cli_a_bundled_set_named_in_the_wrong_case_gets_its_name(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["classify", "--data", "japanesevowels"]) == 2
    assert _err(capsys) == ("grukit classify: error: 'japanesevowels' is neither a file nor a "
                            "bundled data set (did you mean 'JapaneseVowels'? the names are "
                            "case-sensitive); `grukit datasets` lists the bundled ones.")
    assert main(["classify", "--data", "nosuchset"]) == 2
    assert "(did you mean" not in _err(capsys)
    # beside another --data it was called 'neither a file nor a bundled data set (did you
    # mean 'JapaneseVowels'?)', the name it had
    for other in ("GunPoint", "other.csv"):
        assert main(["classify", "--data", "JapaneseVowels", "--data", other]) == 2
        assert _err(capsys) == ("grukit classify: error: --data JapaneseVowels is a bundled "
                                "sequence set, which is read alone; give it as the only "
                                "--data (several --data are CSV/TSV files of texts).")


def test_validation_data_that_is_not_a_pair_is_one_sentence(text_model):
    texts, labels = _texts(10)
    for bad, what in (((texts,), "a tuple of length 1"), ((texts, labels, labels), "a tuple of "
                      "length 3"), ("texts", "a str"), (5, "an int")):
        with pytest.raises(ValueError, match=rf"validation_data must be a pair \(inputs, "
                                             rf"labels\); got {what}\."):
            TextClassifier(epochs=1).fit(texts, labels, validation_data=bad)
    # no rows: 'evaluate got 0 samples' (texts) or 'there are no sequences' (sequences)
    for clf, data in ((TextClassifier(epochs=1), (texts, labels)),
                      (SequenceClassifier(epochs=1), _sequences(10))):
        with pytest.raises(ValueError, match=r"^validation_data holds no rows; give it labelled "
                                             r"inputs, or leave it out"):
            clf.fit(*data, validation_data=([], []))


def test_numpy_and_python_numbers_in_one_object_array_stay_numbers():
    from grukit.tasks.classify.labels import as_labels, encode_labels

    labels = np.array([np.int64(1), 2, 1, 2], dtype=object)  # list(series) + [2]: both kinds
    classes, y = encode_labels(labels)
    assert classes.tolist() == [1, 2] and classes.dtype.kind == "i" and y.tolist() == [0, 1, 0, 1]
    assert as_labels(np.array([np.float64(1.5), 2.5], dtype=object)).dtype == np.float64
    assert as_labels(np.array([1, "a"], dtype=object)).tolist() == ["1", "a"]  # text beside
    assert as_labels(np.array([True, 2], dtype=object)).tolist() == ["True", "2"]  # numbers


def test_sequences_beyond_float32_once_standardised_are_refused_not_predicted_as_class_0():
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((5, 2)) * 1e-3 + 1e-3 * (i % 2) for i in range(10)]  # std ~1e-3
    model = SequenceClassifier(hidden=4, epochs=1, validation_split=0).fit(xs, [0, 1] * 5)
    far = np.full((5, 2), 1e37)  # within float32, but 1e40 once divided by the std
    with pytest.raises(ValueError, match=r"sequence 1, standardised with the training data's "
                                         r"mean and std, reaches [0-9.]+e\+40, beyond float32's"):
        model.predict_proba([xs[0], far])  # its probabilities were NaN, its class 0
    proba = model.predict_proba([np.full((5, 2), 1e30)])  # large but finite: saturates
    assert np.isfinite(proba).all() and np.allclose(proba.sum(1), 1, atol=1e-6)


def test_a_lone_surrogate_in_a_text_is_one_sentence(text_model):
    # the tokenizers library said 'TextEncodeInput must be Union[...]' or 'surrogates not allowed'
    texts, labels = _texts(10)
    texts[4] = "good \udc80 phone"  # os.fsdecode / errors='surrogateescape' of a byte 0x80
    message = r"text 4 holds '\\udc80' at position 5, a lone surrogate that is not valid Unicode"
    with pytest.raises(ValueError, match=message):
        TextClassifier(epochs=1).fit(texts, labels)
    with pytest.raises(ValueError, match=message):
        text_model.predict(texts)


def test_a_class_left_with_no_training_row_by_the_validation_split_is_refused():
    """Too few rows to split by class: a plain random split put both rows of 'c' in the
    validation part, and the model trained without ever seeing the class."""
    x = np.random.default_rng(0).normal(size=(4, 6, 2)).astype("float32")
    with pytest.raises(ValueError, match="leaves class 'c' with no training row"):
        SequenceClassifier(epochs=1, validation_split=0.3, seed=0).fit(x, ["a", "b", "c", "c"])


@pytest.mark.parametrize("lr", [1e9, 1e3])
def test_a_learning_rate_far_too_large_warns_that_the_classifier_learned_nothing(lr):
    xs, y = _sequences(40)
    clf = SequenceClassifier(hidden=6, epochs=2, learning_rate=lr, validation_split=0.25)
    with pytest.warns(RuntimeWarning, match=r"SequenceClassifier learned nothing.*learning "
                                            r"rate " + re.escape(f"{lr:g};")):
        clf.fit(xs, y)


def test_a_classifier_that_learned_says_nothing_of_divergence():
    xs, y = _sequences(40)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "training .* learned nothing", RuntimeWarning)
        SequenceClassifier(hidden=6, epochs=3, learning_rate=3e-2,
                           validation_split=0.25).fit(xs, y)
