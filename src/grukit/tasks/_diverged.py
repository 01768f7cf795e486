"""Whether a task's training diverged, said in one sentence (every task that trains on
``grukit.models`` calls it after ``fit`` / ``train_loop``).

Two ways a training fails without a traceback:

- the training loss became NaN or Inf (``history.stop_reason == "nonfinite"``): the engine
  stops there and keeps the weights from the start of that epoch, which may already be far
  off; a task keeps nothing of such a run and raises ``ValueError`` naming the epoch and the
  learning rate (``check``);
- the loss stayed finite but the best validation loss is no lower than the untrained
  network's (``before``, measured with the same loss on the same validation data before the
  first update): the network learned nothing, as a learning rate far too large does (Adam at
  1e9 gives finite losses of 1e20); a ``RuntimeWarning`` names the learning rate. A task
  without validation data compares its best epoch's mean training loss with the loss of its
  first batch, taken before the first update (``FirstBatch``); as an epoch's mean covers the
  batches of its early updates, one that learned slowly can fall short of its first batch,
  so it warns only above 1.5 times the first batch's loss (training that went astray).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import warnings

from ..models.callbacks import Callback
from ..models.loop import _outside_grukit  # the warning points at the user's call

_RECORDED = contextvars.ContextVar("grukit_diverged_recorded", default=False)


@contextlib.contextmanager
def recorded():
    """Inside it, a training whose loss became NaN/Inf returns (the engine's warning said
    so, ``history.stop_reason`` is "nonfinite") instead of raising: for a harness that
    records such a run as a result (``grukit compare``)."""
    token = _RECORDED.set(True)
    try:
        yield
    finally:
        _RECORDED.reset(token)


class Diverged(ValueError):
    """The training loss became NaN or Inf: nothing of the run was kept."""


def _lower(lr: float) -> str:
    return f"{lr / 10:g}" if math.isfinite(lr) and lr > 0 else "a smaller one"


class FirstBatch(Callback):
    """Keeps the loss of a run's first batch (``loss``), computed by the untrained network:
    the training loss that training must beat where there is no validation data."""

    loss = None

    def on_batch_end(self, batch, logs=None):
        if self.loss is None and "loss" in (logs or {}):
            self.loss = float(logs["loss"])


def before(model, x, y, batch_size: int | None = None) -> float:
    """The validation loss of the untrained ``model`` (a compiled ``Sequential``) on
    ``(x, y)``: what training must beat. Evaluation draws no random numbers, so the training
    that follows is the same as without it."""
    res = model.evaluate(x, y, batch_size=batch_size or 32, verbose=0, return_dict=True)
    return float(res["loss"])


def check(history, *, learning_rate: float, untrained: float | None = None,
          what: str = "the network", key: str = "val_loss",
          untrained_fit: float | None = None) -> None:
    """Raise ``Diverged`` (a ``ValueError``) when ``history`` stopped on a NaN/Inf loss (inside
    ``recorded()``: return); warn when the best ``history.history[key]`` is no lower than
    ``untrained`` (None: no such check; for a training loss, 1.5 times it).

    ``untrained_fit``: the untrained network's loss on the training data (``before``), where
    a task gives it. A network whose best epoch's mean training loss is below it did learn,
    and a validation loss that did not fall says only that what it learned does not carry to
    a few validation windows of a noise-like series (nile's last four windows: the
    standardised values' untrained forecast, 0, scored 0.4191 and the best epoch 0.4197
    while the training loss fell from 0.93 to 0.74), which a lower learning rate would not
    change: no warning is given."""
    lr = float(learning_rate)
    if getattr(history, "stop_reason", None) == "nonfinite":
        if _RECORDED.get():
            return
        done = list(getattr(history, "epoch", []) or [])  # the epochs that ended (0-based)
        epoch = done[-1] + 2 if done else 1
        raise Diverged(f"training {what} diverged: its loss became NaN or Inf in epoch "
                       f"{epoch} with learning rate {lr:g}, so nothing was kept; try a "
                       f"learning rate 10 times lower ({_lower(lr)}) or check the data for "
                       f"extreme values.")
    if untrained is None or not math.isfinite(untrained):
        return
    seen = [float(v) for v in (history.history.get(key) or [])]
    finite = [v for v in seen if math.isfinite(v)]
    if not seen:
        return
    best = min(finite) if finite else math.nan
    bar = untrained if key.startswith("val_") else 1.5 * untrained  # see the module's doc
    fitted = [float(v) for v in (history.history.get("loss") or []) if math.isfinite(v)]
    if untrained_fit is not None and math.isfinite(untrained_fit) and fitted and \
            min(fitted) < untrained_fit:
        return
    if not best < bar:
        loss = "validation loss" if key.startswith("val_") else "epoch's mean training loss"
        warnings.warn(f"training {what} learned nothing: its best {loss} "
                      f"({best:.4g}) is no lower than before training ({untrained:.4g}) with "
                      f"learning rate {lr:g}; its results are no better than an untrained "
                      f"network's: try a learning rate 10 times lower ({_lower(lr)}) or, "
                      f"after few epochs, more epochs.",
                      RuntimeWarning, stacklevel=_outside_grukit())
