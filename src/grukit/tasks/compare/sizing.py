"""Model sizes for a fair comparison: the same hidden width, or the same parameter count.

Parameters of one recurrent layer on ``I`` inputs with ``H`` units (the cell spec's count,
``grukit.cells``; torch layout: two bias vectors per gate block, as torch.nn and grukit.nn
keep them), plus a ``Linear(H, O)`` head::

    GRU   3·(I·H + H·H + 2H)          LSTM 4·(I·H + H·H + 2H)
    RNN   I·H + H·H + 2H              minGRU 2·(I·H + H)     (gates read x only)
    head  H·O + O

Tasks whose estimators build Keras-style ``grukit.layers`` layers (forecasting,
classification, speech) count as those layers are built (``keras=True``: Keras' count, where
the LSTM and the RNN keep one bias vector), so that equal parameters are equal in the table.
"""

from __future__ import annotations

import functools

from ... import cells

MODELS = cells.names()
BUDGETS = ("equal-hidden", "equal-params")


def count(model: str, inputs: int, hidden: int, outputs: int, keras: bool = False) -> int:
    """Parameters of ``model`` (one layer) with a linear head; see the module docstring."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}.")
    layer = _layer_count(model, inputs, hidden) if keras else \
        cells.get(model).count(inputs, hidden)
    return layer + hidden * outputs + outputs


@functools.lru_cache(maxsize=4096)
def _layer_count(model: str, inputs: int, hidden: int) -> int:
    """Parameters of the grukit.layers layer of ``model`` built on ``inputs`` features."""
    layer = cells.get(model).layer_class()(hidden)
    layer.build((1, inputs))  # (time, features)
    return sum(p.numel() for p in layer.parameters())


def hidden_for(model: str, target: int, inputs: int, outputs: int, keras: bool = False) -> int:
    """The width whose parameter count is closest to ``target`` (at least 1)."""
    best, h = 1, 1
    while True:
        if abs(count(model, inputs, h, outputs, keras) - target) < \
                abs(count(model, inputs, best, outputs, keras) - target):
            best = h
        if count(model, inputs, h, outputs, keras) > target:
            return best
        h += 1


def widths(models, budget: str, hidden: int, inputs: int, outputs: int,
           fixed: dict | None = None, keras: bool = False) -> dict[str, int]:
    """Hidden width per model: ``hidden`` for all (equal-hidden), or each model sized to the
    GRU's parameter count at ``hidden`` (equal-params; ``fixed`` widths, e.g. a paper's,
    take precedence; ``keras``: counted as grukit.layers builds them)."""
    if budget not in BUDGETS:
        raise ValueError(f"--budget must be one of {', '.join(BUDGETS)}; got {budget!r}.")
    if budget == "equal-hidden":
        return {m: hidden for m in models}
    target = count("gru", inputs, hidden, outputs, keras)
    fixed = fixed or {}
    return {m: fixed[m] if m in fixed else hidden_for(m, target, inputs, outputs, keras)
            for m in models}
