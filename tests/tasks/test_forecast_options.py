"""``grukit forecast`` options for tuning, the hybrid, ensembles, intervals, covariate columns
and the sliding-window protocol; the sliding protocol's windows and scaling checked by hand."""

import json

import numpy as np
import pandas as pd
import pytest

from grukit.cli import main
from grukit.tasks.forecast import Forecaster
from grukit.tasks.forecast.sliding import sliding, split_points

FAST = ["--epochs", "2", "--hidden", "4"]


def _csv(path, n=90, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    price = rng.standard_normal(n)
    units = 50 + 0.2 * t + 5 * np.sin(2 * np.pi * t / 12) + np.r_[0, 3 * price[:-1]]
    dates = pd.date_range("2000-01-01", periods=n, freq="MS")
    path.write_text("month,units,price,promo\n" + "".join(
        f"{d.date()},{u:.4f},{p:.4f},{i % 2}\n"
        for i, (d, u, p) in enumerate(zip(dates, units, price, strict=True))))
    return path


def test_hybrid_ensemble_and_covariate_columns_from_the_command_line(tmp_path, capsys):
    data = _csv(tmp_path / "s.csv")
    out = tmp_path / "out"
    assert main(["forecast", "--data", str(data), "--target", "units", "--covariates",
                 "price, promo", "--hybrid", "--ensemble", "2", "--level", "0.75", "--folds",
                 "1", "--horizon", "6", "--lookback", "12", *FAST, "--output", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["settings"]["hybrid"] and m["settings"]["ensemble"] == 2
    assert m["interval"]["level"] == 0.75 and 0 <= m["interval"]["coverage"] <= 1
    table = pd.read_csv(out / "forecast.csv")
    assert (table["lower"] <= table["forecast"]).all()
    assert (table["forecast"] <= table["upper"]).all()
    assert "75% interval: coverage" in capsys.readouterr().out
    assert main(["forecast", "--data", str(data), "--covariates", "cost", *FAST]) == 2
    assert "--covariates 'cost' is not a column of" in capsys.readouterr().err
    assert main(["forecast", "--data", "nile", "--covariates", "x", *FAST]) == 2
    assert "the built-in series 'nile' has none" in capsys.readouterr().err
    assert main(["forecast", "--data", "nile", "--level", "80", *FAST]) == 2
    assert "level must be a number strictly between 0 and 1" in capsys.readouterr().err


def test_tune_searches_before_the_test_folds_and_saves_its_choice(tmp_path, capsys):
    pytest.importorskip("optuna")
    data = _csv(tmp_path / "s.csv", n=80)
    out = tmp_path / "out"
    assert main(["forecast", "--data", str(data), "--target", "units", "--tune", "2",
                 "--folds", "1", "--horizon", "4", *FAST, "--output", str(out),
                 "--save", str(tmp_path / "m")]) == 0
    printed = capsys.readouterr().out
    assert "tuning: 2 trials" in printed and "on the first 76 points" in printed
    assert (out / "study.db").exists()
    saved = Forecaster.load(str(tmp_path / "m"))
    assert saved.config.tuned["trials"] == 2 and saved.config.epochs == 2
    assert json.loads((out / "metrics.json").read_text())["settings"]["tuned"]["trials"] == 2


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_sliding_protocol_scores_every_test_window_on_the_training_scale(strategy):
    rng = np.random.default_rng(0)
    y = 100 + 10 * np.sin(2 * np.pi * np.arange(300) / 24) + rng.standard_normal(300)
    f = Forecaster(horizon=5, lookback=24, hidden=8, epochs=3, strategy=strategy)
    res = sliding(f, y, 24)
    train, val = split_points(300)
    assert (train, val) == (210, 240) and res["split"] == [210, 240, 300]
    assert res["windows"] == 300 - 240 - 5 + 1
    origins = np.arange(239, 295)
    naive = np.concatenate([y[o + 1:o + 6] - y[o] for o in origins]) / np.std(y[:210])
    assert res["naive"]["mse"] == pytest.approx(np.mean(naive ** 2), rel=1e-12)
    assert res["naive"]["mae"] == pytest.approx(np.mean(np.abs(naive)), rel=1e-12)
    # the model is the one fitted on the training part: the same forecasts one by one (a
    # float32 network run on a batch and on single windows: float32's tolerance)
    one = np.concatenate([y[o + 1:o + 6] - f.predict(y[:o + 1]) for o in origins])
    assert res["model"]["mse"] == pytest.approx(np.mean((one / np.std(y[:210])) ** 2),
                                                rel=1e-5)
    assert f.stats[0].mean == pytest.approx(np.mean(y[:210]), rel=1e-12)  # train only


def test_sliding_protocol_from_the_command_line(tmp_path, capsys):
    data = _csv(tmp_path / "s.csv", n=200)
    out = tmp_path / "out"
    assert main(["forecast", "--data", str(data), "--target", "units", "--protocol",
                 "sliding", "--horizon", "6", "--lookback", "12", *FAST, "--output",
                 str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["protocol"] == "sliding" and m["windows"] == 200 - 160 - 6 + 1
    assert "| GRU |" in capsys.readouterr().out
    # into the folder of a rolling run: its forecast, plot and folds do not stay behind
    # beside the sliding run's metrics.json as if they were this run's
    rolled = tmp_path / "rolled"
    assert main(["forecast", "--data", str(data), "--target", "units", "--folds", "1",
                 "--horizon", "6", "--lookback", "12", *FAST, "--output", str(rolled)]) == 0
    assert (rolled / "forecast.csv").is_file() and list((rolled / "folds").glob("fold-*"))
    assert main(["forecast", "--data", str(data), "--target", "units", "--protocol",
                 "sliding", "--horizon", "6", "--lookback", "12", *FAST, "--output",
                 str(rolled)]) == 0
    assert json.loads((rolled / "metrics.json").read_text())["protocol"] == "sliding"
    assert not (rolled / "forecast.csv").exists() and not (rolled / "forecast.png").exists()
    assert not list((rolled / "folds").glob("fold-*"))
    assert main(["forecast", "--data", str(data), "--protocol", "sliding", "--horizon", "60",
                 *FAST]) == 2
    assert "--protocol sliding: the series has 200 points" in capsys.readouterr().err
    for extra in (["--tune", "2"], ["--folds", "9"], ["--tune-top", "2"]):
        assert main(["forecast", "--data", str(data), "--target", "units", "--protocol",
                     "sliding", *extra, *FAST]) == 2
        assert f"{extra[0]} belong(s) to the rolling-origin backtest" in \
            capsys.readouterr().err
    # --save keeps the model refitted on every point, with its time stamps
    saved = tmp_path / "m"
    assert main(["forecast", "--data", str(data), "--target", "units", "--protocol",
                 "sliding", "--horizon", "6", "--lookback", "12", *FAST, "--save",
                 str(saved)]) == 0
    model = Forecaster.load(str(saved))
    assert np.array_equal(model.last[0], pd.read_csv(data)["units"].to_numpy()[-12:])
    assert str(model.future_index()[0].date()) == "2016-09-01"  # the month after the last
