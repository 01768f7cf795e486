"""``grukit forecast``: --save and ``forecast predict``, the output folder checked before any
work, backtest folds written as they finish, Ctrl-C in one line and --resume."""

import errno
import io
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grukit.cli import main
from grukit.tasks.forecast import Forecaster

FAST = ["--epochs", "3", "--hidden", "6"]


def _csv(path, n=60, start="2000-01-01", freq="MS", seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 50 + 0.2 * t + 5 * np.sin(2 * np.pi * t / 12) + rng.standard_normal(n)
    dates = pd.date_range(start, periods=n, freq=freq)
    path.write_text("month,units\n" + "".join(f"{d.date()},{v:.4f}\n"
                                              for d, v in zip(dates, values, strict=True)))
    return path


def test_save_then_predict_continues_the_training_series(tmp_path, capsys):
    data = _csv(tmp_path / "train.csv")
    assert main(["forecast", "--data", str(data), "--folds", "1", "--horizon", "6",
                 "--lookback", "12", *FAST, "--save", str(tmp_path / "m")]) == 0
    assert main(["forecast", "predict", "--model", str(tmp_path / "m"), "--output",
                 str(tmp_path / "p")]) == 0
    table = pd.read_csv(tmp_path / "p" / "forecast.csv")
    assert list(table.columns) == ["time", "forecast"]
    assert list(table["time"]) == [str(d.date()) for d in
                                   pd.date_range("2005-01-01", periods=6, freq="MS")]
    model = Forecaster.load(str(tmp_path / "m"))
    np.testing.assert_allclose(table["forecast"], model.predict(), rtol=1e-15)
    assert not list((tmp_path / "p").glob("*.tmp"))  # written in one step
    # without --output the table goes to stdout
    capsys.readouterr()
    assert main(["forecast", "predict", "--model", str(tmp_path / "m")]) == 0
    assert capsys.readouterr().out.startswith("time,forecast\n2005-01-01,")


def test_predict_continues_a_given_csv(tmp_path, capsys):
    data = _csv(tmp_path / "train.csv")
    assert main(["forecast", "--data", str(data), "--folds", "1", "--horizon", "6",
                 "--lookback", "12", *FAST, "--save", str(tmp_path / "m")]) == 0
    new = _csv(tmp_path / "new.csv", n=30, start="2010-03-01", seed=5)
    text = new.read_text().replace("month,units", "when,sales")
    new.write_text(text)
    assert main(["forecast", "predict", "--model", str(tmp_path / "m"), "--data", str(new),
                 "--time-column", "when", "--target", "sales", "--output",
                 str(tmp_path / "p")]) == 0
    table = pd.read_csv(tmp_path / "p" / "forecast.csv")
    assert list(table["time"]) == [str(d.date()) for d in
                                   pd.date_range("2012-09-01", periods=6, freq="MS")]
    values = pd.read_csv(new)["sales"].to_numpy()
    np.testing.assert_allclose(table["forecast"], Forecaster.load(str(tmp_path / "m"))
                               .predict(values), rtol=1e-15)
    # another frequency, or too few values for the lookback: one line each
    capsys.readouterr()
    assert main(["forecast", "predict", "--model", str(tmp_path / "m"), "--data",
                 "nile"]) == 2
    assert capsys.readouterr().err.strip() == (
        "grukit forecast: error: --data 'nile' has frequency YS-JAN but the model was "
        "trained on MS data; give a series of the same frequency.")
    short = _csv(tmp_path / "short.csv", n=8)
    assert main(["forecast", "predict", "--model", str(tmp_path / "m"), "--data",
                 str(short)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"grukit forecast: error: --data {str(short)!r}: predict needs the last 12 values "
        f"(the lookback); recent has 8.")


def test_predict_refuses_the_output_folder_of_a_training_run(tmp_path, capsys):
    """Its forecast.csv (with the baselines and the interval) was replaced by predict's."""
    assert main(["forecast", "--data", str(_csv(tmp_path / "train.csv")), "--folds", "1",
                 "--horizon", "3", "--lookback", "12", *FAST, "--save",
                 str(tmp_path / "m")]) == 0
    capsys.readouterr()
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    (out / "forecast.csv").write_text("time,forecast,naive\n")
    assert main(["forecast", "predict", "--model", str(tmp_path / "m"), "--output",
                 str(out)]) == 2
    assert "holds a training run's results (metrics.json), whose forecast.csv predict would " \
           "replace; give predict a folder of its own." in capsys.readouterr().err
    assert (out / "forecast.csv").read_text() == "time,forecast,naive\n"


def test_predict_reads_the_column_the_model_was_trained_on(tmp_path, capsys):
    """A model trained with --target sales continues the sales column of a --data CSV, not
    its second column (which it did, forecasting another variable with it)."""
    data = _csv(tmp_path / "train.csv")
    frame = pd.read_csv(data).rename(columns={"units": "sales"})
    frame.insert(1, "units", 1000.0 * np.arange(len(frame)))
    frame.to_csv(data, index=False)
    assert main(["forecast", "--data", str(data), "--target", "sales", "--folds", "1",
                 "--horizon", "3", "--lookback", "12", *FAST, "--save",
                 str(tmp_path / "m")]) == 0
    capsys.readouterr()
    assert main(["forecast", "predict", "--model", str(tmp_path / "m"), "--data",
                 str(data)]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    model = Forecaster.load(str(tmp_path / "m"))
    np.testing.assert_allclose(table["forecast"], model.predict(frame["sales"].to_numpy()),
                               rtol=1e-15)
    frame.drop(columns="sales").to_csv(tmp_path / "units.csv", index=False)
    assert main(["forecast", "predict", "--model", str(tmp_path / "m"), "--data",
                 str(tmp_path / "units.csv")]) == 2
    assert "target column 'sales' not found" in capsys.readouterr().err


@pytest.mark.parametrize("action", ["train", "predict"])
def test_output_that_is_a_file_is_refused_before_any_work(tmp_path, capsys, action):
    (tmp_path / "taken").write_text("x")
    argv = (["forecast", "--data", "nile"] if action == "train" else
            ["forecast", "predict", "--model", str(tmp_path / "nothing")])
    assert main(argv + ["--output", str(tmp_path / "taken")]) == 2
    out, err = capsys.readouterr()
    assert err.strip() == (f"grukit forecast: error: --output {str(tmp_path / 'taken')!r} is "
                           f"a file; give a folder (it is created if missing).")
    assert out == ""  # nothing read, nothing trained, no model looked for


def test_read_only_output_and_save_are_refused_before_training(tmp_path, capsys, monkeypatch):
    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    for flag in ("--output", "--save"):
        assert main(["forecast", "--data", "nile", flag, str(tmp_path / "ro")]) == 2
        out, err = capsys.readouterr()
        assert err.strip() == (f"grukit forecast: error: {flag} {str(tmp_path / 'ro')!r} "
                               f"cannot be written (Read-only file system); give a folder you "
                               f"can write to.")
        assert out == ""
    assert main(["forecast", "predict", "--model", str(tmp_path / "m"), "--output",
                 str(tmp_path / "ro")]) == 2
    assert "cannot be written (Read-only file system)" in capsys.readouterr().err
    monkeypatch.undo()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "a.txt").write_text("keep")
    assert main(["forecast", "--data", "nile", "--save", str(other)]) == 2
    assert "holds other files and no saved model" in capsys.readouterr().err


def test_predict_refuses_training_options_and_other_models(tmp_path, capsys):
    assert main(["forecast", "predict", "--model", str(tmp_path), "--epochs", "3",
                 "--folds", "2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "grukit forecast: error: --folds, --epochs set(s) training; predict uses the saved "
        "model's settings, so drop them.")
    assert main(["forecast", "predict", "--model", str(tmp_path / "none")]) == 2
    assert "no saved model at" in capsys.readouterr().err
    assert main(["forecast", "predict"]) == 2
    assert "predict needs --model DIR" in capsys.readouterr().err
    assert main(["forecast", "--model", str(tmp_path), "--data", "nile"]) == 2
    assert "a saved model is used with `grukit forecast predict" in capsys.readouterr().err


@pytest.mark.parametrize("argv,err", [
    (["--data", "nile", "--freq", "MS", "--fill", "interpolate"],
     "--freq, --fill read(s) a CSV; the built-in series 'nile' has its own times, values and "
     "frequency. Drop --freq, --fill."),
    (["--data", "nile", "--tune-timeout", "5"],
     "--tune-timeout sets up the search of --tune N; add --tune N (trials) or drop "
     "--tune-timeout."),
    (["--data", "nile", "--protocol", "sliding", "--tune-timeout", "5"],
     "--tune-timeout belong(s) to the rolling-origin backtest"),
    (["--data", "nile", "--protocol", "sliding", "--tune", "0"],  # 0 is a value given
     "--tune belong(s) to the rolling-origin backtest"),
    (["--data", "nile", "--protocol", "sliding", "--level", "0.9"],  # no interval is scored
     "--level belong(s) to the rolling-origin backtest. Drop --level or the --protocol "
     "option."),
    (["predict", "--model", "m", "--protocol", "sliding"],
     "--protocol set(s) training; predict uses the saved model's settings, so drop it."),
    (["predict", "--model", "m", "--target", "units"],
     "--target read(s) the CSV of --data; without --data the forecast continues the training "
     "series. Add --data or drop --target.")])
def test_options_that_would_do_nothing_are_refused(tmp_path, capsys, argv, err):
    """Options that had no effect where they were given (they were taken and ignored)."""
    assert main(["forecast", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and err in captured.err


def _numbers(out):
    m = json.loads((Path(out) / "metrics.json").read_text())
    return m["model"], m["baselines"], m["per_fold"], m["lowest_mase"]


def test_folds_are_written_as_they_finish_and_resume_skips_them(tmp_path, capsys):
    argv = ["forecast", "--data", "nile", "--folds", "3", *FAST]
    assert main(argv + ["--output", str(tmp_path / "a")]) == 0
    names = sorted(os.listdir(tmp_path / "a" / "folds"))
    assert names == ["fold-01.json", "fold-02.json", "fold-03.json"]
    os.remove(tmp_path / "a" / "folds" / "fold-02.json")
    before = (tmp_path / "a" / "folds" / "fold-01.json").read_text()
    capsys.readouterr()
    assert main(argv + ["--output", str(tmp_path / "a"), "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "resuming: 2 of 3 folds already in" in printed
    assert "fold 2:" in printed and "fold 1:" not in printed and "fold 3:" not in printed
    assert (tmp_path / "a" / "folds" / "fold-01.json").read_text() == before
    assert main(argv + ["--output", str(tmp_path / "b")]) == 0
    assert _numbers(tmp_path / "a") == _numbers(tmp_path / "b")
    # fold files of other settings are not mixed in
    assert main(argv[:-1] + ["7", "--output", str(tmp_path / "a"), "--resume"]) == 2
    assert "was written by a run with other data, folds or settings" in capsys.readouterr().err
    assert main(["forecast", "--data", "nile", "--resume"]) == 2
    assert "--resume continues a backtest" in capsys.readouterr().err


def test_ctrl_c_prints_one_line_exits_130_and_resume_matches(tmp_path, interrupt_cli):
    out = tmp_path / "run"
    argv = ["forecast", "--data", "co2", "--folds", "3", "--epochs", "40", "--hidden", "16"]
    line = interrupt_cli(argv + ["--output", out], out / "folds" / "fold-01.json")
    assert re.fullmatch(rf"grukit forecast: interrupted after fold [12] of 3; partial results "
                        rf"in {re.escape(str(out))}; rerun with --resume to continue", line), \
        line
    assert not (out / "metrics.json").exists()
    assert main(argv + ["--output", str(out), "--resume"]) == 0
    assert main(argv + ["--output", str(tmp_path / "whole")]) == 0
    assert _numbers(out) == _numbers(tmp_path / "whole")
    assert (out / "forecast.csv").read_text() == (tmp_path / "whole" / "forecast.csv").read_text()


def test_a_file_named_like_a_builtin_series_is_not_passed_over_silently(tmp_path, capsys,
                                                                         monkeypatch):
    """A file ``nile`` in the working folder was ignored for the built-in series without a
    word; the built-in one is still read, and the note says so and how to read the file."""
    import argparse

    from grukit.tasks.forecast.cli import _read

    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(data="nile", time_column=None, target=None, freq=None,
                              fill=None)
    series, season, _ = _read(args)
    assert len(series) == 100 and season == 1 and capsys.readouterr().err == ""
    _csv(tmp_path / "nile")
    series, _, _ = _read(args)
    assert len(series) == 100  # the built-in series, as before
    err = capsys.readouterr().err
    assert "--data 'nile' names a built-in series and a file in the working folder; the " \
           "built-in series is used (give './nile' for the file)." in err
    series, _, _ = _read(argparse.Namespace(**vars(args) | {"data": "./nile"}))
    assert len(series) == 60


def test_tied_lowest_scores_are_all_named(capsys, monkeypatch):
    """With season 1 seasonal naive is naive: where they scored lowest, the summary named
    naive alone (the first of the tied ones)."""
    from grukit.tasks.forecast.metrics import lowest, tied

    def score(mase, mae=1.0):
        return {"mae": mae, "rmse": 1.0, "smape": 1.0, "mase": mase, "folds": []}

    res = {"model": score(1.2) | {"coverage": 0.8, "width": 1.0, "crps": 0.5},
           "naive": score(0.9), "seasonal_naive": score(0.9), "ets": score(1.0)}
    assert tied(res, "mase") == ["naive", "seasonal_naive"] and lowest(res, "mase") == "naive"
    assert tied(res | {"ets": score(0.95)}, "mase") == ["naive", "seasonal_naive"]
    assert tied(res | {"model": score(None)}, "mase") is None
    monkeypatch.setattr(Forecaster, "backtest", lambda self, *a, **k: res)
    assert main(["forecast", "--data", "nile", *FAST]) == 0
    assert "\nlowest MASE: naive, seasonal_naive (tied)\n" in capsys.readouterr().out
    res = res | {"model": score(0.5, mae=2.0), "ets": score(None)}
    res["model"] |= {"coverage": 0.8, "width": 1.0, "crps": 0.5}
    assert main(["forecast", "--data", "nile", *FAST]) == 0
    assert "Lowest MAE: naive, seasonal_naive, ets (tied)\n" in capsys.readouterr().out


def test_strategy_and_learning_rate_reach_the_model_and_predict_refuses_them(tmp_path,
                                                                              capsys):
    out, saved = tmp_path / "out", tmp_path / "m"
    assert main(["forecast", "--data", "nile", "--folds", "1", "--epochs", "2",
                 "--strategy", "sequence", "--learning-rate", "0.001", "--output", str(out),
                 "--save", str(saved)]) == 0
    settings = json.loads((out / "metrics.json").read_text())["settings"]
    assert settings["strategy"] == "sequence" and settings["learning_rate"] == 0.001
    assert settings["lookback"] is None  # the sequence default, 24 for a yearly series
    from grukit.tasks.forecast import Forecaster

    model = Forecaster.load(str(saved))
    assert model.config.strategy == "sequence" and model._lookbacks(model.season) == [24]
    capsys.readouterr()
    assert main(["forecast", "predict", "--model", str(saved), "--strategy", "direct"]) == 2
    assert "--strategy set(s) training" in capsys.readouterr().err
    assert main(["forecast", "--data", "nile", "--learning-rate", "-1"]) == 2
    assert "learning_rate" in capsys.readouterr().err


def test_differences_reach_the_model_and_need_the_sequence_strategy(tmp_path, capsys):
    out, saved = tmp_path / "out", tmp_path / "m"
    assert main(["forecast", "--data", "nile", "--folds", "1", "--epochs", "2",
                 "--strategy", "sequence", "--differences", "1", "--output", str(out),
                 "--save", str(saved)]) == 0
    assert json.loads((out / "metrics.json").read_text())["settings"]["differences"] == 1
    from grukit.tasks.forecast import Forecaster

    assert Forecaster.load(str(saved)).config.differences == 1
    capsys.readouterr()
    assert main(["forecast", "--data", "nile", "--differences", "1"]) == 2
    assert "differences=1 is an input of strategy='sequence'" in capsys.readouterr().err
    assert main(["forecast", "predict", "--model", str(saved), "--differences", "0"]) == 2
    assert "--differences set(s) training" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["forecast", "--data", "nile", "--differences", "2"])
    assert "is not 0 (the values), 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["forecast", "--data", "nile", "--differences", "Auto"])
    assert "'Auto' is not 0" in capsys.readouterr().err
    assert main(["forecast", "--data", "nile", "--folds", "1", "--epochs", "1",
                 "--strategy", "sequence", "--differences", "auto", "--output", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["differences"] == "auto"
    assert metrics["chosen"]["differences"] in (0, 1) and 0 <= metrics["chosen"]["p"] <= 1
    assert "differences auto: the " in capsys.readouterr().out


def test_sliding_protocol_prints_and_records_the_differences_chosen(tmp_path, capsys):
    """--protocol sliding with --differences auto: the choice of the fit it scored is printed
    and in metrics.json, as the rolling protocol's is (it was told nowhere)."""
    out = tmp_path / "out"
    assert main(["forecast", "--data", "nile", "--protocol", "sliding", "--horizon", "3",
                 "--lookback", "8", "--epochs", "1", "--hidden", "4", "--strategy",
                 "sequence", "--differences", "auto", "--output", str(out)]) == 0
    chosen = json.loads((out / "metrics.json").read_text())["chosen"]
    assert chosen["differences"] in (0, 1) and 0 <= chosen["p"] <= 1
    assert f"differences auto: the {('values', 'changes')[chosen['differences']]} " in \
        capsys.readouterr().out


@pytest.mark.parametrize("value", ["2", "Auto", "yes", "1.0", ""])
def test_a_bad_differences_value_is_one_sentence(value, capsys):
    with pytest.raises(SystemExit):
        main(["forecast", "--data", "nile", "--strategy", "sequence", "--differences", value])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (f"grukit forecast: error: argument --differences: {value!r} is not 0 (the "
                   f"values), 1 (their one-step changes) or auto; give one of them.")


@pytest.mark.parametrize("top", [[], ["--tune-top", "2"]])
def test_strategy_and_learning_rate_are_fixed_in_the_search(capsys, monkeypatch, top):
    """--strategy and --learning-rate with --tune fix them in the search (they were dropped:
    the search chose any strategy and rate, the tuned model ignored them)."""
    from grukit.tasks.forecast import tune as tune_mod

    seen = {}

    def search(series, season, trials, **options):
        seen.update(options)
        raise ValueError("stopped here")

    monkeypatch.setattr(tune_mod, "tune", search)
    assert main(["forecast", "--data", "nile", "--tune", "1", *top, "--strategy", "sequence",
                 "--learning-rate", "0.002", "--epochs", "1"]) == 2
    assert "stopped here" in capsys.readouterr().err
    assert seen["fixed"]["strategy"] == "sequence" and seen["fixed"]["learning_rate"] == 0.002


def test_lookback_help_names_the_sequence_default(capsys):
    from grukit.tasks.forecast.forecaster import default_lookback

    with pytest.raises(SystemExit):
        main(["forecast", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--strategy sequence: four seasons, at least 24" in text
    assert default_lookback(1, "sequence") == 24 and default_lookback(12, "sequence") == 48
