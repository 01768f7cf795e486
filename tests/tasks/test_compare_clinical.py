"""``grukit compare --task clinical``: GRU-D, GRU-mean and LSTM-mean on a tiny synthetic
PhysioNet-format folder (the outcome lies in when a variable stops being measured) reach the
table with AUC-ROC, the train-test gap and AUC-PR; one split per seed; bad input one
sentence."""

from __future__ import annotations

import numpy as np
import pytest
from test_clinical import write_set

from grukit.cli import main
from grukit.tasks.compare import CompareConfig, compare, report, tasks
from grukit.tasks.compare import clinical as plugin


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_set(str(tmp_path_factory.mktemp("physionet")), n=60, steps=24)


@pytest.fixture(scope="module")
def task(folder):
    return tasks.prepare("clinical", folder)


@pytest.fixture(scope="module")
def result(folder):
    cfg = CompareConfig(task="clinical", data=folder, models=("grud", "gru", "lstm"), seeds=1,
                        epochs=3, hidden=8, memory_steps=0)
    return compare(cfg, log=lambda *a: None)


def test_clinical_is_a_registered_plugin_with_its_models():
    assert tasks.PLUGINS["clinical"] == "clinical"
    assert tasks.extra_models("clinical")["grud"] == "GRU-D"
    assert "clinical: " in tasks.data_help()


def test_grud_gru_and_lstm_reach_the_table_with_auc_rows(result, tmp_path):
    table = result["table"]
    for m in ("grud", "gru", "lstm"):
        roc = table["test_metric"][m]["mean"]
        pr = table["auc_pr"][m]["mean"]
        assert 0.0 <= roc <= 1.0 and 0.0 <= pr <= 1.0
    runs = {r["model"]: r for r in result["runs"]}
    for r in runs.values():  # the gap is train AUC - test AUC (higher is better)
        assert r["gap"] == pytest.approx(r["train_metric"] - r["test_metric"])
    assert "step_us" not in runs["grud"]  # packed input: no latency rows for GRU-D
    assert runs["gru"]["step_us"] > 0 and runs["lstm"]["step_us"] > 0
    text = report.markdown(result)
    assert "GRU-D" in text and "test AUC-PR" in text and "one split per seed" in text
    assert "report.html" in report.write(result, str(tmp_path))


def test_each_seed_tests_on_fold_one_of_its_own_stratified_split():
    y = np.r_[np.zeros(40), np.ones(20)].astype(np.int64)
    tr0, te0 = plugin.split(y, 0)
    tr1, te1 = plugin.split(y, 1)
    assert len(te0) == 12 and y[te0].sum() == 4  # a stratified fifth
    assert not set(tr0) & set(te0) and len(tr0) + len(te0) == 60
    assert set(te0) != set(te1)
    assert np.array_equal(plugin.split(y, 0)[1], te0)  # the same seed, the same split


def test_equal_params_sizes_each_model_to_gru_mean(task):
    w = task.widths(("gru", "grud", "lstm", "gru-simple"), "equal-params", 32)
    d = task.inputs
    target = plugin.network_count("gru", d, 32)
    assert w["gru"] == 32 and w["grud"] < 32 and w["lstm"] < 32
    for m, h in w.items():
        assert abs(plugin.network_count(m, d, h) - target) <= \
            abs(plugin.network_count(m, d, h + 1) - target)


@pytest.mark.parametrize("model", list(plugin.ESTIMATOR))
def test_network_count_is_the_networks_own(model):
    """The count equal-params sizes by is what the clinical network holds without its
    descriptors: LSTM-mean's layer keeps Keras' one bias vector (4H fewer than torch's)."""
    from grukit import count_params
    from grukit.models import Sequential
    from grukit.tasks.clinical.estimator import PACKED, ClinicalNetwork

    d = 5
    for hidden in (3, 16):
        series = PACKED[plugin.ESTIMATOR[model]] * d
        net = Sequential([ClinicalNetwork(plugin.ESTIMATOR[model], hidden, series, 0.0,
                                          input_shape=(4, series))])
        net.build()
        assert plugin.network_count(model, d, hidden) == count_params(net)


def test_a_cell_clinical_cannot_run_is_one_sentence(task):
    with pytest.raises(ValueError, match="--task clinical runs grud, gru, .*got 'rnn'"):
        plugin.run(task, "rnn", 8, 0, epochs=1)


def test_cli_bad_data_folder_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default --output, grukit-compare, is not left behind
    code = main(["compare", "--task", "clinical", "--data", str(tmp_path / "none"),
                 "--models", "grud,gru", "--seeds", "1", "--memory-steps", "0"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--data" in err
    assert not (tmp_path / "grukit-compare").exists()


@pytest.mark.parametrize("task_name,cell", [("clinical", "rnn"), ("clinical", "mingru")])
def test_a_cell_the_task_cannot_run_is_refused_before_any_training(task_name, cell,
                                                                   monkeypatch):
    """It was taken by the check and refused only at its own run, after the models before it
    had trained (minutes on PhysioNet)."""
    from grukit.tasks.compare.run import check

    monkeypatch.setattr(tasks, "run", lambda *a, **k: pytest.fail("a model was trained"))
    with pytest.raises(ValueError, match=f"'{cell}' not run by --task {task_name}"):
        compare(CompareConfig(task=task_name, models=("grud", cell), seeds=1,
                              memory_steps=0))
    check(CompareConfig(task=task_name, models=("grud", "gru", "lstm"), memory_steps=0))
