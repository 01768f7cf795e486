"""AnchoredForecaster: e + λ (median of the members − e) as an estimator. λ = 0 is ETS and
λ = 1 the members' median, each computed here on its own; the backtest equals the bar run's
(``anchored.backtest``); a tuned model saved and loaded forecasts the same to the bit; the
CLI's ``--tune-top K`` trains, saves and serves one."""

import numpy as np
import pytest

from grukit.tasks.estimator import load
from grukit.tasks.forecast import AnchoredForecaster, Forecaster, anchored, baselines

optuna = pytest.importorskip("optuna")

TINY = {"epochs": 2, "hidden": 4, "layers": 1, "horizon": 3, "lookback": 8}
MEMBERS = [TINY | {"seed": k} for k in range(3)]


def _series(n=80):
    rng = np.random.default_rng(0)
    t = np.arange(n)
    return 5 + np.sin(2 * np.pi * t / 6) + 0.02 * t + 0.1 * rng.standard_normal(n)


def test_shrink_zero_is_ets_one_is_the_median_and_between_is_their_mix():
    y = _series()
    e = baselines.ets(y, 3, 6)
    med = np.median([Forecaster(**s).fit(y, 6).predict() for s in MEMBERS], axis=0)
    assert not np.allclose(e, med, atol=1e-3)  # the two ends differ, so the test can fail
    for lam, want in ((0.0, e), (1.0, med), (0.3, e + 0.3 * (med - e))):
        got = AnchoredForecaster(members=MEMBERS, shrink=lam).fit(y, 6).predict()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


def test_a_tuned_model_saved_and_loaded_forecasts_the_same(tmp_path):
    y = _series()
    m = AnchoredForecaster.tune(y, 6, 4, top=3, horizon=3, origins=6,
                                fixed={"epochs": 2, "hidden": 4, "layers": 1})
    assert len(m.config.members) == 3 and 0.0 <= m.config.shrink <= 1.0
    assert m.config.tuned["top"] == 3 and len(m.residuals(0)) == 6  # the 6 origins
    m.save(str(tmp_path / "m"))
    g = load(str(tmp_path / "m"))
    assert isinstance(g, AnchoredForecaster) and g.get_config() == m.get_config()
    assert np.array_equal(g.predict(), m.predict())
    for a, b in zip(g.predict_interval(0.85), m.predict_interval(0.85), strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(g.predict(y[:-4]), m.predict(y[:-4]))
    lo, hi = g.predict_interval()
    assert np.all(lo < g.predict()) and np.all(g.predict() < hi)
    # 6 residuals reach 6/7 at most: a 0.9 interval is refused, not the largest residual's
    with pytest.raises(ValueError, match=r"^a split-conformal interval at level 0\.9 needs at "
                                         r"least 9 calibration windows .* the search \(one "
                                         r"per validation origin\) has 6, .* or search with "
                                         r"more validation origins"):
        g.predict_interval(0.9)


def test_numpy_floats_as_level_and_shrink_save(tmp_path):
    """A float32 level passes the checks; kept as numpy's, save failed after the fit."""
    m = AnchoredForecaster(members=MEMBERS[:1], shrink=np.float32(0.5),
                           level=np.float32(0.8)).fit(_series(), 6)
    m.save(str(tmp_path / "m"))
    assert load(str(tmp_path / "m")).get_config() == m.get_config()
    assert type(m.config.level) is float and type(m.config.shrink) is float


def test_the_backtest_is_the_bar_runs_on_the_same_folds():
    y = _series()
    rng = np.random.default_rng(2)
    residuals = [rng.standard_normal((9, 3))]
    a = anchored.Anchored(MEMBERS, 0.4, 6, residuals)
    m = AnchoredForecaster(members=MEMBERS, shrink=0.4)
    m.calib = residuals
    mine, bars = m.backtest(y, 6, folds=2), anchored.backtest(a, y, folds=2)
    for name in ("model", "ets", "naive"):
        assert mine[name]["mase"] == pytest.approx(bars[name]["mase"], rel=1e-9)
    assert mine["model"]["coverage"] == bars["model"]["coverage"]


def test_a_model_built_from_settings_has_no_interval_and_says_so():
    m = AnchoredForecaster(members=MEMBERS, shrink=0.5).fit(_series(), 6)
    with pytest.raises(ValueError, match=r"built from settings, without a search, so it has "
                                         r"no calibration residuals"):
        m.predict_interval()
    with pytest.raises(ValueError, match="make it with AnchoredForecaster.tune"):
        m.backtest(_series(), 6)


@pytest.mark.parametrize("config, message", [
    ({"members": []}, r"^members must be a non-empty list of Forecaster settings"),
    ({"members": MEMBERS, "shrink": 1.5}, r"^shrink must be a number from 0 to 1; got 1\.5\.$"),
    ({"members": MEMBERS, "shrink": float("nan")}, r"^shrink must be a number from 0 to 1"),
    ({"members": [TINY, TINY | {"horizon": 4}]},
     r"^the members must share one horizon; got \[3, 4\]\.$"),
    ({"members": MEMBERS, "levels": 0.9}, r"^AnchoredForecaster has no setting 'levels'"),
])
def test_bad_settings_are_one_sentence(config, message):
    with pytest.raises((ValueError, TypeError), match=message):
        AnchoredForecaster(**config)


def test_a_gap_anywhere_in_the_history_ets_reads_is_one_sentence():
    """The members read the last lookback values; ETS refits on all of them, so a missing
    value further back is refused too, not smoothed over."""
    y = _series()
    m = AnchoredForecaster(members=MEMBERS, shrink=0.5).fit(y, 6)
    gap = y.copy()
    gap[5] = np.nan
    with pytest.raises(ValueError, match=r"^recent \(ETS refits on all of it\) has 1 missing "
                                         r"or infinite value\(s\) \(the first, nan, at "
                                         r"position 5\)"):
        m.predict(gap)


def test_a_calibrated_model_fitted_on_other_series_is_refused():
    m = AnchoredForecaster(members=MEMBERS, shrink=0.5)
    m.calib = [np.zeros((9, 3))]
    with pytest.raises(ValueError, match=r"calibrated on 1 series; fit it on as many \(got 2\)"):
        m.fit([_series(), _series() + 1], 6)


def test_cli_tune_top_trains_saves_and_serves_the_anchored_model(tmp_path, capsys):
    from grukit.cli import main

    out, saved = tmp_path / "out", tmp_path / "model"
    assert main(["forecast", "--data", "nile", "--tune", "3", "--tune-top", "2", "--epochs",
                 "2", "--hidden", "4", "--output", str(out), "--save", str(saved)]) == 0
    text = capsys.readouterr().out
    assert "tuned: the median of the best 2 trials anchored on ETS with λ" in text
    assert "| GRU-ETS |" in text
    model = load(str(saved))
    assert isinstance(model, AnchoredForecaster) and len(model.config.members) == 2
    assert (out / "study.db").exists()
    assert main(["forecast", "predict", "--model", str(saved)]) == 0
    served = capsys.readouterr().out.splitlines()[1:]
    written = (out / "forecast.csv").read_text().splitlines()[1:]
    assert [r.split(",")[:2] for r in written] == [r.split(",") for r in served]


@pytest.mark.parametrize("flags, message", [
    (["--tune-top", "2"], "--tune-top sets up the search of --tune N; add --tune N"),
    (["--tune", "2", "--tune-top", "0"], "--tune-top must be 1 or more; got 0."),
    (["--tune", "2", "--tune-top", "2", "--tune-backend", "ray"],
     "--tune-top ranks the trials' validation forecasts, which the optuna backend keeps"),
])
def test_cli_tune_top_misuse_is_one_line(tmp_path, capsys, flags, message):
    from grukit.cli import main

    assert main(["forecast", "--data", "nile", *flags, "--output", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err


def test_index_without_recent_is_refused_not_ignored():
    """predict(index=i) without recent values forecast the fitted series and dropped index
    (even one out of range) without a word; it goes with recent."""
    m = AnchoredForecaster(members=MEMBERS[:1], shrink=0.5).fit(_series(), 6)
    with pytest.raises(ValueError, match=r"^index 3 goes with recent values"):
        m.predict(index=3)
    assert m.predict(index=0).shape == (3,)
