"""``SequenceClassifier``: numeric multivariate sequences of varying length (T_i, C) ->
per-channel standardization (fit on the training split) -> GRU/LSTM over each sequence's own
steps -> AttentionPooling -> Dense(softmax)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .base import RecurrentClassifier
from .network import SequenceInput


@dataclass(frozen=True)
class SequenceConfig:
    """Settings of a ``SequenceClassifier``.

    Attributes:
        model (str): a cell of ``grukit.cells`` (gru, lstm, rnn, mingru, lngru) or bi + it.
        hidden (int): recurrent units.
        dropout (float): dropout on the pooled vector.
        epochs (int): the epoch cap (early stopping usually ends training first).
        batch_size (int): sequences a batch.
        learning_rate (float): Adam's learning rate.
        validation_split (float): share of the training data held out for early stopping
            (0 turns early stopping off).
        patience (int | None): epochs without improvement before stopping.
        seed (int): seeds the weights, the split and the batches.
    """

    model: str = "gru"  # a cell of grukit.cells (gru, lstm, rnn, mingru) or bi + it
    hidden: int = 64
    dropout: float = 0.2  # on the pooled vector
    epochs: int = 100
    batch_size: int = 16
    learning_rate: float = 3e-3
    validation_split: float = 0.1  # for early stopping; 0 turns it off
    patience: int | None = 15
    seed: int = 0


def as_sequences(inputs) -> list[np.ndarray]:
    """A list of (T_i, C) float64 arrays from a list of (T_i, C) / (T_i,) arrays or an
    array (N, T, C); a 2-D array or a DataFrame (N, T) is N sequences of one channel, a row
    each. Refuses values that are not real numbers, empty sequences, no channels, NaN/Inf,
    values beyond float32's range and mixed channel counts. They stay float64 until they
    are standardised: in float32 a channel such as a time stamp (1.7e9 + seconds, steps of
    128 there) would lose its variation."""
    if not isinstance(inputs, np.ndarray) and getattr(inputs, "ndim", None) == 2 and \
            hasattr(inputs, "to_numpy"):  # a DataFrame iterates over its column names
        inputs = inputs.to_numpy()  # (N, T)
    if isinstance(inputs, np.ndarray) and inputs.ndim in (2, 3):
        inputs = list(inputs)
    out = []
    for i, s in enumerate(inputs):
        try:
            if np.iscomplexobj(s):  # float64 would drop the imaginary parts with a warning
                raise TypeError("complex numbers")
            a = np.asarray(s, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"sequence {i} cannot be read as real numbers ({err}); give "
                             f"each sequence as a numeric array (steps, channels).") from None
        a = a[:, None] if a.ndim == 1 else a  # (T,) -> (T, 1)
        if a.ndim != 2:
            raise ValueError(f"sequence {i} has shape {a.shape}; each must be (steps, "
                             f"channels) or (steps,).")
        if len(a) == 0:
            raise ValueError(f"sequence {i} is empty; drop it or give it at least one step.")
        if a.shape[1] == 0:
            raise ValueError(f"sequence {i} has shape {a.shape}, no channels; give each step "
                             f"at least one value.")
        if not np.isfinite(a).all():
            raise ValueError(f"sequence {i} contains NaN/Inf; impute or drop those values.")
        big = a.flat[np.abs(a).argmax()]
        if abs(big) > np.finfo(np.float32).max:
            raise ValueError(f"sequence {i} holds {big:.3g}, beyond float32's range "
                             f"(±3.4e38) the network computes in; rescale the values.")
        if out and a.shape[1] != out[0].shape[1]:
            raise ValueError(f"sequence {i} has {a.shape[1]} channels but sequence 0 has "
                             f"{out[0].shape[1]}; give every sequence the same channels.")
        out.append(a)
    if not out:
        raise ValueError("there are no sequences; give at least one.")
    return out


class SequenceClassifier(RecurrentClassifier):
    """Classify numeric sequences (each (T_i, C), lengths may differ).

    >>> clf = SequenceClassifier(model="gru", hidden=64)
    >>> h = clf.fit(train_x, train_y, validation_data=(val_x, val_y)).history_.history
    >>> h["loss"], h["val_loss"], h["epoch_time"]
    >>> clf.evaluate(test_x, test_y)["accuracy"]
    """

    config_class = SequenceConfig

    def _prepare(self, inputs):
        seqs = as_sequences(inputs)
        if getattr(self, "fitted_", False) and seqs[0].shape[1] != self.channels_:
            hint = (" (a 2-D array is read as N sequences of one channel; pass a list of "
                    "(steps, channels) arrays or an (N, steps, channels) array)"
                    if isinstance(inputs, np.ndarray) and inputs.ndim == 2 else "")
            raise ValueError(f"the sequences have {seqs[0].shape[1]} channel(s) but the model "
                             f"was trained on {self.channels_}{hint}.")
        return seqs

    def _extra_state(self) -> tuple[dict, dict]:
        extras = {"channels": int(self.channels_)}
        if getattr(self, "trained_on_", None):
            extras["trained_on"] = self.trained_on_
        return {"scaler.mean": self.mean_, "scaler.std": self.std_}, extras

    def _restore_extra(self, tensors: dict, extras: dict) -> None:
        self.channels_ = int(extras["channels"])
        self.trained_on_ = extras.get("trained_on")
        self.mean_ = tensors["scaler.mean"].numpy()
        self.std_ = tensors["scaler.std"].numpy()
        for name, a in (("mean", self.mean_), ("std", self.std_)):
            if a.shape != (self.channels_,) or a.dtype != np.float32:
                raise ValueError(f"the scaler's {name} is {a.dtype} {a.shape}, not float32 "
                                 f"({self.channels_},)")

    def _fit_inputs(self, inputs) -> None:
        # which splits of a bundled set trained the model ({"set", "splits"}), when the CLI
        # says so: a new fit forgets it
        self.trained_on_ = None
        # (ΣT, C) in float64: float32 squares overflow to inf from |x| ~ 1e19 (std inf, so
        # every standardised value 0)
        steps = np.concatenate(as_sequences(inputs))  # float64
        self.channels_ = steps.shape[1]
        mean = steps.mean(0)
        std = steps.std(0)
        # A channel whose spread is float rounding (std <= ε max(|mean|, min(1, scale)),
        # e.g. the deltas of a pure tone beside features of order 1) is constant: dividing by
        # that std would blow the noise up to order 1. scale: the largest channel RMS, so data
        # whose every channel is small (values of 1e-7 in their units) is scaled as
        # scikit-learn's StandardScaler scales it, not taken for rounding. ε is the rounding
        # of the precision the channel carries: 1e-6 where every value is a float32 (data
        # made in float32), 1e-12 otherwise (float64: time stamps of 1.7e9 + seconds vary by
        # 3e-8 of their mean, and that is their signal).
        scale = np.sqrt(np.square(steps).mean(0)).max()
        eps = np.where((steps.astype(np.float32) == steps).all(0), 1e-6, 1e-12)  # (C,)
        const = std <= eps * np.maximum(np.abs(mean), min(1.0, scale))
        self.mean_ = mean.astype(np.float32)
        self.std_ = np.where(const, 1.0, std).astype(np.float32)

    def _items(self, inputs) -> list[np.ndarray]:
        seqs = as_sequences(inputs)
        if seqs[0].shape[1] != self.channels_:
            raise ValueError(f"the sequences have {seqs[0].shape[1]} channel(s) but the model "
                             f"was trained on {self.channels_}.")
        out = []
        for i, s in enumerate(seqs):
            z = (s - self.mean_.astype(np.float64)) / self.std_  # (T_i, C), float64
            big = np.abs(z).max()
            if not big <= np.finfo(np.float32).max:  # inf in float32: NaN probabilities
                raise ValueError(f"sequence {i}, standardised with the training data's mean "
                                 f"and std, reaches {big:.3g}, beyond float32's range: its "
                                 f"values lie far outside those the model was trained on "
                                 f"(another unit or scale?); give them on the training "
                                 f"data's scale.")
            out.append(z.astype(np.float32))
        return out

    def _pad(self, items, steps: int) -> torch.Tensor:
        out = torch.zeros(len(items), steps, self.channels_ + 1)  # (B, T, C + 1)
        for i, s in enumerate(items):
            t = min(len(s), steps)
            out[i, :t, :-1] = torch.from_numpy(s[:t])
            out[i, :t, -1] = 1.0  # validity flag
        return out

    def _head(self, steps: int) -> list:
        return [SequenceInput(input_shape=(steps, self.channels_ + 1))]

    def _take(self, inputs, idx):
        if isinstance(inputs, np.ndarray):
            return inputs[idx]
        return [inputs[i] for i in idx]
