"""One-step cells, drop-ins for torch.nn.GRUCell, LSTMCell and RNNCell (parameters from
their cell's spec in ``grukit.cells``)."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import cells
from ..cells import CellSpec
from ..ops import gru_step, lstm_step, rnn_step
from ._base import check_flag, positive_size


class _CellBase(nn.Module):
    spec: ClassVar[CellSpec]

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        name = type(self).__name__
        input_size = positive_size(input_size, "input_size", name)
        hidden_size = positive_size(hidden_size, "hidden_size", name)
        bias = check_flag(bias, "bias", name)  # bias="False" would build the biases
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        factory = {"device": device, "dtype": dtype}
        options = {k: getattr(self, k) for k in self.spec.options}
        shapes = self.spec.param_shapes(input_size, hidden_size, 0, bias, **options)
        for p in self.spec.params:  # weight_ih (G·H, I), weight_hh (G·H, H), biases (G·H,)
            shape = shapes.get(p.name)
            setattr(self, p.name,
                    None if shape is None else nn.Parameter(torch.empty(shape, **factory)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(−1/√H, 1/√H), as torch.nn."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            nn.init.uniform_(w, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")
        for k, default in self.spec.options.items():  # reset_after=False, nonlinearity='relu'
            value = getattr(self, k, default)
            s += "" if value == default else f", {k}={value!r}"
        return s

    def _prepare(self, x: object, states: list[tuple[str, object]]) -> tuple[Tensor, list,
                                                                             bool]:
        """x (B, I) or (I,) and states (B, H) or (H,) -> batched x, states, unbatched."""
        cls = type(self).__name__
        if not isinstance(x, Tensor) or not x.is_floating_point():
            got = x.dtype if isinstance(x, Tensor) else type(x).__name__  # (an array: its type)
            raise TypeError(f"{cls}: input must be a floating-point tensor of shape (batch, "
                            f"{self.input_size}); got {got}. Convert it with "
                            f"torch.as_tensor(input, dtype=torch.float32).")
        if x.dim() not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{cls}: input must have shape (batch, input_size) = "
                             f"(B, {self.input_size}) or ({self.input_size},); "
                             f"got {tuple(x.shape)}.")
        w = self.weight_ih
        if x.dtype != w.dtype or x.device != w.device:
            raise TypeError(f"{cls}: the input is {x.dtype} on {x.device} but the weights are "
                            f"{w.dtype} on {w.device}; convert the input with "
                            f"input.to({w.dtype}) (or the cell with cell.to(input.dtype)).")
        unbatched = x.dim() == 1
        xb = x.unsqueeze(0) if unbatched else x
        out = []
        for name, h in states:
            if h is None:
                out.append(xb.new_zeros(xb.shape[0], self.hidden_size))
                continue
            want = (self.hidden_size,) if unbatched else (xb.shape[0], self.hidden_size)
            if not isinstance(h, Tensor) or tuple(h.shape) != want:
                got = tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__
                raise ValueError(f"{cls}: {name} must have shape {want} to match the input; "
                                 f"got {got}.")
            if h.dtype != x.dtype or h.device != x.device:
                raise TypeError(f"{cls}: {name} is {h.dtype} on {h.device} but the input is "
                                f"{x.dtype} on {x.device}; move it with {name}.to(input).")
            out.append(h.unsqueeze(0) if unbatched else h)
        return xb, out, unbatched


class GRUCell(_CellBase):
    r"""One GRU step, a drop-in for ``torch.nn.GRUCell`` (same equations and layout as
    ``grukit.nn.GRU``; ``reset_after=False`` gives the Cho et al. 2014 form, no ``bias_hh``).

    Inputs: ``input`` (B, I) or (I,), ``hx`` (B, H) or None. Output: h' (B, H).
    """

    spec = cells.GRU

    def __init__(self, *args, reset_after: bool = True, **kwargs):
        self.reset_after = check_flag(reset_after, "reset_after", "GRUCell")
        super().__init__(*args, **kwargs)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._prepare(input, [("hx", hx)])
        gi = F.linear(x, self.weight_ih, self.bias_ih)  # (B, 3H)
        h = gru_step(gi, h, self.weight_hh, self.bias_hh, self.reset_after)
        return h.squeeze(0) if unbatched else h


class LSTMCell(_CellBase):
    r"""One LSTM step, a drop-in for ``torch.nn.LSTMCell`` (gate order i, f, g, o).

    Inputs: ``input`` (B, I), ``(h, c)`` or None. Output: ``(h', c')`` each (B, H).
    """

    spec = cells.LSTM

    def forward(self, input: Tensor,
                hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"LSTMCell: hx must be a pair (h, c) or None; "
                            f"got {type(hx).__name__}.")
        h0, c0 = (None, None) if hx is None else hx
        x, (h, c), unbatched = self._prepare(input, [("h", h0), ("c", c0)])
        gi = F.linear(x, self.weight_ih, self.bias_ih)  # (B, 4H)
        h, c = lstm_step(gi, h, c, self.weight_hh, self.bias_hh, None)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class RNNCell(_CellBase):
    r"""One Elman step ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, a drop-in for
    ``torch.nn.RNNCell``.
    """

    spec = cells.RNN

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None):
        from ..ops import activations

        # as grukit.nn.RNN: tanh and relu as torch's, or another of Keras' activations
        name = activations.check(nonlinearity, "RNNCell: nonlinearity")
        self.nonlinearity = "linear" if name is None else name
        super().__init__(input_size, hidden_size, bias, device, dtype)

    @property
    def _activations(self) -> dict:
        """Keras' ``activation`` where it is not tanh or relu (which torch.nn's RNNCell and
        the ONNX forms compute), else {}."""
        act = self.nonlinearity
        return {} if act in ("tanh", "relu") else {"activation": act}

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._prepare(input, [("hx", hx)])
        gi = F.linear(x, self.weight_ih, self.bias_ih)  # (B, H)
        h = rnn_step(gi, h, self.weight_hh, self.bias_hh, self.nonlinearity)
        return h.squeeze(0) if unbatched else h
