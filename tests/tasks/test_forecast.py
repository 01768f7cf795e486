import json

import numpy as np
import pytest

from grukit.cli import main
from grukit.data.series import BUILTIN, load_builtin, read_series_csv
from grukit.tasks.forecast import Forecaster, ets, scores, seasonal_naive


def test_scores_by_hand():
    history = np.array([1.0, 2.0, 4.0, 7.0])  # one-step naive MAE = (1 + 2 + 3) / 3 = 2
    s = scores(np.array([8.0, 10.0]), np.array([7.0, 12.0]), history, m=1)
    assert s["mae"] == pytest.approx(1.5) and s["mase"] == pytest.approx(0.75)
    assert s["rmse"] == pytest.approx(np.sqrt((1 + 4) / 2))
    assert s["smape"] == pytest.approx(100 * np.mean([2 / 15, 4 / 22]))


def test_baselines():
    y = np.arange(24, dtype=float) % 12
    np.testing.assert_array_equal(seasonal_naive(y, 14, 12), np.r_[np.arange(12), 0, 1])
    trend = 5.0 + 2.0 * np.arange(40)
    np.testing.assert_allclose(ets(trend, 5, 1), 5.0 + 2.0 * np.arange(40, 45), atol=0.05)


def test_forecaster_learns_a_trending_seasonal_series():
    t = np.arange(240)
    rng = np.random.default_rng(0)
    y = 0.05 * t + np.sin(2 * np.pi * t / 12) + 0.05 * rng.standard_normal(len(t))
    res = Forecaster(horizon=12, epochs=40).backtest(y, season=12, folds=2)
    assert res["model"]["mase"] < 0.6 * res["seasonal_naive"]["mase"], res["model"]
    f = Forecaster(horizon=6, epochs=5).fit(y, season=12)
    assert f.predict().shape == (6,) and f.predict(y[:100]).shape == (6,)


def test_a_backtest_leaves_the_model_as_it_was(tmp_path):
    """fit, backtest, predict: the forecast still continues the fitted series (the backtest
    refitted the model itself at each origin, so predict() then forecast the last test fold,
    points already seen, as a (1, h) array without time stamps)."""
    import pandas as pd

    y = pd.Series(np.sin(np.arange(50) / 2), index=pd.date_range("2000-01-01", periods=50,
                                                                  freq="MS"))
    f = Forecaster(horizon=3, lookback=6, hidden=4, epochs=2).fit(y)
    before, stamps = f.predict(), f.future_index()
    f.backtest(y.to_numpy(), folds=2)
    assert np.array_equal(f.predict(), before) and f.future_index().equals(stamps)
    fresh = Forecaster(horizon=3, lookback=6, hidden=4, epochs=2)
    fresh.backtest(y.to_numpy(), folds=1)
    assert not getattr(fresh, "fitted_", False)


def test_builtin_series_beat_seasonal_naive():
    """The quality bar: on every built-in series, 3-fold backtest, GRU MASE below seasonal
    naive (BENCHMARKS.md has the seeds and where ETS wins)."""
    for name, info in BUILTIN.items():
        s = load_builtin(name)
        res = Forecaster(horizon=info.horizon).backtest(s.to_numpy(), info.season, folds=3)
        assert res["model"]["mase"] < res["seasonal_naive"]["mase"], (name, res["model"])


def test_csv_errors_are_clear(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("date,value\n2020-01-01,1\n2020-02-01,2\n2020-03-01,x\n")
    with pytest.raises(ValueError, match=r"target column 'value' has 1 non-numeric value\(s\), "
                                         r"e.g. 'x'"):
        read_series_csv(str(p))
    with pytest.raises(ValueError, match=r"target column 'sales' not found; the columns are "
                                         r"\['date', 'value'\]"):
        read_series_csv(str(p), target="sales")
    p.write_text("date,value\n2020-01-01,1\n2020-01-01,2\n2020-03-01,3\n")
    with pytest.raises(ValueError, match="1 duplicated timestamp"):
        read_series_csv(str(p))
    p.write_text("date,value\n2020-01-01,1\n2020-01-05,2\n2020-03-01,3\n2020-03-02,4\n")
    with pytest.raises(ValueError, match="irregular"):
        read_series_csv(str(p))
    p.write_text("date,value\n2020-01-01,1\n2020-02-01,\n2020-04-01,4\n")
    with pytest.raises(ValueError, match=r"2 missing value\(s\)"):
        read_series_csv(str(p), freq="MS")
    s = read_series_csv(str(p), freq="MS", fill="interpolate")
    np.testing.assert_allclose(s.to_numpy(), [1, 2, 3, 4])
    with pytest.raises(ValueError, match="need at least"):
        Forecaster(horizon=12).fit(np.arange(20.0), season=12)
    with pytest.raises(ValueError, match="model must be one of"):
        Forecaster(model="arima")


def test_cli_writes_metrics_forecast_and_plot(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["forecast", "--data", "nile", "--folds", "2", "--epochs", "20",
                 "--output", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["baselines"]) == {"naive", "seasonal_naive", "ets"}
    for block in [m["model"], *m["baselines"].values()]:
        assert {"mae", "rmse", "smape", "mase"} <= set(block)
    csv = (out / "forecast.csv").read_text().splitlines()
    assert csv[0] == "time,forecast,naive,seasonal_naive,ets,lower,upper" and len(csv) == 11
    assert (out / "forecast.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| GRU |" in capsys.readouterr().out
    assert main(["datasets"]) == 0
    assert "sunspots" in capsys.readouterr().out


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_onnx_export_matches_onnxruntime(tmp_path, reset_after):
    ort = pytest.importorskip("onnxruntime")
    y = load_builtin("nile").to_numpy()
    f = Forecaster(horizon=10, epochs=10).fit(y, season=1)
    if not reset_after:  # the textbook GRU: linear_before_reset=0 in ONNX
        from grukit.layers import GRU
        from grukit.models import Sequential

        f.net = Sequential([GRU(32, input_shape=(12, 2), reset_after=False), f.net.stack[-1]])
        f.net.build()
    path = str(tmp_path / "f.onnx")
    f.export_onnx(path)
    session = ort.InferenceSession(path)
    for end in (60, 80, 100):
        recent = y[:end]
        out = session.run(None, {"x": f.inputs(recent)})[0]
        np.testing.assert_allclose(f.unscale(recent, out), f.predict(recent), atol=1e-5,
                                   rtol=1e-6)


@pytest.mark.parametrize("model", ["gru", "lstm", "mingru"])
def test_whole_network_of_a_stacked_forecaster_exports_to_onnxruntime(tmp_path, model):
    ort = pytest.importorskip("onnxruntime")
    y = load_builtin("nile").to_numpy()
    f = Forecaster(model=model, horizon=5, epochs=2, layers=2, hidden=8).fit(y, season=1)
    path = tmp_path / "f.onnx"
    f.export_onnx(str(path))  # every layer: a stacked forecaster once exported its first only
    session = ort.InferenceSession(str(path))
    for end in (60, 100):
        recent = y[:end]
        out = session.run(None, {"x": f.inputs(recent)})[0]
        np.testing.assert_allclose(f.unscale(recent, out), f.predict(recent), atol=1e-5,
                                   rtol=1e-6)


def test_streaming_updates_equal_the_batch_path():
    y = load_builtin("nile").to_numpy()
    f = Forecaster(horizon=10, epochs=10).fit(y[:80], season=1)
    for end in range(81, 101):
        streamed = f.update(y[end - 1])
        np.testing.assert_allclose(streamed, f.predict(y[:end]), rtol=0, atol=0)
    with pytest.raises(ValueError, match="give a finite observation"):
        f.update(float("nan"))


def test_one_global_model_for_series_of_different_scales():
    t = np.arange(200)
    rng = np.random.default_rng(1)
    small = 10 + np.sin(2 * np.pi * t / 12) + 0.05 * rng.standard_normal(len(t))
    large = 1000 + 100 * np.cos(2 * np.pi * t / 12) + 5 * rng.standard_normal(len(t))
    f = Forecaster(horizon=6, epochs=40)
    res = f.backtest([small, large], season=12, folds=2)
    assert res["model"]["mase"] < res["seasonal_naive"]["mase"], res["model"]
    f.fit([small, large], season=12)
    both = f.predict()
    assert both.shape == (2, 6)
    assert 8 < both[0].mean() < 12 and 850 < both[1].mean() < 1150  # each on its own scale


def test_covariates_carry_information_the_series_lacks():
    rng = np.random.default_rng(2)
    c = rng.standard_normal(400)
    y = np.r_[0.0, 3 * c[:-1]] + 0.05 * rng.standard_normal(400)  # y_t = 3 c_(t-1)
    with_cov = Forecaster(horizon=1, lookback=12, epochs=60).backtest(y, 1, folds=3,
                                                                      covariates=c)
    without = Forecaster(horizon=1, lookback=12, epochs=60).backtest(y, 1, folds=3)
    assert with_cov["model"]["mase"] < 0.3 * without["model"]["mase"], (with_cov["model"],
                                                                        without["model"])
    f = Forecaster(horizon=1, lookback=12, epochs=5).fit(y, 1, covariates=c)
    with pytest.raises(ValueError, match="fitted with 1 covariate"):
        f.predict(y[:50])
    assert f.predict(y[:50], c[:50]).shape == (1,)
    with pytest.raises(ValueError, match="400 points but its covariates have 399 rows"):
        Forecaster().fit(y, 1, covariates=c[:-1])


def test_cli_on_a_csv_file_and_its_errors(tmp_path, capsys):
    t = np.arange(120)
    dates = [f"{2000 + i // 12}-{i % 12 + 1:02d}-01" for i in t]
    values = 50 + 0.2 * t + 5 * np.sin(2 * np.pi * t / 12)
    p = tmp_path / "sales.csv"
    p.write_text("month,units,other\n" + "".join(f"{d},{v:.4f},0\n"
                                                 for d, v in zip(dates, values, strict=True)))
    out = tmp_path / "out"
    assert main(["forecast", "--data", str(p), "--time-column", "month", "--target", "units",
                 "--folds", "2", "--epochs", "20", "--output", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["horizon"] == 12 and m["series"] == "units"  # monthly: season and horizon 12
    capsys.readouterr()
    assert main(["forecast", "--data", str(p), "--target", "sales"]) == 2
    err = capsys.readouterr().err
    assert "target column 'sales' not found; the columns are ['month', 'units', 'other']" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("settings", [{"ensemble": 2, "lookback": 8},
                                      {"lookbacks": [6, 8]}], ids=["seeds", "lookbacks"])
def test_fit_callbacks_reach_every_network_of_an_ensemble(settings):
    """fit(callbacks=...) reached the first network only; every network trains with them,
    one after the other (a generator of callbacks too)."""
    from grukit.models.callbacks import Callback

    class Seen(Callback):
        def __init__(self):
            self.begun, self.ended, self.epochs = [], [], 0

        def on_train_begin(self, logs=None):
            self.begun.append(self.model)

        def on_train_end(self, logs=None):
            self.ended.append(self.model)

        def on_epoch_end(self, epoch, logs=None):
            self.epochs += 1

    y = np.sin(np.arange(60) / 3)
    seen = Seen()
    f = Forecaster(horizon=2, hidden=4, epochs=2, **settings).fit(y, callbacks=(c for c in
                                                                                [seen]))
    assert len(f.nets) == 2 and seen.epochs == 4
    assert [m is n for m, n in zip(seen.begun, f.nets, strict=True)] == [True, True]
    assert [m is n for m, n in zip(seen.ended, f.nets, strict=True)] == [True, True]
