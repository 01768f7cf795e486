"""grukit.data.audio, audio_features, audio_folder: wav files of every sample format read to
the right samples, bad files refused with one sentence, features that stream exactly as they
batch, augmentation, labelled folders (FSDD names, patterns, CSV)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")
pytest.importorskip("librosa")

from conftest import SHARED_DATA  # noqa: E402
from grukit.data.audio import AudioWarning, add_noise, mix_down, read_wav, resample  # noqa: E402
from grukit.data.audio_features import (  # noqa: E402
    FeatureConfig,
    StreamingFeatures,
    features,
    spec_augment,
)
from grukit.data.audio_folder import read_audio_folder  # noqa: E402

FSDD = SHARED_DATA / "speech" / "fsdd" / "recordings"


def tone(freq=440.0, seconds=0.3, sr=8000, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float64)


# -- reading -------------------------------------------------------------------------------
@pytest.mark.parametrize("subtype,tol", [("PCM_U8", 1 / 64), ("PCM_16", 1e-4), ("PCM_24", 1e-6),
                                         ("PCM_32", 1e-8), ("FLOAT", 1e-7), ("DOUBLE", 1e-7)])
def test_read_wav_every_sample_format_gives_the_written_samples(tmp_path, subtype, tol):
    y = tone()
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, y, 8000, subtype=subtype)
    got, sr = read_wav(path)
    assert sr == 8000 and got.dtype == np.float32 and got.shape == y.shape
    np.testing.assert_allclose(got, y, atol=tol)


def test_read_wav_stereo_is_the_mean_of_its_channels(tmp_path):
    a, b = tone(300), tone(500, amp=0.2)
    sf.write(tmp_path / "s.wav", np.stack([a, b], 1), 8000, subtype="FLOAT")
    got, _ = read_wav(tmp_path / "s.wav")
    np.testing.assert_allclose(got, (a + b) / 2, atol=1e-6)


def test_read_wav_stereo_with_a_silent_channel_keeps_the_level_of_the_live_one(tmp_path):
    a = tone(300)
    sf.write(tmp_path / "s.wav", np.stack([np.zeros_like(a), a], 1), 8000, subtype="FLOAT")
    got, _ = read_wav(tmp_path / "s.wav")
    np.testing.assert_allclose(got, a, atol=1e-6)  # not halved
    assert mix_down(np.zeros((5, 2))).shape == (5,)  # all silent: still one channel


def test_mix_down_refuses_channels_first_rather_than_return_one_sample_per_channel():
    """librosa.load(mono=False) gives (channels, samples): it was mixed to 2 samples."""
    y = np.stack([tone(), tone(900)])  # (2, N)
    with pytest.raises(ValueError, match=r"\(2, 2400\), which looks like channels first"):
        mix_down(y)
    np.testing.assert_allclose(mix_down(y.T), y.mean(0))
    assert mix_down(np.ones((1, 2))).shape == (1,)  # one sample of a stereo file


def test_mix_down_and_add_noise_refuse_integer_pcm_that_features_would_take_as_floats():
    """scipy.io.wavfile's int16 stereo, mixed down, was float64 at the int16 scale, which
    features() took as samples: log-mel rows 90 dB too loud, without a word."""
    pcm = (tone() * 32767).astype(np.int16)
    with pytest.raises(ValueError, match="mix_down's data holds int16 samples; give float"):
        mix_down(np.stack([pcm, pcm], 1))
    with pytest.raises(ValueError, match="^y holds int16 samples"):
        add_noise(pcm, 20, np.random.default_rng(0))
    with pytest.raises(ValueError, match="^noise holds int16 samples"):
        add_noise(tone(), 20, np.random.default_rng(0), noise=pcm)
    with pytest.raises(ValueError, match="^y holds int16 samples"):
        resample(pcm, 8000, 16000)


def test_read_wav_resamples_to_the_rate_asked_keeping_the_pitch(tmp_path):
    sf.write(tmp_path / "hi.wav", tone(440, sr=16000, seconds=0.5), 16000, subtype="PCM_16")
    got, sr = read_wav(tmp_path / "hi.wav", sample_rate=8000)
    assert sr == 8000 and len(got) == 4000
    spectrum = np.abs(np.fft.rfft(got))
    assert abs(np.argmax(spectrum) * 8000 / len(got) - 440) < 4
    np.testing.assert_allclose(resample(tone(), 8000, 8000), tone())


def test_read_wav_truncated_data_reads_the_samples_that_are_there(tmp_path):
    sf.write(tmp_path / "a.wav", tone(), 8000, subtype="PCM_16")
    raw = (tmp_path / "a.wav").read_bytes()
    (tmp_path / "t.wav").write_bytes(raw[:44 + 300])  # header + 150 samples
    got, _ = read_wav(tmp_path / "t.wav")
    np.testing.assert_allclose(got, tone()[:150], atol=1e-4)


def _bad(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _header(tmp_path, rate=8000, samples=800) -> bytes:
    sf.write(tmp_path / "h.wav", np.zeros(max(samples, 1)), 8000, subtype="PCM_16")
    raw = bytearray((tmp_path / "h.wav").read_bytes())
    raw[24:28] = rate.to_bytes(4, "little")
    return bytes(raw)


@pytest.mark.parametrize("case,match", [
    ("empty", "is empty"),
    ("text", "cannot be read as audio"),
    ("truncated_header", "cannot be read as audio"),
    ("rate_0", "sample rate is 0 Hz"),
    ("no_samples", "holds no samples"),
    ("folder", "is a folder"),
])
def test_read_wav_refuses_a_bad_file_with_one_sentence(tmp_path, case, match):
    if case == "empty":
        p = _bad(tmp_path, "e.wav", b"")
    elif case == "text":
        p = _bad(tmp_path, "x.wav", b"digit,speaker\n1,theo\n" * 20)
    elif case == "truncated_header":
        p = _bad(tmp_path, "t.wav", _header(tmp_path)[:20])
    elif case == "rate_0":
        p = _bad(tmp_path, "z.wav", _header(tmp_path, rate=0))
    elif case == "no_samples":
        sf.write(tmp_path / "n.wav", np.zeros((0, 1)), 8000, subtype="PCM_16")
        p = tmp_path / "n.wav"
    else:
        p = tmp_path
    with pytest.raises(ValueError, match=match) as err:
        read_wav(p)
    assert "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "missing.wav")
    with pytest.raises(ValueError, match="sample_rate must be a positive"):
        read_wav(tmp_path / "missing.wav", sample_rate=0)


def test_read_wav_too_short_to_survive_resampling_is_refused_naming_the_file(tmp_path):
    sf.write(tmp_path / "tick.wav", np.full(2, 0.3), 44100, subtype="PCM_16")
    with pytest.raises(ValueError, match=r"tick.wav' holds 2 sample\(s\) at 44100 Hz, which "
                                         r"leave none at 8000 Hz"):
        read_wav(tmp_path / "tick.wav", sample_rate=8000)
    assert len(read_wav(tmp_path / "tick.wav")[0]) == 2  # at its own rate it reads


def test_read_wav_nan_samples_are_refused(tmp_path):
    y = tone()
    y[10] = np.nan
    sf.write(tmp_path / "n.wav", y, 8000, subtype="FLOAT")
    with pytest.raises(ValueError, match="NaN or infinite"):
        read_wav(tmp_path / "n.wav")


def test_read_wav_clipped_file_is_read_as_it_is_with_one_warning(tmp_path):
    y = np.clip(tone(amp=3.0), -1, 1)
    sf.write(tmp_path / "c.wav", y, 8000, subtype="PCM_16")
    with pytest.warns(AudioWarning, match="is clipped"):
        got, _ = read_wav(tmp_path / "c.wav")
    np.testing.assert_allclose(got, y, atol=1e-4)
    sf.write(tmp_path / "ok.wav", tone(), 8000, subtype="PCM_16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_wav(tmp_path / "ok.wav")  # a clean file: no warning


def test_read_wav_float_file_at_another_scale_warns_with_its_peak_not_as_clipped(tmp_path):
    y = tone() * 32767  # 16-bit values written as floats
    sf.write(tmp_path / "f.wav", y.astype(np.float32), 8000, subtype="FLOAT")
    with pytest.warns(AudioWarning, match=r"float samples up to 1.638e\+04, far beyond full "
                                          r"scale") as got:
        out, _ = read_wav(tmp_path / "f.wav")
    assert len(got) == 1 and "clipped" not in str(got[0].message)
    np.testing.assert_allclose(out, y, rtol=1e-6)  # read as stored


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24"])
def test_read_wav_clipped_share_counts_both_rails_at_every_bit_depth(tmp_path, subtype):
    y = np.clip(tone(amp=3.0), -1, 1)  # (N,) about half the samples on a rail, both signs
    share = np.mean(np.abs(y) >= 1)
    sf.write(tmp_path / "c.wav", y, 8000, subtype=subtype)
    with pytest.warns(AudioWarning, match="is clipped") as got:
        read_wav(tmp_path / "c.wav")
    said = float(str(got[0].message).split(": ")[1].split("%")[0]) / 100
    assert abs(said - share) < 0.02  # 8-bit tops out at 127/128: its top rail counts too
    top = np.clip(tone(amp=3.0), -0.5, 1)  # clipped on the positive rail only
    sf.write(tmp_path / "t.wav", top, 8000, subtype=subtype)
    with pytest.warns(AudioWarning, match="is clipped"):
        read_wav(tmp_path / "t.wav")


# -- features ------------------------------------------------------------------------------
def test_features_have_one_row_per_hop_and_the_documented_width():
    y = tone(seconds=0.5)
    for cfg in (FeatureConfig(), FeatureConfig(kind="logmel", deltas=0),
                FeatureConfig(deltas=1, n_mfcc=20)):
        f = features(y, cfg)
        assert f.shape == (1 + (len(y) - cfg.n_fft) // cfg.hop, cfg.dim)
        assert f.dtype == np.float32 and np.isfinite(f).all()


def test_features_tell_different_pitches_apart():
    lo, hi = features(tone(300)), features(tone(1500))
    assert np.abs(lo.mean(0) - hi.mean(0)).max() > 10


@pytest.mark.parametrize("chunk", [1, 37, 80, 10_000])
@pytest.mark.parametrize("cfg", [FeatureConfig(), FeatureConfig(kind="logmel", deltas=0),
                                 FeatureConfig(deltas=1),
                                 FeatureConfig(win_ms=10, hop_ms=40)],  # hop > n_fft
                         ids=["mfcc-d2", "logmel-d0", "d1", "hop-past-frame"])
def test_streaming_features_equal_the_batch_features(chunk, cfg):
    rng = np.random.default_rng(0)
    y = tone(seconds=0.37) + 0.05 * rng.standard_normal(2960)
    fx = StreamingFeatures(cfg)
    rows = [fx.push(y[i:i + chunk]) for i in range(0, len(y), chunk)] + [fx.flush()]
    np.testing.assert_allclose(np.concatenate(rows), features(y, cfg), rtol=1e-5, atol=1e-3)


def test_streaming_features_rows_wait_only_for_the_delta_lookahead():
    cfg = FeatureConfig()
    fx = StreamingFeatures(cfg)
    got = fx.push(np.zeros(cfg.n_fft + 4 * cfg.hop))  # 5 frames complete
    assert len(got) == 5 - fx.lookahead == 3
    assert len(fx.flush()) == 2


def test_short_recording_is_one_padded_frame_on_both_paths():
    y = tone(seconds=0.01)  # 80 samples < n_fft
    fx = StreamingFeatures()
    fx.push(y)
    np.testing.assert_allclose(fx.flush(), features(y), rtol=1e-5, atol=1e-3)


def test_utterance_normalisation_gives_zero_mean_and_does_not_stream():
    f = features(tone(seconds=0.5), FeatureConfig(normalize="utterance"))
    np.testing.assert_allclose(f.mean(0), 0, atol=1e-4)
    with pytest.raises(ValueError, match="cannot stream"):
        StreamingFeatures(FeatureConfig(normalize="utterance"))


def test_streaming_features_refuse_a_stereo_chunk_rather_than_interleave_it():
    y = np.stack([tone(), tone(900)], axis=1)  # (N, 2)
    with pytest.raises(ValueError, match="one channel"):
        StreamingFeatures().push(y)


def test_integer_pcm_samples_are_refused_on_both_paths():
    """int16 samples as scipy.io.wavfile reads them gave log-mel rows 90 dB too loud."""
    pcm = (tone() * 32767).astype(np.int16)
    with pytest.raises(ValueError, match="int16 samples; features take float samples"):
        features(pcm)
    with pytest.raises(ValueError, match="int16 samples; features take float samples"):
        StreamingFeatures().push(pcm)


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
def test_nan_or_inf_samples_are_refused_on_both_paths(bad):
    y = tone()
    y[100] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        features(y)
    with pytest.raises(ValueError, match="NaN or infinite"):
        StreamingFeatures().push(y)


@pytest.mark.parametrize("bad,match", [({"kind": "wave"}, "kind must be"),
                                       ({"deltas": 3}, "deltas must be"),
                                       ({"fmax": 9000}, "fmax"),
                                       ({"n_mfcc": 50}, "cannot exceed"),
                                       ({"deltas": True}, "deltas must be"),
                                       ({"hop_ms": float("nan")}, "hop_ms must be"),
                                       ({"win_ms": float("inf")}, "win_ms must be"),
                                       ({"hop_ms": "10"}, "hop_ms must be"),
                                       ({"fmin": "20"}, "fmin must be a number of Hz"),
                                       ({"fmax": "4000"}, "fmax must be a number of Hz or"),
                                       ({"fmin": True}, "fmin must be")])
def test_bad_feature_settings_are_refused_with_one_sentence(bad, match):
    with pytest.raises(ValueError, match=match):
        features(tone(), FeatureConfig(**bad))


def test_spec_augment_masks_bands_and_spans_and_leaves_the_input():
    f = np.ones((50, 39), dtype=np.float32)
    out = spec_augment(f, np.random.default_rng(1), freq_masks=1, freq_width=5,
                       time_masks=1, time_width=10)
    assert f.min() == 1 and out.shape == f.shape and (out == 0).any()
    zero_cols, zero_rows = (out == 0).all(0), (out == 0).all(1)
    assert ((out == 0) == (zero_cols[None] | zero_rows[:, None])).all()


def test_add_noise_reaches_the_snr_asked():
    y = tone(seconds=1.0)
    noisy = add_noise(y, 20.0, np.random.default_rng(0))
    snr = 10 * np.log10(np.mean(y ** 2) / np.mean((noisy - y) ** 2))
    assert abs(snr - 20.0) < 0.05
    hum = tone(50, seconds=0.1)
    snr2 = 10 * np.log10(np.mean(y ** 2) / np.mean(
        (add_noise(y, 10.0, np.random.default_rng(0), noise=hum) - y) ** 2))
    assert abs(snr2 - 10.0) < 0.05
    with pytest.raises(ValueError, match="snr_db must be"):
        add_noise(y, float("nan"), np.random.default_rng(0))


def test_add_noise_takes_numpy_numbers_and_refuses_nan_where_it_would_return_nan():
    y = tone(seconds=1.0)
    a = add_noise(y, np.float32(20.0), np.random.default_rng(0))
    np.testing.assert_array_equal(a, add_noise(y, 20.0, np.random.default_rng(0)))
    np.testing.assert_array_equal(add_noise(y, np.int64(20), np.random.default_rng(0)), a)
    bad_y = y.copy()
    bad_y[5] = np.nan
    for kw, match in [({"y": bad_y}, "y holds NaN"),
                      ({"noise": np.array([np.nan, 1.0])}, "noise holds NaN"),
                      ({"noise": np.ones((100, 2))}, r"noise has shape \(100, 2\)"),
                      ({"y": np.stack([y, y], 1)}, r"y has shape \(8000, 2\)"),
                      ({"reference": float("nan")}, "reference must be"),
                      ({"reference": -1.0}, "reference must be")]:
        with pytest.raises(ValueError, match=match):
            add_noise(**({"y": y, "snr_db": 20.0, "rng": np.random.default_rng(0)} | kw))


# -- folders -------------------------------------------------------------------------------
def _fsdd_like(folder, speakers=("ann", "bob"), digits=(0, 1), takes=7):
    for s in speakers:
        for d in digits:
            for i in range(takes):
                sf.write(folder / f"{d}_{s}_{i}.wav", tone(300 + 200 * d, 0.2), 8000,
                         subtype="PCM_16")


def test_fsdd_names_give_labels_speakers_and_the_official_split(tmp_path):
    _fsdd_like(tmp_path)
    rec = read_audio_folder(tmp_path)
    assert len(rec) == 28 and set(rec.labels) == {"0", "1"} and set(rec.speakers) == {"ann",
                                                                                         "bob"}
    train, test = rec.split("official")
    assert len(test) == 20 and (test.indices < 5).all() and (train.indices >= 5).all()
    folds = rec.speaker_folds()
    assert [f[0] for f in folds] == ["ann", "bob"]
    assert all((rec.speakers[te] == s).all() and (rec.speakers[tr] != s).all()
               for s, tr, te in folds)


def test_fsdd_names_with_an_upper_case_or_other_audio_extension_are_read(tmp_path):
    # the folder is read for .wav/.flac/.ogg in any case; the FSDD name pattern refused
    # 0_ann_0.WAV (a copy from Windows) and 1_bob_3.flac as "do not match the name pattern"
    for name, fmt in (("0_ann_0.WAV", "WAV"), ("0_ann_1.wav", "WAV"), ("1_bob_3.flac", "FLAC")):
        sf.write(tmp_path / name, tone(300, 0.2), 8000, format=fmt, subtype="PCM_16")
    rec = read_audio_folder(tmp_path)
    assert sorted(zip(rec.labels, rec.speakers, rec.indices.tolist(), strict=True)) == [
        ("0", "ann", 0), ("0", "ann", 1), ("1", "bob", 3)]
    # MP3 and AIFF, which read_wav reads, were silently left out of the recordings
    sf.write(tmp_path / "1_bob_4.mp3", tone(300, 0.2), 8000, format="MP3")
    sf.write(tmp_path / "1_bob_5.aiff", tone(300, 0.2), 8000, format="AIFF")
    rec = read_audio_folder(tmp_path)
    assert sorted(rec.indices.tolist()) == [0, 1, 3, 4, 5]
    assert len(read_wav(rec.paths[rec.indices.tolist().index(4)])[0]) > 1000
    (tmp_path / "1_bob_6.m4a").write_bytes(b"\0" * 64)  # audio libsndfile cannot decode
    with pytest.raises(ValueError, match="1 file.* cannot decode, e.g. '1_bob_6.m4a'; convert"):
        read_audio_folder(tmp_path)


def test_take_with_a_boolean_mask_takes_the_files_it_marks(tmp_path):
    """A mask was cast to indices 0 and 1: every file of the folder, as files 0 and 1."""
    _fsdd_like(tmp_path, takes=3)
    rec = read_audio_folder(str(tmp_path))
    bob = rec.take(rec.speakers == "bob")
    assert len(bob) == 6 and set(bob.speakers.tolist()) == {"bob"}
    assert bob.paths == [p for p, s in zip(rec.paths, rec.speakers, strict=True) if s == "bob"]
    np.testing.assert_array_equal(bob.indices, rec.indices[rec.speakers == "bob"])
    with pytest.raises(ValueError, match="mask of 3 .* 12 recordings"):
        rec.take(np.array([True, False, True]))
    with pytest.raises(ValueError, match="whole-number indices or a boolean mask"):
        rec.take(np.array([0.0, 1.5]))


def test_a_file_outside_the_pattern_is_named(tmp_path):
    _fsdd_like(tmp_path, speakers=("ann",), digits=(0,), takes=2)
    sf.write(tmp_path / "stray.wav", tone(), 8000)
    with pytest.raises(ValueError, match="'stray.wav'"):
        read_audio_folder(tmp_path)
    with pytest.raises(ValueError, match="no \\(\\?P<label>"):
        read_audio_folder(tmp_path, pattern=r".*\.wav")
    rec = read_audio_folder(tmp_path, pattern=r"(?P<label>[a-z0-9]+?)(_.*)?\.wav")
    assert sorted(set(rec.labels)) == ["0", "stray"]
    with pytest.raises(ValueError, match="take index"):
        rec.split("official")


def test_labels_from_a_csv(tmp_path):
    sf.write(tmp_path / "a.wav", tone(), 8000)
    sf.write(tmp_path / "b.wav", tone(900), 8000)
    (tmp_path / "labels.csv").write_text("file,label,speaker\na.wav,low,x\nb.wav,high,y\n")
    rec = read_audio_folder(tmp_path, csv=str(tmp_path / "labels.csv"))
    assert rec.labels.tolist() == ["low", "high"] and rec.speakers.tolist() == ["x", "y"]
    (tmp_path / "bad.csv").write_text("file,label\nc.wav,low\n")
    with pytest.raises(ValueError, match="line 2: file 'c.wav' is not in"):
        read_audio_folder(tmp_path, csv=str(tmp_path / "bad.csv"))
    (tmp_path / "nolabel.csv").write_text("file,digit\na.wav,1\n")
    with pytest.raises(ValueError, match="no 'label' column"):
        read_audio_folder(tmp_path, csv=str(tmp_path / "nolabel.csv"))


def test_labels_csv_with_a_bom_reads_its_file_column(tmp_path):
    sf.write(tmp_path / "a.wav", tone(), 8000)
    (tmp_path / "labels.csv").write_text("file,label\r\na.wav,low\r\n", encoding="utf-8-sig")
    rec = read_audio_folder(tmp_path, csv=str(tmp_path / "labels.csv"))
    assert rec.labels.tolist() == ["low"]


def test_labels_csv_not_utf8_or_with_an_empty_speaker_is_refused_in_one_sentence(tmp_path):
    sf.write(tmp_path / "a.wav", tone(), 8000)
    sf.write(tmp_path / "b.wav", tone(900), 8000)
    csv = tmp_path / "labels.csv"
    for encoding in ("latin-1", "utf-16"):
        csv.write_bytes("file,label\na.wav,caf\xe9\n".encode(encoding))
        with pytest.raises(ValueError, match="is not UTF-8 text; save it as UTF-8"):
            read_audio_folder(tmp_path, csv=str(csv))
    for rows in ("a.wav,low,x\nb.wav,high,\n", "a.wav,low,x\nb.wav,high\n"):
        csv.write_text("file,label,speaker\n" + rows)  # '' or a short row: no speaker at all
        with pytest.raises(ValueError, match="line 3: the speaker is empty"):
            read_audio_folder(tmp_path, csv=str(csv))
    csv.write_text("file,label,speaker\na.wav,low,x \nb.wav,high,x\n")
    assert read_audio_folder(tmp_path, csv=str(csv)).speakers.tolist() == ["x", "x"]


def test_labels_csv_listing_a_file_twice_is_refused_naming_both_lines(tmp_path):
    sf.write(tmp_path / "a.wav", tone(), 8000)
    sf.write(tmp_path / "b.wav", tone(900), 8000)
    csv = tmp_path / "labels.csv"
    csv.write_text("file,label\na.wav,low\nb.wav,high\n./a.wav,high\n")
    with pytest.raises(ValueError, match="lists 'a.wav' more than once \\(lines 2 and 4\\)"):
        read_audio_folder(tmp_path, csv=str(csv))
    csv.write_text("file,label\n\na.wav,low\n\nb.wav,high\nc.wav,low\n")  # blank lines count
    with pytest.raises(ValueError, match="line 6: file 'c.wav' is not in"):
        read_audio_folder(tmp_path, csv=str(csv))


def test_labels_csv_row_with_more_fields_than_its_header_is_refused(tmp_path):
    sf.write(tmp_path / "a.wav", tone(), 8000)
    csv = tmp_path / "labels.csv"
    csv.write_text("file,label\na.wav,yes, please\n")  # the label was read as 'yes'
    with pytest.raises(ValueError, match="line 2 has more fields.*' please'.*quote"):
        read_audio_folder(tmp_path, csv=str(csv))
    csv.write_text('file,label\na.wav,"yes, please"\n')
    assert read_audio_folder(tmp_path, csv=str(csv)).labels.tolist() == ["yes, please"]


def test_a_pattern_and_a_labels_csv_together_are_refused(tmp_path):
    sf.write(tmp_path / "a.wav", tone(), 8000)
    (tmp_path / "labels.csv").write_text("file,label\na.wav,low\n")
    with pytest.raises(ValueError, match="not both"):  # the pattern was silently ignored
        read_audio_folder(tmp_path, pattern=r"(?P<label>\w)\.wav",
                          csv=str(tmp_path / "labels.csv"))


def test_a_pattern_giving_an_empty_label_or_speaker_names_the_file(tmp_path):
    _fsdd_like(tmp_path, speakers=("ann",), digits=(0,), takes=1)
    with pytest.raises(ValueError, match="'0_ann_0.wav' an empty label"):
        read_audio_folder(tmp_path, pattern=r"(?P<label>\d*?)\d_.*\.wav")
    with pytest.raises(ValueError, match="'0_ann_0.wav' an empty speaker"):
        read_audio_folder(tmp_path, pattern=r"(?P<label>\d)_(?P<speaker>[a-z]*?)[a-z]+_.*")


def test_official_split_of_a_labels_csv_names_the_speaker_split(tmp_path):
    _fsdd_like(tmp_path, speakers=("ann",), digits=(0,), takes=1)
    (tmp_path / "labels.csv").write_text("file,label,speaker\n0_ann_0.wav,0,ann\n")
    rec = read_audio_folder(tmp_path, csv=str(tmp_path / "labels.csv"))
    with pytest.raises(ValueError, match="--split speaker") as err:
        rec.split("official")
    assert "CSV of your own split" not in str(err.value)


def test_an_index_group_that_is_not_digits_names_the_file(tmp_path):
    _fsdd_like(tmp_path, speakers=("ann",), digits=(0,), takes=1)
    sf.write(tmp_path / "0_ann_x.wav", tone(), 8000)
    pat = r"(?P<label>\d)_(?P<speaker>[a-z]+)_(?P<index>\w+)\.wav"
    with pytest.raises(ValueError, match="'0_ann_x.wav' the take index 'x'.*digits only"):
        read_audio_folder(tmp_path, pattern=pat)
    with pytest.raises(ValueError, match="'0_ann_x.wav' the take index None"):
        read_audio_folder(tmp_path, pattern=r"(?P<label>\d)_[a-z]+_(?P<index>\d+)?.*\.wav")


def test_official_split_without_test_or_training_takes_says_which_is_missing(tmp_path):
    _fsdd_like(tmp_path)
    rec = read_audio_folder(tmp_path)
    train_only = rec.take(np.flatnonzero(rec.indices >= 5))
    with pytest.raises(ValueError, match="no file in the test set.*holds takes 0-4") as err:
        train_only.split("official")  # what evaluate meets: test takes alone would do
    assert "with both" not in str(err.value)
    with pytest.raises(ValueError, match="nothing to train on.*takes 5 and up"):
        rec.take(np.flatnonzero(rec.indices < 5)).split("official")


def test_fsdd_reads_with_its_official_split():
    if not FSDD.is_dir():
        pytest.skip(f"FSDD is not at {FSDD} (set GRUKIT_SHARED_DATA)")
    rec = read_audio_folder(str(FSDD))
    train, test = rec.split("official")
    assert (len(rec), len(train), len(test)) == (3000, 2700, 300)
    y, sr = read_wav(rec.paths[0])
    assert sr == 8000 and 0.1 < len(y) / sr < 3 and np.abs(y).max() <= 1
    fx = StreamingFeatures()
    rows = [fx.push(y[i:i + 80]) for i in range(0, len(y), 80)] + [fx.flush()]
    np.testing.assert_allclose(np.concatenate(rows), features(y), rtol=1e-5, atol=1e-3)


def test_streaming_features_report_each_rows_frame_energy():
    cfg = FeatureConfig()
    y = np.concatenate([np.zeros(800), tone(seconds=0.3, amp=0.5)])
    fx = StreamingFeatures(cfg)
    rows, energies = [], []
    for i in range(0, len(y), 80):
        rows.append(fx.push(y[i:i + 80]))
        energies.append(fx.energies)
    rows.append(fx.flush())
    energies.append(fx.energies)
    e = np.concatenate(energies)
    assert len(e) == len(np.concatenate(rows))
    frame = y[30 * cfg.hop:30 * cfg.hop + cfg.n_fft]  # deep in the tone
    win = StreamingFeatures(cfg).a.window
    assert abs(e[30] - 10 * np.log10(np.mean((frame * win) ** 2))) < 1e-6
    assert e[0] < -90 and e[30] > -20  # silence, then the tone
