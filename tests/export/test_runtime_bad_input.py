"""grukit.export.runtime.Predictor refuses, in one sentence each, the input the estimators
refuse (or that the graph would silently misread), and finds the manifest the export wrote
whatever the model file's suffix."""

from __future__ import annotations

import json
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


def _both_refuse(f, p, cases: dict) -> None:
    """Each case {name: ((recent, covariates), words)} is refused by the estimator's
    ``predict`` and by the runtime's ``forecast``, whose sentence holds the words."""
    for name, ((recent, covs), says) in cases.items():
        with pytest.raises(ValueError):
            f.predict(recent, covs)
        with pytest.raises(ValueError) as e:
            p.forecast(recent, covs)
        assert says in _sentence(e), name


@pytest.fixture(scope="module")
def forecaster(tmp_path_factory):
    """A tiny forecaster with two covariates, exported as ONNX."""
    from grukit.tasks.forecast import Forecaster

    torch.manual_seed(0)
    t = np.arange(80)
    y = 10 + np.sin(t / 5)
    cov = np.stack([np.sin(t / 3), t / 100.0], 1)  # (T, 2)
    f = Forecaster(hidden=4, horizon=2, epochs=1, lookback=6).fit(y, covariates=cov)
    path = tmp_path_factory.mktemp("fc") / "fc.onnx"
    export(f, path)
    return f, Predictor(path), y, cov


def test_forecast_equals_the_estimator_on_good_input(forecaster):
    f, p, y, cov = forecaster
    np.testing.assert_allclose(p.forecast(y[:60], cov[:60]), f.predict(y[:60], cov[:60]),
                               atol=1e-4, rtol=0)
    np.testing.assert_allclose(p.forecast(), f.predict(), atol=1e-4, rtol=0)


def test_forecast_refuses_what_the_estimator_refuses(forecaster):
    f, p, y, cov = forecaster
    nan = cov[:60].copy()
    nan[-1, 1] = np.nan
    cases = {  # name: ((recent, covariates), what the sentence says)
        "one column": ((y[:60], cov[:60, :1]), "rows of 2 value(s)"),
        "three columns": ((y[:60], np.ones((60, 3))), "rows of 2 value(s)"),
        "NaN covariate": ((y[:60], nan), "missing or infinite"),
        "no covariates": ((y[:60], None), "fitted with 2 covariate(s)"),
        "2-D recent": ((np.stack([y[:60], y[:60]], 1), cov[:60]), "one 1-D series"),
        "covariates without recent": ((None, cov[:60]), "covariates go with recent values"),
        "too short": ((y[:5], cov[:5]), "the last 6 values"),
        "NaN recent": ((np.r_[y[:59], np.nan], cov[:60]), "missing or infinite"),
    }
    _both_refuse(f, p, cases)


def test_values_beyond_float32_are_refused_as_the_estimator_refuses_them(forecaster):
    """They became inf in the graph's input, and the forecast was a number (1e300, ...)."""
    f, p, y, cov = forecaster
    huge = np.full(60, 1e300)
    with pytest.raises(ValueError):
        f.predict(huge, cov[:60])
    with pytest.raises(ValueError) as e:
        p.forecast(huge, cov[:60])
    assert "beyond float32's range" in _sentence(e)


def test_values_the_estimator_does_not_read_as_numbers_are_refused_as_it_refuses_them(
        forecaster):
    """Dates and durations were served as counts of their unit (a forecast of 1.6e15 for
    dates), complex values without their imaginary parts (a warning, then a forecast), and
    10**400 ended in a bare OverflowError; the estimator refuses each in one sentence."""
    import pandas as pd

    f, p, y, cov = forecaster
    dates = pd.Series(pd.date_range("2020-01-01", periods=60))
    cases = {  # name: ((recent, covariates), what the sentence says)
        "dates": ((dates, cov[:60]), "recent holds dates"),
        "durations": ((np.arange(60).astype("timedelta64[s]"), cov[:60]),
                      "recent holds durations"),
        "complex": ((y[:60] + 1j, cov[:60]), "recent must hold real numbers, not complex"),
        "10**400": (([10 ** 400] * 60, cov[:60]), "recent must hold numbers"),
    }
    for recent, covs in (args for args, _ in cases.values()):
        with pytest.raises(ValueError):
            f.predict(recent, covs)
    # covariates as fit refuses them (predict's own check reads them with a warning)
    cases["complex covariates"] = ((y[:60], cov[:60] + 1j), "covariates must hold real")
    for name, ((recent, covs), says) in cases.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning was all that was said
            with pytest.raises(ValueError) as e:
                p.forecast(recent, covs)
        assert says in _sentence(e), name


def test_pandas_time_stamps_are_checked_as_the_estimator_checks_them(forecaster):
    """A Series stored out of time order, with a time stamp twice, or covariates on other
    time stamps than the values were served (their values read in the order stored, paired
    by position from the end): a forecast without a word where the estimator refuses."""
    import pandas as pd

    f, p, y, cov = forecaster
    when = pd.date_range("2020-01-01", periods=60, freq="D")
    s = pd.Series(y[:60], index=when)
    c = pd.DataFrame(cov[:60], index=when)
    day = pd.Timedelta(days=1)
    later = pd.DataFrame(cov[1:61], index=when + day)  # one row past the origin
    gap = c.set_axis(when.delete(57).insert(0, when[0] - day))  # same end, a day missing
    cases = {  # name: ((recent, covariates), what the sentence says)
        "out of order": ((s.iloc[::-1], c.iloc[::-1]), "time stamps out of order"),
        "duplicated": ((s.set_axis(when[:59].append(when[58:59])), c), "duplicated time stamp"),
        "covariates end later": ((s, later), "the covariates end at"),
        "covariates on other stamps": ((s, gap), "on other time stamps"),
    }
    _both_refuse(f, p, cases)
    np.testing.assert_allclose(p.forecast(s, c), f.predict(s, c), atol=1e-4, rtol=0)


def test_recent_of_another_frequency_is_refused_as_the_estimator_refuses_it(tmp_path):
    """Weekly values given to a model of monthly steps were served as months."""
    import pandas as pd

    from grukit.tasks.forecast import Forecaster

    torch.manual_seed(0)
    y = pd.Series(10 + np.sin(np.arange(60) / 5), index=pd.date_range("2015-01-01",
                                                                       periods=60, freq="MS"))
    f = Forecaster(hidden=4, horizon=2, epochs=1, lookback=6).fit(y)
    export(f, tmp_path / "m.onnx")
    p = Predictor(tmp_path / "m.onnx")
    weekly = y.set_axis(pd.date_range("2015-01-04", periods=60, freq="W"))
    with pytest.raises(ValueError):
        f.predict(weekly)
    with pytest.raises(ValueError) as e:
        p.forecast(weekly)
    assert "frequency W-SUN but the series was fitted on MS ones" in _sentence(e)
    quarters = y.set_axis(pd.period_range("2000Q1", periods=60, freq="Q"))
    with pytest.raises(ValueError):
        f.predict(quarters)
    with pytest.raises(ValueError) as e:
        p.forecast(quarters)
    assert "frequency QS-" in _sentence(e)  # (pandas names it QS-OCT: 10, 1, 4, 7)
    months = y.set_axis(y.index.to_period("M"))  # the same months as periods
    np.testing.assert_allclose(p.forecast(months), f.predict(months), atol=1e-4, rtol=0)
    # a custom business day's holidays are not part of its frequency's text, "C"
    days = y.set_axis(pd.date_range("2020-01-01", periods=60, freq="C"))
    g = Forecaster(hidden=4, horizon=2, epochs=1, lookback=6).fit(days)
    export(g, tmp_path / "g.onnx")
    off = y.set_axis(pd.date_range("2020-01-01", periods=60, freq=pd.offsets.CustomBusinessDay(
        holidays=["2020-01-03"])))
    np.testing.assert_allclose(Predictor(tmp_path / "g.onnx").forecast(off), g.predict(off),
                               atol=1e-4, rtol=0)
    np.testing.assert_allclose(p.forecast(y[:50]), f.predict(y[:50]), atol=1e-4, rtol=0)
    np.testing.assert_allclose(p.forecast(y.to_numpy()), f.predict(y.to_numpy()), atol=1e-4,
                               rtol=0)


def test_methods_of_another_task_say_so_in_one_sentence(forecaster):
    """They failed with a KeyError on the manifest ('items', 'tokenizer', ...)."""
    _, p, _, _ = forecaster
    calls = {"recommend": lambda: p.recommend([1]), "scores": lambda: p.scores([1]),
             "item_index": lambda: p.item_index(1), "initial_state": p.initial_state,
             "step": lambda: p.step([0], np.zeros((1, 1, 1), np.float32)),
             "tokenize": lambda: p.tokenize(["a"]), "audio front end": p.front_end,
             "audio front end ": lambda: p.read_wav("x.wav"),
             "predict_proba": lambda: p.predict_proba([[1.0]])}
    for name, call in calls.items():
        with pytest.raises(ValueError) as e:
            call()
        assert name.strip() in _sentence(e) and "Forecaster" in str(e.value), name


def test_the_manifest_is_found_beside_a_file_of_any_suffix(forecaster, tmp_path):
    f, _, y, cov = forecaster
    # "dot." and "..onnx": the export named their manifests as pathlib's stem ("dot.",
    # "."), the runtime looked for "dot.manifest.json" and "..onnx.manifest.json"
    for name in ("model.bin", "upper.ONNX", "plain", "dot.", "..onnx"):
        manifest = export(f, tmp_path / name)
        assert Predictor(tmp_path / name).manifest["model"] == name, manifest
        np.testing.assert_allclose(Predictor(manifest).forecast(), f.predict(), atol=1e-4,
                                   rtol=0)


def test_a_renamed_copy_is_refused_rather_than_served_with_another_graph(forecaster,
                                                                        tmp_path):
    """prod.onnx with prod.manifest.json copied from m.*: the manifest still names m.onnx,
    which the Predictor loaded instead of the file it was given (after a later export to
    m.onnx, another model's graph beside this one's scaling)."""
    import os
    import shutil

    f, _, _, _ = forecaster
    export(f, tmp_path / "m.onnx")
    for suffix in (".onnx", ".manifest.json"):
        shutil.copy(tmp_path / f"m{suffix}", tmp_path / f"prod{suffix}")
    with pytest.raises(ValueError) as e:
        Predictor(tmp_path / "prod.onnx")
    assert "describes the graph 'm.onnx', not 'prod.onnx'" in _sentence(e)
    os.symlink(tmp_path / "m.onnx", tmp_path / "current.onnx")  # a link to the export
    os.symlink(tmp_path / "m.manifest.json", tmp_path / "current.manifest.json")
    np.testing.assert_allclose(Predictor(tmp_path / "current.onnx").forecast(),
                               f.predict(), atol=1e-4, rtol=0)
    assert Predictor(tmp_path / "prod.manifest.json").manifest["model"] == "m.onnx"
    # a damaged manifest is named (it was json's "Expecting property name ..." or KeyError)
    for body, says in (("{broken", "is damaged"), ('{"format": "grukit.onnx-manifest"}',
                                                   "is not a grukit export manifest")):
        (tmp_path / "prod.manifest.json").write_text(body)
        with pytest.raises(ValueError) as e:
            Predictor(tmp_path / "prod.onnx")
        assert "prod.manifest.json' " + says in _sentence(e)
    # a manifest of a newer format (what its fields mean may have changed) is not read
    from grukit.export import runtime
    from grukit.tasks.export import FORMAT_VERSION

    assert runtime.MANIFEST_VERSION == FORMAT_VERSION
    body = json.loads((tmp_path / "m.manifest.json").read_text())
    newer = FORMAT_VERSION + 1
    (tmp_path / "m.manifest.json").write_text(json.dumps(body | {"format_version": newer}))
    with pytest.raises(ValueError) as e:
        Predictor(tmp_path / "m.onnx")
    assert f"is in manifest format {newer} (grukit" in _sentence(e)


def test_sequence_classifier_refuses_nan_and_empty_sequences(tmp_path):
    from grukit.tasks.classify import SequenceClassifier

    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(int(n), 2)) + i % 2 for i, n in
            enumerate(rng.integers(3, 8, 16))]
    torch.manual_seed(0)
    clf = SequenceClassifier(hidden=4, epochs=1, validation_split=0).fit(
        seqs, [i % 2 for i in range(16)])
    export(clf, tmp_path / "seq.onnx")
    p = Predictor(tmp_path / "seq.onnx")
    bad = rng.normal(size=(5, 2))
    for value in (np.nan, np.inf):
        bad[2, 1] = value
        with pytest.raises(ValueError, match="contains NaN/Inf"):
            clf.predict([bad])
        with pytest.raises(ValueError) as e:
            p.predict([seqs[0], bad])
        assert "sequence 1 contains NaN/Inf" in _sentence(e)
    with pytest.raises(ValueError) as e:
        p.predict_proba([np.zeros((0, 2))])
    assert "sequence 0 is empty" in _sentence(e)


def test_sequences_the_estimator_cannot_read_are_refused_as_it_refuses_them(tmp_path):
    """Complex values lost their imaginary parts (a ComplexWarning, then a prediction),
    text gave numpy's bare 'could not convert string to float', and 1e39 was called NaN/Inf
    after an overflow warning; the estimator refuses each in one sentence that names it."""
    from grukit.tasks.classify import SequenceClassifier

    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(int(n), 2)) + i % 2 for i, n in
            enumerate(rng.integers(3, 8, 16))]
    torch.manual_seed(0)
    clf = SequenceClassifier(hidden=4, epochs=1, validation_split=0).fit(
        seqs, [i % 2 for i in range(16)])
    export(clf, tmp_path / "seq.onnx")
    p = Predictor(tmp_path / "seq.onnx")
    cases = {"complex": (seqs[0] + 1j, "sequence 1 cannot be read as real numbers"),
             "text": (np.array([["a", "b"]], object), "sequence 1 cannot be read as real "
                                                      "numbers"),
             "1e39": (np.full((3, 2), 1e39), "sequence 1 holds 1e+39, beyond float32's "
                                             "range")}
    for name, (bad, says) in cases.items():
        with pytest.raises(ValueError):
            clf.predict([seqs[0], bad])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning was all that was said
            with pytest.raises(ValueError) as e:
                p.predict([seqs[0], bad])
        assert says in _sentence(e), name


def test_a_classifier_predict_refuses_options_it_would_ignore(tmp_path):
    """predict(x, k=3) or a misspelt option of a classifier was dropped without a word (a
    forecaster's and a recommender's are their methods' arguments, checked there)."""
    from grukit.tasks.classify import SequenceClassifier

    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(int(n), 2)) for n in rng.integers(3, 8, 8)]
    torch.manual_seed(0)
    clf = SequenceClassifier(hidden=4, epochs=1, validation_split=0).fit(
        seqs, [i % 2 for i in range(8)])
    export(clf, tmp_path / "seq.onnx")
    p = Predictor(tmp_path / "seq.onnx")
    with pytest.raises(TypeError) as e:
        p.predict(seqs, k=3)
    assert "takes no options" in _sentence(e) and "'k'" in str(e.value)
    assert list(p.predict(seqs)) == list(clf.predict(seqs))


def test_text_classifier_refuses_malformed_token_ids(tmp_path):
    from grukit.tasks.classify import TextClassifier

    texts = ["good phone", "great sound", "bad battery", "awful screen"] * 4
    labels = ["pos", "pos", "neg", "neg"] * 4
    torch.manual_seed(0)
    clf = TextClassifier(embed_dim=4, hidden=4, epochs=1, vocab_size=40,
                         validation_split=0).fit(texts, labels)
    export(clf, tmp_path / "txt.onnx")
    p = Predictor(tmp_path / "txt.onnx")
    vocab = p.manifest["vocab_size"]
    assert vocab == clf.tokenizer_.size
    # the text "[PAD]" is the unknown token (id 1) there, as the estimator reads it
    odd = ["good [PAD] phone", "[PAD]", "bad battery"]
    assert [a.tolist() for a in p.tokenize(odd)] == \
        [a.tolist() for a in clf.tokenizer_.encode(odd, clf.config.max_len)]
    np.testing.assert_allclose(p.predict_proba(odd), clf.predict_proba(odd), atol=1e-5)
    for nothing in (None, 3):  # predict() with no input: "'NoneType' is not iterable"
        with pytest.raises(TypeError) as e:
            p.predict(nothing)
        assert "give a list of texts or token-id lists" in _sentence(e)
    # texts from an iterator: the type check read it up and nothing was predicted
    np.testing.assert_array_equal(p.predict(t for t in odd), clf.predict(odd))
    np.testing.assert_array_equal(p.predict(iter([[3, 4]])), p.predict([[3, 4]]))
    want = p.predict_proba([[3, 4]])
    np.testing.assert_array_equal(p.predict_proba([[3, 4, 0, 0]]), want)  # trailing padding
    np.testing.assert_array_equal(p.predict_proba([[3.0, 4.0]]), want)  # whole floats
    cases = {"padding inside": ([[3, 0, 4]], "padding id 0 at position 1"),
             "negative": ([[3, -2]], "token id -2"),
             "past the vocabulary": ([[3, vocab]], f"token id {vocab}"),
             "fractional": ([[3, 4.5]], "not a whole-number token id"),
             "empty": ([[]], "sequence 0 is empty"),
             "padding only": ([[0, 0]], "sequence 0 is empty"),
             "nested": ([[[3, 4]]], "flat list")}
    for name, (ids, says) in cases.items():
        with pytest.raises(ValueError) as e:
            p.predict_proba(ids)
        assert says in _sentence(e), name
    # copied without its tokenizer, or with a damaged one: texts say which file (it was a
    # bare Exception, "No such file or directory (os error 2)"); token ids still predict
    (tmp_path / "txt.tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError) as e:
        Predictor(tmp_path / "txt.onnx").predict(["good phone"])
    assert "copy the 'txt.tokenizer.json' that the export wrote" in _sentence(e)
    np.testing.assert_array_equal(Predictor(tmp_path / "txt.onnx").predict_proba([[3, 4]]),
                                  want)
    (tmp_path / "txt.tokenizer.json").write_text("{damaged")
    with pytest.raises(ValueError) as e:
        Predictor(tmp_path / "txt.onnx").predict(["good phone"])
    assert "cannot read the tokenizer" in _sentence(e)


def test_speech_predictor_refuses_integer_pcm_as_the_estimator_does(tmp_path, tone_speech):
    """An int16 waveform read at its own scale (up to 32767) gave scores of a waveform
    32767 times too loud; both refuse it and name the fix."""
    clf, waves = tone_speech
    export(clf, tmp_path / "speech.onnx")
    p = Predictor(tmp_path / "speech.onnx")
    np.testing.assert_allclose(p.predict_proba([waves[0]]), clf.predict_proba([waves[0]]),
                               atol=1e-3)
    pcm = (waves[0] * 32767).astype(np.int16)
    for x in (pcm, pcm.astype(np.int32), (pcm // 256 + 128).astype(np.uint8)):
        with pytest.raises(ValueError, match=f"holds {x.dtype} samples"):
            clf.predict_proba([x])
        with pytest.raises(ValueError) as e:
            p.predict_proba([waves[1], x])
        msg = _sentence(e)
        assert f"recording 1 holds {x.dtype} samples" in msg and "32768" in msg, msg
    np.testing.assert_allclose(p.predict_proba([pcm / 32768]), clf.predict_proba([pcm / 32768]),
                               atol=1e-3)


def test_speech_predictor_refuses_a_sample_rate_pair_complex_and_ragged_samples(
        tmp_path, tone_speech):
    """soundfile.read's (samples, rate) pair ended in numpy's 'inhomogeneous shape' error
    (the estimator names it), complex samples were served without their imaginary parts
    after a warning, and a ragged list ended in numpy's error."""
    clf, waves = tone_speech
    export(clf, tmp_path / "speech.onnx")
    p = Predictor(tmp_path / "speech.onnx")
    with pytest.raises(ValueError, match="is a \\(samples, rate\\) pair"):
        clf.predict_proba([(waves[0], 8000)])
    cases = {"pair": ((waves[0], 8000), "recording 1 is a (samples, rate) pair"),
             "complex": (waves[0] + 0.5j, "recording 1 holds complex samples"),
             "ragged": ([0.1, [0.2, 0.3]], "recording 1 cannot be read as numbers")}
    for name, (bad, says) in cases.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning was all that was said
            with pytest.raises(ValueError) as e:
                p.predict_proba([waves[1], bad])
        assert says in _sentence(e), name


def test_speech_predictor_takes_a_recordings_folder_and_refuses_a_bare_waveform(tmp_path):
    import soundfile as sf

    from grukit.data.audio_folder import read_audio_folder
    from grukit.tasks.speech.estimator import SpeechClassifier

    t, rng = np.arange(1600) / 8000, np.random.default_rng(0)
    for i, f in enumerate((300, 1200) * 2):  # noise: a pure tone's deltas are 0 up to rounding
        sf.write(tmp_path / f"{i % 2}_ann_{i}.wav",
                 0.5 * np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal(len(t)), 8000)
    rec = read_audio_folder(tmp_path)
    torch.manual_seed(0)
    clf = SpeechClassifier(model="gru", hidden=4, epochs=1, validation_split=0,
                           spec_augment=False).fit(rec, rec.labels)
    export(clf, tmp_path / "speech.onnx")
    p = Predictor(tmp_path / "speech.onnx")
    np.testing.assert_allclose(p.predict_proba(rec), clf.predict_proba(rec), atol=1e-3)
    with pytest.raises(TypeError, match="not a single waveform"):  # was "sequence 0 has shape ()"
        p.predict_proba(np.zeros(1600))
    np.testing.assert_array_equal(p.predict_proba(np.zeros((2, 1600))),  # a batch of rows
                                  p.predict_proba([np.zeros(1600)] * 2))


def test_recommend_reads_64_bit_item_ids_exactly(tmp_path):
    """Ids past 2**53 (64-bit hashes, snowflake ids) are not rounded through float64, which
    refused them or took 10**18 + 1 for its neighbour 10**18."""
    import pandas as pd

    from grukit.tasks.recommend import GRU4Rec

    base = 10 ** 18
    ids = [base, base + 1, base + 2, base + 256]  # one float64 apart: base + 256
    rng = np.random.default_rng(0)
    rows = [(s, ids[i], t) for s in range(24)
            for t, i in enumerate(rng.integers(0, 4, rng.integers(2, 5)))]
    events = pd.DataFrame(rows, columns=["session", "item", "time"])
    torch.manual_seed(0)
    m = GRU4Rec(hidden=3, epochs=1, n_sample=0, batch_size=4).fit(events)
    export(m, tmp_path / "rec.onnx")
    p = Predictor(tmp_path / "rec.onnx")
    for session in ([base + 1], [base + 2, base + 1], [str(base + 1)], [f" {base + 2} "]):
        assert p.recommend(session, k=4) == m.recommend(session, k=4), session
    assert p.item_index(base + 1) == m.items_.index[base + 1] != m.items_.index[base]
    with pytest.raises(ValueError) as e:
        p.recommend([base + 3])  # float64(base + 3) is base: a known id
    assert f"item {base + 3} is not one this model knows" in _sentence(e)
    # one id, not in a list: "123" was read as the session 1, 2, 3, and an int failed in
    # Python's iteration; both are refused as GRU4Rec.recommend refuses them
    for one in (str(base), base, "123"):
        with pytest.raises(TypeError, match="wrap a single item in a list"):
            m.recommend(one)
        with pytest.raises(TypeError) as e:
            p.recommend(one)
        assert "session_items must be a list of item ids" in _sentence(e)
    # step's item indices and state are checked: -1 was scored as the last item (ONNX
    # Gather reads it from the end), 1.7 as item 1, and a wrong state failed in onnxruntime
    h = p.initial_state(2)
    for items, state, says in (([-1, 2], h, "whole-number item indices from 0 to 3"),
                               ([1.7, 2], h, "whole-number item indices"),
                               ([4, 0], h, "whole-number item indices"),
                               ([1, 2], p.initial_state(3), "state must have shape (1, 2, 3)"),
                               ([1], np.zeros((1, 3)), "state must have shape (1, 1, 3)")):
        with pytest.raises(ValueError) as e:
            p.step(items, state)
        assert says in _sentence(e), (items, says)
    scores, _ = p.step(np.array([1, 2], np.int32), h)
    assert scores.shape == (2, 4)
    # k defaults to 20, or every item of a smaller catalogue, as GRU4Rec.recommend
    assert p.recommend([base]) == m.recommend([base]) and len(p.recommend([base])) == 4


# What the estimators refuse where the Predictor gave a meaningless result or failed deep
# inside a library: sequences that leave float32's range once standardised, texts that are
# not valid Unicode, a session given as a set.

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


def _recommender(tmp_path, items: int):
    """A small GRU4Rec over ``items`` items, and its exported graph's Predictor."""
    import pandas as pd

    from grukit.tasks.recommend import GRU4Rec

    rng = np.random.default_rng(0)
    rows = [(s, int(i), t) for s in range(24)
            for t, i in enumerate(rng.integers(0, items, rng.integers(2, 5)))]
    torch.manual_seed(0)
    m = GRU4Rec(hidden=3, epochs=1, n_sample=0, batch_size=4).fit(
        pd.DataFrame(rows, columns=["session", "item", "time"]))
    export(m, tmp_path / "rec.onnx")
    return m, Predictor(tmp_path / "rec.onnx")


def test_recommend_refuses_a_set_and_takes_a_numpy_integer_k(tmp_path):
    """A set (or a dict) has no order, yet its own order was taken as the session's events,
    as the estimator refuses it; k=np.int64(5), which the estimator takes, was refused."""
    m, p = _recommender(tmp_path, 8)
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


def test_step_of_no_session_gives_no_scores_and_a_nan_state_is_refused(tmp_path):
    """A batch of 0 sessions aborted the Python process inside onnxruntime's GRU (an int64
    empty array; an empty list was refused as not whole numbers), and a state holding NaN
    scored every item NaN, so recommend ranked them by the order of the catalogue."""
    m, p = _recommender(tmp_path, 5)
    for none in (np.array([], np.int64), []):
        scores, h = p.step(none, p.initial_state(0))
        assert scores.shape == (0, 5) and h.shape == (1, 0, 3)
    h = p.initial_state(2)
    h[0, 1, 2] = np.nan
    with pytest.raises(ValueError) as e:
        p.step([1, 2], h)
    assert "state holds NaN or Inf" in _sentence(e)
    scores, h = p.step([1, 2], p.initial_state(2))  # good input still served
    assert scores.shape == (2, 5) and np.isfinite(scores).all()


def test_a_manifest_copied_without_its_graph_names_the_file_to_copy(forecaster, tmp_path):
    """It failed in onnxruntime (NoSuchFile, "Load model ... failed"), where a tokenizer
    left behind is named with the file to copy."""
    import shutil

    f, _, _, _ = forecaster
    export(f, tmp_path / "m.onnx")
    (tmp_path / "served").mkdir()
    shutil.copy(tmp_path / "m.manifest.json", tmp_path / "served" / "m.manifest.json")
    for given in ("m.onnx", "m.manifest.json"):
        with pytest.raises(FileNotFoundError) as e:
            Predictor(tmp_path / "served" / given)
        assert "no graph" in _sentence(e) and "copy the 'm.onnx' that the export wrote" \
            in str(e.value)


def test_a_damaged_graph_is_refused_in_one_sentence_naming_it(forecaster, tmp_path):
    """A graph cut short in copying (or not a graph at all) ended in onnxruntime's
    InvalidProtobuf / Fail exception; the tokenizer and manifest are named when damaged."""
    f, _, _, _ = forecaster
    export(f, tmp_path / "m.onnx")
    whole = (tmp_path / "m.onnx").read_bytes()
    for damaged in (whole[:len(whole) // 2], b"", b"not a graph"):
        (tmp_path / "m.onnx").write_bytes(damaged)
        with pytest.raises(ValueError) as e:
            Predictor(tmp_path / "m.onnx")
        msg = _sentence(e)
        assert msg.startswith(f"cannot load the graph {str(tmp_path / 'm.onnx')!r} (") and \
            "export the model again" in msg, msg
