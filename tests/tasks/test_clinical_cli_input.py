"""grukit clinical on a dozen hand-written stays: what --resume reuses, what predict does
with an outcome file that does not fit, --unknown, and a variable that one fold's training
stays never measure. Each run is one epoch of a 4-unit model on a handful of stays."""

from __future__ import annotations

import os
import re

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
