"""``TensorBoard``: Keras' callback of that name, writing what Keras 3 writes, through
``torch.utils.tensorboard`` (the ``tensorboard`` package alone: Keras' own needs TensorFlow,
even on its torch backend).

Under ``log_dir``, as Keras: ``train/`` gets ``epoch_<name>`` for each training log and
``epoch_learning_rate`` at step = epoch, ``batch_<name>`` at step = the global batch count
with ``update_freq="batch"`` or N (every N-th batch), weight histograms
``<layer>/<weight>/histogram`` every ``histogram_freq`` epochs; ``validation/`` gets
``epoch_<name>`` of each ``val_<name>`` at step = epoch and ``evaluation_<name>_vs_iterations``
at step = the optimizer steps so far (Keras' ``optimizer.iterations``: on through a second
``fit`` and a loaded model's saved state; the batch steps start again at each ``fit``, as
Keras'); ``write_graph`` writes the model's JSON as the text
summary ``keras`` (what Keras writes on its torch backend)."""

from __future__ import annotations

import numbers
import os
import time

from .callbacks import Callback, is_main_process


class TensorBoard(Callback):
    """Keras 3's ``TensorBoard(log_dir="logs", histogram_freq=0, write_graph=True,
    write_images=False, write_steps_per_second=False, update_freq="epoch", profile_batch=0,
    embeddings_freq=0, embeddings_metadata=None)``; ``write_images``, ``embeddings_freq`` and
    ``profile_batch`` (which Keras' torch backend refuses too) have no grukit form and are
    refused when set."""

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        for what, v in (("histogram_freq", histogram_freq),
                        ("embeddings_freq", embeddings_freq)):
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 0:
                raise ValueError(f"TensorBoard: {what} must be a non-negative integer; got "
                                 f"{v!r}.")
        unsupported = {"write_images": write_images, "embeddings_freq": embeddings_freq,
                       "embeddings_metadata": embeddings_metadata,
                       "profile_batch": profile_batch}
        given = [k for k, v in unsupported.items() if v not in (None, False, 0)]
        if given:
            raise ValueError(f"TensorBoard: {', '.join(given)} has no grukit form; leave it "
                             f"out (scalars, histograms and the model's config are written).")
        if update_freq == "batch":
            update_freq = 1
        if not (update_freq == "epoch" or isinstance(update_freq, numbers.Integral)
                and not isinstance(update_freq, bool) and update_freq >= 1):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a "
                             f"positive integer; got {update_freq!r}.")
        for what, v in (("write_graph", write_graph),
                        ("write_steps_per_second", write_steps_per_second)):
            if not isinstance(v, bool):
                raise TypeError(f"TensorBoard: {what} must be True or False; got {v!r}.")
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError as err:  # torch's module imports the tensorboard package
            raise ImportError("TensorBoard needs the tensorboard package: pip install "
                              "tensorboard") from err
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = int(histogram_freq)
        self.write_graph = write_graph
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = update_freq
        self._writers: dict = {}

    def _writer(self, which: str):
        """The ``train`` or ``validation`` folder's writer, made at its first scalar; under
        ``torchrun`` a writer that drops everything on ranks other than 0 (rank 0 writes)."""
        if not is_main_process():
            return _Nothing()
        if which not in self._writers:
            from torch.utils.tensorboard import SummaryWriter

            self._writers[which] = SummaryWriter(os.path.join(self.log_dir, which))
        return self._writers[which]

    def on_train_begin(self, logs=None):
        if os.path.exists(self.log_dir) and not os.path.isdir(self.log_dir):
            raise NotADirectoryError(f"TensorBoard: log_dir {self.log_dir!r} is a file; give "
                                     f"a folder (it is made if missing).")
        self._batches = 0  # training batches of this fit
        # the optimizer's steps so far: its own count where it keeps one, else this
        # callback's over the fits it saw
        self._iterations = max(getattr(self, "_iterations", 0),
                               _steps(getattr(self.model, "optimizer", None)))
        if self.write_graph:
            self._writer("train").add_text("keras", self.model.to_json(indent=2)
                                           if hasattr(self.model, "to_json")
                                           else type(self.model).__name__, 0)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start, self._epoch_first = time.perf_counter(), self._batches

    def on_train_batch_begin(self, batch, logs=None):
        self._batches += 1
        self._iterations += 1
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch" or self._batches % self.update_freq:
            return
        w = self._writer("train")
        if self.write_steps_per_second:
            w.add_scalar("batch_steps_per_second",
                         1.0 / max(time.perf_counter() - self._batch_start, 1e-12),
                         self._batches)
        for name, value in (logs or {}).items():
            if isinstance(value, numbers.Real):
                w.add_scalar(f"batch_{name}", float(value), self._batches)

    def on_test_end(self, logs=None):
        w = self._writer("validation")
        for name, value in (logs or {}).items():
            if isinstance(value, numbers.Real):
                w.add_scalar(f"evaluation_{name}_vs_iterations",
                             float(value), self._iterations)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        rate = getattr(getattr(self.model, "optimizer", None), "param_groups", None)
        if rate and "learning_rate" not in train:
            train["learning_rate"] = float(rate[0]["lr"])
        if self.write_steps_per_second:
            seconds = max(time.perf_counter() - self._epoch_start, 1e-12)
            train["steps_per_second"] = (self._batches - self._epoch_first) / seconds
        for which, values in (("train", train), ("validation", val)):
            for name, value in values.items():
                if isinstance(value, numbers.Real):
                    self._writer(which).add_scalar(f"epoch_{name}", float(value), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            w = self._writer("train")
            names = self.model.layer_names() if hasattr(self.model, "layer_names") else None
            layers = list(getattr(self.model, "layers", []))
            for k, layer in enumerate(layers):
                prefix = names[k] if names else f"layer_{k}"
                for pname, p in layer.named_parameters():
                    w.add_histogram(f"{prefix}/{pname}/histogram", p.detach().cpu(), epoch)
        for w in self._writers.values():
            w.flush()

    def on_train_end(self, logs=None):
        for w in self._writers.values():
            w.close()
        self._writers = {}


def _steps(optimizer) -> int:
    """The steps ``optimizer`` has taken as far as its state says (Keras-style Adam's
    ``keras_step``, torch's per-weight ``step``), 0 where it keeps no count (plain SGD)."""
    if optimizer is None:
        return 0
    counts = [g["keras_step"] for g in getattr(optimizer, "param_groups", [])
              if "keras_step" in g]
    counts += [s["step"] for s in getattr(optimizer, "state", {}).values()
               if isinstance(s, dict) and "step" in s]
    return int(max((float(c) for c in counts), default=0))


class _Nothing:
    """A writer that writes nothing (ranks other than 0)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None
