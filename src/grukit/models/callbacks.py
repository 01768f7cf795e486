"""Callbacks with no-op hooks (Keras habits); the History every ``fit`` returns."""

from __future__ import annotations

import inspect
import math
import numbers
import os
import time
from collections.abc import Iterable

import numpy as np

from .saving import read_checkpoint, save_checkpoint


def _count_arg(value, what: str, least: int) -> int:
    """An integer setting such as patience (least 0) or every_n_batches (least 1)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < least:
        kind = "a non-negative" if least == 0 else "a positive"
        raise ValueError(f"{what} must be {kind} integer; got {value!r}.")
    return int(value)


# Keras 3's mode="auto": the quantities whose metric grows as the model improves (its
# metrics' direction "up": the accuracies, AUC, precision, recall, F-scores, IoU, R²,
# sensitivity, specificity, cosine similarity) are maximized; losses and errors (mae, mse,
# crossentropies, ...) minimized; any other name is refused, as Keras refuses it, rather
# than guessed (a hit rate or a BLEU score grows, a perplexity shrinks).
_GROWING = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2", "sensitivity",
            "specificity", "cosine_similarity")
_SHRINKING = ("loss", "mae", "mse", "rmse", "mape", "msle", "error", "crossentropy", "hinge",
              "poisson", "kl_divergence", "kld", "logcosh", "log_cosh", "bce", "huber")


def _mode(cls: str, monitor: str, mode) -> str:
    """"min" or "max" for ``monitor`` under ``mode`` ("auto", "min" or "max")."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{cls}: mode must be 'auto', 'min' or 'max'; got {mode!r}.")
    if mode != "auto":
        return mode
    name = str(monitor).lower().removeprefix("val_")
    if name == "loss" or name.endswith("loss") or any(k in name for k in _SHRINKING):
        return "min"
    if any(k in name for k in _GROWING):
        return "max"
    raise ValueError(f"{cls}: mode='auto' cannot tell whether {monitor!r} improves as it grows "
                     f"or as it shrinks; pass mode='max' or mode='min'.")


def unvalidated(cb, epoch: int) -> bool:
    """Whether ``cb`` watches a validation quantity (``val_...``) and ``fit``'s
    ``validation_freq`` left epoch ``epoch`` unvalidated (Keras then passes over it)."""
    every = getattr(cb.model, "_validation_every", None)
    return (str(cb.monitor).startswith("val_") and every is not None
            and (epoch + 1) % every != 0)


class Callback:
    """Override what you need; every hook is a no-op. ``fit`` calls ``set_model`` and
    ``set_params`` (``self.params``: ``epochs``, ``steps``, ``verbose``) before training.
    As Keras', ``on_train_batch_begin``/``on_train_batch_end`` call ``on_batch_begin``/
    ``on_batch_end``; ``on_test_begin``/``on_test_end`` wrap each epoch's validation pass
    (``on_test_end`` gets its logs). Keras' per-batch test and predict hooks have no place
    in this loop: a callback that overrides one is refused by ``fit``."""

    model = None
    params: dict = {}

    def set_model(self, model): self.model = model
    def set_params(self, params): self.params = params
    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): self.on_batch_begin(batch, logs=logs)
    def on_train_batch_end(self, batch, logs=None): self.on_batch_end(batch, logs=logs)
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...


# Keras hooks this loop never calls (evaluate and predict run no callbacks)
UNCALLED = ("on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
            "on_predict_batch_begin", "on_predict_batch_end")


def overrides(cb: Callback, *hooks: str) -> bool:
    """Whether ``cb`` defines one of ``hooks`` itself (its class or, as ``LambdaCallback``,
    the instance), rather than inheriting ``Callback``'s no-op."""
    return any(h in vars(cb) or getattr(type(cb), h, None) is not getattr(Callback, h, None)
               for h in hooks)


class History(Callback):
    """``history.history`` maps each logged quantity to its list of per-epoch values."""

    def __init__(self):
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        self._logs = logs if logs is not None else {}
        self._taken = set(self._logs)
        for k, v in self._logs.items():
            self.history.setdefault(k, []).append(v)

    def settle(self) -> None:
        """Take what later callbacks added to the epoch's logs (``learning_rate`` from
        ``ReduceLROnPlateau``), as Keras' History, which runs after the user's callbacks."""
        for k in [k for k in getattr(self, "_logs", {}) if k not in self._taken]:
            self._taken.add(k)
            self.history.setdefault(k, []).append(self._logs[k])


class EpochTimer(Callback):
    """``seconds[k]``: wall time of epoch k, its validation pass included."""

    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


class _Kept:
    """A watching callback's state that a checkpoint keeps for a resumed run (``KEPT``: its
    best value, counters, ...), taken back only by one that watches the same monitor the
    same way."""

    KEPT: tuple[str, ...] = ()

    def get_state(self) -> dict:
        return {"monitor": self.monitor, "mode": self.mode} | {k: getattr(self, k)
                                                              for k in self.KEPT}

    def set_state(self, state: dict) -> None:
        if (state.get("monitor"), state.get("mode")) == (self.monitor, self.mode):
            for k in self.KEPT:
                setattr(self, k, state[k])


class EarlyStopping(_Kept, Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs;
    ``restore_best_weights`` puts back the best epoch's weights at the end. ``mode``: "min",
    "max", or "auto" (Keras' default: "max" for accuracies, AUC, precision, recall, F-scores
    and the like, "min" for losses and errors). A ``ModelCheckpoint`` keeps its best value,
    wait and best weights, which a run resumed from it takes back (``get_state``)."""

    KEPT = ("best", "wait", "best_state")

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0):
        mode = _mode("EarlyStopping", monitor, mode)
        patience = _count_arg(patience, "EarlyStopping: patience", 0)
        self.start_from_epoch = _count_arg(start_from_epoch, "EarlyStopping: start_from_epoch",
                                           0)
        for what, v in (("min_delta", min_delta), ("baseline", baseline)):
            if v is not None and (not isinstance(v, numbers.Real) or isinstance(v, bool)
                                  or not math.isfinite(v)):
                raise ValueError(f"EarlyStopping: {what} must be a finite number; got {v!r}.")
        # as Keras, the size of the change that counts: a negative min_delta is its magnitude
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.mode, self.restore_best_weights = mode, restore_best_weights
        self.baseline, self.verbose = baseline, verbose

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.best_state, self.stopped_epoch = math.inf, 0, None, None
        self.best_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor not in (logs or {}) and unvalidated(self, epoch):
            return  # validation_freq skipped this epoch's validation: nothing to watch
        if self.monitor not in (logs or {}):
            raise ValueError(f"EarlyStopping: {self.monitor!r} is not logged; logged: "
                             f"{sorted(logs or {})}. Pass validation data for val_ metrics.")
        if epoch < self.start_from_epoch:  # Keras' warm-up: not watched yet
            return
        sign = 1 if self.mode == "min" else -1
        value = logs[self.monitor] * sign
        if value < self.best - self.min_delta:
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_state = {k: v.detach().clone()
                                   for k, v in self.model.state_dict().items()}
            # as Keras: the wait starts again only once the baseline is beaten too
            beaten = self.baseline is None or value < self.baseline * sign - self.min_delta
            self.wait = 0 if beaten else self.wait + 1
            return
        self.wait += 1
        if self.wait >= self.patience:  # as Keras: after `patience` epochs without gain
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.verbose and is_main_process() and (self.stopped_epoch or 0) > 0:  # rank 0 says
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_state is not None:
            if self.verbose and is_main_process():
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_state)



def _file_folder(cls: str, path: str, example: str) -> str:
    """The folder of the file a callback writes at ``path``; a directory given as the file
    is refused, naming a file in it (``example``)."""
    if os.path.isdir(path):
        raise ValueError(f"{cls}: {path!r} is a directory; pass a file in it, e.g. "
                         f"{os.path.join(path, example)!r}.")
    return os.path.dirname(os.path.abspath(path))


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a torch.distributed run (only rank 0 writes)."""
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


class ModelCheckpoint(Callback):
    """Write a resumable checkpoint (weights, optimizer state, epoch, position in the epoch,
    RNG state) at each epoch end — only when ``monitor`` improves with ``save_best_only`` —
    and every ``every_n_batches`` batches (counted on across epochs, as Keras' ``save_freq``).
    Each write goes to a temporary file that then
    replaces the old one, so a crash mid-write keeps the last good checkpoint. Resume with
    ``fit(..., resume_from=filepath)``; ``grukit.models.load(filepath)`` reads the model it
    holds (the best one with ``save_best_only``), as Keras' ``load_model``. ``mode``:
    whether ``save_best_only`` keeps the lowest ("min") or highest ("max") value of
    ``monitor``; "auto" as ``EarlyStopping``. As in Keras, ``filepath`` may name fields
    filled at each write: ``{epoch}`` (counted from 1), ``{batch}`` (with
    ``every_n_batches``; at an epoch's end, its number of batches) and any logged value,
    e.g. "ckpt-{epoch:02d}-{val_loss:.3f}.pt" (one file per write). Listed before an
    ``EarlyStopping`` or a ``ReduceLROnPlateau``, it writes its epoch-end checkpoint right
    after them, so that the checkpoint holds what they set then (the lowered rate, their
    counters), which the resumed run goes on with. With
    ``save_best_only``, a run resumed with ``resume_from`` starts from the best value that
    the file it finds at ``filepath`` records, so it replaces that model only with a better
    one."""

    def __init__(self, filepath: str, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", save_freq="epoch",
                 initial_value_threshold: float | None = None,
                 every_n_batches: int | None = None):
        # Keras' arguments: save_weights_only writes the same file (load and load_weights
        # read it); save_freq=N is every_n_batches=N; initial_value_threshold is the value
        # the first best must beat
        self.filepath, self.monitor, self.save_best_only = filepath, monitor, save_best_only
        self.mode = _mode("ModelCheckpoint", monitor, mode)
        self.verbose, self.save_weights_only = verbose, save_weights_only
        if save_freq != "epoch":
            if every_n_batches is not None:
                raise ValueError("ModelCheckpoint: give save_freq or every_n_batches, not both.")
            every_n_batches = save_freq
        self.every_n_batches = (None if every_n_batches is None else _count_arg(
            every_n_batches, "ModelCheckpoint: every_n_batches / save_freq ('epoch' or a "
            "number of batches)", 1))
        if initial_value_threshold is not None and (
                not isinstance(initial_value_threshold, numbers.Real)
                or isinstance(initial_value_threshold, bool)
                or not math.isfinite(initial_value_threshold)):
            raise ValueError(f"ModelCheckpoint: initial_value_threshold must be a finite "
                             f"number; got {initial_value_threshold!r}.")
        self.threshold = initial_value_threshold
        if save_best_only and self.every_n_batches:  # each write replaces the file
            raise ValueError("ModelCheckpoint: save_best_only=True keeps the best epoch's model, "
                             "which every_n_batches would replace with the latest one mid-epoch; "
                             "use two ModelCheckpoints, one save_best_only and one "
                             "every_n_batches to another file.")
        self.best, self._batches = self._start(), 0

    def _start(self) -> float:
        """The signed value a first best must beat: inf, or ``initial_value_threshold``."""
        if self.threshold is None:
            return math.inf
        return self.threshold if self.mode == "min" else -self.threshold

    def on_train_begin(self, logs=None):
        """Check where the checkpoints go before training, not after its first epoch: a
        missing folder is made, as Keras makes it; a directory or a folder that cannot be
        written is refused."""
        self._since = 0  # each fit counts its batches from its first
        if not is_main_process():
            return
        path = os.fspath(self.filepath)
        folder = _file_folder("ModelCheckpoint", path, "model.ckpt")
        if self.save_best_only and self.best == self._start() and os.path.isfile(path) \
                and getattr(self.model, "_resumed", False):
            self.best = min(self._best_in(path), self.best)  # a resumed run keeps its best
        if "{" in folder:  # the folder itself is filled at each write
            return
        os.makedirs(folder, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"ModelCheckpoint: cannot write to the folder {folder!r}; "
                                  f"make it writable or pass a filepath in another folder.")

    def on_batch_end(self, batch, logs=None):
        self._batches = batch + 1  # the epoch's batches so far, for {batch} at its end
        # batches since the last write, counted on across epochs as Keras counts them (an
        # epoch's own count never reached N in epochs shorter than N: steps_per_epoch < N)
        self._since = getattr(self, "_since", 0) + 1
        if self.every_n_batches and self._since >= self.every_n_batches:
            self._since = 0
            epoch = self.model._epoch
            self._write(epoch, batch + 1, self._path(epoch + 1, logs, batch=batch + 1))

    def on_epoch_end(self, epoch, logs=None):
        if self.save_best_only:
            value = (logs or {}).get(self.monitor)
            if value is None and unvalidated(self, epoch):
                return  # as Keras: no best to compare on an epoch without validation
            if value is None:
                raise ValueError(f"ModelCheckpoint: {self.monitor!r} is not logged; logged: "
                                 f"{sorted(logs or {})}.")
            value = value if self.mode == "min" else -value
            if not value < self.best:  # as Keras, a NaN is no improvement
                return
            self.best = value
        path = self._path(epoch + 1, logs, batch=self._batches)
        self._write(epoch + 1, 0, path)
        if self.verbose and is_main_process():
            print(f"\nEpoch {epoch + 1}: saving model to {path}")

    def _path(self, epoch: int, logs, **fields) -> str:
        """``filepath`` with its fields filled, as Keras formats it: ``epoch`` counted from
        1, ``batch``, and the logged values."""
        path = os.fspath(self.filepath)
        if "{" not in path or hasattr(self.model, "training_state"):
            return path  # a task's checkpoint path is a file in its output folder, as given
        try:
            return path.format(**(logs or {}), epoch=epoch, **fields)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"ModelCheckpoint: filepath {path!r} cannot be filled ({err!r}): "
                             f"its fields may be epoch, batch (with every_n_batches) or a "
                             f"logged value, {sorted(logs or {})}; fix the field or its "
                             f"format.") from err

    def _best_in(self, path: str) -> float:
        """The best value (signed as ``self.best``) that a ``save_best_only`` file of this
        monitor and mode records, else inf: a resumed run replaces the best model the
        interrupted run wrote only with a better one, not with its first epoch's."""
        try:
            best = read_checkpoint(path).get("best")
        except (OSError, ValueError):  # not a checkpoint: the first write replaces it
            return math.inf
        if not isinstance(best, dict) or (best.get("monitor"), best.get("mode")) != (
                self.monitor, self.mode):
            return math.inf
        return float(best["value"])

    def _write(self, epoch: int, batch: int, path: str) -> None:
        if not is_main_process():
            return
        state = getattr(self.model, "training_state", None)  # a task on train_loop: its
        # generators, curves, best weights go along
        best = ({"monitor": self.monitor, "mode": self.mode, "value": self.best}
                if self.save_best_only and not batch else None)
        # a folder named by fields ("run-{epoch}/model.ckpt") is made at each write, as Keras
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        save_checkpoint(self.model, path, epoch, batch,
                        extra=None if state is None else state(), best=best)


class CSVLogger(Callback):
    """Write one row per epoch (epoch and every logged value) to a CSV file.

    As Keras: the columns are "epoch" and the logged names in sorted order, fixed by the
    first epoch (a value missing later is written NA); an existing file is overwritten when
    the first epoch of a ``fit`` ends, unless ``append=True`` (e.g. for a resumed run), which
    adds rows below those there, provided the file's header names the same columns; another
    header is refused and the file kept."""

    def __init__(self, filename: str, separator: str = ",", append: bool = False):
        if not isinstance(append, bool):
            raise TypeError(f"CSVLogger: append must be True or False; got {append!r}.")
        if not isinstance(separator, str) or not separator \
                or any(c in separator for c in '"\r\n'):
            raise ValueError(f"CSVLogger: separator must be a character such as ',' or '\\t' "
                             f"(no quote or line break); got {separator!r}.")
        self.filename, self.separator, self.append = filename, separator, append
        self._started = False

    def on_train_begin(self, logs=None):
        """Check the file can be written before training, not after its first epoch."""
        self._started = False
        if not is_main_process():
            return
        path = os.fspath(self.filename)
        folder = _file_folder("CSVLogger", path, "log.csv")
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"CSVLogger: the folder {folder!r} of {path!r} does not "
                                    f"exist; create it first.")
        if not os.access(folder, os.W_OK | os.X_OK) or os.path.exists(path) \
                and not os.access(path, os.W_OK):
            raise PermissionError(f"CSVLogger: cannot write {path!r}; make it (and its folder) "
                                  f"writable or log to another file.")

    def _cell(self, value) -> str:
        """A logged value as written: a float to 8 significant digits, an integer whole, a
        text or a truth value as it is, an array or list as "[a, b]" (Keras' forms); quoted
        as CSV quotes a field that holds the separator, a quote or a line break."""
        if isinstance(value, (str, bool, np.bool_)):
            cell = str(value)
        elif isinstance(value, numbers.Integral):  # a count: every digit
            cell = str(int(value))
        elif isinstance(value, numbers.Real) or getattr(value, "ndim", None) == 0:
            cell = f"{float(value):.8g}"
        elif isinstance(value, Iterable):
            cell = "[" + ", ".join(map(str, np.asarray(value).ravel().tolist())) + "]"
        else:
            cell = str(value)
        if any(c in cell for c in (self.separator, '"', "\n", "\r")):
            cell = '"' + cell.replace('"', '""') + '"'
        return cell

    def on_epoch_end(self, epoch, logs=None):
        if not is_main_process():
            return
        logs = logs or {}
        if not self._started:
            self._keys = sorted(logs)
        header = self.separator.join(["epoch", *self._keys])
        row = self.separator.join([str(epoch), *(self._cell(logs[k]) if k in logs else "NA"
                                                 for k in self._keys)]) + "\n"
        if self._started:
            with open(self.filename, "a") as f:
                f.write(row)
            return
        self._started = True
        old = None
        if self.append and os.path.exists(self.filename) and os.path.getsize(self.filename):
            # a BOM is no part of the first column's name; undecodable bytes (UTF-16, say)
            # make a header that differs, refused below in one sentence
            with open(self.filename, encoding="utf-8-sig", errors="replace") as f:
                old = f.readline().rstrip("\r\n")
            if old != header:
                raise ValueError(f"CSVLogger(append=True): {self.filename!r} has the columns "
                                 f"{old!r} but this run logs {header!r}, so the file was kept; "
                                 f"log to another file or pass append=False to overwrite it.")
            with open(self.filename, "rb") as f:  # a row cut short by a kill: end it first
                f.seek(-1, os.SEEK_END)
                if f.read(1) not in b"\r\n":
                    row = "\n" + row
        with open(self.filename, "a" if old is not None else "w") as f:
            f.write(("" if old is not None else header + "\n") + row)


class BackupAndRestore(ModelCheckpoint):
    """Keras' ``BackupAndRestore(backup_dir, save_freq="epoch", double_checkpoint=False,
    delete_checkpoint=True)``: a checkpoint of the whole training state in ``backup_dir``
    at each epoch end (or every ``save_freq`` batches), from which the same ``fit`` call,
    run again after an interruption (Ctrl-C, a killed job), goes on where it stopped
    (``fit`` finds it; the same as ``resume_from``). ``double_checkpoint`` keeps the one
    before as well, taken when the latest cannot be read; ``delete_checkpoint`` removes
    them when training ends normally, so the next run starts afresh."""

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint: bool = False,
                 delete_checkpoint: bool = True):
        if not isinstance(backup_dir, (str, os.PathLike)) or not os.fspath(backup_dir):
            raise ValueError(f"BackupAndRestore: backup_dir must be a folder path; got "
                             f"{backup_dir!r}.")
        for what, v in (("double_checkpoint", double_checkpoint),
                        ("delete_checkpoint", delete_checkpoint)):
            if not isinstance(v, bool):
                raise TypeError(f"BackupAndRestore: {what} must be True or False; got {v!r}.")
        self.backup_dir = os.fspath(backup_dir)
        super().__init__(os.path.join(self.backup_dir, "latest.ckpt"), monitor="loss",
                         save_freq=save_freq)
        self.double_checkpoint, self.delete_checkpoint = double_checkpoint, delete_checkpoint
        self.previous = os.path.join(self.backup_dir, "previous.ckpt")

    def on_train_begin(self, logs=None):
        if os.path.exists(self.backup_dir) and not os.path.isdir(self.backup_dir):
            raise NotADirectoryError(f"BackupAndRestore: backup_dir {self.backup_dir!r} is a "
                                     f"file; give a folder (it is made if missing).")
        super().on_train_begin(logs)

    def restore_from(self) -> str | None:
        """The backup ``fit`` goes on from: the latest readable one, else None."""
        for path in (self.filepath, self.previous)[:2 if self.double_checkpoint else 1]:
            if os.path.isfile(path):
                try:
                    read_checkpoint(path)
                except (OSError, ValueError):
                    continue
                return path
        return None

    def _write(self, epoch: int, batch: int, path: str) -> None:
        if self.double_checkpoint and is_main_process() and os.path.isfile(path):
            os.replace(path, self.previous)
        super()._write(epoch, batch, path)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and is_main_process():
            for path in (self.filepath, self.previous):
                if os.path.isfile(path):
                    os.remove(path)


class TerminateOnNaN(Callback):
    """Keras' ``TerminateOnNaN()``: training stops at a NaN or Inf loss. ``fit`` stops there
    anyway (and puts back the weights from the start of that epoch), so this callback only
    makes the stop explicit where a Keras script lists it."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True


class ReduceLROnPlateau(_Kept, Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved by more than
    ``min_delta`` for ``patience`` epochs (never below ``min_lr``), then wait ``cooldown``
    epochs before counting again; ``verbose=1`` prints each reduction. ``mode``: "min",
    "max" or "auto" (as ``EarlyStopping``). Keras' semantics and defaults (``min_delta``
    1e-4); each ``fit`` starts afresh, but a run resumed from a ``ModelCheckpoint`` takes
    back the best value and counters the checkpoint kept (``get_state``)."""

    KEPT = ("best", "wait", "cooldown_counter")

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0):
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) \
                or not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be a number in (0, 1); got "
                             f"{factor!r}.")
        if isinstance(min_lr, bool) or not isinstance(min_lr, numbers.Real) \
                or not math.isfinite(min_lr) or min_lr < 0:  # a NaN never let it reduce
            raise ValueError(f"ReduceLROnPlateau: min_lr must be a finite number, 0 or more; "
                             f"got {min_lr!r}.")
        mode = _mode("ReduceLROnPlateau", monitor, mode)
        patience = _count_arg(patience, "ReduceLROnPlateau: patience", 0)
        cooldown = _count_arg(cooldown, "ReduceLROnPlateau: cooldown", 0)
        if not isinstance(min_delta, numbers.Real) or not math.isfinite(min_delta):
            raise ValueError(f"ReduceLROnPlateau: min_delta must be a finite number; got "
                             f"{min_delta!r}.")
        self.monitor, self.factor, self.patience, self.min_lr = monitor, factor, patience, min_lr
        self.mode, self.min_delta, self.cooldown, self.verbose = (mode, abs(min_delta),
                                                                  cooldown, verbose)
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = math.inf, 0, 0


    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None and unvalidated(self, epoch):
            return
        if value is None:
            raise ValueError(f"ReduceLROnPlateau: {self.monitor!r} is not logged; logged: "
                             f"{sorted(logs or {})}.")
        if logs is not None:  # as Keras: the epoch's rate, before this call changes it
            logs["learning_rate"] = _rate(self.model.optimizer)
        value = value if self.mode == "min" else -value
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:  # as Keras: after `patience` epochs without gain
            groups = [g for g in self.model.optimizer.param_groups
                      if g["lr"] > np.float32(self.min_lr)]
            for group in groups:
                group["lr"] = max(group["lr"] * self.factor, self.min_lr)
                if self.verbose and is_main_process():
                    print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                          f"{group['lr']}.")
            if groups:
                self.cooldown_counter, self.wait = self.cooldown, 0


def _rate(optimizer) -> float:
    """The optimizer's learning rate (its first parameter group's), as a float."""
    return float(optimizer.param_groups[0]["lr"])


class LearningRateScheduler(Callback):
    """Keras' scheduler: at each epoch's start, ``lr = schedule(epoch, lr)`` (or
    ``schedule(epoch)``, the older form) for every parameter group; each epoch's rate is
    logged as ``learning_rate``. ``verbose=1`` prints each setting. A torch optimizer whose
    parameter groups have rates of their own keeps their ratios: ``schedule(epoch, lr)``
    is applied to each group's rate, and ``schedule(epoch)``'s rate is the first group's,
    the others scaled as they were to it when training began (every group was set to the
    first one's rate before)."""

    def __init__(self, schedule, verbose: int = 0):
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be a function of (epoch, "
                            f"lr) returning the rate; got {schedule!r}.")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        try:
            params = inspect.signature(self.schedule).parameters.values()
            n_args = 2 if any(p.kind == p.VAR_POSITIONAL for p in params) else len(params)
        except (TypeError, ValueError):  # a builtin without a signature: Keras' form
            n_args = 2
        groups = optimizer.param_groups
        if n_args >= 2:
            rates = [self.schedule(epoch, float(g["lr"])) for g in groups]
        else:
            first = self.schedule(epoch)
            start = getattr(self, "_start", None)
            if start is None or len(start) != len(groups):
                start = [1.0] * len(groups)
            rates = [first if k == 0 or not start[0] else first * start[k] / start[0]
                     for k in range(len(groups))]
        for rate in rates:
            if (isinstance(rate, bool) or not isinstance(rate, numbers.Real)
                    or not math.isfinite(rate) or rate < 0):
                raise ValueError(f"LearningRateScheduler: schedule({epoch}) must return a "
                                 f"finite learning rate, 0 or more (a float); got {rate!r}.")
        for group, rate in zip(groups, rates, strict=True):
            group["lr"] = float(rate)
        if self.verbose and is_main_process():
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{float(rates[0])}.")

    def on_train_begin(self, logs=None):
        # each group's rate to the first's, which schedule(epoch) keeps
        self._start = [float(g["lr"]) for g in self.model.optimizer.param_groups]

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _rate(self.model.optimizer)


class LambdaCallback(Callback):
    """Keras' ``LambdaCallback``: each hook given as a function replaces that hook
    (``on_epoch_end=lambda epoch, logs: ...``, ``on_train_batch_end=lambda batch, logs:
    ...``, ``on_train_begin=lambda logs: ...``); other keywords become attributes, as in
    Keras, so any hook name ``Callback`` has can be given."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, fn in given.items():
            if fn is None:
                continue
            if name.startswith("on_") and not callable(fn):
                raise TypeError(f"LambdaCallback: {name} must be a function; got {fn!r}.")
            setattr(self, name, fn)


class ProgressBar(Callback):
    """A rich progress bar with the running loss and ETA; ``fit`` adds it when ``verbose=1``
    and standard output is a terminal."""

    def __init__(self, epochs: int, steps: int | None):
        self.epochs, self.steps = epochs, steps

    def on_epoch_begin(self, epoch, logs=None):
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn(f"Epoch {epoch + 1}/{self.epochs}"), BarColumn(),
                                 TextColumn("{task.fields[info]}"), TimeRemainingColumn())
        self.progress.start()
        self.task = self.progress.add_task("", total=self.steps, info="")

    def on_batch_end(self, batch, logs=None):
        self.progress.update(self.task, advance=1,
                             info=f"loss {(logs or {}).get('loss', float('nan')):.4f}")

    def on_epoch_end(self, epoch, logs=None):
        info = " - ".join(f"{k}: {v:.4f}" for k, v in (logs or {}).items())
        self.progress.update(self.task, info=info)
        self.progress.stop()
