"""Validation origins of the search, the median of its best trials and the ETS anchor with a
shrinkage chosen on the validation origins (``tune.validation_plan``, ``tune.ranked``,
``anchored``); the bar run never hands a test point to a choice."""

import json

import numpy as np
import pytest

from grukit.tasks.forecast import anchored, baselines
from grukit.tasks.forecast import tune as tune_mod
from grukit.tasks.forecast.metrics import scores

optuna = pytest.importorskip("optuna")

TINY = {"epochs": 2, "hidden": 4, "layers": 1}


def _series(n=80):
    rng = np.random.default_rng(0)
    t = np.arange(n)
    return 5 + np.sin(2 * np.pi * t / 6) + 0.02 * t + 0.1 * rng.standard_normal(n)


def test_validation_plan_spaces_origins_by_step_and_keeps_every_target_inside():
    plan = tune_mod.validation_plan(100, 10, 2, origins=8, step=5)
    assert plan == [[45, 40, 35, 30], [25, 20, 15, 10]]  # points after each origin
    ends = [d for g in plan for d in g]
    assert min(ends) == 10  # the last origin's targets end where the series does
    assert tune_mod.validation_plan(100, 10, 3) == [[30], [20], [10]]  # the old folds
    assert tune_mod.validation_plan(100, 12, 2, origins=6) == [[42, 36, 30], [24, 18, 12]]


def test_validation_plan_too_long_for_the_series_is_one_sentence():
    with pytest.raises(ValueError, match=r"^12 validation origins 5 apart need more than 65 "
                                         r"points; the series has 60\.$"):
        tune_mod.validation_plan(60, 10, 2, origins=12, step=5)


def test_short_series_get_a_smaller_step_that_leaves_room_to_train():
    step, room = tune_mod.fit_step(70, 10, 2, 8, None, 1)  # nile before its test folds
    assert step == 4 and room >= 8
    assert tune_mod.fit_step(300, 10, 2, 8, None, 1)[0] == 5  # h/2 where it fits


def test_search_starts_from_the_defaults_and_keeps_each_trials_forecasts(tmp_path):
    y = _series()
    db = str(tmp_path / "s.db")
    _, summary = tune_mod.tune(y, 1, 4, horizon=3, origins=6, storage=db, fixed=TINY)
    assert summary["step"] == 1 and summary["plan"] == [[8, 7, 6], [5, 4, 3]]
    study = optuna.load_study(study_name=summary["study"], storage=f"sqlite:///{db}")
    first = [t.params["hybrid"] for t in study.trials[:2]]
    assert first == [False, True]
    assert study.trials[0].params["learning_rate"] == 3e-3
    top = tune_mod.ranked(study, 3)
    assert [v for v, _, _ in top] == sorted(v for v, _, _ in top)
    value, settings, forecasts = top[0]
    assert forecasts.shape == (1, 6, 3)
    again, f2 = tune_mod.validation_forecasts(settings, [y], None, 1, summary["plan"])
    assert again == pytest.approx(value, rel=1e-6)
    np.testing.assert_allclose(f2, forecasts, rtol=1e-5, atol=1e-6)


def test_search_with_an_unknown_clock_is_one_sentence():
    with pytest.raises(ValueError, match=r"^clock must be 'wall' or 'cpu'; got 'gpu'\.$"):
        tune_mod.tune(_series(), 1, 1, horizon=3, clock="gpu")


def _fake(y, plan, h, truth_weight):
    """A ranked list of three trials whose forecasts mix the truth with noise."""
    ends = [d for g in plan for d in g]
    truth = np.array([[y[len(y) - d:len(y) - d + h] for d in ends]])  # (1, N, h)
    rng = np.random.default_rng(1)
    out = []
    for k in range(3):
        noise = 3.0 * rng.standard_normal(truth.shape)
        out.append((0.1 * k, {"horizon": h, "seed": k}, truth_weight * truth +
                    (1 - truth_weight) * (truth + noise)))
    return out


def test_shrinkage_goes_to_the_networks_when_they_are_right_and_to_ets_when_not():
    y = _series()
    plan = tune_mod.validation_plan(len(y), 3, 2, origins=6, step=1)
    ets = anchored.ets_at([y], 1, plan, 3)
    good = anchored.choose(y, 1, _fake(y, plan, 3, 1.0), plan, ets=ets)
    assert good.shrink == 1.0 and good.validation["median"] == pytest.approx(0.0, abs=1e-12)
    bad = anchored.choose(y, 1, _fake(y, plan, 3, 0.0), plan, ets=ets)
    assert bad.shrink < 0.5
    # λ scores what the anchored forecasts score at those origins
    lam = bad.shrink
    med = np.median(np.stack([f for _, _, f in _fake(y, plan, 3, 0.0)]), axis=0)
    direct = []
    for j, d in enumerate([d for g in plan for d in g]):
        o = len(y) - d
        direct.append(scores(y[o:o + 3], ets[0, j] + lam * (med[0, j] - ets[0, j]), y[:o],
                             1)["mase"])
    assert bad.validation["mase_by_shrink"][lam] == pytest.approx(np.mean(direct), rel=1e-12)
    assert bad.residuals[0].shape == (6, 3)


def test_choose_refuses_no_trials_and_misshapen_ets():
    y = _series()
    plan = tune_mod.validation_plan(len(y), 3, 2, origins=6, step=1)
    with pytest.raises(ValueError, match=r"^ranked holds no finished trial"):
        anchored.choose(y, 1, [], plan)
    with pytest.raises(ValueError, match=r"^ets must be shaped as the trials' forecasts"):
        anchored.choose(y, 1, _fake(y, plan, 3, 1.0), plan, ets=np.zeros((1, 5, 3)))


def test_anchored_backtest_with_no_shrink_is_ets_on_the_same_folds():
    y = _series()
    a = anchored.Anchored([{"horizon": 3, "seed": 0, "lookback": 6} | TINY], 0.0, 1,
                          [np.ones((6, 3))])
    res = anchored.backtest(a, y, folds=2)
    for k in range(2):
        o = len(y) - (2 - k) * 3
        e = baselines.ets(y[:o], 3, 1)
        assert res["model"]["folds"][k]["mase"] == scores(y[o:o + 3], e, y[:o], 1)["mase"]
        assert res["model"]["forecasts"][k][0]["origin"] == o
    assert res["model"]["mase"] == res["ets"]["mase"]
    assert 0.0 <= res["model"]["coverage"] <= 1.0


def test_bar_run_hands_no_test_point_to_the_search_or_the_choice(tmp_path, monkeypatch):
    from grukit.tasks.forecast import bars

    seen = []
    real_tune, real_ets = tune_mod.tune, anchored.ets_at
    monkeypatch.setattr(tune_mod, "tune", lambda s, *a, **k: (seen.append(len(s)),
                                                              real_tune(s, *a, **k))[1])
    monkeypatch.setattr(anchored, "ets_at", lambda ys, *a: (seen.append(len(ys[0])),
                                                            real_ets(ys, *a))[1])
    import torch

    threads = torch.get_num_threads()
    try:
        assert bars.main(["nile", "--trials", "3", "--top", "2", "--out", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)  # the run takes one thread, as its budget says
    assert seen == [100 - 30, 100 - 30]  # nile: 100 years, 3 test folds of 10
    res = json.loads((tmp_path / "result.json").read_text())
    assert res["search_points"] == 70 and res["summary"]["completed"] >= 1
    assert 0.0 <= res["shrink"] <= 1.0 and len(res["backtest"]["model"]["folds"]) == 3
    # a second backtest of the same search, two seeds a member: no new search
    try:
        assert bars.main(["nile", "--search-from", str(tmp_path), "--reseed", "--seeds", "2",
                          "--top", "2", "--out", str(tmp_path / "again")]) == 0
    finally:
        torch.set_num_threads(threads)
    again = json.loads((tmp_path / "again" / "result.json").read_text())
    assert seen == [70, 70, 70]  # ETS at the validation origins again, no search
    assert [m["seed"] for m in again["members"]] == [2 * k for k in range(len(again["members"]))]
    assert all(m["ensemble"] == 2 for m in again["members"])
    assert again["shrink"] == res["shrink"] and again["summary"] == res["summary"]


def test_bar_run_pools_the_best_trials_of_searches_run_side_by_side(tmp_path, capsys):
    import torch

    from grukit.tasks.forecast import bars

    threads = torch.get_num_threads()
    try:
        for seed in (0, 1):
            assert bars.main(["nile", "--trials", "3", "--top", "2", "--seed", str(seed),
                              "--out", str(tmp_path / f"s{seed}")]) == 0
        assert bars.main(["nile", "--search-from", str(tmp_path / "s0"), str(tmp_path / "s1"),
                          "--top", "3", "--out", str(tmp_path / "pool")]) == 0
    finally:
        torch.set_num_threads(threads)
    values = []
    for seed in (0, 1):
        study = optuna.load_study(study_name="forecast",
                                  storage=f"sqlite:///{tmp_path / f's{seed}' / 'study.db'}")
        values += [t.value for t in study.trials if t.state.name == "COMPLETE"]
    pooled = json.loads((tmp_path / "pool" / "result.json").read_text())
    assert pooled["validation"]["members"] == sorted(values)[:3]
    runs = [json.loads((tmp_path / f"s{k}" / "result.json").read_text()) for k in (0, 1)]
    assert pooled["summary"]["completed"] == sum(r["summary"]["completed"] for r in runs)
    assert pooled["search_cpu_s"] == pytest.approx(sum(r["search_cpu_s"] for r in runs))
    # a run of other validation origins is not pooled with them
    other = json.loads((tmp_path / "s1" / "result.json").read_text())
    other["summary"]["plan"] = [[9], [5]]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "result.json").write_text(json.dumps(other))
    capsys.readouterr()
    assert bars.main(["nile", "--search-from", str(tmp_path / "s0"), str(tmp_path / "other"),
                      "--out", str(tmp_path / "bad")]) == 2
    assert "those runs searched other points or origins" in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["--timeout", "-5"], "--timeout must be positive; got -5.0."),
    (["--timeout", "nan"], "--timeout must be positive; got nan."),
    (["--trials", "0"], "--trials must be positive; got 0."),
    (["--seed", "-1"], "--seed must be at least 0; got -1."),
])
def test_bar_run_refuses_bad_numbers_before_any_work(tmp_path, capsys, args, message):
    from grukit.tasks.forecast import bars

    out = tmp_path / "run"
    assert bars.main(["nile", *args, "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == message
    assert not out.exists()  # nothing written


def test_bar_run_refuses_an_out_it_cannot_write(tmp_path, capsys):
    from grukit.tasks.forecast import bars

    (tmp_path / "file").write_text("x")
    assert bars.main(["nile", "--out", str(tmp_path / "file" / "run")]) == 2
    assert "cannot be written" in capsys.readouterr().err


def test_bar_run_refuses_a_missing_search_and_a_study_of_other_settings(tmp_path, capsys,
                                                                         monkeypatch):
    """Both were tracebacks: FileNotFoundError, and tune's ValueError for an --out holding
    the study of other origins or another seed."""
    from grukit.tasks.forecast import bars
    from grukit.tasks.forecast import tune as tune_mod

    assert bars.main(["nile", "--out", str(tmp_path / "o"), "--search-from",
                      str(tmp_path / "nowhere")]) == 2
    assert "holds no readable result.json of a bar run" in capsys.readouterr().err

    def other(*args, **kwargs):
        raise ValueError("the study 'forecast' in study.db was made on other data or settings.")

    monkeypatch.setattr(tune_mod, "tune", other)
    assert bars.main(["nile", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == ("the study 'forecast' in study.db was made on "
                                               "other data or settings.")
