"""What an exported forecaster serves: its networks on one window, combined as ``predict``
combines them, and the recipe (the manifest's ``forecast`` block) that turns raw values
into that window and its output into forecasts.

Every strategy and ensemble is one function ``x (B, T, F) -> y (B, K)`` (``layout``,
``Served``; the ONNX graph is ``onnx_export.forecaster_to_onnx``): ``x`` is the window of the
longest lookback L, member j (lookback l_j) reads ``x[:, L − l_j:]`` and the members'
outputs (a sequence network's at its last step) are combined by their median. Around it,
the serving code (``grukit.export.runtime.Predictor.forecast``, numpy alone) does what
``Forecaster.predict`` does in numpy:

* direct: x = the shape, level and covariate channels of the last L values; the forecast
  is last value + scale · y[:horizon], and with quantiles each further block of
  ``horizon`` outputs a quantile alike (sorted so that they never cross); an ES-GRU hybrid
  runs its exponential smoothing over every value it is given (``es``: the recursion in
  numpy, from each series' parameters in the manifest), whose states give the first two
  channels and whose forecast replaces the last value as the base;
* recursive: the same window of the last L values; ŷ = last value + scale · y, which joins
  the window (the oldest value leaves it), ``horizon`` times (``training.recursive_point``);
* sequence: x = the last L values, or with ``differences`` = 1 their L changes (from L + 1
  values), standardised ((v − mean) / std), and the forecasts so far appended;
  ŷ = mean + std · y (+ the last value with differences), ``horizon`` times
  (``training.sequence_point``).
"""

from __future__ import annotations

import torch
from torch import nn


def layout(est) -> tuple[list, list[int], bool, int]:
    """(networks, the step of ``x`` each starts reading at (L − l_j), whether they output at
    every step (the sequence strategy), features of ``x``) of a fitted forecaster."""
    lookbacks = est._lookbacks(est.season)
    longest = max(lookbacks)
    every = est.config.strategy == "sequence"
    features = 1 if every else 2 + int(est.n_cov)
    return list(est.nets), [longest - lb for lb in lookbacks], every, features


class Served(nn.Module):
    """The networks of a forecaster as one module, ``x (B, T, F) -> y (B, K)`` (the module
    doc): what ``grukit export --format pt2`` traces."""

    def __init__(self, est):
        super().__init__()
        nets, starts, every, _ = layout(est)
        self.nets = nn.ModuleList(nets)
        self.starts, self.every = starts, every
        # the least time torch.export may trace (its Dim): every member's slice at least 2
        # steps, which it would otherwise specialise (x holds the longest lookback, L)
        self.min_time = max(starts) + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for net, start in zip(self.nets, self.starts, strict=True):
            y = net(x[:, start:])  # (B, K), or (B, T − start, K) at every step
            outs.append(y[:, -1] if self.every else y)
        if len(outs) == 1:
            return outs[0]
        ranked = torch.stack(outs).sort(dim=0).values  # (M, B, K)
        m = len(outs)
        if m % 2:
            return ranked[m // 2]
        return (ranked[m // 2 - 1] + ranked[m // 2]) / 2  # numpy.median's mean of the two


def network(est) -> nn.Module:
    """What the export traces: the network of a direct forecaster of one network, else
    ``Served``."""
    if len(est.nets) == 1 and est.config.strategy == "direct":
        return est.net
    return Served(est)


def window_inputs(est, recent, index: int = 0, covariates=None):
    """The graph's input (1, T, F) float32 for the first step of a forecast after
    ``recent`` (series ``index``): the window of the longest lookback."""
    import numpy as np

    from . import scaling

    w, cov = est._history(recent, covariates, est._index(index))
    st, longest = est.stats[est._index(index)], max(est._lookbacks(est.season))
    if est.config.strategy == "sequence":
        d = est._differences
        return scaling.sequence_inputs(w[None, -(longest + d):], st, d)
    x, _ = scaling.views(w, cov, st, longest, np.array([len(w) - 1]), est.config.horizon)
    return x


def recipe(est) -> dict:
    """The manifest fields (beside ``lookback`` = L, ``horizon``, ``covariates`` and the
    per-series scaling) that say how the graph is served: ``strategy``, ``differences``
    (what the sequence strategy reads: values 0, changes 1), ``history`` (the fewest values
    a forecast reads: L + differences, or a hybrid's smoothing start), the ``lookbacks`` of
    the members, ``quantiles`` (the graph's outputs after the horizon's point forecast: a
    horizon each) and ``hybrid`` (each series' ``es``: α, β, γ, φ, m, trend)."""
    return {"strategy": est.config.strategy, "differences": int(est._differences),
            "history": int(est.history_needed(est.season)),
            "lookbacks": [int(lb) for lb in est._lookbacks(est.season)],
            "quantiles": [float(q) for q in est.config.quantiles or ()],
            "hybrid": bool(est.config.hybrid)}
