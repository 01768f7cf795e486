"""grukit.nn.LayerNormGRU: the GRU with layer-normalised pre-activations (Ba et al. 2016)."""

from __future__ import annotations

from torch import Tensor

from .. import cells, ops
from ._base import RecurrentBase, State, check_flag


class LayerNormGRU(RecurrentBase):
    r"""Multi-layer LayerNorm-GRU (Ba et al. 2016, §3.1; as haste's ``LayerNormGRU``).

    The input and the recurrent pre-activations are each layer-normalised over their 3H
    gate rows (one mean and variance per sequence and step), then scaled by a gain g and
    shifted by β::

        LN(v; g, β) = (v − mean(v)) / sqrt(var(v) + 1e-5) ⊙ g + β

    For each step, with gate order r, z, n (the layout of ``torch.nn.GRU``)::

        gi = LN(W_ih x; g_ih, β_ih) + b_ih        gh = LN(W_hh h; g_hh, β_hh) + b_hh
        r = σ(gi_r + gh_r)
        z = σ(gi_z + gh_z)
        n = tanh(gi_n + r ⊙ gh_n)                        # reset_after=True (default)
        h' = (1 − z) ⊙ n + z ⊙ h

    ``reset_after=False`` (Cho et al. 2014): W_hn multiplies r ⊙ h, so the recurrent rows
    are normalised in two groups, the r, z rows over 2H values and the n rows over H, with
    the matching slices of g_hh, β_hh; there is no ``bias_hh``::

        [gh_r; gh_z] = LN(W_h[r,z] h; g_hh[:2H], β_hh[:2H])
        n = tanh(gi_n + LN(W_hn (r ⊙ h); g_hh[2H:], β_hh[2H:]))

    Parameters: those of ``grukit.nn.GRU`` with the same names, shapes and gate order
    (``weight_ih_l{k}`` (3H, ·), ``weight_hh_l{k}`` (3H, H), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (3H,)), then ``ln_ih_weight_l{k}``, ``ln_ih_bias_l{k}``,
    ``ln_hh_weight_l{k}``, ``ln_hh_bias_l{k}`` (3H,): the gains g (initially 1) and shifts
    β (initially 0) of the two normalisations; ``_reverse`` for the backward direction.
    ``bias=False`` drops the biases and the shifts, not the gains.

    Args:
        reset_after (bool): where the reset gate applies (see above).

    Other Parameters:
        input_size (int): I, the features of each step.
        hidden_size (int): H, the units of each layer.
        num_layers (int): L, stacked layers (default 1).
        bias (bool): with the biases and the shifts β (default True; the gains stay).
        batch_first (bool): input and output as (B, T, ·) instead of (T, B, ·).
        dropout (float): dropout on the outputs of each layer but the last, in training.
        bidirectional (bool): a second direction that reads the sequence backwards (D = 2).
        device (torch.device | str | None): where the parameters are made.
        dtype (torch.dtype | None): the parameters' dtype.
        backend (str): "auto" or a backend name of ``grukit.ops.lngru``: "cpu" (fused
            numba), "triton", "reference".
        check_finite (bool): as ``grukit.nn.GRU``.
        recurrent_dropout (float): as ``grukit.nn.GRU`` (the fused CPU kernel serves it
            too).

    The first nine of these are ``torch.nn.GRU``'s, in its order (positional as there, with
    ``proj_size``, 0 here, between ``bidirectional`` and ``device``); the others are
    keyword-only, as ``reset_after``.

    Inputs/outputs: as ``grukit.nn.GRU``.
    """

    spec = cells.LNGRU

    def __init__(self, *args, reset_after: bool = True, **kwargs):
        self.reset_after = check_flag(reset_after, "reset_after", "LayerNormGRU")
        super().__init__(*args, **kwargs)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.reset_after else s + ", reset_after=False"

    def _run_layer(self, x: Tensor, params: dict, state: State, lengths: Tensor | None,
                   reverse: bool, **masks: Tensor) -> tuple[Tensor, State]:
        y, h = ops.lngru(x, params["weight_ih"], params["weight_hh"], params["bias_ih"],
                         params["bias_hh"], params["ln_ih_weight"], params["ln_ih_bias"],
                         params["ln_hh_weight"], params["ln_hh_bias"], h0=state[0],
                         lengths=lengths, reset_after=self.reset_after, reverse=reverse,
                         backend=self.backend, **masks)
        return y, (h,)
