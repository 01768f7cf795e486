"""Speech features: log-mel spectrogram or MFCC with deltas, for a whole recording or frame by
frame from a stream, and SpecAugment masking.

Frame t covers samples [t·hop, t·hop + n_fft) (no centring, so a stream can compute it as
soon as its samples arrive), weighted by a periodic Hann window of ``win`` samples centred
in the n_fft (librosa's ``stft(center=False)``):

    P_t(k)    = |Σ_n w(n) y(t·hop + n) e^{-2πikn/n_fft}|²        power spectrum (n_fft/2 + 1,)
    M_t       = 10 log10(max(F · P_t, 1e-10))                  log-mel, F: librosa's mel filters
    C_t       = DCT-II(M_t)[:n_mfcc]  (orthonormal)             MFCC (librosa.feature.mfcc)
    Δ_t       = Σ_k c¹_k x_{t+k},  ΔΔ_t = Σ_k c²_k x_{t+k},  k = -2..2
                (librosa.feature.delta, width 5: Savitzky-Golay slope and curvature, the
                edges repeated; c¹ = (-2, -1, 0, 1, 2) / 10)

``features(y, cfg)`` returns (T, D) for a recording; ``StreamingFeatures(cfg)`` returns the
same rows as samples are pushed (each row two frames late when deltas are on: they look two
frames ahead) and the last rows on ``flush()``. Per-utterance normalisation (``normalize=
"utterance"``) needs the whole recording and does not stream; the classifier's global
scaling (fit on the training set) does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("logmel", "mfcc")
NORMALIZE = ("none", "utterance")
DELTA_WIDTH = 5  # frames each delta looks at (two either side)
AMIN = 1e-10  # power floor of the log


@dataclass(frozen=True)
class FeatureConfig:
    sample_rate: int = 8000
    kind: str = "mfcc"  # "logmel" or "mfcc"
    n_mels: int = 40
    n_mfcc: int = 13
    win_ms: float = 25.0  # analysis window
    hop_ms: float = 10.0  # frame step: one row per hop
    fmin: float = 20.0
    fmax: float | None = None  # None: half the sample rate
    deltas: int = 2  # 0: static only, 1: + Δ, 2: + Δ and ΔΔ
    normalize: str = "none"  # "utterance": zero mean, unit variance per recording

    @property
    def hop(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def win(self) -> int:
        return int(round(self.sample_rate * self.win_ms / 1000))

    @property
    def n_fft(self) -> int:
        return 1 << (self.win - 1).bit_length()  # the next power of two

    @property
    def static_dim(self) -> int:
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    @property
    def dim(self) -> int:
        return self.static_dim * (1 + self.deltas)


def check_features(cfg: FeatureConfig) -> FeatureConfig:
    """``cfg`` when every setting is usable; else one sentence naming the first that is not."""
    if not isinstance(cfg, FeatureConfig):
        raise TypeError(f"features need a FeatureConfig; got a {type(cfg).__name__}.")
    for name in ("sample_rate", "n_mels", "n_mfcc"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive whole number; got {v!r}.")
    if cfg.kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {cfg.kind!r}.")
    if cfg.normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {', '.join(NORMALIZE)}; got "
                         f"{cfg.normalize!r}.")
    if isinstance(cfg.deltas, bool) or cfg.deltas not in (0, 1, 2):  # True: 1 or 2?
        raise ValueError(f"deltas must be 0, 1 or 2; got {cfg.deltas!r}.")
    for name in ("win_ms", "hop_ms"):  # before hop and win round them to samples
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not 0 < v < np.inf:
            raise ValueError(f"{name} must be a positive number of milliseconds; got {v!r}.")
    if cfg.kind == "mfcc" and cfg.n_mfcc > cfg.n_mels:
        raise ValueError(f"n_mfcc ({cfg.n_mfcc}) cannot exceed n_mels ({cfg.n_mels}).")
    if cfg.hop < 1 or cfg.win < 2:
        raise ValueError(f"hop_ms and win_ms give {cfg.hop} and {cfg.win} samples at "
                         f"{cfg.sample_rate} Hz; each must be at least 1 (window 2).")
    for name in ("fmin", "fmax"):  # "20" would fail the comparison below with a TypeError
        v = getattr(cfg, name)
        if (v is not None or name == "fmin") and (
                isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating))):
            raise ValueError(f"{name} must be a number of Hz{' or None' * (name == 'fmax')}; "
                             f"got {v!r}.")
    nyquist = cfg.sample_rate / 2
    fmax = nyquist if cfg.fmax is None else cfg.fmax
    if not 0 <= cfg.fmin < fmax <= nyquist:
        raise ValueError(f"need 0 <= fmin < fmax <= {nyquist:g} Hz (half the sample rate); "
                         f"got fmin={cfg.fmin!r}, fmax={cfg.fmax!r}.")
    return cfg


class _Analysis:
    """What every frame needs, computed once per config: window (n_fft,), mel filters
    (n_mels, n_fft/2 + 1), delta coefficients (2, 5)."""

    def __init__(self, cfg: FeatureConfig):
        import librosa
        from scipy.signal import savgol_coeffs

        self.cfg = check_features(cfg)
        win = librosa.filters.get_window("hann", cfg.win, fftbins=True)  # (win,)
        self.window = librosa.util.pad_center(win, size=cfg.n_fft)  # (n_fft,)
        self.mel = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                                       fmin=cfg.fmin, fmax=cfg.fmax)  # (M, n_fft/2 + 1)
        self.coeffs = np.stack([savgol_coeffs(DELTA_WIDTH, o, deriv=o, use="dot")
                                for o in (1, 2)])  # (2, 5): Δ and ΔΔ over t-2..t+2

    def static(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """frames (T, n_fft) -> static features (T, S) and each frame's windowed energy in
        dB (T,) (what a voice-activity detector reads)."""
        spec = np.fft.rfft(frames * self.window, axis=1)  # (T, n_fft/2 + 1)
        pw = spec.real ** 2 + spec.imag ** 2
        n = self.cfg.n_fft  # Parseval over the full spectrum: the mean square of the frame
        full = 2 * pw.sum(1) - pw[:, 0] - pw[:, -1]  # (T,)
        energy = 10.0 * np.log10(np.maximum(full / n ** 2, AMIN))  # (T,)
        return self.static_from_power(pw), energy

    def static_from_power(self, pw: np.ndarray) -> np.ndarray:
        """power spectra (T, n_fft/2 + 1) -> (T, S)."""
        from scipy.fft import dct

        logmel = 10.0 * np.log10(np.maximum(pw @ self.mel.T, AMIN))  # (T, M)
        if self.cfg.kind == "logmel":
            return logmel
        return dct(logmel, type=2, norm="ortho", axis=1)[:, :self.cfg.n_mfcc]  # (T, n_mfcc)


def front_end(cfg: FeatureConfig) -> dict:
    """What ``features`` needs besides numpy, as JSON (an exported speech model keeps it
    beside its graph, and ``grukit.export.runtime`` computes the features from it with numpy
    alone): the sizes, the window (n_fft,), the mel filters (M, n_fft/2 + 1), the rows of the
    orthonormal DCT-II kept as MFCC (n_mfcc, M; None for log-mel) and the delta coefficients
    (2, 5), dotted with frames t-2..t+2."""
    from scipy.fft import dct

    a = _Analysis(cfg)
    rows = None
    if cfg.kind == "mfcc":  # column j: the DCT of the j-th unit vector, so C @ m = DCT(m)
        rows = dct(np.eye(cfg.n_mels), type=2, norm="ortho", axis=0)[:cfg.n_mfcc].tolist()
    return {"sample_rate": cfg.sample_rate, "n_fft": cfg.n_fft, "hop": cfg.hop,
            "kind": cfg.kind, "deltas": cfg.deltas, "normalize": cfg.normalize, "amin": AMIN,
            "window": a.window.tolist(), "mel": a.mel.tolist(), "dct": rows,
            "delta": a.coeffs.tolist()}


def _samples(y, what: str) -> np.ndarray:
    """``y`` as float64 samples (N,), checked: one channel (a stereo (N, 2) array raveled
    would interleave its channels into one signal twice as long) and finite (a NaN makes the
    frames it falls in NaN); integer PCM is refused (its scale is not that of [-1, 1])."""
    if getattr(y, "dtype", np.dtype(float)).kind in "biu":
        raise ValueError(f"{what} holds {y.dtype} samples; features take float samples in "
                         f"[-1, 1] (divide 16-bit PCM by 32768, or read the file with "
                         f"grukit.data.audio.read_wav).")
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"{what} must be one channel, shape (samples,); got {y.shape}. Mix "
                         f"it down first (grukit.data.audio.mix_down).")
    if not np.isfinite(y).all():
        raise ValueError(f"{what} holds NaN or infinite samples; replace them (e.g. with 0) "
                         f"first.")
    return y


def features(y: np.ndarray, cfg: FeatureConfig = FeatureConfig(),
             analysis: _Analysis | None = None) -> np.ndarray:
    """The features of one recording ``y`` (N,) at ``cfg.sample_rate``: (T, D) float32 with
    T = 1 + (N - n_fft) // hop (a recording shorter than n_fft is zero-padded to one frame)."""
    import librosa

    a = analysis or _Analysis(cfg)
    cfg = a.cfg
    y = _samples(y, "a recording")
    if len(y) == 0:
        raise ValueError("the recording has no samples.")
    if len(y) < cfg.n_fft:
        y = np.pad(y, (0, cfg.n_fft - len(y)))
    spec = librosa.stft(y, n_fft=cfg.n_fft, hop_length=cfg.hop, win_length=cfg.win,
                        window="hann", center=False)  # (n_fft/2 + 1, T) complex
    static = a.static_from_power((np.abs(spec) ** 2).T)  # (T, S)
    parts = [static]
    for order in range(1, cfg.deltas + 1):
        parts.append(librosa.feature.delta(static, width=DELTA_WIDTH, order=order, axis=0,
                                           mode="nearest"))  # (T, S)
    out = np.concatenate(parts, axis=1)  # (T, D)
    if cfg.normalize == "utterance":
        out = (out - out.mean(0)) / np.maximum(out.std(0), 1e-5)
    return out.astype(np.float32)


class StreamingFeatures:
    """The rows of ``features`` computed as samples arrive.

        fx = StreamingFeatures(cfg)
        for chunk in microphone:            # any number of samples at a time
            rows = fx.push(chunk)           # (k, D): the rows that became complete
        rows = fx.flush()                   # the last rows (deltas repeat the last frame)

    With deltas a row is returned two frames after its own (it looks two frames ahead); the
    rows, concatenated, equal ``features`` of the whole recording (float rounding aside).
    After each call ``energies`` (k,) holds the windowed energy (dB) of each returned row's
    frame. ``normalize="utterance"`` is refused: it needs the whole recording.
    """

    def __init__(self, cfg: FeatureConfig = FeatureConfig()):
        self.a = _Analysis(cfg)
        if cfg.normalize != "none":
            raise ValueError("normalize='utterance' needs the whole recording, so it cannot "
                             "stream; use normalize='none' (the classifier's global scaling "
                             "streams).")
        self.cfg = cfg
        self.reset()

    def reset(self) -> None:
        self._buf = np.zeros(0)  # samples not yet consumed by a frame
        self._skip = 0  # samples still to drop before the next frame (hop > n_fft)
        self._hist: list[np.ndarray] = []  # the last static rows, (S,) each, for deltas
        self._energy: list[float] = []  # their frames' energies (dB)
        self.energies = np.zeros(0)  # (k,): of the rows the last push / flush returned
        self._frames = 0  # frames computed so far
        self._emitted = 0  # rows returned so far
        self._samples = 0
        self._row_energy: list[float] = []  # energies of the rows being returned

    @property
    def lookahead(self) -> int:
        """Frames a row waits for: 2 with deltas, else 0."""
        return DELTA_WIDTH // 2 if self.cfg.deltas else 0

    def push(self, samples) -> np.ndarray:
        """Append ``samples`` (n,); return the rows completed by them, (k, D) float32."""
        cfg = self.cfg
        x = _samples(samples, "a chunk of samples")
        self._samples += len(x)
        drop, self._skip = min(self._skip, len(x)), self._skip - min(self._skip, len(x))
        self._buf = np.concatenate([self._buf, x[drop:]])
        rows = []
        while len(self._buf) >= cfg.n_fft:
            frame = self._buf[None, :cfg.n_fft]  # (1, n_fft)
            # a hop longer than the frame also skips samples not yet pushed: frame t starts
            # at sample t·hop whatever the chunks
            self._skip = max(cfg.hop - len(self._buf), 0)
            self._buf = self._buf[cfg.hop:]
            rows += self._add(*self.a.static(frame))
        return self._stack(rows)

    def flush(self) -> np.ndarray:
        """The rows still owed at the end of the recording; the extractor is then reset."""
        rows = []
        if self._frames == 0 and self._samples > 0:  # shorter than a frame: zero-padded
            frame = np.pad(self._buf, (0, self.cfg.n_fft - len(self._buf)))[None]
            rows += self._add(*self.a.static(frame))
        while self._emitted < self._frames:
            rows.append(self._row(self._emitted))
            self._emitted += 1
        out = self._stack(rows)
        self.reset()
        self.energies = self._last_energies
        return out

    def _add(self, static: np.ndarray, energy: np.ndarray) -> list[np.ndarray]:
        self._hist.append(static[0])
        self._energy.append(float(energy[0]))
        self._frames += 1
        del self._hist[:-(2 * DELTA_WIDTH)]  # enough for t-2..t+2 of every row owed
        del self._energy[:-(2 * DELTA_WIDTH)]
        rows = []
        while self._emitted + self.lookahead < self._frames:
            rows.append(self._row(self._emitted))
            self._emitted += 1
        return rows

    def _row(self, t: int) -> np.ndarray:
        first = self._frames - len(self._hist)  # frame index of self._hist[0]
        static = self._hist[t - first]
        self._row_energy.append(self._energy[t - first])
        if not self.cfg.deltas:
            return static
        half = DELTA_WIDTH // 2
        idx = np.clip(np.arange(t - half, t + half + 1), 0, self._frames - 1)  # nearest
        win = np.stack([self._hist[i - first] for i in idx])  # (5, S)
        parts = [static] + [self.a.coeffs[o] @ win for o in range(self.cfg.deltas)]
        return np.concatenate(parts)

    def _stack(self, rows: list[np.ndarray]) -> np.ndarray:
        self.energies = self._last_energies = np.array(self._row_energy)  # (k,)
        self._row_energy = []
        if not rows:
            return np.zeros((0, self.cfg.dim), dtype=np.float32)
        return np.stack(rows).astype(np.float32)  # (k, D)


def spec_augment(feats: np.ndarray, rng: np.random.Generator, *, freq_masks: int = 2,
                 freq_width: int = 4, time_masks: int = 2, time_width: int = 8,
                 fill: float = 0.0) -> np.ndarray:
    """SpecAugment masking (Park et al. 2019, without time warping): a copy of ``feats``
    (T, D) with ``freq_masks`` bands of up to ``freq_width`` feature columns and
    ``time_masks`` spans of up to ``time_width`` frames set to ``fill``."""
    out = np.array(feats, dtype=np.float32, copy=True)
    if out.ndim != 2:
        raise ValueError(f"spec_augment takes features (frames, dims); got shape {out.shape}.")
    t, d = out.shape
    for _ in range(freq_masks):
        w = int(rng.integers(0, freq_width + 1))
        f0 = int(rng.integers(0, max(d - w, 0) + 1))
        out[:, f0:f0 + w] = fill
    for _ in range(time_masks):
        w = int(rng.integers(0, min(time_width, t) + 1))
        t0 = int(rng.integers(0, max(t - w, 0) + 1))
        out[t0:t0 + w] = fill
    return out
