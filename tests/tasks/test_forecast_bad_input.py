"""Bad input to the Forecaster and ``grukit forecast``: each case ends in one sentence naming
the problem, or in the correct result (never a traceback, never a silent wrong answer)."""

import json

import numpy as np
import pytest

from grukit.cli import main
from grukit.tasks.estimator import NotFittedError
from grukit.tasks.forecast import Forecaster
from grukit.tasks.forecast.metrics import lowest, scores

SMALL = {"horizon": 4, "lookback": 8, "hidden": 6, "epochs": 3}


def _series(n=80, seed=0):
    rng = np.random.default_rng(seed)
    return np.sin(2 * np.pi * np.arange(n) / 12) + 0.1 * rng.standard_normal(n)


@pytest.fixture(scope="module")
def fitted():
    return Forecaster(**SMALL).fit(_series(), season=12)


def _one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text and text.endswith("."), text
    return text


@pytest.mark.parametrize("name,value", [
    ("horizon", 0), ("horizon", -1), ("lookback", 0), ("lookback", -3), ("epochs", 0),
    ("epochs", -1), ("hidden", 0), ("layers", 0), ("batch_size", 0), ("horizon", 2.5),
    ("hidden", True)])
def test_settings_below_one_are_refused_not_replaced(name, value):
    with pytest.raises(ValueError, match=rf"^{name} must be (a whole number )?1 or more") as e:
        Forecaster(**{name: value})
    _one_line(e)


def test_an_unknown_setting_is_named_with_the_known_ones():
    """(It was the dataclass's 'ForecastConfig.__init__() got an unexpected keyword ...'.)"""
    with pytest.raises(TypeError, match=r"^Forecaster has no setting 'hiden'; its settings "
                                        r"are model, lookback, horizon, hidden, .*\.$"):
        Forecaster(hiden=8)


@pytest.mark.parametrize("value", [0, -2, 1.5, None])
def test_season_below_one_is_refused(value):
    with pytest.raises(ValueError, match=r"^season must be a whole number 1 or more .*got "
                                         rf"{value}\.$"):
        Forecaster(**SMALL).fit(_series(), season=value)
    with pytest.raises(ValueError, match="^season must be"):
        Forecaster(**SMALL).backtest(_series(), season=value)


def test_lookback_none_means_the_default_and_is_kept():
    f = Forecaster(horizon=2, hidden=4, epochs=1)
    assert f._lookback(1) == 12 and f._lookback(12) == 24
    assert Forecaster(lookback=1, horizon=2, hidden=4, epochs=1)._lookback(12) == 1


def test_too_short_series_name_the_points_needed():
    with pytest.raises(ValueError, match=r"^the series has 15 points; lookback 8 \+ horizon 4 "
                                         r"need at least 17 to train") as e:
        Forecaster(**SMALL).fit(_series(15))
    _one_line(e)
    with pytest.raises(ValueError, match=r"^the series has 28 points; 3 fold\(s\) of horizon 4 "
                                         r"after .* need at least 29\.") as e:
        Forecaster(**SMALL).backtest(_series(28), folds=3)
    _one_line(e)
    with pytest.raises(ValueError, match="^folds must be 1 or more; got 0"):
        Forecaster(**SMALL).backtest(_series(), folds=0)


def test_constant_series_trains_predicts_and_names_no_winner_by_mase():
    y = np.full(60, 5.0)
    f = Forecaster(horizon=4, lookback=8, hidden=6, epochs=20).fit(y)
    pred = f.predict()
    assert np.isfinite(pred).all() and np.abs(pred - 5.0).max() < 0.5, pred
    res = Forecaster(**SMALL).backtest(y, folds=2)
    for name in ("model", "naive", "seasonal_naive", "ets"):
        assert res[name]["mase"] is None  # undefined: the seasonal-naive error is zero
        assert all(np.isfinite(res[name][k]) for k in ("mae", "rmse", "smape"))
    assert lowest(res, "mase") is None and lowest(res, "mae") in res
    assert scores([5.0], [5.0], y, 1)["mase"] is None


def test_constant_series_on_the_command_line(tmp_path, capsys):
    p = tmp_path / "flat.csv"
    p.write_text("year,units\n" + "".join(f"{1950 + i}-01-01,7\n" for i in range(60)))
    assert main(["forecast", "--data", str(p), "--folds", "2", "--epochs", "3", "--hidden",
                 "4", "--output", str(tmp_path / "o")]) == 0
    printed = capsys.readouterr().out
    assert "MASE is undefined" in printed and "lowest MASE:" not in printed
    assert "| GRU |" in printed and "undefined |" in printed
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())  # strict JSON: no NaN
    assert m["model"]["mase"] is None and m["lowest_mase"] is None
    assert np.isfinite(m["model"]["mae"])


@pytest.mark.parametrize("bad,match", [
    (np.nan, r"^the series has 1 missing or infinite value\(s\) \(the first, nan, at "
             r"position 40\)"),
    (np.inf, r"^the series has 1 missing or infinite value\(s\) \(the first, inf"),
    (1e30, r"^the series has the value 1e\+30 at position 40, more than 1e\+12 times its "
           r"typical magnitude")])
def test_nan_inf_and_sentinel_values_are_refused(bad, match):
    y = _series()
    y[40] = bad
    for call in (lambda: Forecaster(**SMALL).fit(y), lambda: Forecaster(**SMALL).backtest(y)):
        with pytest.raises(ValueError, match=match) as e:
            call()
        _one_line(e)


def test_a_series_of_huge_values_is_forecast_on_its_own_scale():
    y = 1e30 * (10 + _series())
    f = Forecaster(**SMALL).fit(y)
    pred = f.predict()
    assert np.isfinite(pred).all() and 5e30 < pred.min() and pred.max() < 15e30
    with pytest.raises(ValueError, match="varies too much to scale in float64"):
        Forecaster(**SMALL).fit(1e200 * (10 + _series()))


def test_a_series_of_tiny_values_is_forecast_on_its_own_scale_or_refused():
    """Values of 1e-300 square to zero: their deviation was 0, the scale 1, and the forecast
    came out near 0.1 for a series of 1e-300s. Refused now; 1e-100 is forecast as 1 is."""
    y = 10 + _series()
    f = Forecaster(**SMALL).fit(y)
    np.testing.assert_allclose(Forecaster(**SMALL).fit(1e-100 * y).predict(),
                               1e-100 * f.predict(), rtol=1e-5)
    with pytest.raises(ValueError, match=r"^the series varies too little to scale in float64 "
                                         r"\(values up to .*e-29\d\); multiply it by a power of "
                                         r"ten first\.$"):
        Forecaster(**SMALL).fit(1e-300 * y)
    tiny = Forecaster(**SMALL).fit(y, covariates=1e-300 * _series(seed=1))  # deviation 0
    assert tiny.stats[0].cstd[0] == 1.0 and np.isfinite(tiny.predict()).all()


def test_a_straight_line_is_forecast_alike_in_any_units():
    """A line's one-step changes are all alike, so their spread is float rounding (~1e-18
    for steps of 1e-3): that was the scale, its windows reached 1e15 and the forecast was the
    last value; 1 step a day in other units gave another forecast. The line's standard
    deviation scales it now, whatever its units."""
    t = np.arange(60.0)
    f = [Forecaster(**SMALL).fit(k * (5 + t)) for k in (1.0, 1e-3)]
    assert f[1].stats[0].scale == pytest.approx(1e-3 * f[0].stats[0].scale)
    np.testing.assert_allclose(f[1].predict(), 1e-3 * f[0].predict(), rtol=1e-5)
    assert Forecaster(**SMALL).fit(np.full(60, 7e-3)).stats[0].scale == 1.0  # constant


def test_covariates_misaligned_or_mismatched():
    y, c = _series(), np.ones((80, 2))
    with pytest.raises(ValueError, match="^series 0 has 80 points but its covariates have 79 "
                                         "rows; align them"):
        Forecaster(**SMALL).fit(y, covariates=c[:-1])
    with pytest.raises(ValueError, match="^1 covariate arrays for 2 series"):
        Forecaster(**SMALL).fit([y, y], covariates=[c])
    bad = c.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"^the covariates of series 0 hold 1 missing"):
        Forecaster(**SMALL).fit(y, covariates=bad)
    with pytest.raises(ValueError, match=r"^every series needs the same number of covariates; "
                                         r"got \[1, 2\]"):
        Forecaster(**SMALL).fit([y, y], covariates=[c[:, 0], c])
    f = Forecaster(**SMALL).fit(y, covariates=c)
    with pytest.raises(ValueError, match=r"^covariates must have at least 8 rows of 2"):
        f.predict(y[:40], c[:5])
    with pytest.raises(ValueError, match="^the covariate row must be 2 finite"):
        f.update(0.1, [1.0])


def test_covariates_on_other_time_stamps_are_refused():
    """Rows are paired by position: pandas covariates in another order, or shifted by their
    index (a lag meant), were paired with the wrong steps without a word."""
    import pandas as pd

    idx = pd.date_range("2020-01-01", periods=80, freq="D")
    y = pd.Series(_series(), index=idx)
    c = pd.DataFrame({"price": _series(seed=1)}, index=idx)
    for bad in (c.iloc[::-1], c.shift(1, freq="D"), c["price"].iloc[::-1]):
        with pytest.raises(ValueError, match=r"^the covariates of series 0 are on other time "
                                             r"stamps than the series \(row 0: .*\).*reindex"):
            Forecaster(**SMALL).fit(y, covariates=bad)
    with pytest.raises(ValueError, match="^the covariates of series 1 are on other time"):
        Forecaster(**SMALL).backtest([y, y], covariates=[c, c.iloc[::-1]], folds=1)
    assert Forecaster(**SMALL).fit(y, covariates=c).n_cov == 1  # the same stamps: taken
    assert Forecaster(**SMALL).fit(y, covariates=c.to_numpy()).n_cov == 1  # positions


def test_predict_and_update_with_bad_windows(fitted):
    with pytest.raises(ValueError, match=r"^predict needs the last 8 values \(the lookback\); "
                                         r"recent has 3\.$"):
        fitted.predict(_series()[:3])
    with pytest.raises(ValueError, match=r"^recent has 1 missing or infinite value\(s\)"):
        fitted.predict(np.r_[_series()[:20], np.nan])
    with pytest.raises(ValueError, match=r"^update got nan; give a finite observation\.$"):
        fitted.update(float("nan"))
    with pytest.raises(ValueError, match=r"^update takes one number; got 'x'\.$"):
        fitted.update("x")
    with pytest.raises(ValueError, match=r"^index 3 is out of range: this forecaster was "
                                         r"fitted on 1 series"):
        fitted.predict(_series(), index=3)
    with pytest.raises(ValueError, match="fitted without covariates; drop them"):
        fitted.predict(_series(), np.ones(80))
    before = fitted.predict()
    with pytest.raises(ValueError):
        fitted.update(float("inf"))
    assert np.array_equal(fitted.predict(), before)  # a refused update changes nothing


def test_series_of_other_lengths_and_other_shapes():
    y = _series(90)
    f = Forecaster(**SMALL).fit([y, y[:50]])
    assert f.predict().shape == (2, 4)  # one global model over unequal lengths
    res = Forecaster(**SMALL).backtest([y, y[:50]], folds=2)
    assert np.isfinite(res["model"]["mase"])
    with pytest.raises(ValueError, match=r"^series 1 has 12 points; lookback 8"):
        Forecaster(**SMALL).fit([y, y[:12]])
    one = Forecaster(**SMALL).fit(list(y))  # a list of numbers is one series
    assert one.single and one.predict().shape == (4,)
    for bad, match in (([], "^series is an empty list"),
                       (np.ones((2, 3, 40)), r"^series must be one 1-D array .* \(2, 3, 40\)"),
                       (["a"] * 40, "^the series must hold numbers"),
                       ([y, np.ones((40, 2))], r"^series 1 has shape \(40, 2\)"),
                       (np.array([]), r"^the series has no values; give one value a time "
                                      r"step\.$"),  # was numpy's 'zero-size array to ...'
                       ([y, []], "^series 1 has no values"),
                       # float64 dropped the imaginary parts with a warning
                       (y + 1j, "^the series must hold real numbers, not complex ones"),
                       # an OverflowError with a traceback
                       ([1] * 40 + [10 ** 400], r"^the series must hold numbers \(int too "
                                                r"large to convert to float\)\.$")):
        with pytest.raises(ValueError, match=match):
            Forecaster(**SMALL).fit(bad)


def test_series_with_time_stamps_out_of_order_or_twice_are_refused(fitted):
    """A pandas Series is read in the order it is stored: shuffled or repeated time stamps
    are refused (they were trained on as they came, a shuffled series as a series)."""
    import pandas as pd

    y = pd.Series(_series(), index=pd.date_range("2020-01-31", periods=80, freq="ME"))
    shuffled = y.sample(frac=1, random_state=0)
    twice = pd.Series(_series(), index=y.index[:40].append(y.index[:40]))
    for call, match in (
            (lambda: Forecaster(**SMALL).fit(shuffled), r"^the series has its time stamps "
                                                        r"out of order \(.* after .*\).*sort"),
            (lambda: Forecaster(**SMALL).fit([y, shuffled]), "^series 1 has its time stamps "
                                                             "out of order"),
            (lambda: Forecaster(**SMALL).backtest(shuffled, folds=1), "^the series has its"),
            (lambda: fitted.predict(shuffled), "^recent has its time stamps out of order"),
            (lambda: Forecaster(**SMALL).fit(twice), r"^the series has 40 duplicated time "
                                                     r"stamp\(s\), e.g. 2020-01-31")):
        with pytest.raises(ValueError, match=match) as e:
            call()
        _one_line(e)
    assert fitted.predict(y).shape == (4,)  # in order: taken


@pytest.mark.parametrize("flag,value,least", [
    ("--horizon", "0", 1), ("--horizon", "-2", 1), ("--folds", "0", 1), ("--lookback", "0", 1),
    ("--epochs", "0", 1), ("--epochs", "-1", 1), ("--hidden", "0", 1), ("--seed", "-1", 0)])
def test_cli_refuses_numbers_below_their_least(tmp_path, capsys, flag, value, least):
    out = tmp_path / "o"
    assert main(["forecast", "--data", "nile", flag, value, "--output", str(out)]) == 2
    printed, err = capsys.readouterr()
    assert err.strip() == f"grukit forecast: error: {flag} must be {least} or more; got {value}."
    assert printed == "" and not out.exists()  # checked before anything is made


def test_cli_bad_series_in_one_line(tmp_path, capsys):
    p = tmp_path / "s.csv"
    p.write_text("date,value\n" + "".join(f"{1900 + i}-01-01,{v}\n" for i, v in
                                          enumerate([1.0] * 30 + [1e30] + [2.0] * 30)))
    assert main(["forecast", "--data", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("grukit forecast: error: the series has the value 1e+30 at position "
                          "30") and err.count("\n") == 1 and "Traceback" not in err
    assert main(["forecast", "--data", "nile", "--folds", "9"]) == 2
    assert "need at least 117. Use fewer folds" in capsys.readouterr().err
    assert main(["forecast", "--data", str(tmp_path)]) == 2
    assert "is a folder; give a CSV file" in capsys.readouterr().err
    assert main(["forecast", "--data", "nosuchseries"]) == 2
    assert "is neither a file nor a built-in series" in capsys.readouterr().err
    assert main(["forecast", "--model", "arima", "--data", "nile"]) == 2
    assert "--model must be one of gru, lstm, rnn, mingru" in capsys.readouterr().err
    # a step of 0 divided by zero (a traceback); a step back put every time off its grid
    p.write_text("date,value\n" + "".join(f"2000-01-{d:02d},{d}\n" for d in range(1, 29)))
    for freq in ("0D", "-1D"):
        assert main(["forecast", "--data", str(p), f"--freq={freq}"]) == 2
        err = capsys.readouterr().err
        assert err == (f"grukit forecast: error: freq {freq!r} steps {freq[:-1]} at a time; a "
                       f"series' frequency steps forwards, e.g. 'D' or '2D'.\n")



@pytest.mark.parametrize("content, reason", [
    (b"date,value\n", "has a header but no rows"),
    ("date,value\n2000-01-01,1\n".encode("utf-16"), "has 1 row(s); at least 3 timestamps"),
], ids=["header-only", "utf-16-read-then-too-short"])
def test_cli_unreadable_csv_in_one_line(tmp_path, capsys, content, reason):
    p = tmp_path / "s.csv"
    p.write_bytes(content)
    assert main(["forecast", "--data", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"grukit forecast: error: {str(p)!r} {reason}") and \
        err.count("\n") == 1 and "Traceback" not in err, err


def test_predict_refuses_pandas_covariates_past_or_off_the_recent_stamps():
    """predict(recent, covariates) pairs the covariates' last rows with recent's last values:
    pandas covariates running past recent's last stamp (the known future rows) or on other
    stamps were read as if they were recent's, and the forecast changed without a word."""
    import pandas as pd

    idx = pd.date_range("2020-01-01", periods=90, freq="D")
    y = pd.Series(_series(90), index=idx)
    c = pd.DataFrame({"price": _series(90, seed=1)}, index=idx)
    f = Forecaster(**SMALL).fit(y[:80], covariates=c[:80])
    with pytest.raises(ValueError, match=r"^the covariates end at 2020-03-23 .* but recent at "
                                         r"2020-03-20 .*covariates\.loc") as e:
        f.predict(y[:80], c[:83])
    _one_line(e)
    gap = c[:80].drop(idx[75])  # ends where recent does, a day missing inside
    with pytest.raises(ValueError, match=r"^the covariates are on other time stamps than "
                                         r"recent .*reindex"):
        f.predict(y[:80], gap)
    np.testing.assert_array_equal(f.predict(y[:80], c[:80]),
                                  f.predict(y[:80].to_numpy(), c[:80].to_numpy()))
    np.testing.assert_array_equal(f.predict(y[:80], c[:80]),
                                  f.predict(y[40:80], c[:80]))  # longer history: its end


def test_dates_or_durations_given_as_the_series_are_refused(fitted):
    """float64 reads datetime64 and timedelta64 as counts of their unit: the time column
    given for the values trained on nanoseconds since 1970 and forecast them, without a
    word, and durations were forecast in whatever unit their dtype held."""
    import pandas as pd

    dates = pd.Series(pd.date_range("2020-01-01", periods=80, freq="D"))
    spans = pd.Series(pd.to_timedelta(np.arange(80), unit="s"))
    for bad, match in ((dates, r"^the series holds dates \(datetime64\[.*\]\), not numbers"),
                       (dates.dt.tz_localize("UTC"), "^the series holds dates"),
                       (dates.to_numpy(), "^the series holds dates"),
                       (spans, r"^the series holds durations \(timedelta64\[.*total_seconds")):
        with pytest.raises(ValueError, match=match) as e:
            Forecaster(**SMALL).fit(bad)
        _one_line(e)
    with pytest.raises(ValueError, match="^the covariates of series 0 hold dates"):
        Forecaster(**SMALL).fit(_series(), covariates=dates)
    with pytest.raises(ValueError, match="^recent holds dates"):
        fitted.predict(dates)


def test_predict_reads_its_covariates_as_fit_reads_them():
    """predict's covariates were read as plain floats: dates became counts of nanoseconds
    and complex values lost their imaginary parts (a warning), where fit refuses both."""
    import pandas as pd

    y, c = _series(), np.cos(np.arange(80))
    f = Forecaster(**SMALL).fit(y, season=12, covariates=c)
    dates = pd.Series(pd.date_range("2020-01-01", periods=80, freq="D"))
    spans = pd.Series(pd.to_timedelta(np.arange(80), unit="s"))
    for bad, match in ((dates, "^the covariates hold dates"),
                       (spans, "^the covariates hold durations"),
                       (c + 1j, "^the covariates must hold real numbers, not complex")):
        with pytest.raises(ValueError, match=match) as e:
            f.predict(y, bad)
        _one_line(e)
    assert np.isfinite(f.predict(y, c)).all()


def test_predict_refuses_recent_of_another_frequency_than_the_fitted_series():
    """A forecaster fitted on monthly stamps forecast daily ones (the same numbers a step
    apart of a day read as a month's) without a word, where grukit forecast predict --data
    refuses them; a series without stamps, or of the same frequency, is taken."""
    import pandas as pd

    y = pd.Series(_series(), index=pd.date_range("2020-01-31", periods=80, freq="ME"))
    f = Forecaster(**SMALL).fit(y, season=12)
    daily = pd.Series(_series(), index=pd.date_range("2020-01-01", periods=80, freq="D"))
    for call in (f.predict, f.predict_interval, f.inputs):
        with pytest.raises(ValueError, match=r"^recent is on time stamps of frequency D but "
                                             r"series 0 was fitted on ME ones.*resample") as e:
            call(recent=daily)
        _one_line(e)
    np.testing.assert_array_equal(f.predict(y), f.predict(y.to_numpy()))
    quarters = pd.Series(_series(), index=pd.period_range("2000Q1", periods=80, freq="Q"))
    with pytest.raises(ValueError, match="^recent is on time stamps of frequency QS-OCT"):
        f.predict(quarters)
    assert f.predict(daily.to_numpy()).shape == (4,)


def test_covariates_with_the_steps_ahead_missing_name_the_pairing():
    """Covariates given with their future rows left empty (NaN) were refused with 'fill them
    first': filling them would have paired the steps ahead with recent's last values."""
    y, c = _series(), np.ones((80, 2))
    f = Forecaster(**SMALL).fit(y, covariates=c)
    ahead = np.vstack([c, np.full((4, 2), np.nan)])  # the horizon's rows, unknown yet
    with pytest.raises(ValueError, match=r"^the covariates hold 8 missing or infinite value\(s\) "
                                         r"in their last 8 rows \(row 80\), which are paired "
                                         r"with the last 8 values of recent: they must end "
                                         r"where recent ends") as e:
        f.predict(y, ahead)
    _one_line(e)


def test_index_without_recent_is_refused_not_ignored():
    """predict(index=i) without recent values forecast every fitted series (or series 0 of
    one) and dropped index without a word, even one out of range; it goes with recent."""
    y = _series()
    f = Forecaster(**SMALL).fit([y, 2 * y])
    for call in (lambda: f.predict(index=1), lambda: f.predict_interval(index=1),
                 lambda: f.predict(index=7)):
        with pytest.raises(ValueError, match=r"^index \d goes with recent values: "
                                             r"predict\(recent, index=i\)") as e:
            call()
        _one_line(e)
    assert f.predict(index=0).shape == f.predict().shape == (2, 4)
    np.testing.assert_array_equal(f.predict()[1], f.predict(2 * y, index=1))


def test_a_hybrid_too_short_for_its_smoothing_names_the_smoothing_not_the_lookback():
    # the values a hybrid reads are the smoothing's start (two seasons and two), here 26 > the
    # lookback 4: the error said "lookback 26" and to shorten the lookback, which changes nothing
    with pytest.raises(ValueError, match=r"^the series has 30 points; the smoothing's start "
                                         r"\(26 values: two seasons and two\) \+ horizon 4 "
                                         r"need at least \d+ to train\. Shorten the horizon, or "
                                         r"train without hybrid\.") as e:
        Forecaster(**(SMALL | {"hybrid": True})).fit(_series(30), season=12)
    _one_line(e)


def test_a_loss_that_becomes_inf_ends_fit_in_one_sentence_naming_epoch_and_rate():
    f = Forecaster(**SMALL, learning_rate=1e30)
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="diverged") as err:
        f.fit(_series(), season=12)
    text = _one_line(err)
    assert "epoch 1 " in text and "learning rate 1e+30" in text, text
    with pytest.raises(NotFittedError):  # nothing half-trained kept
        f.predict()


def test_a_learning_rate_far_too_large_warns_that_the_network_learned_nothing():
    with pytest.warns(RuntimeWarning, match=r"learned nothing.*learning rate 1e\+09"):
        Forecaster(**SMALL, learning_rate=1e9).fit(_series(), season=12)


def test_cli_says_in_one_sentence_that_the_training_diverged(tmp_path, capsys):
    csv = tmp_path / "s.csv"
    csv.write_text("t,y\n" + "".join(f"{1900 + i},{v:.6f}\n" for i, v in enumerate(_series())))
    with pytest.warns(RuntimeWarning):
        rc = main(["forecast", "--data", str(csv), "--horizon", "4", "--lookback", "8",
                   "--hidden", "6", "--epochs", "3", "--folds", "1", "--learning-rate",
                   "1e30", "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 2 and err.startswith("grukit forecast: error: training") and \
        "diverged" in err and "learning rate 1e+30" in err, err


def test_a_hybrid_whose_correction_cannot_beat_its_smoothing_is_not_told_to_lower_its_rate():
    """A hybrid's untrained network is the smoothing forecast (a zero correction), a fitted
    model: nile's default hybrid does not beat it on its validation windows, which says
    nothing of the learning rate."""
    import warnings

    from grukit.data.series import load_builtin

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        Forecaster(horizon=10, hybrid=True, epochs=20).fit(load_builtin("nile"), 1)
    assert not [w for w in seen if "learned nothing" in str(w.message)]


def test_a_network_that_learned_what_does_not_carry_to_its_validation_windows_is_not_told_off():
    """Nile's last four windows sit near the series' mean, where the untrained network's
    forecast (0, standardised) is as good as any: the sequence network's best validation loss
    (0.4197) was no lower than before training (0.4191) while its training loss fell from
    0.93 to 0.74, and it was told it learned nothing and to lower its learning rate. Where
    the training loss fell below the untrained network's, it learned: no warning."""
    import warnings

    from grukit.data.series import load_builtin

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        f = Forecaster(horizon=10, strategy="sequence", differences=0,
                       learning_rate=1e-3).fit(load_builtin("nile"), 1)
    assert not [w for w in seen if "learned nothing" in str(w.message)]
    h = f.history.history
    assert min(h["val_loss"]) >= 0.999 * h["val_loss"][0]  # the case: validation flat
    assert min(h["loss"]) < 0.85 * h["loss"][0]  # while the training loss fell
