import re
import subprocess
import sys

import pytest

from grukit.cli import main


def test_version():
    out = subprocess.run([sys.executable, "-m", "grukit", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.startswith("grukit ")


def test_demo_runs_and_learns(capsys):
    assert main(["demo", "--epochs", "3", "--steps", "20"]) == 0
    out = capsys.readouterr().out
    assert "12,864" in out and "12,672" in out
    assert "max |output difference| = " in out
    diff = float(out.split("max |output difference| = ")[1].split()[0])
    assert diff < 1e-5
    # it learns: the validation MSE falls well below the first epoch's and beats the naive
    # last-value forecast the demo prints
    naive = float(re.search(r"naive last-value MSE ([0-9.]+)", out).group(1))
    val = [float(v) for v in re.findall(r"epoch \d+: train MSE [0-9.]+ {2}val MSE ([0-9.]+)",
                                        out)]
    assert len(val) == 3, out
    assert val[-1] < 0.7 * val[0] and val[-1] < naive, (val, naive)


def test_import_is_light():
    code = "import sys, grukit; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_demo_refuses_no_training_in_one_sentence(capsys):
    # --steps 0 raised UnboundLocalError; --epochs 0 or -1 trained nothing and exited 0;
    # --steps -3 sliced the windows from the end and trained on nearly all of them
    for flag, value in (("--steps", "0"), ("--steps", "-3"), ("--epochs", "0"),
                        ("--epochs", "-1")):
        assert main(["demo", flag, value]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"grukit demo: error: {flag} must be 1 or more; got {value}.", err


def test_demo_train_mse_is_the_epoch_mean_not_the_last_batch():
    import torch

    from grukit.cli import _train_epoch

    x = torch.arange(70, dtype=torch.float32).reshape(70, 1)
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.0)  # the model stays x * 0: each window's error is x²
    # 3 steps of 32 cover all 70 windows once (batches of 32, 32, 6)
    got = _train_epoch(lambda xb: xb * w, opt, x, x.clone(), steps=3)
    assert abs(got - float(torch.mean(x ** 2))) < 1e-3 * float(torch.mean(x ** 2))


def test_ctrl_c_while_the_command_loads_is_one_line_not_a_traceback():
    """An interrupt before main's handler (the parser's imports of a slow first start) printed
    a KeyboardInterrupt traceback; it is one line and exit status 130, as after loading."""
    code = ("import grukit.cli as c\n"
            "def stop():\n    raise KeyboardInterrupt\n"
            "c.build_parser = stop\nc.entry()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 130, out.stderr
    assert out.stderr.strip() == "grukit: interrupted.", out.stderr


def test_running_out_of_memory_is_one_sentence_not_torch_s_traceback(capsys, tmp_path,
                                                                      monkeypatch):
    """A model too large for the machine ended in torch's allocator traceback (the
    RuntimeError of its CPU allocator), in every task command."""
    monkeypatch.chdir(tmp_path)
    assert main(["forecast", "--data", "nile", "--hidden", "100000000", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("grukit forecast: error: ran out of memory (can't allocate memory")
    assert err.endswith("give the command smaller sizes (--hidden, say) or less data.")
    assert "\n" not in err


def test_a_training_run_that_diverges_is_one_sentence_not_a_traceback(capsys, tmp_path,
                                                                      monkeypatch):
    """A music run whose loss became NaN raised FloatingPointError, which the command did not
    catch: ``grukit compare --task music`` ended in a traceback."""
    from conftest import SHARED_DATA

    rolls = SHARED_DATA / "music" / "JSB_Chorales.mat"
    if not rolls.is_file():
        pytest.skip(f"no {rolls} here")
    monkeypatch.chdir(tmp_path)
    import math
    import types

    import grukit.tasks.music.train as train

    # the run's losses (NLLs above 1; the settings checked with the same function are whole
    # numbers or below 1) read as not finite where the loop checks them: a diverged run
    diverged = types.SimpleNamespace(**{k: getattr(math, k) for k in dir(math)
                                        if not k.startswith("_")})
    diverged.isfinite = lambda v: not (isinstance(v, float) and v > 1 and not v.is_integer())
    monkeypatch.setattr(train, "math", diverged)
    code = main(["compare", "--task", "music", "--data", str(rolls), "--seeds", "1",
                 "--epochs", "2", "--hidden", "4", "--models", "gru", "--memory-steps", "0",
                 "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and err.startswith("grukit compare: error: training diverged"), err
    assert "MusicConfig(lr=...)" in err


def test_a_reader_that_leaves_the_pipe_ends_the_command_quietly():
    """`grukit translate ... | head`: the reader closing the pipe was reported as
    "error: [Errno 32] Broken pipe" with status 2; a Unix tool stops quietly (141, SIGPIPE's)."""
    p = subprocess.Popen([sys.executable, "-m", "grukit", "datasets"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before the command writes
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141
    assert err == "", err


def test_a_warning_reads_as_the_commands(capsys, monkeypatch):
    """A warning of `grukit forecast` printed as a line of the grukit script
    ("…/bin/grukit:8: RuntimeWarning: … sys.exit(entry())"); it is the command's now."""
    import warnings

    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)  # put back after
    assert main(["datasets"], _entry=True) == 0
    line = warnings.formatwarning("training learned nothing", RuntimeWarning,
                                  "/x/bin/grukit", 8, "sys.exit(entry())")
    assert line == "grukit datasets: warning: training learned nothing\n"


def test_a_broken_pipe_that_is_not_the_output_is_an_error(capsys, monkeypatch):
    """Only a closed standard output ends a command quietly: another pipe that breaks (a
    worker's) is an error like any other, not a silent exit."""
    import grukit.cli as cli

    def broken(args):
        raise BrokenPipeError(32, "Broken pipe")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    args = parser.parse_args(["datasets"])
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    monkeypatch.setattr(args, "func", broken)
    assert cli.main(["datasets"]) == 2
    assert "error: [Errno 32] Broken pipe" in capsys.readouterr().err
