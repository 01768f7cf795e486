"""A compare task added as a plugin module: its models, extra rows, --max-seconds and a run
without a recurrent module reach the table and the report."""

import sys
import types

import pytest

from grukit.tasks.compare import CompareConfig, compare, report, summary, tasks
from grukit.tasks.compare.record import fit_record


def _fake_module():
    mod = types.ModuleType("grukit.tasks.compare._fake")
    mod.DATA_HELP = "nothing (a stand-in task)"
    mod.EXTRA_MODELS = {"oracle": "Oracle"}
    mod.TAKES_MAX_SECONDS = True
    seen = []

    def prepare(task_class, data):
        return task_class("fake", "score", False, 1, 1, 8,
                          rows=[("bleu", "BLEU", False, "metric"),
                                ("state", "state (bytes)", True, "bytes")])

    def run(task, model, hidden, seed, *, epochs, max_seconds):
        seen.append((model, hidden, seed, max_seconds))
        rec = fit_record([0.1, 0.1, 0.1], [2.0, 1.0, 0.8], [2.0, 1.5, 1.7],
                         params=10 * hidden, train_metric=0.9, test_metric=0.8 + seed / 100,
                         higher_is_better=True, patience=1, stop_reason="patience",
                         bleu=30.0 + seed + (5.0 if model == "oracle" else 0.0),
                         state=3072 if model == "gru" else 6144)
        return rec, None

    mod.prepare, mod.run, mod.seen = prepare, run, seen
    return mod


@pytest.fixture
def fake(monkeypatch):
    mod = _fake_module()
    monkeypatch.setitem(sys.modules, "grukit.tasks.compare._fake", mod)
    monkeypatch.setitem(tasks.PLUGINS, "fake", "_fake")
    monkeypatch.setattr(tasks, "NAMES", tasks.NAMES + ("fake",))
    monkeypatch.setitem(summary.NAMES, "oracle", "Oracle")
    return mod


def test_plugin_task_rows_models_and_budget_reach_the_report(fake, tmp_path):
    cfg = CompareConfig(task="fake", models=("gru", "oracle"), seeds=2, max_seconds=5.0,
                        memory_steps=0, budget="equal-hidden")
    res = compare(cfg, log=lambda *a: None)
    assert [m for m, *_ in fake.seen] == ["gru", "oracle", "gru", "oracle"]
    assert {s for *_, s in fake.seen} == {5.0}
    assert res["table"]["bleu"]["gru"]["mean"] == pytest.approx(30.5)
    assert "step_us" not in res["runs"][0]  # no module: no latency measured
    labels = [r[0] for r in report.rows(res)]
    assert "BLEU" in labels
    # the extra row's verdict speaks of its own unit, not of the task's metric ("score")
    assert "worse than Oracle: BLEU 30.5" in res["verdicts"]["bleu"]
    assert "score" not in res["verdicts"]["bleu"]
    assert res["verdicts"]["state"] == "GRU needs 0.50× the memory of Oracle"
    assert "Oracle" in report.markdown(res)
    files = report.write(res, str(tmp_path))
    assert "report.html" in files and (tmp_path / "report.html").stat().st_size > 0


def test_plugin_models_are_checked_per_task(fake):
    with pytest.raises(ValueError, match="'oracle' unknown"):
        compare(CompareConfig(task="forecast", models=("gru", "oracle"), memory_steps=0))


def test_data_help_names_every_task():
    text = tasks.data_help()
    for name in tasks.NAMES:
        assert f"{name}: " in text


def test_plugin_models_get_no_memory_rows_and_the_cells_keep_theirs(fake, tmp_path):
    cfg = CompareConfig(task="fake", models=("gru", "oracle"), seeds=1, memory_steps=2,
                        memory_lengths=(5,), budget="equal-hidden")
    res = compare(cfg, log=lambda *a: None)
    assert {r["model"] for r in res["memory"]} == {"gru"}
    assert res["memory_summary"]["adding"]["oracle"]["ran"] is False
    row = next(r for r in report.rows(res) if r[0].startswith("adding"))
    assert row[2] == "– (not a cell: no memory run)" and "Oracle" not in row[-1]
    assert "memory.png" in report.write(res, str(tmp_path))


def test_a_plugin_names_its_default_models(fake, monkeypatch):
    assert tasks.default_models("fake") == ("gru", "lstm")
    monkeypatch.setattr(fake, "DEFAULT_MODELS", ("oracle", "gru"), raising=False)
    assert tasks.default_models("fake") == ("oracle", "gru")
    assert tasks.default_models("clinical") == ("grud", "gru", "lstm")
