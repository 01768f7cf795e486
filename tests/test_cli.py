import subprocess
import sys

from grukit.cli import main


def test_version():
    out = subprocess.run([sys.executable, "-m", "grukit", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.startswith("grukit ")


def test_demo_runs_and_learns(capsys):
    assert main(["demo", "--epochs", "2", "--steps", "10"]) == 0
    out = capsys.readouterr().out
    assert "12,864" in out and "12,672" in out
    assert "max |output difference| = " in out
    diff = float(out.split("max |output difference| = ")[1].split()[0])
    assert diff < 1e-5
    assert "epoch 2:" in out


def test_import_is_light():
    code = "import sys, grukit; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
