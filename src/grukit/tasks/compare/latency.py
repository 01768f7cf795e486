"""Inference latency: one streaming step at batch 1 (carried state, ``grukit.nn.Stream``;
beside it torch.nn's own cell with the same weights, so a fast path of one model is not
mistaken for a property of the architecture) and one forward pass over a full batch,
medians over repeated calls after warm-up.

Each model is timed as a user would run it for inference, on the fastest path grukit
offers it. A minGRU streams in ``mode="sequential"`` (one step of its recurrence; the
parallel mode would run its float64 log-space scan over a sequence of one step) and its
full batch is timed in both modes, the faster kept (``batch_mode``). Where no fused CPU
kernel ran the timed step (``Stream`` fell back to calling the module: no ``<cell>_stream``
backend served it) or the timed sequence (dispatch's "auto" gave its op a backend that is
not fused: the reference, torch's ops one by one, e.g. for a module naming it),
``step_fused`` and ``batch_fused`` say so, and the report prints it beside the numbers, so
a ratio to a GRU's numba kernel reads as what it is, a missing kernel, not a property of
the architecture. Both flags say what served the call timed, not what is registered: a
backend that runs only when named (``backend="cpu"``) leaves "auto" on the reference."""

from __future__ import annotations

import time

import torch
from torch import Tensor
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
    "step_fused" / "batch_fused": whether a fused CPU kernel ran the step / the forward
    timed, "batch_mode": the minGRU mode timed for the batch (None for the other cells)}.
    A minGRU's ``mode`` is as it was afterwards (module docstring)."""
    rnn = rnn.eval()
    inputs = rnn.input_size
    modes = ("sequential", "parallel") if hasattr(rnn, "mode") else (None,)  # minGRU: both
    was = getattr(rnn, "mode", None)
    p = next(rnn.parameters())
    x_t = torch.randn(inputs, dtype=p.dtype).numpy()  # (I,): numpy in, the hot path
    x = torch.randn(batch, length, inputs, dtype=p.dtype)  # (B, T, I)
    try:
        with torch.no_grad():
            if modes[0] is not None:
                rnn.mode = modes[0]  # a step is one step of the recurrence, not a scan
            stream = Stream(rnn)
            step = _median(lambda: stream.step(x_t), repeat * 20, 50)
            step_fused = stream._fast is not None  # its one-step kernel ran (not feed)
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
    batch_fused = _batch_backend(rnn, x, mode) in FUSED
    with torch.no_grad():
        cells = _torch_cells(rnn)
        torch_step = None
        if cells is not None:
            lstm = isinstance(cells[0], LSTMCell)
            zeros = torch.zeros(1, rnn.hidden_size, dtype=p.dtype)
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
            "step_fused": step_fused, "batch_fused": batch_fused, "batch_mode": mode}


def _batch_backend(rnn, x: Tensor, mode: str | None) -> str | None:
    """The backend dispatch gives the first layer of ``rnn``'s forward over x (B, T, I) in
    evaluation (no lengths, zero state, minGRU ``mode``), as the op's entry asks it; None
    where no backend of the op serves it as asked (Keras' other activations run on the
    reference: ``grukit.ops._entry.activations``)."""
    if getattr(rnn, "_activations", None):
        return None
    p = next(rnn.parameters())
    x = x.to(p.dtype)
    batch = x.shape[0]
    h0 = x.new_zeros(batch, rnn.hidden_size)  # (B, H)
    options = {k: getattr(rnn, k) for k in rnn.spec.options} | (
        {"mode": mode} if mode is not None else {})
    if rnn.spec.name == "lstm":  # (h0 (B, P), c0 (B, H)) and the projection
        proj = getattr(rnn, "proj_size", 0)
        h0 = (x.new_zeros(batch, proj or rnn.hidden_size), h0)
        options["weight_hr"] = getattr(rnn, "weight_hr_l0", None) if proj else None
    if getattr(rnn, "zoneout", 0):  # in evaluation its mask is the rate, every step
        options["zoneout_mask"] = x.new_full((*x.shape[:2], rnn.hidden_size), rnn.zoneout)
    try:
        return dispatch.explain(rnn.spec.name, rnn.backend, x=x, h0=h0, lengths=None,
                                **options)[0]
    except ValueError:
        return None


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
    like = {"bias": rnn.bias, "dtype": getattr(rnn, f"weight_ih_l{layer}").dtype}
    if kind == "RNN":
        cell = RNNCell(inputs, rnn.hidden_size, nonlinearity=rnn.nonlinearity, **like)
    else:
        cell = {"GRU": GRUCell, "LSTM": LSTMCell}[kind](inputs, rnn.hidden_size, **like)
    names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if rnn.bias else ())
    with torch.no_grad():
        for name in names:
            getattr(cell, name).copy_(getattr(rnn, f"{name}_l{layer}"))
    return cell.eval()
