"""Inference latency: one streaming step at batch 1 (carried state, ``grukit.nn.Stream``;
beside it torch.nn's own cell with the same weights, so a fast path of one model is not
mistaken for a property of the architecture) and one forward pass over a full batch,
medians over repeated calls after warm-up.

Each model is timed as a user would run it for inference, on the fastest path grukit
offers it. A minGRU streams in ``mode="sequential"`` (one step of its recurrence; the
parallel mode would run its float64 log-space scan over a sequence of one step) and its
full batch is timed in both modes, the faster kept (``batch_mode``). Where a model has no
fused CPU kernel for the step (no ``<cell>_stream`` backend: the LayerNorm-GRU) or the
sequence (the minGRU's ``mingru`` op on the CPU is the reference, torch's ops one by one),
``step_fused`` and ``batch_fused`` say so, and the report prints it beside the numbers, so
a ratio to a GRU's numba kernel reads as what it is, a missing kernel, not a property of
the architecture."""

from __future__ import annotations

import time

import torch
from torch.nn import GRUCell, LSTMCell, RNNCell

from ...nn import Stream
from ...ops import dispatch

FUSED = ("cpu", "torch")  # backends of an op that run a fused CPU kernel (numba, torch's own)


def _median(fn, repeat: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def measure(rnn: torch.nn.Module, batch: int, length: int, *, repeat: int = 30) -> dict:
    """``rnn``: a unidirectional grukit.nn module with batch_first=True.

    -> {"step_us": µs per streaming step at batch 1, "torch_step_us": the same with
    torch.nn's GRUCell/LSTMCell/RNNCell (None for minGRU, which torch lacks), "batch_ms":
    ms per forward of a (batch, length, I) input, "batch_shape": [batch, length, I],
    "step_fused" / "batch_fused": whether grukit has a fused CPU kernel for the step / the
    sequence of this cell, "batch_mode": the minGRU mode timed for the batch (None for the
    other cells)}. A minGRU's ``mode`` is as it was afterwards (module docstring)."""
    rnn = rnn.eval()
    inputs = rnn.input_size
    name = rnn.spec.name
    modes = ("sequential", "parallel") if hasattr(rnn, "mode") else (None,)  # minGRU: both
    was = getattr(rnn, "mode", None)
    p = next(rnn.parameters())
    x_t = torch.randn(inputs, dtype=p.dtype).numpy()  # (I,): numpy in, the hot path
    x = torch.randn(batch, length, inputs)  # (B, T, I)
    try:
        with torch.no_grad():
            if modes[0] is not None:
                rnn.mode = modes[0]  # a step is one step of the recurrence, not a scan
            stream = Stream(rnn)
            step = _median(lambda: stream.step(x_t), repeat * 20, 50)
            fulls = {}
            for mode in modes:
                if mode is not None:
                    rnn.mode = mode
                fulls[mode] = _median(lambda: rnn(x), repeat, 3)
    finally:
        if was is not None:
            rnn.mode = was
    mode = min(fulls, key=fulls.get) if modes[0] is not None else None
    full = fulls[mode]
    with torch.no_grad():
        cells = _torch_cells(rnn)
        torch_step = None
        if cells is not None:
            lstm = isinstance(cells[0], LSTMCell)
            zeros = torch.zeros(1, rnn.hidden_size)
            state = (zeros, zeros) if lstm else zeros
            x_1 = torch.from_numpy(x_t).unsqueeze(0)  # (1, I)

            def chain():  # one step through every layer, as the stream's step
                x = x_1
                for cell in cells:
                    x = cell(x, state)
                    x = x[0] if lstm else x

            torch_step = 1e6 * _median(chain, repeat * 20, 50)
    return {"step_us": 1e6 * step, "torch_step_us": torch_step, "batch_ms": 1e3 * full,
            "batch_shape": [batch, length, inputs],
            "step_fused": bool(dispatch.backends(f"{name}_stream")),
            "batch_fused": any(b in FUSED for b in dispatch.backends(name)),
            "batch_mode": mode}


def _torch_cells(rnn):
    """torch.nn's cells with the weights of each layer (a stacked module's streaming step
    runs them all), or None (minGRU, the textbook GRU with reset_after=False, a projected
    LSTM, a bidirectional module: torch has no such cell, or no streaming step)."""
    if getattr(rnn, "bidirectional", False):
        return None
    cells = [_torch_cell(rnn, k) for k in range(getattr(rnn, "num_layers", 1))]
    return None if cells[0] is None else cells


def _torch_cell(rnn, layer: int = 0):
    """torch.nn's cell with layer ``layer``'s weights, or None (minGRU, the textbook GRU
    with reset_after=False, a projected LSTM: torch has no such cell)."""
    kind = type(rnn).__name__
    if kind not in ("GRU", "LSTM", "RNN") or not getattr(rnn, "reset_after", True) \
            or getattr(rnn, "proj_size", 0) or getattr(rnn, "_activations", None):
        return None  # (Keras' other activations: torch's cells compute the standard ones)
    inputs = rnn.input_size if layer == 0 else rnn.hidden_size
    if kind == "RNN":
        cell = RNNCell(inputs, rnn.hidden_size, nonlinearity=rnn.nonlinearity)
    else:
        cell = {"GRU": GRUCell, "LSTM": LSTMCell}[kind](inputs, rnn.hidden_size)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(rnn, f"{name}_l{layer}"))
    return cell.eval()
