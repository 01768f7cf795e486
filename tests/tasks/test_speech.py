"""grukit.tasks.speech: SpeechClassifier on tiny synthetic recordings (a tone of its own pitch
per class, written as wav files in tmp_path), save/load bit for bit, its layers, bad
settings; the streaming recognizer against the batch classifier; one FSDD check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

sf = pytest.importorskip("soundfile")
pytest.importorskip("librosa")

from conftest import SHARED_DATA  # noqa: E402
from grukit.tasks.speech import SpeechClassifier  # noqa: E402
from grukit.tasks.speech.network import CropPadding, SpecAugment  # noqa: E402

FSDD = SHARED_DATA / "speech" / "fsdd" / "recordings"
PITCH = {"0": 300.0, "1": 700.0, "2": 1500.0}
SMALL = dict(model="gru", hidden=12, epochs=12, batch_size=8, learning_rate=1e-2,
             validation_split=0.0, dropout=0.0, n_mels=20, n_mfcc=8, deltas=1)


def word(label: str, take: int, sr=8000, pad=0.05) -> np.ndarray:
    """A 'word': a tone of the label's pitch (shifted a little per take) inside silence."""
    rng = np.random.default_rng(take)
    t = np.arange(int((0.15 + 0.02 * (take % 3)) * sr)) / sr
    f = PITCH[label] * (1 + 0.03 * (take % 4 - 1.5))
    tone = 0.4 * np.sin(2 * np.pi * f * t) * np.hanning(len(t))
    sil = np.zeros(int(pad * sr))
    return np.concatenate([sil, tone, sil]) + 0.002 * rng.standard_normal(len(t) + 2 * len(sil))


def write_set(folder, takes=6, speakers=("ann", "bob")):
    paths, labels = [], []
    for s_i, s in enumerate(speakers):
        for lab in PITCH:
            for i in range(takes):
                p = folder / f"{lab}_{s}_{i}.wav"
                sf.write(p, word(lab, i + 10 * s_i), 8000, subtype="PCM_16")
                paths.append(str(p))
                labels.append(lab)
    return paths, np.array(labels)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tones")
    paths, labels = write_set(folder)
    clf = SpeechClassifier(**SMALL).fit(paths, labels)
    return clf, paths, labels, folder


def test_fit_returns_self_and_tells_the_tones_apart(trained):
    clf, paths, labels, _ = trained
    assert clf.fitted_ and len(clf.history_.history["loss"]) == SMALL["epochs"]
    fresh = [word(lab, 99) for lab in PITCH]  # unseen takes, as waveforms
    assert clf.predict(fresh).tolist() == list(PITCH)
    assert clf.evaluate(paths, labels)["accuracy"] == 1.0


def test_waveforms_and_their_files_give_the_same_probabilities(trained):
    clf, paths, _, _ = trained
    from grukit.data.audio import read_wav

    waves = [read_wav(p)[0] for p in paths[:4]]
    np.testing.assert_array_equal(clf.predict_proba(waves), clf.predict_proba(paths[:4]))


def test_save_then_load_predicts_bit_for_bit(trained, tmp_path):
    from grukit.tasks import estimator

    clf, paths, _, _ = trained
    clf.save(tmp_path / "m")
    back = SpeechClassifier.load(tmp_path / "m")
    assert back.get_config() == clf.get_config()
    assert type(estimator.load(tmp_path / "m")) is SpeechClassifier
    np.testing.assert_array_equal(back.predict_proba(paths), clf.predict_proba(paths))


def test_frames_are_taken_as_they_are_and_checked_against_the_feature_settings(trained):
    clf, paths, labels, _ = trained
    frames = clf.frames(paths)
    assert len(frames) == len(paths) and frames[0].shape[1] == 8 * 2  # n_mfcc 8, deltas 1
    np.testing.assert_array_equal(clf.predict_proba(frames), clf.predict_proba(paths))
    assert clf.evaluate(frames, labels) == clf.evaluate(paths, labels)
    with pytest.raises(ValueError, match="other feature settings"):
        SpeechClassifier(**(SMALL | {"n_mfcc": 6})).fit(frames, labels)
    with pytest.raises(ValueError, match="not frames"):
        SpeechClassifier(**(SMALL | {"noise_copies": 1})).fit(frames, labels)


def test_a_slice_of_frames_is_still_frames_and_loose_frames_are_named(trained):
    clf, paths, labels, _ = trained
    frames = clf.frames(paths)
    np.testing.assert_array_equal(clf.predict_proba(frames[3:9]),
                                  clf.predict_proba(paths[3:9]))
    with pytest.raises(ValueError, match=r"feature frames .*frames\(\)"):
        clf.predict([np.array(f) for f in frames[:2]])  # a new list: read as waveforms


def test_cross_validate_trains_each_fold_on_the_frames_of_its_recordings(trained):
    """cross_validate computed the frames once and handed each fold a plain list of them,
    which fit then read as waveforms and refused: it could not run at all."""
    clf, paths, labels, _ = trained
    small = SpeechClassifier(**(SMALL | {"epochs": 1, "hidden": 4}))
    out = small.cross_validate(paths, labels, folds=2)["model"]
    assert len(out["folds"]) == 2 and sum(f["test"] for f in out["folds"]) == len(paths)
    assert 0 <= out["accuracy"] <= 1


def test_noise_copies_add_noisy_training_rows_and_keep_validation_clean(tmp_path):
    paths, labels = write_set(tmp_path, takes=4)
    seen = {}
    orig = SpeechClassifier._fit_inputs

    def spy(self, inputs):
        seen["n"] = len(inputs)
        return orig(self, inputs)

    SpeechClassifier._fit_inputs = spy
    try:
        SpeechClassifier(**(SMALL | {"epochs": 1, "noise_copies": 2,
                                     "validation_split": 0.25})).fit(paths, labels)
    finally:
        SpeechClassifier._fit_inputs = orig
    n_train = len(paths) - 6  # 25% of 24 held out (stratified)
    assert seen["n"] == 3 * n_train


@pytest.mark.parametrize("bad,match", [({"features": "wave"}, "kind must be"),
                                       ({"noise_copies": -1}, "noise_copies must be"),
                                       ({"deltas": 5}, "deltas must be"),
                                       ({"model": "tcn"}, "model must be one of")])
def test_bad_settings_are_refused_with_one_sentence(tmp_path, bad, match):
    paths, labels = write_set(tmp_path, takes=1)
    with pytest.raises(ValueError, match=match):
        SpeechClassifier(**(SMALL | bad)).fit(paths, labels)


def test_numpy_numbers_as_settings_train_and_save_as_python_numbers(tmp_path):
    import json

    paths, labels = write_set(tmp_path, takes=1)
    numpy_settings = {"seed": np.int64(3), "epochs": np.int64(1), "hidden": np.int64(4),
                      "learning_rate": np.float32(1e-2), "dropout": np.float32(0.1),
                      "noise_snr": np.float32(20.0), "noise_copies": np.int64(1)}
    clf = SpeechClassifier(**(SMALL | numpy_settings))
    assert len(clf.frames(paths[:2])) == 2  # frames() checks the settings too
    with pytest.raises(ValueError, match=r"validation_split must be in \[0, 1\); got 1.5\."):
        clf.fit(paths, labels, validation_split=1.5)  # noise_copies: split before the copies
    clf.fit(paths + paths, np.concatenate([labels, labels]), validation_split=np.float32(0.5))
    assert all(type(getattr(clf.config, k)) in (int, float) for k in numpy_settings)
    clf.save(tmp_path / "m")
    assert json.dumps(clf.get_config())
    back = SpeechClassifier.load(tmp_path / "m")
    np.testing.assert_array_equal(back.predict_proba(paths[:2]), clf.predict_proba(paths[:2]))


def test_bad_recordings_are_refused_with_one_sentence(trained, tmp_path):
    clf = trained[0]
    with pytest.raises(ValueError, match="single path"):
        clf.predict(str(tmp_path / "a.wav"))
    with pytest.raises(ValueError, match="single waveform of 1600 samples; give a list"):
        clf.predict(np.zeros(1600, dtype=np.float32))  # was 'recording 0 has shape ()'
    with pytest.raises(ValueError, match="mono samples"):
        clf.predict([np.zeros((100, 2))])
    (tmp_path / "e.wav").write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        clf.predict([str(tmp_path / "e.wav")])
    pcm = (word("1", 0) * 32767).astype(np.int16)  # as scipy.io.wavfile reads a file
    with pytest.raises(ValueError, match="int16 samples; a waveform is float"):
        clf.predict([pcm])
    pair = sf.read(trained[1][0])  # (samples, rate), as soundfile.read and librosa.load give
    with pytest.raises(ValueError, match=r"recording 0 is a \(samples, rate\) pair"):
        clf.predict([pair])
    # complex samples lost their imaginary parts with a warning and were scored
    with pytest.raises(ValueError, match="recording 0 holds complex samples"):
        clf.predict([word("1", 0).astype(np.complex64) * (1 + 1j)])
    with pytest.raises(ValueError, match="recording 0 holds <U.* values, not samples"):
        clf.predict([np.array(["a", "b"])])


def test_noise_copies_refuse_a_validation_split_that_takes_a_label_whole(monkeypatch):
    """Too few recordings to stratify: both of label c's went to validation, and fit blamed a
    validation_data the caller never gave."""
    from grukit.tasks.classify.sequence import SequenceClassifier

    monkeypatch.setattr(SequenceClassifier, "fit", lambda *a, **k: 1 / 0)  # never reached
    waves = [word(lab, i) for i, lab in enumerate("0122")]
    with pytest.raises(ValueError, match=r"puts every recording of label\(s\) \['c'\] in the "
                                         r"validation part"):
        SpeechClassifier(**(SMALL | {"noise_copies": 1, "validation_split": 0.3})).fit(
            waves, ["a", "b", "c", "c"])


def test_float_waveforms_far_past_full_scale_warn_once_naming_the_loudest(trained):
    """int16 values cast to float (up to 32767) were scored silently, 90 dB too loud."""
    import warnings

    from grukit.data.audio import AudioWarning

    clf = trained[0]
    quiet = [word(lab, 7) for lab in PITCH]
    with pytest.warns(AudioWarning) as caught:
        clf.predict([quiet[0], quiet[1] * 32767, quiet[2] * 100])
    assert len(caught) == 1
    msg = str(caught[0].message)
    assert "2 waveform(s)" in msg and "recording 1 up to" in msg and "32768" in msg, msg
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.predict([quiet[0] * 1.9])  # loud, but at its own scale


def test_spec_augment_masks_only_while_training():
    layer = SpecAugment(freq_masks=2, freq_width=3, time_masks=2, time_width=4)
    x = torch.ones(4, 20, 10)
    lengths = torch.tensor([20, 15, 8, 20])
    layer.eval()
    assert torch.equal(layer(x, lengths)[0], x)
    layer.train()
    torch.manual_seed(0)
    out = layer(x, lengths)[0]
    assert out.shape == x.shape and (out == 0).any() and ((out == 0) | (out == 1)).all()


@pytest.mark.parametrize("value,want", [
    ("False", None), (None, None), (0.0, None), (1.0, None), (2, None), ([True], None),
    (np.bool_(False), False), (np.bool_(True), True), (0, False), (1, True),
    (np.int64(0), False)], ids=repr)
def test_spec_augment_takes_bools_0_and_1_and_refuses_the_rest(value, want):
    """numpy's bool, 0 and 1 are the bools they equal (each was refused), stored as
    Python's so that save writes JSON; anything else is one sentence."""
    import json

    from grukit.tasks.speech.estimator import SpeechConfig, check_speech_config

    if want is None:
        with pytest.raises(ValueError, match=r"^spec_augment must be True or False; got "):
            SpeechClassifier(spec_augment=value).fit([np.zeros(800)] * 2, ["a", "b"])
        return
    for clf in (SpeechClassifier(spec_augment=value),
                SpeechClassifier(SpeechConfig(spec_augment=value))):
        assert clf.config.spec_augment is want
        check_speech_config(clf.config)
        assert json.loads(json.dumps(clf.get_config()))["spec_augment"] is want


def test_spec_augment_masks_on_the_device_of_its_input():
    layer = SpecAugment().train()  # meta: a device other than the CPU, with no memory
    for lengths in (torch.tensor([20, 8], device="meta"), None):
        out, _ = layer(torch.ones(2, 20, 10, device="meta"), lengths)
        assert out.device.type == "meta" and out.shape == (2, 20, 10)


def test_crop_padding_leaves_the_network_output_unchanged(trained):
    clf = trained[0]
    model = clf.model
    assert any(isinstance(la, CropPadding) for la in model.layers)
    x = clf._pad(clf._items(clf._prepare([word("1", 3)])), clf.steps_ + 25)
    short = x[:, :clf.steps_]
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(short), rtol=0, atol=0)


def test_fsdd_recordings_train_a_model_that_beats_chance_fast():
    if not FSDD.is_dir():
        pytest.skip(f"FSDD is not at {FSDD} (set GRUKIT_SHARED_DATA)")
    from grukit.data.audio_folder import read_audio_folder

    rec = read_audio_folder(str(FSDD))
    sub = rec.take(np.flatnonzero((rec.speakers == "theo") & (np.isin(rec.labels, ["0", "1"]))))
    train, test = sub.split("official")  # 90 and 10 recordings
    clf = SpeechClassifier(**(SMALL | {"epochs": 4})).fit(train, train.labels)
    assert clf.evaluate(test, test.labels)["accuracy"] >= 0.8


# -- streaming -----------------------------------------------------------------------------
def test_streamed_frames_give_the_batch_probabilities(trained):
    from grukit.data.audio_features import features
    from grukit.tasks.speech.estimator import feature_config
    from grukit.tasks.speech.stream import Recognizer

    clf = trained[0]
    rec = Recognizer(clf)
    for lab in PITCH:
        y = word(lab, 5)
        rec.reset()
        for row in rec.scale(features(y, feature_config(clf.config))):
            rec.step(row)
        np.testing.assert_allclose(rec.proba(), clf.predict_proba([y])[0], rtol=1e-4,
                                   atol=1e-5)


def test_listen_finds_each_word_of_a_long_recording_in_order(trained):
    from grukit.tasks.speech.longfiles import build_long_file, edit_path
    from grukit.tasks.speech.stream import Recognizer

    clf = trained[0]
    labels = ["2", "0", "1", "1", "0"]
    lf = build_long_file([word(lab, 40 + i, pad=0.1) for i, lab in enumerate(labels)], labels,
                         np.random.default_rng(0), 8000, gap=(0.3, 0.6), snr_db=30.0)
    heard = Recognizer(clf).listen(lf.samples)
    assert [w.label for w in heard] == labels
    for w, end in zip(heard, lf.ends, strict=True):
        assert w.start < end <= w.emitted < end + 0.5  # output after the word, soon
    assert edit_path(list("12345"), list("1245"))[0] == 1
    assert edit_path(list("12"), list("32"))[1] == [(0, 0), (1, 1)]


def test_a_built_long_files_word_starts_and_ends_where_its_speech_does():
    """The ends the stream test's delays are measured from: librosa.effects.trim's default
    frames (256 ms at 8 kHz) put them ~0.2 s past the speech (the delays that much short)."""
    from grukit.tasks.speech.longfiles import build_long_file

    tone = 0.4 * np.sin(2 * np.pi * 500 * np.arange(2400) / 8000)  # 0.3 s
    w = np.concatenate([np.zeros(1600), tone, np.zeros(2400)]).astype(np.float32)
    lf = build_long_file([w, w], ["1", "2"], np.random.default_rng(0), 8000, snr_db=None)
    on = np.flatnonzero(np.abs(lf.samples) > 1e-6)  # the tones' samples
    cut = on[np.flatnonzero(np.diff(on) > 100)[0]]  # the last of the first tone
    true = [(on[0] / 8000, (cut + 1) / 8000), (on[on > cut][0] / 8000, (on[-1] + 1) / 8000)]
    np.testing.assert_allclose(np.c_[lf.starts, lf.ends], true, atol=0.025)


def test_a_stream_pushed_after_a_flush_starts_again_at_time_0(trained):
    """flush ends the stream: the next push is heard as a new one (its words' times from its
    own start, its own warm-up), as listen and a fresh recognizer hear it."""
    from grukit.tasks.speech.stream import Recognizer

    noise = np.random.default_rng(2).standard_normal
    first = np.concatenate([word("2", 1, pad=0.3), 0.002 * noise(2400)])
    second = np.concatenate([0.002 * noise(4000), word("1", 3, pad=0.3)])
    rec = Recognizer(trained[0])
    times = []
    for y in (first, second):  # 10 ms at a time, a flush at the end of each
        heard = [w for i in range(0, len(y), 80) for w in rec.push(y[i:i + 80])] + rec.flush()
        times.append([(w.label, w.start, w.emitted) for w in heard])
    fresh = [(w.label, w.start, w.emitted) for w in Recognizer(trained[0]).listen(second)]
    assert times[1] == fresh and fresh[0][0] == "1" and fresh[0][1] > 0.4  # was 1.1 s late
    assert rec.frames == 1 + (len(second) - 256) // 80  # the frames of the stream just ended


def test_a_word_at_the_very_start_of_a_stream_is_heard(trained):
    """A recording that opens with speech (as many trimmed digit recordings do): the floor
    comes from the quietest of the first frames, not from the word itself."""
    from grukit.tasks.speech.stream import Recognizer

    clf = trained[0]
    rec = Recognizer(clf)
    for lab in PITCH:
        loud = word(lab, 7, pad=0.0)
        loud = loud[len(loud) // 4:]  # starts near its loudest, as speech cut by a recorder
        y = np.concatenate([loud, 0.002 * np.random.default_rng(1).standard_normal(1600),
                            word("0", 9)])
        assert [w.label for w in rec.listen(y)] == [lab, "0"]
        rec.reset()  # 10 ms at a time, as a microphone: the same words
        heard = [w for i in range(0, len(y), 80) for w in rec.push(y[i:i + 80])] + rec.flush()
        assert [w.label for w in heard] == [lab, "0"]
        assert heard[0].start < 0.05
    short = word("1", 3, pad=0.0)  # a recording shorter than the warm-up: heard at flush
    short = np.concatenate([short[len(short) // 4:], np.zeros(800)])
    assert len(short) < rec.vad.warmup * 80
    assert [w.label for w in rec.listen(short)] == ["1"]


def test_a_words_emitted_time_is_when_it_came_out_also_during_the_warm_up(trained):
    """``Word.emitted`` (what the stream test's delays are made of) is the audio heard when
    the word was returned: a word that closes while the warm-up holds the rows back comes out
    only once the warm-up ends; the last word, at flush, once the stream ends."""
    from grukit.tasks.speech.stream import Recognizer

    rec = Recognizer(trained[0])
    sr, hop = 8000, rec.features.cfg.hop
    y = np.concatenate([np.zeros(1600), word("2", 1), np.zeros(16000), word("0", 2),
                        np.zeros(400)])  # the second word ends with the stream
    y = y + 0.001 * np.random.default_rng(0).standard_normal(len(y))
    rec.reset()
    out = []  # (word, seconds of audio pushed when it was returned)
    for i in range(0, len(y), hop):
        out += [(w, (i + hop) / sr) for w in rec.push(y[i:i + hop])]
    out += [(w, len(y) / sr) for w in rec.flush()]
    assert [w.label for w, _ in out] == ["2", "0"]
    first_end = (1600 + len(word("2", 1))) / sr
    assert out[0][1] > rec.vad.warmup * hop / sr > first_end  # held back by the warm-up
    for w, pushed in out:
        assert pushed - hop / sr < w.emitted <= pushed + 1e-9


@pytest.mark.parametrize("bad,match", [
    ({"on_db": float("nan")}, "on_db must be a finite number"),
    ({"off_db": "8"}, "off_db must be a finite number"),
    ({"on_db": -5.0}, "on_db must be above 0 dB"),
    ({"floor_rise_db": -0.1}, "floor_rise_db must be 0 or more"),
    ({"min_on": 0}, "min_on must be a whole number of 1 or more"),
    ({"hangover": 0}, "hangover must be a whole number of 1 or more"),
    ({"max_frames": 0}, "max_frames must be a whole number of 1 or more"),
    ({"preroll": -1}, "preroll must be a whole number of 0 or more"),
    ({"warmup": 2.5}, "warmup must be a whole number of 0 or more"),
])
def test_vad_settings_that_would_hear_nothing_or_noise_are_refused(bad, match):
    """on_db NaN never opened a word; min_on 0 opened one on every frame of silence."""
    from grukit.tasks.speech.stream import VADConfig

    with pytest.raises(ValueError, match=match):
        VADConfig(**bad)


def test_the_recognizer_takes_a_vad_config_or_none_and_names_anything_else(trained):
    from grukit.tasks.speech.stream import Recognizer, VADConfig

    assert Recognizer(trained[0], None).vad == VADConfig()
    assert Recognizer(trained[0], VADConfig(on_db=15)).vad.on_db == 15
    with pytest.raises(TypeError, match="vad must be a VADConfig .* got a dict"):
        Recognizer(trained[0], {"on_db": 15})  # was AttributeError: no attribute 'preroll'


def test_the_recognizer_refuses_chunks_it_would_misread(trained):
    from grukit.tasks.speech.stream import Recognizer

    rec = Recognizer(trained[0])
    y = word("1", 0).astype(np.float32)
    for bad, match in [(np.stack([y, y], 1), r"shape \(\d+, 2\); push mono samples"),
                       ((y, 8000), r"a \(samples, rate\) pair"),
                       (np.where(np.arange(len(y)) == 9, np.nan, y), "NaN or infinite"),
                       ((y * 32767).astype(np.int16), "int16; push float samples")]:
        rec.reset()
        with pytest.raises(ValueError, match=match):
            rec.push(bad)
        with pytest.raises(ValueError, match=match):
            rec.listen(bad)
    rec.reset()
    assert rec.push([0.0] * 80) == []  # a list of numbers is a chunk too


def test_the_recognizer_warns_once_a_stream_of_int16_values_cast_to_float(trained):
    """A microphone's int16 chunks cast to float (up to 32767) were heard silently."""
    import warnings

    from grukit.data.audio import AudioWarning
    from grukit.tasks.speech.stream import Recognizer

    rec = Recognizer(trained[0])
    y = (word("1", 0) * 32767).astype(np.int16).astype(np.float32)
    for listen in (lambda: rec.listen(y), lambda: [rec.push(y[i:i + 80])
                                                   for i in range(0, len(y), 80)]):
        rec.reset()
        with pytest.warns(AudioWarning, match="far beyond full scale") as caught:
            listen()
        assert len(caught) == 1  # once a stream, not once a chunk
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec.listen(y / 32768)


def test_a_bidirectional_model_cannot_stream(tmp_path):
    from grukit.tasks.speech.stream import Recognizer

    paths, labels = write_set(tmp_path, takes=1)
    clf = SpeechClassifier(**(SMALL | {"model": "bigru", "epochs": 1})).fit(paths, labels)
    with pytest.raises(ValueError, match="cannot stream; train model='gru'"):
        Recognizer(clf)


def test_frame_latency_reports_each_stage_and_the_torch_cell(trained):
    from grukit.tasks.speech.latency import frame_latency
    from grukit.tasks.speech.stream import Recognizer

    out = frame_latency(Recognizer(trained[0]), word("1", 0), frames=60)
    assert out["torch_cell"] == "GRUCell" and out["budget_us"] == 10_000
    assert all(out[k] > 0 for k in ("features_us", "model_us", "stream_us", "torch_cell_us"))


def test_the_torch_cell_steps_as_the_stream_does(trained):
    from grukit.tasks.speech.latency import torch_cell
    from grukit.tasks.speech.stream import Recognizer

    rec = Recognizer(trained[0])
    cell = torch_cell(rec.stream.module)
    x = np.random.default_rng(0).standard_normal((5, rec._mean.shape[0])).astype(np.float32)
    h = torch.zeros(1, cell.hidden_size)
    for row in x:
        ours = rec.stream.step(row)
        with torch.no_grad():
            h = cell(torch.from_numpy(row)[None], h)
    np.testing.assert_allclose(ours, h[0].numpy(), rtol=1e-5, atol=1e-6)


# -- the command ---------------------------------------------------------------------------
def cli(*argv):
    from grukit.cli import main

    return main(["speech", *map(str, argv)])


@pytest.fixture(scope="module")
def tone_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tone_set")
    write_set(folder)
    return folder


def test_cli_train_writes_metrics_per_speaker_plot_report_and_the_model(tone_folder, tmp_path,
                                                                          capsys):
    import json

    out, model = tmp_path / "run", tmp_path / "m"
    threads = torch.get_num_threads()
    assert cli("--data", tone_folder, "--model", "gru", "--epochs", 2, "--hidden", 8,
               "--output", out, "--save", model, "--threads", 1) == 0
    assert torch.get_num_threads() == threads  # --threads holds for the command only
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["per_speaker"]) == {"ann", "bob"} and m["summary"]["split"] == "official"
    assert (out / "confusion.png").stat().st_size > 0
    assert "Accuracy per speaker" in (out / "report.html").read_text()
    assert (model / "config.json").is_file()
    assert "accuracy" in capsys.readouterr().out
    assert cli("evaluate", "--model", model, "--data", tone_folder, "--output",
               tmp_path / "ev") == 0
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["n"] == 30  # takes 0-4
    assert cli("predict", "--model", model, "--data", tone_folder, "--output",
               tmp_path / "pr") == 0
    assert len((tmp_path / "pr" / "predictions.csv").read_text().splitlines()) == 37
    long = tmp_path / "long.wav"
    sf.write(long, np.concatenate([np.zeros(4000), word("2", 1), np.zeros(4000)]), 8000)
    capsys.readouterr()
    assert cli("listen", long, "--model", model) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines and all(" s  " in line for line in lines)


def test_cli_speaker_split_resumes_finished_speakers_and_stops_cleanly(tone_folder, tmp_path,
                                                                        capsys, monkeypatch):
    from grukit.tasks.speech import estimator

    out = tmp_path / "loso"
    args = ("--data", tone_folder, "--split", "speaker", "--model", "gru", "--epochs", 1,
            "--hidden", 8, "--output", out)
    real_fit, calls = estimator.SpeechClassifier.fit, []

    def fit_then_stop(self, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_fit(self, *a, **k)

    monkeypatch.setattr(estimator.SpeechClassifier, "fit", fit_then_stop)
    assert cli(*args) == 130
    assert "rerun with --resume" in capsys.readouterr().err
    monkeypatch.setattr(estimator.SpeechClassifier, "fit", real_fit)
    assert cli(*args, "--resume") == 0
    text = capsys.readouterr().out
    assert "resuming: 1 of 2" in text and "speaker bob" in text


def test_cli_resume_refuses_folds_made_with_other_speakers(tone_folder, tmp_path, capsys,
                                                           monkeypatch):
    """A CSV whose speaker column changed gave other folds, yet --resume reused the finished
    ones (speaker ann 'on 18' recordings when she now had 17)."""
    from grukit.tasks.speech import estimator

    names = sorted(p.name for p in tone_folder.glob("*.wav"))
    rows = [f"{n},{n.split('_')[0]},{n.split('_')[1]}" for n in names]
    csv = tmp_path / "labels.csv"
    csv.write_text("file,label,speaker\n" + "\n".join(rows) + "\n")
    out = tmp_path / "loso"
    args = ("--data", tone_folder, "--labels", csv, "--split", "speaker", "--model", "gru",
            "--epochs", 1, "--hidden", 4, "--output", out)
    assert cli(*args) == 0
    csv.write_text("file,label,speaker\n" + "\n".join(rows).replace("0_ann_0.wav,0,ann",
                                                                    "0_ann_0.wav,0,bob"))
    monkeypatch.setattr(estimator.SpeechClassifier, "fit", lambda *a, **k: 1 / 0)
    capsys.readouterr()
    assert cli(*args, "--resume") == 2
    assert "written by a run with other data, folds or settings" in capsys.readouterr().err


def test_cli_ctrl_c_while_a_run_is_written_names_that_run_as_finished(tone_folder, tmp_path,
                                                                      capsys, monkeypatch):
    import signal

    from grukit.tasks import folds

    real = folds.write_fold

    def write_then_ctrl_c(*a, **k):
        real(*a, **k)
        signal.raise_signal(signal.SIGINT)  # arrives as the file is written

    monkeypatch.setattr(folds, "write_fold", write_then_ctrl_c)
    out = tmp_path / "loso"
    assert cli("--data", tone_folder, "--split", "speaker", "--model", "gru", "--epochs", 1,
               "--hidden", 4, "--output", out) == 130
    err = capsys.readouterr().err
    assert "interrupted after speaker ann (1 of 2); partial results in" in err
    assert "rerun with --resume" in err


@pytest.mark.parametrize("argv,match", [
    (("predict", "--epochs", 3, "--model", "m"), "--epochs set(s) training"),
    (("--model", "tcn"), "--model must be one of"),
    (("--resume",), "--resume continues a run"),
    (("evaluate",), "needs --model DIR"),
    (("--threads", 0), "--threads must be"),
    (("stream", "--model", "m", "--snr", "nan"), "--snr must be a finite number of dB"),
])
def test_cli_bad_arguments_give_one_line_and_exit_2(tone_folder, argv, match, capsys):
    assert cli(*argv, "--data", tone_folder) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("argv,match", [
    (("listen", "x.wav", "--model", "m", "--output", "o"), "--output is not read by `grukit "
                                                          "speech listen`"),
    (("predict", "--data", "d", "--model", "m", "--labels", "l.csv"), "--labels is not read"),
    (("evaluate", "--model", "m", "--snr", 5), "--snr is not read"),
    (("--files", 3), "--files is not read by `grukit speech train` (only by stream)"),
    (("listen", "--model", "m"), "needs the wav file"),
    (("listen", "x.wav", "--model", "m", "--data", "d"), "--data is not read by `grukit "
                                                          "speech listen`"),
])
def test_cli_an_option_the_action_does_not_read_is_refused(argv, match, capsys):
    assert cli(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1


def test_cli_a_bidirectional_model_cannot_listen(tone_folder, tmp_path, capsys):
    model = tmp_path / "bi"
    assert cli("--data", tone_folder, "--model", "bigru", "--epochs", 1, "--hidden", 4,
               "--save", model) == 0
    assert cli("listen", tone_folder / "0_ann_0.wav", "--model", model) == 2
    assert "cannot stream" in capsys.readouterr().err


def test_cli_output_that_is_a_file_is_refused_before_training(tone_folder, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert cli("--data", tone_folder, "--output", tmp_path / "f") == 2
    assert "is a file" in capsys.readouterr().err


def test_cli_stream_scores_built_long_files_and_times_a_frame(tone_folder, tmp_path, capsys):
    import json

    model = tmp_path / "g"
    assert cli("--data", tone_folder, "--model", "gru", "--epochs", 6, "--hidden", 8,
               "--save", model) == 0
    assert cli("stream", "--model", model, "--data", tone_folder, "--files", 2, "--snr", 30,
               "--output", tmp_path / "s") == 0
    res = json.loads((tmp_path / "s" / "stream.json").read_text())
    assert res["words"] == 16 and 0 <= res["der"] <= 1 and len(res["files"]) == 2
    assert res["latency"]["torch_cell"] == "GRUCell" and res["latency"]["total_us"] > 0
    assert "digit error rate" in capsys.readouterr().out


def test_cli_stream_with_too_few_recordings_names_what_to_give(trained, tmp_path, capsys):
    """It named words_per_file, which the command has no option for."""
    clf, _, _, folder = trained
    clf.save(tmp_path / "m")
    (tmp_path / "few").mkdir()
    for name in ("0_ann_0.wav", "1_ann_1.wav", "2_bob_2.wav"):
        (tmp_path / "few" / name).write_bytes((folder / name).read_bytes())
    assert cli("stream", "--model", tmp_path / "m", "--data", tmp_path / "few") == 2
    err = capsys.readouterr().err.strip()
    assert "gives 3 recording(s)" in err and "give 8 or more" in err, err
    assert "words_per_file" not in err and len(err.splitlines()) == 1


def test_cli_resume_saves_the_model_of_the_training_split_not_of_every_recording(
        tone_folder, tmp_path, monkeypatch):
    import json

    from grukit.tasks.speech import estimator

    out, model = tmp_path / "run", tmp_path / "m"
    args = ("--data", tone_folder, "--model", "gru", "--epochs", 1, "--hidden", 4,
            "--seeds", 2, "--output", out)
    assert cli(*args) == 0
    real_fit, sizes = estimator.SpeechClassifier.fit, []

    def fit(self, inputs, labels, **k):
        sizes.append(len(inputs))
        return real_fit(self, inputs, labels, **k)

    monkeypatch.setattr(estimator.SpeechClassifier, "fit", fit)
    assert cli(*args, "--resume", "--save", model) == 0  # both seeds done: only the save
    assert sizes == [6]  # take 5 of 2 speakers x 3 labels: the official test split stays out
    assert (model / "config.json").is_file()
    m = json.loads((out / "metrics.json").read_text())
    assert m["summary"]["runs"] == 2  # two seeds score each speaker's 15 test takes
    assert {s: v["n"] for s, v in m["per_speaker"].items()} == {"ann": 15, "bob": 15}


def test_cli_speaker_split_save_says_its_model_heard_every_recording(tone_folder, tmp_path,
                                                                     capsys, monkeypatch):
    """The model saved after a leave-one-speaker-out run is trained on every recording; the
    output pointed at `grukit speech evaluate` on it, which scores the files it trained on."""
    from grukit.tasks.speech import estimator

    real_fit, sizes = estimator.SpeechClassifier.fit, []

    def fit(self, inputs, labels, **k):
        sizes.append(len(inputs))
        return real_fit(self, inputs, labels, **k)

    monkeypatch.setattr(estimator.SpeechClassifier, "fit", fit)
    model = tmp_path / "m"
    assert cli("--data", tone_folder, "--split", "speaker", "--model", "gru", "--epochs", 1,
               "--hidden", 4, "--save", model) == 0
    assert sizes == [18, 18, 36] and (model / "config.json").is_file()
    text = capsys.readouterr().out
    assert "a model trained on all 36 recordings, every speaker's" in text
    assert "evaluate it on other recordings only" in text and "evaluate --model" not in text
    for action in ("evaluate", "stream"):  # its score there would be its training accuracy
        assert cli(action, "--model", model, "--data", tone_folder) == 2
        err = capsys.readouterr().err
        assert "was trained on every recording of" in err and "test takes included" in err


def test_cli_resume_after_the_first_seed_saves_the_first_seeds_model(tone_folder, tmp_path,
                                                                     monkeypatch, capsys):
    """Seed 0 finished before a Ctrl-C: --resume --save saved seed 1's model."""
    from grukit.tasks.estimator import load
    from grukit.tasks.speech import estimator

    out, model = tmp_path / "run", tmp_path / "m"
    args = ("--data", tone_folder, "--model", "gru", "--epochs", 1, "--hidden", 4,
            "--seeds", 2, "--seed", 3, "--output", out)
    real_fit, seeds = estimator.SpeechClassifier.fit, []

    def fit(self, inputs, labels, **k):
        seeds.append(self.config.seed)
        if seeds == [3, 4]:
            raise KeyboardInterrupt
        return real_fit(self, inputs, labels, **k)

    monkeypatch.setattr(estimator.SpeechClassifier, "fit", fit)
    assert cli(*args) == 130
    assert cli(*args, "--resume", "--save", model) == 0
    assert seeds == [3, 4, 4, 3] and load(model).config.seed == 3
    assert "saved the seed 3 model (trained on the 6 training recordings)" in \
        capsys.readouterr().out


@pytest.mark.parametrize("split,match", [("speaker", "spoken only by speaker cat"),
                                         ("official", "only in the official test split")])
def test_cli_a_label_its_training_recordings_lack_is_refused_before_training(
        tmp_path, monkeypatch, capsys, split, match):
    from grukit.tasks.speech import estimator

    write_set(tmp_path, takes=6, speakers=("ann", "bob"))
    for i in range(3 if split == "official" else 6):  # label 9: cat alone, or takes 0-2
        sf.write(tmp_path / f"9_cat_{i}.wav", word("2", i), 8000, subtype="PCM_16")
    monkeypatch.setattr(estimator.SpeechClassifier, "fit", lambda *a, **k: 1 / 0)
    assert cli("--data", tmp_path, "--split", split, "--model", "gru", "--epochs", 1) == 2
    err = capsys.readouterr().err
    assert match in err and "['9']" in err and len(err.strip().splitlines()) == 1


def test_cli_evaluate_refuses_labels_the_model_never_saw(trained, tmp_path, capsys):
    clf, _, _, folder = trained
    clf.save(tmp_path / "m")
    data = tmp_path / "data"
    data.mkdir()
    for name in ("0_ann_0.wav", "1_ann_1.wav", "1_ann_5.wav"):  # take 5: not scored
        (data / name).write_bytes((folder / name).read_bytes())
    (data / "9_ann_2.wav").write_bytes((folder / "2_ann_2.wav").read_bytes())
    assert cli("evaluate", "--model", tmp_path / "m", "--data", data) == 2
    err = capsys.readouterr().err
    assert "['9'] (1 file(s)) never occurred in the model's training" in err


def test_cli_predict_reads_mp3_and_names_audio_it_cannot_decode(trained, tmp_path, capsys):
    clf, _, _, folder = trained
    clf.save(tmp_path / "m")
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.wav").write_bytes((folder / "1_ann_1.wav").read_bytes())
    sf.write(data / "b.mp3", word("2", 3), 8000, format="MP3")  # was left out silently
    assert cli("predict", "--model", tmp_path / "m", "--data", data) == 0
    assert [r.split(",")[0] for r in capsys.readouterr().out.split()[1:]] == ["a.wav", "b.mp3"]
    (data / "c.m4a").write_bytes(b"\0" * 64)
    assert cli("predict", "--model", tmp_path / "m", "--data", data) == 2
    assert "1 audio file(s) this reader cannot decode, e.g. 'c.m4a'" in capsys.readouterr().err


def test_cli_evaluate_scores_a_folder_of_test_takes_only(trained, tmp_path):
    import json

    clf, _, _, folder = trained
    clf.save(tmp_path / "m")
    data = tmp_path / "data"
    data.mkdir()
    for name in ("0_ann_0.wav", "1_bob_3.wav", "2_ann_4.wav"):  # takes 0-4: all test
        (data / name).write_bytes((folder / name).read_bytes())
    assert cli("evaluate", "--model", tmp_path / "m", "--data", data, "--output",
               tmp_path / "ev") == 0
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["n"] == 3


def test_predictions_csv_quotes_names_and_labels_that_hold_commas():
    import csv
    import io

    from grukit.tasks.speech.report import predictions_csv

    text = predictions_csv(["/a/take 1, loud.wav", '/a/q"x.wav'], ["7", "a,b"], [0.5, 0.25])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["file", "prediction", "probability"],
                    ["take 1, loud.wav", "7", "0.500000"], ['q"x.wav', "a,b", "0.250000"]]


@pytest.mark.parametrize("bad,match", [({"files": 0}, "files must be a whole number"),
                                       ({"words_per_file": 0}, "words_per_file must be"),
                                       ({"files": 2.5}, "files must be a whole number")])
def test_evaluate_stream_refuses_counts_that_build_no_word(trained, bad, match):
    from grukit.tasks.speech.longfiles import evaluate_stream
    from grukit.tasks.speech.stream import Recognizer

    clf, paths, labels, _ = trained
    with pytest.raises(ValueError, match=match):
        evaluate_stream(Recognizer(clf), (paths, labels), **bad)


def test_evaluate_stream_of_no_recordings_says_they_are_too_few(trained):
    from grukit.data.audio_folder import read_audio_folder
    from grukit.tasks.speech.longfiles import evaluate_stream
    from grukit.tasks.speech.stream import Recognizer

    clf, _, _, folder = trained
    none = read_audio_folder(str(folder)).take([])
    with pytest.raises(ValueError, match="0 recordings are too few"):
        evaluate_stream(Recognizer(clf), none)


def test_stream_scores_with_no_word_recognised_have_no_delay_and_are_strict_json(tone_folder):
    import json
    from types import SimpleNamespace

    from grukit.tasks.speech.longfiles import evaluate_stream

    deaf = SimpleNamespace(features=SimpleNamespace(cfg=SimpleNamespace(sample_rate=8000)),
                           listen=lambda samples: [], frames=100)  # hears nothing
    paths = sorted(str(p) for p in tone_folder.glob("*.wav"))[:8]
    res = evaluate_stream(deaf, (paths, [p.split("/")[-1][0] for p in paths]), files=1)
    assert res["der"] == 1.0 and res["delay_median"] is None and res["delay_p90"] is None
    json.dumps(res, allow_nan=False)  # NaN is not JSON


def test_cli_a_labels_csv_listing_a_file_twice_is_refused(tone_folder, tmp_path, capsys):
    csv = tmp_path / "labels.csv"
    csv.write_text("file,label,speaker\n0_ann_0.wav,0,ann\n1_ann_0.wav,1,ann\n"
                   "./0_ann_0.wav,0,ann\n")
    assert cli("--data", tone_folder, "--labels", csv, "--split", "speaker") == 2
    assert "lists '0_ann_0.wav' more than once" in capsys.readouterr().err
