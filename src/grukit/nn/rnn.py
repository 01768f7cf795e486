"""grukit.nn.RNN: torch.nn.RNN's drop-in (Elman, tanh or relu; or Keras' other activations)."""

from __future__ import annotations

from torch import Tensor

from .. import cells, ops
from ._base import RecurrentBase, State, bump_weights


class _OneActivation(dict):
    """An RNN's ``_activations``: {"activation": name}. An Elman RNN has no
    ``recurrent_activation``; code written for the GRU's and LSTM's pair that asks for it
    (the ONNX operators' activation list) gets one sentence instead of a KeyError."""

    def __missing__(self, key):
        raise ValueError(f"RNN(nonlinearity={self['activation']!r}) has no {key} (a GRU's "
                         f"or an LSTM's), which the form asked for (the ONNX export of its "
                         f"activation, for one) reads: export or convert an RNN with "
                         f"nonlinearity 'tanh' or 'relu', or run this one with grukit's "
                         f"modules.")


class RNN(RecurrentBase):
    r"""Multi-layer Elman RNN, a drop-in for ``torch.nn.RNN``::

        h' = act(W_ih x + b_ih + W_hh h + b_hh),   act = tanh (default), relu, or Keras' others

    Parameters as ``torch.nn.RNN``: ``weight_ih_l{k}`` (H, ·), ``weight_hh_l{k}`` (H, H),
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (H,).

    Args: as ``torch.nn.RNN``, plus ``backend``, ``check_finite`` and ``recurrent_dropout`` as
    ``grukit.nn.GRU``. ``nonlinearity`` is "tanh" or "relu" as in torch, or another
    activation of ``grukit.ops.activations.ELEMENTWISE`` by Keras' name ("sigmoid", "elu",
    "linear" (None is read as it), ...; Keras' ``SimpleRNN(activation=...)``): those run on
    the reference backend, and have no torch.nn or stream form.
    Inputs/outputs: as ``grukit.nn.GRU``.
    """

    spec = cells.RNN

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", *args, **kwargs):
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, *args, **kwargs)

    @property
    def nonlinearity(self) -> str:
        return self._nonlinearity

    @nonlinearity.setter
    def nonlinearity(self, value) -> None:
        from ..ops import activations

        name = activations.check(value, f"{type(self).__name__}: nonlinearity")
        self._nonlinearity = "linear" if name is None else name  # a string, as torch's
        bump_weights(self)  # a Stream over this module sees the change

    @property
    def _activations(self) -> dict:
        """Keras' ``activation`` where it is not one the fused kernels compute, else {}."""
        act = self._nonlinearity
        return {} if act in ("tanh", "relu") else _OneActivation(activation=act)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity!r}"

    def _run_layer(self, x: Tensor, params: dict, state: State, lengths: Tensor | None,
                   reverse: bool, **masks: Tensor) -> tuple[Tensor, State]:
        y, h = ops.rnn(x, params["weight_ih"], params["weight_hh"], params["bias_ih"],
                       params["bias_hh"], h0=state[0], lengths=lengths,
                       nonlinearity=self.nonlinearity, reverse=reverse, backend=self.backend,
                       **masks)
        return y, (h,)
