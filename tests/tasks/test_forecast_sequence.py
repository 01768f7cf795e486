"""strategy="sequence": a network trained on the next value at every step of its windows
(teacher forcing), whose forecast runs it over the last lookback values and feeds each
forecast back with its state carried on. Each forecast is the network's output at the step
before it, given the forecasts before it; the training windows' targets are their inputs
one step on; misuse is one sentence."""

import numpy as np
import pytest
from test_forecast_recursive import _series  # the recursive strategy's test series

from grukit.tasks.forecast import Forecaster, scaling
from grukit.tasks.forecast import forecaster as forecaster_mod

SMALL = {"strategy": "sequence", "horizon": 5, "lookback": 10, "hidden": 6, "epochs": 3}


def test_windows_targets_are_the_inputs_one_step_on():
    y = _series(40)
    st = scaling.fit_stats(y, None, 12, False)
    x, t = scaling.sequence_windows(y, st, 10)
    assert x.shape == t.shape == (40 - 10, 10, 1) and x.dtype == np.float32
    z = (y - y.mean()) / y.std()
    np.testing.assert_allclose(x[0, :, 0], z[:10], rtol=1e-6)
    np.testing.assert_allclose(t[:, :-1], x[:, 1:])  # each target is the next input
    np.testing.assert_allclose(t[-1, -1, 0], z[-1], rtol=1e-6)  # the last window's: y[-1]
    # a window's last target is the recursive strategy's target for the same window
    _, rec, origins = scaling.training_windows(y, None, st, 10, 1)
    np.testing.assert_allclose(t[:, -1, 0] * st.std + st.mean,
                               rec[:, 0] * st.scale + y[origins], rtol=1e-6)


@pytest.mark.parametrize("model", ["gru", "lstm"])
def test_each_forecast_is_the_network_output_given_the_forecasts_before_it(model):
    y = _series()
    f = Forecaster(**SMALL, model=model).fit(y, 12)
    p = f.predict()
    assert p.shape == (5,) and np.all(np.isfinite(p))
    st = f.stats[0]
    # one pass over the window and the first four forecasts (a causal network: the outputs
    # at the last five steps are what a stream carrying its state would give)
    x = scaling.sequence_inputs(np.r_[y[-10:], p[:-1]][None], st)
    out = f.net.predict(x)[0, -5:, 0]
    np.testing.assert_allclose(st.mean + st.std * out, p, rtol=1e-6)
    assert f.inputs(y).shape == (1, 10, 1)
    np.testing.assert_array_equal(f.inputs(y), x[:, :10])


def test_ensemble_forecast_is_the_median_at_each_step():
    y = _series()
    f = Forecaster(**SMALL, ensemble=3).fit(y, 12)
    p, st = f.predict(), f.stats[0]
    x = scaling.sequence_inputs(np.r_[y[-10:], p[:-1]][None], st)
    outs = [net.predict(x)[0, -5:, 0] for net in f.nets]
    np.testing.assert_allclose(st.mean + st.std * np.median(outs, axis=0), p, rtol=1e-6)


def test_validation_windows_are_the_calibration_windows(monkeypatch):
    seen = []
    real = forecaster_mod.train_network

    def spy(self, ys, cs, lookback, seed, held, *rest):
        seen.append(list(held))
        return real(self, ys, cs, lookback, seed, held, *rest)

    monkeypatch.setattr(forecaster_mod, "train_network", spy)
    f = Forecaster(**SMALL).fit(_series(), 12)
    assert seen == [[f.residuals().shape[0]]]


def test_saved_and_loaded_sequence_forecaster_forecasts_the_same(tmp_path):
    y = _series()
    f = Forecaster(**SMALL).fit(y, 12)
    f.save(str(tmp_path / "m"))
    g = Forecaster.load(str(tmp_path / "m"))
    assert g.config.strategy == "sequence"
    np.testing.assert_array_equal(g.predict(), f.predict())
    np.testing.assert_array_equal(g.predict(y[:-7]), f.predict(y[:-7]))
    lo, hi = g.predict_interval()
    assert np.all(lo < g.predict()) and np.all(g.predict() < hi)


def test_backtest_and_sliding_protocol_run_it():
    from grukit.tasks.forecast.sliding import sliding

    y = _series(120)
    res = Forecaster(**SMALL).backtest(y, 12, folds=2)
    assert np.isfinite(res["model"]["mase"])
    out = sliding(Forecaster(**SMALL), y, 12)
    assert np.isfinite(out["model"]["mse"])


@pytest.mark.parametrize("extra, message", [
    ({"hybrid": True}, r"^strategy='sequence' forecasts a plain network's next value and "
                       r"feeds it back; hybrid=True needs strategy='direct'\.$"),
    ({"quantiles": [0.1, 0.9]}, r"quantiles needs strategy='direct'\.$"),
])
def test_bad_combinations_are_one_sentence(extra, message):
    with pytest.raises(ValueError, match=message):
        Forecaster(**(SMALL | extra))


def test_covariates_are_refused_in_one_sentence():
    y = _series()
    with pytest.raises(ValueError, match=r"^a sequence forecaster feeds its forecasts back as "
                                         r"inputs, and the covariates of the steps ahead are "
                                         r"not known; use strategy='direct' with covariates\.$"):
        Forecaster(**SMALL).fit(y, 12, covariates=np.cos(np.arange(len(y))))
    # (its export: tests/export/test_forecast_export_strategies.py)


def test_default_lookback_and_the_search_tries_the_sequence_default(tmp_path):
    optuna = pytest.importorskip("optuna")
    from grukit.tasks.forecast import tune as tune_mod

    assert Forecaster(strategy="sequence")._lookbacks(12) == [48]
    assert Forecaster(strategy="sequence")._lookbacks(1) == [24]
    assert Forecaster()._lookbacks(1) == [12]  # the other strategies keep theirs
    first = tune_mod.starts(1, 60, {})
    assert [t["strategy"] for t in first] == ["direct", "direct", "recursive", "sequence"]
    assert first[3]["lookback"] == 24 and first[0]["lookback"] == 12
    db = str(tmp_path / "s.db")
    _, summary = tune_mod.tune(_series(), 12, 4, horizon=3, origins=4, storage=db,
                               fixed={"epochs": 2, "hidden": 4})
    trials = optuna.load_study(study_name=summary["study"], storage=f"sqlite:///{db}").trials
    # (it may be pruned: the first three are the pruner's start-up trials)
    assert trials[3].params["strategy"] == "sequence" and "hybrid" not in trials[3].params
    assert trials[3].params["lookback"] == 48


def test_a_study_begun_before_sequence_was_searched_resumes_with_its_own_choices(tmp_path):
    optuna = pytest.importorskip("optuna")
    from optuna.distributions import CategoricalDistribution

    from grukit.tasks.forecast import tune as tune_mod

    db = str(tmp_path / "old.db")
    url = f"sqlite:///{db}"
    old = optuna.create_study(study_name="s", storage=url)
    two = CategoricalDistribution(["direct", "recursive"])
    old.add_trial(optuna.trial.create_trial(params={"strategy": "recursive"},
                                            distributions={"strategy": two}, value=1.0))
    # Optuna refuses a third choice under the name: the search goes on with the study's two
    tune_mod.tune(_series(), 12, 6, horizon=3, origins=4, storage=db, study_name="s",
                  fixed={"epochs": 2, "hidden": 4})
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert len(trials) >= 6
    assert all(t.distributions["strategy"].choices == ("direct", "recursive")
               for t in trials if "strategy" in t.distributions)


def test_a_ray_search_begun_before_sequence_was_searched_resumes_with_its_own_choices():
    optuna = pytest.importorskip("optuna")
    from grukit.tasks.forecast.tune_ray import _Space

    # a restored Ray searcher holds its Optuna study, whose trials sampled two strategies;
    # the define-by-run space samples the next trial from those two (Optuna refuses three)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    old = study.ask()
    old.suggest_categorical("strategy", ["direct", "recursive"])
    study.tell(old, 1.0)
    for _ in range(4):
        trial = study.ask()
        _Space(12, 60)(trial)
        assert trial.params["strategy"] in ("direct", "recursive")
        study.tell(trial, 1.0)
    fresh = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    picked = set()
    for _ in range(12):
        trial = fresh.ask()
        _Space(12, 60)(trial)
        picked.add(trial.params["strategy"])
        fresh.tell(trial, 1.0)
    assert "sequence" in picked  # a new search samples all three


def torch_twin(f, layers: int):
    """torch.nn.GRU (float64, hidden 6) + Linear holding the weights of ``f``'s network."""
    import torch

    sd = f.net.state_dict()
    gru = torch.nn.GRU(1, 6, num_layers=layers, batch_first=True).double()
    head = torch.nn.Linear(6, 1).double()
    with torch.no_grad():
        for k in range(layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(gru, f"{name}_l{k}").copy_(sd[f"stack.{k}.rnn.{name}_l0"])
        head.weight.copy_(sd[f"stack.{layers}.linear.weight"])
        head.bias.copy_(sd[f"stack.{layers}.linear.bias"])
    return gru, head


@pytest.mark.parametrize("layers", [1, 2])
def test_forecast_equals_torch_gru_stepped_with_its_state_carried(layers):
    """torch.nn.GRU + Linear with the network's weights, run over the last lookback values
    and then one step per forecast, its state carried on: the same forecasts."""
    import torch

    y = _series()
    f = Forecaster(**SMALL, layers=layers).fit(y, 12)
    gru, head = torch_twin(f, layers)
    st = f.stats[0]
    with torch.no_grad():
        x = torch.tensor((y[-10:] - st.mean) / st.std)[None, :, None]  # (1, 10, 1)
        out, state = gru(x)
        ref = []
        for _ in range(5):
            ref.append(st.mean + st.std * head(out[:, -1]).item())
            x = torch.tensor([[[(ref[-1] - st.mean) / st.std]]], dtype=torch.float64)
            out, state = gru(x, state)
    np.testing.assert_allclose(f.predict(), ref, rtol=1e-5)


@pytest.mark.parametrize("strategy", ["direct", "sequence"])
def test_the_ray_space_samples_what_its_trials_run_with_a_fixed_strategy(strategy):
    optuna = pytest.importorskip("optuna")
    from grukit.tasks.forecast.tune import _suggest
    from grukit.tasks.forecast.tune_ray import _Space

    # covariates or quantiles fix the direct strategy; a trial sampled as recursive or
    # sequence had no hybrid for its run to read, and failed
    fixed = {"horizon": 3, "seed": 0, "strategy": strategy}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(6):
        trial = study.ask()
        _Space(12, 60, fixed)(trial)
        assert "strategy" not in trial.params
        settings = _suggest(optuna.trial.FixedTrial(trial.params), 12, 60, fixed)
        assert settings["strategy"] == strategy
        assert settings["hybrid"] == trial.params.get("hybrid", False)
        study.tell(trial, 1.0)


def test_no_calibration_target_is_a_training_target_beyond_the_direct_strategys(monkeypatch):
    """The latest value a training window targets, for the sequence and the direct strategy
    alike: the one before the last calibration window's last target (n − 1 − n_val)."""
    y = np.arange(80, dtype=float)  # each value is its own index
    last = {}
    real = forecaster_mod.train_network

    def spy(self, ys, cs, lookback, seed, held, *rest):
        x, target = self._windows(ys[0], cs[0], self.stats[0], lookback)
        st = self.stats[0]
        kept = target[:-held[0]]
        if self.config.strategy == "sequence":
            last["sequence"] = float(np.max(kept * st.std + st.mean))
        else:
            origins = np.arange(lookback - 1, len(ys[0]) - self.config.horizon)[:-held[0]]
            last["direct"] = float(np.max(kept * st.scale + ys[0][origins][:, None]))
        return real(self, ys, cs, lookback, seed, held, *rest)

    monkeypatch.setattr(forecaster_mod, "train_network", spy)
    for strategy in ("sequence", "direct"):
        f = Forecaster(**(SMALL | {"strategy": strategy, "epochs": 1})).fit(y, 1)
        n_val = f.residuals().shape[0]
        np.testing.assert_allclose(last[strategy], len(y) - 1 - n_val, atol=1e-3)
