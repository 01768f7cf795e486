"""grukit compare as a command: --output checked before any training, each run written to
partial.json as it finishes, Ctrl-C in one line with exit 130, --resume equal to an
uninterrupted run, and one sentence for each bad input."""

import errno
import json
import re
import tempfile

import numpy as np
import pytest
import scipy.io
import torch

from grukit import cells
from grukit.cli import main
from grukit.tasks.compare import tasks

FAST = ["compare", "--data", "nile", "--epochs", "2", "--seeds", "2", "--folds", "1",
        "--memory-steps", "0", "--threads", "1"]
# what a resumed run must reproduce (timings are measured, so they are not compared)
SAME = ("model", "seed", "hidden", "params", "epochs", "best_epoch", "train_curve",
        "val_curve", "train_metric", "test_metric", "gap")


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if compare gets as far as loading data."""
    def prepare(*_a, **_k):
        raise AssertionError("compare loaded data (and would train) despite the bad input")

    monkeypatch.setattr(tasks, "prepare", prepare)


def _numbers(folder) -> dict:
    res = json.loads((folder / "results.json").read_text())
    return {"runs": [{k: r[k] for k in SAME} for r in res["runs"]],
            "memory": [{k: v for k, v in r.items() if k != "seconds"} for r in res["memory"]],
            "test_metric": res["table"]["test_metric"], "gap": res["table"]["gap"],
            "params": res["table"]["params"], "memory_summary": res["memory_summary"]}


def test_output_that_is_a_file_is_refused_before_training(tmp_path, capsys, no_training):
    f = tmp_path / "taken"
    f.write_text("x")
    assert main(FAST + ["--output", str(f)]) == 2
    err = capsys.readouterr().err
    assert f"--output '{f}' is a file" in err and "Traceback" not in err
    assert f.read_text() == "x"


def test_read_only_output_is_refused_before_training(tmp_path, monkeypatch, capsys,
                                                     no_training):
    def read_only(*_a, **_k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert main(FAST + ["--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot be written (Read-only file system)" in err and "Traceback" not in err


def test_ctrl_c_prints_one_line_exits_130_and_resume_matches(tmp_path, capsys, interrupt_cli):
    out = tmp_path / "run"
    partial = out / "partial.json"
    line = interrupt_cli(FAST + ["--output", out], partial)
    assert re.fullmatch(rf"grukit compare: interrupted after run [1-4] of 4 \((gru|lstm), seed "
                        rf"[01]\); partial results in {re.escape(str(out))}; rerun with "
                        rf"--resume to continue", line), line
    finished = len(json.loads(partial.read_text())["runs"])
    assert finished >= 1 and not (out / "results.json").exists()
    assert main(FAST + ["--output", str(out), "--resume"]) == 0
    assert f"resuming: {finished} of 4 runs" in capsys.readouterr().out
    assert main(FAST + ["--output", str(tmp_path / "whole")]) == 0
    assert _numbers(out) == _numbers(tmp_path / "whole")
    resumed = json.loads((out / "results.json").read_text())
    assert resumed["resumed"] == {"runs": finished, "memory": 0}
    assert (f"- **resumed**: {finished} of 4 runs and 0 of 0 memory runs come from an "
            f"interrupted run (--resume), timed in its process on this machine") in \
        (out / "report.md").read_text()


def test_ctrl_c_just_after_partial_json_is_written_names_that_run(tmp_path, monkeypatch,
                                                                    capsys):
    """A Ctrl-C between writing partial.json and recording the run used to print "before
    any result was finished" beside a partial.json that held one."""
    import signal

    from grukit.tasks.compare import progress

    real = progress.write

    def then_ctrl_c(*a, **k):
        real(*a, **k)
        signal.raise_signal(signal.SIGINT)  # the Ctrl-C lands as the file appears

    monkeypatch.setattr(progress, "write", then_ctrl_c)
    out = tmp_path / "run"
    assert main(FAST + ["--output", str(out)]) == 130
    err = capsys.readouterr().err.strip()
    assert err == (f"grukit compare: interrupted after run 1 of 4 (gru, seed 0); partial "
                   f"results in {out}; rerun with --resume to continue")
    assert len(json.loads((out / "partial.json").read_text())["runs"]) == 1


def test_memory_runs_are_written_as_they_finish_and_resumed(tmp_path, monkeypatch, capsys):
    from grukit.tasks.compare import memory

    argv = ["compare", "--data", "nile", "--models", "gru,lstm", "--epochs", "1", "--seeds", "1",
            "--folds", "1", "--memory-steps", "2", "--memory-lengths", "5,10", "--threads", "1",
            "--memory-tasks", "adding,copy"]
    out = tmp_path / "run"
    real, calls = memory.run, []

    def interrupted(*a, **k):
        calls.append(a)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(memory, "run", interrupted)
    assert main(argv + ["--output", str(out)]) == 130
    err = capsys.readouterr().err.strip()
    assert err == (f"grukit compare: interrupted after memory run 3 of 8 (adding T=10, gru, "
                   f"seed 0); partial results in {out}; rerun with --resume to continue")
    body = json.loads((out / "partial.json").read_text())
    assert len(body["runs"]) == 2 and len(body["memory"]) == 3
    monkeypatch.setattr(memory, "run", real)
    assert main(argv + ["--output", str(out), "--resume"]) == 0
    assert "resuming: 2 of 2 runs and 3 of 8 memory runs" in capsys.readouterr().out
    assert main(argv + ["--output", str(tmp_path / "whole")]) == 0
    assert _numbers(out) == _numbers(tmp_path / "whole")
    # runs of other settings are not mixed in; without --resume the old ones are dropped
    other = [a if a != "2" else "3" for a in argv]  # --memory-steps 3
    assert main(other + ["--output", str(out), "--resume"]) == 2
    assert "was written by a run with other settings or data" in capsys.readouterr().err

    def stop_at_first(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(tasks, "run", stop_at_first)
    earlier = (out / "partial.json").read_text()
    assert main(argv + ["--output", str(out)]) == 130
    assert (out / "partial.json").read_text() == earlier  # replaced at a first result only
    assert "before any result was finished" in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["--models", "gru,gru"], "--models names gru more than once; give each model once"),
    (["--models", "gru,lstm,gru"], "--models names gru more than once"),
    (["--models", "gru,transformer"], f"{','.join(cells.names())}; got gru,transformer "
                                      f"('transformer' unknown)"),
    (["--models", ""], "--models is empty; give a comma-separated list from"),
    (["--models", ","], "--models is empty"),
    (["--seeds", "0"], "--seeds must be a whole number, 1 or more; got 0."),
    (["--seeds", "-2"], "--seeds must be a whole number, 1 or more; got -2."),
    (["--epochs", "0"], "--epochs must be a whole number, 1 or more; got 0."),
    (["--epochs", "-1"], "--epochs must be a whole number, 1 or more; got -1."),
    (["--hidden", "0"], "--hidden must be a whole number, 1 or more; got 0."),
    (["--folds", "0"], "--folds must be a whole number, 1 or more; got 0."),
    (["--memory-lengths", "0"], "--memory-lengths must be a whole number, 2 or more; got 0."),
    (["--memory-lengths", "50,-5"], "--memory-lengths must be a whole number, 2 or more; "
                                    "got -5."),
    (["--memory-lengths", ""], "--memory-lengths is empty"),
    (["--memory-lengths", "5,5"], "--memory-lengths names 5 more than once"),
    (["--memory-steps", "-1"], "--memory-steps must be a whole number, 0 or more; got -1."),
    (["--memory-seeds", "-1"], "--memory-seeds must be a whole number, 1 or more; got -1."),
    # 0 left the memory rows out without a word, and --memory-lengths beside it unchecked
    (["--memory-seeds", "0", "--memory-lengths", "0"],
     "--memory-seeds must be a whole number, 1 or more; got 0 (--memory-steps 0 leaves the "
     "memory rows out)."),
    (["--memory-hidden", "0"], "--memory-hidden must be a whole number, 1 or more; got 0."),
    (["--memory-tasks", "adding,cpy"], "--memory-tasks takes a comma-separated list from "
                                       "adding,copy; got adding,cpy ('cpy' unknown)."),
    (["--memory-tasks", "copy,copy"], "--memory-tasks names copy more than once"),
    (["--memory-tasks", ","], "--memory-tasks is empty; give a comma-separated list from "
                              "adding,copy or skip the memory rows with --memory-steps 0."),
    (["--max-seconds", "10"], "--max-seconds caps each run of a task that takes it; --task "
                              "forecast does not use it"),
    (["--task", "music", "--data", "x.mat", "--max-seconds", "0"],
     "--max-seconds must be a positive number of seconds; got 0.0."),
    (["--task", "music", "--data", "x.mat", "--max-seconds", "-3"],
     "--max-seconds must be a positive number of seconds; got -3.0."),
    (["--task", "music", "--data", "x.mat", "--max-seconds", "nan"],
     "--max-seconds must be a positive number of seconds; got nan."),
    (["--threads", "0"], "--threads must be 1 or more; got 0"),
    (["--threads", "-1"], "--threads must be 1 or more; got -1"),
    (["--data", ""], "--data is empty"),
    (["--task", "music"], "--task music needs --data PATH.mat"),
    (["--memory-steps", "0", "--memory-tasks", "copy"],
     "--memory-tasks set the memory rows, which --memory-steps 0 leaves out; drop it"),
    (["--memory-steps", "0", "--memory-seeds", "3", "--memory-hidden", "8"],
     "--memory-seeds, --memory-hidden set the memory rows, which --memory-steps 0 leaves out; "
     "drop them"),
    (["--task", "music", "--data", "x.mat", "--folds", "5"],
     "--folds sets the rolling origins of the forecast backtest; --task music does not use "
     "it, so drop it."),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_input_is_one_sentence_before_any_work(tmp_path, capsys, no_training, args,
                                                   message):
    assert main(["compare", *args, "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1 and err.startswith("grukit compare: error: ")
    assert not (tmp_path / "out").exists()  # refused before the output was even made


def _mat(path, **arrays):
    scipy.io.savemat(path, arrays)
    return str(path)


LAYOUT = ("holding 'traindata', 'validdata' and 'testdata', each a cell array of (T, 88) 0/1 "
          "piano rolls")


@pytest.mark.parametrize("kind", ["text", "csv", "other-keys", "wrong-width", "folder",
                                  "missing"])
def test_music_data_that_is_not_a_piano_roll_mat_is_named(tmp_path, capsys, kind):
    if kind == "text":
        data = tmp_path / "notes.mat"
        data.write_text("C4 E4 G4\n")
    elif kind == "csv":
        data = tmp_path / "rolls.csv"
        data.write_text("t,key\n0,60\n")
    elif kind == "other-keys":
        data = _mat(tmp_path / "x.mat", rolls=np.zeros((3, 88)))
    elif kind == "wrong-width":
        cell = np.empty((1, 1), dtype=object)
        cell[0, 0] = np.zeros((4, 12), np.uint8)
        data = _mat(tmp_path / "w.mat", traindata=cell, validdata=cell, testdata=cell)
    elif kind == "folder":
        data = tmp_path
    else:
        data = tmp_path / "nowhere.mat"
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "partial.json").write_text("an earlier run's results")
    assert main(["compare", "--task", "music", "--data", str(data), "--memory-steps", "0",
                 "--output", str(tmp_path / "out")]) == 2
    assert (tmp_path / "out" / "partial.json").read_text() == "an earlier run's results"
    err = capsys.readouterr().err
    named = f"piano-roll file '{data}'" if kind == "missing" else f"'{data}'"
    assert err.startswith(f"grukit compare: error: --data: {named}") and \
        err.count("\n") == 1 and "Traceback" not in err, err
    if kind == "wrong-width":
        assert "sequence 0 of 'traindata' has shape (4, 12); each must be (T ≥ 1, 88)" in err
    elif kind == "missing":
        assert "does not exist" in err
    else:
        assert LAYOUT in err, err


def test_another_hidden_sizes_the_music_models_to_that_gru():
    task = tasks.Task("music", "NLL", True, 88, 88, 46, fixed=dict(tasks.PAPER_WIDTHS))
    assert task.widths(("gru", "lstm", "rnn"), "equal-params") == \
        {"gru": 46, "lstm": 36, "rnn": 100}
    from grukit.tasks.compare import sizing

    w = task.widths(("gru", "lstm"), "equal-params", 20)
    assert w["gru"] == 20 and w["lstm"] == sizing.hidden_for("lstm", sizing.count(
        "gru", 88, 20, 88), 88, 88) != 36


def test_resume_with_other_threads_is_refused(tmp_path, capsys, no_training):
    """The timing rows depend on --threads: runs timed with 2 threads are not resumed into a
    table whose other runs are timed with 1."""
    from grukit.tasks.compare import progress
    from grukit.tasks.compare.run import CompareConfig

    out = tmp_path / "run"
    out.mkdir()
    cfg = CompareConfig(task="forecast", data="nile", models=("gru", "lstm"), seeds=2,
                        epochs=2, folds=1, memory_steps=0)
    progress.write(str(out), progress.fingerprint(cfg, threads=2),
                   [{"model": "gru", "seed": 0, "seconds_per_epoch": 1.0}], [], 1.0)
    assert main(FAST + ["--output", str(out), "--resume"]) == 2  # FAST has --threads 1
    assert "was written by a run with other settings or data" in capsys.readouterr().err
    progress.write(str(out), progress.fingerprint(cfg),  # no --threads: torch's default
                   [{"model": "gru", "seed": 0, "seconds_per_epoch": 1.0}], [], 1.0)
    assert main(FAST + ["--output", str(out), "--resume"]) == 2


def test_resume_on_another_machine_is_refused(tmp_path, capsys, no_training):
    """The timing rows of one table come from one machine: runs timed on another CPU are
    not resumed beside this one's."""
    from grukit.tasks.compare import progress
    from grukit.tasks.compare.run import CompareConfig

    out = tmp_path / "run"
    out.mkdir()
    cfg = CompareConfig(task="forecast", data="nile", models=("gru", "lstm"), seeds=2,
                        epochs=2, folds=1, memory_steps=0)
    progress.write(str(out), progress.fingerprint(cfg, threads=1),
                   [{"model": "gru", "seed": 0, "seconds_per_epoch": 1.0}], [], 1.0)
    body = json.loads((out / "partial.json").read_text())
    assert body["machine"] == progress.machine()
    body["machine"] = "Linux-5.4-x86_64, Intel(R) Atom(TM) CPU, torch 2.13.0"
    (out / "partial.json").write_text(json.dumps(body))
    assert main(FAST + ["--output", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"holds runs timed on another machine ({body['machine']}; this is " \
           f"{progress.machine()}), and one table would mix the two machines' timings; " \
           f"resume it there, or rerun without --resume to start afresh." in err, err


def test_more_folds_than_the_series_holds_is_one_sentence(tmp_path, capsys):
    """The backtest's length is checked before the baselines are scored over the origins
    (an origin before the series' start gave numpy's 'index -1 is out of bounds')."""
    argv = FAST + ["--output", str(tmp_path / "run")]
    argv[argv.index("--folds") + 1] = "1000"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "100 points are too few for 1000 folds of 10; use a longer series or fewer " \
           "folds." in err


def test_resume_fingerprint_reads_a_data_folder(tmp_path):
    """A --data folder (speech's wavs, generate's texts) changed between the runs is other
    data: its runs are not resumed into the new table."""
    from grukit.tasks.compare import progress
    from grukit.tasks.compare.run import CompareConfig

    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text("to be or not to be")
    cfg = CompareConfig(task="generate", data=str(folder))
    before = progress.fingerprint(cfg)
    assert progress.fingerprint(cfg) == before
    (folder / "a.txt").write_text("to be or not to bee")
    changed = progress.fingerprint(cfg)
    assert changed != before
    (folder / "b.txt").write_text("more")
    assert progress.fingerprint(cfg) != changed


def test_an_interrupted_run_does_not_leave_an_earlier_runs_report(tmp_path, monkeypatch,
                                                                   capsys):
    """results.json and report.html of an earlier finished run in --output are removed once
    a new run has its first result, so Ctrl-C does not leave them beside the new
    partial.json as if they were its results; bad input removes nothing."""
    out = tmp_path / "run"
    out.mkdir()
    for name in ("results.json", "report.html", "memory.png", "partial.json"):
        (out / name).write_text("an earlier run")  # a finished run leaves its partial.json
    bad = FAST + ["--output", str(out)]
    bad[bad.index("--folds") + 1] = "1000"
    assert main(bad) == 2
    assert (out / "results.json").read_text() == "an earlier run"
    real, calls = tasks.run, []

    def second_interrupted(*a, **k):
        calls.append(a)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(tasks, "run", second_interrupted)
    assert main(FAST + ["--output", str(out)]) == 130
    assert len(json.loads((out / "partial.json").read_text())["runs"]) == 1
    assert not any((out / n).exists() for n in ("results.json", "report.html", "memory.png"))


def test_music_runs_are_timed_after_a_warm_up_per_model(monkeypatch):
    """Kernels compiled on first call are not charged to the first seed's first epoch: a
    tiny copy of each model trains once before its first timed run, and only then."""
    import grukit.tasks.music as music

    calls, real = [], music.train_music

    def spy(data, cfg, **kw):
        calls.append((cfg.model, cfg.hidden, len(data["train"])))
        return real(data, cfg, **kw)

    monkeypatch.setattr(music, "train_music", spy)
    monkeypatch.setattr(tasks, "_WARM", set())
    rng = np.random.default_rng(0)
    rolls = {s: [torch.as_tensor((rng.random((6, 88)) < 0.1).astype(np.float32))
                 for _ in range(2)] for s in ("train", "valid", "test")}
    task = tasks.Task("music", "NLL", True, 88, 88, 4, rolls, keras=False)
    for model in ("gru", "gru", "lstm"):
        tasks.run(task, model, 4, 0, epochs=1)
    assert calls == [("gru", 2, 1), ("gru", 4, 2), ("gru", 4, 2), ("lstm", 2, 1),
                     ("lstm", 4, 2)]


def test_music_split_of_one_step_sequences_is_refused_before_any_run(tmp_path, capsys):
    """A split with no frame to score is named before the output or the header line, in
    terms of the file (the CLI has no count_first setting to suggest)."""
    long, short = np.empty((1, 1), dtype=object), np.empty((1, 2), dtype=object)
    long[0, 0] = np.zeros((5, 88), np.uint8)
    short[0, 0], short[0, 1] = np.zeros((1, 88), np.uint8), np.ones((1, 88), np.uint8)
    data = _mat(tmp_path / "x.mat", traindata=long, validdata=long, testdata=short)
    assert main(["compare", "--task", "music", "--data", data, "--memory-steps", "0",
                 "--output", str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    assert err == (f"grukit compare: error: --data: {data!r}: every sequence of 'testdata' is "
                   f"one step long, so it has no frame to predict (a sequence's first frame "
                   f"is not scored); give sequences of 2 or more steps.\n"), err
    assert out == "" and not (tmp_path / "out").exists()


def test_a_path_as_data_is_written_to_results_json(tmp_path, monkeypatch):
    """compare(CompareConfig(data=Path(...))) keeps the path as text, so report.write after
    the training does not fail on a Path that json cannot write."""
    from pathlib import Path

    from grukit.tasks.compare import compare, report
    from grukit.tasks.compare.record import fit_record
    from grukit.tasks.compare.run import CompareConfig

    def fake_run(task, model, hidden, seed, **_k):
        return fit_record([0.1, 0.1], [2.0, 1.0], [2.0, 1.5], params=10, train_metric=1.0,
                          test_metric=1.5, stop_reason="max_epochs"), None

    monkeypatch.setattr(tasks, "run", fake_run)
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = np.zeros((3, 88), np.uint8)
    data = Path(_mat(tmp_path / "x.mat", traindata=cell, validdata=cell, testdata=cell))
    res = compare(CompareConfig(task="music", data=data, seeds=1, memory_steps=0),
                  log=lambda *a: None)
    report.write(res, str(tmp_path / "out"))
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["config"]["data"] == str(data)


def test_music_data_folder_or_missing_file_is_named_before_it_is_fingerprinted(
        tmp_path, capsys, monkeypatch):
    """A --data folder is refused before its every file is read to fingerprint the run, and
    --resume with a missing file names the file, not 'other settings or data'."""
    (tmp_path / "rolls").mkdir()
    _refused_unread(tmp_path, capsys, monkeypatch, "music", "grukit compare: error: --data: ",
                    [(tmp_path / "rolls", "is a folder; give a piano-roll .mat file"),
                     (tmp_path / "gone.mat", "does not exist")])


def _refused_unread(tmp_path, capsys, monkeypatch, task, start, cases):
    """Each (--data, words) of ``cases`` refused in one line starting with ``start`` under
    --resume, before the fingerprint reads any data."""
    from grukit.tasks.compare import progress

    out = tmp_path / "out"
    out.mkdir()
    progress.write(str(out), "an earlier run's fingerprint", [], [], 1.0)

    def fingerprint(*_a, **_k):
        raise AssertionError("the data were read before they were checked")

    monkeypatch.setattr(progress, "fingerprint", fingerprint)
    for data, expected in cases:
        assert main(["compare", "--task", task, "--data", str(data), "--memory-steps", "0",
                     "--output", str(out), "--resume"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(start) and expected in err and err.count("\n") == 1, err


def test_an_output_folder_with_files_compare_did_not_write_is_refused(tmp_path, capsys,
                                                                      no_training):
    """A report.md of the user's in --output is neither removed at the first result nor
    overwritten at the end: the folder is refused before any work."""
    out = tmp_path / "project"
    out.mkdir()
    (out / "report.md").write_text("# my notes")
    assert main([*FAST, "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"grukit compare: error: --output {str(out)!r} holds report.md, which no "
                   f"grukit compare run wrote (it has no partial.json), and a run would "
                   f"replace it; give another folder.\n"), err
    assert sorted(p.name for p in out.iterdir()) == ["report.md"]
    assert (out / "report.md").read_text() == "# my notes"


def test_a_full_garbage_collection_runs_before_each_timed_run(monkeypatch):
    """Not inside a timed epoch: the objects that imports and data loading leave made one
    fall in the first run's epochs, charged to the first model."""
    import gc

    from grukit.tasks.compare import compare
    from grukit.tasks.compare.record import fit_record
    from grukit.tasks.compare.run import CompareConfig

    events = []
    monkeypatch.setattr(gc, "collect", lambda *a: events.append("collect") or 0)

    def fake_run(task, model, hidden, seed, **_k):
        events.append(model)
        return fit_record([0.1], [1.0], [1.0], params=1, train_metric=1.0, test_metric=1.0,
                          stop_reason="max_epochs"), None

    monkeypatch.setattr(tasks, "run", fake_run)
    compare(CompareConfig(data="nile", seeds=1, folds=1, memory_steps=0),
            log=lambda *a: None)
    assert events == ["collect", "gru", "collect", "lstm"]


def test_csv_with_several_value_columns_is_refused_in_one_sentence(tmp_path, capsys):
    # compare has no --target: it compared the models on the second column, silently
    data = tmp_path / "multi.csv"
    data.write_text("date,temp,sales\n" + "".join(
        f"{2000 + i // 12}-{i % 12 + 1:02d}-01,{i % 7},{i % 5}\n" for i in range(120)))
    out = tmp_path / "out"
    assert main(["compare", "--data", str(data), "--output", str(out), "--seeds", "1",
                 "--memory-steps", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "3 columns (date, temp, sales)" in err, err
    assert "--target" in err and not out.exists()


def test_unknown_builtin_name_names_the_builtin_series(tmp_path, capsys, monkeypatch):
    # 'Sunspots' was told only "no such file", with no word of the built-in names
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--data", "Sunspots", "--output", str(tmp_path / "o"),
                 "--memory-steps", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("grukit compare: error: --data 'Sunspots' is neither a file nor a built-in "
                   "series (co2, elnino, sunspots, nile; `grukit datasets` lists them)."), err


def test_csv_header_with_a_quoted_separator_is_two_columns():
    from grukit.tasks.compare.forecast import _one_value_column

    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/q.csv"
        with open(path, "w") as f:
            f.write('date,"CO2, ppm"\n2000-01-01,1\n')
        _one_value_column(path)  # a time and one value column: taken
        with open(path, "w") as f:
            f.write('date;a;"b; c"\n2000-01-01;1;2\n')
        with pytest.raises(ValueError, match=r"has 3 columns \(date, a, b; c\)"):
            _one_value_column(path)
        with open(path, "w") as f:  # Excel's separator line is not the header
            f.write('sep=;\ndate;a;b\n2000-01-01;1;2\n')
        with pytest.raises(ValueError, match=r"has 3 columns \(date, a, b\)"):
            _one_value_column(path)


@pytest.mark.parametrize("task", ["forecast", "classify"])
def test_forecast_or_classify_data_is_named_before_it_is_fingerprinted(tmp_path, capsys,
                                                                       monkeypatch, task):
    """A forecast --data folder (or a classify --data that is no UEA name) is refused before
    every file under it is read to fingerprint the run (/tmp's sockets failed there with
    'No such device or address'), and --resume with a missing CSV names the file, not
    partial.json's 'other settings or data'."""
    (tmp_path / "series").mkdir()
    message = {"forecast": "is a folder; give a file",
               "classify": "--task classify takes a UEA set name"}[task]
    cases = [(tmp_path / "series", message)]
    if task == "forecast":
        cases.append((tmp_path / "gone.csv", "no such file"))
    _refused_unread(tmp_path, capsys, monkeypatch, task, "grukit compare: error: ", cases)


def test_resume_fingerprint_skips_what_is_not_a_file_in_a_data_folder(tmp_path):
    """A socket (or a FIFO, whose open() never returns) in a --data folder is not data: the
    fingerprint reads the regular files only."""
    import socket

    from grukit.tasks.compare import progress
    from grukit.tasks.compare.run import CompareConfig

    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text("to be or not to be")
    cfg = CompareConfig(task="generate", data=str(folder))
    before = progress.fingerprint(cfg)
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(folder / "s.sock"))
        assert progress.fingerprint(cfg) == before


@pytest.mark.parametrize("args", [["--hidden", "100000000"],
                                  ["--memory-steps", "1", "--memory-lengths", "1000000000000"]],
                         ids=["hidden", "memory-lengths"])
def test_a_size_too_large_for_memory_is_one_sentence(tmp_path, capsys, args):
    """A width or length no machine holds failed with torch's allocator traceback."""
    assert main([*FAST, "--seeds", "1", *args, "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("grukit compare: error: compare ran out of memory (can't allocate "
                          "memory: you tried to allocate ") and err.count("\n") == 1, err
    assert "give a smaller --hidden, --memory-hidden or --memory-lengths" in err


def test_resume_under_another_default_thread_count_is_refused(tmp_path, monkeypatch, capsys):
    """Without --threads, torch's default count (OMP_NUM_THREADS) was left out of the
    fingerprint: a resume under another count mixed runs timed (and computed) with two
    counts into one table, which named the resumed process's count alone."""
    at = FAST.index("--threads")
    argv = FAST[:at] + FAST[at + 2:] + ["--models", "gru", "--output", str(tmp_path / "run")]
    real, calls = tasks.run, []

    def interrupted(*a, **k):
        calls.append(a)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        monkeypatch.setattr(tasks, "run", interrupted)
        assert main(argv) == 130
        monkeypatch.setattr(tasks, "run", real)
        torch.set_num_threads(2)
        capsys.readouterr()
        assert main(argv + ["--resume"]) == 2
        err = capsys.readouterr().err
        assert "other settings or data (or torch threads: --threads, OMP_NUM_THREADS)" in err
        torch.set_num_threads(1)
        assert main(argv + ["--resume"]) == 0
        assert "resuming: 1 of 2 runs" in capsys.readouterr().out
    finally:
        torch.set_num_threads(before)
