"""grukit clinical on a dozen hand-written stays: what --resume reuses, what predict does
with an outcome file that does not fit, --unknown, and a variable that one fold's training
stays never measure. Each run is one epoch of a 4-unit model on a handful of stays."""

from __future__ import annotations

import os

from grukit.cli import main
from grukit.data.clinical import PHYSIONET_RANGES, PHYSIONET_VARIABLES

FAST = ["--epochs", "1", "--hidden", "4", "--no-baselines", "--bootstrap", "100"]


def tiny_set(folder, n: int = 12, skip=(), extra: str = "", outcomes: bool = True) -> str:
    """``folder``/set-a/<id>.txt (every variable at 00:30 but those in ``skip``, HR each hour
    to 05:00, ``extra`` rows in the first stay) and Outcomes-a.txt (every third stay died)."""
    os.makedirs(os.path.join(folder, "set-a"), exist_ok=True)
    rows = ["RecordID,In-hospital_death"]
    for i in range(n):
        rid = 100 + i
        lines = ["Time,Parameter,Value", f"00:00,RecordID,{rid}", f"00:00,Age,{40 + i}"]
        for v in PHYSIONET_VARIABLES:
            if v not in skip:
                lo, hi = PHYSIONET_RANGES[v]
                lines.append(f"00:30,{v},{lo + (hi - lo) * (0.3 + 0.01 * i):.3f}")
        lines += [f"{h:02d}:00,HR,{70 + i + h}" for h in range(1, 6)]
        with open(os.path.join(folder, "set-a", f"{rid}.txt"), "w") as f:
            f.write("\n".join(lines) + "\n" + (extra if i == 0 else ""))
        rows.append(f"{rid},{int(i % 3 == 0)}")
    if outcomes:
        with open(os.path.join(folder, "Outcomes-a.txt"), "w") as f:
            f.write("\n".join(rows) + "\n")
    return folder


def test_resume_refuses_folds_of_the_same_stays_with_other_values(tmp_path, capsys):
    data = tiny_set(str(tmp_path / "data"))
    args = ["clinical", "--data", data, "--model", "gru-mean", "--folds", "2",
            "--output", str(tmp_path / "out"), *FAST]
    assert main(args) == 0
    stay = tmp_path / "data" / "set-a" / "105.txt"
    stay.write_text(stay.read_text().replace("03:00,HR,78", "03:00,HR,140"))
    capsys.readouterr()
    assert main(args + ["--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "written by a run with other data" in err
