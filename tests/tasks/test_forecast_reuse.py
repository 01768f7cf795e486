"""What a forecast run reuses and keeps: resumed folds and searches belong to their own data
and settings, the search's summary names the settings its model runs with, covariates reach
every member, and inputs whose shape or index used to be misread are read or refused."""

import numpy as np
import pandas as pd
import pytest

from grukit.cli import main
from grukit.tasks.forecast import AnchoredForecaster, Forecaster, baselines
from grukit.tasks.forecast import tune as tune_mod

FAST = ["--epochs", "2", "--hidden", "4"]
TINY = {"epochs": 1, "hidden": 4, "layers": 1}


def _csv(path, n=80):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n)
    y = 5 + np.sin(np.arange(n) / 3) + 0.5 * np.r_[0, x[:-1]]
    days = pd.date_range("2000-01-01", periods=n, freq="D")
    path.write_text("date,y,x\n" + "".join(f"{d.date()},{a:.5f},{b:.5f}\n"
                                           for d, a, b in zip(days, y, x, strict=True)))
    return path


def test_resume_does_not_reuse_folds_of_other_covariates(tmp_path, capsys):
    data, out = _csv(tmp_path / "s.csv"), str(tmp_path / "out")
    base = ["forecast", "--data", str(data), "--target", "y", "--horizon", "4", "--folds", "1",
            "--lookback", "8", *FAST, "--output", out]
    assert main([*base, "--covariates", "x"]) == 0
    capsys.readouterr()
    assert main([*base, "--resume"]) == 2  # the same series without its covariate
    assert "was written by a run with other data, folds or settings" in capsys.readouterr().err
    assert main([*base, "--covariates", "x", "--resume"]) == 0
    assert "resuming: 1 of 1 folds" in capsys.readouterr().out


def test_a_study_file_keeps_the_searches_of_other_data_apart(tmp_path):
    pytest.importorskip("optuna")
    db = str(tmp_path / "s.db")
    t = np.arange(60.0)
    a, b = np.sin(t / 3), 10 + 3 * np.cos(t / 5)
    _, sa = tune_mod.tune(a, 1, 2, horizon=3, folds=1, storage=db, fixed=TINY)
    _, sb = tune_mod.tune(b, 1, 2, horizon=3, folds=1, storage=db, fixed=TINY)
    assert sa["study"] != sb["study"] and sb["completed"] == 2  # a search of its own
    _, again = tune_mod.tune(b, 1, 2, horizon=3, folds=1, storage=db, fixed=TINY)
    assert again["study"] == sb["study"] and again["trials"] == sb["trials"]  # resumed
    with pytest.raises(ValueError, match=f"the study {sa['study']!r} in .* was made on other "
                                         f"data or settings"):
        tune_mod.tune(b, 1, 2, horizon=3, folds=1, storage=db, fixed=TINY,
                      study_name=sa["study"])


def test_the_summary_names_the_settings_the_model_runs_with(tmp_path):
    pytest.importorskip("optuna")
    y = np.sin(np.arange(60.0) / 3)
    seen = []
    fixed = {"hybrid": True, "hidden": 8, "epochs": 1, "lookback": 8}
    settings, summary = tune_mod.tune(y, 1, 2, horizon=3, folds=1, fixed=fixed,
                                      storage=str(tmp_path / "s.db"), on_trial=seen.append)
    assert seen == [1, 2]
    for k, v in fixed.items():
        assert settings[k] == v and summary["params"][k] == v
    assert summary["params"]["strategy"] == "direct"
    assert tune_mod.starts(1, 40, fixed) == [{"layers": 1, "dropout": 0.0,
                                              "learning_rate": 3e-3, "strategy": "direct"}]
    # hybrid fixed off: the plain, recursive and sequence defaults, as the search samples all
    assert [t["strategy"] for t in tune_mod.starts(1, 40, {"hybrid": False})] == \
        ["direct", "recursive", "sequence"]


def test_a_search_with_covariates_keeps_the_direct_strategy():
    pytest.importorskip("optuna")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((60, 1))
    y = np.sin(np.arange(60.0) / 3) + 0.3 * x[:, 0]
    settings, summary = tune_mod.tune(y, 1, 3, horizon=3, folds=1, covariates=x, fixed=TINY)
    assert settings["strategy"] == "direct" and summary["completed"] == 3
    with pytest.raises(ValueError, match="a recursive forecaster cannot feed covariates"):
        tune_mod.tune(y, 1, 1, horizon=3, covariates=x, fixed=TINY | {"strategy": "recursive"})


def test_anchored_members_continue_their_own_covariates():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((90, 1))
    y = 5 + np.sin(np.arange(90.0) / 3) + 0.3 * x[:, 0]
    members = [{"horizon": 3, "lookback": 6} | TINY, {"horizon": 3, "hybrid": True} | TINY]
    m = AnchoredForecaster(members=members, shrink=0.5).fit(y, 1, covariates=x)
    med = np.median([f.predict() for f in m.members], axis=0)
    e = baselines.ets(y, 3, 1)
    np.testing.assert_allclose(m.predict(), e + 0.5 * (med - e), rtol=1e-12)


def test_a_constant_series_searches_and_saves(tmp_path):
    pytest.importorskip("optuna")
    f = Forecaster.tune(np.zeros(40), 1, 1, horizon=3, folds=1, fixed=TINY)
    assert f.config.tuned["best_value"] is None  # its MASE is undefined, not infinite
    f.save(str(tmp_path / "m"))
    assert Forecaster.load(str(tmp_path / "m")).config.tuned == f.config.tuned


def test_period_and_timedelta_indexes():
    y = np.sin(np.arange(40.0) / 3)
    f = Forecaster(horizon=3, lookback=6, **TINY)
    f.fit(pd.Series(y, index=pd.period_range("1900", periods=40, freq="Y")), 1)
    assert list(f.future_index().year) == [1940, 1941, 1942]
    f.fit(pd.Series(y, index=pd.timedelta_range("1D", periods=40, freq="D")), 1)
    assert f.future_index() is None  # no calendar: the forecast is numbered by step


def test_a_column_of_values_is_named_not_misread():
    y = np.sin(np.arange(40.0) / 3)
    f = Forecaster(horizon=3, lookback=6, **TINY)
    with pytest.raises(ValueError, match=r"shape \(40, 1\), which reads as 40 series of one "
                                         r"point .* pass y.ravel\(\)"):
        f.fit(y[:, None], 1)
    with pytest.raises(ValueError, match="a DataFrame of 2 columns; give one column"):
        f.fit(pd.DataFrame({"a": y, "b": y}), 1)
    f.fit(pd.DataFrame({"a": y}), 1)  # one column: that series
    assert f.single and np.array_equal(f.last[0], y[-6:])


def test_tune_is_refused_before_the_search(tmp_path, capsys):
    pytest.importorskip("optuna")
    nile = ["forecast", "--data", "nile", "--tune", "2", *FAST]
    assert main([*nile, "--horizon", "34", "--folds", "3"]) == 2
    captured = capsys.readouterr()
    assert "tuning:" not in captured.out and "--tune: the series has 100 points" in captured.err
    (tmp_path / "notdb.db").write_text("a,b\n1,2\n")
    for store, said in ((tmp_path, "is a folder"), (tmp_path / "no" / "x.db", "does not exist"),
                        (tmp_path / "notdb.db", "is not a study file")):
        assert main([*nile, "--tune-storage", str(store)]) == 2
        assert said in capsys.readouterr().err
    (tmp_path / "o").mkdir()
    assert main(["forecast", "--data", "nile", *FAST, "--output", str(tmp_path / "o"),
                 "--save", str(tmp_path / "o")]) == 2
    assert "give the model a folder of its own" in capsys.readouterr().err
    assert not any((tmp_path / "o").iterdir())  # refused before any work


def test_a_study_file_of_the_old_naming_is_resumed_with_a_warning(tmp_path):
    pytest.importorskip("optuna")
    db = str(tmp_path / "old.db")
    y = np.sin(np.arange(60.0) / 3)
    _, first = tune_mod.tune(y, 1, 2, horizon=3, folds=1, storage=db, fixed=TINY,
                             study_name="forecast")  # as every study was named before
    with pytest.warns(UserWarning, match="resuming its study 'forecast'"):
        _, again = tune_mod.tune(y, 1, 2, horizon=3, folds=1, storage=db, fixed=TINY)
    assert again["study"] == "forecast" and again["trials"] == first["trials"]
