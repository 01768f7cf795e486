"""The long-horizon protocol (Informer, Autoformer, PatchTST, ...): one fixed split by time
into training, validation and test parts (70/10/20 %), the model fitted on the training part
only (its scaling too), then every window of the test period forecast — each origin from
the first test point to the last one a whole horizon fits after — and MSE and MAE computed
on values standardised with the training part's mean and deviation. The naive forecast
(the last value) is scored the same way. The validation part is only ever read as the
lookback of the first test windows."""

from __future__ import annotations

import numpy as np

from . import scaling
from .checks import as_list, check_season, check_values
from .training import fed_back_point, member_outputs

SPLIT = (7, 1, 2)  # tenths of the series: training, validation, test


def split_points(n: int) -> tuple[int, int]:
    """(end of training, end of validation) of a series of ``n`` values (whole numbers, no
    float rounding: 300 values split at 210 and 240)."""
    return n * SPLIT[0] // 10, n * (SPLIT[0] + SPLIT[1]) // 10


def sliding(model, series, season: int = 1, covariates=None, batch: int = 256) -> dict:
    """Fit ``model`` on the training part; {"model" | "naive": {"mse", "mae"}, "windows",
    "split"} over every test window (standardised values)."""
    check_season(season)
    ys, covs, single = as_list(series, covariates)
    if len(ys) != 1:
        raise ValueError(f"the sliding protocol takes one series; got {len(ys)}.")
    y, cov = ys[0], None if covs is None else covs[0]
    check_values(y, "the series")
    h, n = model.config.horizon, len(y)
    train_end, val_end = split_points(n)
    origins = np.arange(val_end - 1, n - h)  # (N,) last value seen by each test window
    need = model.history_needed(season) + h + 5
    if train_end < need or len(origins) < 1:
        raise ValueError(f"the series has {n} points; its training part ({train_end}) needs "
                         f"{need} for lookback + horizon and its test part ({n - val_end}) at "
                         f"least one horizon of {h}. Use a longer series or a shorter horizon "
                         f"or lookback.")
    model.fit(y[:train_end], season, covariates=None if cov is None else cov[:train_end])
    mean, std = float(np.mean(y[:train_end])), float(np.std(y[:train_end])) or 1.0
    st = model.stats[0]
    future = y[origins[:, None] + np.arange(1, h + 1)[None, :]]  # (N, h)
    preds = []
    for b in range(0, len(origins), batch):
        o = origins[b:b + batch]
        if model.config.strategy != "direct":  # h one-step forecasts, each fed back
            preds.append(fed_back_point(model, y, st, o))
            continue
        out = np.median(member_outputs(model, y, cov, st, o), axis=0)[:, :h]  # (b, h)
        _, base = scaling.views(y, None, st, 1, o, h)
        preds.append(out * st.scale + base)
    pred = np.concatenate(preds)  # (N, h)
    naive = np.repeat(y[origins][:, None], h, axis=1)

    def err(p):
        d = (future - p) / std
        return {"mse": float(np.mean(d ** 2)), "mae": float(np.mean(np.abs(d)))}

    return {"model": err(pred), "naive": err(naive), "windows": int(len(origins)),
            "split": [int(train_end), int(val_end), int(n)], "scaled_by": [mean, std]}
