"""``SpeechClassifier``: recordings (wav files or waveforms) -> log-mel or MFCC frames with
deltas (``grukit.data.audio_features``) -> per-feature standardisation fit on the training
set -> SpecAugment while training -> (Bi)GRU/LSTM -> AttentionPooling -> Dense(softmax).

It is ``classify``'s ``SequenceClassifier`` with an audio front end: the same network, the
same training through ``grukit.models``' engine (stratified validation split, early
stopping on ``val_loss``, best weights kept), the same save/load.

    clf = SpeechClassifier(model="bigru").fit(train_paths, train_labels)
    clf.evaluate(test_paths, test_labels)["accuracy"]
    clf.save("digits"); SpeechClassifier.load("digits").predict(["7_theo_0.wav"])

A unidirectional model (``gru``, ``lstm``) with ``normalize="none"`` can also run on a live
stream, one 10 ms frame at a time (``grukit.tasks.speech.stream.Recognizer``).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np

from ...data.audio import AudioWarning, add_noise, read_wav
from ...data.audio_features import FeatureConfig, _Analysis, check_features, features
from ..classify.base import _plain, plain_config, stratified_split
from ..classify.base import check_config as check_classifier
from ..classify.labels import as_labels
from ..classify.network import SequenceInput
from ..classify.sequence import SequenceClassifier
from ..estimator import check_flag
from .network import CropPadding, SpecAugment

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class SpeechConfig:
    """Settings of a ``SpeechClassifier``: the network, its training, the audio features and
    the training-time augmentation.

    Attributes:
        model (str): a cell of ``grukit.cells`` (gru, lstm, ...) or bi + it (default bigru).
        hidden (int): recurrent units.
        dropout (float): dropout on the pooled vector.
        epochs (int): the epoch cap (early stopping usually ends training first).
        batch_size (int): recordings a batch.
        learning_rate (float): Adam's learning rate.
        validation_split (float): share held out for early stopping (0 turns it off).
        patience (int | None): epochs without improvement before stopping.
        seed (int): seeds the weights, the split, the batches and the augmentation.
        sample_rate (int): every recording is resampled to it (Hz).
        features (str): "mfcc" or "logmel".
        n_mels (int): mel bands.
        n_mfcc (int): cepstral coefficients (features="mfcc").
        deltas (int): 0, 1 (Δ) or 2 (Δ and ΔΔ) derivative blocks appended.
        normalize (str): "none" or "utterance" (per recording, before the global scaling).
        spec_augment (bool): time and frequency masking of the training features.
        noise_copies (int): noisy copies of each training recording.
        noise_snr (float): each copy's SNR is drawn from noise_snr ± 5 dB.
    """

    model: str = "bigru"  # a cell of grukit.cells (gru, lstm, ...) or bi + it
    hidden: int = 64
    dropout: float = 0.2  # on the pooled vector
    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 3e-3
    validation_split: float = 0.1  # for early stopping; 0 turns it off
    patience: int | None = 8
    seed: int = 0
    # features (grukit.data.audio_features.FeatureConfig)
    sample_rate: int = 8000  # every recording is resampled to it
    features: str = "mfcc"  # "mfcc" or "logmel"
    n_mels: int = 40
    n_mfcc: int = 13
    deltas: int = 2
    normalize: str = "none"  # "utterance": per recording, before the global scaling
    # augmentation (training only)
    spec_augment: bool = True
    noise_copies: int = 0  # noisy copies of each training recording
    noise_snr: float = 20.0  # each copy at an SNR drawn from noise_snr ± 5 dB


def feature_config(cfg: SpeechConfig) -> FeatureConfig:
    return FeatureConfig(sample_rate=cfg.sample_rate, kind=cfg.features, n_mels=cfg.n_mels,
                         n_mfcc=cfg.n_mfcc, deltas=cfg.deltas, normalize=cfg.normalize)


def check_speech_config(cfg: SpeechConfig) -> None:
    """One sentence for the first setting a speech classifier cannot train with."""
    check_classifier(cfg)
    check_features(feature_config(cfg))
    n = cfg.noise_copies
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"noise_copies must be a whole number of 0 or more; got {n!r}.")
    snr = cfg.noise_snr
    if isinstance(snr, bool) or not isinstance(snr, (int, float)) or not np.isfinite(snr):
        raise ValueError(f"noise_snr must be a finite number of dB; got {snr!r}.")
    check_flag(cfg.spec_augment, "spec_augment")  # "False" is truthy: it masked the features


def label_word(label) -> str:
    """A digit's word ("7" -> "seven"); any other label as it is."""
    s = str(label)
    return DIGITS[int(s)] if s.isdigit() and int(s) < 10 else s


class _Frames(list):
    """Recordings already turned into feature frames (``evaluate`` prepares, then predicts),
    with the feature settings they were computed under; a slice is frames too."""

    cfg: FeatureConfig | None = None

    def __getitem__(self, i):
        got = super().__getitem__(i)
        if isinstance(i, slice):
            got = _Frames(got)
            got.cfg = self.cfg
        return got


class SpeechClassifier(SequenceClassifier):
    """Classify recordings: each input is a wav file path or a mono waveform (N,) at
    ``config.sample_rate``; see the module docstring."""

    config_class = SpeechConfig

    # -- audio --------------------------------------------------------------------------------
    def waveforms(self, inputs) -> list[np.ndarray]:
        """Each input as mono float32 (N,) at ``config.sample_rate``: paths are read (and
        resampled), float arrays are taken as they are (integer PCM arrays are refused: their
        scale is not that of [-1, 1]; float arrays far past it, e.g. int16 values cast to
        float, are taken with one warning, as ``read_wav`` takes such a file)."""
        if isinstance(inputs, (str, os.PathLike)):
            raise ValueError(f"inputs is a single path ({os.fspath(inputs)!r}); give a list "
                             f"of recordings (paths or waveforms).")
        if getattr(inputs, "ndim", None) == 1 and np.dtype(inputs.dtype).kind in "biufc":
            # its samples would be taken as recordings of one sample each ("shape ()")
            raise ValueError(f"inputs is a single waveform of {len(inputs)} samples; give a "
                             f"list of recordings, [waveform].")
        paths = getattr(inputs, "paths", None)  # grukit.data.audio_folder.Recordings
        inputs = list(paths if paths is not None else inputs)
        if not inputs:
            raise ValueError("there are no recordings; give at least one.")
        out, loud = [], {}  # loud: {recording: peak} of float arrays far past full scale
        for i, x in enumerate(inputs):
            if isinstance(x, (str, os.PathLike)):
                out.append(read_wav(x, self.config.sample_rate)[0])
                continue
            if isinstance(x, tuple) and len(x) == 2 and np.ndim(x[1]) == 0:  # numpy: ragged
                raise ValueError(f"recording {i} is a (samples, rate) pair, as soundfile.read "
                                 f"and librosa.load return; give the samples alone at "
                                 f"{self.config.sample_rate} Hz (grukit.data.audio.resample), "
                                 f"or the file's path.")
            a = np.asarray(x)
            if hasattr(x, "dtype") and a.dtype.kind in "biu":  # PCM, e.g. scipy's int16
                raise ValueError(f"recording {i} holds {a.dtype} samples; a waveform is "
                                 f"float samples in [-1, 1] (divide 16-bit PCM by 32768), or "
                                 f"give the file path.")
            if a.dtype.kind == "c":  # float32 would drop the imaginary parts with a warning
                raise ValueError(f"recording {i} holds complex samples ({a.dtype}); a "
                                 f"waveform is real: give its real part (a.real) if that is "
                                 f"the signal.")
            if a.dtype.kind not in "f":
                try:
                    a = a.astype(np.float64)
                except (TypeError, ValueError):
                    raise ValueError(f"recording {i} holds {a.dtype} values, not samples; "
                                     f"give a float array or the file path.") from None
            a = a.astype(np.float32)
            if a.ndim == 2 and a.shape[1] == feature_config(self.config).dim:
                raise ValueError(f"recording {i} has shape {a.shape}, feature frames rather "
                                 f"than a waveform; give what frames() returned, whole or "
                                 f"sliced (frames[a:b]), not a new list of its arrays.")
            if a.ndim != 1 or len(a) == 0:
                raise ValueError(f"recording {i} has shape {a.shape}; a waveform must be "
                                 f"mono samples (N,), N > 0 (or give a file path).")
            if not np.isfinite(a).all():
                raise ValueError(f"recording {i} contains NaN/Inf samples.")
            if np.abs(a).max() > 2.0:  # log-mel features 20·log10(peak) dB off the training's
                loud[i] = float(np.abs(a).max())
            out.append(a)
        if loud:
            i, peak = max(loud.items(), key=lambda kv: kv[1])
            warnings.warn(f"{len(loud)} waveform(s) hold float samples far beyond full scale "
                          f"(1.0), recording {i} up to {peak:.4g}, so their features are not "
                          f"those of the audio they record; if they are PCM values cast to "
                          f"float (e.g. scipy's int16), divide by 32768.", AudioWarning,
                          stacklevel=2)
        return out

    def features(self, inputs) -> list[np.ndarray]:
        """The feature frames (T_i, D) of each recording, before the global scaling."""
        cfg = self.config = plain_config(self.config)  # np.float32(0.1) -> 0.1, as fit takes
        check_speech_config(cfg)
        analysis = _Analysis(feature_config(cfg))
        return [features(y, analysis.cfg, analysis) for y in self.waveforms(inputs)]

    def frames(self, inputs) -> list[np.ndarray]:
        """The recordings as feature frames that ``fit``, ``predict`` and ``evaluate`` take
        as they are: compute them once, then train and score several models (or seeds) that
        share these feature settings without reading the files again."""
        return self._prepare(inputs)

    def _prepare(self, inputs):  # raw recordings -> feature frames, checked (once)
        want = feature_config(self.config)
        if isinstance(inputs, _Frames):
            if inputs.cfg is not None and inputs.cfg != want:
                raise ValueError(f"these frames were computed with other feature settings "
                                 f"({inputs.cfg}) than this model's ({want}); compute them "
                                 f"with this model's frames().")
            return inputs
        out = _Frames(super()._prepare(self.features(inputs)))
        out.cfg = want
        return out

    def _take(self, inputs, idx):  # a fold or split of frames is frames (cross_validate)
        got = super()._take(inputs, idx)
        if isinstance(inputs, _Frames):
            got = _Frames(got)
            got.cfg = inputs.cfg
        return got

    # -- training -----------------------------------------------------------------------------
    def fit(self, inputs, labels, *, validation_data=None, validation_split=None,
            epochs=None, callbacks=None, verbose=0):
        """Train on recordings and their labels; returns ``self`` (``history_`` holds the
        per-epoch losses). With ``noise_copies``, each training recording (not those held
        out for validation) is also seen with white noise at noise_snr ± 5 dB. Numpy numbers
        as settings (np.int64 seed, np.float32 learning rate) are taken as Python ones."""
        cfg = self.config = plain_config(self.config)
        check_speech_config(cfg)
        if not cfg.noise_copies:
            return super().fit(inputs, labels, validation_data=validation_data,
                               validation_split=validation_split, epochs=epochs,
                               callbacks=callbacks, verbose=verbose)
        if isinstance(inputs, _Frames):
            raise ValueError("noise_copies adds noise to the waveforms, so fit needs the "
                             "recordings (paths or waveforms), not frames().")
        waves, labels = self.waveforms(inputs), as_labels(labels)
        if len(waves) != len(labels):
            raise ValueError(f"there are {len(waves)} inputs but {len(labels)} labels; they "
                             f"must match.")
        split = cfg.validation_split if validation_split is None else _plain(validation_split)
        if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 <= split < 1:
            raise ValueError(f"validation_split must be in [0, 1); got {split!r}.")
        if validation_data is None and split:
            _, y = np.unique(labels.astype(str), return_inverse=True)
            tr, va = stratified_split(y, split, cfg.seed)  # random where it cannot stratify
            only = sorted(set(labels[va].tolist()) - set(labels[tr].tolist()))
            if only:  # fit would blame a validation_data the caller never gave
                raise ValueError(f"validation_split={split} of {len(labels)} recordings puts "
                                 f"every recording of label(s) {only[:5]} in the validation "
                                 f"part, leaving none to train on; give those labels more "
                                 f"recordings, or pass validation_split=0 or validation_data.")
            validation_data = ([waves[i] for i in va], labels[va])
            waves, labels = [waves[i] for i in tr], labels[tr]
        rng = np.random.default_rng(cfg.seed)
        noisy = [add_noise(w, float(rng.uniform(cfg.noise_snr - 5, cfg.noise_snr + 5)), rng)
                 for _ in range(cfg.noise_copies) for w in waves]
        return super().fit(waves + noisy, np.concatenate([labels] * (1 + cfg.noise_copies)),
                           validation_data=validation_data, validation_split=0.0,
                           epochs=epochs, callbacks=callbacks, verbose=verbose)

    def _export_files(self, path: str) -> None:
        """``<stem>.audio.json`` beside an exported graph: the feature front end as data
        (``audio_features.front_end``), which ``grukit.export.runtime`` computes with numpy."""
        from ...data.audio_features import front_end
        from ..export import beside, write_json

        write_json(beside(path, "audio"), front_end(feature_config(self.config)))

    def _head(self, steps: int) -> list:
        head = [SequenceInput(input_shape=(steps, self.channels_ + 1)), CropPadding()]
        if self.config.spec_augment:
            head.append(SpecAugment())
        return head

    def _restore(self, tensors: dict, extras: dict) -> None:
        check_speech_config(self.config)
        super()._restore(tensors, extras)
