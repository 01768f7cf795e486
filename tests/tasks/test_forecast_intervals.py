"""Probabilistic forecasts: the split-conformal interval covers what it says on a series
whose noise is known, quantile outputs are ordered, and the scores (conformal rank, CRPS,
pinball loss) agree with their definitions computed by hand."""

import math

import numpy as np
import pytest
import torch

from grukit.tasks.forecast import Forecaster
from grukit.tasks.forecast.intervals import (
    conformal_halfwidth,
    crps_ensemble,
    interval_scores,
    point_and_pinball,
)

SIGMA = 0.3


def _noisy(n=500, seed=0):
    """A seasonal signal the network can learn plus white noise of known deviation."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 2 * np.sin(2 * np.pi * t / 12) + SIGMA * rng.standard_normal(n)


def test_conformal_interval_covers_about_its_level_on_known_noise():
    y = _noisy(800)
    # 70 calibration windows (a tenth of the training windows): the rank statistic of so
    # few residuals still varies by several points of coverage from one noise draw to another
    f = Forecaster(horizon=3, lookback=12, hidden=16, epochs=30, seed=0).fit(y[:700], 12)
    hits, widths = [], []
    for end in range(700, 797):
        lower, upper = f.predict_interval(0.8, recent=y[:end])
        actual = y[end:end + 3]
        hits.append((actual >= lower) & (actual <= upper))
        widths.append(upper - lower)
    cover = float(np.mean(hits))
    assert 0.7 <= cover <= 0.92, cover
    # the best 80% interval of N(0, σ) noise is ±1.2816 σ; the network adds its own error
    assert 2 * 1.2816 * SIGMA * 0.8 < float(np.mean(widths)) < 2 * 1.2816 * SIGMA * 2.0
    assert f.residuals().shape[1] == 3 and np.isfinite(f.residuals()).all()


def test_wider_level_gives_a_wider_interval_around_the_forecast():
    y = _noisy(200)
    f = Forecaster(horizon=2, lookback=12, hidden=8, epochs=5).fit(y, 12)
    lo8, hi8 = f.predict_interval(0.8)
    lo9, hi9 = f.predict_interval(0.9)  # 18 calibration windows: 0.9 needs 9
    point = f.predict()
    assert np.all(lo9 <= lo8) and np.all(hi8 <= hi9)
    np.testing.assert_allclose((lo8 + hi8) / 2, point, rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match=r"^level must be a number strictly between 0 and 1"):
        f.predict_interval(80)


def test_quantile_outputs_are_ordered_and_bracket_the_series():
    y = _noisy(400, seed=1)
    f = Forecaster(horizon=2, lookback=12, hidden=16, epochs=30,
                   quantiles=[0.9, 0.1, 0.5]).fit(y[:350], 12)
    q = np.stack([f.predict_quantiles(y[:end]) for end in range(350, 398)])  # (N, 3, 2)
    assert q.shape == (48, 3, 2)
    assert np.all(q[:, 1] <= q[:, 2]) and np.all(q[:, 2] <= q[:, 0])  # 0.1 ≤ 0.5 ≤ 0.9
    actual = np.stack([y[end:end + 2] for end in range(350, 398)])
    inside = float(np.mean((actual >= q[:, 1]) & (actual <= q[:, 0])))
    assert 0.55 <= inside <= 0.97, inside
    with pytest.raises(ValueError, match="no quantile outputs"):
        Forecaster(horizon=2, lookback=12, hidden=4, epochs=1).fit(y, 12).predict_quantiles()


def test_conformal_rank_by_hand():
    r = np.array([[1.0], [-4.0], [2.0], [-3.0]])  # |r| sorted: 1 2 3 4
    # ⌈(4 + 1) · 0.5⌉ = 3rd smallest; ⌈5 · 0.8⌉ = 4th; 0.95 asks for the 5th of 4: refused
    assert conformal_halfwidth(r, 0.5)[0] == 3.0 and conformal_halfwidth(r, 0.8)[0] == 4.0
    with pytest.raises(ValueError, match=r"^a split-conformal interval at level 0\.95 needs "
                                         r"at least 19 calibration windows"):
        conformal_halfwidth(r, 0.95)


def test_crps_of_an_ensemble_by_hand():
    # one member: CRPS is the absolute error
    assert crps_ensemble([1.0], [[3.0]]) == pytest.approx(2.0)
    # members {0, 2} against 1: E|X − y| = 1, ½ E|X − X'| = ½ · (0 + 2 + 2 + 0) / 4 = 0.5
    assert crps_ensemble([1.0], [[0.0], [2.0]]) == pytest.approx(0.5)
    s = interval_scores([1.0, 5.0], [1.0, 1.0], np.array([[-1.0, 1.0], [1.0, -1.0]]), 0.5)
    assert s["coverage"] == 0.5 and s["width"] == pytest.approx(2.0)


def test_pinball_loss_by_hand():
    loss = point_and_pinball(1, [0.1, 0.9])
    pred = torch.tensor([[1.0, 0.0, 3.0]])  # point 1, q0.1 = 0, q0.9 = 3
    target = torch.tensor([[2.0]])
    # MSE 1; pinball: τ=0.1, u=2 → 0.2; τ=0.9, u=−1 → 0.1; mean 0.15
    assert float(loss(target, pred)) == pytest.approx(1.15)  # (y_true, y_pred), as compile calls


def test_backtest_reports_coverage_width_and_crps():
    y = _noisy(160)
    res = Forecaster(horizon=4, lookback=12, hidden=8, epochs=5).backtest(y, 12, folds=2)
    m = res["model"]
    assert 0 <= m["coverage"] <= 1 and m["width"] > 0 and m["crps"] > 0
    assert all({"coverage", "width", "crps"} <= set(fold) for fold in m["folds"])


def test_conformal_rank_is_the_definition_without_float_rounding():
    """⌈(n + 1)(1 − α)⌉ in exact arithmetic: (99 + 1) · 0.55 rounds to 55.00000000000001 in
    floats, which took the 56th smallest residual, a wider interval than the definition's."""
    from fractions import Fraction

    r = np.arange(1.0, 100.0)[:, None]  # |r| = 1 … 99
    assert conformal_halfwidth(r, 0.55)[0] == 55.0 and conformal_halfwidth(-r, 0.56)[0] == 56.0
    from grukit.tasks.forecast.intervals import conformal_rank

    for n in (4, 9, 24, 49, 99, 149):
        for k in range(1, 100):
            level = k / 100
            assert conformal_rank(n, level) == math.ceil((n + 1) * Fraction(str(level))), \
                (n, level)


def test_a_level_past_the_calibration_windows_is_refused_not_mislabelled(tmp_path, capsys):
    """With n calibration windows the largest residual covers n/(n + 1): a level above it got
    that interval under the level's name ("90% interval" from 4 windows: 80% at best).
    predict_interval refuses it in one sentence naming the windows needed (as MAPIE does);
    the backtest scores its coverage and width as undefined (None), as an undefined MASE,
    and the command line says why and writes no interval it cannot reach."""
    import json

    from grukit.cli import main

    y = _noisy(200)
    f = Forecaster(horizon=2, lookback=12, hidden=4, epochs=1).fit(y, 12)
    assert len(f.residuals()) == 18  # 0.9 needs 9, 0.95 needs 19; 18/19 ≈ 0.947
    f.predict_interval(0.9)
    f.predict_interval(0.947)
    for level in (0.95, 0.99):
        with pytest.raises(ValueError, match=r"^a split-conformal interval at level "
                                             rf"{level} needs at least \d+ calibration "
                                             r"windows .* this forecaster's calibration set "
                                             r"has 18, whose largest residual covers only "
                                             r"18/19\. Give a level of at most 0\.947 or a "
                                             r"longer series") as e:
            f.predict_interval(level)
        assert "\n" not in str(e.value)
        # (it said "the latest tenth of its windows calibrate": a fit at the level holds out
        # what it needs where a quarter of the windows allows, as at 0.95 here)
        assert f"or fit with level={level} (fit holds out the windows" in str(e.value)
    assert len(Forecaster(horizon=2, lookback=12, hidden=4, epochs=1, level=0.95)
               .fit(y, 12).residuals()) == 19
    # a fold's 183 windows: a tenth (18) calibrate, or the 19 that 0.95 needs, while a
    # quarter (45) is more; 0.99 needs 99, so the fold keeps its tenth and has no interval
    res = Forecaster(horizon=2, lookback=12, hidden=4, epochs=1, level=0.95).backtest(y, 12, 2)
    assert res["model"]["coverage"] is not None and res["model"]["width"] > 0
    res = Forecaster(horizon=2, lookback=12, hidden=4, epochs=1, level=0.99).backtest(y, 12, 2)
    m = res["model"]
    assert m["coverage"] is None and m["width"] is None and m["crps"] > 0
    assert all(fold["coverage"] is None for fold in m["folds"])
    assert all(s["lower"] is None for fold in m["forecasts"] for s in fold)
    # nile: the first of 3 folds of 10 has 49 windows: its tenth, 4, calibrate, since the 19
    # that 0.95 needs are more than a quarter; the whole series' 79 give 19
    out = tmp_path / "o"
    assert main(["forecast", "--data", "nile", "--level", "0.95", "--epochs", "2", "--hidden",
                 "4", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "95% interval: coverage" not in printed
    assert "GRU 95% interval: undefined: a split-conformal interval at level 0.95 needs at " \
           "least 19 calibration windows ((n + 1) · level ≤ n); the first fold's training " \
           "part has 4, whose largest residual covers only 4/5. Give a level of at most 0.8, " \
           "fewer --folds or a longer series. CRPS " in printed
    assert "forecast.csv has no interval" not in printed
    interval = json.loads((out / "metrics.json").read_text())["interval"]
    assert interval["level"] == 0.95 and interval["coverage"] is None
    assert interval["width"] is None and "needs at least 19" in interval["undefined"]
    assert "lower" in (out / "forecast.csv").read_text()


def test_the_level_is_printed_as_the_percentage_it_is(capsys):
    """--level 0.975 was printed as a "98% interval" (a rounded level it is not)."""
    from grukit.cli import main
    from grukit.tasks.forecast.intervals import percent

    assert [percent(v) for v in (0.8, 0.975, 0.5, 0.999, 0.95)] == \
        ["80%", "97.5%", "50%", "99.9%", "95%"]
    assert main(["forecast", "--data", "nile", "--level", "0.975", "--folds", "1",
                 "--epochs", "1", "--hidden", "2"]) == 0
    out = capsys.readouterr().out
    assert "GRU 97.5% interval: " in out and "98%" not in out


def test_calibration_holds_out_what_the_level_needs_where_a_quarter_allows():
    """Nile's first backtest fold under the sequence strategy (70 points, lookback 24,
    horizon 10: 36–37 windows) kept a tenth, 3 windows, and had no 80 % interval; it now keeps
    the 4 that 0.8 needs. Where 4 are more than a quarter of the windows the tenth stays."""
    from grukit.tasks.forecast.intervals import fewest

    assert [fewest(v) for v in (0.5, 0.8, 0.9, 0.95, 0.99)] == [1, 4, 9, 19, 99]
    # numpy's float32 0.8 is 0.8: 4 windows (its float64 value, 0.800000011920929, needed 5,
    # and a fit of 16 windows kept 1 and refused "level 0.8" as needing 5)
    assert fewest(np.float32(0.8)) == 4 and fewest(np.float16(0.95)) == 19
    f32 = Forecaster(horizon=10, strategy="sequence", differences=0, level=np.float32(0.8))
    assert f32.config.level == 0.8 and f32.calibration_windows(49, 1) == 4
    seq = Forecaster(horizon=10, strategy="sequence", differences=0)  # lookback 24
    assert seq.calibration_windows(70, 1) == 4  # 37 windows: tenth 3, quarter 9
    assert seq.calibration_windows(49, 1) == 4  # 16 windows: tenth 1, a quarter is 4
    assert seq.calibration_windows(48, 1) == 1  # 15 windows: a quarter, 3, is too few
    assert seq.calibration_windows(500, 1) == 46  # the tenth where it is enough
    high = Forecaster(horizon=10, strategy="sequence", differences=0, level=0.95)
    assert high.calibration_windows(70, 1) == 3  # 19 > a quarter (9): the tenth
    assert high.calibration_windows(109, 1) == 19  # 76 windows: a quarter is 19
    assert high.calibration_windows(108, 1) == 7  # 75 windows: a quarter is 18
    f = Forecaster(horizon=10, strategy="sequence", differences=0, hidden=4,
                   epochs=1).fit(_noisy(70), 1)
    assert f.residuals().shape == (4, 10)
    lo, hi = f.predict_interval()
    assert np.all(hi - lo > 0)
