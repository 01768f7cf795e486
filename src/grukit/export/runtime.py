"""Predict from an exported task model with onnxruntime and numpy only.

This module imports nothing from grukit, torch or pandas: copy it next to a model written by
``grukit export MODEL_DIR --format onnx`` (or ``grukit.tasks.export.export``) and serve it
where neither is installed::

    from runtime import Predictor            # or grukit.export.runtime
    p = Predictor("model.onnx")              # reads model.manifest.json beside it
    p.predict([112.0, 118.0, ...])           # Forecaster: the next horizon values
    p.quantiles([112.0, 118.0, ...])         # ... fitted with quantiles: (Q, horizon)
    p.predict(["great phone", "broke"])      # TextClassifier: labels (needs `tokenizers`)
    p.predict_proba([[5, 17, 2], [9]])       # ... or token ids in, probabilities out
    p.predict([np.ndarray (T, C), ...])      # SequenceClassifier: labels
    p.predict(["7_theo_0.wav", waveform])    # SpeechClassifier: mono wav paths or waveforms
    p.recommend([214, 8837], k=20)           # GRU4Rec: the k likeliest next item ids

Texts are tokenised with the Hugging Face ``tokenizers`` package (the tokenizer the model
was trained with, saved as ``<stem>.tokenizer.json``); without it, pass token ids (lists of
ints, 0 = padding, 1 = unknown). The raw-input recipes repeat the estimators' own
(``Forecaster.inputs``, ``SequenceClassifier`` scaling, the speech features from the front end
exported beside the graph, ``GRU4Rec.recommend``), which the tests check against the
estimators.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Mapping, Set
from pathlib import PurePath

import numpy as np

MANIFEST_FORMAT = "grukit.onnx-manifest"
MANIFEST_VERSION = 2  # the newest manifest format this runtime reads (2: forecast.strategy)
TASKS = ("Forecaster", "TextClassifier", "SequenceClassifier", "SpeechClassifier", "GRU4Rec")
BATCH = 64


def _load_errors(ort) -> tuple[type, ...]:
    """onnxruntime's exceptions for a file that holds no loadable graph (its own classes,
    none of Python's)."""
    state = getattr(getattr(ort, "capi", None), "onnxruntime_pybind11_state", None)
    found = (getattr(state, n, None) for n in ("InvalidProtobuf", "InvalidGraph", "Fail",
                                                "NoModel", "InvalidArgument"))
    return tuple(e for e in found if isinstance(e, type) and issubclass(e, Exception))


def _manifest_path(path: str) -> str:
    """``<stem>.manifest.json`` beside ``path``, named as the export names it: the file's
    name up to its last suffix (model.onnx, model.ONNX and model.bin: model.manifest.json),
    pathlib's stem, which the export takes ("dot." and "..onnx" included)."""
    if path.endswith(".manifest.json"):
        return path
    folder, name = os.path.split(path)
    return os.path.join(folder, PurePath(name).stem + ".manifest.json")


class Predictor:
    """An exported task model: ``path`` is its ``.onnx`` file (or its manifest)."""

    def __init__(self, path, providers=("CPUExecutionProvider",)):
        import onnxruntime as ort

        path = os.fspath(path)
        where = _manifest_path(path)
        if not os.path.isfile(where):
            raise FileNotFoundError(f"no manifest {where!r} beside {path!r}; export the model "
                                    f"with `grukit export MODEL_DIR --format onnx`.")
        try:
            with open(where, encoding="utf-8") as f:
                self.manifest = json.load(f)
        except ValueError as err:  # not JSON, or not UTF-8
            raise ValueError(f"{where!r} is damaged ({err}); export the model again.") from None
        if not isinstance(self.manifest, dict) or \
                self.manifest.get("format") != MANIFEST_FORMAT or \
                not isinstance(self.manifest.get("model"), str):
            raise ValueError(f"{where!r} is not a grukit export manifest (no format "
                             f"{MANIFEST_FORMAT!r}).")
        version = self.manifest.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int) or \
                not 1 <= version <= MANIFEST_VERSION:  # a newer one may mean other things
            raise ValueError(f"{where!r} is in manifest format {version!r} (grukit "
                             f"{self.manifest.get('grukit')}), which this runtime (format "
                             f"{MANIFEST_VERSION}) cannot read; serve it with the runtime.py "
                             f"of the grukit that exported it.")
        self.task = self.manifest.get("task")
        if self.task not in TASKS:
            raise ValueError(f"{where!r} names the task {self.task!r}; this runtime serves "
                             f"{', '.join(TASKS)}.")
        self.folder = os.path.dirname(os.path.abspath(where))
        model = os.path.join(self.folder, self.manifest["model"])
        if where != path and os.path.realpath(path) != os.path.realpath(model):
            raise ValueError(f"{where!r} describes the graph {self.manifest['model']!r}, not "
                             f"{os.path.basename(path)!r}, so a renamed copy would run beside "
                             f"another export's files; keep the names the export wrote, or "
                             f"export under this name (grukit export MODEL_DIR --output "
                             f"{path}).")
        if not os.path.isfile(model):  # the manifest copied without it
            raise FileNotFoundError(f"no graph {model!r} beside the manifest {where!r}; copy "
                                    f"the {self.manifest['model']!r} that the export wrote "
                                    f"with it.")
        try:
            self.session = ort.InferenceSession(model, providers=list(providers))
        except _load_errors(ort) as err:  # cut short in a copy, or not a graph
            raise ValueError(f"cannot load the graph {model!r} "
                             f"({' '.join(str(err).split())[:200]}); copy the "
                             f"{self.manifest['model']!r} that the export wrote again, or "
                             f"export the model again.") from None
        self.classes = None
        if "classes" in self.manifest:
            c = self.manifest["classes"]
            self.classes = np.array(c["values"], dtype=np.dtype(c["dtype"]))
        self._tokenizer = None
        self._front = None
        if self.task == "GRU4Rec":
            items = self.manifest["items"]
            self.item_ids = items["ids"]
            self._index = {v: i for i, v in enumerate(self.item_ids)}

    def _run(self, feeds: dict) -> list:
        return self.session.run(None, feeds)

    def _serves(self, tasks: tuple[str, ...], what: str) -> None:
        """One sentence when ``what`` belongs to another task than this model's."""
        if self.task not in tasks:
            raise ValueError(f"{what} serves a {' or '.join(tasks)}; this model is a "
                             f"{self.task} (predict gives its prediction).")

    # -- dispatch ------------------------------------------------------------------------
    def predict(self, raw=None, **options):
        """The task's prediction from raw input: forecast values (Forecaster), labels
        (classifiers), the next-item ids (GRU4Rec, ``k`` = 20 or every item when there are
        fewer). A forecaster without ``raw`` continues the series it was fitted on (a row
        each where it was fitted on several, as ``Forecaster.predict()``)."""
        if self.task == "Forecaster":
            return self.forecast(raw, **options)
        if self.task == "GRU4Rec":
            return self.recommend(raw, **options)
        if options:  # a classifier's predict has none to pass on
            raise TypeError(f"predict of a {self.task} takes no options; got "
                            f"{', '.join(map(repr, options))}.")
        return self.classes[self.predict_proba(raw).argmax(1)]

    # -- forecasting ---------------------------------------------------------------------
    def forecast(self, recent=None, covariates=None, index: int | None = None) -> np.ndarray:
        """The next ``horizon`` values after ``recent`` (one 1-D series ending with at least
        ``lookback`` finite values, one more where a sequence forecaster reads changes, every
        value for an ES-GRU hybrid, whose smoothing runs over them all, and as many rows of
        covariates where the model has them), series ``index``'s scaling (default 0); every
        strategy and ensemble, as ``forecast_with``. Without ``recent``: after the series
        the model was fitted on, as ``Forecaster.predict()``: (horizon,) for one series,
        (n_series, horizon) for several, or series ``index``'s alone (horizon,). Input is
        checked as ``Forecaster.predict`` checks it."""
        return self._serve(forecast_with, recent, covariates, index)

    def quantiles(self, recent=None, covariates=None, index: int | None = None) -> np.ndarray:
        """The quantile outputs of a forecaster fitted with ``quantiles``: (Q, horizon) in
        the manifest's ``quantiles`` order, sorted so that they never cross (or
        (n_series, Q, horizon)), as ``Forecaster.predict_quantiles``; ``recent``,
        ``covariates`` and ``index`` as in ``forecast``."""
        self._serves(("Forecaster",), "quantiles")
        if not self.manifest["forecast"].get("quantiles"):
            raise ValueError("this forecaster has no quantile outputs; fit it with "
                             "quantiles=[0.1, 0.5, 0.9] (for example), or use forecast.")
        return self._serve(quantiles_with, recent, covariates, index)

    def _serve(self, fn, recent, covariates, index):
        """``fn(run, spec, series scaling, recent, covariates)`` for the series asked."""
        self._serves(("Forecaster",), "forecast")
        spec = self.manifest["forecast"]
        count = len(spec["series"])
        if recent is None and covariates is None and index is None and \
                not spec.get("single", True):  # every fitted series, a row each
            return np.stack([self._serve(fn, None, None, i) for i in range(count)])
        index = 0 if index is None else index
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
                or not 0 <= index < count:
            raise ValueError(f"index must be a whole number between 0 and {count - 1}; got "
                             f"{index!r}.")
        st = spec["series"][index]
        if recent is None:
            if covariates is not None:
                raise ValueError("covariates go with recent values: predict(recent, "
                                 "covariates); predict() continues the fitted series.")
            recent, covariates = st["recent"], st["recent_covariates"]
        name = self.manifest["inputs"][0]["name"]
        return fn(lambda x: self._run({name: x})[0], spec, st, recent, covariates)

    # -- classification ------------------------------------------------------------------
    def tokenize(self, texts) -> list[np.ndarray]:
        """Token ids of each text (the saved tokenizer, cut to ``max_len``; never empty and never
        0: a text holding the string "[PAD]" gets the unknown token 1 there, as in training)."""
        self._serves(("TextClassifier",), "tokenize")
        if self._tokenizer is None:
            try:
                from tokenizers import Tokenizer
            except ImportError:
                raise ImportError("texts need the tokenizers package (pip install "
                                  "tokenizers); or pass token ids instead.") from None
            name = os.path.join(self.folder, self.manifest["tokenizer"])
            if not os.path.isfile(name):  # the model and manifest copied without it
                raise FileNotFoundError(f"no tokenizer {name!r} beside the model; copy the "
                                        f"{self.manifest['tokenizer']!r} that the export wrote "
                                        f"with it (or pass token ids).")
            try:
                self._tokenizer = Tokenizer.from_file(name)
            except Exception as err:  # tokenizers raises a bare Exception
                raise ValueError(f"cannot read the tokenizer {name!r} ({err}); copy it again "
                                 f"from the export.") from None
        cut = self.manifest["max_len"]
        texts = [str(t) for t in texts]
        for i, t in enumerate(texts):
            try:  # the tokenizer (Rust) takes valid Unicode only
                t.encode("utf-8")
            except UnicodeEncodeError as err:
                raise ValueError(f"text {i} holds {t[err.start]!r} at position {err.start}, a "
                                 f"lone surrogate that is not valid Unicode (bytes decoded with "
                                 f"errors='surrogateescape'?); decode the text with its "
                                 f"encoding, or drop that character.") from None
        out = []
        for enc in self._tokenizer.encode_batch(texts):
            ids = np.asarray(enc.ids[:cut], np.int64)
            ids[ids == 0] = 1  # (T_i,); the text "[PAD]" is the unknown token, as in training
            out.append(ids if len(ids) else np.array([1], np.int64))
        return out

    def _items(self, inputs) -> list[np.ndarray]:
        if getattr(inputs, "ndim", None) == 2 and hasattr(inputs, "columns") and \
                self.task != "SpeechClassifier":  # a DataFrame iterates over its column names
            if self.task == "SequenceClassifier":  # (N, T): N sequences of one channel
                inputs = inputs.to_numpy()
            elif inputs.shape[1] != 1:  # as the estimator reads them
                names = [str(c) for c in inputs.columns]
                raise ValueError(f"the texts are a DataFrame of {len(names)} columns "
                                 f"{names[:10]}; pass its column of texts (df[column]).")
            else:
                inputs = inputs.iloc[:, 0]  # (N,)
        if self.task == "TextClassifier":
            if isinstance(inputs, (str, bytes)):  # bytes: each byte an id
                raise TypeError("give a list of texts, not a single string.")
            inputs = list(inputs)  # an iterator is read once: the checks below read it too
            texts = [isinstance(t, str) for t in inputs]
            if all(texts):
                return self.tokenize(inputs)
            if any(texts):  # e.g. a text column with a missing value (None, NaN)
                i = texts.index(False)
                raise TypeError(f"give texts or token-id lists, not both: item {i} is "
                                f"{inputs[i]!r} among texts (a missing text: give \"\" or "
                                f"drop the row).")
            return [_token_ids(a, i, self.manifest.get("vocab_size"))[:self.manifest["max_len"]]
                    for i, a in enumerate(inputs)]
        channels = self.manifest["channels"]
        mean, std = np.asarray(self.manifest["mean"]), np.asarray(self.manifest["std"])
        if self.task == "SpeechClassifier":
            inputs = self._frames(inputs)
        out = []
        for i, s in enumerate(inputs):
            try:  # read as the estimator reads it (grukit.tasks.classify.as_sequences)
                if np.iscomplexobj(s):  # a cast would drop the imaginary parts, warning
                    raise TypeError("complex numbers")
                a = np.asarray(s, np.float64)
            except (TypeError, ValueError) as err:
                raise ValueError(f"sequence {i} cannot be read as real numbers "
                                 f"({' '.join(str(err).split())}); give each sequence as a "
                                 f"numeric array (steps, channels).") from None
            a = a[:, None] if a.ndim == 1 else a  # (T,) -> (T, 1)
            if a.ndim != 2 or a.shape[1] != channels:
                raise ValueError(f"sequence {i} has shape {a.shape}; each must be (steps, "
                                 f"{channels}) with one step or more.")
            if not len(a):
                raise ValueError(f"sequence {i} is empty; drop it or give it at least one "
                                 f"step.")
            if not np.isfinite(a).all():  # onnxruntime's GRU would give finite output
                raise ValueError(f"sequence {i} contains NaN/Inf; impute or drop those "
                                 f"values.")
            big = a.flat[np.abs(a).argmax()]
            if abs(big) > np.finfo(np.float32).max:  # inf in float32, not NaN/Inf given
                raise ValueError(f"sequence {i} holds {big:.3g}, beyond float32's range "
                                 f"(±3.4e38) the network computes in; rescale the values.")
            z = (a - mean) / std  # (T_i, C), float64 as the estimator standardises
            big = np.abs(z).max()
            if not big <= np.finfo(np.float32).max:  # inf in float32: meaningless output
                raise ValueError(f"sequence {i}, standardised with the training data's mean "
                                 f"and std, reaches {big:.3g}, beyond float32's range: its "
                                 f"values lie far outside those the model was trained on "
                                 f"(another unit or scale?); give them on the training "
                                 f"data's scale.")
            out.append(z.astype(np.float32))
        return out

    # -- speech --------------------------------------------------------------------------
    def _frames(self, inputs) -> list:
        """Each recording as feature frames: a wav path is read, a float waveform (N,) in
        [-1, 1] at the model's sample rate turned into frames (an integer PCM array is refused,
        as the SpeechClassifier refuses it, and a float one far past [-1, 1], e.g. int16 values
        cast to float, taken with one warning, as it takes it); a 2-D array is taken as frames
        already."""
        if isinstance(inputs, (str, os.PathLike)):
            raise TypeError("give a list of recordings, not a single path.")
        if getattr(inputs, "ndim", None) == 1:  # its samples would be read as recordings
            raise TypeError("give a list of recordings, not a single waveform ([waveform]).")
        inputs = getattr(inputs, "paths", inputs)  # grukit.data.audio_folder's Recordings
        out, loud = [], {}  # loud: {recording: peak} of float waveforms far past full scale
        for i, x in enumerate(inputs):
            if isinstance(x, (str, os.PathLike)):
                x = self.read_wav(x)
            if isinstance(x, tuple) and len(x) == 2 and np.ndim(x[1]) == 0:  # numpy: ragged
                raise ValueError(f"recording {i} is a (samples, rate) pair, as soundfile.read "
                                 f"and librosa.load return; give the samples alone at "
                                 f"{self.front_end()['sample_rate']} Hz, or the file's path.")
            try:
                a = np.asarray(x)
            except ValueError as err:  # a ragged list
                raise ValueError(f"recording {i} cannot be read as numbers "
                                 f"({' '.join(str(err).split())}); give mono samples (N,) or "
                                 f"feature frames (T, D).") from None
            if np.iscomplexobj(a):  # features of its real part alone, after a warning
                raise ValueError(f"recording {i} holds complex samples; a waveform is real "
                                 f"float samples in [-1, 1] (give its real part), or give "
                                 f"the file's path.")
            if a.ndim == 1:
                if hasattr(x, "dtype") and a.dtype.kind in "iu":  # PCM at its own scale
                    raise ValueError(f"recording {i} holds {a.dtype} samples; a waveform is "
                                     f"float samples in [-1, 1] (divide 16-bit PCM by 32768, "
                                     f"or read the file with soundfile, which gives floats), "
                                     f"or give the wav file's path.")
                if not len(a) or not np.issubdtype(a.dtype, np.number) \
                        or not np.isfinite(a).all():
                    raise ValueError(f"recording {i} is empty, not numbers, or holds NaN/Inf "
                                     f"samples; give mono samples at "
                                     f"{self.front_end()['sample_rate']} Hz.")
                if np.abs(a).max() > 2.0:  # features 20·log10(peak) dB off the training's
                    loud[i] = float(np.abs(a).max())
                a = self.audio_features(a)
            out.append(a)
        if loud:
            i, peak = max(loud.items(), key=lambda kv: kv[1])
            warnings.warn(f"{len(loud)} recording(s) hold float samples far beyond full scale "
                          f"(1.0), recording {i} up to {peak:.4g}, so their features are not "
                          f"those of the audio they record; if they are PCM values cast to "
                          f"float (e.g. scipy's int16), divide by 32768.", UserWarning,
                          stacklevel=4)
        return out

    def front_end(self) -> dict:
        """The speech features' settings and matrices (``<stem>.audio.json``), as arrays."""
        self._serves(("SpeechClassifier",), "the audio front end")
        if self._front is None:
            where = os.path.join(self.folder, self.manifest["audio"])
            if not os.path.isfile(where):  # the model and manifest copied without it
                raise FileNotFoundError(f"no speech front end {where!r} beside the model; copy "
                                        f"the {self.manifest['audio']!r} that the export wrote "
                                        f"with it (or give feature frames).")
            try:  # cut short in a copy: one sentence, as for the tokenizer
                with open(where, encoding="utf-8") as f:
                    fe = json.load(f)
                missing = sorted({"sample_rate", "n_fft", "hop", "amin", "deltas", "normalize",
                                  "window", "mel", "delta", "dct"} - set(fe))
                if missing:
                    raise KeyError(missing[0])
                for k in ("window", "mel", "delta"):
                    fe[k] = np.asarray(fe[k], np.float64)
                fe["dct"] = None if fe["dct"] is None else np.asarray(fe["dct"], np.float64)
            except (ValueError, KeyError, TypeError) as err:
                why = f"{type(err).__name__}: {err}"
                raise ValueError(f"cannot read the speech front end {where!r} ({why}); copy it "
                                 f"again from the export.") from None
            self._front = fe
        return self._front

    def audio_features(self, y) -> np.ndarray:
        """A waveform (N,) -> feature frames (T, D) float32, as the SpeechClassifier computes
        them: power spectra of Hann-windowed frames, log-mel, MFCC, deltas over t-2..t+2."""
        fe = self.front_end()
        n_fft, hop = fe["n_fft"], fe["hop"]
        y = np.asarray(y, np.float64)
        if len(y) < n_fft:
            y = np.pad(y, (0, n_fft - len(y)))
        steps = 1 + (len(y) - n_fft) // hop
        frames = y[hop * np.arange(steps)[:, None] + np.arange(n_fft)]  # (T, n_fft)
        spec = np.fft.rfft(frames * fe["window"], axis=1)  # (T, n_fft/2 + 1)
        power = spec.real ** 2 + spec.imag ** 2
        static = 10.0 * np.log10(np.maximum(power @ fe["mel"].T, fe["amin"]))  # (T, M)
        if fe["dct"] is not None:
            static = static @ fe["dct"].T  # (T, n_mfcc)
        parts, edge = [static], np.pad(static, ((2, 2), (0, 0)), mode="edge")
        for order in range(1, fe["deltas"] + 1):
            c = fe["delta"][order - 1]  # (5,)
            parts.append(sum(c[k] * edge[k:k + steps] for k in range(5)))
        out = np.concatenate(parts, axis=1)  # (T, D)
        if fe["normalize"] == "utterance":
            out = (out - out.mean(0)) / np.maximum(out.std(0), 1e-5)
        return out.astype(np.float32)

    def read_wav(self, path) -> np.ndarray:
        """A mono wav file at the model's sample rate as floats: PCM (unsigned 8-bit, 16-, 24-
        or 32-bit) in [-1, 1), IEEE float (32 or 64-bit) as stored, whether its ``fmt`` chunk
        says PCM/float or WAVE_FORMAT_EXTENSIBLE with the PCM/float sub-format (as sox writes
        24-bit files); the samples soundfile reads. No resampling, and a file of several
        channels is refused (mix it down first: which channels to keep is the user's call)."""
        rate = self.front_end()["sample_rate"]
        name = os.fspath(path)
        try:
            kind, channels, sr, bits, raw = _read_riff(name)
        except (OSError, ValueError) as err:
            why = str(err) or type(err).__name__
            raise ValueError(f"cannot read {name!r} as a PCM wav file ({why}); give its "
                             f"waveform instead.") from None
        if channels != 1 or sr != rate or (kind, bits) not in _WAV_SAMPLES:
            what = " float" if kind == _WAVE_FLOAT else ""
            raise ValueError(f"{name!r} has {channels} channel(s) of {bits}-bit{what} samples "
                             f"at {sr} Hz; this runtime reads mono 8-, 16-, 24- or 32-bit PCM "
                             f"or 32/64-bit float at {rate} Hz (convert it, or give the "
                             f"waveform).")
        width = bits // 8
        raw = raw[:len(raw) - len(raw) % width]  # a truncated last sample is dropped
        if kind == _WAVE_FLOAT:
            return np.frombuffer(raw, _WAV_SAMPLES[kind, bits]).astype(np.float64)
        if width == 1:  # unsigned, 128 = silence
            return (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
        if width == 3:  # little-endian 3-byte samples: the top two bytes are signed
            b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)  # (N, 3)
            value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2].astype(np.int8).astype(np.int32) << 16)
            return value.astype(np.float64) / float(2 ** 23)
        return np.frombuffer(raw, _WAV_SAMPLES[kind, bits]).astype(np.float64) / \
            float(2 ** (bits - 1))

    def _pad(self, items: list[np.ndarray]) -> np.ndarray:
        steps = max(len(a) for a in items)
        if self.task == "TextClassifier":
            x = np.zeros((len(items), steps), np.int64)  # (B, T), 0 = padding
            for i, a in enumerate(items):
                x[i, :len(a)] = a
            return x
        x = np.zeros((len(items), steps, self.manifest["channels"] + 1), np.float32)
        for i, a in enumerate(items):
            x[i, :len(a), :-1] = a
            x[i, :len(a), -1] = 1.0  # validity flag
        return x

    def predict_proba(self, inputs) -> np.ndarray:
        """Class probabilities (N, K), columns in the order of ``classes``."""
        if self.classes is None:
            raise ValueError(f"predict_proba serves the classifiers; this is a {self.task}.")
        if not hasattr(inputs, "__iter__") and not hasattr(inputs, "paths"):  # None, a number
            # (a Recordings folder of grukit.data.audio_folder has paths, see _frames)
            what = {"TextClassifier": "texts or token-id lists",
                    "SpeechClassifier": "recordings (wav paths or waveforms)"}.get(
                        self.task, "sequences, each (steps, channels)")
            raise TypeError(f"give a list of {what}; got {type(inputs).__name__}.")
        items = self._items(inputs)
        out = np.zeros((len(items), len(self.classes)), np.float32)
        order = np.argsort([len(a) for a in items], kind="stable")  # similar lengths together
        for lo in range(0, len(order), BATCH):
            idx = order[lo:lo + BATCH]
            out[idx] = self._run({"input": self._pad([items[j] for j in idx])})[0]
        return out

    # -- recommendation ------------------------------------------------------------------
    def item_index(self, item) -> int:
        """The graph's index of an original item id, found as ``GRU4Rec`` finds it: 7,
        7.0 and "7" alike; a text item "123" from the number 123. Whole numbers are read
        exactly (an int or a digit string is never rounded through float64, whose spacing
        past 2**53 would take 64-bit ids for their neighbours)."""
        self._serves(("GRU4Rec",), "item_index")
        whole = _whole_number(item)
        if self.manifest["items"]["type"] == "int":
            key = whole
        else:
            key = item if isinstance(item, str) else None if whole is None else str(whole)
        if key not in self._index:
            raise ValueError(f"item {item!r} is not one this model knows.")
        return self._index[key]

    def initial_state(self, batch: int = 1) -> np.ndarray:
        """The zero state before a session's first event, (layers, batch, hidden)."""
        self._serves(("GRU4Rec",), "initial_state")
        return np.zeros((self.manifest["layers"], batch, self.manifest["hidden"]),
                        np.float32)

    def step(self, items, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One event of each of B sessions: item indices (B,) and their states -> scores
        (B, n_items) over every item, new states; B = 0 gives (0, n_items) and the state."""
        self._serves(("GRU4Rec",), "step")
        idx = np.asarray(items).reshape(-1)
        idx = idx if idx.size else idx.astype(np.int64)  # [] is float64 to numpy
        n = len(self.item_ids)
        if idx.dtype.kind not in "iu" or len(idx) and not (0 <= idx.min() and idx.max() < n):
            # a float was truncated, and the graph's Gather reads -1 as the last item
            raise ValueError(f"items must be whole-number item indices from 0 to {n - 1} "
                             f"(item_index gives an id's); got {idx.tolist()[:5]!r}.")
        state = np.asarray(state, np.float32)
        want = (self.manifest["layers"], len(idx), self.manifest["hidden"])
        if state.shape != want:
            raise ValueError(f"state must have shape {want} (layers, batch, hidden): "
                             f"initial_state({len(idx)}) for new sessions, or the state "
                             f"step returned; got {state.shape}.")
        if not np.isfinite(state).all():  # every item would score NaN
            raise ValueError("state holds NaN or Inf; start sessions from initial_state(B) "
                             "and pass on the state step returned.")
        if not len(idx):  # onnxruntime's GRU aborts the process on a batch of 0
            return np.zeros((0, n), np.float32), state
        scores, h = self._run({"item": idx.astype(np.int64), "h0": state})
        return scores, h

    def scores(self, session_items) -> np.ndarray:
        """Scores (n_items,) of every item as the next one after ``session_items``."""
        self._serves(("GRU4Rec",), "scores")
        if isinstance(session_items, (str, bytes)) or not hasattr(session_items, "__iter__"):
            # a text id "123" would be read as the session 1, 2, 3
            raise TypeError(f"session_items must be a list of item ids, oldest first; got "
                            f"{type(session_items).__name__} {session_items!r} (wrap a single "
                            f"item in a list).")
        if isinstance(session_items, (Set, Mapping)):  # a set has no order of events
            raise TypeError(f"session_items must be a list of item ids, oldest first; got a "
                            f"{type(session_items).__name__}, which keeps no order of events "
                            f"(give a list).")
        seq = [self.item_index(v) for v in session_items]
        if not seq:
            raise ValueError("session_items is empty; a recommendation needs one item or "
                             "more.")
        h, scores = self.initial_state(1), None
        for i in seq:
            scores, h = self.step([i], h)
        return scores[0]

    def recommend(self, session_items, k: int | None = None,
                  return_scores: bool = False) -> list:
        """The ``k`` likeliest next item ids after ``session_items``, best first; ``k``
        defaults to 20, or every item when there are fewer (as ``GRU4Rec.recommend``)."""
        self._serves(("GRU4Rec",), "recommend")
        if not (isinstance(return_scores, (int, np.integer, np.bool_)) and
                return_scores in (0, 1)):  # "False" is truthy: it gave the pairs
            raise ValueError(f"return_scores must be True or False; got {return_scores!r}.")
        scores = self.scores(session_items)
        k = min(20, len(scores)) if k is None else k
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) \
                or not 1 <= k <= len(scores):  # np.integer: np.int64(5) and the like
            raise ValueError(f"k must be a whole number between 1 and {len(scores)}; got "
                             f"{k!r}.")
        k = int(k)
        top = np.argsort(-scores, kind="stable")[:k]
        ids = [self.item_ids[i] for i in top]
        return list(zip(ids, scores[top].tolist(), strict=True)) if return_scores else ids


# wav format tags; WAVE_FORMAT_EXTENSIBLE names the real one in the first 4 bytes of its
# sub-format GUID, the rest of which is the same for PCM and float (Microsoft's ksmedia.h)
_WAVE_PCM, _WAVE_FLOAT, _WAVE_EXTENSIBLE = 1, 3, 0xFFFE
_GUID_TAIL = bytes.fromhex("000010008000" "00aa00389b71")
_WAV_SAMPLES = {(_WAVE_PCM, 8): "u1", (_WAVE_PCM, 16): "<i2", (_WAVE_PCM, 24): None,
                (_WAVE_PCM, 32): "<i4", (_WAVE_FLOAT, 32): "<f4", (_WAVE_FLOAT, 64): "<f8"}


def _read_riff(path: str) -> tuple[int, int, int, int, bytes]:
    """The format tag (1 PCM, 3 float; an EXTENSIBLE file's sub-format), channels, sample
    rate, bits per sample and the sample bytes of a RIFF/WAVE file (or RF64, whose ``ds64``
    chunk holds the data size that its 32-bit field cannot), read chunk by chunk:
    unknown chunks are skipped, an odd-sized chunk is followed by its pad byte, and a data
    chunk cut short (a truncated file) is read up to the end of the file, as soundfile reads
    it. Python's ``wave`` refuses EXTENSIBLE and float files, and soundfile is not a
    dependency of this runtime, hence this reader."""
    import struct

    fmt = raw = big = None  # big: the RF64 data size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            raise ValueError("the file is empty" if not head else "it does not start with a "
                             "RIFF/WAVE header")
        while fmt is None or raw is None:
            chunk = f.read(8)
            if len(chunk) < 8:
                break
            tag, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if tag == b"fmt ":
                fmt = f.read(size)
                if len(fmt) < 16:
                    raise ValueError("its fmt chunk ends early")
            elif tag == b"ds64":  # riff size, data size, sample count: 64-bit each
                body = f.read(size)
                big = struct.unpack("<Q", body[8:16])[0] if len(body) >= 16 else None
            elif tag == b"data":
                raw = f.read(big if size == 0xFFFFFFFF and big is not None else size)
            else:
                f.seek(size, os.SEEK_CUR)
            if size & 1:
                f.seek(1, os.SEEK_CUR)
    if fmt is None or raw is None:
        raise ValueError(f"it has no {'fmt' if fmt is None else 'data'} chunk")
    kind, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if kind == _WAVE_EXTENSIBLE:
        guid = fmt[24:40]
        if len(guid) < 16 or guid[4:] != _GUID_TAIL:
            raise ValueError("its extensible format names a sub-format that is not PCM or "
                             "float")
        kind = struct.unpack("<I", guid[:4])[0]
    if kind not in (_WAVE_PCM, _WAVE_FLOAT):
        raise ValueError(f"its samples are of format {kind}, not PCM (1) or float (3), e.g. "
                         f"A-law or ADPCM")
    return kind, channels, rate, bits, raw


_WHOLE = re.compile(r"^\s*[+-]?\d+(\.0*)?\s*$")  # grukit.data.sessions' whole-number text


def _whole_number(v) -> int | None:
    """``v`` as an int when it is a whole number (not a bool), else None: ints exactly, floats
    that are whole, and text such as "7", " 7 " or "7.0" (``grukit.data.sessions.whole_number``)."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return int(v) if np.isfinite(v) and float(v).is_integer() else None
    if isinstance(v, str) and _WHOLE.match(v):
        return int(v.strip().split(".")[0])
    return None


def _floats(values, what: str) -> np.ndarray:
    """``values`` as float64, refused as the estimator refuses them
    (``grukit.tasks.forecast.checks``): dates and durations (float64 would read them as
    counts of their unit), complex numbers (it would drop their imaginary parts), text."""
    dtype = getattr(values, "dtype", None)
    if getattr(dtype, "kind", None) in ("M", "m"):
        raise ValueError(f"{what} {'hold' if what == 'covariates' else 'holds'} "
                         f"{'dates' if dtype.kind == 'M' else 'durations'} ({dtype}), not "
                         f"numbers; give the column of values (durations as numbers of a unit "
                         f"you name, e.g. s.dt.total_seconds()).")
    complex_warning = getattr(np, "exceptions", np).ComplexWarning  # numpy < 1.25: np.
    with warnings.catch_warnings():
        warnings.simplefilter("error", complex_warning)
        try:
            return np.asarray(values, dtype=np.float64)
        except complex_warning:
            raise ValueError(f"{what} must hold real numbers, not complex ones; give their "
                             f"real part or magnitude, as the series means.") from None
        except (TypeError, ValueError, OverflowError) as err:  # 10**400: beyond float64
            raise ValueError(f"{what} must hold numbers ({' '.join(str(err).split())}).") \
                from None


def forecast_with(run, spec: dict, st: dict, recent, covariates) -> np.ndarray:
    """The ``horizon`` values after ``recent`` of a manifest's forecaster (``spec``: its
    ``forecast`` block; ``st``: one series' scaling), ``run`` mapping the graph's input
    (1, T, F) float32 to its output (1, K), as ``Forecaster.predict`` computes them
    (``grukit.tasks.forecast.served``): direct, the scaled forecast unscaled (from the
    exponential smoothing's forecast for an ES-GRU hybrid); recursive and sequence, one
    step at a time, each forecast fed back. Manifests of format 1 have no ``strategy``:
    direct."""
    h, strategy = spec["horizon"], spec.get("strategy", "direct")
    w, c = _history(spec, st, recent, covariates)
    if strategy == "direct":
        x, base = _direct_window(w, st, c, spec)
        return _graph_output(run, x)[:h] * st["scale"] + base
    d = spec.get("differences", 0)
    out = np.empty(h)
    for k in range(h):
        if strategy == "recursive":  # the window slides: the forecast in, the oldest out
            x, _ = _direct_window(w, st, None, spec)
            out[k] = w[-1] + st["scale"] * _graph_output(run, x)[0]
            w = np.append(w[1:], out[k])
        else:  # sequence: the standardised values (or changes) so far, forecasts included
            v = np.diff(w) if d else w  # (L + k,)
            o = _graph_output(run, ((v - st["mean"]) / st["std"])[None, :, None])[0]
            out[k] = st["mean"] + st["std"] * o + (w[-1] if d else 0.0)
            w = np.append(w, out[k])
    return out


def quantiles_with(run, spec: dict, st: dict, recent, covariates) -> np.ndarray:
    """The quantile outputs (Q, horizon) of a direct forecaster with ``quantiles``, in their
    order and sorted so that they never cross (``Forecaster.predict_quantiles``); arguments
    as ``forecast_with``."""
    h, qs = spec["horizon"], spec["quantiles"]
    w, c = _history(spec, st, recent, covariates)
    x, base = _direct_window(w, st, c, spec)
    q = _graph_output(run, x)[h:].reshape(-1, h) * st["scale"] + base  # (Q, h)
    return np.sort(q, axis=0)[np.argsort(np.argsort(qs))]


def _history(spec: dict, st: dict, recent, covariates):
    """(values, covariates) a forecast reads, checked as the estimator checks them: the last
    ``history`` values (lookback, + 1 with differences), or every value for a hybrid (its
    smoothing runs over them, at least ``history``), and as many rows of covariates."""
    w = _window(recent, spec.get("history", spec["lookback"] + spec.get("differences", 0)))
    _same_frequency(recent, st.get("freq"))
    if st.get("es") is not None:
        w = _window(recent, len(_floats(recent, "recent")))  # all of it
    return w, _recent_covariates(covariates, spec["covariates"], len(w), recent)


def _direct_window(w: np.ndarray, st: dict, c, spec: dict) -> tuple[np.ndarray, object]:
    """(graph input (1, L, 2 + C), base forecast) of a direct or recursive forecaster for
    the values ``w`` and covariates ``c`` (rows aligned with ``w``), as
    ``grukit.tasks.forecast.scaling.views``: plain, channels (y_u − y_last) / scale and
    (y_u − mean) / std with the last value as the base; a hybrid, the deseasonalised window
    less the last level and the one-step smoothing errors, both over scale, with the
    smoothing's forecast as the base; then the standardised covariates."""
    lookback, h, es = spec["lookback"], spec["horizon"], st.get("es")
    span = np.arange(len(w) - lookback, len(w))  # (L,)
    if es is None:
        x = w[None, span]  # (1, L)
        chans, base = [(x - x[:, -1:]) / st["scale"], (x - st["mean"]) / st["std"]], w[-1]
    else:
        states = _smoothing(w, es)  # level (n,), trend (n,), season (n + m,)
        m, n = int(es[4]), len(w)
        d = w - states[2][:n] if m > 1 else w.copy()  # deseasonalised
        one = _smoothed(states, es, np.arange(n - 1), 1)[:, 0]  # (n − 1,)
        errors = np.r_[0.0, w[1:] - one] / st["scale"]
        chans = [(d[span] - states[0][n - 1])[None] / st["scale"], errors[span][None]]
        base = _smoothed(states, es, np.array([n - 1]), h)[0]  # (h,)
    if c is not None:
        c = (c[None, span] - np.asarray(st["cmean"])) / np.asarray(st["cstd"])  # (1, L, C)
        chans += list(np.moveaxis(c, 2, 0))
    return np.stack(chans, axis=2), base


def _smoothing(y: np.ndarray, es: list):
    """The damped Holt-Winters recursion of an ES-GRU hybrid over ``y`` from its fixed
    initial states (``grukit.tasks.forecast.es.initial`` and ``filter``; ``es``: α, β, γ,
    φ, m, trend): (level (n,), trend (n,), season (n + m,))."""
    a, b, g, phi, m, has_trend = float(es[0]), float(es[1]), float(es[2]), float(es[3]), \
        int(es[4]), bool(es[5])
    n = len(y)
    if m > 1:
        first, second = y[:m].mean(), y[m:2 * m].mean()
        lp, bp, s0 = float(first), float((second - first) / m) if has_trend else 0.0, \
            y[:m] - first
    else:
        k = min(n - 1, 4)
        lp, bp, s0 = float(y[0]), float((y[k] - y[0]) / k) if has_trend else 0.0, 0.0
    level, trend, season = np.empty(n), np.empty(n), np.empty(n + m)
    season[:m] = s0 if m > 1 else 0.0
    for t in range(n):
        s_old = season[t] if m > 1 else 0.0
        lt = a * (y[t] - s_old) + (1 - a) * (lp + phi * bp)
        bt = b * (lt - lp) + (1 - b) * phi * bp
        season[t + m] = g * (y[t] - lp - phi * bp) + (1 - g) * s_old if m > 1 else 0.0
        level[t], trend[t] = lt, bt
        lp, bp = lt, bt
    return level, trend, season


def _smoothed(states: tuple, es: list, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The smoothing's forecasts (N, horizon) from each origin (``es.forecast``)."""
    (level, trend, season), m, phi = states, int(es[4]), float(es[3])
    k = np.arange(1, horizon + 1)
    t = np.asarray(origins)[:, None]  # (N, 1)
    out = level[t] + np.cumsum(phi ** k)[None, :] * trend[t]  # (N, h)
    if m > 1:
        out = out + season[t + k[None, :] - (m * ((k - 1) // m + 1))[None, :] + m]
    return out


def _graph_output(run, inputs: np.ndarray) -> np.ndarray:
    """``run`` on float64 ``inputs`` cast to float32, first row of its output as float64;
    refused where a value passes float32's range (the graph would compute with inf)."""
    if not (np.abs(inputs) <= np.finfo(np.float32).max).all():
        raise ValueError("the scaled window holds values beyond float32's range (±3.4e38) "
                         "that the graph computes in, as the estimator refuses them; "
                         "rescale the series or its covariates.")
    return np.asarray(run(inputs.astype(np.float32)), np.float64)[0]


def _window(recent, lookback: int) -> np.ndarray:
    """The last ``lookback`` values of ``recent`` as float64, checked as the estimator
    checks them (``grukit.tasks.forecast.checks.window``)."""
    _in_time_order(recent, "recent")
    w = _floats(recent, "recent")
    if w.ndim != 1:
        raise ValueError(f"recent must be one 1-D series; got shape {w.shape} (for several "
                         f"series call predict once per series with its index).")
    if len(w) < lookback:
        raise ValueError(f"predict needs the last {lookback} values (the lookback); recent "
                         f"has {len(w)}.")
    w = w[-lookback:]
    if not np.isfinite(w).all():
        raise ValueError(f"recent has {int((~np.isfinite(w)).sum())} missing or infinite "
                         f"value(s) among its last {lookback}; fill them first.")
    return w


_TIME_INDEXES = ("DatetimeIndex", "PeriodIndex", "TimedeltaIndex")


def _time_index(values):
    """The pandas index of time stamps (dates, periods, time spans) of ``values``, or None
    (pandas is not imported: a pandas object brings its own)."""
    index = getattr(values, "index", None)
    kind = type(index)
    if kind.__name__ in _TIME_INDEXES and kind.__module__.startswith("pandas"):
        return index
    return None


def _in_time_order(values, what: str) -> None:
    """A pandas Series on time stamps must hold them in order, each once, as the estimator
    requires (``grukit.tasks.forecast.checks``): its values are read in the order they are
    stored, as the steps of one series."""
    index = _time_index(values)
    if index is None:
        return
    dup = np.asarray(index.duplicated())
    if dup.any():
        raise ValueError(f"{what} has {int(dup.sum())} duplicated time stamp(s), e.g. "
                         f"{index[dup][0]}; aggregate them first (e.g. "
                         f"series.groupby(level=0).mean()).")
    if not index.is_monotonic_increasing:
        i = int(np.flatnonzero(np.asarray(index[1:] < index[:-1]))[0])
        raise ValueError(f"{what} has its time stamps out of order ({index[i + 1]} after "
                         f"{index[i]}), and its values are read in the order they are "
                         f"stored; sort it first (series.sort_index()).")


def _same_frequency(recent, fitted: str | None) -> None:
    """A pandas ``recent`` on time stamps of a frequency must have the one its series was
    fitted on (the manifest's ``freq``), as the estimator requires: a network of monthly
    steps reads weekly values as months. (A pandas offset compares with the frequency's
    text, so pandas need not be imported.)"""
    index = _time_index(recent)
    if type(index).__name__ == "PeriodIndex":  # its periods' starts, as the estimator reads
        index = index.to_timestamp() if len(index) > 2 else None  # (their inferred freq)
    if fitted is None or index is None or type(index).__name__ != "DatetimeIndex":
        return
    freq = getattr(index, "freq", None)
    # the estimator compares the two frequencies' texts (a custom business day's holidays
    # are not in its "C"); an offset equals the text of an equal one ("W" and "W-SUN")
    if freq is not None and index.freqstr != fitted and not freq == fitted:
        raise ValueError(f"recent is on time stamps of frequency {index.freqstr} but the "
                         f"series was fitted on {fitted} ones; give values of that frequency "
                         f"(e.g. recent.resample({fitted!r}).mean()).")


def _same_end(recent, covariates, rows: int) -> None:
    """Pandas ``recent`` values and covariates on time stamps of one kind: the last ``rows``
    rows a forecast reads must be on the same stamps, as the estimator requires (they are
    paired by position from the end)."""
    a, b = _time_index(recent), _time_index(covariates)
    if a is None or type(a) is not type(b) or len(b) < rows:
        return
    a, b = a[-rows:], b[-rows:]
    if a.equals(b):
        return
    if b[-1] != a[-1]:
        raise ValueError(f"the covariates end at {b[-1]} but recent at {a[-1]}, and their last "
                         f"rows are paired with its last values; give them up to the forecast "
                         f"origin (covariates.loc[:recent.index[-1]]).")
    k = int(np.flatnonzero(np.asarray(a != b))[-1])
    raise ValueError(f"the covariates are on other time stamps than recent ({b[k]} beside "
                     f"{a[k]}), and rows are paired by position from the end; align them "
                     f"first (covariates.reindex(recent.index)).")


def _recent_covariates(covariates, n_cov: int, rows: int, recent=None):
    """The last ``rows`` rows of covariates, (rows, C) float64, or None for a model without
    them; checked as the estimator checks them (``checks.recent_covariates``; ``recent``:
    the values as given, whose time stamps pandas covariates must share)."""
    if n_cov and covariates is None:
        raise ValueError(f"this forecaster was fitted with {n_cov} covariate(s); give "
                         f"their last {rows} rows too.")
    if not n_cov:
        if covariates is not None:
            raise ValueError("this forecaster was fitted without covariates; drop them.")
        return None
    _same_end(recent, covariates, rows)
    cov = _floats(covariates, "covariates")
    cov = cov[:, None] if cov.ndim == 1 else cov
    if cov.ndim != 2 or cov.shape[1] != n_cov or len(cov) < rows:
        raise ValueError(f"covariates must have at least {rows} rows of {n_cov} "
                         f"value(s) (the lookback); got shape {cov.shape}.")
    cov = cov[-rows:]
    if not np.isfinite(cov).all():
        raise ValueError("the covariates hold missing or infinite values among their "
                         "last rows; fill them first.")
    return cov


def _token_ids(ids, i: int, vocab: int | None) -> np.ndarray:
    """Sequence ``i`` of token ids as int64 (T,), checked: whole numbers from 1 to
    ``vocab`` − 1, then only padding (0) if any; trailing padding is dropped."""
    try:
        a = np.asarray(ids)
    except (TypeError, ValueError):
        a = np.asarray(None)
    if a.ndim == 0 and a.dtype.kind in "iuf":  # [5, 17, 2] read as three texts
        raise ValueError(f"sequence {i} is the single number {a.item()!r}, not a list of token "
                         f"ids; give each text's ids as a list ([[5, 17, 2]] for one text).")
    a = a.reshape(-1) if a.ndim == 0 else a
    if a.ndim != 1 or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype,
                                                                                np.floating)):
        raise ValueError(f"sequence {i} must be a flat list of whole-number token ids; got "
                         f"{'shape ' + str(a.shape) if a.ndim != 1 else a.dtype} values.")
    if np.issubdtype(a.dtype, np.floating):
        whole = np.isfinite(a) & (a == np.round(a))
        if not whole.all():
            raise ValueError(f"sequence {i} holds {a[~whole][0]!r}, not a whole-number token "
                             f"id; pass ints.")
    a = a.astype(np.int64)
    if len(a) and a.min() < 0 or vocab is not None and len(a) and a.max() >= vocab:
        bad = a[(a < 0) | (a >= (vocab or np.iinfo(np.int64).max))][0]
        top = f"{vocab - 1}" if vocab is not None else "the vocabulary's size − 1"
        raise ValueError(f"sequence {i} holds the token id {bad}; ids run from 1 to {top} "
                         f"(0 is padding, 1 unknown).")
    end = len(a) - int(np.argmax(a[::-1] != 0)) if a.any() else 0  # trailing padding off
    if not end:
        raise ValueError(f"sequence {i} is empty (no token id but padding); give at least "
                         f"one id (1 is the unknown token).")
    if (a[:end] == 0).any():
        raise ValueError(f"sequence {i} has the padding id 0 at position "
                         f"{int(np.argmax(a[:end] == 0))}, before its last token; 0 only "
                         f"pads after the end (use 1 for an unknown token).")
    return a[:end]
