"""strategy="recursive": a network that forecasts the next value, fed its own forecasts back
h times. A forecast continued from its own first step is the rest of the same forecast; the
calibration origins' one-step windows are held out of training; misuse is one sentence."""

import numpy as np
import pytest

from grukit.tasks.forecast import Forecaster, scaling
from grukit.tasks.forecast import forecaster as forecaster_mod

SMALL = {"strategy": "recursive", "horizon": 5, "lookback": 10, "hidden": 6, "epochs": 3}


def _series(n=90):
    rng = np.random.default_rng(0)
    t = np.arange(n)
    return 20 + 3 * np.sin(2 * np.pi * t / 12) + 0.05 * t + 0.3 * rng.standard_normal(n)


def test_each_step_reads_the_forecasts_before_it():
    y = _series()
    f = Forecaster(**SMALL, ensemble=2).fit(y, 12)
    p = f.predict()
    assert p.shape == (5,) and np.all(np.isfinite(p))
    # continuing the series with the forecast's first value gives the rest of the forecast
    np.testing.assert_allclose(f.predict(np.r_[y, p[0]])[:4], p[1:], rtol=0, atol=1e-9)
    # and the first value is the median of the networks' one-step outputs on the last window
    x = scaling.plain_inputs(y[None, -10:], f.stats[0])
    step = np.median([float(net.predict(x)[0, 0]) for net in f.nets])
    assert p[0] == pytest.approx(y[-1] + f.stats[0].scale * step, rel=1e-12)


def test_calibration_origins_one_step_windows_are_held_out(monkeypatch):
    seen = []
    real = forecaster_mod.train_network

    def spy(self, ys, cs, lookback, seed, held, *rest):
        seen.append(list(held))
        return real(self, ys, cs, lookback, seed, held, *rest)

    monkeypatch.setattr(forecaster_mod, "train_network", spy)
    y = _series()
    f = Forecaster(**SMALL).fit(y, 12)
    n_val = f.residuals().shape[0]
    assert seen == [[n_val + 5 - 1]]  # the calibration windows' every one-step window
    direct = Forecaster(**(SMALL | {"strategy": "direct"})).fit(y, 12)
    assert seen[-1] == [direct.residuals().shape[0]]  # direct: the calibration windows


def test_saved_and_loaded_recursive_forecaster_forecasts_the_same(tmp_path):
    f = Forecaster(**SMALL).fit(_series(), 12)
    f.save(str(tmp_path / "m"))
    g = Forecaster.load(str(tmp_path / "m"))
    assert g.config.strategy == "recursive"
    np.testing.assert_array_equal(g.predict(), f.predict())
    lo, hi = g.predict_interval()
    assert np.all(lo < g.predict()) and np.all(g.predict() < hi)


@pytest.mark.parametrize("extra, message", [
    ({"hybrid": True}, r"^strategy='recursive' forecasts a plain network's next value and "
                       r"feeds it back; hybrid=True needs strategy='direct'\.$"),
    ({"quantiles": [0.1, 0.9]}, r"quantiles needs strategy='direct'\.$"),
    ({"strategy": "stepwise"}, r"^strategy must be one of 'direct', 'recursive', 'sequence'; "
                               r"got 'stepwise'\.$"),
])
def test_bad_combinations_are_one_sentence(extra, message):
    with pytest.raises(ValueError, match=message):
        Forecaster(**(SMALL | extra))


def test_covariates_are_refused_in_one_sentence():
    y = _series()
    with pytest.raises(ValueError, match=r"covariates of the steps ahead are not known; use "
                                         r"strategy='direct' with covariates\.$"):
        Forecaster(**SMALL).fit(y, 12, covariates=np.cos(np.arange(len(y))))
    f = Forecaster(**SMALL).fit(y, 12)  # (its export: tests/export/test_forecast_export_*)
    # covariates given to its predict were dropped without a word; the direct one refuses
    with pytest.raises(ValueError, match=r"^this forecaster was fitted without covariates; "
                                         r"drop them\.$"):
        f.predict(y, np.ones(len(y)))


def test_search_weighs_the_recursive_default_and_searches_the_strategy(tmp_path):
    optuna = pytest.importorskip("optuna")
    from grukit.tasks.forecast import tune as tune_mod

    db = str(tmp_path / "s.db")
    _, summary = tune_mod.tune(_series(), 12, 4, horizon=3, origins=4, storage=db,
                               fixed={"epochs": 2, "hidden": 4})
    trials = optuna.load_study(study_name=summary["study"], storage=f"sqlite:///{db}").trials
    assert [t.params["strategy"] for t in trials[:3]] == ["direct", "direct", "recursive"]
    assert "hybrid" not in trials[2].params  # the hybrid is no choice for a recursive model
    assert not {"epochs", "hidden"} & {k for t in trials for k in t.params}  # fixed: not searched
    assert trials[2].user_attrs["settings"]["hybrid"] is False
    # a study begun before the strategy was searched (its trials lack it) still resumes
    old = {k: v for k, v in trials[0].params.items() if k != "strategy"}
    settings = tune_mod._suggest(optuna.trial.FixedTrial({"strategy": "direct"} | old), 12,
                                 60, {"epochs": 2, "hidden": 4})
    assert settings["strategy"] == "direct" and settings["hybrid"] is False
