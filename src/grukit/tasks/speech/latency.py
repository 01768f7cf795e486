"""What one 10 ms frame costs a ``Recognizer``: its feature row, its model step (the
recurrent layer's one-step kernel through ``Stream`` plus the online pooling), and the same
recurrent step through torch.nn's cell (``GRUCell`` / ``LSTMCell`` / ``RNNCell`` with the
same weights) for comparison. Medians over ``frames`` frames of a recording, after warm-up;
the budget is the hop (real time)."""

from __future__ import annotations

import time

import numpy as np
import torch

TORCH_CELLS = {"GRU": torch.nn.GRUCell, "LSTM": torch.nn.LSTMCell, "RNN": torch.nn.RNNCell}


def torch_cell(module) -> torch.nn.Module | None:
    """torch.nn's cell with the weights of a one-layer grukit GRU/LSTM/RNN (None for cells
    torch has not: MinGRU, a GRU with reset_after=False or with other activations)."""
    name = type(module).__name__
    if name not in TORCH_CELLS or module.num_layers != 1 or \
            not getattr(module, "reset_after", True) or getattr(module, "_activations", None):
        return None  # (Keras' other activations: torch's cells compute the standard ones)
    s = module.state_dict()
    kw = {"nonlinearity": module.nonlinearity} if name == "RNN" else {}
    cell = TORCH_CELLS[name](module.input_size, module.hidden_size, **kw)
    cell.load_state_dict({"weight_ih": s["weight_ih_l0"], "weight_hh": s["weight_hh_l0"],
                          "bias_ih": s["bias_ih_l0"], "bias_hh": s["bias_hh_l0"]})
    return cell.eval()


def _median_us(fn, items, warm: int = 20) -> float:
    for x in items[:warm]:
        fn(x)
    times = []
    for x in items:
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return 1e6 * float(np.median(times))


def frame_latency(recognizer, samples: np.ndarray, frames: int = 400) -> dict:
    """Median µs per frame of each stage on ``samples`` (repeated to ``frames`` frames):
    ``{"features_us", "model_us" (step + pooling), "stream_us" (the recurrent step alone),
    "total_us", "torch_cell_us" (torch.nn's cell, same step), "budget_us", "rtf"}``."""
    fx_cfg = recognizer.features.cfg
    hop = fx_cfg.hop
    need = (frames + 10) * hop + fx_cfg.n_fft
    y = np.tile(np.asarray(samples, dtype=np.float64), -(-need // len(samples)))[:need]
    chunks = [y[i:i + hop] for i in range(0, frames * hop, hop)]
    recognizer.reset()
    fx = recognizer.features
    feats_us = _median_us(fx.push, chunks)
    recognizer.reset()
    rows = recognizer.scale(np.concatenate([fx.push(c) for c in chunks]))
    recognizer.reset()
    model_us = _median_us(recognizer.step, list(rows))
    recognizer.reset()
    stream_us = _median_us(recognizer.stream.step, list(rows))
    recognizer.reset()
    out = {"features_us": feats_us, "model_us": model_us, "stream_us": stream_us,
           "total_us": feats_us + model_us, "budget_us": 1e6 * hop / fx_cfg.sample_rate}
    out["rtf"] = out["total_us"] / out["budget_us"]
    cell = torch_cell(recognizer.stream.module)
    out["torch_cell_us"] = None
    if cell is not None:
        h = torch.zeros(1, cell.hidden_size)
        state = (h, h.clone()) if isinstance(cell, torch.nn.LSTMCell) else h
        t_rows = [torch.from_numpy(r)[None] for r in rows]

        def step(x):
            nonlocal state
            with torch.no_grad():
                state = cell(x, state)

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one stream, one core (as the numba step runs)
        try:
            out["torch_cell_us"] = _median_us(step, t_rows)
        finally:
            torch.set_num_threads(threads)
    out["torch_cell"] = None if cell is None else type(cell).__name__
    return out
