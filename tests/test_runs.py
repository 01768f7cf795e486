"""What every CLI command shares: the output folder checked before any work, one line for an
expected error, a traceback for a bug, exit 130 and one line on Ctrl-C."""

import errno
import os

import pytest

from grukit import _runs, cli
from grukit._runs import RUN, UsageError, prepare_output


def test_prepare_output_creates_and_refuses(tmp_path, monkeypatch):
    assert prepare_output(str(tmp_path / "a" / "b")) == str(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir() and os.listdir(tmp_path / "a" / "b") == []
    (tmp_path / "f").write_text("keep")
    with pytest.raises(UsageError, match=r"--output '.*f' is a file; give a folder"):
        prepare_output(str(tmp_path / "f"))
    with pytest.raises(UsageError, match="cannot be written"):
        prepare_output(str(tmp_path / "f" / "under"))
    assert (tmp_path / "f").read_text() == "keep"

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(_runs.tempfile, "mkstemp", read_only)
    with pytest.raises(UsageError, match=r"cannot be written \(Read-only file system\)"):
        prepare_output(str(tmp_path / "c"))


def test_a_dangling_link_as_the_output_is_named_as_such(tmp_path):
    """os.makedirs on a link to a missing folder says "File exists", which misled."""
    os.symlink(tmp_path / "gone", tmp_path / "out")
    with pytest.raises(UsageError, match=r"--output '.*out' is a link to '.*gone', which does "
                                         r"not exist; create that folder or give another"):
        prepare_output(str(tmp_path / "out"))
    (tmp_path / "gone").mkdir()
    assert prepare_output(str(tmp_path / "out")) == str(tmp_path / "out")


def test_interrupted_line():
    RUN.start("out", resumable=True)
    assert RUN.interrupted_line("x") == ("grukit x: interrupted before any result was "
                                         "finished; nothing written to out; rerun with "
                                         "--resume to continue")
    RUN.finished("fold 3 of 10")
    assert RUN.interrupted_line("x") == ("grukit x: interrupted after fold 3 of 10; partial "
                                         "results in out; rerun with --resume to continue")


def _command(monkeypatch, fn):
    """Make `grukit datasets` run fn instead."""
    real = cli.build_parser

    def build():
        parser = real()
        sub = next(a for a in parser._actions if a.dest == "command")
        sub.choices["datasets"].set_defaults(func=fn)
        return parser
    monkeypatch.setattr(cli, "build_parser", build)


def test_expected_errors_are_one_line(monkeypatch, capsys):
    from grukit.ops import dispatch

    def bad(args):
        dispatch.explain("gru", "fastest")  # a ValueError written by grukit for people
    _command(monkeypatch, bad)
    assert cli.main(["datasets"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("grukit datasets: error: gru: unknown backend 'fastest'; choose one "
                          "of ['auto', ") and err.count("\n") == 1

    def usage(args):
        raise UsageError("--folds is 0;\n  give 1 or more.")  # any UsageError, one line
    _command(monkeypatch, usage)
    assert cli.main(["datasets"]) == 2
    assert capsys.readouterr().err == "grukit datasets: error: --folds is 0; give 1 or more.\n"

    def missing(args):
        open("/nonexistent/file.csv")
    _command(monkeypatch, missing)
    assert cli.main(["datasets"]) == 2
    assert capsys.readouterr().err == ("grukit datasets: error: /nonexistent/file.csv: No such "
                                       "file or directory\n")
    with pytest.raises(FileNotFoundError):
        cli.main(["--debug", "datasets"])


def test_a_bug_keeps_its_traceback(monkeypatch):
    import numpy as np

    def bug(args):
        np.zeros(3).reshape(2, 2)  # a ValueError raised inside numpy: not a message for people
    _command(monkeypatch, bug)
    with pytest.raises(ValueError, match="cannot reshape"):
        cli.main(["datasets"])


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys, tmp_path):
    def interrupted(args):
        RUN.start(str(tmp_path), resumable=True)
        RUN.finished("seed 2 of 3")
        raise KeyboardInterrupt
    _command(monkeypatch, interrupted)
    assert cli.main(["datasets"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == (f"grukit datasets: interrupted after seed 2 of 3; partial results "
                           f"in {tmp_path}; rerun with --resume to continue")
    assert "Traceback" not in err


def test_ctrl_c_while_saving_lands_after_the_result_is_recorded(request):
    import signal

    rec, reached = _runs.RunRecord(), []
    # Python's own handler, whatever an earlier test or library (Ray) left installed
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, old))
    with pytest.raises(KeyboardInterrupt):
        with rec.saving("fold 1 of 3"):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of writing
            reached.append("the rest of the write")
    assert reached and rec.done == "fold 1 of 3"
    rec.start(None)
    with pytest.raises(KeyboardInterrupt):  # afterwards Ctrl-C acts at once again
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10**6):
            pass
    assert rec.done is None


HELD_WITH_A_THREAD = """
import os, signal, threading
from grukit import _runs
stop = threading.Event()
threading.Thread(target=stop.wait, daemon=True).start()  # a thread that takes signals
signal.signal(signal.SIGINT, signal.default_int_handler)
rec, reached = _runs.RunRecord(), []
try:
    with rec.saving("fold 1 of 3"):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10**6):  # the rest of the write: time for the signal to land
            pass
        reached.append("write")
except KeyboardInterrupt:
    print("interrupted after", reached, rec.done)
"""


def test_ctrl_c_while_saving_is_held_in_a_process_with_other_threads():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", HELD_WITH_A_THREAD], capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.strip() == "interrupted after ['write'] fold 1 of 3", out.stderr


def test_torch_threads_gives_the_callers_count_back_even_on_error():
    import torch

    from grukit._runs import torch_threads

    before = torch.get_num_threads()
    with torch_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(KeyboardInterrupt):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise KeyboardInterrupt
    assert torch.get_num_threads() == before


def test_a_refused_command_leaves_no_folder_it_made(tmp_path, monkeypatch, capsys):
    """Refused after its output folders were made (a data file without the target column):
    the folders it made are gone, nested ones too; a folder that was there stays."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    (tmp_path / "there").mkdir()
    for out in ("o1", "o2/x/y", "there"):
        assert cli.main(["forecast", "--data", "bad.csv", "--target", "zz", "--output", out]) == 2
        assert cli.main(["classify", "--data", "bad.csv", "--output", out]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "there"]


def test_drop_empty_created_keeps_folders_with_files(tmp_path):
    _runs.CREATED.clear()
    prepare_output(str(tmp_path / "a" / "b"))
    prepare_output(str(tmp_path / "c"))
    (tmp_path / "a" / "b" / "result.json").write_text("{}")
    _runs.drop_empty_created()
    assert (tmp_path / "a" / "b" / "result.json").exists() and not (tmp_path / "c").exists()


# every task whose predict refuses training flags through _runs.predict_args: (command, its
# argv up to the training flags, a training flag whose given value reads as false)
PREDICT_REFUSES = [
    ("forecast", ["forecast", "predict", "--model", "m"], ["--seed", "0"]),
    ("forecast", ["forecast", "predict", "--model", "m"], ["--epochs", "0"]),
    ("classify", ["classify", "predict", "--model", "m", "--data", "d.csv"], ["--seed", "0"]),
    ("classify", ["classify", "predict", "--model", "m", "--data", "d.csv"], ["--folds", "0"]),
    ("clinical", ["clinical", "predict", "--model", "m", "--data", "d"], ["--seed", "0"]),
    ("speech", ["speech", "predict", "--model", "m", "--data", "d"], ["--seed", "0"]),
    ("recommend", ["recommend", "predict", "--model", "m", "--data", "d"],
     ["--learning-rate", "0"]),
    ("recommend", ["recommend", "predict", "--model", "m", "--data", "d"], ["--no-tied"]),
]


@pytest.mark.parametrize("command,argv,flag", PREDICT_REFUSES)
def test_predict_refuses_a_training_flag_whose_value_reads_as_false(capsys, tmp_path,
                                                                     monkeypatch, command,
                                                                     argv, flag):
    """--seed 0, --epochs 0, --no-tied were taken and ignored: 0 and False read as 'not
    given'; given is what the command line holds, whatever its value."""
    monkeypatch.chdir(tmp_path)
    assert cli.main([*argv, *flag]) == 2
    captured = capsys.readouterr()
    named = "--tied" if flag == ["--no-tied"] else flag[0]  # the option, by its dest
    assert captured.err.strip() == (
        f"grukit {command}: error: {named} set(s) training; predict uses the saved model's "
        f"settings{' and one --data file' if command == 'recommend' else ''}, so drop it.")
    assert os.listdir(tmp_path) == []


def test_predict_args_counts_only_none_as_not_given():
    from argparse import Namespace

    from grukit._runs import predict_args

    for value in (0, 0.0, False, "", True, 3):
        with pytest.raises(UsageError, match="^--seed set"):
            predict_args(Namespace(seed=value, model="m"), ("seed",), "x")
    predict_args(Namespace(seed=None, model="m"), ("seed",), "x")


@pytest.mark.parametrize("command", ["forecast", "classify", "clinical", "speech",
                                     "recommend"])
def test_training_flags_default_to_not_given(command):
    """predict_args reads None as 'not given': a training flag's default must be None (a
    store_true flag's False would read as given)."""
    import argparse
    import importlib

    sub = next(a for a in cli.build_parser()._actions
               if isinstance(a, argparse._SubParsersAction)).choices[command]
    defaults = {a.dest: a.default for a in sub._actions}
    train_only = importlib.import_module(f"grukit.tasks.{command}.cli").TRAIN_ONLY
    assert {d: defaults[d] for d in train_only if defaults[d] is not None} == {}
