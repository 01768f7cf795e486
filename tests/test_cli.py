import re
import subprocess
import sys

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
