"""MusicModel: an estimator over train_music (same numbers), save/load bit for bit, and one
sentence for each refusal."""

import hashlib
import json

import numpy as np
import pytest
import torch

from grukit.tasks.estimator import NotFittedError, _canonical, load
from grukit.tasks.music import MusicConfig, MusicModel, train_music

FAST = dict(model="gru", hidden=6, max_epochs=3, patience=5, batch_size=2, lr=1e-2)


def _rolls(rng, n, lo=3, hi=12):
    return [torch.as_tensor((rng.random((int(rng.integers(lo, hi)), 88)) < 0.1)
                            .astype(np.float32)) for _ in range(n)]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return {"train": _rolls(rng, 6), "valid": _rolls(rng, 3), "test": _rolls(rng, 3)}


@pytest.fixture(scope="module")
def fitted(data):
    return MusicModel(**FAST).fit(data)


def _rewrite(path, edit):
    """Edit config.json and give it a valid checksum again (a consistent, foreign file)."""
    cfg = path / "config.json"
    body = json.loads(cfg.read_text())
    body.pop("sha256")
    edit(body)
    body["sha256"] = hashlib.sha256(_canonical(body)).hexdigest()
    cfg.write_text(json.dumps(body))


def test_fit_returns_self_with_the_numbers_of_train_music(data, fitted):
    assert MusicModel(**FAST).fit(data) is not None
    ref = train_music(data, MusicConfig(**FAST))
    res = fitted.result_
    for key in ("train_curve", "val_curve", "best_epoch", "train_nll", "val_nll", "test_nll",
                "params", "stop_reason"):
        assert res[key] == ref[key], key
    for a, b in zip(fitted.network_.state_dict().values(), ref.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    assert fitted.history_.history["val_loss"] == ref.val_curve
    assert fitted.history_.epoch == [0, 1, 2]
    assert fitted.evaluate(data["test"])["nll"] == ref.test_nll


def test_fit_reads_a_mat_file_and_trains_without_a_test_split(tmp_path, data):
    import scipy.io

    def cell(rolls):
        c = np.empty((1, len(rolls)), dtype=object)
        for i, r in enumerate(rolls):
            c[0, i] = r.numpy().astype(np.uint8)
        return c

    path = tmp_path / "tiny.mat"
    scipy.io.savemat(path, {"traindata": cell(data["train"]), "validdata": cell(data["valid"]),
                            "testdata": cell(data["test"])})
    from_file = MusicModel(**FAST).fit(str(path))
    assert from_file.result_.test_nll == train_music(data, MusicConfig(**FAST)).test_nll
    no_test = MusicModel(**FAST).fit({"train": data["train"], "valid": data["valid"]})
    assert no_test.result_.test_nll is None
    assert no_test.result_.val_nll == from_file.result_.val_nll


def test_evaluate_and_predict_mean_what_they_say(data, fitted):
    roll = data["test"][0]
    p = fitted.predict(roll)
    assert p.shape == tuple(roll.shape) and ((p > 0) & (p < 1)).all()
    # per-step NLL from the probabilities, frame 0 not counted
    x = roll.numpy()
    nll = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1)[1:].mean()
    got = fitted.evaluate(roll)
    assert got["nll"] == pytest.approx(float(nll), rel=1e-4)
    assert got["frames"] == roll.shape[0] - 1 and got["sequences"] == 1
    listed = fitted.predict(data["test"])
    assert isinstance(listed, list) and len(listed) == 3
    np.testing.assert_array_equal(listed[0], p)
    as_numpy = fitted.predict(roll.numpy().astype(bool))  # any 0/1 dtype
    np.testing.assert_array_equal(as_numpy, p)


def test_round_trip_is_bit_exact(tmp_path, data, fitted):
    before_eval = fitted.evaluate(data["test"])
    before_p = fitted.predict(data["test"])
    fitted.save(str(tmp_path / "m"))
    same = MusicModel.load(str(tmp_path / "m"))
    assert same.evaluate(data["test"]) == before_eval
    for a, b in zip(same.predict(data["test"]), before_p, strict=True):
        assert np.array_equal(a, b)
    assert same.get_config() == fitted.get_config()
    assert same.history_.history == fitted.history_.history
    assert same.result_.to_dict() == fitted.result_.to_dict()
    assert isinstance(load(str(tmp_path / "m")), MusicModel)


def test_load_refusals_are_one_sentence(tmp_path, fitted):
    from grukit.tasks.forecast import Forecaster

    path = tmp_path / "m"
    fitted.save(str(path))
    with pytest.raises(ValueError, match=r"holds a MusicModel, not a Forecaster; load it with "
                                         r"MusicModel.load"):
        Forecaster.load(str(path))
    with pytest.raises(FileNotFoundError, match="no saved model at"):
        MusicModel.load(str(tmp_path / "nowhere"))
    body = json.loads((path / "config.json").read_text())
    body["config"]["hidden"] = 7
    (path / "config.json").write_text(json.dumps(body))
    with pytest.raises(ValueError, match="does not match its checksum"):
        MusicModel.load(str(path))
    fitted.save(str(path))
    _rewrite(path, lambda b: b["config"].update(hidden=7))
    with pytest.raises(ValueError, match=r"does not fit its own settings \(rnn.weight_ih_l0 is "
                                         r"\(18, 88\) there, \(21, 88\) for its settings\)"):
        MusicModel.load(str(path))
    fitted.save(str(path))
    _rewrite(path, lambda b: b["config"].update(temperature=2.0))
    with pytest.raises(ValueError, match=r"settings \['temperature'\] that this grukit's "
                                         r"MusicModel does not know"):
        MusicModel.load(str(path))
    fitted.save(str(path))
    _rewrite(path, lambda b: b["extras"].pop("result"))
    with pytest.raises(ValueError, match="lacks its training record"):
        MusicModel.load(str(path))
    fitted.save(str(path))
    _rewrite(path, lambda b: b["config"].update(model="transformer"))
    with pytest.raises(ValueError, match="model must be one of"):
        MusicModel.load(str(path))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file; a saved grukit model is a folder"):
        MusicModel.load(str(tmp_path / "file"))


@pytest.mark.parametrize("settings,message", [
    (dict(temperature=1.0), "MusicModel has no setting 'temperature'"),
    (dict(model="gru2"), "model must be one of"),
    (dict(hidden=0), "hidden must be a positive integer; got 0"),
    (dict(num_threads=0), "num_threads must be a positive integer or None"),
    (dict(lr=float("nan")), "lr must be a finite number"),
    (dict(lr=0.0), "lr must be positive"),
    (dict(seed=-1), "seed must be a whole number, 0 or more"),
    (dict(max_seconds=0), "max_seconds must be positive or None"),
    (dict(rmsprop_alpha=1.0), r"rmsprop_alpha must be in \[0, 1\)"),
], ids=["unknown", "model", "hidden-0", "threads-0", "lr-nan", "lr-0", "seed-neg",
        "max-seconds-0", "alpha-1"])
def test_bad_settings_are_refused_by_the_constructor(settings, message):
    with pytest.raises((ValueError, TypeError), match=message):
        MusicModel(**settings)


@pytest.mark.parametrize("setting", ["noise_biases", "count_first"])
@pytest.mark.parametrize("value,want", [
    ("False", None), ("", None), (None, None), (0.0, None), (1.0, None), (2, None),
    ([True], None), (np.bool_(False), False), (np.bool_(True), True), (0, False), (1, True),
    (np.int64(1), True)], ids=repr)
def test_bool_settings_take_bools_0_and_1_and_refuse_the_rest(setting, value, want):
    """0 and 1 are the bools they equal (they were refused), stored as Python's so that save
    writes JSON; anything else is one sentence."""
    if want is None:
        with pytest.raises(ValueError, match=rf"^MusicConfig: {setting} must be True or "
                                             rf"False; got "):
            MusicModel(**{setting: value})
        return
    cfg = MusicModel(**{setting: value}).get_config()
    assert cfg[setting] is want
    assert json.loads(json.dumps(cfg))[setting] is want


def test_numpy_numbers_as_settings_are_taken_as_python_ones():
    """Settings from a numpy grid (np.int64 epochs, np.float32 lr) are the same settings."""
    m = MusicModel(max_epochs=np.int64(5), hidden=np.int32(8), lr=np.float32(0.5),
                   seed=np.int64(1), weight_noise=np.float64(0.1), count_first=np.bool_(True))
    cfg = m.get_config()
    assert cfg == MusicModel(max_epochs=5, hidden=8, lr=0.5, seed=1, weight_noise=0.1,
                             count_first=True).get_config()
    assert all(type(cfg[k]) is t for k, t in [("max_epochs", int), ("hidden", int),
                                              ("lr", float), ("count_first", bool)])
    json.dumps(cfg)
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        MusicModel(hidden=np.float64(8.0))


@pytest.mark.parametrize("kw,match", [
    ({"on_epoch": 5}, "on_epoch must be a function"),
    ({"callbacks": 5}, "callbacks must be a list of grukit.models.Callback"),
    ({"callbacks": [print]}, "callbacks must be a list of grukit.models.Callback"),
])
def test_bad_hooks_are_refused_before_the_first_epoch(data, kw, match):
    """on_epoch=5 trained a whole epoch and then failed calling it ('int' is not callable)."""
    epochs = []
    with pytest.raises(TypeError, match=match):
        MusicModel(hidden=4, max_epochs=1).fit(
            data, **kw, **({} if "on_epoch" in kw else {"on_epoch": lambda *a: epochs.append(a)}))
    assert epochs == []


def test_bad_data_is_refused_in_one_sentence(data, fitted, tmp_path):
    with pytest.raises(NotFittedError, match="call fit"):
        MusicModel().predict(data["test"][0])
    with pytest.raises(ValueError, match=r"has shape \(4, 87\); a piano roll is \(T ≥ 1, 88\)"):
        fitted.predict(np.zeros((4, 87)))
    with pytest.raises(ValueError, match=r"rolls\[1\] holds 0.5; a piano roll marks each key"):
        fitted.evaluate([np.zeros((4, 88)), np.full((4, 88), 0.5)])
    with pytest.raises(ValueError, match="holds nan"):
        fitted.predict(np.full((3, 88), np.nan))
    with pytest.raises(ValueError, match="empty list"):
        fitted.evaluate([])
    with pytest.raises(TypeError, match="got a str"):
        fitted.predict("song.mid")
    with pytest.raises(ValueError, match="no frame to score"):
        fitted.evaluate([np.zeros((1, 88))])
    with pytest.raises(ValueError, match="lacks the 'valid' split"):
        MusicModel(**FAST).fit({"train": data["train"]})
    with pytest.raises(ValueError, match=r"data has splits \['dev'\]"):
        MusicModel(**FAST).fit({"train": data["train"], "valid": data["valid"],
                                "dev": data["valid"]})
    with pytest.raises(ValueError, match=r"data\['train'\] is an empty list"):
        MusicModel(**FAST).fit({"train": [], "valid": data["valid"]})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        MusicModel(**FAST).fit(str(tmp_path / "none.mat"))
    with pytest.raises(ValueError, match="is a folder; give a piano-roll .mat file"):
        MusicModel(**FAST).fit(str(tmp_path))
    with pytest.raises(TypeError, match="got a list"):
        MusicModel(**FAST).fit(data["train"])


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_a_split_of_one_step_sequences_is_refused_before_training(data, split):
    calls = []
    one_step = {**data, split: [torch.zeros(1, 88), torch.zeros(1, 88)]}
    with pytest.raises(ValueError, match=rf"data\['{split}'\] is one step long, so it has no "
                                         rf"frame to predict"):
        MusicModel(**FAST).fit(one_step, on_epoch=lambda *a: calls.append(a))
    assert calls == []  # refused before the first epoch
    MusicModel(**(FAST | {"max_epochs": 1, "count_first": True})).fit(one_step)  # frame 0 counts
