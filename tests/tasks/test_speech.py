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


def test_bad_recordings_are_refused_with_one_sentence(trained, tmp_path):
    clf = trained[0]
    with pytest.raises(ValueError, match="single path"):
        clf.predict(str(tmp_path / "a.wav"))
    with pytest.raises(ValueError, match="mono samples"):
        clf.predict([np.zeros((100, 2))])
    (tmp_path / "e.wav").write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        clf.predict([str(tmp_path / "e.wav")])


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
