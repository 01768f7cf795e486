"""grukit compare end to end on a tiny budget: every row filled, files written, every
image of report.html embedded."""

import base64
import json
import os
import re

import pytest

from grukit.cli import main
from grukit.tasks.compare import CompareConfig, compare, report, summary


@pytest.fixture(scope="module")
def result():
    cfg = CompareConfig(task="forecast", data="nile", models=("gru", "lstm"), seeds=2,
                        epochs=2, folds=1, memory_lengths=(5, 10), memory_steps=3,
                        latency_batch=(4, 10))
    return compare(cfg, log=lambda *_: None)


def test_every_row_has_every_model(result):
    assert {r["model"] for r in result["runs"]} == {"gru", "lstm"}
    assert len(result["runs"]) == 4
    for key, per in result["table"].items():
        for m in ("gru", "lstm"):
            assert per[m]["n"] == 2, key
    for r in result["runs"]:
        assert r["params"] > 0 and r["epochs"] == len(r["epoch_seconds"]) >= 1
        assert r["step_us"] > 0 and r["batch_ms"] > 0 and r["torch_step_us"] > 0
        assert 1 <= r["best_epoch"] <= r["epochs"]
        assert r["gap"] == pytest.approx(r["test_metric"] - r["train_metric"])
    gru = next(r for r in result["runs"] if r["model"] == "gru")
    assert gru["params"] == 3 * (2 * 32 + 32 * 32 + 64) + 32 * 10 + 10  # Dense(10): horizon
    # the default memory tasks: the adding problem only (copy memory is --memory-tasks')
    assert {(m["task"], m["length"]) for m in result["memory"]} == {("adding", 5), ("adding", 10)}
    assert "parameters of LSTM" in result["verdicts"]["params"]
    # two epochs against a patience of 15: every run is cut short, and the table says so
    assert all(r["converged"] is False and r["stop_reason"] == "max_epochs"
               for r in result["runs"])
    assert result["recommendation"].startswith("Nothing is decided: 4 of 4 runs did not "
                                               "converge")
    for key in ("test_metric", "gap", "seconds_to_best"):
        assert result["verdicts"][key].startswith("cannot be trusted: 4 of 4 runs did not "
                                                  "converge"), key
    assert result["convergence"]["runs"]["per_model"] == {"gru": [2, 2], "lstm": [2, 2]}
    assert set(result["task"]["notes"]["baselines (test MASE)"]) == \
        {"naive", "seasonal naive", "ETS"}


def test_report_files_and_embedded_images(result, tmp_path):
    files = report.write(result, str(tmp_path))
    for name in ("results.json", "report.md", "report.html", *report.PLOTS):
        assert name in files and (tmp_path / name).stat().st_size > 0
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o666 & ~umask
    back = json.loads((tmp_path / "results.json").read_text())
    assert back["runs"][0]["test_metric"] == result["runs"][0]["test_metric"]
    page = (tmp_path / "report.html").read_text()
    sources = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert len(sources) == len(report.PLOTS)
    for src in sources:  # self-contained: no file or network reference
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'(src|href)="(?!data:)', page)
    md = (tmp_path / "report.md").read_text()
    assert "memory tasks" in md and "3 Adam steps" in md
    assert md.count("\n| ") >= 9 and "verdict" in md


def test_results_json_is_standard_json_with_null_for_what_is_not_finite(result, tmp_path):
    """A row no run measured (mean NaN over no seeds: torch's cell for a minGRU) and a
    diverged run were written as NaN, which is no JSON token (JSON.parse fails on it)."""
    res = json.loads(json.dumps(result))  # a copy to change
    res["table"]["torch_step_us"]["lstm"] = summary.stats([])  # mean NaN, n 0
    res["runs"][0]["test_metric"] = float("inf")
    report.write(res, str(tmp_path))
    text = (tmp_path / "results.json").read_text()

    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    back = json.loads(text, parse_constant=refuse)
    assert back["table"]["torch_step_us"]["lstm"] == {"mean": None, "std": 0.0, "n": 0}
    assert back["runs"][0]["test_metric"] is None
    assert back["runs"][1]["test_metric"] == result["runs"][1]["test_metric"]


def test_cli_bad_input_is_one_clear_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--models", "gru,transformer", "--output", "x"]) == 2
    err = capsys.readouterr().err
    assert "--models" in err and "gru,lstm,rnn,mingru" in err and "Traceback" not in err
    assert main(["compare", "--task", "music"]) == 2
    assert "--data PATH.mat" in capsys.readouterr().err


def test_cli_classify_without_sktime_says_how_to_get_it(monkeypatch, capsys, tmp_path):
    from grukit.data import uea

    def missing():
        raise ImportError("the UEA data sets come with sktime, which is not installed; run "
                          "`pip install grukit[uea]`.")

    monkeypatch.setattr(uea, "_sktime_datasets", missing)
    assert main(["compare", "--task", "classify", "--output", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "pip install grukit[uea]" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()  # refused: no folder left behind


def test_memory_tasks_flag_chooses_the_tasks(tmp_path, monkeypatch):
    from grukit.tasks.compare import memory, run

    assert run.CompareConfig().memory_tasks == ("adding",)
    seen = []

    def fake(name, model, length, hidden, **kw):
        seen.append((name, length, model))
        return {"task": name, "model": model, "length": length, "seed": kw["seed"],
                "relative": 1.0, "solved": False, "converged": True, "convergence": "",
                "test_loss": 1.0, "baseline": 1.0, "seconds": 0.0, "val_curve": [1.0]}

    monkeypatch.setattr(memory, "run", fake)
    argv = ["compare", "--data", "nile", "--models", "gru", "--epochs", "1", "--seeds", "1",
            "--folds", "1", "--memory-steps", "2", "--memory-lengths", "5", "--threads", "1"]
    assert main(argv + ["--output", str(tmp_path / "a")]) == 0
    assert seen == [("adding", 5, "gru")]
    seen.clear()
    assert main(argv + ["--memory-tasks", "copy,adding", "--output", str(tmp_path / "b")]) == 0
    assert seen == [("copy", 5, "gru"), ("adding", 5, "gru")]


def test_memory_runs_on_train_loop_with_the_numbers_of_its_old_loop():
    import torch
    from torch import nn

    from grukit.models.callbacks import Callback
    from grukit.tasks.compare import memory

    def reference(task, model, length, hidden, steps, seed, batch=32, lr=1e-2):
        gen = torch.Generator().manual_seed(10_000 + length)
        make = memory.adding_batch if task == "adding" else memory.copy_batch
        x_test, y_test = make(256, length, gen)
        x_val, y_val = make(64, length, gen)
        gen.manual_seed(seed)
        torch.manual_seed(seed)
        net = memory.Net(model, x_test.shape[2], hidden, 1 if task == "adding" else 9)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        every, curve = max(steps // memory.CHECKPOINTS, 1), []
        for step in range(1, steps + 1):
            loss = memory._loss(task, net, *make(batch, length, gen))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            if step % every == 0 or step == steps:
                with torch.no_grad():
                    curve.append(float(memory._loss(task, net, x_val, y_val)))
        with torch.no_grad():
            return curve, float(memory._loss(task, net, x_test, y_test))

    class Seen(Callback):
        def __init__(self):
            self.val = []

        def on_epoch_end(self, epoch, logs=None):
            self.val.append(logs["val_loss"])

    for task, model, steps in (("adding", "lstm", 25), ("copy", "gru", 7)):
        seen = Seen()
        r = memory.run(task, model, 6, 8, steps=steps, seed=2, callbacks=[seen])
        curve, test = reference(task, model, 6, 8, steps, 2)
        assert r["val_curve"] == curve == seen.val and r["test_loss"] == test
        assert len(curve) == (13 if steps == 25 else 7)  # every 2 steps and the last


def test_an_earlier_runs_plot_is_not_embedded(result, tmp_path):
    """A memory.png left in --output by an earlier run is not this run's plot: a run without
    memory rows neither embeds it in report.html nor leaves it beside the report."""
    report.write(result, str(tmp_path))
    assert (tmp_path / "memory.png").exists()
    no_memory = result | {"memory": [], "memory_summary": {}}
    files = report.write(no_memory, str(tmp_path))
    assert "memory.png" not in files and not (tmp_path / "memory.png").exists()
    page = (tmp_path / "report.html").read_text()
    assert 'alt="memory.png"' not in page and 'alt="latency.png"' in page


def test_memory_widths_note_names_each_memory_task():
    """The note on the memory rows gave the adding task's widths only: with copy alone it
    read 'widths ;', and copy's own equal-params widths were never shown."""
    res = {"task": {"notes": {}}, "order": ["gru", "lstm"], "runs": [],
           "convergence": {"runs": {"why": []}, "memory": {}},
           "config": {"memory_steps": 3, "memory_seeds": 1},
           "memory": [{"task": "copy", "model": "gru", "hidden": 32},
                      {"task": "copy", "model": "lstm", "hidden": 27}]}
    assert report._notes(res)["memory tasks"].startswith("widths copy GRU 32, LSTM 27; 3 Adam")


def test_numpy_whole_numbers_are_taken_and_written_as_ints():
    # seeds=np.int64(1) was refused as "not a whole number"; lengths from np.arange too
    import numpy as np

    cfg = CompareConfig(data="nile", models=("gru",), seeds=np.int64(1), epochs=np.int32(1),
                        folds=1, memory_lengths=np.arange(3, 5), memory_steps=np.int64(1),
                        latency_batch=(2, 5))
    res = compare(cfg, log=lambda *_: None)
    assert res["config"]["seeds"] == 1 and type(res["config"]["seeds"]) is int
    assert res["config"]["memory_lengths"] == (3, 4)
    json.dumps(res["config"])  # results.json holds it


def test_models_given_as_one_string_is_refused_in_one_sentence():
    # it was read letter by letter: "'g', 'r', 'u', ',' ... unknown"
    with pytest.raises(ValueError, match=r"models is one string, 'gru,lstm'; give a tuple of "
                                         r"names such as \('gru', 'lstm'\)\.$"):
        compare(CompareConfig(models="gru,lstm"), log=lambda *_: None)


@pytest.mark.parametrize("settings,message", [
    ({"memory_tasks": "adding"},  # read letter by letter: "got a,d,d,i,n,g"
     r"memory_tasks is one string, 'adding'; give a tuple of names such as \('adding',\)"),
    ({"memory_tasks": "adding,copy"}, r"such as \('adding', 'copy'\)"),
    ({"memory_lengths": 100}, "memory_lengths is one int, 100; give a tuple"),  # TypeError
    ({"memory_lengths": "50,100"}, "memory_lengths is one str, '50,100'"),  # "got '5'"
])
def test_one_memory_task_or_length_not_in_a_tuple_is_one_sentence(settings, message):
    import numpy as np

    from grukit.tasks.compare.run import check

    with pytest.raises(ValueError, match=message):
        check(CompareConfig(models=("gru",), **settings))
    with pytest.raises(ValueError, match="memory_lengths is one int64"):  # a numpy scalar
        compare(CompareConfig(models=("gru",), memory_lengths=np.int64(5)))


@pytest.mark.parametrize("batch", [(0, 100), (32, 0), (2, -1), (2.5, 3), (32,), 32])
def test_a_latency_batch_that_times_nothing_is_refused_before_training(batch, monkeypatch):
    """(0, 100) timed the forward of an empty batch and reported it in ms; (2, -1) failed
    in torch.randn after the first model had trained."""
    from grukit.tasks.compare import tasks

    monkeypatch.setattr(tasks, "run", lambda *a, **k: pytest.fail("a model was trained"))
    with pytest.raises(ValueError, match=r"latency_batch must be \(batch, steps\), two whole "
                                         r"numbers, 1 or more; got"):
        compare(CompareConfig(models=("gru",), memory_steps=0, latency_batch=batch))


def test_a_numpy_latency_batch_is_taken():
    import numpy as np

    from grukit.tasks.compare.run import _plain_numbers, check

    cfg = _plain_numbers(CompareConfig(latency_batch=np.array([4, 10])))
    check(cfg)
    assert cfg.latency_batch == (4, 10) and type(cfg.latency_batch[0]) is int


def test_resumed_runs_at_other_widths_are_refused(monkeypatch):
    """Runs finished before the sizing rule changed (an upgrade between Ctrl-C and
    --resume) were reused beside new runs at the new widths, in one table."""
    from grukit.tasks.compare import tasks

    monkeypatch.setattr(tasks, "run", lambda *a, **k: pytest.fail("a model was trained"))
    old = {"runs": [{"model": "lstm", "seed": 0, "hidden": 27}], "memory": []}
    cfg = CompareConfig(data="nile", models=("gru", "lstm"), seeds=1, folds=1,
                        budget="equal-params", memory_steps=0)
    with pytest.raises(ValueError, match=r"hold LSTM at 27 units, where these settings now "
                                         r"give \d+; rerun without --resume"):
        compare(cfg, log=lambda *_: None, done=old)
    old = {"runs": [], "memory": [{"task": "adding", "length": 5, "model": "lstm", "seed": 0,
                                   "hidden": 3}]}
    cfg = CompareConfig(data="nile", models=("lstm",), seeds=1, folds=1, memory_steps=2,
                        memory_lengths=(5,), budget="equal-params")
    monkeypatch.setattr(tasks, "run", lambda *a, **k: ({"test_metric": 1.0, "epochs": 1,
                                                         "seconds_per_epoch": 0.1,
                                                         "converged": True}, None))
    with pytest.raises(ValueError, match=r"adding runs to resume hold LSTM at 3 units"):
        compare(cfg, log=lambda *_: None, done=old)


def test_a_latency_without_a_fused_kernel_is_said_beside_its_number(monkeypatch):
    """A report read "GRU 169× faster" than the minGRU per streaming step with no word that
    the minGRU had no fused CPU kernel (its step was torch's ops one by one): the cells, the
    verdicts and a note say so where a path has none (here the minGRU's full batch, its cpu
    kernel made named-only as it once was; its step and the LayerNorm-GRU's have numba
    kernels, and are not marked)."""
    from grukit.ops import dispatch

    named_only = dispatch.Backend("cpu", lambda *a, **k: None, priority=10,
                                  auto_why_not=lambda **_: "named only.")
    monkeypatch.setitem(dispatch._REGISTRY["mingru"], "cpu", named_only)
    monkeypatch.setattr(dispatch, "_ORDERED", {})
    cfg = CompareConfig(task="forecast", data="nile", models=("gru", "mingru", "lngru"),
                        seeds=1, epochs=1, folds=1, memory_steps=0, latency_batch=(2, 5))
    res = compare(cfg, log=lambda *_: None)
    rows = {r[0]: r for r in report.rows(res)}
    gru, mingru, lngru, verdict = rows["forward, full batch (ms)"][1:]
    assert mingru.endswith(" (torch ops: no fused kernel)") and "no fused" not in gru + lngru
    assert verdict.endswith("; minGRU: torch's ops one by one, grukit has no fused CPU "
                            "kernel for it (see the notes)")
    gru, mingru, lngru, verdict = rows["streaming step, batch 1 (µs)"][1:]
    assert "no fused" not in mingru + lngru and "no fused" not in verdict
    note = res["task"]["notes"]["latency without a fused kernel"]
    assert note.startswith("grukit has no fused CPU kernel for minGRU's full batch: ")
    assert "latency without a fused kernel" in report.markdown(res)
    assert f"\nlatency without a fused kernel: {note}\n" in report.text(res)  # the terminal
    from grukit.tasks.compare.plots import latency_labels

    assert latency_labels(res, "step_us") == ["GRU", "minGRU", "LayerNorm-GRU"]  # the plot
    assert latency_labels(res, "batch_ms") == ["GRU", "minGRU\n(no fused kernel)",
                                               "LayerNorm-GRU"]


@pytest.mark.parametrize("key,label", [
    ("frame_us", "streaming: one 10 ms frame, features + model (µs)"),
    ("gen_ms_per_token", "generation at batch 1 (ms per token)")])
def test_speechs_streaming_frame_of_a_model_without_a_fused_step_is_marked(key, label):
    """The speech task's frame row and the generate task's token row step the same module
    as the streaming-step row."""
    from grukit.tasks.compare import run, tasks

    task = tasks.Task("speech:toy", "accuracy", False, 39, 2, 8,
                      rows=[(key, label, True, "time")])
    runs = [{"model": m, "seed": s, "params": 10, "test_metric": 0.9, "gap": 0.0,
             "converged": True, "step_us": us, key: 100.0 + us, "step_fused": fused,
             "batch_ms": 1.0, "batch_fused": fused}
            for s in (0, 1) for m, us, fused in (("gru", 1.5 + s, True),
                                                 ("mingru", 250.0 + s, False))]
    res = run.summarise(CompareConfig(task="speech", models=("gru", "mingru"), seeds=2),
                        task, ["gru", "mingru"], runs, [], 1.0)
    row = {r[0]: r for r in report.rows(res)}[label]
    assert row[2].endswith("(torch ops: no fused kernel)") and "fused" not in row[1]
    assert "grukit has no fused CPU kernel for it" in row[3]


def test_the_fused_kernel_note_names_only_the_paths_without_one():
    """A projected LSTM has a fused CPU kernel for a sequence (torch's) but none for a step;
    the minGRU one for a step but none for a sequence."""
    from grukit.tasks.compare import run, tasks

    runs = [{"model": m, "seed": 0, "params": 1, "test_metric": 0.5, "gap": 0.0,
             "converged": True, "step_us": 1.0, "batch_ms": 1.0, "step_fused": step,
             "batch_fused": batch, "batch_mode": mode}
            for m, step, batch, mode in (("gru", True, True, None),
                                         ("mingru", True, False, "parallel"),
                                         ("lstm", False, True, None))]
    order = ["gru", "mingru", "lstm"]
    res = run.summarise(CompareConfig(models=tuple(order), seeds=1),
                        tasks.Task("forecast:toy", "MASE", True, 2, 1, 8), order, runs, [], 1.0)
    note = res["task"]["notes"]["latency without a fused kernel"]
    assert note.startswith("grukit has no fused CPU kernel for minGRU's full batch; LSTM's "
                           "streaming step: ")
    assert "(minGRU: the step in sequential mode, the batch in its faster mode, here " \
           "parallel)" in note
    cells = {r[0]: r[1:4] for r in report.rows(res)}["forward, full batch (ms)"]
    assert [c.endswith("(torch ops: no fused kernel)") for c in cells] == [False, True, False]
