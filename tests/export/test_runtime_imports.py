"""``import grukit.export.runtime`` by module name loads neither torch nor onnx: the package
``grukit.export`` loads its names on first use, so a server with onnxruntime and numpy only
imports the Predictor from an installed grukit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("onnxruntime")

_BLOCKED = textwrap.dedent("""
    import importlib.abc, sys
    BLOCK = ("torch", "onnx", "pandas", "numba")

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCK:
                raise ImportError(f"blocked in this test: {name}")
            return None

    sys.meta_path.insert(0, Refuse())
""")


def _run(body: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _BLOCKED + textwrap.dedent(body)],
                          capture_output=True, text=True, timeout=120)


def test_runtime_imports_by_name_without_torch():
    done = _run("""
        from grukit.export.runtime import Predictor
        import grukit.export
        print(Predictor.__name__, sorted(m for m in sys.modules if m.startswith("torch")))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Predictor", "[]"]


def test_the_blocker_refuses_torch_so_the_test_can_fail():
    done = _run("from grukit.export import to_onnx")
    assert done.returncode != 0 and "blocked in this test: torch" in done.stderr
