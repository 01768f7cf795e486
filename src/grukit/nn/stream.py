"""Streaming: feed a recurrent module one step (or one chunk) at a time, state carried.

    stream = grukit.nn.Stream(model)       # a unidirectional GRU, LSTM, RNN or MinGRU
    for x_t in source:                     # x_t: (I,) or (B, I), numpy or torch
        y_t = stream.step(x_t)             # the top layer's output for this step
    y = stream.feed(chunk)                 # (T, I) or (B, T, I): several steps at once

Steps and chunks give exactly what the whole sequence gives at once. A Stream is for
inference: nothing it computes carries gradients, and dropout is off. A GRU, an LSTM
(without projection) or an RNN on CPU fed one sequence at a time takes a fast path (one
fused numba call per step, no torch dispatch); its weights are packed on the first step
and re-packed whenever a parameter changes in place (an optimizer step,
``load_state_dict``). Parameters replaced by new tensors (``module.to``) are seen by
``feed`` and by steps with torch input; call ``reset()`` to re-read them on the numpy hot
path too.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ._base import RecurrentBase
from .gru import GRU
from .lstm import LSTM
from .rnn import RNN


class Stream:
    """Carry a recurrent module's state across calls. See the module docstring."""

    def __init__(self, module: RecurrentBase, batch_size: int = 1):
        if not isinstance(module, RecurrentBase):
            raise TypeError(f"Stream needs a grukit.nn GRU, LSTM, RNN or MinGRU; got "
                            f"{type(module).__name__}. Convert a torch.nn module with "
                            f"grukit.convert.from_torch first.")
        if module.bidirectional:
            raise ValueError("a bidirectional layer needs the whole sequence (its backward "
                             "direction starts at the end), so it cannot stream; stream a "
                             "unidirectional model.")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
        self.module = module
        self.batch_size = batch_size
        self._packed = np.empty(0)
        self._versions: list = []
        self._params: list = []
        self._ids: list = []
        self.reset()

    # -- state ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Start over from zero state."""
        p = next(self.module.parameters())
        shape = (self.module.num_layers, self.batch_size)
        self._set_state([torch.zeros(*shape, s, dtype=p.dtype, device=p.device)
                         for s in self.module._state_sizes()])  # each (L, B, S)

    def _set_state(self, hs: list[Tensor]) -> None:
        self._h = hs
        self._fast = None  # (kernel, h view (L, H), GRU reset_after / LSTM c view / RNN relu,
        #                     shape, dtype) once it runs
    @property
    def state(self):
        """The carried state in the module's ``hx`` format: h (L, B, H), or (h, c)."""
        return (self._h[0], self._h[1]) if isinstance(self.module, LSTM) else self._h[0]

    # -- feeding ----------------------------------------------------------------------------
    def feed(self, chunk) -> Tensor:
        """Several steps: chunk (T, I) or (B, T, I) -> outputs (T, H') or (B, T, H')."""
        x = torch.as_tensor(chunk)
        unbatched = x.dim() == 2
        x = x.unsqueeze(0) if unbatched else x  # (B, T, I)
        self._check_batch(x.shape[0])
        x = x if self.module.batch_first else x.transpose(0, 1)
        training = self.module.training
        self.module.eval()  # inference: no dropout between layers, as on the fast path
        try:
            with torch.no_grad():
                y, hx = self.module(x.to(self._h[0].dtype), self.state)
        finally:
            self.module.train(training)
        self._set_state(list(hx) if isinstance(hx, tuple) else [hx])
        y = y if self.module.batch_first else y.transpose(0, 1)  # (B, T, H')
        return y[0] if unbatched else y

    def step(self, x_t):
        """One step: x_t (I,) or (B, I), numpy or torch -> output (H',) or (B, H'), same kind."""
        fast = self._fast
        if (fast is not None and type(x_t) is np.ndarray and x_t.shape == fast[3]
                and x_t.dtype == fast[4] and x_t.flags.carray):  # the hot path, bare minimum
            if [p._version for p in self._params] != self._versions:
                self._pack()
            if type(fast[2]) is np.ndarray:  # LSTM: (x, h, c, params)
                fast[0](x_t, fast[1], fast[2], self._packed)
            else:  # GRU: (x, h, params, reset_after); RNN: (x, h, params, relu)
                fast[0](x_t, fast[1], self._packed, fast[2])
            return fast[1][-1].copy()
        if self._fast_ok(x_t):
            return self._fast_step(x_t, fast if fast is not None else self._fast_setup())
        is_np = isinstance(x_t, np.ndarray)
        x = torch.as_tensor(x_t)
        if x.dim() not in (1, 2):
            raise ValueError(f"step takes one step, shape (input_size,) or (batch, "
                             f"input_size); got shape {tuple(x.shape)}. Use feed() for "
                             f"several steps.")
        y = self.feed(x.unsqueeze(-2))  # (…, 1, H')
        y = y[..., 0, :]
        return y.numpy() if is_np else y

    def _check_batch(self, batch: int) -> None:
        if batch != self.batch_size:
            raise ValueError(f"this Stream carries state for batch_size={self.batch_size}; got "
                             f"a batch of {batch}. Make a Stream(module, batch_size={batch}).")

    # -- the batch-1 fast path (GRU, LSTM, RNN) -----------------------------------------------
    def _fast_ok(self, x_t) -> bool:
        m = self.module
        return ((type(m) in (GRU, RNN) or type(m) is LSTM and not m.proj_size)
                and self.batch_size == 1 and self._h[0].device.type == "cpu"
                and self._h[0].dtype in (torch.float32, torch.float64)
                and getattr(x_t, "ndim", 0) == 1 and m.backend in ("auto", "cpu"))

    def _pack(self) -> np.ndarray:
        """Every layer's [W_ihᵀ, W_hhᵀ, b_ih, b_hh] flattened in one array, re-packed when a
        weight changes (in place or replaced)."""
        params = list(self.module.parameters())
        versions = [p._version for p in params]
        if versions != self._versions or [id(p) for p in params] != self._ids:
            m, dtype = self.module, self._h[0].dtype
            parts = []
            zeros = torch.zeros(m._gates * m.hidden_size, dtype=dtype)
            for layer in range(m.num_layers):
                p = m.layer_params(layer, 0)
                parts += [p["weight_ih"].detach().t(), p["weight_hh"].detach().t(),
                          zeros if p["bias_ih"] is None else p["bias_ih"].detach(),
                          zeros if p["bias_hh"] is None else p["bias_hh"].detach()]
            self._packed = torch.cat([t.reshape(-1).to(dtype) for t in parts]).numpy()
            self._versions, self._params = versions, params
            self._ids = [id(p) for p in params]
        return self._packed

    def _fast_setup(self):
        h = self._h[0].numpy()[:, 0]  # (L, H): a view of the carried state
        if type(self.module) is LSTM:  # numba loads on first use
            from ..ops.lstm.cpu import stream_step as lstm_step

            c = self._h[1].numpy()[:, 0]  # (L, H): the cell state, a view too
            kernel, extra = lstm_step, c
        elif type(self.module) is RNN:
            from ..ops.rnn.cpu import stream_step as kernel

            extra = self.module.nonlinearity == "relu"
        else:
            from ..ops.gru.cpu import stream_step as kernel

            extra = self.module.reset_after
        self._pack()
        args = ((np.empty(self.module.input_size, h.dtype), h, extra, self._packed)
                if type(extra) is np.ndarray else
                (np.empty(self.module.input_size, h.dtype), h, self._packed, extra))
        self._fast = (_entry_point(kernel, args), h, extra, (self.module.input_size,), h.dtype)
        return self._fast

    def _fast_step(self, x_t, fast):
        kernel, h, extra, shape, dtype = fast
        is_torch = isinstance(x_t, Tensor)
        x = x_t.detach().numpy() if is_torch else x_t
        if x.shape != shape:
            raise ValueError(f"x_t has shape {x.shape}; the module expects "
                             f"(input_size,) = {shape}.")
        x = np.require(x, dtype, ["C", "A"])  # the entry point reads x as contiguous, aligned
        self._pack()
        if type(extra) is np.ndarray:  # LSTM: (x, h, c, params)
            kernel(x, h, extra, self._packed)
        else:  # GRU: (x, h, params, reset_after); RNN: (x, h, params, relu)
            kernel(x, h, self._packed, extra)
        out = h[-1].copy()
        return torch.from_numpy(out) if is_torch else out


def _entry_point(kernel, args: tuple):
    """The compiled function a numba kernel runs for arguments typed like ``args``, called
    without numba's per-call type dispatch (~0.3 µs of a ~3 µs step). Safe only because every
    call passes the same array types: the hot path checks x's type, shape, dtype and that it
    is C-contiguous and aligned (other x go through ``_fast_step``, which makes them so), and
    the state and packed weights share the state's dtype for the Stream's life."""
    import numba

    return kernel.compile(tuple(numba.typeof(a) for a in args))
