"""The clinical network: one recurrent layer over the series, its last state joined with the
static descriptors, and a sigmoid unit — one ``grukit.layers`` layer, so that
``grukit.models.Sequential`` trains it like any other model.

    input (B, T, F + S)  ->  series (B, T, F), descriptors (B, S) from step 0
    RNN(series) -> h_t (B, T, H)          GRU-D reads F = 3·D packed [x, m, δ]
    in training: variational dropout of the recurrent layer's inputs and of the state its
    recurrent weights read (one draw per sequence; Che et al.'s code, 0.3 each), one mask
    per gate with ``gate_masks`` (as that code's Keras layer; the baselines through
    ``gates``), else one shared by the gates
    p_t = σ(w · [dropout(h_t), s] + b)    the risk after step t; the model's output is p_T
"""

from __future__ import annotations

import torch
from torch import Tensor

from ... import cells
from ...layers import Dense, Dropout, Layer
from ...layers.initializers import torch_start
from . import gates

# the estimator's model names -> the cell of grukit.cells that runs it
CELLS = {"grud": "grud", "gru-mean": "gru", "gru-forward": "gru", "gru-simple": "gru",
         "gru-simple-forward": "gru", "lstm-mean": "lstm"}


class ClinicalNetwork(Layer):
    """(B, T, F + S) -> (B, 1) risk at the last step, or (B, T) after every step with
    ``per_step=True``."""

    def __init__(self, model: str, hidden: int, series: int, dropout: float = 0.0, *,
                 input_shape=None, name: str | None = None):
        super().__init__(input_shape=input_shape, name=name)
        if model not in CELLS:
            raise ValueError(f"model must be one of {', '.join(CELLS)}; got {model!r}.")
        self.model, self.hidden, self.series, self.dropout = model, hidden, series, dropout
        spec = cells.GRUD if CELLS[model] == "grud" else cells.get(CELLS[model])
        layer = spec.layer_class()  # torch's initial weights (the recorded results')
        self.rnn = layer(hidden, return_sequences=True, **torch_start(layer))
        self.drop = Dropout(dropout) if dropout else None
        self.head = Dense(1, activation="sigmoid", **torch_start(Dense))
        self.per_step = False
        self.input_dropout = 0.0  # the baselines' (GRU-D drops inside its op)
        self.gate_masks = False

    def set_empirical_mean(self, x_mean) -> None:
        """GRU-D's x̄ (D,) (its buffer, saved with the weights); other cells have none."""
        if self.model == "grud":
            self.rnn.rnn.set_empirical_mean(torch.as_tensor(x_mean, dtype=torch.float32))

    def set_input_dropout(self, rate: float) -> None:
        """Variational dropout of the recurrent layer's inputs in training, one draw per
        sequence for every step: GRU-D's [x̂, m] where its gates read them (inside its op),
        a baseline's series as it reads it. Che et al.'s code: 0.3 for GRU-D and the GRU
        baselines, which it builds from the same layer."""
        if self.model == "grud":
            self.rnn.rnn.input_dropout = float(rate)
        else:
            self.input_dropout = float(rate)

    def set_recurrent_dropout(self, rate: float) -> None:
        """Variational dropout of the state where the recurrent weights read it, in training
        (GRU-D: ĥ; Keras' ``recurrent_dropout``; Che et al.'s code: 0.3)."""
        self.rnn.rnn.recurrent_dropout = float(rate)

    def set_gate_masks(self, on: bool) -> None:
        """Draw the input and recurrent dropout masks once per gate (Che et al.'s Keras
        layer, ``implementation=1``, for GRU-D and the GRU baselines alike) instead of one
        shared by the gates."""
        self.gate_masks = bool(on)
        if self.model == "grud":
            self.rnn.rnn.gate_masks = bool(on)

    def _per_gate(self, series: Tensor) -> Tensor:
        """A baseline's y (B, T, H) in training with one dropout mask per gate."""
        rnn, batch = self.rnn.rnn, series.shape[0]
        n = 4 if self.model == "lstm-mean" else 3
        keep_in = gates.draw(batch, n, self.series, self.input_dropout, series)  # (B, n, F)
        keep_h = gates.draw(batch, n, self.hidden, rnn.recurrent_dropout, series)  # (B, n, H)
        run = gates.lstm if self.model == "lstm-mean" else gates.gru
        return run(rnn, series, keep_in, keep_h)

    def call(self, x: Tensor, lengths: Tensor | None):
        series, static = x[..., :self.series], x[:, 0, self.series:]  # (B, T, F), (B, S)
        if self.gate_masks and self.training and self.model != "grud" \
                and (self.input_dropout or self.rnn.rnn.recurrent_dropout):
            y = self._per_gate(series)  # (B, T, H)
        else:
            if self.input_dropout and self.training:
                p = 1.0 - self.input_dropout
                keep = torch.bernoulli(series.new_full((series.shape[0], 1, self.series), p))
                series = series * (keep / p)  # (B, 1, F): one draw per sequence
            y, _ = self.rnn(series, None)  # (B, T, H)
        if self.drop is not None:
            y, _ = self.drop(y, None)
        if not self.per_step:
            y = y[:, -1:]  # (B, 1, H)
        s = static[:, None, :].expand(-1, y.shape[1], -1)  # (B, T', S)
        p, _ = self.head(torch.cat([y, s], dim=-1), None)  # (B, T', 1)
        return (p[..., 0] if self.per_step else p[:, 0]), None

    def _config(self) -> dict:
        return {"model": self.model, "hidden": self.hidden, "series": self.series,
                "dropout": self.dropout}
