"""Audio in: wav files read to mono float32 at a chosen rate, and additive noise at an SNR.

    y, sr = read_wav("0_george_0.wav")               # (N,) float32 in [-1, 1], 8000
    y, sr = read_wav("song.wav", sample_rate=8000)    # any rate, resampled (soxr)
    noisy = add_noise(y, snr_db=20, rng=np.random.default_rng(0))

Reading is soundfile's (libsndfile: PCM 8/16/24/32-bit, float, mono or multi-channel); a
file it cannot read, an empty file, a header with a sample rate of 0, a file of no samples
or of NaN/Inf is refused with one sentence naming the file. Channels are averaged, except
channels that are silent (all zero, or 60 dB below the loudest), which are dropped first,
so that a stereo file with one dead channel is not halved in level. A clipped file is read
as it is, with one warning naming the share of samples at full scale; a float file whose
samples go far past full scale (written unnormalised) with one warning naming its peak.

Features (log-mel, MFCC, deltas, streaming) are in ``grukit.data.audio_features``; folders
of labelled recordings in ``grukit.data.audio_folder``.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

# A channel this far (in dB) below the loudest is taken for silent and dropped before mixing.
SILENT_CHANNEL_DB = 60.0
# Share of samples at full scale above which a file is reported as clipped.
CLIPPED_SHARE = 0.001


class AudioWarning(UserWarning):
    """Audio read as it is, with something a person may want to know (clipping)."""


def _open_error(path: str, err: Exception) -> ValueError:
    size = os.path.getsize(path)
    if size == 0:
        return ValueError(f"{path!r} is empty (0 bytes); give a wav file with samples.")
    reason = str(err).splitlines()[-1].strip() if str(err).strip() else type(err).__name__
    return ValueError(f"{path!r} cannot be read as audio ({reason}); give a wav file (PCM "
                      f"8/16/24/32-bit or float) that is not truncated or damaged.")


def read_wav(path: str, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """The samples of the audio file ``path`` as mono float32 (N,) in [-1, 1] (a float file's
    as stored) and their rate.

    ``sample_rate``: resample to this rate (soxr, high quality) when the file has another;
    None keeps the file's rate.
    """
    import soundfile as sf

    if sample_rate is not None:
        _check_rate(sample_rate, "sample_rate")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(2, "no such audio file", path)
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a folder; give a wav file.")
    rate = _wav_header_rate(path)
    if rate == 0:  # libsndfile only says "SF_INFO struct incomplete"
        raise ValueError(f"{path!r} says its sample rate is 0 Hz; the header is damaged (a "
                         f"rate must be positive, e.g. 8000 or 16000).")
    try:
        info = sf.info(path)
        data, sr = sf.read(path, dtype="float64", always_2d=True)  # (N, C)
    except ValueError:
        raise
    except Exception as err:  # soundfile.LibsndfileError, RuntimeError on some builds
        raise _open_error(path, err) from None
    if sr <= 0:
        raise ValueError(f"{path!r} says its sample rate is {sr} Hz; the header is damaged "
                         f"(a rate must be positive, e.g. 8000 or 16000).")
    if data.shape[0] == 0:
        raise ValueError(f"{path!r} holds no samples (a header without audio); give a "
                         f"recording.")
    if not np.isfinite(data).all():
        raise ValueError(f"{path!r} contains NaN or infinite samples; the file is damaged.")
    _warn_clipping(path, data, info.subtype)
    y = mix_down(data)
    if sample_rate is not None and sample_rate != sr:
        y = resample(y, sr, sample_rate)
        if len(y) == 0:
            raise ValueError(f"{path!r} holds {data.shape[0]} sample(s) at {sr} Hz, which "
                             f"leave none at {sample_rate} Hz; give a longer recording.")
        sr = sample_rate
    return y.astype(np.float32), int(sr)


def _wav_header_rate(path: str) -> int | None:
    """The sample rate a RIFF/WAVE header states (its ``fmt`` chunk), None for other files."""
    import struct

    with open(path, "rb") as f:
        head = f.read(4096)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(head):
        tag, size = head[pos:pos + 4], struct.unpack("<I", head[pos + 4:pos + 8])[0]
        if tag == b"fmt " and pos + 16 <= len(head):
            return struct.unpack("<I", head[pos + 12:pos + 16])[0]
        pos += 8 + size + (size & 1)
    return None


def mix_down(data: np.ndarray) -> np.ndarray:
    """(N, C) -> (N,): the mean of the channels that are not silent (a silent channel is all
    zero or ``SILENT_CHANNEL_DB`` below the loudest); all silent: the mean of all. Integer
    PCM (scipy.io.wavfile's int16) is refused: mixed as floats it kept its own scale, which
    the features then took for samples in [-1, 1]."""
    _refuse_pcm(data, "mix_down's data")
    data = np.asarray(data, dtype=np.float64)
    if data.ndim == 1:
        return data
    if data.ndim != 2 or data.shape[1] > max(data.shape[0], 32):  # (C, N), as librosa gives
        raise ValueError(f"mix_down takes samples by channels (N, C); got {data.shape}, which "
                         f"looks like channels first (librosa's layout): pass its transpose.")
    rms = np.sqrt(np.mean(data ** 2, axis=0))  # (C,)
    loud = rms.max()
    if loud == 0:
        return data.mean(axis=1)
    keep = rms > loud * 10 ** (-SILENT_CHANNEL_DB / 20)  # (C,)
    return data[:, keep].mean(axis=1)


def _refuse_pcm(x, what: str) -> None:
    """One sentence for integer (or bool) samples: their scale is not that of [-1, 1]."""
    kind = getattr(x, "dtype", np.dtype(float)).kind
    if kind in "biu":
        raise ValueError(f"{what} holds {x.dtype} samples; give float samples in [-1, 1] "
                         f"(divide 16-bit PCM by 32768, or read the file with read_wav).")


def _warn_clipping(path: str, data: np.ndarray, subtype: str) -> None:
    # full scale: 1 for float; n-bit PCM reads as k / 2^(n-1), so its top is 1 - 2^-(n-1)
    # (8-bit: 127/128; 16-bit and wider: at or above 1 - 2^-15)
    full = 1.0 if subtype in ("FLOAT", "DOUBLE") else \
        1.0 - 2.0 ** -7 if subtype in ("PCM_U8", "PCM_S8") else 1.0 - 2.0 ** -15
    peak = float(np.abs(data).max())
    if peak > 2.0:  # float samples far past full scale: not clipping but another scale
        warnings.warn(f"{path!r} holds float samples up to {peak:.4g}, far beyond full scale "
                      f"(1.0), so its level and features are not those of the audio it "
                      f"records; if it was written unnormalised (e.g. 16-bit values as "
                      f"floats), divide by 32768 or write it again as PCM.", AudioWarning,
                      stacklevel=3)
        return
    share = float(np.mean(np.abs(data) >= full))
    if share > CLIPPED_SHARE:
        warnings.warn(f"{path!r} is clipped: {share:.1%} of its samples are at full scale, so "
                      f"features of the loud parts are distorted; record at a lower level if "
                      f"you can.", AudioWarning, stacklevel=3)


def _check_rate(rate, what: str) -> None:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise ValueError(f"{what} must be a positive whole number of Hz (e.g. 8000); got "
                         f"{rate!r}.")


def resample(y: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """``y`` (N,) from ``rate_in`` to ``rate_out`` Hz with soxr's high-quality resampler."""
    import soxr

    _check_rate(rate_in, "rate_in")
    _check_rate(rate_out, "rate_out")
    _refuse_pcm(y, "y")  # resampled as floats it would keep the int16 scale
    if rate_in == rate_out:
        return np.asarray(y)
    return soxr.resample(np.asarray(y, dtype=np.float64), rate_in, rate_out, quality="HQ")


def power(y: np.ndarray) -> float:
    """Mean square of ``y``."""
    y = np.asarray(y, dtype=np.float64)
    return float(np.mean(y ** 2)) if len(y) else 0.0


def add_noise(y: np.ndarray, snr_db: float, rng: np.random.Generator,
              noise: np.ndarray | None = None, reference: float | None = None) -> np.ndarray:
    """``y`` plus noise scaled to ``snr_db`` dB below ``reference`` (the power of ``y`` when
    None): white Gaussian noise, or a random stretch of ``noise`` (repeated when shorter).
    ``snr_db = 10 log10(P_signal / P_noise)``."""
    if isinstance(snr_db, (bool, np.bool_)) or \
            not isinstance(snr_db, (int, float, np.integer, np.floating)) or \
            not np.isfinite(snr_db):
        raise ValueError(f"snr_db must be a finite number of dB (e.g. 20); got {snr_db!r}.")
    snr_db = float(snr_db)  # np.float32(20): its scale in float64 as for 20.0
    _refuse_pcm(y, "y")  # noisy int16 came back as float32 at the int16 scale
    _refuse_pcm(noise, "noise")
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"y has shape {y.shape}; add_noise takes mono samples (N,) (mix "
                         f"channels down first: grukit.data.audio.mix_down).")
    if not np.isfinite(y).all():  # the noise is scaled by its power: NaN everywhere
        raise ValueError("y holds NaN or infinite samples; replace them (e.g. with 0) first.")
    if reference is not None and not (np.isfinite(reference) and reference >= 0):
        raise ValueError(f"reference must be a finite power of 0 or more (the signal's mean "
                         f"square), or None for the power of y; got {reference!r}.")
    p_sig = power(y) if reference is None else float(reference)
    if p_sig <= 0:
        return y.astype(np.float32)  # silence: no level to set the noise against
    if noise is None:
        n = rng.standard_normal(len(y))
    else:
        noise = np.asarray(noise, dtype=np.float64)
        if noise.ndim != 1:  # raveled, a stereo recording's channels would interleave
            raise ValueError(f"noise has shape {noise.shape}; give mono samples (N,) (mix "
                             f"channels down first: grukit.data.audio.mix_down).")
        if not np.isfinite(noise).all():
            raise ValueError("noise holds NaN or infinite samples; replace them (e.g. with 0) "
                             "first.")
        if len(noise) == 0 or power(noise) == 0:
            raise ValueError("noise is empty or silent; give a recording of background noise.")
        reps = -(-len(y) // len(noise)) + 1
        start = int(rng.integers(0, len(noise)))
        n = np.tile(noise, reps)[start:start + len(y)]
    n *= np.sqrt(p_sig / 10 ** (snr_db / 10) / power(n))
    return (y + n).astype(np.float32)
