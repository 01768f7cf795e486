"""Parts of grukit compare checked against independent computations."""

import math

import pytest
import torch

from grukit import cells, count_params
from grukit import nn as gnn
from grukit.tasks.compare import memory, sizing, summary


@pytest.mark.parametrize("model", sizing.MODELS)
@pytest.mark.parametrize("inputs,hidden,outputs", [(2, 5, 1), (88, 46, 88), (12, 7, 9)])
def test_count_matches_the_modules(model, inputs, hidden, outputs):
    cls = cells.get(model).module_class()
    net = torch.nn.Sequential(cls(inputs, hidden), torch.nn.Linear(hidden, outputs))
    assert sizing.count(model, inputs, hidden, outputs) == count_params(net)


@pytest.mark.parametrize("model", sizing.MODELS)
def test_keras_count_matches_the_layers_the_estimators_build(model):
    """Forecasting, classification and speech build grukit.layers layers: Keras' count, one
    bias vector in the LSTM and the RNN (torch's modules keep two)."""
    from grukit.layers import Dense
    from grukit.models import Sequential

    for inputs, hidden, outputs in ((1, 64, 1), (12, 7, 9)):
        net = Sequential([cells.get(model).layer_class()(hidden, input_shape=(None, inputs)),
                          Dense(outputs)])
        assert sizing.count(model, inputs, hidden, outputs, keras=True) == count_params(net)


def test_equal_params_under_keras_count_picks_the_closest_layer():
    """GRU(64) on one input: 12,929 parameters with its head; the LSTM closest to it is 56
    units (13,049), not the 55 (12,596) that torch's two-bias count chose."""
    w = sizing.widths(("gru", "lstm", "rnn"), "equal-params", 64, 1, 1, keras=True)
    assert sizing.count("gru", 1, 64, 1, keras=True) == 12_929
    assert w["lstm"] == 56 and sizing.count("lstm", 1, 56, 1, keras=True) == 13_049
    assert sizing.widths(("gru", "lstm"), "equal-params", 64, 1, 1)["lstm"] == 55


def test_equal_params_widths_are_closest():
    w = sizing.widths(("gru", "lstm", "rnn"), "equal-params", 46, 88, 88)
    target = sizing.count("gru", 88, 46, 88)  # 22,904: Chung et al.'s GRU with its output layer
    assert target == 22_904 and w["gru"] == 46
    for m in ("lstm", "rnn"):
        gap = abs(sizing.count(m, 88, w[m], 88) - target)
        assert gap <= abs(sizing.count(m, 88, w[m] + 1, 88) - target)
        assert gap <= abs(sizing.count(m, 88, w[m] - 1, 88) - target)
    assert sizing.widths(("gru", "lstm"), "equal-params", 46, 88, 88, {"lstm": 36})["lstm"] == 36
    assert sizing.widths(("gru", "lstm"), "equal-hidden", 46, 88, 88) == {"gru": 46, "lstm": 46}
    with pytest.raises(ValueError, match="budget"):
        sizing.widths(("gru",), "same", 4, 1, 1)


def test_adding_baseline_is_what_predicting_the_mean_scores():
    gen = torch.Generator().manual_seed(0)
    x, y = memory.adding_batch(20_000, 30, gen)
    assert x.shape == (20_000, 30, 2) and (x[..., 1].sum(1) == 2).all()
    assert torch.allclose(y[:, 0], (x[..., 0] * x[..., 1]).sum(1))
    mse = torch.mean((y - 1.0) ** 2).item()
    assert abs(mse - 1 / 6) < 0.005  # Var(u_a + u_b) = 1/6


@pytest.mark.parametrize("length", [10, 50, 400, 1000])
def test_adding_baseline_is_what_predicting_one_scores_on_the_test_sequences(length):
    """The loss is divided by what the trivial model scores on the same 256 test sequences:
    beside 1/6, always predicting 1 read 0.90 of the baseline at T = 1000 (and 1.07 at
    T = 10), as if it had learned something."""
    gen = torch.Generator().manual_seed(10_000 + length)  # the memory runs' test set
    y = memory.adding_batch(256, length, gen)[1]  # (256, 1)
    trivial = torch.nn.functional.mse_loss(torch.ones_like(y), y).item()
    base = memory.baseline("adding", length)
    assert trivial / base == pytest.approx(1.0, rel=1e-6)
    assert abs(base - 1 / 6) < 4 * math.sqrt(7 / 180) / 16  # 4 standard deviations


def test_a_memory_record_resumed_from_the_1_6_baseline_is_rescored():
    base = memory.baseline("adding", 20)
    old = {"task": "adding", "length": 20, "model": "gru", "seed": 0, "test_loss": 0.0165,
           "baseline": 1 / 6, "relative": 0.099, "solved": True, "val_curve": [0.2, 0.1, 0.3],
           "converged": True, "convergence": "solved"}
    new = memory.rescore(old)
    assert new["baseline"] == base and new["relative"] == pytest.approx(0.0165 / base)
    assert new["solved"] == (0.0165 <= 0.1 * base)
    assert memory.rescore(new) is new


def test_copy_baseline_is_blanks_then_a_uniform_guess():
    gen = torch.Generator().manual_seed(0)
    length = 25
    x, y = memory.copy_batch(64, length, gen)
    total = length + 20
    assert x.shape == (64, total, 10) and y.shape == (64, total)
    assert (x[:, length + 9].argmax(1) == 9).all()  # the delimiter
    assert torch.equal(y[:, -10:], x[:, :10].argmax(2))  # recall the first ten symbols
    logits = torch.full((64, total, 9), -1e9)
    logits[:, :-10, 0] = 0.0  # certain of the blanks
    logits[:, -10:, 1:] = 0.0  # uniform over the 8 symbols
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, 9), y.reshape(-1)).item()
    assert ce == pytest.approx(memory.baseline("copy", length), rel=1e-6)
    assert memory.baseline("copy", length) == pytest.approx(10 * math.log(8) / (length + 20))


def test_lstm_gets_forget_bias_one():
    net = memory.Net("lstm", 2, 4, 1)
    b = net.rnn.bias_ih_l0 + net.rnn.bias_hh_l0
    assert torch.allclose(b[4:8], torch.ones(4))


def test_a_short_memory_run_learns_the_adding_problem():
    r = memory.run("adding", "gru", 10, 16, steps=200, seed=0, lr=1e-2)
    assert r["relative"] < 0.5  # well below predicting the mean
    assert set(r) >= {"test_loss", "baseline", "solved", "seconds"}


def test_differ_and_verdicts():
    a = summary.stats([1.0, 1.1, 0.9])
    b = summary.stats([2.0, 2.1, 1.9])
    c = summary.stats([1.05, 0.95, 1.0])
    assert summary.differ(a, b) and not summary.differ(a, c)
    assert summary.differ(summary.stats([1.0]), summary.stats([2.0])) is None
    per = {"gru": a, "lstm": b}
    v = summary.verdict("seconds_per_epoch", "time", True, per, ["gru", "lstm"], "MASE")
    assert v == "GRU 2.00× faster than LSTM"
    v = summary.verdict("test_metric", "metric", True, {"gru": a, "lstm": c}, ["gru", "lstm"],
                        "MASE")
    assert "equal within noise" in v
    table = {"test_metric": {"gru": a, "lstm": c}, "seconds_per_epoch": {"gru": b, "lstm": a},
             "params": {"gru": summary.stats([3.0]), "lstm": summary.stats([4.0])}}
    assert summary.recommend(table, ["gru", "lstm"], "MASE", True).startswith("Use LSTM")
    table["seconds_per_epoch"] = {"gru": a, "lstm": c}  # speed equal within noise too
    either = summary.recommend(table, ["gru", "lstm"], "MASE", True)
    assert either.startswith("Either") and "GRU is the smallest (3 parameters)" in either
    table["test_metric"] = {"gru": a, "lstm": b}
    assert summary.recommend(table, ["gru", "lstm"], "MASE", True).startswith("Use GRU")
    table["test_metric"] = {"gru": b, "lstm": a}
    accuracy = summary.recommend(table, ["gru", "lstm"], "accuracy", False)
    assert accuracy.startswith("Use GRU") and "better" in accuracy
    table["test_metric"] = {"gru": summary.stats([1.0]), "lstm": summary.stats([2.0])}
    assert "nothing is decided" in summary.recommend(table, ["gru", "lstm"], "MASE", True)
    assert summary.recommend(table, ["gru"], "MASE", True).startswith("Only GRU was run")


def test_one_seed_each_with_the_same_metric_is_called_equal():
    # it said "GRU worse than LSTM: accuracy 0.500 vs 0.500" (and "overfits more")
    one = summary.stats([0.5])
    for key, lower in (("test_metric", False), ("gap", True)):
        v = summary.verdict(key, "metric", lower, {"gru": one, "lstm": summary.stats([0.5])},
                            ["gru", "lstm"], "accuracy")
        assert v == "GRU and LSTM equal (0.500 vs 0.500; one seed: no spread)", v
    v = summary.verdict("test_metric", "metric", False,
                        {"gru": one, "lstm": summary.stats([0.6])}, ["gru", "lstm"], "accuracy")
    assert v == "GRU worse than LSTM: accuracy 0.500 vs 0.600 (one seed: no spread)", v


def test_a_time_row_tied_or_at_zero_claims_no_ratio():
    """One seed each with the same time said "GRU 1.00× faster than LSTM"; a time of 0 (a
    run with no whole epoch) said "inf× faster" or failed with ZeroDivisionError."""
    def v(a, b):
        return summary.verdict("seconds_per_epoch", "time", True,
                               {"gru": summary.stats(a), "lstm": summary.stats(b)},
                               ["gru", "lstm"], "MASE")

    assert v([0.5], [0.5]) == "GRU and LSTM equal (0.500 vs 0.500; one seed: no spread)"
    assert v([0.0], [0.0]) == "GRU and LSTM equal (0.000 vs 0.000; one seed: no spread)"
    assert v([0.2, 0.21, 0.19], [0.0, 0.0, 0.0]) == \
        "GRU slower than LSTM: 0.200 ± 0.010 vs 0.000 ± 0.000"
    assert v([0.0], [0.3]) == "GRU faster than LSTM: 0.000 vs 0.300 (one seed: no spread)"
    assert v([0.5], [1.0]) == "GRU 2.00× faster than LSTM (one seed: no spread)"


def test_torch_cell_carries_the_same_weights():
    from grukit.tasks.compare.latency import _torch_cell

    for cls in (gnn.GRU, gnn.LSTM, gnn.RNN):
        rnn = cls(3, 5, batch_first=True)
        cell = _torch_cell(rnn)
        x = torch.randn(1, 3)
        with torch.no_grad():
            y_cell = cell(x)
            y_cell = y_cell[0] if isinstance(y_cell, tuple) else y_cell
            torch.testing.assert_close(y_cell, rnn(x.unsqueeze(1))[0][:, 0])
    assert _torch_cell(gnn.MinGRU(3, 5)) is None
    assert _torch_cell(gnn.GRU(3, 5, reset_after=False)) is None


def test_rows_without_a_value_show_a_dash():
    empty = summary.stats([None, None])
    assert empty["n"] == 0 and summary.fmt(empty) == "–"
    v = summary.verdict("torch_step_us", "time", True,
                        {"gru": summary.stats([1.0, 1.2]), "mingru": empty},
                        ["gru", "mingru"], "MASE")
    assert v == ""


def test_forecast_task_reads_a_csv(tmp_path):
    import numpy as np
    import pandas as pd

    from grukit.tasks.compare import forecast

    idx = pd.date_range("2000-01-01", periods=120, freq="MS")
    pd.DataFrame({"date": idx, "sales": np.arange(120.0)}).to_csv(tmp_path / "s.csv",
                                                                 index=False)
    name, values, season, horizon = forecast.load(str(tmp_path / "s.csv"))
    assert len(values) == 120 and values[5] == 5.0 and season == 12 and horizon == 12
    with pytest.raises(ValueError, match="too few"):
        forecast.run(values[:40], season, horizon, "gru", 4, 0)


@pytest.mark.parametrize("a, b", [([0.80, 0.82], [0.84, 0.86]),  # 2 SE apart, p = 0.11
                                  ([1.0, 1.2, 0.9], [1.5, 1.6, 1.3]),
                                  ([1.0, 1.1, 0.9, 1.05], [1.2, 1.3, 1.25, 1.1]),
                                  ([5.0, 5.1], [5.0, 6.0, 7.0, 8.0, 9.0])])
def test_differ_is_welchs_t_test_at_five_percent(a, b):
    from scipy.stats import ttest_ind

    p = ttest_ind(a, b, equal_var=False).pvalue
    assert summary.differ(summary.stats(a), summary.stats(b)) == (p < 0.05)


def test_two_seeds_two_standard_errors_apart_are_not_beyond_the_noise():
    per = {"gru": summary.stats([0.80, 0.82]), "lstm": summary.stats([0.84, 0.86])}
    v = summary.verdict("test_metric", "metric", False, per, ["gru", "lstm"], "accuracy")
    assert "equal within noise" in v
    table = {"test_metric": per, "seconds_per_epoch": per, "params": per}
    assert summary.recommend(table, ["gru", "lstm"], "accuracy", False).startswith("Either")


def test_a_run_whose_metric_is_nan_decides_nothing():
    nan = float("nan")
    per = {"gru": summary.stats([nan, 0.9, 0.8]), "lstm": summary.stats([1.0, 1.1, 1.05])}
    v = summary.verdict("test_metric", "metric", True, per, ["gru", "lstm"], "MASE")
    assert "no verdict, a mean is not finite" in v and "equal within noise" not in v
    speed = {"gru": summary.stats([1.0, 1.1, 1.2]), "lstm": summary.stats([2.0, 2.1, 2.2])}
    table = {"test_metric": per, "seconds_per_epoch": speed, "params": speed}
    text = summary.recommend(table, ["gru", "lstm"], "MASE", True)
    assert text.startswith("Nothing is decided: the test MASE of GRU is not finite")


def test_longest_t_solved_needs_every_shorter_length_solved():
    """"T ≤ 200" claims T = 50 and 100 too: a model that missed T = 100 solves up to 50."""
    mem = [{"task": "adding", "model": "gru", "length": t, "seed": 0, "relative": rel,
            "solved": rel <= 0.1} for t, rel in ((50, 0.05), (100, 0.3), (200, 0.08))]
    limits = summary.memory_limits(mem, ["gru"])["adding"]["gru"]
    assert limits["solved"] == 50 and limits["relative"] == {50: 0.05, 100: 0.3, 200: 0.08}
    assert summary.memory_limits(mem[1:], ["gru"])["adding"]["gru"]["solved"] is None


def test_a_csv_with_a_gap_is_not_told_to_use_a_flag_compare_lacks(tmp_path):
    import numpy as np
    import pandas as pd

    from grukit.tasks.compare import forecast

    idx = pd.date_range("2000-01-01", periods=120, freq="MS")
    y = np.arange(120.0)
    y[50] = np.nan
    pd.DataFrame({"date": idx, "sales": y}).to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(ValueError, match="1 missing value") as err:
        forecast.load(str(tmp_path / "s.csv"))
    assert "pass --fill" not in str(err.value)
    assert "compare reads a series without gaps: fill them in the file" in str(err.value)



def test_torch_cells_of_a_stacked_module_step_every_layer():
    """The 'same step with torch.nn's cell' row times one step through every layer, as the
    stacked module's streaming step does (it timed the first layer's cell only)."""
    from grukit.tasks.compare.latency import _torch_cells, measure

    for cls in (gnn.GRU, gnn.LSTM, gnn.RNN):
        rnn = cls(3, 5, num_layers=2, batch_first=True)
        cells_ = _torch_cells(rnn)
        assert len(cells_) == 2
        x0 = torch.randn(1, 3)
        with torch.no_grad():
            x = x0
            for cell in cells_:
                x = cell(x)
                x = x[0] if isinstance(x, tuple) else x
            torch.testing.assert_close(x, rnn(x0.unsqueeze(1))[0][:, 0])
    assert _torch_cells(gnn.GRU(3, 5, bidirectional=True)) is None
    assert _torch_cells(gnn.MinGRU(3, 5)) is None
    assert measure(gnn.GRU(3, 5, num_layers=2, batch_first=True), 2, 3,
                   repeat=1)["torch_step_us"] > 0


def test_seconds_per_epoch_leaves_out_an_epoch_a_time_limit_cut_short():
    from grukit.tasks.compare.record import fit_record

    args = ([2.0, 2.0, 0.5], [3.0, 2.0, 1.5], [3.0, 2.0, 1.8])
    kw = dict(params=1, train_metric=1.0, test_metric=2.0, stop_reason="max_seconds")
    cut = fit_record(*args, last_epoch_partial=True, **kw)
    assert cut["seconds_per_epoch"] == 2.0 and cut["epochs"] == 3
    assert cut["seconds_to_best"] == 4.5  # the time it took, the cut epoch included
    assert fit_record(*args, **kw)["seconds_per_epoch"] == 1.5
    assert fit_record([0.5], [1.0], [1.0], last_epoch_partial=True,
                      **kw)["seconds_per_epoch"] == 0.5  # the only epoch is all there is


def test_mingru_latency_is_timed_on_its_fastest_paths(monkeypatch):
    """A minGRU streams on its one-step kernel (no module call per step; before it had one,
    the module's parallel mode ran a float64 log-space scan over each one-step sequence),
    its full batch is timed in both modes and the faster kept (both on the fused cpu kernel
    now), and the module's mode is as it was afterwards."""
    from grukit.tasks.compare import latency

    seen, real = [], gnn.MinGRU._run_layer

    def spy(self, x, *a, **k):
        seen.append((x.shape[1], self.mode))
        return real(self, x, *a, **k)

    monkeypatch.setattr(gnn.MinGRU, "_run_layer", spy)
    rnn = gnn.MinGRU(3, 5, batch_first=True)
    rec = latency.measure(rnn, 2, 7, repeat=2)
    assert rnn.mode == "parallel"
    assert not [m for t, m in seen if t == 1]  # the steps ran the numba kernel
    assert {m for t, m in seen if t == 7} == {"sequential", "parallel"}
    assert rec["batch_mode"] in ("sequential", "parallel")
    assert rec["step_fused"] is True and rec["batch_fused"] is True
    gru = latency.measure(gnn.GRU(3, 5, batch_first=True), 2, 7, repeat=2)
    assert gru["step_fused"] is True and gru["batch_fused"] is True
    assert gru["batch_mode"] is None


def test_the_latency_flags_say_which_kernel_ran_not_which_is_registered(monkeypatch):
    """step_fused read "a <cell>_stream backend is registered" and batch_fused "a fused
    backend is registered": a LayerNorm-GRU named backend="reference" and a projected LSTM
    (whose steps call the module) were not marked, nor a minGRU whose fused sequence kernel
    runs only when named ("auto" keeps the reference). Now they say what ran."""
    from grukit.ops import dispatch
    from grukit.tasks.compare import latency

    seen, real = [], gnn.LayerNormGRU._run_layer

    def spy(self, x, *a, **k):
        seen.append(x.shape[1])
        return real(self, x, *a, **k)

    monkeypatch.setattr(gnn.LayerNormGRU, "_run_layer", spy)
    rec = latency.measure(gnn.LayerNormGRU(3, 5, batch_first=True), 2, 7, repeat=2)
    assert 1 not in seen  # the steps ran the numba kernel, not the module
    assert rec["step_fused"] is True and rec["batch_fused"] is True
    ref = latency.measure(gnn.LayerNormGRU(3, 5, batch_first=True, backend="reference"), 2, 7,
                          repeat=2)
    assert ref["step_fused"] is False and ref["batch_fused"] is False
    proj = latency.measure(gnn.LSTM(3, 5, batch_first=True, proj_size=2), 2, 7, repeat=2)
    assert proj["step_fused"] is False and proj["batch_fused"] is True
    named_only = dispatch.Backend("cpu", lambda *a, **k: None, priority=10,
                                  auto_why_not=lambda **_: "named only.")
    monkeypatch.setitem(dispatch._REGISTRY["mingru"], "cpu", named_only)
    monkeypatch.setattr(dispatch, "_ORDERED", {})
    rec = latency.measure(gnn.MinGRU(3, 5, batch_first=True), 2, 7, repeat=2)
    assert rec["batch_fused"] is False  # auto ran the reference


@pytest.mark.parametrize("make", [
    lambda: gnn.GRU(3, 5, batch_first=True).double(),
    lambda: gnn.LayerNormGRU(3, 5, batch_first=True).double(),
    lambda: gnn.LSTM(3, 5, 2, batch_first=True, bias=False),
    lambda: gnn.RNN(3, 5, batch_first=True, bias=False).double(),
], ids=["gru-float64", "lngru-float64", "lstm-no-bias", "rnn-no-bias-float64"])
def test_the_latency_of_a_float64_module_or_one_without_bias_is_timed(make):
    # the full batch was a float32 input, and torch.nn's cells float32 with biases: a
    # float64 module refused the input ("the input is torch.float32 ... but the weights are
    # torch.float64"), a module without bias failed ("has no attribute 'bias_ih_l0'")
    from grukit.tasks.compare import latency

    rec = latency.measure(make(), 2, 7, repeat=2)
    assert rec["batch_ms"] > 0 and rec["step_fused"] and rec["batch_fused"]
    assert rec["torch_step_us"] is None or rec["torch_step_us"] > 0


def test_a_run_with_no_finished_epoch_has_no_training_time_of_zero():
    from grukit.tasks.compare.record import fit_record

    rec = fit_record([], [], [], params=10, train_metric=0.5, test_metric=0.5,
                     stop_reason="nonfinite")
    assert rec["epochs"] == 0 and rec["seconds_per_epoch"] is None
    assert rec["best_epoch"] is None and rec["seconds_to_best"] is None
    assert not rec["converged"] and "NaN or Inf" in rec["convergence"]
    assert summary.stats([rec["seconds_per_epoch"], 0.2])["mean"] == 0.2  # left out


def test_nan_is_never_the_best_validation_loss():
    """numpy's argmin takes the first NaN: a NaN validation loss at epoch 2 made it the
    "best" epoch, and s-to-best the time to reach it."""
    from grukit.tasks.compare.record import convergence, fit_record

    rec = fit_record([1.0, 2.0, 4.0, 8.0, 16.0], [1] * 5, [0.5, math.nan, 0.3, 0.4, 0.6],
                     params=1, train_metric=0.0, test_metric=0.0, patience=2,
                     stop_reason="patience")
    assert rec["best_epoch"] == 3 and rec["seconds_to_best"] == 7.0 and rec["converged"]
    assert convergence([math.nan, math.nan], patience=2, stop_reason="patience")[0] is False


def test_a_run_whose_loss_became_nan_is_not_called_converged(monkeypatch):
    """Training stopped by a NaN loss ran fewer epochs than its cap, which read as early
    stopping ("converged"); with none finished the record was a KeyError."""
    import numpy as np

    import grukit.models.fit as fit
    from grukit.tasks.compare import tasks

    rng = np.random.default_rng(0)
    y = np.array(["a", "b"] * 20)
    x = [rng.standard_normal((6, 2)).astype(np.float32) + (lab == "b") for lab in y]
    task = tasks.Task("classify:toy", "accuracy", False, 2, 2, 4, (x, y, x[:10], y[:10]),
                      pooled=True)
    monkeypatch.setattr(tasks, "_WARM", {("classify", "gru")})
    real, steps = fit.train_loop, {"n": 0, "at": 0}

    def nan_after(model, opt, step, *a, **k):
        def bad(batch):
            steps["n"] += 1
            res = step(batch)
            if steps["n"] > steps["at"]:
                res.loss, res.value, res.total = res.loss * math.nan, math.nan, None
            return res
        return real(model, opt, bad, *a, **k)

    monkeypatch.setattr(fit, "train_loop", nan_after)
    for at in (0, 8):  # in the first epoch; after a few
        steps.update(n=0, at=at)
        with pytest.warns(RuntimeWarning, match="loss became nan"):
            rec = tasks.run(task, "gru", 4, 0, epochs=20)[0]
        assert (rec["epochs"] == 0) == (at == 0) and rec["epochs"] < 8
        assert rec["stop_reason"] == "nonfinite" and len(rec["val_curve"]) == rec["epochs"]
        assert not rec["converged"] and "NaN or Inf" in rec["convergence"]
        assert (rec["seconds_per_epoch"] is None) == (at == 0)


def test_no_torch_cell_stands_in_for_a_module_of_other_activations():
    # torch's cells compute tanh and sigmoid: a GRU with relu got a GRUCell timed in its
    # place, an RNN with sigmoid made torch's RNNCell raise
    from grukit.tasks.compare import latency
    from grukit.tasks.speech.latency import torch_cell

    for module in (gnn.GRU(3, 4, activation="relu"), gnn.RNN(3, 4, nonlinearity="sigmoid"),
                   gnn.LSTM(3, 4, recurrent_activation="hard_sigmoid")):
        assert latency._torch_cells(module) is None and torch_cell(module) is None
    assert latency._torch_cells(gnn.GRU(3, 4)) is not None and torch_cell(gnn.GRU(3, 4))
