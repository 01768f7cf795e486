"""Every task model exports: its ONNX graph in onnxruntime, and grukit.export.runtime's
Predictor on the manifest beside it, equal the estimator's own predict / predict_proba /
recommend on real data (float32 tolerance); the runtime imports nothing from grukit, torch or
pandas."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from conftest import SHARED_DATA  # noqa: E402
from grukit.tasks.export import beside, export  # noqa: E402

TOL = 1e-5  # float32
RUNTIME = Path(__file__).resolve().parents[1] / "src" / "grukit" / "export" / "runtime.py"
SENTENCES = SHARED_DATA / "text" / "amazon_cells_labelled.txt"
SESSIONS = SHARED_DATA / "sessions" / "diginetica_sample_train-item-views.csv"


def _runtime():
    """runtime.py loaded from its file, as a server without grukit would."""
    spec = importlib.util.spec_from_file_location("grukit_runtime_copy", RUNTIME)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _statsmodels(name: str) -> np.ndarray:
    datasets = pytest.importorskip("statsmodels.datasets", reason="statsmodels is absent")
    try:
        frame = getattr(datasets, name).load_pandas().data
    except Exception as e:  # a broken install without its bundled files
        pytest.skip(f"statsmodels' {name} data set cannot be read: {e}")
    return frame


def _sentences():
    if not SENTENCES.is_file():
        pytest.skip(f"{SENTENCES} is absent; set GRUKIT_SHARED_DATA to the shared data folder")
    rows = [line.rsplit("\t", 1) for line in SENTENCES.read_text(encoding="utf-8").splitlines()
            if "\t" in line][:260]
    return [t for t, _ in rows], ["positive" if y.strip() == "1" else "negative"
                                  for _, y in rows]


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    from grukit.tasks.classify import TextClassifier

    texts, labels = _sentences()
    clf = TextClassifier(model="bigru", embed_dim=8, hidden=6, epochs=1, vocab_size=400,
                         validation_split=0).fit(texts[:200], labels[:200])
    path = tmp_path_factory.mktemp("text") / "sentiment.onnx"
    export(clf, path)
    return clf, path, texts[200:] + ["", "zzzz qqqq unseen words"]


@pytest.fixture(scope="module")
def forecaster(tmp_path_factory):
    from grukit.tasks.forecast import Forecaster

    nile = _statsmodels("nile")["volume"].to_numpy(np.float64)
    f = Forecaster(model="lstm", hidden=8, layers=2, horizon=4, epochs=3).fit(nile[:80])
    path = tmp_path_factory.mktemp("forecast") / "nile.onnx"
    export(f, path)
    return f, path, nile


def test_text_classifier_export_equals_predict_proba_on_sentiment_sentences(text_model):
    clf, path, test = text_model
    assert beside(path, "tokenizer").is_file() and beside(path, "labels").is_file()
    assert json.loads(beside(path, "labels").read_text())["values"] == ["negative", "positive"]
    p = _runtime().Predictor(path)
    np.testing.assert_allclose(p.predict_proba(test), clf.predict_proba(test), atol=TOL, rtol=0)
    assert p.predict(test).tolist() == clf.predict(test).tolist()
    ids = [a.tolist() for a in clf.tokenizer_.encode(test, clf.config.max_len)]
    np.testing.assert_allclose(p.predict_proba(ids), clf.predict_proba(test), atol=TOL, rtol=0)


def test_sequence_classifier_export_equals_predict_proba_on_sunspot_windows(tmp_path):
    from grukit.tasks.classify import SequenceClassifier

    spots = _statsmodels("sunspots")["SUNACTIVITY"].to_numpy(np.float64)
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(spots) - 30, 90)
    seqs = [np.stack([spots[s:s + n], np.diff(spots[s:s + n + 1])], 1)  # (T_i, 2)
            for s, n in zip(starts, rng.integers(4, 25, 90), strict=True)]
    labels = [int(spots[s + len(q)] > spots[s + len(q) - 1]) for s, q in zip(starts, seqs,
                                                                               strict=True)]
    clf = SequenceClassifier(model="bilstm", hidden=5, epochs=2, validation_split=0,
                             dropout=0.1).fit(seqs[:60], labels[:60])
    export(clf, tmp_path / "spots.onnx")
    manifest = json.loads(beside(tmp_path / "spots.onnx", "manifest").read_text())
    assert manifest["inputs"] == [{"name": "input", "dtype": "float",
                                   "shape": ["batch", "time", 3]}]
    p = _runtime().Predictor(tmp_path / "spots.onnx")
    test = seqs[60:]
    np.testing.assert_allclose(p.predict_proba(test), clf.predict_proba(test), atol=TOL, rtol=0)
    assert p.predict(test).tolist() == clf.predict(test).tolist()


def test_forecaster_export_equals_predict_on_nile(forecaster):
    f, path, nile = forecaster
    manifest = json.loads(beside(path, "manifest").read_text())
    assert manifest["task"] == "Forecaster" and manifest["forecast"]["horizon"] == 4
    p = _runtime().Predictor(path)
    scale = f.stats[0].scale  # the graph's output is in units of the series' spread
    np.testing.assert_allclose(p.predict(), f.predict(), atol=TOL * scale, rtol=0)
    for end in (90, 100):
        np.testing.assert_allclose(p.predict(nile[:end]), f.predict(nile[:end]),
                                   atol=TOL * scale, rtol=0)


def test_forecaster_of_several_series_continues_every_series_as_predict_does(tmp_path):
    """predict() of a forecaster fitted on several series gives one row per series; the
    Predictor's gave series 0 alone, shaped as a forecaster of one series."""
    from grukit.tasks.forecast import Forecaster

    nile = _statsmodels("nile")["volume"].to_numpy(np.float64)
    series = [nile[:70], nile[30:], 2 * nile[:60]]
    f = Forecaster(hidden=4, horizon=3, epochs=1, lookback=6).fit(series)
    export(f, tmp_path / "several.onnx")
    p = _runtime().Predictor(tmp_path / "several.onnx")
    want = f.predict()  # (3, horizon)
    assert want.shape == (3, 3)
    scale = max(s.scale for s in f.stats)
    np.testing.assert_allclose(p.predict(), want, atol=TOL * scale, rtol=0)
    for i in range(3):  # one series: its row, or after its own recent values
        np.testing.assert_allclose(p.forecast(index=i), want[i], atol=TOL * scale, rtol=0)
        np.testing.assert_allclose(p.predict(series[i][:50], index=i),
                                   f.predict(series[i][:50], index=i), atol=TOL * scale,
                                   rtol=0)


FSDD = SHARED_DATA / "speech" / "fsdd" / "recordings"


@pytest.fixture(scope="module")
def speech_model(tmp_path_factory):
    """A SpeechClassifier trained briefly on real recordings (FSDD: two speakers, three takes
    of each digit), exported; the test recordings are other takes."""
    pytest.importorskip("soundfile")
    pytest.importorskip("librosa")
    if not FSDD.is_dir():
        pytest.skip(f"{FSDD} is absent; set GRUKIT_SHARED_DATA to the shared data folder")
    from grukit.tasks.speech import SpeechClassifier

    take = lambda takes: [str(FSDD / f"{d}_{s}_{t}.wav") for d in range(10)  # noqa: E731
                          for s in ("george", "jackson") for t in takes]
    train, test = take(range(3)), take(range(40, 42))
    clf = SpeechClassifier(model="gru", hidden=8, epochs=1, validation_split=0,
                           spec_augment=False).fit(train, [p.split("/")[-1][0] for p in train])
    path = tmp_path_factory.mktemp("speech") / "digits.onnx"
    export(clf, path)
    return clf, path, test


def test_speech_classifier_export_equals_predict_proba_on_fsdd_recordings(speech_model):
    from grukit.data.audio import read_wav
    from grukit.data.audio_features import features
    from grukit.tasks.speech.estimator import feature_config

    clf, path, test = speech_model
    manifest = json.loads(beside(path, "manifest").read_text())
    assert manifest["task"] == "SpeechClassifier" and manifest["channels"] == 39
    assert (path.parent / manifest["audio"]).is_file()
    p = _runtime().Predictor(path)
    wave = read_wav(test[0])[0]
    np.testing.assert_array_equal(p.read_wav(test[0]), wave)
    np.testing.assert_allclose(p.audio_features(wave),
                               features(wave, feature_config(clf.config)), atol=1e-4, rtol=1e-5)
    want = clf.predict_proba(test)  # (20, 10)
    np.testing.assert_allclose(p.predict_proba(test), want, atol=TOL, rtol=0)
    waves = [read_wav(t)[0] for t in test[:4]]  # waveforms, and frames, as well as paths
    np.testing.assert_allclose(p.predict_proba(waves), want[:4], atol=TOL, rtol=0)
    frames = [features(w, feature_config(clf.config)) for w in waves]
    np.testing.assert_allclose(p.predict_proba(frames), want[:4], atol=TOL, rtol=0)
    assert p.predict(test).tolist() == clf.predict(test).tolist()


def test_speech_classifier_int8_onnx_runs_near_the_float_model(speech_model, tmp_path):
    """int8 quantizes the Dense head and the attention's W, not its vector v (a MatMul by a
    vector that ONNX Runtime quantized with a zero point its kernel refused at run time)."""
    clf, _, test = speech_model
    export(clf, tmp_path / "digits8.onnx", int8=True)
    manifest = json.loads(beside(tmp_path / "digits8.onnx", "manifest").read_text())
    assert manifest["int8"]["onnx_ops"]  # something was quantized
    got = _runtime().Predictor(tmp_path / "digits8.onnx").predict_proba(test)
    np.testing.assert_allclose(got, clf.predict_proba(test), atol=0.02, rtol=0)


def test_speech_classifier_pt2_program_equals_the_network(speech_model, tmp_path):
    import torch

    from grukit.export import load_pt2

    clf, _, test = speech_model
    export(clf, tmp_path / "digits.pt2", format="pt2")
    manifest = json.loads(beside(tmp_path / "digits.pt2", "pt2-manifest").read_text())
    assert manifest["task"] == "SpeechClassifier"
    assert (tmp_path / manifest["audio"]).is_file()
    items = clf._items(clf._prepare(test[:5]))  # scaled frames of unequal lengths
    x = clf._pad(items, max(len(a) for a in items))  # (5, T, 40): frames and validity flag
    with torch.no_grad():
        torch.testing.assert_close(load_pt2(tmp_path / "digits.pt2").module()(x),
                                   clf.model(x), atol=TOL, rtol=0)


def test_speech_runtime_reads_pcm_of_every_width_as_soundfile_does(speech_model, tmp_path):
    import soundfile as sf

    _, path, _ = speech_model
    p = _runtime().Predictor(path)
    y = np.random.default_rng(0).uniform(-1, 1, 801)
    y[:4] = [-1.0, 0.0, 0.5, -0.5]
    for subtype in ("PCM_U8", "PCM_16", "PCM_24", "PCM_32"):
        f = tmp_path / f"{subtype}.wav"
        sf.write(f, y, 8000, subtype=subtype)
        np.testing.assert_array_equal(p.read_wav(f), sf.read(f, dtype="float64")[0],
                                      err_msg=subtype)


def test_speech_runtime_refuses_recordings_it_cannot_read_in_one_sentence(speech_model,
                                                                          tmp_path):
    import soundfile as sf

    _, path, test = speech_model
    p = _runtime().Predictor(path)
    stereo, fast = tmp_path / "stereo.wav", tmp_path / "fast.wav"
    sf.write(stereo, np.zeros((800, 2)), 8000, subtype="PCM_16")
    sf.write(fast, np.zeros(1600), 16000, subtype="PCM_16")
    for bad, said in ((stereo, "2 channel(s) of 16-bit samples at 8000 Hz"),
                      (fast, "at 16000 Hz; this runtime reads mono")):
        with pytest.raises(ValueError) as e:
            p.predict([test[0], str(bad)])
        assert said in _sentence(e)
    (tmp_path / "text.wav").write_text("not audio")
    (tmp_path / "empty.wav").write_bytes(b"")
    for bad in ("text.wav", "empty.wav", "."):  # not audio, no bytes, a folder
        with pytest.raises(ValueError) as e:
            p.predict([str(tmp_path / bad)])
        assert "as a PCM wav file (" in _sentence(e) and "()" not in str(e.value)
    with pytest.raises(ValueError) as e:
        p.predict([np.array([0.1, np.nan])])
    assert "holds NaN/Inf" in _sentence(e)
    with pytest.raises(TypeError, match="not a single path"):
        p.predict(test[0])


@pytest.fixture(scope="module")
def recommender():
    if not SESSIONS.is_file():
        pytest.skip(f"{SESSIONS} is absent; set GRUKIT_SHARED_DATA to the shared data folder")
    from grukit.data import read_events
    from grukit.tasks.recommend import GRU4Rec

    events = read_events(str(SESSIONS)).iloc[:2500]
    model = GRU4Rec(hidden=12, layers=2, epochs=1, n_sample=32, batch_size=16,
                    tied=False).fit(events)
    return model, list(model.index(events))[:6]


def test_gru4rec_step_graph_equals_recommend_scores_on_diginetica(recommender, tmp_path):
    model, sessions = recommender
    model.export_onnx(tmp_path / "rec.onnx")
    sess = ort.InferenceSession(str(tmp_path / "rec.onnx"), providers=["CPUExecutionProvider"])
    # the sessions side by side, each slot keeping its state until its own last event
    lengths = np.array([len(s) for s in sessions])
    h = np.zeros((2, len(sessions), 12), np.float32)  # (L, B, H)
    last = np.zeros((len(sessions), model.n_items), np.float32)
    for t in range(lengths.max()):
        items = np.array([s[min(t, len(s) - 1)] for s in sessions], np.int64)
        scores, h_new = sess.run(None, {"item": items, "h0": h})
        live = t < lengths  # (B,)
        h = np.where(live[None, :, None], h_new, h)
        last = np.where(live[:, None], scores, last)
    for b, seq in enumerate(sessions):
        ranked = model.recommend(model.items_.ids[seq].tolist(), k=model.n_items,
                                 return_scores=True)
        want = dict(ranked)
        expect = np.array([want[i] for i in model.items_.ids.tolist()])
        np.testing.assert_allclose(last[b], expect, atol=TOL, rtol=0)


def test_gru4rec_step_graph_refuses_an_index_outside_the_items(recommender, tmp_path):
    """ONNX Gather reads index -1 as the last item: the graph scored a session as if its
    event were that item; now it fails in a node that names the item map."""
    model, _ = recommender
    model.export_onnx(tmp_path / "rec.onnx")
    sess = ort.InferenceSession(str(tmp_path / "rec.onnx"), providers=["CPUExecutionProvider"])
    h = np.zeros((2, 2, 12), np.float32)
    assert sess.run(None, {"item": np.array([0, 1], np.int64), "h0": h})[0].shape == \
        (2, model.n_items)
    for bad in (-1, 10**6):
        with pytest.raises(Exception, match="item indices must lie in") as err:
            sess.run(None, {"item": np.array([0, bad], np.int64), "h0": h})
        assert "manifest's item map" in str(err.value)


def test_gru4rec_runtime_recommends_what_the_model_recommends(recommender, tmp_path):
    model, sessions = recommender
    export(model, tmp_path / "rec.onnx")
    p = _runtime().Predictor(tmp_path / "rec.onnx")
    for seq in sessions:
        ids = model.items_.ids[seq].tolist()
        got = p.recommend(ids, k=10, return_scores=True)
        want = model.recommend(ids, k=10, return_scores=True)
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=TOL, rtol=0)
        assert [i for i, _ in got] == [i for i, _ in want]
    assert p.recommend([str(model.items_.ids[0])], k=3) == p.recommend([model.items_.ids[0]],
                                                                      k=3)
    with pytest.raises(ValueError, match="is not one this model knows"):
        p.recommend([-12345])


def test_export_refuses_unknown_formats_and_models_without_export(forecaster, tmp_path):
    f, _, _ = forecaster
    with pytest.raises(ValueError, match="format must be one of onnx, pt2; got 'tflite'"):
        export(f, tmp_path / "f.tflite", format="tflite")
    with pytest.raises(TypeError, match="a str has no ONNX export yet"):
        export("model", tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("format", ["onnx", "pt2"])
def test_export_of_a_model_not_trained_yet_says_so(format, tmp_path):
    """It failed with an AttributeError on what fit sets (classes_, n_cov, items_, ...)."""
    from grukit.tasks.classify import SequenceClassifier, TextClassifier
    from grukit.tasks.estimator import NotFittedError
    from grukit.tasks.forecast import Forecaster
    from grukit.tasks.recommend import GRU4Rec

    for cls in (Forecaster, TextClassifier, SequenceClassifier) + (
            (GRU4Rec,) if format == "onnx" else ()):  # a GRU4Rec has no pt2, fitted or not
        with pytest.raises(NotFittedError, match=f"{cls.__name__} is not trained; call fit"):
            export(cls(), tmp_path / f"m.{format}", format=format)
    assert not list(tmp_path.iterdir())


_BLOCKED = textwrap.dedent("""
    import importlib.abc, importlib.util, json, sys
    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("grukit", "torch", "pandas"):
                raise ImportError(f"the runtime imported {name}")
    sys.meta_path.insert(0, Refuse())
    spec = importlib.util.spec_from_file_location("runtime", sys.argv[1])
    rt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rt)
    forecast = rt.Predictor(sys.argv[2]).predict().tolist()
    text = rt.Predictor(sys.argv[3])
    speech = rt.Predictor(sys.argv[5]).predict_proba(json.loads(sys.argv[6])).tolist()
    print(json.dumps({"forecast": forecast, "speech": speech,
                      "proba": text.predict_proba(json.loads(sys.argv[4])).tolist(),
                      "loaded": sorted(m.split(".")[0] for m in sys.modules
                                       if m.split(".")[0] in ("grukit", "torch", "pandas"))}))
""")


def _run_blocked(python: str, forecaster, text_model, speech_model) -> dict:
    f, f_path, _ = forecaster
    clf, t_path, test = text_model
    sp, s_path, recordings = speech_model
    out = subprocess.run([python, "-I", "-c", _BLOCKED, str(RUNTIME), str(f_path),
                          str(t_path), json.dumps(test[:8]), str(s_path),
                          json.dumps(recordings[:6])],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["loaded"] == []
    np.testing.assert_allclose(got["forecast"], f.predict(), atol=TOL * f.stats[0].scale,
                               rtol=0)
    np.testing.assert_allclose(got["proba"], clf.predict_proba(test[:8]), atol=TOL, rtol=0)
    np.testing.assert_allclose(got["speech"], sp.predict_proba(recordings[:6]), atol=TOL,
                               rtol=0)
    return got


def test_runtime_predicts_with_grukit_torch_and_pandas_refused(forecaster, text_model,
                                                               speech_model):
    _run_blocked(sys.executable, forecaster, text_model, speech_model)


@pytest.mark.slow
def test_runtime_in_a_fresh_virtual_environment_with_onnxruntime_and_numpy(
        forecaster, text_model, speech_model, tmp_path):
    import venv

    env = tmp_path / "env"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env)
    python = str(env / "bin" / "python")
    pip = subprocess.run([python, "-m", "pip", "install", "-q", "onnxruntime", "numpy",
                          "tokenizers"], capture_output=True, text=True, timeout=600)
    if pip.returncode:
        pytest.skip(f"pip cannot install onnxruntime, numpy and tokenizers here: "
                    f"{pip.stderr.strip().splitlines()[-1:]}")
    check = subprocess.run([python, "-c", "import importlib.util as u; print([m for m in "
                            "('torch', 'pandas', 'grukit') if u.find_spec(m)])"],
                           capture_output=True, text=True, timeout=60)
    assert check.stdout.strip() == "[]", check.stdout + check.stderr
    _run_blocked(python, forecaster, text_model, speech_model)


def _sentence(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg.endswith("."), msg
    return msg


def test_runtime_bad_input_gets_one_sentence(forecaster, text_model, tmp_path):
    rt = _runtime()
    with pytest.raises(FileNotFoundError) as e:
        rt.Predictor(tmp_path / "none.onnx")
    assert "grukit export MODEL_DIR --format onnx" in _sentence(e)
    (tmp_path / "x.manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError) as e:
        rt.Predictor(tmp_path / "x.onnx")
    assert "is not a grukit export manifest" in _sentence(e)
    f, f_path, nile = forecaster
    p = rt.Predictor(f_path)
    lookback = json.loads(beside(f_path, "manifest").read_text())["forecast"]["lookback"]
    with pytest.raises(ValueError) as e:
        p.predict(nile[:lookback - 1])
    assert f"predict needs the last {lookback} values (the lookback)" in _sentence(e)
    with pytest.raises(ValueError, match="without covariates"):
        p.predict(nile[:90], covariates=np.ones((90, 1)))
    with pytest.raises(ValueError, match="predict_proba serves the classifiers"):
        p.predict_proba([[1, 2]])
    _, t_path, _ = text_model
    text = rt.Predictor(t_path)
    with pytest.raises(TypeError, match="not a single string"):
        text.predict("one text")
    with pytest.raises(TypeError, match="texts or token-id lists, not both"):
        text.predict(["a text", [3, 4]])
