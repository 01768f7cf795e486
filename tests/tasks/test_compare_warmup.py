"""compare's timed figures leave out one-time costs: before a model's first timed run of a
task in the process, one untimed epoch of it (forecast, classify, speech, clinical; music's
is in test_compare_cli) on a few training rows of every class, and only then; the runs
train and score exactly as without it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grukit.tasks.compare import tasks

# what the warm-up must leave as it was (timings are measured, so they are not compared)
SAME = ("params", "epochs", "best_epoch", "train_curve", "val_curve", "train_metric",
        "test_metric", "gap")


def _spy(monkeypatch, cls) -> list:
    """(hidden, epochs) of every ``cls.fit``."""
    calls, real = [], cls.fit

    def fit(self, *a, **k):
        calls.append((self.config.hidden, self.config.epochs))
        return real(self, *a, **k)

    monkeypatch.setattr(cls, "fit", fit)
    return calls


def _classify_task():
    rng = np.random.default_rng(0)
    y = np.array(["a"] * 30 + ["b"] * 10)  # sorted by label, as a UEA set or FSDD
    x = [rng.standard_normal((6 + i % 3, 2)).astype(np.float32) + (lab == "b")
         for i, lab in enumerate(y)]
    return tasks.Task("classify:toy", "accuracy", False, 2, 2, 4, (x, y, x[:10], y[:10]),
                      pooled=True)


@pytest.fixture
def speech_task(tmp_path):
    sf = pytest.importorskip("soundfile")
    pytest.importorskip("librosa")
    rng = np.random.default_rng(0)
    t = np.arange(1600) / 8000
    for s in ("ann", "bob"):
        for lab, pitch in (("0", 300.0), ("1", 900.0)):
            for i in range(7):  # takes 0-4: the official test split
                y = 0.4 * np.sin(2 * np.pi * pitch * (1 + 0.02 * i) * t) * np.hanning(len(t))
                sf.write(tmp_path / f"{lab}_{s}_{i}.wav", y + 0.002 * rng.standard_normal(len(t)),
                         8000, subtype="PCM_16")
    return tasks.prepare("speech", str(tmp_path))


@pytest.fixture
def clinical_task(tmp_path):
    from test_clinical import write_set

    return tasks.prepare("clinical", write_set(str(tmp_path), n=60, steps=12))


def _estimator(kind):
    if kind == "forecast":
        from grukit.tasks.forecast.forecaster import Forecaster

        return Forecaster
    if kind == "classify":
        from grukit.tasks.classify import SequenceClassifier

        return SequenceClassifier
    if kind == "speech":
        from grukit.tasks.speech import SpeechClassifier

        return SpeechClassifier
    from grukit.tasks.clinical import ClinicalClassifier

    return ClinicalClassifier


@pytest.fixture(params=["forecast", "classify", "speech", "clinical"])
def task(request, monkeypatch):
    from grukit.tasks.compare import classify, speech

    for plugin in (classify, speech):  # fewer rows than the training set's first label has
        monkeypatch.setattr(plugin, "WARM_ROWS", 4)
    if request.param == "forecast":
        return tasks.prepare("forecast", "nile", folds=1)
    if request.param == "classify":
        return _classify_task()
    return request.getfixturevalue(f"{request.param}_task")


def test_each_models_first_timed_run_follows_one_untimed_epoch(task, monkeypatch):
    """The first seed's first epoch was charged numba's compilation and first-call set-up
    of whichever model ran first; now one epoch of each model runs untimed before its first
    run, and only before it."""
    kind = task.name.split(":")[0]
    calls = _spy(monkeypatch, _estimator(kind))
    monkeypatch.setattr(tasks, "_WARM", set())
    for model in ("gru", "gru", "lstm"):
        tasks.run(task, model, 4, 0, epochs=2, folds=1)
    assert calls == [(4, 1), (4, 2), (4, 2), (4, 1), (4, 2)]


def test_the_warm_up_leaves_every_result_but_the_timings_as_it_was(task, monkeypatch):
    kind = task.name.split(":")[0]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        monkeypatch.setattr(tasks, "_WARM", {(kind, "gru")})  # no warm-up
        cold = tasks.run(task, "gru", 4, 1, epochs=2, folds=1)[0]
        monkeypatch.setattr(tasks, "_WARM", set())
        warm = tasks.run(task, "gru", 4, 1, epochs=2, folds=1)[0]
    finally:
        torch.set_num_threads(threads)
    assert {k: warm[k] for k in SAME} == {k: cold[k] for k in SAME}


def test_warm_rows_hold_every_class_of_a_set_sorted_by_label():
    """FSDD's training split is sorted by label: its first 32 recordings were all '0',
    which the classifier refused ("a single class"), ending the whole compare run."""
    from grukit.tasks.compare.classify import warm_rows

    y = np.array(["0"] * 250 + ["1"] * 250 + ["2"] * 250)
    rows = warm_rows(y, 32)
    assert len(rows) == 32 and set(y[rows]) == {"0", "1", "2"} and rows == sorted(set(rows))
    assert warm_rows(["a", "b"], 32) == [0, 1] and warm_rows([], 4) == []


def test_a_warm_up_that_fails_warns_and_the_run_goes_on(monkeypatch):
    """Only the timing depends on the warm-up (its few rows failed on FSDD, ending the run)."""
    from grukit.tasks.compare import classify

    def broken(*_a, **_k):
        raise ValueError("every label is 'a': a single class")

    monkeypatch.setattr(classify, "warm_up", broken)
    monkeypatch.setattr(tasks, "_WARM", set())
    with pytest.warns(RuntimeWarning, match="untimed warm-up epoch of gru failed \\(ValueError: "
                                            "every label is 'a'"):
        rec = tasks.run(_classify_task(), "gru", 4, 0, epochs=1)[0]
    assert rec["epochs"] == 1

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(classify, "warm_up", interrupted)
    monkeypatch.setattr(tasks, "_WARM", set())
    with pytest.raises(KeyboardInterrupt):
        tasks.run(_classify_task(), "gru", 4, 0, epochs=1)
