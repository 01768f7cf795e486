"""Generation at batch 1: tokens per second and the memory a model holds as the text grows —
what ``grukit compare --task generate`` reports beside the validation curves.

    profile = generation_profile(gen, lengths=(100, 1000, 10000))
    # {"model": "gru", "params": ..., "tokens_per_second": ..., "state_bytes_at":
    #  {100: ..., 1000: ..., 10000: ...}, "bytes_per_token": ...}

The memory figure is the state the model carries to the next step, counted exactly: a
recurrent model's h (and c) per layer, constant; an attention model's key-value caches,
which grow by 2·layers·hidden numbers per token up to its window (``seq_len``) and then stay.
Timing is the sampling loop's (prompt excluded), median of ``repeats`` runs, in wall time
and in this process's CPU time (a figure other work on a shared machine does not inflate).
"""

from __future__ import annotations

import numbers
import statistics

from .network import count_params


def generation_profile(gen, lengths=(100, 1000, 10000), *, prompt: str = "",
                       repeats: int = 1, seed: int = 0, temperature: float = 1.0) -> dict:
    """Sample ``max(lengths)`` tokens from the fitted ``TextGenerator`` ``gen`` and report
    tokens/s and the carried state's bytes after each of ``lengths`` tokens. ``prompt``:
    as ``TextGenerator.generate`` (empty: after a newline, or after the vocabulary's first
    character when the text had no newline)."""
    gen._check_fitted("generation_profile")
    # numpy's integers as Python's (a grid's np.int64); True is no length
    if not lengths or any(isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1
                          for n in lengths):
        raise ValueError(f"lengths must be positive integers; got {lengths!r}.")
    if isinstance(repeats, bool) or not isinstance(repeats, numbers.Integral) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer; got {repeats!r}.")
    lengths = tuple(int(n) for n in lengths)
    longest = max(lengths)
    speeds, cpu_speeds, at = [], [], {}
    for r in range(int(repeats)):
        gen.generate(prompt, longest, seed=seed + r, temperature=temperature,
                     trace=tuple(lengths))
        st = gen.last_stats_
        speeds.append(st["tokens_per_second"])
        cpu_speeds.append(st["tokens_per_cpu_second"])
        at = st["state_bytes_at"]
    first, last = min(lengths), longest
    growth = (at[last] - at[first]) / (last - first) if last > first else 0.0
    return {"model": gen.config.model, "params": count_params(gen.network_),
            "tokens_per_second": statistics.median(speeds),
            "tokens_per_cpu_second": statistics.median(cpu_speeds),
            "state_bytes_at": {int(n): int(at[n]) for n in sorted(at)},
            "bytes_per_token": growth}
