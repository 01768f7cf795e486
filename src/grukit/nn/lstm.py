"""grukit.nn.LSTM: torch.nn.LSTM's drop-in (projection included)."""

from __future__ import annotations

import math
import numbers

from torch import Tensor

from .. import cells, ops
from ._base import KerasActivations, RecurrentBase, State, activations_repr


class LSTM(KerasActivations, RecurrentBase):
    r"""Multi-layer long short-term memory, a drop-in for ``torch.nn.LSTM``.

    Gate order i, f, g, o (torch layout)::

        i = σ(W_ii x + b_ii + W_hi h + b_hi)      f = σ(W_if x + b_if + W_hf h + b_hf)
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)   o = σ(W_io x + b_io + W_ho h + b_ho)
        c' = f ⊙ c + i ⊙ g
        h' = o ⊙ tanh(c')                         (h' = W_hr (o ⊙ tanh(c')) if proj_size > 0)

    Parameters as ``torch.nn.LSTM``: ``weight_ih_l{k}`` (4H, ·), ``weight_hh_l{k}`` (4H, P),
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (4H,), ``weight_hr_l{k}`` (P, H) with a projection.

    Args:
        forget_bias (float | None): when given, the forget-gate slice of ``bias_ih`` is set
            to it and that of ``bias_hh`` to 0 at initialisation (Jozefowicz et al. 2015
            recommend 1.0); a finite number, not a bool (Keras' ``unit_forget_bias=True`` is
            1.0). Nothing to set with ``bias=False``.

    Other Parameters:
        input_size (int): I, the features of each step.
        hidden_size (int): H, the units of each layer (the cell state's size).
        num_layers (int): L, stacked layers (default 1).
        bias (bool): with the biases ``b_ih`` and ``b_hh`` (default True).
        batch_first (bool): input and output as (B, T, ·) instead of (T, B, ·).
        dropout (float): dropout on the outputs of each layer but the last, in training.
        bidirectional (bool): a second direction that reads the sequence backwards (D = 2).
        proj_size (int): P, the size of h after the projection ``W_hr`` (0: none, P = H).
        device (torch.device | str | None): where the parameters are made.
        dtype (torch.dtype | None): the parameters' dtype.
        backend (str): "auto" or a backend name of ``grukit.ops.lstm``, as
            ``grukit.nn.GRU``'s.
        check_finite (bool): as ``grukit.nn.GRU``.
        recurrent_dropout (float): as ``grukit.nn.GRU``.
        activation, recurrent_activation (str): Keras' names replacing tanh (g, c') and σ
            (i, f, o), e.g. "relu" (Keras' ``LSTM(activation="relu")``); as
            ``grukit.nn.GRU``'s.

    The first ten of these are ``torch.nn.LSTM``'s, in its order (positional as there); the
    others are keyword-only, as ``forget_bias``.

    Inputs: ``input``, ``(h_0, c_0)`` or None, keyword ``lengths``.
    Outputs: ``output`` (T, B, D·P), ``(h_n (L·D, B, P), c_n (L·D, B, H))``.
    """

    spec = cells.LSTM

    def __init__(self, *args, forget_bias: float | None = None, activation: str = "tanh",
                 recurrent_activation: str = "sigmoid", **kwargs):
        if forget_bias is not None and (
                isinstance(forget_bias, bool) or not isinstance(forget_bias, numbers.Real)
                or not math.isfinite(forget_bias)):
            raise TypeError(f"LSTM: forget_bias must be a finite number (1.0 as Jozefowicz et "
                            f"al. 2015) or None; got {forget_bias!r}.")
        self.forget_bias = None if forget_bias is None else float(forget_bias)
        self.activation, self.recurrent_activation = activation, recurrent_activation
        super().__init__(*args, **kwargs)

    def extra_repr(self) -> str:
        return super().extra_repr() + activations_repr(self)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.forget_bias is None or not self.bias:
            return
        h = self.hidden_size
        for name, p in self.named_parameters():
            if name.startswith("bias_ih"):
                p.data[h:2 * h] = self.forget_bias
            elif name.startswith("bias_hh"):
                p.data[h:2 * h] = 0.0

    def _run_layer(self, x: Tensor, params: dict, state: State, lengths: Tensor | None,
                   reverse: bool, **masks: Tensor) -> tuple[Tensor, State]:
        y, (h, c) = ops.lstm(x, params["weight_ih"], params["weight_hh"], params["bias_ih"],
                             params["bias_hh"], weight_hr=params["weight_hr"],
                             h0=(state[0], state[1]), lengths=lengths, reverse=reverse,
                             backend=self.backend, **masks, **self._activations)
        return y, (h, c)
