"""The contract every task model keeps (scikit-learn's spirit): the constructor stores its
configuration and does no work, ``fit`` returns ``self``, ``get_config()`` returns the
settings, ``save(path)`` writes a folder that ``cls.load(path)`` (or
``grukit.tasks.estimator.load``) rebuilds bit for bit.

A saved model is a folder of two files, never pickle:

    config.json          {"format", "format_version", "grukit", "class", "config", "extras",
                          "weights_sha256", "sha256"}
    weights.safetensors  every tensor and array (network weights, scalers, item maps)

``sha256`` covers the JSON body and ``weights_sha256`` the weights file, so a damaged or
edited file is refused instead of loaded. ``load`` refuses unknown classes and settings with
one sentence, and a file written by a newer format with the version that wrote it.

A subclass sets ``config_class`` (a dataclass; ``self.config`` holds one) and implements

    _state(self) -> (tensors: dict[str, Tensor | ndarray], extras: dict)   # JSON-able extras
    _restore(self, tensors: dict[str, Tensor], extras: dict) -> None      # after __init__
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import numbers
import os
import shutil
import tempfile

import numpy as np
import torch

FORMAT = "grukit.estimator"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"

# The classes a saved folder may name, and the module each lives in (nothing else is
# imported on load).
REGISTRY = {
    "TextClassifier": "grukit.tasks.classify.text",
    "SequenceClassifier": "grukit.tasks.classify.sequence",
    "Forecaster": "grukit.tasks.forecast.forecaster",
    "AnchoredForecaster": "grukit.tasks.forecast.anchored_model",
    "GRU4Rec": "grukit.tasks.recommend.gru4rec",
    "MusicModel": "grukit.tasks.music.estimator",
    "ClinicalClassifier": "grukit.tasks.clinical.estimator",
    "SpeechClassifier": "grukit.tasks.speech.estimator",
    "TextGenerator": "grukit.tasks.generate.generator",
    "Translator": "grukit.tasks.translate.translator",
}


class NotFittedError(RuntimeError):
    """A model used before ``fit`` (or ``load``)."""


def is_flag(value: object) -> bool:
    """Whether ``value`` is a bool setting: True, False, numpy's bool, or the integers 0 and
    1 (Python's or numpy's), as ``grukit.layers.core.check_switch`` takes them (which raises
    a TypeError; a task's settings are refused with a ValueError, as its other checks)."""
    return isinstance(value, bool | np.bool_) or (
        isinstance(value, numbers.Integral) and value in (0, 1))


def check_flag(value: object, name: str, prefix: str = "", note: str = "") -> bool:
    """``value`` as Python's bool where ``is_flag`` holds (so that ``save`` writes JSON and
    ``load`` gives it back), else one sentence: a string such as "False" is truthy, and
    None or 0.0 falsy, so either would silently mean a setting the caller did not give.
    ``prefix`` starts the sentence (``"MusicConfig: "``), ``note`` follows "True or False"."""
    if not is_flag(value):
        raise ValueError(f"{prefix}{name} must be True or False{note}; got {value!r}.")
    return bool(value)


def _canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _as_tensor(name: str, value) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"state entry {name!r} is a {type(value).__name__}; tensors and numpy "
                        f"arrays go in the weights, everything else in the extras.")
    return value.detach().cpu().contiguous()


class Estimator:
    """Base class of the task models: ``get_config``, ``save``, ``load``."""

    config_class: type = None

    def get_config(self) -> dict:
        """The constructor's settings as a JSON-able dict (``cls(**get_config())`` rebuilds an
        untrained twin)."""
        return dataclasses.asdict(self.config)

    @classmethod
    def _checked_settings(cls, settings: dict) -> dict:
        """``settings`` when each names a field of ``config_class``; else one sentence naming
        the first unknown one and listing the known ones."""
        known = [f.name for f in dataclasses.fields(cls.config_class)]
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise TypeError(f"{cls.__name__} has no setting {unknown[0]!r}; its settings are "
                            f"{', '.join(known)}.")
        return settings

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def _check_fitted(self, what: str = "this") -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"{type(self).__name__} is not trained; call fit (or "
                                 f"{type(self).__name__}.load) before {what}.")

    # -- subclass hooks ----------------------------------------------------------------------
    def _state(self) -> tuple[dict, dict]:
        raise NotImplementedError

    def _restore(self, tensors: dict[str, torch.Tensor], extras: dict) -> None:
        raise NotImplementedError

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str) -> str:
        """Write the trained model to the folder ``path`` (created; an earlier save there is
        replaced in one step, so a crash leaves the old model or the new one, never half)."""
        self._check_fitted("save")
        _refuse_int8(self)
        tensors, extras = self._state()
        tensors = {k: _as_tensor(k, v) for k, v in tensors.items()}
        save_folder(path, type(self).__name__, self.get_config(), extras, tensors)
        return path

    @classmethod
    def load(cls, path: str):
        """Rebuild a model saved with ``save(path)``; refuses a folder of another class."""
        est = load(path)
        if not isinstance(est, cls):
            raise ValueError(f"{path!r} holds a {type(est).__name__}, not a {cls.__name__}; "
                             f"load it with {type(est).__name__}.load or "
                             f"grukit.tasks.estimator.load.")
        return est


def _refuse_int8(est) -> None:
    """A task model whose networks hold int8 weights (``int8_estimator``'s copy) is not
    saved: its file would not load as the float model it claims to be."""
    from ..nn.quantized import int8_kind

    nets = [v for v in vars(est).values() if isinstance(v, torch.nn.Module)]
    nets += [n for v in vars(est).values() if isinstance(v, list) for n in v
             if isinstance(n, torch.nn.Module)]
    if any(int8_kind(n) for n in nets):
        raise ValueError(f"this {type(est).__name__} holds int8 networks (a copy made by "
                         f"int8_estimator), which are not saved; save the float model and "
                         f"make the int8 copy after loading it.")


def _check_target(path: str) -> None:
    if os.path.isfile(path):
        raise ValueError(f"cannot save to {path!r}: it is a file; a model is saved as a folder, "
                         f"so give a folder path.")
    if os.path.isdir(path) and os.listdir(path) and \
            not os.path.isfile(os.path.join(path, CONFIG_FILE)):
        raise ValueError(f"cannot save to {path!r}: the folder holds other files and no saved "
                         f"model; give a new or empty folder.")
    others = _not_the_models(path)
    if others:  # replacing the folder replaces the old model and would delete these too
        raise ValueError(f"cannot save to {path!r}: beside the saved model it holds "
                         f"{', '.join(others[:3])}{', ...' if len(others) > 3 else ''}, which "
                         f"saving would delete with the old model; move them out or give "
                         f"another folder.")


def _not_the_models(path: str) -> list[str]:
    """The entries of a saved model's folder that a save does not write (predictions put
    there, say), hidden ones aside; [] for a folder without a saved model."""
    if not os.path.isfile(os.path.join(path, CONFIG_FILE)):
        return []
    own = {CONFIG_FILE, WEIGHTS_FILE}
    return sorted(n for n in os.listdir(path) if n not in own and not n.startswith("."))


def prepare_save(path: str, what: str = "--save", output: str | None = None) -> str:
    """A CLI's save folder checked before training (a file, an unwritable place, a folder of
    other files, the ``--output`` folder or one holding it: one sentence, ``UsageError``)
    rather than after it. The model is written beside ``path`` and swapped in (``save_folder``),
    so the folder that holds ``path`` must take a new folder too."""
    from .._runs import UsageError, prepare_output

    if output is not None and path:
        here, there = os.path.realpath(path), os.path.realpath(output)
        if here == there or there.startswith(here + os.sep):
            raise UsageError(f"{what} {path!r} would hold the results of --output {output!r}, "
                             f"and saving replaces the whole folder; give the model a folder "
                             f"of its own (e.g. {os.path.join(output, 'model')!r}).")
    if os.path.isdir(path) and os.listdir(path) and \
            not os.path.isfile(os.path.join(path, CONFIG_FILE)):
        raise UsageError(f"{what} {path!r} holds other files and no saved model; give a new "
                         f"or empty folder.")
    others = _not_the_models(path) if os.path.isdir(path) else []
    if others:
        raise UsageError(f"{what} {path!r} holds a saved model and "
                         f"{', '.join(others[:3])}{', ...' if len(others) > 3 else ''}, which "
                         f"saving would delete with the old model; move them out or give "
                         f"another folder.")
    path = prepare_output(path, what)
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".grukit-write-test-"))
    except OSError as err:
        raise UsageError(f"{what} {path!r}: the model is written beside it in {parent!r} and "
                         f"moved in, and that folder cannot be written ("
                         f"{err.strerror or err}); give a folder in a place you can write "
                         f"to.") from None
    return path


def save_folder(path: str, name: str, config: dict, extras: dict,
                tensors: dict[str, torch.Tensor]) -> None:
    """Write ``config.json`` + ``weights.safetensors`` to a temporary folder beside ``path``,
    then swap it in."""
    from safetensors.torch import save_file

    from .. import __version__

    path = os.path.abspath(path)
    _check_target(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        weights = os.path.join(tmp, WEIGHTS_FILE)
        save_file(tensors, weights, metadata={"format": FORMAT})
        os.chmod(weights, 0o666 & ~_umask())  # safetensors writes 0600; as open() would
        body = {"format": FORMAT, "format_version": FORMAT_VERSION, "grukit": __version__,
                "class": name, "config": config, "extras": extras,
                "weights_sha256": _file_sha256(weights)}
        try:
            digest = hashlib.sha256(_canonical(body)).hexdigest()
        except (TypeError, ValueError) as err:
            raise TypeError(f"the settings of this {name} cannot be written as JSON: {err}") \
                from err
        with open(os.path.join(tmp, CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump(body | {"sha256": digest}, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o777 & ~_umask())
        old = None
        if os.path.exists(path):
            old = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.",
                                   suffix=".old")
            os.rmdir(old)
            os.rename(path, old)
        os.rename(tmp, path)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def _sequential_file(path: str) -> bool:
    """Whether ``path`` is a file ``grukit.models`` wrote (its safetensors metadata says so)."""
    from safetensors import SafetensorError, safe_open

    from ..models.saving import FORMAT as SEQUENTIAL

    try:
        with safe_open(path, framework="pt") as f:
            return (f.metadata() or {}).get("format") == SEQUENTIAL
    except (SafetensorError, OSError, ValueError):
        return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_folder(path: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """(config.json's body, tensors) of a saved folder, every check done."""
    from safetensors import safe_open

    from .. import __version__

    if not os.path.exists(path):
        raise FileNotFoundError(f"no saved model at {path!r}.")
    if not os.path.isdir(path):
        if _sequential_file(path):
            raise ValueError(f"{path!r} is a Keras-style model file (grukit.models."
                             f"Sequential.save), not a task model folder; load it with "
                             f"grukit.models.load and export it with grukit.export.to_onnx("
                             f"model, 'model.onnx') or to_pt2.")
        raise ValueError(f"{path!r} is a file; a saved grukit model is a folder holding "
                         f"{CONFIG_FILE} and {WEIGHTS_FILE}.")
    cfg_path, w_path = os.path.join(path, CONFIG_FILE), os.path.join(path, WEIGHTS_FILE)
    for p in (cfg_path, w_path):
        if not os.path.isfile(p):
            raise ValueError(f"{path!r} is not a saved grukit model: {os.path.basename(p)} is "
                             f"missing.")
    try:
        with open(cfg_path, encoding="utf-8") as f:
            body = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{cfg_path!r} is damaged (not JSON: {err}); save the model "
                         f"again.") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a saved grukit task model ({CONFIG_FILE} has no "
                         f"format {FORMAT!r}).")
    version = body.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path!r} was written by grukit {body.get('grukit')} in format "
                         f"{version!r}, which this grukit {__version__} (format "
                         f"{FORMAT_VERSION}) cannot read; upgrade grukit.")
    stored = body.pop("sha256", None)
    try:
        digest = hashlib.sha256(_canonical(body)).hexdigest()
    except (TypeError, ValueError):
        digest = None
    if stored != digest:
        raise ValueError(f"{cfg_path!r} does not match its checksum (damaged or edited); "
                         f"save the model again.")
    if _file_sha256(w_path) != body.get("weights_sha256"):
        raise ValueError(f"{w_path!r} does not match its checksum (damaged or replaced); "
                         f"save the model again.")
    with safe_open(w_path, framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return body, tensors


def load(path: str) -> Estimator:
    """Rebuild any task model saved with ``save(path)`` (its class is read from the folder)."""
    body, tensors = read_folder(path)
    name = body.get("class")
    if name not in REGISTRY:
        raise ValueError(f"{path!r} holds an unknown model class {name!r}; grukit loads "
                         f"{', '.join(sorted(REGISTRY))}.")
    cls = getattr(importlib.import_module(REGISTRY[name]), name)
    config = body.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{path!r}: {CONFIG_FILE} has no settings.")
    if cls.config_class is not None and dataclasses.is_dataclass(cls.config_class):
        known = {f.name for f in dataclasses.fields(cls.config_class)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"{path!r} has settings {unknown} that this grukit's {name} does "
                             f"not know (written by grukit {body.get('grukit')}); upgrade "
                             f"grukit.")
    est = cls.from_config(config)
    est._restore(tensors, body.get("extras") or {})
    est.fitted_ = True
    return est


def load_module_state(module: torch.nn.Module, tensors: dict[str, torch.Tensor],
                      prefix: str, path: str = "the saved model") -> None:
    """Load the tensors under ``prefix`` into ``module``, refusing any missing, extra or
    wrongly shaped tensor with one sentence (the module is left unchanged)."""
    from ..models.saving import state_mismatch

    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    detail = state_mismatch(module.state_dict(), state, "there", "for its settings")
    if detail:
        raise ValueError(f"{path} does not fit its own settings ({detail}); it was written by "
                         f"another version or edited. Save the model again.")
    module.load_state_dict(state)
