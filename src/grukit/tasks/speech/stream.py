"""Streaming recognition: a trained unidirectional ``SpeechClassifier`` fed one 10 ms frame
at a time through ``grukit.nn.Stream``, with an energy voice-activity detector that cuts the
stream into words.

    rec = Recognizer(SpeechClassifier.load("digits-gru"))
    for chunk in microphone:                  # any number of samples at a time
        for w in rec.push(chunk):
            print(f"{w.start:.2f} s  {w.word}")
    words = rec.flush()

Per frame: the features' new row (``StreamingFeatures``), scaled with the classifier's
training mean and std, goes through the recurrent layer's one-step kernel; its output h_t
updates the attention pooling online (exactly the batch pooling, in log-sum-exp form):

    e_t = vᵀ tanh(W h_t + b),  m_t = max(m_{t-1}, e_t)
    s_t = s_{t-1} e^{m_{t-1} - m_t} + e^{e_t - m_t}
    a_t = a_{t-1} e^{m_{t-1} - m_t} + e^{e_t - m_t} h_t        (H,)
    pooled = a_t / s_t = Σ_t softmax(e)_t h_t

so that when the detector closes a word, its class is one Dense layer away.

The detector: a frame is loud when its energy is ``on_db`` above the noise floor (tracked
as the running minimum, drifting up ``floor_rise_db`` a frame so that it follows a louder
background). The floor starts at the quietest of the stream's first ``warmup`` frames: those
are held back once, at the start, so that a word at the very start of a stream is measured
against the silence after it rather than against itself. ``min_on`` loud frames in a row
open a word, which starts ``preroll`` frames earlier (kept in a ring buffer); ``hangover``
frames below ``off_db`` close it. The word is then classified (if it lasted
``min_frames``) and the state reset for the next one.
"""

from __future__ import annotations

import copy
import warnings
from collections import deque
from dataclasses import dataclass

import numpy as np

from ...data.audio import AudioWarning
from ...data.audio_features import StreamingFeatures
from ...nn import Stream
from .estimator import SpeechClassifier, feature_config, label_word


@dataclass(frozen=True)
class VADConfig:
    on_db: float = 12.0  # loud: this far above the noise floor
    off_db: float = 8.0  # quiet again: below floor + off_db
    min_on: int = 3  # loud frames in a row that open a word
    hangover: int = 15  # quiet frames in a row that close it
    preroll: int = 8  # frames before the opening kept in the word
    min_frames: int = 12  # shorter words are dropped (clicks)
    max_frames: int = 250  # a longer word is closed and classified
    floor_rise_db: float = 0.01  # the floor's upward drift per frame
    warmup: int = 100  # frames held back at the start: the floor starts at their minimum

    def __post_init__(self):
        for name in ("on_db", "off_db", "floor_rise_db"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(v):
                raise ValueError(f"VADConfig: {name} must be a finite number of dB; got {v!r}.")
        if self.on_db <= 0:  # at or below the floor every frame of silence is loud
            raise ValueError(f"VADConfig: on_db must be above 0 dB (how far above the noise "
                             f"floor speech is); got {self.on_db!r}.")
        if self.floor_rise_db < 0:  # a floor that only sinks never follows a louder room
            raise ValueError(f"VADConfig: floor_rise_db must be 0 or more; got "
                             f"{self.floor_rise_db!r}.")
        for name, least in (("min_on", 1), ("hangover", 1), ("min_frames", 0),
                            ("max_frames", 1), ("preroll", 0), ("warmup", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < least:
                raise ValueError(f"VADConfig: {name} must be a whole number of {least} or "
                                 f"more; got {v!r}.")


@dataclass
class Word:
    label: str
    word: str  # "seven" for the label "7"
    probability: float
    start: float  # seconds: the first frame the detector counted as speech
    end: float  # seconds: the last loud frame
    emitted: float  # seconds of audio heard when the word was output


def _chunk(samples) -> np.ndarray:
    """A chunk of the stream, checked: mono float samples (n,), all finite (a NaN would make
    the words near it NaN, and their class the first one)."""
    if isinstance(samples, tuple) and len(samples) == 2 and np.ndim(samples[1]) == 0:
        raise ValueError("the samples are a (samples, rate) pair, as soundfile.read and "
                         "librosa.load return; push the samples alone, at the model's rate.")
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"a chunk of samples has shape {x.shape}; push mono samples (n,) "
                         f"(mix channels down first, e.g. x.mean(axis=1)).")
    if hasattr(samples, "dtype") and x.dtype.kind in "biu":
        raise ValueError(f"the samples are {x.dtype}; push float samples in [-1, 1] (divide "
                         f"16-bit PCM by 32768).")
    if not np.isfinite(x).all():
        raise ValueError("a chunk of samples holds NaN or infinite values; replace them "
                         "(e.g. with 0) before pushing it.")
    return x


class Recognizer:
    """Words from a stream of samples; see the module docstring."""

    def __init__(self, classifier: SpeechClassifier, vad: VADConfig | None = None):
        if not isinstance(classifier, SpeechClassifier):
            raise TypeError(f"Recognizer needs a SpeechClassifier; got a "
                            f"{type(classifier).__name__}.")
        vad = VADConfig() if vad is None else vad
        if not isinstance(vad, VADConfig):  # a dict failed at the first frame's lookup
            raise TypeError(f"vad must be a VADConfig (e.g. VADConfig(on_db=15)) or None for "
                            f"the defaults; got a {type(vad).__name__}.")
        classifier._check_fitted("streaming")
        cfg = classifier.config
        if cfg.model.startswith("bi"):
            raise ValueError(f"a {cfg.model} model reads each word backwards too, so it needs "
                             f"the whole word before its first step and cannot stream; train "
                             f"model='{cfg.model[2:]}' for streaming.")
        if cfg.normalize != "none":
            raise ValueError("normalize='utterance' needs the whole recording, so this model "
                             "cannot stream; train one with normalize='none'.")
        self.classifier, self.vad = classifier, vad
        layers = {type(la).__name__: la for la in classifier.model.layers}
        rnn = next(la for la in classifier.model.layers if hasattr(la, "rnn")).rnn
        if next(rnn.parameters()).device.type != "cpu":  # a model trained on a GPU
            rnn = copy.deepcopy(rnn).cpu()  # the stream's kernels run on the CPU
        self.stream = Stream(rnn)
        pool, dense = layers["AttentionPooling"], layers["Dense"]

        def host(t):  # a weight as a float32 array on the host, wherever the model is
            return t.detach().cpu().numpy().astype(np.float32)

        self._w, self._b = host(pool.proj.weight), host(pool.proj.bias)  # (U, H), (U,)
        self._v = host(pool.v)  # (U,)
        self._dw, self._db = host(dense.linear.weight), host(dense.linear.bias)  # (K, H), (K,)
        f32 = np.float32
        self._mean = classifier.mean_.astype(f32)  # (D,)
        self._scale = (1.0 / classifier.std_).astype(f32)  # (D,)
        self.features = StreamingFeatures(feature_config(cfg))
        fc = self.features.cfg
        self._hop_s, self._n_fft = fc.hop / fc.sample_rate, fc.n_fft
        self.reset()

    # -- state ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything heard: the next sample starts a new stream at time 0."""
        self.features.reset()
        self._t = 0  # rows seen
        self.frames = 0  # frames heard by the stream that the last flush ended
        self._floor: float | None = None
        self._warm: list[tuple[np.ndarray, float]] = []  # (row, energy) held back at the start
        self._ring: deque = deque(maxlen=self.vad.preroll + self.vad.min_on)  # (t, row, loud)
        self._loud_run = 0
        self._word: dict | None = None
        self._rows_in = 0  # feature rows received: the last is the newest frame heard
        self._samples = 0  # samples pushed
        self._loud_warned = False  # the far-past-full-scale warning: once a stream
        self._end_word()

    def _end_word(self) -> None:
        self.stream.reset()
        self._m, self._s = -np.inf, 0.0
        self._acc = np.zeros(self._dw.shape[1], dtype=np.float64)  # (H,)
        self._n = 0

    # -- the model, one row at a time ---------------------------------------------------------
    def step(self, row: np.ndarray) -> None:
        """One scaled feature row (D,) through the recurrent layer and the online pooling."""
        h = self.stream.step(row)  # (H,)
        h = np.asarray(h, dtype=np.float64)
        e = float(self._v @ np.tanh(self._w @ h + self._b))
        m = max(self._m, e)
        decay = np.exp(self._m - m) if self._n else 0.0
        self._s = self._s * decay + np.exp(e - m)
        self._acc = self._acc * decay + np.exp(e - m) * h
        self._m = m
        self._n += 1

    def proba(self) -> np.ndarray:
        """Class probabilities (K,) of the frames stepped since the last reset."""
        logits = self._dw @ (self._acc / self._s) + self._db  # (K,)
        z = np.exp(logits - logits.max())
        return z / z.sum()

    def scale(self, rows: np.ndarray) -> np.ndarray:
        """Raw feature rows (k, D) -> the classifier's standardised rows, float32."""
        return ((rows - self._mean) * self._scale).astype(np.float32)

    # -- the stream ---------------------------------------------------------------------------
    def push(self, samples) -> list[Word]:
        """Hear ``samples`` (n,), floats in [-1, 1] at the model's sample rate; the words they
        completed (a stream far past full scale is heard with one warning)."""
        x = _chunk(samples)
        if not self._loud_warned and len(x) and np.abs(x).max() > 2.0:
            self._loud_warned = True  # features ~20·log10(peak) dB off the training's
            warnings.warn(f"the stream holds float samples up to {np.abs(x).max():.4g}, far "
                          f"beyond full scale (1.0), so its words are misheard; if they are "
                          f"PCM values cast to float (e.g. int16 from a microphone), divide "
                          f"by 32768.", AudioWarning, stacklevel=2)
        self._samples += len(x)
        rows = self.features.push(x)
        return self._rows(rows, self.features.energies)

    def flush(self) -> list[Word]:
        """The end of the stream: the last rows, and the word under way if any. The
        recognizer is then reset (as its features are): the next push starts a new stream
        at time 0, with its own warm-up; ``frames`` keeps the frames this stream heard."""
        rows = self.features.flush()
        words = self._rows(rows, self.features.energies)
        words += self._settle()  # a stream shorter than the warm-up
        if self._word is not None:
            words += self._close(self._t - 1)
        frames = self._t
        self.reset()
        self.frames = frames
        return words

    def listen(self, samples) -> list[Word]:
        """A whole recording fed 10 ms at a time: every word in it."""
        self.reset()
        hop = self.features.cfg.hop
        y = _chunk(samples).astype(np.float64)
        words = []
        for i in range(0, len(y), hop):
            words += self.push(y[i:i + hop])
        return words + self.flush()

    def _rows(self, rows: np.ndarray, energies: np.ndarray) -> list[Word]:
        self._rows_in += len(rows)
        scaled = self.scale(rows)
        if self._floor is None:  # warming up: hold the rows back until the floor is known
            self._warm += zip(scaled, np.asarray(energies, dtype=np.float64), strict=True)
            return self._settle() if len(self._warm) >= self.vad.warmup else []
        return self._detect(scaled, energies)

    def _settle(self) -> list[Word]:
        """The floor from the rows held back (their quietest energy), then those rows."""
        if not self._warm:
            return []
        held, self._warm = self._warm, []
        self._floor = min(e for _, e in held) - self.vad.floor_rise_db
        return self._detect(np.array([r for r, _ in held]), [e for _, e in held])

    def _detect(self, scaled: np.ndarray, energies) -> list[Word]:
        words = []
        vad = self.vad
        for row, e in zip(scaled, energies, strict=True):
            t, self._t = self._t, self._t + 1
            floor = min(self._floor + vad.floor_rise_db, e)
            self._floor = floor
            loud = e > floor + vad.on_db
            if self._word is None:
                self._ring.append((t, row))
                self._loud_run = self._loud_run + 1 if loud else 0
                if self._loud_run >= vad.min_on:  # a word opens: its pre-roll, then on
                    self._word = {"start": t - vad.min_on + 1, "last_loud": t, "quiet": 0}
                    for _, r in self._ring:
                        self.step(r)
                    self._ring.clear()
                continue
            self.step(row)
            w = self._word
            if e > floor + vad.off_db:
                w["last_loud"], w["quiet"] = t, 0
            else:
                w["quiet"] += 1
            if w["quiet"] >= vad.hangover or self._n >= vad.max_frames:
                words += self._close(t)
        return words

    def _close(self, t: int) -> list[Word]:
        w, n = self._word, self._n
        self._word, self._loud_run = None, 0
        out = []
        if n >= self.vad.min_frames and w["last_loud"] - w["start"] + 1 >= self.vad.min_on:
            p = self.proba()
            k = int(p.argmax())
            label = str(self.classifier.classes_[k])
            # the newest row received needed the samples up to the end of its lookahead
            # frame (rows held back by the warm-up come out with the row that ends it); at
            # flush, no frame lies past the stream's end
            newest = max(t, self._rows_in - 1) + self.features.lookahead
            sr = self.features.cfg.sample_rate
            heard = min(newest * self._hop_s + self._n_fft / sr, self._samples / sr)
            out.append(Word(label, label_word(label), float(p[k]), w["start"] * self._hop_s,
                            (w["last_loud"] + 1) * self._hop_s, heard))
        self._end_word()
        return out
