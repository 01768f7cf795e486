"""differences=1: the sequence strategy reads and predicts the series' one-step changes
(standardised) and adds each forecast change to the value before it. Checked against
torch.nn.GRU + Linear stepped over the changes with their state carried; the calibration
residuals are in the series' units; misuse is one sentence."""

import numpy as np
import pytest
from test_forecast_recursive import _series  # the recursive strategy's test series
from test_forecast_sequence import torch_twin  # torch.nn.GRU + Linear with a net's weights

from grukit.tasks.forecast import Forecaster, scaling

SMALL = {"strategy": "sequence", "horizon": 5, "lookback": 10, "hidden": 6, "epochs": 3,
         "differences": 1}


def test_windows_are_the_standardised_changes_and_their_next_change():
    y = _series(40)
    st = scaling.of_changes(scaling.fit_stats(y, None, 12, False), y)
    v = np.diff(y)
    assert st.mean == pytest.approx(v.mean()) and st.std == pytest.approx(v.std())
    x, t = scaling.sequence_windows(y, st, 10, 1)
    assert x.shape == t.shape == (39 - 10, 10, 1) and x.dtype == np.float32
    z = (v - v.mean()) / v.std()
    np.testing.assert_allclose(x[0, :, 0], z[:10], rtol=1e-5)
    np.testing.assert_allclose(t[:, :-1], x[:, 1:])  # each target is the next input
    np.testing.assert_allclose(t[-1, -1, 0], z[-1], rtol=1e-5)  # the last: y[-1] − y[-2]


def test_a_straight_line_has_unit_deviation_of_its_changes():
    y = 3.0 + 0.5 * np.arange(50)
    st = scaling.of_changes(scaling.fit_stats(y, None, 1, False), y)
    assert st.mean == pytest.approx(0.5) and st.std == 1.0
    # a line whose changes differ by float rounding only (0.1 is not a binary fraction)
    y = 3.0 + 0.1 * np.arange(50)
    assert np.ptp(np.diff(y)) > 0
    st = scaling.of_changes(scaling.fit_stats(y, None, 1, False), y)
    assert st.mean == pytest.approx(0.1) and st.std == 1.0
    assert np.abs(scaling.sequence_inputs(y[None, -11:], st, 1)).max() < 1e-12


@pytest.mark.parametrize("layers", [1, 2])
def test_forecast_equals_torch_gru_stepped_over_the_changes(layers):
    """torch.nn.GRU + Linear with the network's weights, run over the last lookback changes
    and then one step per forecast change, its state carried on; each forecast is the value
    before it plus the change."""
    import torch

    y = _series()
    f = Forecaster(**SMALL, layers=layers).fit(y, 12)
    gru, head = torch_twin(f, layers)
    st = f.stats[0]
    with torch.no_grad():
        x = torch.tensor((np.diff(y[-11:]) - st.mean) / st.std)[None, :, None]  # (1, 10, 1)
        out, state = gru(x)
        ref, last = [], y[-1]
        for _ in range(5):
            change = st.mean + st.std * head(out[:, -1]).item()
            last = last + change
            ref.append(last)
            x = torch.tensor([[[(change - st.mean) / st.std]]], dtype=torch.float64)
            out, state = gru(x, state)
    np.testing.assert_allclose(f.predict(), ref, rtol=1e-5)
    assert f.inputs(y).shape == (1, 10, 1)
    np.testing.assert_allclose(f.inputs(y)[0, :, 0], (np.diff(y[-11:]) - st.mean) / st.std,
                               rtol=1e-5)


def test_calibration_residuals_are_in_the_series_units():
    from grukit.tasks.forecast.training import fed_back_point

    y = _series()
    f = Forecaster(**SMALL).fit(y, 12)
    n_val, h = f.residuals().shape[0], 5
    origins = np.arange(len(y) - h - n_val, len(y) - h)
    future = y[origins[:, None] + np.arange(1, h + 1)]
    np.testing.assert_allclose(f.residuals(), future - fed_back_point(f, y, f.stats[0], origins),
                               rtol=1e-9, atol=1e-9)
    # the forecast starts from the last value: a change of the size of the series' changes
    assert abs(f.predict(y[:50])[0] - y[49]) < 5 * np.std(np.diff(y))


def test_a_trend_past_the_training_range_is_followed():
    """A rising line with a season: the values' model cannot leave its training range, the
    changes' can (the forecast stays near the continued line, far above the last values)."""
    t = np.arange(160.0)
    y = 0.4 * t + np.sin(2 * np.pi * t / 12)
    fit, future = y[:150], y[150:155]
    settings = SMALL | {"epochs": 60, "hidden": 16, "learning_rate": 1e-2}
    changes = Forecaster(**settings).fit(fit, 12).predict()
    values = Forecaster(**(settings | {"differences": 0})).fit(fit, 12).predict()
    assert np.max(np.abs(changes - future)) < 1.0  # the line rises 2 over these 5 steps
    assert np.mean(np.abs(changes - future)) < np.mean(np.abs(values - future))


def test_save_load_update_and_history_needed(tmp_path):
    y = _series()
    f = Forecaster(**SMALL).fit(y, 12)
    assert f.history_needed(12) == 11 and len(f.last[0]) == 11
    f.save(str(tmp_path / "m"))
    g = Forecaster.load(str(tmp_path / "m"))
    assert g.config.differences == 1
    np.testing.assert_array_equal(g.predict(), f.predict())
    np.testing.assert_array_equal(g.predict(y[:-7]), f.predict(y[:-7]))
    np.testing.assert_array_equal(g.update(y[-1] + 0.3), f.predict(np.r_[y, y[-1] + 0.3]))
    with pytest.raises(ValueError, match="11"):
        f.predict(y[-10:])  # ten values are ten changes short of one


@pytest.mark.parametrize("extra, message", [
    ({"strategy": "direct"}, r"^differences=1 is an input of strategy='sequence'; the direct "
                             r"strategy already reads every window relative to its last "
                             r"value, so drop differences or use strategy='sequence'\.$"),
    ({"strategy": "recursive"}, r"the recursive strategy already reads"),
    ({"strategy": "direct", "differences": "auto"}, r"^differences='auto' is an input of "),
    ({"differences": 2}, r"^differences must be 0 \(the values\), 1 \(their one-step "
                         r"changes\) or 'auto' \(the better on the calibration windows\); "
                         r"got 2\.$"),
    ({"differences": True}, r"^differences must be 0 .*; got True\.$"),
    ({"differences": 1.0}, r"^differences must be 0 .*; got 1\.0\.$"),
    ({"differences": -1}, r"^differences must be 0 .*; got -1\.$"),
    ({"differences": "Auto"}, r"^differences must be 0 .*; got 'Auto'\.$"),
    ({"differences": None}, r"^differences must be 0 .*; got None\.$"),
])
def test_bad_settings_are_one_sentence(extra, message):
    with pytest.raises(ValueError, match=message):
        Forecaster(**(SMALL | extra))


def test_numpy_integer_is_saved_as_a_python_number(tmp_path):
    f = Forecaster(**(SMALL | {"differences": np.int64(1)}))
    assert type(f.config.differences) is int


def _hln_t(d, h):
    """Diebold and Mariano's (1995) statistic with Harvey, Leybourne and Newbold's (1997)
    small-sample factor, written out as R's forecast::dm.test computes it: the truncated
    (rectangular) sum of h − 1 autocovariances (divisor n)."""
    n, c = len(d), d - d.mean()
    v = c @ c / n + 2 * sum(c[k:] @ c[:-k] / n for k in range(1, h))
    return d.mean() / np.sqrt(v / n) * np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)


def test_the_test_is_diebold_mariano_with_the_hln_correction():
    from scipy import stats

    from grukit.tasks.forecast.choose import changes_better

    rng = np.random.default_rng(0)
    values = 1.0 + rng.standard_normal(40) ** 2
    for shift, h in ((0.3, 5), (0.05, 5), (-0.2, 1), (0.3, 20)):
        changes = values - shift + 0.3 * rng.standard_normal(40)
        better, p = changes_better(values, changes, h)
        assert p == pytest.approx(stats.t.sf(_hln_t(values - changes, h), 39), rel=1e-9)
        assert better == (p < 0.05)
    # one step ahead (no overlap) it is the one-sample t-test of the differentials
    d = values - (values - 0.1 + 0.3 * rng.standard_normal(40))
    ref = stats.ttest_1samp(d, 0.0, alternative="greater").pvalue
    assert changes_better(values, values - d, 1)[1] == pytest.approx(ref, rel=1e-9)
    # 24 overlapping windows of h = 12 that favour the changes on most of them: without
    # the small-sample factor (Newey–West alone) this read p 0.015, a choice at 5 %
    d = np.array([0.26, 0.207, 0.138, 0.108, 0.135, 0.059, 0.05, 0.047, -0.021, 0.052, 0.052,
                  -0.077, -0.096, 0.031, 0.232, 0.166, 0.273, 0.47, 0.552, 0.557, 0.504,
                  0.478, 0.44, 0.486])
    better, p = changes_better(np.full(24, 5.0), 5.0 - d, 12)
    assert p == pytest.approx(stats.t.sf(_hln_t(d, 12), 23), rel=1e-9) and p > 0.05
    assert not better
    # where the truncated sum is not positive (alternating differentials, h = 2: γ_0 + 2γ_1
    # < 0), Newey–West's Bartlett weights 1 − k/h keep the variance positive
    d = np.tile([1.0, -1.0], 10) + 0.1 + 0.01 * np.arange(20)
    c = d - d.mean()
    assert c @ c + 2 * (c[1:] @ c[:-1]) < 0
    v = (c @ c + 2 * 0.5 * (c[1:] @ c[:-1])) / 20
    t = d.mean() / np.sqrt(v / 20) * np.sqrt((20 + 1 - 4 + 2 / 20) / 20)
    assert changes_better(d, np.zeros(20), 2)[1] == pytest.approx(stats.t.sf(t, 19), rel=1e-9)
    # fewer than 2h origins: h − 1 lags cannot estimate the variance, nothing is tested
    assert changes_better(values, values - 1 + 0.1 * rng.standard_normal(40), 21) == (False, 1.0)
    assert changes_better(values, values - 0.3 + 0.01 * rng.standard_normal(40), 5)[0]
    assert not changes_better(values, values + 0.3, 5)[0]  # the values are better
    assert changes_better(values[:2], values[:2] - 1, 5) == (False, 1.0)  # too few to tell
    assert changes_better(values, values, 5) == (False, 1.0)  # the same forecasts


def test_auto_keeps_the_changes_for_a_trend_and_the_values_for_a_stationary_series(
        tmp_path):
    from grukit.tasks.forecast import choose

    t = np.arange(200.0)
    rng = np.random.default_rng(1)
    trend = 0.4 * t + np.sin(2 * np.pi * t / 12) + 0.05 * rng.standard_normal(200)
    settings = SMALL | {"differences": "auto", "epochs": 40, "hidden": 16,
                        "learning_rate": 1e-2}
    f = Forecaster(**settings).fit(trend, 12)
    assert f.chosen_["differences"] == 1 and f.chosen_["p"] < 0.05
    assert f.chosen_["mae_changes"] < f.chosen_["mae_values"]
    assert f.history_needed(12) == 11 and f.get_config()["differences"] == "auto"
    # the chosen model is the one fitted with that setting alone
    alone = Forecaster(**(settings | {"differences": 1})).fit(trend, 12)
    np.testing.assert_array_equal(f.predict(), alone.predict())
    np.testing.assert_array_equal(f.residuals(), alone.residuals())
    f.save(str(tmp_path / "m"))
    g = Forecaster.load(str(tmp_path / "m"))
    assert g._differences == 1
    assert g.chosen_ == f.chosen_  # the test's p-value and errors are kept too
    np.testing.assert_array_equal(g.predict(), f.predict())
    np.testing.assert_array_equal(g.predict(trend[:-9]), f.predict(trend[:-9]))

    calm = np.sin(2 * np.pi * t / 12) + 0.3 * rng.standard_normal(200)
    f.fit(calm, 12)  # refitting chooses again
    assert f.chosen_["differences"] == 0 and f.history_needed(12) == 10
    alone = Forecaster(**(settings | {"differences": 0})).fit(calm, 12)
    np.testing.assert_array_equal(f.predict(), alone.predict())
    assert choose.LEVEL == 0.05


def test_auto_in_a_backtest_chooses_at_every_origin():
    y = _series(120)
    res = Forecaster(**(SMALL | {"differences": "auto"})).backtest(y, 12, folds=2)
    assert np.isfinite(res["model"]["mase"])


def test_a_fitted_auto_model_backtests_with_the_room_of_the_changes():
    """A model whose fit chose the values still chooses again at every origin: a series
    too short for the changes' first training part is the backtest's sentence (it was the
    fit's, about 'series 0' and the first fold's points)."""
    y = _series(60)
    f = Forecaster(**(SMALL | {"differences": "auto", "epochs": 1})).fit(y, 12)
    f.differences_ = 0  # as where the values were chosen
    n = 2 * 5 + 10 + 5 + 5  # room for two folds after lookback 10 (the values), not 11
    with pytest.raises(ValueError, match=r"^the series has 30 points; 2 fold\(s\) of horizon 5 "
                                         r"after a first training part of lookback 11 "):
        f.backtest(y[:n], 12, folds=2)
    assert f.differences_ == 0  # the model given is left as it was


@pytest.mark.parametrize("differences", [1, "auto"])
def test_a_series_too_short_for_the_first_change_is_one_sentence(differences, monkeypatch):
    from grukit.tasks.forecast import choose

    monkeypatch.setattr(choose, "fit_auto", None)  # refused before anything trains
    with pytest.raises(ValueError, match=r"^the series has 20 points; lookback 10 \+ 1 \(the "
                                         r"value before the first change\) \+ horizon 5 need "
                                         r"at least 21 to train\. Shorten the lookback or the "
                                         r"horizon\.$"):
        Forecaster(**(SMALL | {"differences": differences})).fit(np.arange(20.0), 1)
    with pytest.raises(ValueError, match=r"^a sequence forecaster feeds its forecasts back"):
        Forecaster(**(SMALL | {"differences": differences})).fit(
            np.arange(40.0), 1, covariates=np.ones(40))


def test_the_search_chooses_differences_for_sequence_trials_only():
    optuna = pytest.importorskip("optuna")
    from grukit.tasks.forecast import tune as tune_mod
    from grukit.tasks.forecast.tune_ray import _Space

    first = tune_mod.starts(12, 60, {})
    assert first[3]["strategy"] == "sequence" and first[3]["differences"] == 0
    assert all("differences" not in t for t in first[:3])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen = set()
    for _ in range(40):
        trial = study.ask()
        _Space(12, 60, {})(trial)  # the Ray backend's space: the same sampling
        settings = tune_mod._suggest(optuna.trial.FixedTrial(trial.params), 12, 60, {})
        Forecaster(**settings)  # every sampled combination is a valid one
        if settings["strategy"] == "sequence":
            assert trial.params["differences"] in (0, 1)
            seen.add(settings["differences"])
        else:
            assert "differences" not in trial.params and "differences" not in settings
        study.tell(trial, 1.0)
    assert seen == {0, 1}
    # fixed changes (or "auto") are the sequence strategy's: no other strategy is tried
    for d in (1, "auto"):
        assert [t["strategy"] for t in tune_mod.starts(12, 60, {"differences": d})] == \
            ["sequence"]
        trial = optuna.create_study().ask()
        settings = tune_mod._suggest(trial, 12, 60, {"differences": d})
        assert settings["strategy"] == "sequence" and settings["differences"] == d
        assert "strategy" not in trial.params and "differences" not in trial.params


def test_a_study_begun_before_differences_were_searched_resumes(tmp_path):
    """A sequence trial sampled before ``differences`` was searched ran on the values: its
    settings are differences 0 (rebuilding them raised Optuna's 'parameter not found')."""
    optuna = pytest.importorskip("optuna")
    from grukit.tasks.forecast import tune as tune_mod

    db, fixed = str(tmp_path / "s.db"), {"epochs": 2, "hidden": 4}
    y = _series()
    _, summary = tune_mod.tune(y, 12, 1, horizon=3, origins=4, storage=db, fixed=fixed)
    study = optuna.load_study(study_name=summary["study"], storage=f"sqlite:///{db}")
    first = study.trials[0]
    params = first.params | {"strategy": "sequence", "lookback": 24}
    dists = first.distributions | {
        "strategy": optuna.distributions.CategoricalDistribution(tune_mod.SPACE["strategy"]),
        "lookback": optuna.distributions.CategoricalDistribution([12, 24, 36, 48])}
    dists.pop("hybrid", None), params.pop("hybrid", None)
    study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=0.0))
    settings, summary = tune_mod.tune(y, 12, 2, horizon=3, origins=4, storage=db, fixed=fixed)
    assert summary["best_trial"] == 1 and summary["completed"] == 2
    assert settings["strategy"] == "sequence" and settings["differences"] == 0
    Forecaster(**settings)


def test_autocovariances_pair_origins_of_one_series_only():
    """Two series' calibration origins: γ_k sums c_t c_{t+k} within each series (the
    windows of two series share no target), written out here."""
    from scipy import stats

    from grukit.tasks.forecast.choose import changes_better

    rng = np.random.default_rng(5)
    d = 0.2 + rng.standard_normal(50).cumsum() * 0.1  # correlated differentials
    runs, h, n = [30, 20], 4, 50
    c = d - d.mean()
    gamma = [sum(part[k:] @ part[:len(part) - k] for part in (c[:30], c[30:])) / n
             for k in range(h)]
    dm = d.mean() / np.sqrt((gamma[0] + 2 * sum(gamma[1:])) / n)
    t = dm * np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    p = changes_better(d, np.zeros(n), h, runs=runs)[1]
    assert p == pytest.approx(stats.t.sf(t, n - 1), rel=1e-9)
    assert p != pytest.approx(changes_better(d, np.zeros(n), h)[1], rel=1e-6)  # one run


def test_an_auto_fit_on_two_series_tests_each_series_origins_apart(monkeypatch):
    from grukit.tasks.forecast import choose

    seen = {}
    real = choose.changes_better

    def spy(a, b, horizon, level=choose.LEVEL, runs=None):
        seen["runs"], seen["n"] = runs, len(a)
        return real(a, b, horizon, level, runs)

    monkeypatch.setattr(choose, "changes_better", spy)
    f = Forecaster(**(SMALL | {"differences": "auto"})).fit([_series(), _series(90)], 12)
    assert sum(seen["runs"]) == seen["n"] and len(seen["runs"]) == 2
    assert seen["runs"] == [len(r) for r in f.calib]


def test_too_few_windows_to_test_is_said_not_read_as_p_1(tmp_path):
    """A straight line of 45 points has 4 calibration windows of 5 steps: too few for the
    test (2h = 10), so the values are kept untested. The line printed said "p 1" as if the
    changes (100 times more accurate there) had been tested and found no better."""
    from grukit.tasks.forecast.cli_extra import said_chosen

    f = Forecaster(**(SMALL | {"differences": "auto", "epochs": 1})).fit(np.arange(45.0), 12)
    c = f.chosen_
    assert c["differences"] == 0 and c["tested"] is False and c["windows"] == 4
    line = said_chosen(c)
    assert "not tested: 4 calibration windows" in line and "p 1" not in line, line
    f.save(str(tmp_path / "m"))
    assert Forecaster.load(str(tmp_path / "m")).chosen_ == c
    tested = c | {"windows": 40, "tested": True, "p": 0.5}
    assert said_chosen(tested).endswith("one-sided Diebold–Mariano p 0.5)")
    # horizon 1: 2 windows are 2h but fewer than 3 (it said "fewer than the two horizons'
    # worth")
    one = Forecaster(**(SMALL | {"differences": "auto", "epochs": 1, "horizon": 1,
                                 "level": 0.5})).fit(np.arange(35.0), 12)
    assert one.chosen_["windows"] == 2 and one.chosen_["tested"] is False
    assert "2 calibration windows, fewer than the Diebold–Mariano test needs (two " \
           "horizons' worth, at least 3)" in said_chosen(one.chosen_)
