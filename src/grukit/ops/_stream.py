"""The one-step streaming fast paths: what they share, and how ``grukit.nn.Stream`` asks.

Each family with a streaming kernel registers it with dispatch as the op
``"<family>_stream"`` (``gru_stream``, ``lstm_stream``, ``rnn_stream``, ``mingru_stream``,
``lngru_stream``), backend "cpu", with ``why_not`` below. A call names the carried state
and the step::

    fn = dispatch.select("gru_stream", "auto", h=h, x_ndim=1, reset_after=True)
    kern = fn([h (L, H) numpy view], input_size, reset_after=True)   # a StreamKernel
    params = kern.pack(layers)           # layers: one dict of weight tensors per layer
    kern.step(x (I,), h (L, H), params, kern.extra)   # updates h (and an LSTM's c) in place

The packed layout of the weights is the kernel's business: only ``pack`` writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ._cpu import DTYPES, _numba_missing

Layer = Mapping[str, Tensor | None]  # weight_ih, weight_hh, bias_ih, bias_hh of one layer


@dataclass(frozen=True)
class StreamKernel:
    """A compiled one-step kernel bound to one carried state.

    ``step(x, h, params, extra)``: x (I,) any 1-D array of the state's dtype, h (L, H) the
    carried state (updated in place), params from ``pack``, extra the kernel's own argument
    (a GRU's or LayerNorm-GRU's reset_after, an LSTM's cell state (L, H), an RNN's relu
    flag; a minGRU's is unused).
    ``pack(layers)``: every layer's weights in the kernel's layout, one flat array.
    ``finite(x)``: True when the 1-D x holds no NaN/Inf (compiled, ~0.1 µs).
    """

    step: Callable
    extra: object
    pack: Callable[[Sequence[Layer]], np.ndarray]
    finite: Callable[[np.ndarray], bool]


def why_not(h: Tensor, x_ndim: int, proj_size: int = 0, **_: object) -> str | None:
    """None when a streaming kernel can step the state h (L, B, H) with one x of rank
    ``x_ndim``, else the reason."""
    if h.device.type != "cpu":
        return f"the state is on {h.device}; the streaming kernels run on the CPU."
    if h.dtype not in DTYPES:
        return f"the state is {h.dtype}; the streaming kernels serve float32 and float64."
    if h.shape[1] != 1:
        return f"batch of {h.shape[1]}; the streaming kernels step one sequence."
    if x_ndim != 1:
        return f"a step of rank {x_ndim}; the streaming kernels take x of shape (input_size,)."
    if proj_size:
        return "the streaming LSTM kernel has no projection (proj_size > 0)."
    return _numba_missing()


def torch_dtype(a: np.ndarray) -> torch.dtype:
    """The torch dtype of a numpy array's (float32 or float64)."""
    return torch.float32 if a.dtype == np.float32 else torch.float64


def pack(layers: Sequence[Layer], dtype: torch.dtype, gates: int,
         whh_t: Callable[[Tensor], Tensor] = lambda w: w.t()) -> np.ndarray:
    """[W_ihᵀ (In·G·H), W_hhᵀ (H·G·H), b_ih (G·H), b_hh (G·H)] per layer, row-major, layer
    after layer, in ``dtype``; a missing bias packs as zeros. ``whh_t`` lays out W_hhᵀ."""
    parts = []
    for p in layers:
        w_hh = p["weight_hh"].detach()
        zeros = torch.zeros(w_hh.shape[0], dtype=dtype)  # (G·H,)
        b_ih, b_hh = p["bias_ih"], p["bias_hh"]
        parts += [p["weight_ih"].detach().t(), whh_t(w_hh),
                  zeros if b_ih is None else b_ih.detach(),
                  zeros if b_hh is None else b_hh.detach()]
    return torch.cat([t.reshape(-1).to(dtype) for t in parts]).numpy()


def entry_point(kernel, args: tuple):
    """The compiled function a numba kernel runs for arguments typed like ``args``, called
    without numba's per-call type dispatch (~0.3 µs of a ~2.5 µs step). x (the first
    argument) is typed as any 1-D array of its dtype (strided, unaligned or read-only: its I
    elements are read one by one), so the hot path need only check its type, shape and dtype;
    the state and packed weights share the state's dtype and layout for the Stream's life."""
    import numba
    from numba import types

    x_any = types.Array(numba.typeof(args[0]).dtype, 1, "A", readonly=True, aligned=False)
    return kernel.compile((x_any, *(numba.typeof(a) for a in args[1:])))


def _finite_py(x) -> bool:
    for i in range(x.shape[0]):
        if not np.isfinite(x[i]):
            return False
    return True


_FINITE: list = []


def all_finite() -> Callable[[np.ndarray], bool]:
    """A compiled ``np.isfinite(x).all()`` for a 1-D x without numba's per-call dispatch
    (~0.1 µs against ~1.5 µs for the numpy call on a few elements)."""
    if not _FINITE:
        import numba

        from . import _numba_cache  # noqa: F401  (its cache stamp: see there)

        _FINITE.append(numba.njit(cache=True)(_finite_py))
    return _FINITE[0]


def build(kernel, h: np.ndarray, input_size: int, extra: object,
          packer: Callable[[Sequence[Layer]], np.ndarray]) -> StreamKernel:
    """A ``StreamKernel`` for the numba ``kernel(x, h, params, extra)`` on state h (L, H);
    ``packer`` packs in h's dtype."""
    args = (np.empty(input_size, h.dtype), h, np.empty(1, h.dtype), extra)
    return StreamKernel(entry_point(kernel, args), extra, packer, all_finite())
