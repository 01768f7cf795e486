"""``Sequential``: Keras' model API on torch — add, summary, compile, fit, evaluate, predict,
save — with the recurrent layers running on grukit's kernels."""

from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn

from ..layers import Embedding, Layer
from . import training
from .callbacks import Callback, History


def _snake(name: str) -> str:
    """GRU -> gru, SimpleRNN -> simple_rnn, AttentionPooling -> attention_pooling."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class Sequential(nn.Module):
    """A stack of ``grukit.layers``; ``Sequential([GRU(64, input_shape=(100, 1)), Dense(1)])``
    or ``add`` them one by one."""

    def __init__(self, layers=None, name: str = "sequential"):
        super().__init__()
        self.name = name
        self.stack = nn.ModuleList()
        self.compiled = False
        self.stop_training = False
        for layer in layers or []:
            self.add(layer)

    # -- structure ---------------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add takes a grukit.layers layer; got "
                            f"{type(layer).__name__}.")
        self.stack.append(layer)

    @property
    def layers(self) -> list[Layer]:
        return list(self.stack)

    def _input_shape(self) -> tuple:
        if not len(self.stack):
            raise ValueError("the model has no layers; add some first.")
        shape = self.stack[0].input_shape
        if shape is None:
            raise ValueError("the first layer has no input_shape; give it one (e.g. "
                             "GRU(64, input_shape=(100, 1))) or call build((time, features)).")
        return shape

    def build(self, input_shape=None) -> None:
        """Create every layer's weights by running a dummy batch of shape (2, *input_shape)."""
        if input_shape is not None:
            self.stack[0].input_shape = tuple(input_shape)
        self._shapes = self._trace(self._input_shape())

    def _trace(self, input_shape) -> list[tuple]:
        """Output shape (without batch) of every layer for an input of ``input_shape``."""
        first = self.stack[0]
        x = (torch.ones(2, *input_shape, dtype=torch.long) if isinstance(first, Embedding)
             else torch.zeros(2, *input_shape))
        shapes, lengths = [], None
        training_mode = self.training
        self.eval()
        try:
            with torch.no_grad():
                for layer in self.stack:
                    x, lengths = layer(x, lengths)
                    out = x[0] if isinstance(x, list) else x
                    shapes.append(tuple(out.shape[1:]))
        finally:
            self.train(training_mode)
        return shapes

    @property
    def built(self) -> bool:
        return len(self.stack) > 0 and all(layer.built for layer in self.stack)

    def forward(self, x, lengths=None):
        for layer in self.stack:
            x, lengths = layer(x, lengths)
        return x

    def summary(self, print_fn=print) -> None:
        """Print each layer's name, output shape and parameter count, then the totals."""
        if not self.built:
            self.build()
        shapes = self._trace(self._input_shape())
        rows, counts = [], {}
        for layer, shape in zip(self.stack, shapes, strict=True):
            kind = type(layer).__name__
            base = layer.layer_name or _snake(kind)
            n = counts.get(base, 0)
            counts[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
            params = sum(p.numel() for p in layer.parameters())
            rows.append((f"{name} ({kind})", "(None, " + ", ".join(map(str, shape)) + ")",
                         f"{params:,}"))
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        w = [max(len(r[i]) for r in rows + [("Layer (type)", "Output Shape", "Param #")]) + 2
             for i in range(3)]
        line = "─" * (sum(w) + 2)
        print_fn(f'Model: "{self.name}"')
        print_fn(line)
        print_fn(f"{'Layer (type)':<{w[0]}}{'Output Shape':<{w[1]}}{'Param #':>{w[2]}}")
        print_fn(line)
        for r in rows:
            print_fn(f"{r[0]:<{w[0]}}{r[1]:<{w[1]}}{r[2]:>{w[2]}}")
        print_fn(line)
        print_fn(f" Total params: {total:,}")
        print_fn(f" Trainable params: {trainable:,}")
        print_fn(f" Non-trainable params: {total - trainable:,}")

    def get_config(self) -> dict:
        return {"name": self.name, "layers": [layer.get_config() for layer in self.stack]}

    # -- training ----------------------------------------------------------------------------
    def compile(self, optimizer="adam", loss="mse", metrics=None) -> None:
        """``optimizer``: a name ("adam", "sgd", "rmsprop", "adagrad", "adamw", with Keras'
        default rates) or a torch optimizer; ``loss``: a name or callable(pred, target);
        ``metrics``: names ("mae", "mse", "accuracy") or callables."""
        if not self.built:
            self.build()
        if isinstance(optimizer, torch.optim.Optimizer):
            self.optimizer = optimizer
        else:
            self.optimizer = training.resolve("optimizer", training.OPTIMIZERS,
                                              optimizer)(self.parameters())
        self.loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "loss")
        self.loss_fn = training.resolve("loss", training.LOSSES, loss)
        self.metric_fns = {(m if isinstance(m, str) else m.__name__):
                           training.resolve("metric", training.METRICS, m)
                           for m in (metrics or [])}
        self.compiled = True

    def _check_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"call compile(optimizer=..., loss=...) before {what}().")

    def _device(self) -> torch.device:
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def _data(self, x, y):
        if isinstance(x, (torch.utils.data.DataLoader, torch.utils.data.Dataset)):
            return x, None
        x = training.as_tensor(x, "x")
        if y is not None:
            y = training.as_tensor(y, "y")
            if len(y) != len(x):
                raise ValueError(f"x has {len(x)} samples but y has {len(y)}; they must match.")
        shape = self.stack[0].input_shape
        if shape is not None and tuple(x.shape[1:]) != tuple(shape):
            raise ValueError(f"x has shape (samples, {', '.join(map(str, x.shape[1:]))}) but "
                             f"the model expects (samples, {', '.join(map(str, shape))}).")
        return x, y

    def _loader(self, x, y, batch_size):
        """Batches in order (evaluate, predict)."""
        if isinstance(x, torch.utils.data.DataLoader):
            return x
        if isinstance(x, torch.utils.data.Dataset):
            return torch.utils.data.DataLoader(x, batch_size=batch_size)
        return training.batches(x, y, batch_size)

    def _metrics(self, pred, target) -> dict[str, float]:
        out = {"loss": float(self.loss_fn(pred, target))}
        for name, fn in self.metric_fns.items():
            out[name] = float(fn(pred, target))
        return out

    def fit(self, x=None, y=None, batch_size: int = 32, epochs: int = 1, verbose="auto",
            callbacks: list[Callback] | None = None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, seed: int | None = None,
            resume_from: str | None = None) -> History:
        """Train; returns a ``History`` whose ``history`` dict holds per-epoch logs.

        ``seed`` fixes the epoch orders (drawn from torch's RNG when None);
        ``resume_from`` continues from a ``ModelCheckpoint`` file (weights, optimizer, epoch,
        position within the epoch). Under ``torchrun`` the model is wrapped in
        DistributedDataParallel, each process takes ``batch_size / world_size`` samples of
        every batch, and only rank 0 logs and writes.
        """
        from .fit import run_fit

        self._check_compiled("fit")
        x, y = self._data(x, y)
        if validation_split and validation_data is None and y is not None:
            if not 0 < validation_split < 1:
                raise ValueError(f"validation_split must be in (0, 1); got {validation_split}.")
            cut = len(x) - int(len(x) * validation_split)  # the last samples, as Keras
            x, y, validation_data = x[:cut], y[:cut], (x[cut:], y[cut:])
        return run_fit(self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                       callbacks=callbacks, validation_data=validation_data, shuffle=shuffle,
                       seed=seed, resume_from=resume_from)

    def evaluate(self, x, y=None, batch_size: int = 32, return_dict: bool = False):
        """Loss (and metrics) over the data: a float, a list, or a dict."""
        self._check_compiled("evaluate")
        x, y = self._data(x, y)
        preds, targets = [], []
        self.eval()
        with torch.no_grad():
            for xb, yb in self._loader(x, y, batch_size):
                preds.append(self(xb.to(self._device())).cpu())
                targets.append(yb)
        res = self._metrics(torch.cat(preds), torch.cat(targets))
        if return_dict:
            return res
        return res["loss"] if len(res) == 1 else list(res.values())

    def predict(self, x, batch_size: int = 32) -> np.ndarray:
        x, _ = self._data(x, None)
        if not self.built:
            self.build()
        out = []
        self.eval()
        with torch.no_grad():
            for xb, _ in self._loader(x, None, batch_size):
                out.append(self(xb.to(self._device())).cpu())
        return torch.cat(out).numpy()

    def save(self, path: str) -> None:
        from .saving import save_model

        save_model(self, path)
