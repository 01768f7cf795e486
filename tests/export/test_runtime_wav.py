"""grukit.export.runtime.Predictor.read_wav reads the wav files people have (PCM or float,
its fmt chunk plain or WAVE_FORMAT_EXTENSIBLE as sox and soundfile's WAVEX write them, with
chunks it does not know) as soundfile reads them, and refuses the others in one sentence."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
sf = pytest.importorskip("soundfile")

from grukit.export.runtime import Predictor  # noqa: E402
from grukit.tasks.export import export  # noqa: E402

Y = np.random.default_rng(0).uniform(-1, 1, 801)
Y[:4] = [-1.0, 0.0, 0.5, -0.5]


@pytest.fixture(scope="module")
def predictor(tmp_path_factory, tone_speech):
    """A tiny SpeechClassifier at 8 kHz, exported as ONNX."""
    clf, _ = tone_speech
    path = tmp_path_factory.mktemp("wav") / "speech.onnx"
    export(clf, path)
    return clf, Predictor(path)


def _wav(format: str, subtype: str, y=Y) -> bytes:
    b = io.BytesIO()
    sf.write(b, y, 8000, format=format, subtype=subtype)
    return b.getvalue()


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 12
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        out.append((tag, data[pos + 8:pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return out


def _riff(chunks) -> bytes:
    body = b"WAVE" + b"".join(t + struct.pack("<I", len(d)) + d + b"\0" * (len(d) & 1)
                              for t, d in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _sentence(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg.endswith("."), msg
    return msg


@pytest.mark.parametrize("format", ["WAV", "WAVEX", "RF64"])
@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT",
                                     "DOUBLE"])
def test_read_wav_gives_soundfiles_samples_for_plain_and_extensible_files(predictor, tmp_path,
                                                                          format, subtype):
    """WAVE_FORMAT_EXTENSIBLE (tag 0xFFFE), float and RF64 files were refused ('unknown
    format', 'file does not start with RIFF id'). A chunk after the samples stays out of them
    (RF64: the data size is the ds64 chunk's)."""
    _, p = predictor
    data = _wav(format, subtype)
    tag = struct.unpack("<H", dict(_chunks(data))[b"fmt "][:2])[0]
    assert tag == (0xFFFE if format != "WAV" else 3 if subtype in ("FLOAT", "DOUBLE") else 1)
    (tmp_path / "a.wav").write_bytes(data + b"LIST" + struct.pack("<I", 7) + b"INFOabc\0")
    np.testing.assert_array_equal(p.read_wav(tmp_path / "a.wav"),
                                  sf.read(tmp_path / "a.wav", dtype="float64")[0])


def test_read_wav_skips_odd_sized_chunks_and_reads_a_truncated_file_as_far_as_it_goes(
        predictor, tmp_path):
    clf, p = predictor
    for subtype in ("PCM_24", "PCM_16"):
        chunks = _chunks(_wav("WAVEX", subtype, Y[:101] / 2))  # 24-bit: 303 bytes, padded
        fmt, data = dict(chunks)[b"fmt "], dict(chunks)[b"data"]
        cases = {"odd chunks": _riff([(b"LIST", b"INFOabc"), (b"fmt ", fmt), (b"junk", b"x"),
                                      (b"data", data)]),
                 "cut mid-sample": _riff([(b"fmt ", fmt), (b"data", data)])[:-5]}
        for name, body in cases.items():
            f = tmp_path / f"{subtype}-{name}.wav"
            f.write_bytes(body)
            want = sf.read(f, dtype="float64")[0]
            assert len(want) == 101 if name == "odd chunks" else 90 < len(want) < 101, name
            np.testing.assert_array_equal(p.read_wav(f), want, err_msg=f"{subtype} {name}")
    np.testing.assert_allclose(p.predict_proba([str(f)]), clf.predict_proba([str(f)]),
                               atol=1e-3)


def test_read_wav_refuses_what_it_cannot_read_in_one_sentence(predictor, tmp_path):
    _, p = predictor
    fmt = dict(_chunks(_wav("WAV", "PCM_16")))[b"fmt "]
    cases = {  # name: (bytes, what the sentence says)
        "empty": (b"", "the file is empty"),
        "text": (b"not audio at all", "does not start with a RIFF/WAVE header"),
        "header only": (_riff([(b"fmt ", fmt)]), "it has no data chunk"),
        "fmt cut": (_riff([(b"fmt ", fmt)])[:28], "its fmt chunk ends early"),
        "A-law": (_wav("WAV", "ALAW"), "format 6, not PCM (1) or float (3)"),
        "A-law extensible": (_wav("WAVEX", "ALAW"), "format 6, not PCM (1) or float (3)"),
        "stereo extensible": (_wav("WAVEX", "PCM_24", np.zeros((80, 2))),
                              "2 channel(s) of 24-bit samples at 8000 Hz"),
    }
    for name, (body, says) in cases.items():
        (tmp_path / "bad.wav").write_bytes(body)
        with pytest.raises(ValueError) as e:
            p.predict([str(tmp_path / "bad.wav")])
        assert says in _sentence(e), name


def test_float_recordings_far_past_full_scale_warn_as_the_estimator_warns(predictor, tmp_path):
    import warnings

    clf, p = predictor
    y = (Y / 2).astype(np.float32)
    sf.write(tmp_path / "f.wav", y * 32767, 8000, subtype="FLOAT")  # written unnormalised
    for loud in (y * 32767, str(tmp_path / "f.wav")):
        with pytest.warns(UserWarning, match=r"recording 1 up to 1\.6\d+e\+04.*32768"):
            p.predict_proba([y, loud])
    with pytest.warns(UserWarning, match="32768"):
        clf.predict_proba([y, y * 32767])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p.predict_proba([y, y * 3.9])  # up to 1.95: loud, at its own scale


def test_a_model_copied_without_its_front_end_says_which_file_to_copy(predictor, tmp_path):
    import shutil

    _, p = predictor
    stem = p.manifest["model"].rsplit(".", 1)[0]
    for suffix in (".onnx", ".manifest.json"):
        shutil.copy(f"{p.folder}/{stem}{suffix}", tmp_path)
    bare = Predictor(tmp_path / f"{stem}.onnx")
    with pytest.raises(FileNotFoundError) as e:
        bare.predict([Y / 2])
    assert f"copy the '{stem}.audio.json' that the export wrote" in _sentence(e)
    frames = p.audio_features(Y / 2)  # frames need no front end
    np.testing.assert_array_equal(bare.predict_proba([frames]), p.predict_proba([frames]))
