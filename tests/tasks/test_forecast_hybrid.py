"""The ES-GRU hybrid and ensembles: the smoothing stage reproduces statsmodels' Holt-Winters
states and forecasts (with the textbook seasonal index), the hybrid follows a trend past
its training range, an ensemble forecasts the median of its networks, and all of it
streams and saves bit for bit."""

import warnings

import numpy as np
import pytest
import torch

from grukit.tasks.forecast import Forecaster, es

SMALL = {"horizon": 4, "hidden": 6, "epochs": 3}


def _seasonal_trend(n=120, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 10 + 0.1 * t + np.sin(2 * np.pi * t / 12) + 0.1 * rng.standard_normal(n)


@pytest.mark.parametrize("m", [1, 12], ids=["no_season", "season12"])
def test_smoothing_states_equal_statsmodels(m):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = _seasonal_trend()
    p = es.fit_params(y, m)
    st = es.filter(y, p)
    assert p.trend  # a trending series keeps its (damped) trend by AIC
    level, trend, season = es.initial(y, m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ExponentialSmoothing(
            y, trend="add", damped_trend=True, seasonal="add" if m > 1 else None,
            seasonal_periods=m if m > 1 else None, initialization_method="known",
            initial_level=level, initial_trend=trend,
            initial_seasonal=season if m > 1 else None,
        ).fit(smoothing_level=p.alpha, smoothing_trend=p.beta,
              smoothing_seasonal=p.gamma if m > 1 else None, damping_trend=p.phi,
              optimized=False)
    np.testing.assert_allclose(st.level, ref.level, rtol=0, atol=1e-10)
    np.testing.assert_allclose(st.trend, ref.trend, rtol=0, atol=1e-10)
    if m > 1:
        np.testing.assert_allclose(st.season[m:], ref.season, rtol=0, atol=1e-10)
    ours = es.forecast(st, p, np.array([len(y) - 1]), 11)[0]
    # statsmodels and the textbook agree on steps 1..m−1 (at step m statsmodels reads the
    # season one cycle older than s_t, the state the last value updated)
    np.testing.assert_allclose(ours, ref.forecast(11), rtol=0, atol=1e-10)


def test_a_series_without_trend_is_smoothed_without_one():
    rng = np.random.default_rng(4)
    y = 5 + rng.standard_normal(150)  # white noise around a level
    p = es.fit_params(y, 1)
    assert not p.trend and p.beta == 0 and p.phi == 0
    f = es.forecast(es.filter(y, p), p, np.array([149]), 20)[0]
    assert np.ptp(f) == 0  # a flat forecast: no trend to extrapolate
    assert es.ESParams.from_array(p.as_array()) == p


def test_smoothing_forecast_from_every_origin_equals_the_last_origin_case():
    y = _seasonal_trend()
    p = es.fit_params(y, 12)
    whole = es.forecast(es.filter(y, p), p, np.arange(30, 60), 5)  # (30, 5)
    for i, t in enumerate(range(30, 60)):
        part = es.filter(y[:t + 1], p)
        np.testing.assert_allclose(whole[i], es.forecast(part, p, np.array([t]), 5)[0],
                                   rtol=0, atol=1e-12)


def test_hybrid_follows_a_trend_past_its_training_range():
    y = _seasonal_trend(200)
    res = Forecaster(horizon=12, hybrid=True, epochs=20, hidden=16).backtest(y, 12, folds=2)
    assert res["model"]["mase"] < 0.5 * res["seasonal_naive"]["mase"], res["model"]


def test_ensemble_forecasts_the_median_of_its_networks():
    y = _seasonal_trend()
    f = Forecaster(ensemble=2, lookbacks=[12, 24], **SMALL).fit(y, 12)
    assert len(f.nets) == 4 and f._lookbacks(12) == [12, 12, 24, 24]
    singles = []
    for net, lb in zip(f.nets, f._lookbacks(12), strict=True):
        one = Forecaster(lookback=lb, **SMALL)
        one.__dict__.update({k: v for k, v in f.__dict__.items() if k != "config"})
        one.nets, one.net = [net], net
        singles.append(one.predict())
    np.testing.assert_allclose(f.predict(), np.median(singles, axis=0), rtol=0, atol=1e-12)


@pytest.mark.parametrize("options", [{"hybrid": True}, {"ensemble": 2, "lookbacks": [8, 12]},
                                     {"hybrid": True, "quantiles": [0.1, 0.9]}],
                         ids=["hybrid", "ensemble", "hybrid-quantiles"])
def test_streaming_and_saving_are_bit_exact(tmp_path, options):
    y = _seasonal_trend()
    f = Forecaster(**SMALL, **options).fit(y[:100], 12)
    for net in f.nets:
        net.cpu()
    f.save(str(tmp_path / "m"))
    g = Forecaster.load(str(tmp_path / "m"))
    assert g.get_config() == f.get_config() and len(g.nets) == len(f.nets)
    assert np.array_equal(g.predict(), f.predict())
    assert np.array_equal(g.predict_interval()[1], f.predict_interval()[1])
    for end in range(101, 106):
        streamed = g.update(y[end - 1])
        assert np.array_equal(streamed, f.update(y[end - 1]))
        np.testing.assert_allclose(streamed, f.predict(y[:end]), rtol=0, atol=0)
    if options.get("quantiles"):
        assert np.array_equal(g.predict_quantiles(), f.predict_quantiles())


@pytest.mark.parametrize("name,value,match", [
    ("ensemble", 0, "^ensemble must be 1 or more"),
    ("lookbacks", [], "^lookbacks must be a non-empty list"),
    ("lookbacks", [12, 0], "^each of lookbacks must be 1 or more"),
    ("dropout", 1.0, "^dropout must be a number from 0 to below 1"),
    ("hybrid", "yes", "^hybrid must be True or False"),
    ("quantiles", [0.5, 1.5], "^quantiles must be a list of numbers strictly between 0 and 1"),
    ("level", 0, "^level must be a number strictly between 0 and 1")])
def test_bad_settings_are_refused_in_one_sentence(name, value, match):
    with pytest.raises(ValueError, match=match) as err:
        Forecaster(**{name: value})
    assert "\n" not in str(err.value) and str(err.value).endswith(".")


def test_hybrid_needs_two_seasons_of_history_to_predict():
    y = _seasonal_trend()
    f = Forecaster(hybrid=True, lookback=12, **SMALL).fit(y, 12)
    with pytest.raises(ValueError, match=r"predict needs the last 26 values"):
        f.predict(y[:20])


def test_a_correction_no_epoch_of_which_beats_its_start_is_left_at_zero():
    """A hybrid's network starts as the zero correction (the smoothing forecast). Early
    stopping kept the best epoch even where every epoch was worse on the validation windows
    than that start (nile's default hybrid); the start is now kept there."""
    rng = np.random.default_rng(0)
    t = np.arange(120)
    y = 10 + np.sin(2 * np.pi * t / 12) + 0.3 * rng.standard_normal(120)
    settings = {"horizon": 4, "lookback": 12, "hidden": 4, "epochs": 3, "hybrid": True}
    f = Forecaster(**settings, learning_rate=1.0).fit(y, 12)  # every epoch worse
    assert f.history.kept_start
    assert all(not p.detach().any() for p in f.nets[0].stack[-1].parameters())
    g = Forecaster(**settings, learning_rate=0.3).fit(y, 12)  # an epoch beat the start
    assert not getattr(g.history, "kept_start", False)
    with torch.no_grad():
        for p in g.nets[0].stack[-1].parameters():
            p.zero_()
    np.testing.assert_allclose(f.predict(), g.predict(), rtol=1e-12)  # the smoothing forecast
    # with quantiles the start (every quantile the point forecast) is no candidate: it gave
    # a fan of zero width (nile's hybrid at seed 2, learning rate 1e-3)
    q = Forecaster(**settings, learning_rate=1.0, quantiles=[0.1, 0.9]).fit(y, 12)
    assert not getattr(q.history, "kept_start", False)
    fan = q.predict_quantiles()
    assert np.all(fan[1] - fan[0] > 0)
