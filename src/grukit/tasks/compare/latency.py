"""Inference latency: one streaming step at batch 1 (carried state, ``grukit.nn.Stream``)
and one forward pass over a full batch, medians over repeated calls after warm-up."""

from __future__ import annotations

import time

import torch

from ...nn import Stream


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

    -> {"step_us": µs per streaming step at batch 1, "batch_ms": ms per forward of a
    (batch, length, I) input, "batch_shape": [batch, length, I]}."""
    rnn = rnn.eval()
    inputs = rnn.input_size
    stream = Stream(rnn)
    x_t = torch.randn(inputs)  # (I,)
    x = torch.randn(batch, length, inputs)  # (B, T, I)
    with torch.no_grad():
        step = _median(lambda: stream.step(x_t), repeat * 20, 50)
        full = _median(lambda: rnn(x), repeat, 3)
    return {"step_us": 1e6 * step, "batch_ms": 1e3 * full, "batch_shape": [batch, length, inputs]}
