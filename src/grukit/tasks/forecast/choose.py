"""``differences="auto"``: a sequence forecaster on the values or on their one-step changes,
whichever forecasts its calibration windows better.

Both are fitted; the changes replace the values only where a one-sided Diebold–Mariano test
finds them more accurate at the 5 % level. Per calibration origin o of every series, the loss
of each model is its mean absolute scaled error over the h steps ahead,
L_o = mean_k |y_{o+k} − ŷ_{o+k|o}| / scale, and the differential is d_o = L_o(values) −
L_o(changes). The statistic is Diebold and Mariano's (1995), DM = mean(d) / sqrt(V / N)
with V = γ_0 + 2 Σ_{k=1}^{h−1} γ_k (γ_k the autocovariances of d with divisor N: forecasts h
steps ahead from consecutive origins share h − 1 targets, so their errors are correlated;
where that sum is not positive, Newey–West's Bartlett weights 1 − k/h, which keep it so),
times Harvey, Leybourne and Newbold's (1997) small-sample factor
sqrt((N + 1 − 2h + h (h − 1) / N) / N), read against Student's t with N − 1 degrees of
freedom (as R's ``forecast::dm.test`` computes it where V > 0). The values stay the model
where the windows cannot tell the two apart: changes that win on some windows and lose on
others, or fewer than 2h windows (two that do not overlap), whose variance h − 1 lags cannot
estimate (a short series: with nile's 4 windows of 10 years the test read 0.017 for a model
that was worse on the test years).
"""

from __future__ import annotations

import numpy as np

LEVEL = 0.05  # the one-sided test's size


def testable(n: int, horizon: int) -> bool:
    """Whether ``n`` calibration origins are enough for the test: at least 2h (and 3)."""
    return n >= max(2 * horizon, 3)


def changes_better(loss_values: np.ndarray, loss_changes: np.ndarray, horizon: int,
                   level: float = LEVEL, runs: list[int] | None = None) -> tuple[bool, float]:
    """(whether the changes' losses (N,) are lower than the values' (N,) at ``level``, the
    one-sided p-value); fewer than 2 · horizon origins test nothing (p 1), nor do
    differentials all alike (p 1, or 0 where each favours the changes by the same amount).
    ``runs``: the lengths of the consecutive runs of origins (one per series, in order;
    default one run): an autocovariance pairs origins of one series only, γ_k = Σ over the
    runs of Σ_t c_t c_{t+k} / N with c = d − mean(d), the windows of two series sharing no
    target."""
    from scipy import stats
    from statsmodels.tsa.stattools import acovf

    d = np.asarray(loss_values, np.float64) - np.asarray(loss_changes, np.float64)  # (N,)
    n = len(d)
    if not testable(n, horizon):
        return False, 1.0
    if np.ptp(d) == 0:
        p = 0.0 if d[0] > 0 else 1.0
        return p < level, p
    c = d - d.mean()
    gamma = np.zeros(horizon)  # (h,): γ_0 … γ_{h−1}, divisor N, within each run
    for part in np.split(c, np.cumsum(runs or [n])[:-1]):
        lags = min(horizon - 1, len(part) - 1)
        gamma[:lags + 1] += acovf(part, nlag=lags, demean=False, fft=False) * len(part) / n
    var = gamma[0] + 2 * gamma[1:].sum()
    if not var > 0:  # the truncated sum can be negative; Bartlett's weights keep it positive
        var = gamma[0] + 2 * (gamma[1:] @ (1 - np.arange(1, horizon) / horizon))
    dm = d.mean() / np.sqrt(var / n)
    t = float(dm * np.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n))
    p = float(stats.t.sf(t, n - 1))
    return p < level, p


def fit_auto(model, series, season, verbose, covariates, callbacks):
    """Fit ``model`` (a sequence Forecaster with ``differences="auto"``) on the values and on
    the changes, keep the one ``changes_better`` picks; ``model.chosen_`` says which, with the
    test's p-value, both calibration MAEs (scaled), the number of calibration windows
    compared and whether they were enough to test (``testable``; if not, p is 1 and the
    values are kept untested)."""
    fits = [type(model)(**(model.get_config() | {"differences": d}))
            .fit(series, season, verbose=verbose, covariates=covariates, callbacks=callbacks)
            for d in (0, 1)]
    # the calibration origins both share (a series' count can differ: the changes need one
    # value more before the first window, one window fewer, which can drop the count below
    # what the level needs, ``Forecaster.calibration_windows``)
    losses = []
    for f in fits:
        per = [np.mean(np.abs(f.calib[i][-min(len(a.calib[i]) for a in fits):]), axis=1)
               for i in range(len(f.calib))]  # S × (N_i,)
        losses.append(np.concatenate(per))
    use, p = changes_better(losses[0], losses[1], model.config.horizon,
                            runs=[len(r) for r in per])
    chosen = fits[int(use)]
    state = {k: v for k, v in vars(chosen).items() if k != "config"}
    state["fit_seconds"] = sum(f.fit_seconds for f in fits)
    vars(model).update(state)
    model.differences_ = int(use)
    n = len(losses[0])
    model.chosen_ = {"differences": int(use), "p": p,
                     "mae_values": float(np.mean(losses[0])),
                     "mae_changes": float(np.mean(losses[1])),
                     "windows": n, "tested": testable(n, model.config.horizon)}
    return model
