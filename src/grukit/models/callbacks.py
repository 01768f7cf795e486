"""Callbacks with no-op hooks (Keras habits); the History every ``fit`` returns."""

from __future__ import annotations

import math


class Callback:
    """Override what you need; every hook is a no-op. ``self.model`` is set by ``fit``."""

    model = None

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...


class History(Callback):
    """``history.history`` maps each logged quantity to its list of per-epoch values."""

    def __init__(self):
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs;
    ``restore_best_weights`` puts back the best epoch's weights at the end."""

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0,
                 mode: str = "min", restore_best_weights: bool = False):
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max'; got {mode!r}.")
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode, self.restore_best_weights = mode, restore_best_weights

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.best_state, self.stopped_epoch = math.inf, 0, None, None

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor not in (logs or {}):
            raise ValueError(f"EarlyStopping: {self.monitor!r} is not logged; logged: "
                             f"{sorted(logs or {})}. Pass validation data for val_ metrics.")
        value = logs[self.monitor] * (1 if self.mode == "min" else -1)
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_state = {k: v.detach().clone()
                                   for k, v in self.model.state_dict().items()}
        else:
            self.wait += 1
            if self.wait > self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
