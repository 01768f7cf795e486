"""The classifier network: an input stage, a (bidirectional) GRU or LSTM over time, additive
attention pooling, and a softmax layer — a ``grukit.models.Sequential``."""

from __future__ import annotations

from torch import Tensor

from ... import cells
from ...layers import AttentionPooling, Bidirectional, Dense, Dropout, Layer
from ...layers.initializers import torch_start
from ...models import Sequential

# every cell of grukit.cells, then each run both ways ("bigru")
MODELS = (*cells.names(), *(f"bi{name}" for name in cells.names()))


def display(model: str) -> str:
    """A model's name in tables and plots, from its cell's spec: "BiGRU", "minGRU"."""
    bi = model.startswith("bi") and model[2:] in cells.names()
    return ("Bi" if bi else "") + cells.get(model[2:] if bi else model).display


class SequenceInput(Layer):
    """Padded numeric sequences with a validity channel -> data and lengths.

    (B, T, C + 1), last channel 1 on a sequence's steps and 0 on its right padding ->
    (B, T, C) and lengths (B,). The flag travels inside the tensor because ``fit`` batches
    a single input tensor; it leaves no doubt about which steps are padding (a zero-valued
    mask, as Keras' ``Masking``, would confuse padding with real zeros).
    """

    def call(self, x: Tensor, lengths: Tensor | None):
        valid = x[..., -1] > 0.5  # (B, T)
        return x[..., :-1], valid.sum(1)

    def onnx_graph(self, g, x: str, lengths: str | None):
        """The same split as ONNX nodes (``grukit.export``: a layer writes its own)."""
        flag = g.slice(x, 2, -1, 2 ** 62)  # (B, T, 1)
        valid = g.op("Cast", [g.op("Greater", [flag, g.scalar(0.5)])], to=7)  # int64
        lens = g.op("ReduceSum", [valid, g.ints(1, 2)], "lengths", keepdims=0)  # (B,)
        return g.slice(x, 2, 0, -1), lens  # (B, T, C), (B,)


def recurrent(model: str, hidden: int) -> Layer:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {list(MODELS)}.")
    cell = model.removeprefix("bi") if model.startswith("bi") else model
    kind = cells.get(cell).layer_class()  # torch's initial weights (the recorded results')
    layer = kind(hidden, return_sequences=True, **torch_start(kind))
    return Bidirectional(layer) if model.startswith("bi") else layer


def build_network(head: list[Layer], model: str, hidden: int, classes: int,
                  dropout: float) -> Sequential:
    """head -> RNN (B, T, D·H) -> AttentionPooling (B, D·H) -> Dropout -> Dense (B, K)."""
    layers = head + [recurrent(model, hidden), AttentionPooling()]
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(Dense(classes, activation="softmax", **torch_start(Dense)))
    return Sequential(layers, name=f"{model}_classifier")
