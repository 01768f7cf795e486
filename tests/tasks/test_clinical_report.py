"""grukit clinical's report: the calibration groups worked by hand, and the CLI's
calibration.png, risk_over_time.png and report.html (both plots embedded), with each plotted
patient's risk ending at the score its fold gave it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_clinical import write_set

from grukit.cli import main
from grukit.tasks.clinical.report import calibration, html_report, pick_records

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = write_set(str(tmp_path_factory.mktemp("physionet")), n=60, steps=24)
    out = tmp_path_factory.mktemp("out")
    assert main(["clinical", "--data", folder, "--model", "grud", "--folds", "2", "--epochs",
                 "2", "--hidden", "4", "--output", str(out), "--bootstrap", "100"]) == 0
    return out, json.loads((out / "metrics.json").read_text())


def test_calibration_groups_by_predicted_risk_worked_by_hand():
    c = calibration(np.array([1, 0, 0, 1]), np.array([0.9, 0.1, 0.2, 0.7]), bins=2)
    assert c["predicted"] == pytest.approx([0.15, 0.8])
    assert c["observed"] == pytest.approx([0.0, 1.0])
    assert c["count"] == [2, 2]
    assert c["brier"] == pytest.approx((0.01 + 0.01 + 0.04 + 0.09) / 4)
    assert calibration(np.array([0, 1]), np.array([0.3, 0.6]), bins=10)["count"] == [1, 1]


@pytest.mark.parametrize("y, p, bins, match", [
    ([0, 1], [0.5], 10, "one shape"), ([], [], 10, "one shape"),
    ([0, 1], [0.2, 0.4], 0, "bins must be a whole number")])
def test_calibration_bad_input_one_sentence(y, p, bins, match):
    with pytest.raises(ValueError, match=match):
        calibration(np.array(y), np.array(p), bins=bins)


def test_cli_writes_both_plots_and_the_html_report(run):
    out, metrics = run
    for name in ("calibration.png", "risk_over_time.png"):
        assert (out / name).read_bytes()[:8] == PNG
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    for name in ("grud", "logistic-regression", "gradient-boosting"):
        assert f"<td>{name}</td>" in page
        cal = metrics["models"][name]["calibration"]
        assert sum(cal["count"]) == metrics["n"]
        assert cal["predicted"] == sorted(cal["predicted"])


def test_each_plotted_risk_curve_ends_at_its_folds_score(run):
    out, metrics = run
    curves = metrics["risk_over_time"]
    assert {c["outcome"] for c in curves} == {0, 1} and len(curves) == 6
    fold = json.loads((out / "folds" / "fold-01.json").read_text())
    assert fold["risk"] == curves  # the first fold's patients
    for c in curves:
        assert len(c["risk"]) == 48  # one risk per hour of the 48-hour grid
    # the fold's test scores, in the order of its test records, hold the last risk of each
    scores = np.array(fold["scores"]["grud"])
    for c in curves:
        assert np.min(np.abs(scores - c["risk"][-1])) < 1e-6


def test_pick_records_takes_each_outcome():
    y = np.array([0, 1, 0, 0, 1, 0, 0])
    assert pick_records(y, 2).tolist() == [1, 4, 0, 2]


def test_html_report_escapes_names():
    metrics = {"outcome": "<death>", "models": {}}
    page = html_report(metrics, {}, "t <x>")
    assert "<death>" not in page and "&lt;death&gt;" in page and "t &lt;x&gt;" in page
