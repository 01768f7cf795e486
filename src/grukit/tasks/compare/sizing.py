"""Model sizes for a fair comparison: the same hidden width, or the same parameter count.

Parameters of one recurrent layer on ``I`` inputs with ``H`` units (the cell spec's count,
``grukit.cells``; torch layout: two bias vectors per gate block, as torch.nn and grukit.nn
keep them), plus a ``Linear(H, O)`` head::

    GRU   3·(I·H + H·H + 2H)          LSTM 4·(I·H + H·H + 2H)
    RNN   I·H + H·H + 2H              minGRU 2·(I·H + H)     (gates read x only)
    head  H·O + O
    pool  H·H + 2H      (``pooled``: AttentionPooling's Linear(H, H) and score vector v)

Tasks whose estimators build Keras-style ``grukit.layers`` layers (forecasting,
classification, speech) count as those layers are built (``keras=True``: Keras' count, where
the LSTM and the RNN keep one bias vector), so that equal parameters are equal in the table;
those that pool the recurrent outputs with attention before the head (classification,
speech) count the pooling too (``pooled``), which grows as H², not as the layer's H·(I + H).
"""

from __future__ import annotations

import functools

from ... import cells

MODELS = cells.names()
BUDGETS = ("equal-hidden", "equal-params")


def count(model: str, inputs: int, hidden: int, outputs: int, keras: bool = False,
          pooled: bool = False) -> int:
    """Parameters of ``model`` (one layer) with a linear head, and attention pooling between
    them when ``pooled``; see the module docstring."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}.")
    layer = _layer_count(model, inputs, hidden) if keras else \
        cells.get(model).count(inputs, hidden)
    return layer + hidden * outputs + outputs + (pooling(hidden) if pooled else 0)


def pooling(width: int) -> int:
    """Parameters of ``grukit.layers.AttentionPooling`` on ``width`` features: a
    Linear(width, width) and a score vector of ``width``."""
    return width * width + 2 * width


@functools.lru_cache(maxsize=4096)
def _layer_count(model: str, inputs: int, hidden: int) -> int:
    """Parameters of the grukit.layers layer of ``model`` built on ``inputs`` features."""
    layer = cells.get(model).layer_class()(hidden)
    layer.build((1, inputs))  # (time, features)
    return sum(p.numel() for p in layer.parameters())


def hidden_for(model: str, target: int, inputs: int, outputs: int, keras: bool = False,
               pooled: bool = False) -> int:
    """The width whose parameter count is closest to ``target`` (at least 1)."""
    best, h = 1, 1
    while True:
        if abs(count(model, inputs, h, outputs, keras, pooled) - target) < \
                abs(count(model, inputs, best, outputs, keras, pooled) - target):
            best = h
        if count(model, inputs, h, outputs, keras, pooled) > target:
            return best
        h += 1


def widths(models, budget: str, hidden: int, inputs: int, outputs: int,
           fixed: dict | None = None, keras: bool = False,
           pooled: bool = False) -> dict[str, int]:
    """Hidden width per model: ``hidden`` for all (equal-hidden), or each model sized to the
    GRU's parameter count at ``hidden`` (equal-params; ``fixed`` widths, e.g. a paper's,
    take precedence; ``keras``: counted as grukit.layers builds them; ``pooled``: with
    attention pooling before the head)."""
    if budget not in BUDGETS:
        raise ValueError(f"--budget must be one of {', '.join(BUDGETS)}; got {budget!r}.")
    if budget == "equal-hidden":
        return {m: hidden for m in models}
    target = count("gru", inputs, hidden, outputs, keras, pooled)
    fixed = fixed or {}
    return {m: fixed[m] if m in fixed else hidden_for(m, target, inputs, outputs, keras, pooled)
            for m in models}
