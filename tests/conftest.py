import os
import sys
from pathlib import Path

import pytest

# Keras is a test-only parity oracle; it must run on the torch backend.
os.environ.setdefault("KERAS_BACKEND", "torch")

# One thread per test process (and its subprocesses): the suite runs in one process per core
# (-n 2), where two threads each would oversubscribe the cores, and at one thread the
# kernels take their serial builds, which compile in half the time of the parallel ones;
# tests/ops/test_parallel_builds.py runs every parallel build against its serial one.
os.environ.setdefault("OMP_NUM_THREADS", "1")
if "torch" in sys.modules:  # imported before this file (a plugin): set it there too
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# The shared data sets (music, text, sessions, ...): $GRUKIT_SHARED_DATA, else the
# ``shared/data`` folder beside the repository. Tests that need a file skip without it.
SHARED_DATA = Path(os.environ.get("GRUKIT_SHARED_DATA")
                   or Path(__file__).resolve().parents[1].parent / "shared" / "data")


@pytest.fixture
def backend_calls(monkeypatch):
    """Every call that reaches an ops backend during the test, as ``(op, backend)`` in order:
    each registered backend's function is wrapped, so a test can assert which kernel ran."""
    from dataclasses import replace

    from grukit.ops import dispatch

    calls: list[tuple[str, str]] = []
    for op, table in list(dispatch._REGISTRY.items()):
        for name, b in list(table.items()):
            def spy(*args, _fn=b.fn, _key=(op, name), **kwargs):
                calls.append(_key)
                return _fn(*args, **kwargs)

            monkeypatch.setitem(table, name, replace(b, fn=spy))
    monkeypatch.setattr(dispatch, "_ORDERED", {})  # the best-first lists hold the old entries
    import importlib

    from grukit.ops.gru.cpu import gru_cpu_plain
    from grukit.ops.rnn.cpu import rnn_cpu_plain

    # the plain inference calls, which skip dispatch: each runs its family's cpu kernel
    for op, fn in (("gru", gru_cpu_plain), ("rnn", rnn_cpu_plain)):
        def spy_plain(*args, _fn=fn, _key=(op, "cpu")):
            calls.append(_key)
            return _fn(*args)

        monkeypatch.setattr(importlib.import_module(f"grukit.ops.{op}"), f"_{op}_cpu_plain",
                            spy_plain)
    return calls


def sgd_fit_like_keras(ours, ref, x, y, batch_size, atol):
    """Train a grukit Sequential and the Keras model ``ref`` alike (SGD at 0.1, mse, two
    epochs, no shuffling) and assert their weights stay equal (rtol 1e-5, ``atol``)."""
    import keras
    import numpy as np

    ref.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    ours.compile(optimizer="sgd", loss="mse")
    ours.optimizer.param_groups[0]["lr"] = 0.1
    ref.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=atol)


def saved_and_exported_alike(model, x, folder, also=()):
    """A built Sequential saved and loaded has the same config and predicts ``x`` bit for bit
    alike, and its ONNX graph predicts ``x`` (and the inputs ``also``: other batch or time
    sizes) within 1e-5 (onnxruntime)."""
    import numpy as np
    import onnxruntime as ort

    from grukit.export.onnx_file import build_onnx
    from grukit.models import load

    model.save(folder / "m.safetensors")
    again = load(folder / "m.safetensors")
    assert again.get_config() == model.get_config()
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    sess = ort.InferenceSession(build_onnx(model.eval()).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    for xi in (x, *also):
        np.testing.assert_allclose(sess.run(None, {"input": xi})[0], model.predict(xi),
                                   rtol=1e-5, atol=1e-5)


def ran_only(calls, backend):
    """Assert that some ops call ran and every one of them ran on ``backend``."""
    assert calls, "no ops backend ran"
    others = sorted({c for c in calls if c[1] != backend})
    assert not others, f"expected every call on {backend!r}; these ran elsewhere: {others}"


@pytest.fixture
def tf32():
    """tf32(matmul=..., cudnn=...) sets torch's TF32 switches for one test and restores them
    after (monkeypatch cannot: they are computed attributes)."""
    import torch

    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)

    def set_(matmul=None, cudnn=None):
        if matmul is not None:
            torch.backends.cuda.matmul.allow_tf32 = matmul
        if cudnn is not None:
            torch.backends.cudnn.allow_tf32 = cudnn
    yield set_
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


@pytest.fixture
def interrupt_cli():
    """interrupt_cli(argv, wait_for) runs ``python -m grukit *argv`` in a subprocess, sends it
    Ctrl-C (SIGINT) once the file ``wait_for`` exists, checks that it ends with exit 130 and
    no traceback, and returns its stderr, stripped."""
    import signal
    import subprocess
    import sys
    import time

    def run(argv, wait_for):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen([sys.executable, "-m", "grukit", *map(str, argv)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        deadline = time.monotonic() + 300
        while not Path(wait_for).exists() and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        assert Path(wait_for).exists(), proc.communicate()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 130, (stdout, stderr)
        assert "Traceback" not in stderr
        return stderr.strip()
    return run


@pytest.fixture(autouse=True)
def _threads_unchanged():
    """Fail a test that leaves torch's thread count changed: results depend on the count (the
    kernels' row chunks, BLAS reductions), so a later test that compares an in-process run
    with a subprocess would see different numbers."""
    import torch

    before = torch.get_num_threads()
    yield
    after = torch.get_num_threads()
    if after != before:
        torch.set_num_threads(before)
        pytest.fail(f"the test left torch's thread count at {after} (it was {before})")


@pytest.fixture(scope="module")
def tone_speech():
    """(a GRU(4) SpeechClassifier at 8 kHz trained one epoch on 300/1200 Hz tones, its four
    training waveforms): the runtime tests' model."""
    import numpy as np
    import torch

    from grukit.tasks.speech.estimator import SpeechClassifier

    t, rng = np.arange(1600) / 8000, np.random.default_rng(0)
    waves = [(0.5 * np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal(len(t)))
             .astype(np.float32) for f in (300, 1200) * 2]
    torch.manual_seed(0)
    clf = SpeechClassifier(model="gru", hidden=4, epochs=1, validation_split=0,
                           spec_augment=False).fit(waves, ["low", "high"] * 2)
    return clf, waves
