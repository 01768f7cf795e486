"""grukit.tasks.clinical: GRU-D and its baselines on a tiny synthetic PhysioNet-format set
whose outcome lies in when a variable stops being measured (so only a model that reads the
mask or δ can beat chance), save/load bit for bit, the CLI's train + predict round trip and
its one-line errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from grukit.cli import main
from grukit.data.clinical import PHYSIONET_RANGES, PHYSIONET_VARIABLES, read_physionet2012
from grukit.tasks.clinical import ClinicalClassifier

FAST = dict(hidden=16, epochs=12, batch_size=32, learning_rate=1e-2, patience=4)


def write_set(folder, n: int = 160, seed: int = 0, steps: int = 48) -> str:
    """``folder``/set-a/<id>.txt and Outcomes-a.txt: every variable once at 00:30, HR each
    hour, and Lactate every 2 h — until hour 8 for the patients who die, until the end for
    the others (its values carry no signal: the same distribution in both classes)."""
    rng = np.random.default_rng(seed)
    stays = os.path.join(folder, "set-a")
    os.makedirs(stays, exist_ok=True)
    died = np.arange(n) % 3 == 0
    rows = ["RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death"]
    for i in range(n):
        rid = 140000 + i
        lines = ["Time,Parameter,Value", f"00:00,RecordID,{rid}",
                 f"00:00,Age,{rng.integers(20, 90)}", f"00:00,Gender,{i % 2}",
                 "00:00,Height,-1", f"00:00,Weight,{rng.normal(80, 10):.1f}"]
        for v in PHYSIONET_VARIABLES:
            lo, hi = PHYSIONET_RANGES[v]
            lines.append(f"00:30,{v},{lo + (hi - lo) * 0.35:.3f}")
        for h in range(1, steps):
            lines.append(f"{h:02d}:15,HR,{rng.normal(85, 10):.0f}")
            if h % 2 == 0 and (h <= 8 or not died[i]):
                lines.append(f"{h:02d}:30,Lactate,{rng.uniform(1, 3):.2f}")
        with open(os.path.join(stays, f"{rid}.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        rows.append(f"{rid},10,5,8,-1,{int(died[i])}")
    with open(os.path.join(folder, "Outcomes-a.txt"), "w") as f:
        f.write("\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = write_set(str(tmp_path_factory.mktemp("physionet")))
    return folder, read_physionet2012(folder)


def _split(data):
    idx = np.arange(data.n_records)
    return idx[idx % 4 != 0], idx[idx % 4 == 0]


def test_grud_beats_chance_when_the_outcome_is_in_the_missingness(synthetic):
    _, data = synthetic
    tr, te = _split(data)
    clf = ClinicalClassifier(model="grud", **FAST).fit(data, tr)
    assert clf.evaluate(data, te)["auc_roc"] > 0.7


def test_fit_returns_self_and_scores_every_record(synthetic):
    _, data = synthetic
    clf = ClinicalClassifier(model="gru-simple", **FAST | {"epochs": 2})
    assert clf.fit(data) is clf
    p = clf.predict_proba(data)
    assert p.shape == (data.n_records,) and ((p >= 0) & (p <= 1)).all()
    assert set(np.unique(clf.predict(data))) <= {0, 1}


@pytest.mark.parametrize("model", ["grud", "gru-mean", "gru-forward", "lstm-mean"])
def test_saved_and_loaded_model_scores_bit_for_bit(synthetic, tmp_path, model):
    _, data = synthetic
    clf = ClinicalClassifier(model=model, **FAST | {"epochs": 2}).fit(data)
    before = clf.predict_proba(data)
    clf.save(str(tmp_path / "m"))
    again = ClinicalClassifier.load(str(tmp_path / "m"))
    np.testing.assert_array_equal(again.predict_proba(data), before)  # same code twice
    np.testing.assert_array_equal(again.encoding_.x_mean, clf.encoding_.x_mean)


def test_gru_simple_reads_mean_imputed_x_with_mask_and_delta(synthetic):
    """GRU-simple as Che et al.'s released code builds it (x_imputation='zero' on z-scored
    x: the mean) beside the mask and δ; gru-simple-forward reads forward-filled x."""
    from grukit.data.clinical import Standardization
    from grukit.tasks.clinical.features import fit_encoding, series_inputs

    _, data = synthetic
    enc = fit_encoding(data, np.arange(data.n_records))
    st = Standardization(enc.mean, enc.std)
    d, window = len(data.variables), data.n_steps * data.step
    mean = series_inputs(data, enc, "gru-simple")  # (N, T, 3D)
    fwd = series_inputs(data, enc, "gru-simple-forward")
    np.testing.assert_array_equal(mean[..., :d], data.imputed("mean", enc.x_mean, st)
                                  .astype(np.float32))
    np.testing.assert_array_equal(fwd[..., :d], data.imputed("forward", enc.x_mean, st)
                                  .astype(np.float32))
    for x in (mean, fwd):
        np.testing.assert_array_equal(x[..., d:2 * d], data.M)
        np.testing.assert_allclose(x[..., 2 * d:], data.delta / window, rtol=1e-6)
    gap = data.M[..., list(data.variables).index("Lactate")] == 0  # (N, T) a missing step
    assert gap.any() and not np.array_equal(mean, fwd)


def test_a_gru_simple_saved_before_the_mean_imputation_loads_as_forward(synthetic, tmp_path):
    """A gru-simple saved without the "simple_fill" mark read forward-filled x: it loads as
    gru-simple-forward and scores as it did; one saved now keeps gru-simple."""
    from grukit.tasks.estimator import _as_tensor, save_folder

    _, data = synthetic
    old = ClinicalClassifier(model="gru-simple-forward", **FAST | {"epochs": 2}).fit(data)
    tensors, extras = old._state()
    assert "simple_fill" not in extras  # as every gru-simple was saved before
    save_folder(str(tmp_path / "old"), "ClinicalClassifier",
                old.get_config() | {"model": "gru-simple"}, extras,
                {k: _as_tensor(k, v) for k, v in tensors.items()})
    again = ClinicalClassifier.load(str(tmp_path / "old"))
    assert again.config.model == "gru-simple-forward"
    np.testing.assert_array_equal(again.predict_proba(data), old.predict_proba(data))
    new = ClinicalClassifier(model="gru-simple", **FAST | {"epochs": 2}).fit(data)
    new.save(str(tmp_path / "new"))
    back = ClinicalClassifier.load(str(tmp_path / "new"))
    assert back.config.model == "gru-simple"
    np.testing.assert_array_equal(back.predict_proba(data), new.predict_proba(data))


def test_risk_over_time_ends_at_the_predicted_risk(synthetic):
    _, data = synthetic
    clf = ClinicalClassifier(model="grud", **FAST | {"epochs": 2}).fit(data)
    risk = clf.risk_over_time(data, 3)
    assert risk.shape == (data.n_steps,)
    np.testing.assert_allclose(risk[-1], clf.predict_proba(data)[3], rtol=1e-5, atol=1e-6)


def test_bad_settings_and_data_one_sentence(synthetic):
    _, data = synthetic
    with pytest.raises(ValueError, match=r"^model must be one of grud, .*; got 'gru-x'\.$"):
        ClinicalClassifier(model="gru-x").fit(data)
    with pytest.raises(TypeError, match="has no setting 'layers'"):
        ClinicalClassifier(layers=2)
    with pytest.raises(ValueError, match="only one outcome class"):
        ClinicalClassifier(**FAST).fit(data, np.flatnonzero(data.y == 0))
    with pytest.raises(ValueError, match=r"^seed must be below 2\*\*32 \(4294967296\)"):
        ClinicalClassifier(seed=2 ** 32).fit(data)
    survival = data.with_outcome("Survival")  # -1: survived
    with pytest.raises(ValueError, match=r"^the outcome 'Survival' must be 0 or 1; record "
                                         r"140000 has -1\.$"):
        ClinicalClassifier(**FAST).fit(survival)


def test_cli_train_then_predict_round_trip(synthetic, tmp_path, capsys):
    folder, data = synthetic
    out, save, pred = tmp_path / "out", tmp_path / "model", tmp_path / "pred"
    assert main(["clinical", "--data", folder, "--model", "gru-mean", "--folds", "2",
                 "--epochs", "2", "--hidden", "8", "--output", str(out), "--bootstrap", "200",
                 "--save", str(save)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for name in ("gru-mean", "logistic-regression", "gradient-boosting"):
        block = metrics["models"][name]
        assert len(block["per_fold"]) == 2
        lo, hi = block["pooled"]["auc_roc_ci95"]
        assert lo <= block["pooled"]["auc_roc"] <= hi
    assert sorted(os.listdir(out / "folds")) == ["fold-01.json", "fold-02.json"]
    assert main(["clinical", "predict", "--model", str(save), "--data", folder,
                 "--output", str(pred)]) == 0
    lines = (pred / "predictions.csv").read_text().splitlines()
    assert lines[0] == "RecordID,risk" and len(lines) == data.n_records + 1
    saved = ClinicalClassifier.load(str(save)).predict_proba(data)
    first = lines[1].split(",")
    assert int(first[0]) == data.record_ids[0]
    assert float(first[1]) == pytest.approx(float(saved[0]), abs=1e-6)


def test_cli_resume_skips_finished_folds(synthetic, tmp_path, capsys):
    folder, _ = synthetic
    args = ["clinical", "--data", folder, "--model", "gru-mean", "--folds", "2", "--epochs",
            "1", "--hidden", "4", "--output", str(tmp_path), "--no-baselines", "--bootstrap",
            "100"]
    assert main(args) == 0
    first = json.loads((tmp_path / "metrics.json").read_text())
    capsys.readouterr()
    assert main(args + ["--resume"]) == 0
    assert "2 of 2 folds already" in capsys.readouterr().out
    again = json.loads((tmp_path / "metrics.json").read_text())
    assert again["models"] == first["models"]


def test_cli_ctrl_c_one_line_exit_130_then_resume_finishes(synthetic, tmp_path, capsys,
                                                          monkeypatch):
    from grukit.tasks.clinical import cli

    folder, _ = synthetic
    args = ["clinical", "--data", folder, "--model", "gru-mean", "--folds", "3", "--epochs",
            "1", "--hidden", "4", "--output", str(tmp_path), "--no-baselines", "--bootstrap",
            "100"]
    real, calls = cli._fold, []

    def interrupted_on_the_second(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(cli, "_fold", interrupted_on_the_second)
    assert main(args) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"grukit clinical: interrupted after fold 1 of 3; partial results in "
                   f"{tmp_path}; rerun with --resume to continue"]
    assert os.listdir(tmp_path / "folds") == ["fold-01.json"]
    monkeypatch.setattr(cli, "_fold", real)
    assert main(args + ["--resume"]) == 0
    assert "1 of 3 folds already" in capsys.readouterr().out
    assert len(json.loads((tmp_path / "metrics.json").read_text())["models"]["gru-mean"]
               ["per_fold"]) == 3


@pytest.mark.parametrize("extra, match", [
    (["--data", "/no/such/folder"], "no such folder"),
    (["--data", __file__], "is a file; give the PhysioNet 2012 folder"),
    (["--outcome", "Mortality"], "no outcome column 'Mortality'"),
    (["--outcome", ""], "no outcome column ''"),  # was in-hospital death
    (["--folds", "1"], "--folds must be 2 or more"),
    (["--bootstrap", "5"], "--bootstrap must be 100 or more"),
    (["--model", "transformer"], "--model must be one of grud"),
    (["--seed", "4294967296"], "--seed must be below 2**32 (4294967296); got 4294967296"),
])
def test_cli_bad_input_one_line_exit_2(synthetic, tmp_path, capsys, extra, match):
    folder, _ = synthetic
    args = ["clinical", "--data", folder, "--output", str(tmp_path / "o"), "--epochs", "1"]
    assert main(args + extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err


def test_cli_folder_without_outcome_file_one_line_exit_2(synthetic, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(synthetic[0], data)
    for f in data.glob("Outcomes*.txt"):
        f.unlink()
    assert main(["clinical", "--data", str(data), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no outcome file (Outcomes-a.txt)" in err
    assert "put the outcome file there" in err


def test_cli_without_data_or_shared_folder_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRUKIT_SHARED_DATA", str(tmp_path / "nothing-here"))
    assert main(["clinical", "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--data is missing" in err


def test_cli_predict_refuses_training_flags_and_other_models(synthetic, tmp_path, capsys):
    folder, _ = synthetic
    assert main(["clinical", "predict", "--model", str(tmp_path), "--data", folder,
                 "--epochs", "3"]) == 2
    assert "--epochs set(s) training" in capsys.readouterr().err
    assert main(["clinical", "predict", "--model", str(tmp_path / "none"), "--data",
                 folder]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no saved model" in err


def test_cli_output_that_is_a_file_or_read_only_one_line_exit_2(synthetic, tmp_path, capsys):
    folder, _ = synthetic
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["clinical", "--data", folder, "--output", str(f)]) == 2
    assert "is a file" in capsys.readouterr().err
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        assert main(["clinical", "--data", folder, "--output", str(ro / "x")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "cannot be written" in err
    finally:
        ro.chmod(0o700)


def test_a_long_csvs_categorical_descriptors_are_one_hot_and_others_numeric(tmp_path):
    from grukit.data.clinical import read_long_csv
    from grukit.tasks.clinical.features import static_inputs

    rows = ["id,time,variable,value"]
    for i in range(8):  # Unit: a code of 1 to 3; Gender here a number like any other
        rows += [f"{i},0,Unit,{1 + i % 3}", f"{i},0,Gender,{i % 2}", f"{i},1,HR,{70 + i}"]
    (tmp_path / "long.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "y.csv").write_text("id,died\n" + "".join(f"{i},{i % 2}\n" for i in range(8)))
    data = read_long_csv(tmp_path / "long.csv", statics=("Unit", "Gender"),
                         categorical=("Unit",), outcomes=tmp_path / "y.csv", outcome="died")
    assert data.categorical == ("Unit",)
    unpicked = read_long_csv(tmp_path / "long.csv", outcomes=tmp_path / "y.csv")
    with pytest.raises(ValueError, match=r"has no outcome; read it with its outcome file and "
                                         r"the outcome column \(outcome=\), or pick a column "
                                         r"it holds with data.with_outcome\(name\)"):
        ClinicalClassifier(epochs=1).fit(unpicked)  # its outcome file was read: say what else
    clf = ClinicalClassifier(model="gru-mean", hidden=4, epochs=1, validation_split=0)
    enc = clf.fit(data).encoding_
    assert [(name, kind) for name, kind, _ in enc.statics] == [("Unit", "categorical"),
                                                              ("Gender", "numeric")]
    s = static_inputs(data, enc)  # (N, 3 + 1): Unit one-hot, Gender z-scored
    np.testing.assert_array_equal(s[:3, :3], np.eye(3))
    np.testing.assert_allclose(s[:2, 3], [-1, 1])


@pytest.mark.parametrize("value", ["no", 0.0, None])
def test_a_statics_setting_that_is_not_a_bool_is_refused(synthetic, value):
    """statics="no" (a true string) fed the descriptors; 0.0 and None left them out."""
    _, data = synthetic
    with pytest.raises(ValueError, match=r"^statics must be True or False \(feed the static "
                                         r"descriptors to the output unit or not\); got "):
        ClinicalClassifier(statics=value).fit(data)


@pytest.mark.parametrize("setting", ["gate_masks", "statics"])
@pytest.mark.parametrize("value,want", [
    ("False", None), (None, None), (1.0, None), (2, None), ([True], None),
    (np.bool_(False), False), (0, False), (1, True), (np.int64(0), False)], ids=repr)
def test_bool_settings_take_bools_0_and_1_and_refuse_the_rest(synthetic, setting, value,
                                                              want):
    """numpy's bool, 0 and 1 are the bools they equal (0 and 1 were refused), stored as
    Python's so that save writes JSON; anything else is one sentence."""
    from grukit.tasks.clinical.estimator import ClinicalConfig, check_config

    _, data = synthetic
    if want is None:
        with pytest.raises(ValueError, match=rf"^{setting} must be True or False"):
            ClinicalClassifier(**{setting: value}).fit(data)
        return
    for clf in (ClinicalClassifier(**{setting: value}),
                ClinicalClassifier(ClinicalConfig(**{setting: value}))):
        assert getattr(clf.config, setting) is want
        check_config(clf.config)
        assert json.loads(json.dumps(clf.get_config()))[setting] is want


def test_risk_over_time_refuses_a_bool_for_the_record(synthetic):
    """True was record 1 (a flag passed where the position goes), as record_events refuses."""
    _, data = synthetic
    clf = ClinicalClassifier(model="gru-mean", hidden=4, epochs=1, validation_split=0).fit(data)
    with pytest.raises(ValueError, match=r"^i must be a record position in 0\.\.159; got True"):
        clf.risk_over_time(data, True)
    assert clf.risk_over_time(data, np.int64(1)).shape == (data.n_steps,)


def test_new_stays_without_a_trained_variable_are_read_with_the_models_variables(tmp_path):
    """"read it in the same format" was the fix given when new stays measure fewer variables
    (a long CSV's variables are the names it holds): the fix is the model's variables."""
    from grukit.data.clinical import read_long_csv

    rows = ["id,time,variable,value"]
    for i in range(8):
        rows += [f"{i},1,hr,{70 + i}", f"{i},2,spo2,{90 + i}"]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "y.csv").write_text("id,died\n" + "".join(f"{i},{i % 2}\n" for i in range(8)))
    (tmp_path / "new.csv").write_text("id,time,variable,value\n9,1,hr,80\n")
    train = read_long_csv(tmp_path / "train.csv", outcomes=tmp_path / "y.csv", outcome="died")
    clf = ClinicalClassifier(model="gru-mean", hidden=4, epochs=1, validation_split=0)
    clf.fit(train)
    new = read_long_csv(tmp_path / "new.csv")
    with pytest.raises(ValueError, match=r"^the data's variables are not the model's \(it "
                                         r"lacks 'spo2'\); read it with variables="
                                         r"clf\.variables_, the model's 2 variables in its "
                                         r"order\.$"):
        clf.predict_proba(new)
    again = read_long_csv(tmp_path / "new.csv", variables=clf.variables_)
    assert clf.predict_proba(again).shape == (1,)


def test_records_without_any_outcome_are_not_called_one_class(synthetic):
    """Records whose outcomes are all unknown were said to "hold only one outcome class"."""
    import dataclasses

    from grukit.tasks.clinical.estimator import labelled_rows

    _, data = synthetic
    y = data.y.copy()
    y[:3] = np.nan
    unknown = dataclasses.replace(data, y=y)
    with pytest.raises(ValueError, match=r"^none of the records scored has an outcome "
                                         r"\('In-hospital_death' is empty for all 3\); "
                                         r"give records with a 0 or 1 outcome\.$"):
        labelled_rows(unknown, [0, 1, 2], "the records scored", "indices")


@pytest.mark.parametrize("kind", [str, object])
def test_outcomes_written_as_text_are_refused_in_one_sentence(synthetic, kind):
    """y of "0"/"1" text (a data frame's column put in by hand) failed inside numpy:
    "ufunc 'isfinite' not supported for the input types"."""
    import dataclasses

    _, data = synthetic
    text = dataclasses.replace(data, y=data.y.astype(int).astype(str).astype(kind))
    with pytest.raises(ValueError, match=r"^the outcome 'In-hospital_death' must be numbers, 0 "
                                         r"or 1 \(NaN: unknown\); got .* values such as '1'; "
                                         r"convert them, e\.g\. y\.astype\(float\)\.$"):
        ClinicalClassifier(**FAST).fit(text)
    flags = dataclasses.replace(data, y=data.y.astype(bool))  # booleans are 0 and 1
    assert labelled_rows_count(flags) == data.n_records


def labelled_rows_count(data) -> int:
    from grukit.tasks.clinical.estimator import labelled_rows

    return len(labelled_rows(data))


def test_a_learning_rate_far_too_large_warns_that_the_classifier_learned_nothing(synthetic):
    _, data = synthetic
    clf = ClinicalClassifier(model="gru-simple", **FAST | {"epochs": 2, "learning_rate": 1e3})
    with pytest.warns(RuntimeWarning, match=r"gru-simple classifier learned nothing.*learning "
                                            r"rate 1000"):
        clf.fit(data)
