"""The streaming test: long recordings built from held-out words with random gaps and
background noise, recognised by a ``Recognizer``, scored by digit error rate and delay.

    DER   = edit distance(true words, recognised words) / true words   (over all files)
    delay = time a word was output - the end of its speech (words aligned by the edit path)

Each word is scaled so that its speech (its recording trimmed of silence,
``librosa.effects.trim`` at 30 dB on 25 ms frames 10 ms apart) has the same power, as one
speaker at one distance from the microphone would give (FSDD's recordings differ by over
20 dB: unscaled, a quiet take would sit at a few dB SNR); the noise is white, ``snr_db``
below that power; gaps are drawn uniformly from ``gap`` seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ...data.audio import add_noise, read_wav

LEVEL = 0.1  # RMS of each word's speech in a built file
TRIM_FRAME_S, TRIM_HOP_S = 0.025, 0.010  # the frames that find a word's speech (seconds)


@dataclass
class LongFile:
    samples: np.ndarray  # (N,) float32
    labels: list[str]  # the words in order
    ends: list[float]  # seconds: the end of each word's speech
    starts: list[float]  # seconds: its start


def build_long_file(words: list[np.ndarray], labels: list[str], rng: np.random.Generator,
                    sample_rate: int, gap=(0.3, 1.2), snr_db: float | None = 20.0) -> LongFile:
    """``words`` (each (N_i,)) joined with silences of ``gap`` seconds (one before the first
    too), plus white noise at ``snr_db`` (None: none)."""
    import librosa

    trim_frame, trim_hop = max(round(TRIM_FRAME_S * sample_rate), 2), \
        max(round(TRIM_HOP_S * sample_rate), 1)  # samples
    parts, ends, starts, speech, pos = [], [], [], [], 0
    for w in words:
        g = np.zeros(int(rng.uniform(*gap) * sample_rate), dtype=np.float32)
        # the speech inside the recording, on 25 ms frames 10 ms apart: librosa's default
        # frames (2048 samples, 256 ms at 8 kHz) put its end ~0.2 s past the speech's
        _, (a, b) = librosa.effects.trim(w, top_db=30, frame_length=trim_frame,
                                         hop_length=trim_hop)
        w = w * np.float32(LEVEL / max(np.sqrt(np.mean(w[a:b].astype(np.float64) ** 2)),
                                       1e-9))
        parts += [g, w.astype(np.float32)]
        pos += len(g)
        starts.append((pos + a) / sample_rate)
        ends.append((pos + b) / sample_rate)
        speech.append(w[a:b])
        pos += len(w)
    parts.append(np.zeros(int(gap[1] * sample_rate), dtype=np.float32))  # time to answer
    y = np.concatenate(parts)
    if snr_db is not None:
        ref = float(np.mean(np.concatenate(speech).astype(np.float64) ** 2))
        y = add_noise(y, snr_db, rng, reference=ref)
    return LongFile(y, list(labels), ends, starts)


def edit_path(ref: list, hyp: list) -> tuple[int, list[tuple[int, int]]]:
    """Levenshtein distance of two sequences and the (ref, hyp) index pairs it matches or
    substitutes (a dozen lines of dynamic programming; a library for it would be a
    dependency for one function)."""
    n, m = len(ref), len(hyp)
    d = np.zeros((n + 1, m + 1), dtype=np.int64)
    d[:, 0], d[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1,
                          d[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]))
    pairs, i, j = [], n, m
    while i and j:
        if d[i, j] == d[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif d[i, j] == d[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return int(d[n, m]), pairs[::-1]


def evaluate_stream(recognizer, recordings, *, files: int = 20, words_per_file: int = 8,
                    snr_db: float | None = 20.0, gap=(0.3, 1.2), seed: int = 0) -> dict:
    """Build ``files`` long recordings from ``recordings`` (a ``Recordings`` of held-out
    words, or (paths, labels)), recognise each, and score them: ``{"der", "errors",
    "words", "delay_mean", "delay_median", "delay_p90", "audio_seconds", "seconds",
    "rtf", "ms_per_frame", "files": [...]}``; the delays are None when no word was
    recognised."""
    for name, v in (("files", files), ("words_per_file", words_per_file)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a whole number of 1 or more; got {v!r} (with "
                             f"no word to score, the digit error rate is 0 / 0).")
    paths = list(recordings.paths if hasattr(recordings, "paths") else recordings[0])
    labels = [str(v) for v in (recordings.labels if hasattr(recordings, "labels")
                               else recordings[1])]
    if len(paths) < words_per_file:
        raise ValueError(f"{len(paths)} recordings are too few for files of {words_per_file} "
                         f"words; give more or lower words_per_file.")
    sr = recognizer.features.cfg.sample_rate
    rng = np.random.default_rng(seed)
    errors = total = frames = 0
    delays, per_file, audio_s, busy = [], [], 0.0, 0.0
    for k in range(files):
        pick = rng.choice(len(paths), size=words_per_file, replace=False)
        lf = build_long_file([read_wav(paths[i], sr)[0] for i in pick],
                             [labels[i] for i in pick], rng, sr, gap, snr_db)
        t0 = time.perf_counter()
        heard = recognizer.listen(lf.samples)
        busy += time.perf_counter() - t0
        frames += recognizer.frames
        audio_s += len(lf.samples) / sr
        hyp = [w.label for w in heard]
        dist, pairs = edit_path(lf.labels, hyp)
        errors, total = errors + dist, total + len(lf.labels)
        delays += [heard[j].emitted - lf.ends[i] for i, j in pairs
                   if lf.labels[i] == hyp[j]]
        per_file.append({"file": k, "truth": "".join(lf.labels) if all(
            len(v) == 1 for v in lf.labels) else " ".join(lf.labels),
            "heard": " ".join(f"{w.start:.2f}s:{w.label}" for w in heard), "errors": dist})
    d = np.array(delays)  # (matched words,); none matched: the delays are None, not NaN
    stat = {"delay_mean": np.mean, "delay_median": np.median,
            "delay_p90": lambda a: np.percentile(a, 90)}
    return {"der": errors / total, "errors": int(errors), "words": int(total),
            "snr_db": snr_db, "files": per_file,
            **{k: float(f(d)) if len(d) else None for k, f in stat.items()},
            "audio_seconds": audio_s, "seconds": busy, "rtf": busy / audio_s,
            "ms_per_frame": 1e3 * busy / max(frames, 1)}
