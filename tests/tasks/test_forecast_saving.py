"""Forecaster as an estimator: the constructor does no work, fit returns self, save/load
gives back predict(), predict(recent) and update() bit for bit; damaged, foreign and missing
folders are refused in one sentence."""

import json

import numpy as np
import pandas as pd
import pytest

from grukit.tasks.estimator import NotFittedError, load
from grukit.tasks.forecast import Forecaster

SMALL = {"horizon": 4, "lookback": 8, "hidden": 6, "epochs": 3}


def _series(n=80, seed=0, level=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return level + scale * (np.sin(2 * np.pi * t / 12) + 0.1 * rng.standard_normal(n))


def _cpu(f):
    f.net.cpu()  # fit trains where torch finds a GPU; a loaded model starts on the CPU
    return f


def _one_sentence(message: str) -> None:
    assert "\n" not in message and message.endswith("."), message


def test_constructor_stores_settings_and_fit_returns_self():
    f = Forecaster(**SMALL)
    assert f.get_config() == {"model": "gru", "lookback": 8, "horizon": 4, "hidden": 6,
                              "layers": 1, "epochs": 3, "batch_size": 32,
                              "learning_rate": 3e-3, "patience": 15, "seed": 0,
                              "dropout": 0.0, "hybrid": False, "ensemble": 1, "lookbacks": None,
                              "quantiles": None, "level": 0.8, "tuned": {},
                              "strategy": "direct", "differences": 0}
    assert not hasattr(f, "net") and not getattr(f, "fitted_", False)
    with pytest.raises(NotFittedError, match="not trained; call fit"):
        f.predict()
    assert f.fit(_series()) is f and f.fitted_
    assert Forecaster(**f.get_config()).get_config() == f.get_config()


def test_one_series_round_trip_is_bit_exact(tmp_path):
    y = _series()
    f = _cpu(Forecaster(**SMALL).fit(y, season=12))
    f.save(str(tmp_path / "m"))
    g = Forecaster.load(str(tmp_path / "m"))
    assert isinstance(g, Forecaster) and g.get_config() == f.get_config()
    assert g.season == 12 and g.single and g.n_cov == 0
    assert np.array_equal(g.predict(), f.predict()) and g.predict().shape == (4,)
    assert np.array_equal(g.predict(y[:50]), f.predict(y[:50]))
    for value in (0.3, -1.2, 2.5):  # the streaming state continues the same way
        assert np.array_equal(g.update(value), f.update(value))
    assert np.array_equal(g.predict(), f.predict())


def test_list_of_series_round_trip_is_bit_exact(tmp_path):
    small, large = _series(70, 1), _series(90, 2, level=1000, scale=100)
    f = _cpu(Forecaster(**SMALL).fit([small, large], season=12))
    f.save(str(tmp_path / "m"))
    g = load(str(tmp_path / "m"))  # the class is read from the folder
    assert type(g) is Forecaster and not g.single
    assert g.predict().shape == (2, 4) and np.array_equal(g.predict(), f.predict())
    for i, y in enumerate((small, large)):
        assert np.array_equal(g.predict(y[:40], index=i), f.predict(y[:40], index=i))
    assert np.array_equal(g.update(1003.0, index=1), f.update(1003.0, index=1))
    assert np.array_equal(g.predict(), f.predict())


def test_covariates_and_time_stamps_are_kept(tmp_path):
    rng = np.random.default_rng(3)
    c = rng.standard_normal((80, 2))
    y = pd.Series(_series(80) + c[:, 0], index=pd.date_range("2000-01-01", periods=80,
                                                              freq="MS"))
    f = _cpu(Forecaster(**SMALL).fit(y, 12, covariates=c))
    f.save(str(tmp_path / "m"))
    g = Forecaster.load(str(tmp_path / "m"))
    assert g.n_cov == 2 and np.array_equal(g.predict(), f.predict())
    assert np.array_equal(g.predict(y.to_numpy()[:60], c[:60]), f.predict(y.to_numpy()[:60],
                                                                           c[:60]))
    assert list(g.future_index()) == list(pd.date_range("2006-09-01", periods=4, freq="MS"))
    assert np.array_equal(g.update(0.5, [0.1, -0.2]), f.update(0.5, [0.1, -0.2]))
    assert g.future_index()[0] == pd.Timestamp("2006-10-01")  # update moves the origin


def test_a_named_timezone_is_kept_across_daylight_saving(tmp_path):
    """Daily stamps at local midnight stay at local midnight after the clocks change, before
    and after saving and after update (they were continued at the last stamp's UTC offset:
    00:00+01:00 is 01:00 in Berlin's summer time)."""
    idx = pd.date_range("2020-01-01", "2020-03-27", freq="D", tz="Europe/Berlin")
    y = pd.Series(_series(len(idx)), index=idx)
    f = Forecaster(**SMALL).fit(y)
    want = pd.date_range("2020-03-28", periods=4, freq="D", tz="Europe/Berlin")
    assert list(f.future_index()) == list(want)
    f.save(str(tmp_path / "m"))
    g = Forecaster.load(str(tmp_path / "m"))
    assert list(g.future_index()) == list(want) and str(g.future_index().tz) == "Europe/Berlin"
    g.update(0.5)
    g.update(0.5)
    assert list(g.future_index()) == list(want.shift(2))


def test_custom_business_day_holidays_are_kept(tmp_path):
    """A series on business days with holidays is continued on the days after it that are
    business days (the holidays were lost: its frequency's name, "C", holds none), before
    and after saving and after update; the same for a shorter weekmask and 2 days a step."""
    from pandas.tseries.offsets import CustomBusinessDay

    for cbd in (CustomBusinessDay(holidays=["2024-03-29", "2024-04-01", "2024-04-03"]),
                CustomBusinessDay(n=2, weekmask="Mon Tue Wed Thu",
                                  holidays=["2024-04-01", "2023-12-25"])):
        idx = pd.date_range("2024-01-02", "2024-03-27", freq=cbd)
        y = pd.Series(_series(len(idx)), index=idx)
        f = Forecaster(**SMALL).fit(y)
        want = pd.date_range(idx[-1], periods=5, freq=cbd)[1:]
        assert list(f.future_index()) == list(want)
        assert not set(want) & {pd.Timestamp(d) for d in cbd.holidays}
        f.save(str(tmp_path / "m"))
        g = Forecaster.load(str(tmp_path / "m"))
        assert list(g.future_index()) == list(want)
        np.testing.assert_array_equal(g.predict(), f.predict())
        g.update(0.5)
        assert list(g.future_index()) == list(pd.date_range(want[0], periods=5,
                                                            freq=cbd)[1:])


def test_business_hours_are_kept(tmp_path):
    """Hourly stamps in business hours other than 09:00-17:00 are continued in those hours
    (the frequency's name, "bh", has none: 14:00-16:00 followed a 10:00-14:00 series), before
    and after saving and after update; custom business hours keep their holidays too."""
    from pandas.tseries.offsets import BusinessHour, CustomBusinessHour

    for bh in (BusinessHour(start="10:00", end="14:00"),
               BusinessHour(n=2, start=["08:00", "13:00"], end=["11:00", "18:00"]),
               CustomBusinessHour(start="10:00", end="15:00", holidays=["2024-01-30"])):
        idx = pd.date_range("2024-01-02 10:00", periods=80, freq=bh)
        y = pd.Series(_series(len(idx)), index=idx)
        f = Forecaster(**SMALL).fit(y)
        want = pd.date_range(idx[-1], periods=5, freq=bh)[1:]
        assert list(f.future_index()) == list(want), bh
        f.save(str(tmp_path / "m"))
        g = Forecaster.load(str(tmp_path / "m"))
        assert list(g.future_index()) == list(want)
        g.update(0.5)
        assert list(g.future_index()) == list(pd.date_range(want[0], periods=5, freq=bh)[1:])


def test_the_series_name_is_kept_with_its_time_stamps(tmp_path):
    """(grukit forecast predict --data reads the column of that name.) A one-column
    DataFrame gives its column's name; one called "name" gave df.name, the column itself."""
    idx = pd.date_range("2000-01-01", periods=80, freq="MS")
    for given, name in ((pd.Series(_series(), index=idx, name="units"), "units"),
                        (pd.DataFrame({"name": _series()}, index=idx), "name"),
                        (pd.Series(_series(), index=idx), None)):
        f = Forecaster(**SMALL).fit(given)
        f.save(str(tmp_path / "m"))
        assert f.times[0].get("name") == name == Forecaster.load(str(tmp_path / "m")) \
            .times[0].get("name")


def test_numpy_numbers_as_settings_save(tmp_path):
    """Settings such as np.int64(4) from a loop over np.arange passed every check and trained,
    then save failed ('Object of type int64 is not JSON serializable'): the work was lost."""
    f = Forecaster(horizon=np.int64(4), lookback=np.int32(8), hidden=6, epochs=np.int64(2),
                   learning_rate=np.float32(3e-3), level=np.float64(0.9),
                   lookbacks=[np.int64(6), 8]).fit(_series())
    f.save(str(tmp_path / "m"))
    g = Forecaster.load(str(tmp_path / "m"))
    assert g.get_config() == f.get_config() and type(g.config.horizon) is int
    assert np.array_equal(g.predict(), f.predict())
    # float32 quantiles and level were refused as not numbers ("got [np.float32(0.1), 0.9]")
    q = Forecaster(quantiles=[np.float32(0.1), 0.9], level=np.float32(0.8), **SMALL)
    assert q.config.quantiles == [0.1, 0.9] and type(q.config.level) is float
    assert q.config.level == 0.8  # the decimal a float32 prints as (intervals.plain_float)


def test_saving_needs_a_fitted_model_and_a_folder(tmp_path):
    with pytest.raises(NotFittedError, match="before save"):
        Forecaster(**SMALL).save(str(tmp_path / "m"))
    (tmp_path / "file").write_text("x")
    f = Forecaster(**SMALL).fit(_series())
    with pytest.raises(ValueError, match="it is a file; a model is saved as a folder"):
        f.save(str(tmp_path / "file"))


def test_refusals_are_one_sentence(tmp_path):
    from grukit.tasks.classify import TextClassifier

    with pytest.raises(FileNotFoundError, match="no saved model at") as err:
        Forecaster.load(str(tmp_path / "missing"))
    _one_sentence(str(err.value))

    texts = ["good day", "bad day", "great food", "awful food"] * 5
    labels = ["pos", "neg"] * 10
    TextClassifier(epochs=1, hidden=4).fit(texts, labels).save(str(tmp_path / "clf"))
    with pytest.raises(ValueError, match="holds a TextClassifier, not a Forecaster") as err:
        Forecaster.load(str(tmp_path / "clf"))
    _one_sentence(str(err.value))

    Forecaster(**SMALL).fit(_series()).save(str(tmp_path / "m"))
    cfg = tmp_path / "m" / "config.json"
    body = json.loads(cfg.read_text())
    body["config"]["horizon"] = 5
    cfg.write_text(json.dumps(body))
    with pytest.raises(ValueError, match="does not match its checksum") as err:
        Forecaster.load(str(tmp_path / "m"))
    _one_sentence(str(err.value))

    Forecaster(**SMALL).fit(_series()).save(str(tmp_path / "w"))
    weights = tmp_path / "w" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ValueError, match="weights.safetensors' does not match its checksum"):
        Forecaster.load(str(tmp_path / "w"))
