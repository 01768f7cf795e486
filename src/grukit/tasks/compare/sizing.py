"""Model sizes for a fair comparison: the same hidden width, or the same parameter count.

Parameters of one recurrent layer on ``I`` inputs with ``H`` units (the cell spec's count,
``grukit.cells``; torch layout: two bias vectors per gate block, as torch.nn and grukit.nn
keep them), plus a ``Linear(H, O)`` head::

    GRU   3·(I·H + H·H + 2H)          LSTM 4·(I·H + H·H + 2H)
    RNN   I·H + H·H + 2H              minGRU 2·(I·H + H)     (gates read x only)
    head  H·O + O
"""

from __future__ import annotations

from ... import cells

MODELS = cells.names()
BUDGETS = ("equal-hidden", "equal-params")


def count(model: str, inputs: int, hidden: int, outputs: int) -> int:
    """Parameters of ``model`` (one layer) with a linear head; see the module docstring."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}.")
    return cells.get(model).count(inputs, hidden) + hidden * outputs + outputs


def hidden_for(model: str, target: int, inputs: int, outputs: int) -> int:
    """The width whose parameter count is closest to ``target`` (at least 1)."""
    best, h = 1, 1
    while True:
        if abs(count(model, inputs, h, outputs) - target) < \
                abs(count(model, inputs, best, outputs) - target):
            best = h
        if count(model, inputs, h, outputs) > target:
            return best
        h += 1


def widths(models, budget: str, hidden: int, inputs: int, outputs: int,
           fixed: dict | None = None) -> dict[str, int]:
    """Hidden width per model: ``hidden`` for all (equal-hidden), or each model sized to the
    GRU's parameter count at ``hidden`` (equal-params; ``fixed`` widths, e.g. a paper's,
    take precedence)."""
    if budget not in BUDGETS:
        raise ValueError(f"--budget must be one of {', '.join(BUDGETS)}; got {budget!r}.")
    if budget == "equal-hidden":
        return {m: hidden for m in models}
    target = count("gru", inputs, hidden, outputs)
    fixed = fixed or {}
    return {m: fixed[m] if m in fixed else hidden_for(m, target, inputs, outputs)
            for m in models}
