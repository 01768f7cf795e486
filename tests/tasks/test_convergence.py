"""A run cut short by its epoch cap, time limit or step count while validation was still
improving is marked "not converged" in results.json, on the table and in its verdicts, for
every task compare runs."""

import json

import numpy as np
import pytest
import scipy.io

from grukit.tasks.compare import CompareConfig, compare, memory, report
from grukit.tasks.compare.record import convergence
from grukit.tasks.compare.summary import convergence as summarise_convergence
from grukit.tasks.music import MusicConfig, load_piano_rolls, train_music


def _cell(seqs):
    cell = np.empty((1, len(seqs)), dtype=object)
    for i, s in enumerate(seqs):
        cell[0, i] = s
    return cell


def tiny_mat(path, counts=(6, 3, 3), seed=0, lo=4, hi=10):
    """A synthetic piano-roll .mat with ``counts`` train/valid/test sequences."""
    rng = np.random.default_rng(seed)
    splits = {}
    for key, n in zip(("traindata", "validdata", "testdata"), counts, strict=True):
        splits[key] = _cell([(rng.random((int(rng.integers(lo, hi)), 88)) < 0.1)
                             .astype(np.uint8) for _ in range(n)])
    scipy.io.savemat(path, splits)
    return path


@pytest.mark.parametrize("curve, patience, stop, converged, words", [
    ([5, 4, 3, 3.5, 3.6], 2, "patience", True, "early stopping"),
    ([5, 4, 3], 10, "max_epochs", False, "best validation at the last epoch (3 of 3)"),
    ([5, 3, 3.1], 10, "max_epochs", False, "before early stopping's patience of 10"),
    ([5, 3, 3.1, 3.2, 3.3], 3, "max_epochs", True, "3 epochs after its best"),
    ([5, 4], 10, "max_seconds", False, "its time limit"),
    ([], 10, "max_epochs", False, "cannot be judged"),
])
def test_the_convergence_rule(curve, patience, stop, converged, words):
    ok, why = convergence(curve, patience=patience, stop_reason=stop)
    assert ok is converged and words in why, why


def test_music_run_cut_at_its_cap_while_improving_is_not_converged(tmp_path):
    path = tiny_mat(tmp_path / "tiny.mat")
    res = train_music(load_piano_rolls(path), MusicConfig(model="gru", hidden=6,
                                                          max_epochs=2))
    assert res.val_curve[1] < res.val_curve[0]  # still improving at the cap
    assert res.stop_reason == "max_epochs" and res.converged is False

    out = compare(CompareConfig(task="music", data=str(path), models=("gru", "lstm"),
                                seeds=1, hidden=6, epochs=2, memory_steps=0,
                                latency_batch=(2, 5)), log=lambda *_: None)
    for r in out["runs"]:
        assert r["stop_reason"] == "max_epochs" and r["converged"] is False
        assert "still improving" in r["convergence"]
    for key in ("test_metric", "gap", "seconds_to_best"):
        assert out["verdicts"][key].startswith("cannot be trusted: 2 of 2 runs did not "
                                               "converge"), key
    assert out["recommendation"].startswith("Nothing is decided: 2 of 2 runs did not converge")

    files = report.write(out, str(tmp_path / "out"))
    assert "results.json" in files
    back = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["converged"] for r in back["runs"]] == [False, False]
    assert back["convergence"]["runs"]["not_converged"] == 2
    md = (tmp_path / "out" / "report.md").read_text()
    page = (tmp_path / "out" / "report.html").read_text()
    text = report.text(out)
    for shown in (md, page, text):
        assert "[not converged: 1 of 1]" in shown and "NOT CONVERGED: 1 of 1 runs" in shown
        assert "cannot be trusted: 2 of 2 runs did not converge" in shown
    test_row = next(line for line in md.splitlines() if line.startswith("| test NLL"))
    assert test_row.count("[not converged: 1 of 1]") == 2


def test_converged_runs_carry_no_mark():
    good = {"model": "gru", "seed": 0, "converged": True}
    c = summarise_convergence([good, good | {"seed": 1}], [], ["gru"])
    assert c["runs"]["not_converged"] == 0 and c["runs"]["why"] == []
    # a record kept before convergence was recorded is judged from its curve
    old = {"model": "gru", "seed": 2, "val_curve": [3.0, 2.0], "epochs": 2}
    c = summarise_convergence([good, old], [], ["gru"])
    assert c["runs"]["per_model"] == {"gru": [1, 2]}


def test_forecast_and_classify_runs_record_how_they_stopped():
    from grukit.tasks.compare import forecast
    from grukit.tasks.compare.classify import run as run_classify
    from grukit.tasks.compare.tasks import Task

    values = 10 + np.sin(np.arange(80) / 3.0) + np.random.default_rng(0).normal(0, 0.1, 80)
    rec, _ = forecast.run(values, 1, 5, "gru", 4, 0, folds=1, epochs=2)
    assert rec["stop_reason"] == "max_epochs" and rec["patience"] == 15
    assert rec["converged"] is False and "origin 1 of 1" in rec["convergence"]

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6, 2)).astype(np.float32)
    y = np.array(["a", "b"] * 20)
    task = Task("classify:toy", "accuracy", False, 2, 2, 4, (x, y, x[:10], y[:10]))
    rec, _ = run_classify(task, "gru", 4, 0, epochs=2)
    assert rec["stop_reason"] == "max_epochs" and rec["patience"] == 15
    assert rec["converged"] is False


def test_memory_run_unsolved_while_its_loss_falls_is_not_converged():
    r = memory.run("adding", "gru", 6, 4, steps=3, seed=0, test_size=16)
    assert len(r["val_curve"]) == 3 and r["checkpoint_every"] == 1
    if r["solved"]:
        pytest.skip("solved in three steps; nothing to mark")
    best_last = int(np.argmin(r["val_curve"])) == len(r["val_curve"]) - 1
    assert r["converged"] is False  # 3 checkpoints against a patience of 3: cut short
    assert ("last checkpoint" in r["convergence"]) == best_last
