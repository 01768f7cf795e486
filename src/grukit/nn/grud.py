"""grukit.nn.GRUD: the GRU with trainable decays for series with missing values (Che et al.
2018)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from .. import cells, ops
from ..ops.grud import final_observed
from ._base import RecurrentBase, State, _number, check_flag


class GRUD(RecurrentBase):
    r"""GRU-D (Che et al. 2018, "Recurrent Neural Networks for Multivariate Time Series with
    Missing Values"): one layer, forward in time.

    Each step reads, per variable d of D, the value x_t (NaN allowed where missing), the mask
    m_t (1 observed, 0 missing) and δ_t, the time since the variable was last observed; x̄ is
    the empirical mean of each variable (the buffer ``x_mean``, set from the training data
    with ``set_empirical_mean``)::

        γ_x = exp(−max(0, w_γx ⊙ δ_t + b_γx))             γ_h = exp(−max(0, W_γh δ_t + b_γh))
        x̂_t = m_t ⊙ x_t + (1 − m_t) ⊙ (γ_x ⊙ x_last,t + (1 − γ_x) ⊙ x̄)
        ĥ = γ_h ⊙ h_{t−1}
        r = σ(W_ir x̂ + W_mr m + b_ir + W_hr ĥ + b_hr)
        z = σ(W_iz x̂ + W_mz m + b_iz + W_hz ĥ + b_hz)
        n = tanh(W_in x̂ + W_mn m + b_in + W_hn (r ⊙ ĥ))          # reset_after=False (default)
        n = tanh(W_in x̂ + W_mn m + b_in + r ⊙ (W_hn ĥ + b_hn))   # reset_after=True
        h_t = (1 − z) ⊙ n + z ⊙ ĥ

    x_last,t is the variable's value at its last observed step ≤ t, and x̄ before its first
    observation. Gate order r, z, n and the labelling of z are those of ``torch.nn.GRU``: the
    paper's update gate is our 1 − z. ``reset_after=False`` is the paper's placement (reset
    before the recurrent product, no ``bias_hh``).

    Parameters (suffix ``_l0``): ``weight_ih`` (3H, D) and ``weight_mh`` (3H, D) on x̂ and
    m (the paper's W and V), ``weight_hh`` (3H, H) (its U), ``bias_ih`` (3H,), ``bias_hh``
    (3H,) with reset_after=True only, ``decay_x_weight``, ``decay_x_bias`` (D,) (diagonal
    input decay), ``decay_h_weight`` (H, D), ``decay_h_bias`` (H,). Buffer ``x_mean`` (D,).

    Inputs: ``gru(x, mask=m, delta=δ)`` with x, m, δ each (B, T, D) (batch_first=True) or
    (T, B, D), or one tensor packing them on its last axis, ``[x, m, δ]`` with 3·D features
    (what a Keras-style ``grukit.layers`` layer passes; ``GRUD.pack`` builds it). ``lengths``
    as ``grukit.nn.GRU``. The state is a pair, as an LSTM's: ``hx = (h_0, x_last_0)``, each
    (1, B, ·), and the output ``(output, (h_n, x_last_n))``: h (1, B, H) and the last
    observed value of each variable (1, B, D), kept as its offset from x̄ (x_last − x̄) so
    that a zero state means nothing observed yet. Carrying it makes a series fed in chunks,
    or one step at a time through ``grukit.nn.Stream`` (risk updated as each measurement
    arrives), give what the whole series gives.

    Args:
        input_size (int): D, the number of variables.
        hidden_size (int): H, the state's units.
        num_layers (int): 1 only (the paper's model has one layer).
        bias (bool): as ``torch.nn.GRU``.
        batch_first (bool): as ``torch.nn.GRU``.
        dropout (float): as ``torch.nn.GRU`` (with one layer, nothing to drop).
        bidirectional (bool): False only (δ counts time forward).
        device (torch.device | str | None): where the parameters are made.
        dtype (torch.dtype | None): the parameters' dtype.
        reset_after (bool): where the reset gate applies (see above).
        backend (str): "auto" or a backend of ``grukit.ops.grud``: "cpu" (fused numba),
            "reference".
        check_finite (bool): raise if x holds Inf where observed (NaN where observed always
            raises).
        recurrent_dropout (float): in training, the probability of dropping each unit of ĥ
            where W_hh reads it (all three gates; the blend reads ĥ itself), one draw per
            sequence for every step (variational, as Keras' ``recurrent_dropout``; Che et
            al.'s released code uses 0.3).
        zoneout (float): 0 only (GRU-D has no zoneout).
        input_dropout (float): in training, the probability of dropping each of [x̂, m]
            where the gates read it, one draw per sequence for every step (variational;
            Che et al.'s released code uses 0.3). The imputation reads the true mask.
        gate_masks (bool): draw both dropouts' masks once per gate r, z, n (state (B, 3H),
            inputs (B, 3, 2D)) instead of one shared by the three gates, as Che et al.'s
            Keras layer (``implementation=1``) does; False: one shared mask each.
    """

    spec = cells.GRUD

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None, *,
                 reset_after: bool = False, backend: str = "auto", check_finite: bool = False,
                 recurrent_dropout: float = 0.0, zoneout: float = 0.0,
                 input_dropout: float = 0.0, gate_masks: bool = False):
        bidirectional = check_flag(bidirectional, "bidirectional", "GRUD")
        if num_layers != 1 or bidirectional:
            raise ValueError(f"GRUD: one layer, forward in time only (δ counts the time since "
                             f"the last observation forward); got num_layers={num_layers}, "
                             f"bidirectional={bidirectional}. Stack a GRU on top for depth.")
        if zoneout:
            raise ValueError(f"GRUD has no zoneout; leave zoneout at 0 (got {zoneout!r}).")
        if not _number(input_dropout) or not 0 <= input_dropout < 1:
            raise ValueError(f"GRUD: input_dropout must be in [0, 1); got {input_dropout!r}.")
        self.reset_after = check_flag(reset_after, "reset_after", "GRUD")
        self.input_dropout = float(input_dropout)
        self.gate_masks = check_flag(gate_masks, "gate_masks", "GRUD")
        super().__init__(input_size, hidden_size, 1, bias, batch_first, dropout, False,
                         device=device, dtype=dtype, backend=backend,
                         recurrent_dropout=recurrent_dropout)
        # x may hold NaN where missing: the op checks (Inf where observed with check_finite)
        self.check_finite_observed = check_flag(check_finite, "check_finite", "GRUD")
        self.register_buffer("x_mean", torch.zeros(input_size, device=device, dtype=dtype))

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """As ``grukit.nn.GRU``, then the decay rates made non-negative and their biases zero:
        w δ + b ≥ 0 at the start, so each γ falls from 1 as δ grows and its gradient flows
        (a negative pre-activation sits in the flat part of max(0, ·) and never learns)."""
        super().reset_parameters()
        for name, p in self.named_parameters():
            if name.startswith("decay_") and "_weight" in name:
                p.abs_()
            elif name.startswith("decay_"):
                p.zero_()

    def extra_repr(self) -> str:
        s = super().extra_repr()
        s = s + ", reset_after=True" if self.reset_after else s
        s = s + f", input_dropout={self.input_dropout}" if self.input_dropout else s
        return s + ", gate_masks=True" if self.gate_masks else s

    def _masks(self, x: Tensor) -> dict[str, Tensor]:
        """The recurrent-dropout mask, (B, H) shared by the gates or (B, 3H) one per gate
        (``gate_masks``); GRU-D has no zoneout."""
        if not (self.recurrent_dropout and self.training):
            return {}
        keep = 1.0 - self.recurrent_dropout
        size = self.hidden_size * (3 if self.gate_masks else 1)
        return {"state_mask": torch.bernoulli(x.new_full((x.shape[0], size), keep)) / keep}

    @torch.no_grad()
    def set_empirical_mean(self, x_mean: Tensor | Sequence[float]) -> GRUD:
        """Set x̄ (D,), the mean of each variable over its observed training values (the
        value imputation decays toward; a data frame's ``df.mean()`` is one). Returns the
        module."""
        what = (f"GRUD.set_empirical_mean: x_mean must be {self.input_size} finite values, "
                f"one per variable")
        try:  # (a pandas Series by labels: torch reads it by position, numpy by its values)
            v = x_mean if isinstance(x_mean, Tensor) else np.array(x_mean, dtype=np.float64)
            v = torch.as_tensor(v, dtype=self.x_mean.dtype)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{what}; got {type(x_mean).__name__} {x_mean!r:.60}.") from err
        if tuple(v.shape) != (self.input_size,):
            raise ValueError(f"{what}; got shape {tuple(v.shape)}.")
        if not bool(torch.isfinite(v).all()):
            raise ValueError(f"{what}; got {v.tolist()} (NaN or Inf: a variable never "
                             f"observed in training has no mean; give it one, e.g. 0).")
        self.x_mean.copy_(v.to(self.x_mean.device))
        return self

    @staticmethod
    def pack(x: Tensor, mask: Tensor, delta: Tensor) -> Tensor:
        """[x, m, δ] on the last axis: (…, D) × 3 -> (…, 3D), the one-tensor input, with 0
        for x where mask is 0 (never read there; ``grukit.models`` refuses NaN in inputs);
        m and δ in x's dtype, or δ's float dtype when x holds integers (in theirs δ = 0.7 h
        was 0)."""
        if not x.is_floating_point():  # (…, D) as floats
            x = x.to(delta.dtype if delta.is_floating_point() else torch.get_default_dtype())
        m = mask.to(x.dtype)
        return torch.cat([torch.where(m > 0, x, 0.0), m, delta.to(x.dtype)], dim=-1)

    def _state_sizes(self) -> tuple[int, ...]:
        """h (H) and the offset of the last observed values from x̄ (D)."""
        return (self.hidden_size, self.input_size)

    def _state_size_names(self) -> tuple[str, ...]:
        return ("hidden", "input_size")

    def _check_input(self, x: object) -> None:
        d = self.input_size
        self.input_size = 3 * d  # the packed width [x, m, δ]
        try:
            super()._check_input(x)
        finally:
            self.input_size = d

    def forward(self, input: Tensor | PackedSequence, hx: object = None, *,
                mask: Tensor | None = None, delta: Tensor | None = None,
                lengths: Tensor | Sequence[int] | None = None):
        """``(output, h_n)`` from x with ``mask`` and ``delta``, or from the packed input
        [x, m, δ] (3·D features) when both are None."""
        if (mask is None) != (delta is None):
            raise ValueError("GRUD: pass both mask= and delta= with x, or neither with the "
                             "packed input [x, m, δ] of 3·input_size features.")
        if mask is not None:
            if isinstance(input, PackedSequence):
                raise TypeError("GRUD: mask= and delta= go with x as a tensor; got a "
                                "PackedSequence. Pack GRUD.pack(x, mask, delta) instead (the "
                                "packed input of 3·input_size features) and leave them out.")
            if not isinstance(input, Tensor):  # the mask's message blamed the mask
                raise TypeError(f"GRUD: x must be a torch.Tensor like mask and delta; got "
                                f"{type(input).__name__}. Convert it with torch.from_numpy(x).")
            for name, v in (("mask", mask), ("delta", delta)):
                if not isinstance(v, Tensor) or v.shape != input.shape:
                    got = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
                    raise ValueError(f"GRUD: {name} must be a tensor of the input's shape "
                                     f"(…, {self.input_size}); got {got}.")
                if v.device != input.device:  # torch's error came from inside pack
                    raise TypeError(f"GRUD: {name} is on {v.device} but x is on "
                                    f"{input.device}; move it with {name}.to(x.device).")
            input = self.pack(input, mask, delta)
        return super().forward(input, hx, lengths=lengths)

    def _run_layer(self, x: Tensor, params: dict, state: State, lengths: Tensor | None,
                   reverse: bool, **masks: Tensor) -> tuple[Tensor, State]:
        xs, m, d = x.split(self.input_size, dim=2)  # 3 × (B, T, D)
        x_last0 = self.x_mean + state[1]  # (B, D)
        keep = None
        if self.input_dropout and self.training:
            p = 1.0 - self.input_dropout
            shape = (xs.shape[0],) + ((3,) if self.gate_masks else ()) + (2 * self.input_size,)
            keep = torch.bernoulli(xs.new_full(shape, p)) / p  # (B, 2D) or (B, 3, 2D)
        y, h = ops.grud(xs, m, d, self.x_mean, params["weight_ih"], params["weight_hh"],
                        params["bias_ih"], params["bias_hh"], params["weight_mh"],
                        params["decay_x_weight"], params["decay_x_bias"],
                        params["decay_h_weight"], params["decay_h_bias"], h0=state[0],
                        x_last0=x_last0, lengths=lengths, reset_after=self.reset_after,
                        backend=self.backend, check_finite=self.check_finite_observed,
                        input_mask=keep,  # (B, 2D), (B, 3, 2D) or None
                        state_mask=masks.get("state_mask"))  # (B, H), (B, 3H) or None
        x_last = final_observed(xs, m, self.x_mean, lengths, x_last0)  # (B, D)
        return y, (h, x_last - self.x_mean)
