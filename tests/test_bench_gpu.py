"""benchmarks/bench_gpu.py works end to end before a GPU session spends time on it: its
--smoke mode runs every model, the split-H kernels included, on the CPU under Triton's
interpreter (its timings mean nothing; its correctness checks and report do)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton", reason="triton is not installed (pip install triton)")

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "bench_gpu.py"


def test_bench_gpu_smoke(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path)}
    run = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--rounds", "1",
                          "--set", "split=on"], env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "bench_gpu.jsonl").read_text().splitlines()]
    assert rows[0]["machine"]["interpreter"] is True
    rows = rows[1:]
    assert not [r for r in rows if "error" in r]
    assert {r["model"] for r in rows} == {"gru", "gru_reset_before", "lstm", "mingru"}
    assert {(r["model"], r["anchor"]) for r in rows} >= {("gru_reset_before", "eager loop"),
                                                         ("mingru", "torch scan")}
    assert all(r["ok"] and r["checked"] == "outputs+grads" for r in rows)
    assert {r["kernels"] for r in rows if r["model"] in ("gru", "lstm")} == {"split 1×2"}
    report = (tmp_path / "bench_gpu.md").read_text()
    assert "reset_after=False within 1.3x of reset_after=True" in report
