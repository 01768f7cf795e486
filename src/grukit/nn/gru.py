"""grukit.nn.GRU: torch.nn.GRU's drop-in, plus the textbook GRU (``reset_after=False``)."""

from __future__ import annotations

from torch import Tensor

from .. import cells, ops
from ._base import KerasActivations, RecurrentBase, State, activations_repr, check_flag


class GRU(KerasActivations, RecurrentBase):
    r"""Multi-layer gated recurrent unit, a drop-in for ``torch.nn.GRU``.

    For each step, with gate order r, z, n (the layout of ``torch.nn.GRU`` and cuDNN)::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)
        z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))     # reset_after=True (default)
        n = tanh(W_in x + b_in + W_hn (r ⊙ h))            # reset_after=False (Cho et al. 2014)
        h' = (1 − z) ⊙ n + z ⊙ h

    The textbook writes ``h' = (1 − z) h + z n``: the same family with z relabelled (z ↔ 1 − z).

    Parameters have torch's names and shapes, so ``load_state_dict`` of a ``torch.nn.GRU``
    works unchanged: ``weight_ih_l{k}`` (3H, I or D·H) = [W_ir; W_iz; W_in], ``weight_hh_l{k}``
    (3H, H), ``bias_ih_l{k}`` and ``bias_hh_l{k}`` (3H,), with ``_reverse`` for the backward
    direction. ``reset_after=False`` has no ``bias_hh_l{k}`` (as Keras: 12,672 parameters
    for GRU(64) on one feature instead of 12,864).

    Args:
        reset_after (bool): where the reset gate applies (see above).

    Other Parameters:
        input_size (int): I, the features of each step.
        hidden_size (int): H, the units of each layer.
        num_layers (int): L, stacked layers (default 1).
        bias (bool): with the biases ``b_ih`` and ``b_hh`` (default True).
        batch_first (bool): input and output as (B, T, ·) instead of (T, B, ·).
        dropout (float): dropout on the outputs of each layer but the last, in training.
        bidirectional (bool): a second direction that reads the sequence backwards (D = 2).
        device (torch.device | str | None): where the parameters are made.
        dtype (torch.dtype | None): the parameters' dtype.
        backend (str): "auto" or a backend name of ``grukit.ops.gru``: "cpu" (fused numba),
            "torch" (torch's own GRU, cuDNN on a GPU; reset_after=True only), "triton",
            "reference".
        check_finite (bool): raise ``ValueError`` on NaN/Inf in the input.
        recurrent_dropout (float): fraction of the state fed to the recurrent weights
            dropped in training, one mask per layer, direction and forward (Keras'
            recurrent_dropout).
        zoneout (float): probability that a unit keeps its previous state at a step in
            training; in evaluation the expectation (Krueger et al. 2017).
        activation, recurrent_activation (str): Keras' names replacing tanh (n) and σ (r,
            z), e.g. "relu" (Keras' ``GRU(activation="relu")``); any other than tanh and σ
            runs on the reference backend, and has no torch.nn, ONNX or stream form.

    The first nine of these are ``torch.nn.GRU``'s, in its order (positional as there, where
    torch's ``proj_size``, 0 for a GRU, comes between ``bidirectional`` and ``device``); the
    others are keyword-only, as ``reset_after``.

    Inputs: ``input`` (T, B, I), (B, T, I) with ``batch_first``, (T, I) unbatched, or a
    ``PackedSequence``; ``hx`` (L·D, B, H) or None; keyword ``lengths`` (B,).
    Outputs: ``output`` (T, B, D·H) and ``h_n`` (L·D, B, H).
    """

    spec = cells.GRU

    def __init__(self, *args, reset_after: bool = True, activation: str = "tanh",
                 recurrent_activation: str = "sigmoid", **kwargs):
        self.reset_after = check_flag(reset_after, "reset_after", "GRU")
        self.activation, self.recurrent_activation = activation, recurrent_activation
        super().__init__(*args, **kwargs)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return (s if self.reset_after else s + ", reset_after=False") + activations_repr(self)

    def _run_layer(self, x: Tensor, params: dict, state: State, lengths: Tensor | None,
                   reverse: bool, **masks: Tensor) -> tuple[Tensor, State]:
        y, h = ops.gru(x, params["weight_ih"], params["weight_hh"], params["bias_ih"],
                       params["bias_hh"], h0=state[0], lengths=lengths,
                       reset_after=self.reset_after, reverse=reverse, backend=self.backend,
                       **masks, **self._activations)
        return y, (h,)
