"""Forecaster.tune: a tiny Optuna search on validation folds inside the series it is given;
its SQLite study resumes after an interruption and ends with the same best trial as a search
never interrupted; the chosen settings are saved with the model."""

import numpy as np
import pytest

from grukit.tasks.forecast import Forecaster
from grukit.tasks.forecast import tune as tune_mod

optuna = pytest.importorskip("optuna")

TINY = {"horizon": 3, "folds": 1, "fixed": {"epochs": 2, "hidden": 4, "layers": 1}}


def _series(n=70):
    rng = np.random.default_rng(0)
    t = np.arange(n)
    return np.sin(2 * np.pi * t / 6) + 0.1 * rng.standard_normal(n)


def _summary(path, trials):
    settings, summary = tune_mod.tune(_series(), 1, trials, storage=str(path), **TINY)
    return settings, summary


def test_interrupted_search_resumes_to_the_same_best_trial(tmp_path):
    whole, whole_sum = _summary(tmp_path / "whole.db", 4)
    _, first = _summary(tmp_path / "split.db", 2)  # stopped after two trials...
    study = optuna.load_study(study_name=first["study"],
                              storage=f"sqlite:///{tmp_path}/split.db")
    study.ask()  # ...with a third one running when it stopped
    resumed, resumed_sum = _summary(tmp_path / "split.db", 4)  # resumed
    assert resumed == whole
    assert resumed_sum["params"] == whole_sum["params"]
    assert resumed_sum["best_value"] == pytest.approx(whole_sum["best_value"], rel=1e-9)
    finished = [t for t in optuna.load_study(study_name=first["study"],
                                             storage=f"sqlite:///{tmp_path}/split.db").trials
                if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 4  # the stale running trial was marked failed, not counted


def test_tuned_forecaster_keeps_its_settings_when_saved(tmp_path):
    y = _series()
    f = Forecaster.tune(y, 1, 2, **TINY)
    assert f.fitted_ and f.config.tuned["backend"] == "optuna"
    assert f.config.tuned["trials"] == 2 and f.config.horizon == 3
    assert f.config.lookback == f.config.tuned["params"]["lookback"]
    f.save(str(tmp_path / "m"))
    g = Forecaster.load(str(tmp_path / "m"))
    assert g.get_config() == f.get_config() and np.array_equal(g.predict(), f.predict())


def test_a_series_too_short_to_search_is_refused():
    with pytest.raises(ValueError, match=r"^the series has 20 points: too few for 9 validation "
                                         r"origins 1 apart of horizon 5"):
        tune_mod.tune(np.arange(20.0), 1, 1, horizon=5, folds=2)
    with pytest.raises(ValueError, match=r"^the series has 20 points: too few for 2 validation "
                                         r"fold\(s\) of horizon 5"):
        tune_mod.tune(np.arange(20.0), 1, 1, horizon=5, folds=2, origins=None)


@pytest.mark.parametrize("n", ["0", "-3"])
def test_tune_with_no_trials_is_one_line_before_anything_runs(tmp_path, capsys, n):
    from grukit.cli import main

    assert main(["forecast", "--data", "nile", "--tune", n, "--output",
                 str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and f"--tune must be 1 or more; got {n}." in captured.err


@pytest.mark.parametrize("value", ["nan", "0", "-5"])
def test_tune_timeout_that_is_no_time_is_one_line_before_anything_runs(tmp_path, capsys,
                                                                       value):
    """NaN never ran out (the search ignored it); 0 or less ran no trial, after the study."""
    from grukit.cli import main

    assert main(["forecast", "--data", "nile", "--tune", "2", "--tune-timeout", value,
                 "--output", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and (f"--tune-timeout must be a positive number of seconds; "
                                   f"got {float(value)}.") in captured.err
    assert not (tmp_path / "out" / "study.db").exists()
    with pytest.raises(ValueError, match=r"^timeout must be a positive number of seconds"):
        tune_mod.tune(_series(), 1, 1, timeout=float(value), **TINY)


@pytest.mark.parametrize("flag", [["--tune-backend", "ray"], ["--tune-storage", "s.db"]])
def test_search_flags_without_tune_are_one_line(tmp_path, capsys, flag):
    from grukit.cli import main

    assert main(["forecast", "--data", "nile", *flag, "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{flag[0]} sets up the search of --tune N; add --tune N" in err


@pytest.mark.parametrize("top", [[], ["--tune-top", "2"]])
def test_seed_reaches_the_search(tmp_path, capsys, monkeypatch, top):
    """--seed with --tune seeds the search and the model it chooses (it was dropped: the
    search and the tuned model ran with seed 0)."""
    from grukit.cli import main

    seen = {}

    def search(series, season, trials, **options):
        seen.update(options)
        raise ValueError("stopped here")

    monkeypatch.setattr(tune_mod, "tune", search)
    assert main(["forecast", "--data", "nile", "--tune", "1", *top, "--seed", "5", "--epochs",
                 "1"]) == 2
    assert seen["seed"] == 5 and "stopped here" in capsys.readouterr().err


def test_a_search_with_fixed_quantiles_keeps_the_direct_strategy():
    """Quantile outputs need the direct strategy: the search's third default trial (plain
    recursive) failed with the Forecaster's refusal after two trials had run, and the search
    ended with it; a fixed setting the Forecaster refuses is now refused before any trial."""
    fixed = TINY["fixed"] | {"quantiles": [0.1, 0.9]}
    settings, summary = tune_mod.tune(_series(), 1, 4, **(TINY | {"fixed": fixed}))
    assert settings["strategy"] == "direct" and settings["quantiles"] == [0.1, 0.9]
    assert summary["completed"] == 4
    for bad, match in (({"strategy": "recursive"}, "^strategy='recursive' forecasts"),
                       ({"hiden": 4}, "^Forecaster has no setting 'hiden'")):
        with pytest.raises((ValueError, TypeError), match=match):
            tune_mod.tune(_series(), 1, 4, **(TINY | {"fixed": fixed | bad}))
