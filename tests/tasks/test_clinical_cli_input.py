"""grukit clinical on a dozen hand-written stays: what --resume reuses, what predict does
with an outcome file that does not fit, --unknown, and a variable that one fold's training
stays never measure. Each run is one epoch of a 4-unit model on a handful of stays."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from grukit.cli import main
from grukit.data.clinical import PHYSIONET_RANGES, PHYSIONET_VARIABLES, read_physionet2012
from grukit.tasks.clinical import ClinicalClassifier

FAST = ["--epochs", "1", "--hidden", "4", "--no-baselines", "--bootstrap", "100"]


def tiny_set(folder, n: int = 12, skip=(), extra: str = "", outcomes: bool = True,
             name: str = "set-a") -> str:
    """``folder``/``name``/<id>.txt (every variable at 00:30 but those in ``skip``, HR each
    hour to 05:00, ``extra`` rows in the first stay) and Outcomes-<x>.txt beside ``name``
    (every third stay died)."""
    os.makedirs(os.path.join(folder, name), exist_ok=True)
    rows = ["RecordID,In-hospital_death"]
    for i in range(n):
        rid = 100 + i
        lines = ["Time,Parameter,Value", f"00:00,RecordID,{rid}", f"00:00,Age,{40 + i}"]
        for v in PHYSIONET_VARIABLES:
            if v not in skip:
                lo, hi = PHYSIONET_RANGES[v]
                lines.append(f"00:30,{v},{lo + (hi - lo) * (0.3 + 0.01 * i):.3f}")
        lines += [f"{h:02d}:00,HR,{70 + i + h}" for h in range(1, 6)]
        with open(os.path.join(folder, name, f"{rid}.txt"), "w") as f:
            f.write("\n".join(lines) + "\n" + (extra if i == 0 else ""))
        rows.append(f"{rid},{int(i % 3 == 0)}")
    if outcomes:
        with open(os.path.join(folder, f"Outcomes-{name[4:]}.txt"), "w") as f:
            f.write("\n".join(rows) + "\n")
    return folder


def test_resume_refuses_folds_of_the_same_stays_with_other_values(tmp_path, capsys):
    data = tiny_set(str(tmp_path / "data"))
    args = ["clinical", "--data", data, "--model", "gru-mean", "--folds", "2",
            "--output", str(tmp_path / "out"), *FAST]
    assert main(args) == 0
    stay = tmp_path / "data" / "set-a" / "105.txt"
    stay.write_text(stay.read_text().replace("03:00,HR,78", "03:00,HR,140"))
    capsys.readouterr()
    assert main(args + ["--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "written by a run with other data" in err


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A gru-mean model trained one epoch on a tiny set A, saved."""
    root = tmp_path_factory.mktemp("saved")
    data = read_physionet2012(tiny_set(str(root / "data")))
    path = str(root / "model")
    ClinicalClassifier(model="gru-mean", hidden=4, epochs=1, validation_split=0).fit(
        data).save(path)
    return path


def _predict(saved, data, tmp_path, capsys):
    out = tmp_path / "pred"
    assert main(["clinical", "predict", "--model", saved, "--data", str(data),
                 "--output", str(out)]) == 0
    lines = (out / "predictions.csv").read_text().splitlines()
    assert lines[0] == "RecordID,risk" and len(lines) == 13
    return capsys.readouterr().out


def test_predict_on_set_b_ignores_set_a_outcomes_and_prints_the_reading_report(
        saved, tmp_path, capsys):
    root = tmp_path / "physionet"
    tiny_set(str(root))  # set-a/ and Outcomes-a.txt
    tiny_set(str(root), outcomes=False, name="set-b", extra="07:00,HR,-1\n")
    out = _predict(saved, root / "set-b", tmp_path, capsys)
    assert "no outcome file beside the stays: writing risks without scoring them" in out
    assert "what reading changed" in out and re.search(r"HR\s+unknown \(-1\)\s+1\n", out)
    assert "AUC-ROC" not in out


@pytest.mark.parametrize("outcomes, problem", [
    ("RecordID,SOFA\n100,3\n", "no outcome column 'In-hospital_death': outcome file"),
    ("RecordID,In-hospital_death\n7,1\n8,0\n", "matches none of the 12 records"),
])
def test_predict_with_an_outcome_file_that_does_not_fit_writes_risks_only(
        saved, tmp_path, capsys, outcomes, problem):
    root = tmp_path / "physionet"
    tiny_set(str(root), outcomes=False, name="set-b")
    (root / "Outcomes-b.txt").write_text(outcomes)
    out = _predict(saved, root / "set-b", tmp_path, capsys)
    assert problem in out and "writing risks without scoring them" in out


def test_a_variable_no_training_stay_of_a_fold_measures_is_read_as_never_measured(
        tmp_path, capsys):
    data = tiny_set(str(tmp_path / "data"), skip=("Cholesterol",),
                    extra="02:00,Cholesterol,180\n")  # only stay 100 measures it
    out = tmp_path / "out"
    assert main(["clinical", "--data", data, "--model", "grud", "--folds", "3",
                 "--output", str(out), *FAST]) == 0
    text = capsys.readouterr().out
    assert "Cholesterol never measured in the training stays: read as never measured" in text
    folds = json.loads((out / "metrics.json").read_text())["models"]["grud"]["per_fold"]
    assert [f.get("unobserved") for f in folds].count(["Cholesterol"]) == 1
    assert "Cholesterol never measured in the training stays" in (out / "report.html").read_text()


def test_never_observed_variable_gets_mean_0_std_1_and_a_mask_kept_0(tmp_path):
    from grukit.data.clinical import Standardization
    from grukit.tasks.clinical.features import network_inputs

    data = read_physionet2012(tiny_set(str(tmp_path / "data"), skip=("Cholesterol",),
                                       extra="02:00,Cholesterol,180\n"))
    c = data.variables.index("Cholesterol")
    clf = ClinicalClassifier(model="grud", hidden=4, epochs=1, validation_split=0).fit(
        data, list(range(1, 12)))  # stay 0, the one measuring Cholesterol, left out
    enc = clf.encoding_
    assert clf.unseen_ == ("Cholesterol",) and enc.unseen == (c,)
    assert (enc.mean[c], enc.std[c], enc.x_mean[c]) == (0, 1, 0)
    others = [d for d in range(len(data.variables)) if d != c]
    st = Standardization.fit(data.X[..., others], data.M[..., others], list(range(1, 12)))
    np.testing.assert_array_equal(enc.mean[others], st.mean)  # the rest z-scored as before
    np.testing.assert_array_equal(enc.std[others], st.std)
    x = network_inputs(data, enc, "grud")[0]  # (T, 3·D + S) of stay 0: [x, m, δ / 48]
    d = len(data.variables)
    assert data.M[0, 2, c] == 1 and x[2, c] == 0 and x[2, d + c] == 0
    np.testing.assert_allclose(x[:, 2 * d + c], np.arange(48) / 48, rtol=1e-6)
    clf.save(str(tmp_path / "m"))
    again = ClinicalClassifier.load(str(tmp_path / "m"))
    assert again.unseen_ == ("Cholesterol",)
    np.testing.assert_array_equal(again.predict_proba(data), clf.predict_proba(data))


def test_unknown_parameters_cli_refuses_by_default_and_names_the_flag(tmp_path, capsys):
    data = tiny_set(str(tmp_path / "data"), extra="02:00,Mood,3\n")
    assert main(["clinical", "--data", data, "--output", str(tmp_path / "o"), *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown parameter 'Mood'" in err
    assert "--unknown drop" in err and "--unknown keep" in err


def test_unknown_keep_trains_on_the_extra_variable_and_predict_reads_it(tmp_path, capsys):
    data = tiny_set(str(tmp_path / "data"), extra="02:00,Mood,3\n")
    model = str(tmp_path / "m")
    assert main(["clinical", "--data", data, "--folds", "2", "--output", str(tmp_path / "o"),
                 "--unknown", "keep", "--save", model, *FAST]) == 0
    assert re.search(r"Mood\s+unknown parameter \(keep\)\s+1", capsys.readouterr().out)
    assert ClinicalClassifier.load(model).variables_[-1] == "Mood"
    pred = tmp_path / "pred"
    assert main(["clinical", "predict", "--model", model, "--data", data, "--output",
                 str(pred)]) == 0
    assert len((pred / "predictions.csv").read_text().splitlines()) == 13
    assert main(["clinical", "predict", "--model", model, "--data", data, "--unknown",
                 "keep"]) == 2
    assert "use --unknown drop" in capsys.readouterr().err


def test_a_boolean_mask_of_the_wrong_length_is_refused(saved, tmp_path):
    data = read_physionet2012(tiny_set(str(tmp_path / "data")))
    clf = ClinicalClassifier.load(saved)
    with pytest.raises(ValueError, match=r"^a boolean indices must have one entry per record "
                                         r"\(12\); got shape \(5,\)\.$"):
        clf.evaluate(data, np.ones(5, dtype=bool))
    with pytest.raises(ValueError, match=r"^a boolean train_indices must have one entry per "
                                         r"record \(12\); got shape \(20,\)\.$"):
        ClinicalClassifier(hidden=4, epochs=1).fit(data, np.ones(20, dtype=bool))
    assert clf.evaluate(data, np.arange(12) < 9)["n"] == 9


def test_predict_refuses_a_threshold_that_is_not_a_probability(saved, tmp_path):
    data = read_physionet2012(tiny_set(str(tmp_path / "data")))
    clf = ClinicalClassifier.load(saved)
    for threshold in (float("nan"), 1.5, -0.1, "0.5"):  # NaN predicted 0 for every stay
        with pytest.raises(ValueError, match=r"^threshold must be a probability in \[0, 1\]"):
            clf.predict(data, threshold)
    p = clf.predict_proba(data)
    np.testing.assert_array_equal(clf.predict(data, 0.4), (p >= 0.4).astype(np.int64))


def test_data_that_is_not_clinical_data_is_refused_in_one_sentence(saved):
    clf, x = ClinicalClassifier.load(saved), np.zeros((12, 48, 37))  # an AttributeError before
    for call in (lambda: ClinicalClassifier(epochs=1).fit(x), lambda: clf.predict_proba(x),
                 lambda: clf.evaluate(x), lambda: clf.risk_over_time(x, 0)):
        with pytest.raises(TypeError, match=r"^data must be a ClinicalData \(grukit.data"
                                            r".read_physionet2012 or read_long_csv reads one\); "
                                            r"got a ndarray\.$"):
            call()


@pytest.mark.parametrize("n, positives", [(6, 2), (9, 3), (12, 1)])
def test_gradient_boosting_trains_on_a_fold_too_small_for_its_early_stopping_split(
        n, positives):
    from grukit.tasks.clinical.baselines import baseline_proba

    rng = np.random.default_rng(0)
    y = np.r_[np.ones(positives), np.zeros(n - positives), 0, 1]  # (n + 2,): train, test
    features = rng.normal(size=(n + 2, 4))
    p = baseline_proba("gradient-boosting", features, y, np.arange(n), np.arange(n, n + 2))
    assert p.shape == (2,) and ((p >= 0) & (p <= 1)).all()


@pytest.mark.parametrize("flag", ["--shared-masks", "--no-baselines"])
def test_predict_refuses_the_training_flags_it_would_ignore(saved, tmp_path, capsys, flag):
    data = tiny_set(str(tmp_path / "data"))
    assert main(["clinical", "predict", "--model", saved, "--data", data, flag]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{flag} set(s) training" in err


def test_predict_refuses_an_output_folder_holding_another_runs_results(saved, tmp_path, capsys):
    data = tiny_set(str(tmp_path / "data"))
    run = tmp_path / "run"
    run.mkdir()
    body = '{"protocol": "stratified 5-fold cross-validation", "models": {}}'
    (run / "metrics.json").write_text(body)
    assert main(["clinical", "predict", "--model", saved, "--data", data, "--output",
                 str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds another run's results (metrics.json" in err
    assert (run / "metrics.json").read_text() == body and os.listdir(run) == ["metrics.json"]
    (run / "metrics.json").unlink()
    (run / "folds").mkdir()  # a cross-validation interrupted before its metrics.json
    assert main(["clinical", "predict", "--model", saved, "--data", data, "--output",
                 str(run)]) == 2
    assert os.listdir(run) == ["folds"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "metrics.json").write_text('{"rmse": 1.5}')  # another command's results
    assert main(["clinical", "predict", "--model", saved, "--data", data, "--output",
                 str(other)]) == 2
    assert (other / "metrics.json").read_text() == '{"rmse": 1.5}'


def test_predict_scores_only_binary_outcomes_of_both_classes_and_says_why_not(
        saved, tmp_path, capsys):
    root = tmp_path / "physionet"
    tiny_set(str(root))
    out = tmp_path / "pred"
    args = ["clinical", "predict", "--model", saved, "--data", str(root), "--output", str(out)]
    assert main(args) == 0 and (out / "metrics.json").is_file()
    capsys.readouterr()
    for rows, why in (("100,0\n101,0\n", "all 2 stays with an outcome have In-hospital_death "
                                          "0, and AUC-ROC and AUC-PR need both outcomes"),
                      ("100,0\n101,2\n102,1\n", "record 101 has In-hospital_death 2, and an "
                                                 "outcome to score risks against is 0 or 1")):
        (root / "Outcomes-a.txt").write_text("RecordID,In-hospital_death\n" + rows)
        assert main(args) == 0
        text = capsys.readouterr().out
        assert f"{why}: writing risks without scoring them" in text and "AUC-ROC 0" not in text
        assert not (out / "metrics.json").exists()  # the earlier run's, of other outcomes


def test_predict_reads_the_stays_on_the_grid_of_the_saved_model(tmp_path, capsys):
    folder = tiny_set(str(tmp_path / "data"))
    data = read_physionet2012(folder, n_steps=12, step=0.5)
    model = str(tmp_path / "m")
    clf = ClinicalClassifier(model="gru-mean", hidden=4, epochs=1, validation_split=0)
    clf.fit(data).save(model)
    out = tmp_path / "pred"
    assert main(["clinical", "predict", "--model", model, "--data", folder, "--output",
                 str(out)]) == 0
    assert "12 steps of 0.5 h" in capsys.readouterr().out
    risk = [float(r.split(",")[1]) for r in (out / "predictions.csv").read_text().split()[1:]]
    np.testing.assert_allclose(risk, clf.predict_proba(data), rtol=1e-6)


@pytest.mark.parametrize("output", [False, True])
def test_ctrl_c_while_the_saved_model_trains_says_the_cross_validation_is_done(
        tmp_path, capsys, monkeypatch, output):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    data = tiny_set(str(tmp_path / "data"))
    out = tmp_path / "out"
    args = ["clinical", "--data", data, "--model", "gru-mean", "--folds", "2", "--save",
            str(tmp_path / "m"), *FAST] + (["--output", str(out)] if output else [])
    monkeypatch.setattr(ClinicalClassifier, "save", interrupted)
    assert main(args) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"grukit clinical: interrupted after the 2-fold cross-validation; partial "
                   f"results in {out}; rerun with --resume to continue" if output else
                   "grukit clinical: interrupted after the 2-fold cross-validation (its table "
                   "above)"]  # it said 'before any result was finished'


@pytest.mark.parametrize("name", ["folds", "metrics.json", "report.html"])
def test_save_where_the_run_writes_its_results_is_refused_before_training(
        tmp_path, capsys, name):
    data = tiny_set(str(tmp_path / "data"))
    out = tmp_path / "out"
    assert main(["clinical", "--data", data, "--folds", "2", "--output", str(out), "--save",
                 str(out / name), *FAST]) == 2  # folds/: the save failed after training
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"is where --output writes {name}" in err
    assert not out.exists()


def test_numpy_numbers_as_settings_train_and_save(tmp_path):
    data = read_physionet2012(tiny_set(str(tmp_path / "data")))
    clf = ClinicalClassifier(model="gru-mean", hidden=np.int64(4), epochs=np.int64(1),
                             dropout=np.float32(0.25), seed=np.int64(3), validation_split=0)
    assert clf.get_config()["hidden"] == 4 and type(clf.get_config()["hidden"]) is int
    clf.fit(data).save(str(tmp_path / "m"))  # hidden=np.int64 failed the save after training
    again = ClinicalClassifier.load(str(tmp_path / "m"))
    np.testing.assert_array_equal(again.predict_proba(data), clf.predict_proba(data))
    assert len(clf.fit(data, epochs=np.int64(2)).history_.epoch) == 2  # was refused
