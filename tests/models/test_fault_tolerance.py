"""Checkpoints survive a killed process; resume and torchrun reproduce single-process runs."""

import os
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from grukit.layers import GRU, Dense
from grukit.models import CSVLogger, ModelCheckpoint, ReduceLROnPlateau, Sequential

SCRIPT = textwrap.dedent("""
    import faulthandler, os, signal, sys
    faulthandler.dump_traceback_later(150, exit=True)  # a hang shows where, then ends
    import numpy as np, torch
    from grukit.layers import GRU, Dense, Embedding
    from grukit.models import (Callback, CSVLogger, LearningRateScheduler, ModelCheckpoint,
                               Sequential)

    mode, ckpt, out = sys.argv[1:4]
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 12, 2)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None].astype("float32")
    model = Sequential([GRU(8, input_shape=(12, 2)), Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])

    class Kill(Callback):
        def on_batch_end(self, batch, logs=None):
            if mode == "kill" and self.model._epoch == 1 and batch == 4:
                os.kill(os.getpid(), signal.SIGKILL)

    import gc, torch.distributed as dist
    destroy = dist.destroy_process_group

    def checked_destroy(*args, **kwargs):  # fit frees its DDP wrapper before the group
        ddp = torch.nn.parallel.DistributedDataParallel
        assert not [o for o in gc.get_objects() if isinstance(o, ddp)], "DDP outlives fit"
        return destroy(*args, **kwargs)
    dist.destroy_process_group = checked_destroy

    class StopInLast(Callback):  # the last process alone asks to stop after epoch 0
        def on_epoch_end(self, epoch, logs=None):
            if mode == "ddp" and os.environ.get("RANK", "0") == str(
                    int(os.environ.get("WORLD_SIZE", "1")) - 1):
                self.model.stop_training = True

    rank = os.environ.get("RANK", "0")
    cbs = [CSVLogger(f"{out}.rank{rank}.csv"), StopInLast()]
    if rank == "0":  # batch hooks in one process only: the processes still step together
        cbs = [ModelCheckpoint(ckpt, every_n_batches=2), Kill(), *cbs]
    epochs = 2 if mode == "ddp" else 3  # ddp: the last process stops both after epoch 0
    model.fit(x, y, batch_size=20 if mode == "ddp" else 16, epochs=epochs, seed=7, verbose=0,
              callbacks=cbs, resume_from=ckpt if mode == "resume" else None)
    assert not dist.is_initialized()  # fit ended the group it started
    if rank == "0":
        torch.save(model.state_dict(), out)
    if mode == "ddp":  # per-step outputs, each sequence masked to its length: the shares of
        ids = rng.integers(1, 10, size=(32, 8))  # a batch hold unequal numbers of steps
        for i, n in enumerate(rng.integers(1, 9, size=32)):
            ids[i, n:] = 0
        torch.manual_seed(1 + int(rank))  # seeded per process; fit draws its seed from it,
        masked = Sequential([Embedding(10, 4, mask_zero=True, input_shape=(8,)),  # and
                             GRU(6, return_sequences=True), Dense(1)])  # rank 0's counts
        masked.compile(optimizer="sgd", loss="mse")
        masked.fit(ids, rng.normal(size=(32, 8, 1)).astype("float32"), batch_size=8,
                   verbose=0)
        if rank == "0":
            torch.save(masked.state_dict(), out + ".masked")
        lower = [LearningRateScheduler(lambda epoch, lr: lr / 10)] if rank == "0" else []
        try:  # a rate set in one process only: each would step its own way
            masked.fit(ids, ids[..., None] * 0.1, batch_size=8, verbose=0, callbacks=lower)
        except ValueError as err:
            print(f"refused: {err}", flush=True)  # one write: the processes share stdout

        def nan_in_last(t, p, seen=[]):  # a NaN loss in the last process alone, 2nd batch
            seen.append(1)
            last = os.environ.get("RANK", "0") == str(int(os.environ.get("WORLD_SIZE", "1")) - 1)
            return (t - p) ** 2 * (float("nan") if last and len(seen) == 2 else 1.0)

        masked.compile(optimizer="sgd", loss=nan_in_last)
        import warnings
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            h = masked.fit(ids, ids[..., None] * 0.1, batch_size=8, epochs=2, verbose=0)
        print(f"stopped: {h.stop_reason}", flush=True)  # in every process (one write each)
""")


def _run(tmp_path, *args, launcher=None):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    cmd = (launcher or [sys.executable]) + [str(script), *args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def _weights(path):
    return torch.load(path, weights_only=True)


def test_killed_run_resumes_to_the_uninterrupted_weights(tmp_path):
    full = _run(tmp_path, "full", str(tmp_path / "a.ckpt"), str(tmp_path / "full.pt"))
    assert full.returncode == 0, full.stderr
    killed = _run(tmp_path, "kill", str(tmp_path / "b.ckpt"), str(tmp_path / "x.pt"))
    assert killed.returncode != 0 and (tmp_path / "b.ckpt").exists()  # died mid-epoch
    assert not list(tmp_path.glob("*.tmp"))  # killed between writes: no write left behind
    resumed = _run(tmp_path, "resume", str(tmp_path / "b.ckpt"), str(tmp_path / "res.pt"))
    assert resumed.returncode == 0, resumed.stderr
    a, b = _weights(tmp_path / "full.pt"), _weights(tmp_path / "res.pt")
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-6)


MID_WRITE = textwrap.dedent("""
    import io, os, shutil, sys, time
    import torch
    from grukit.layers import GRU, Dense
    from grukit.models import Sequential
    from grukit.models.saving import save_checkpoint

    path, marker = sys.argv[1:3]
    model = Sequential([GRU(8, input_shape=(12, 2)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    save_checkpoint(model, path, epoch=1, batch=0)  # the last good checkpoint
    shutil.copyfile(path, path + ".good")
    real_save = torch.save

    def slow_save(obj, f):  # half the bytes, then stall: the kill lands inside the write
        buf = io.BytesIO()
        real_save(obj, buf)
        data = buf.getvalue()
        with open(f, "wb") as out:
            out.write(data[:len(data) // 2])
            out.flush()
            with open(marker + ".part", "w") as m:
                m.write(f)
            os.replace(marker + ".part", marker)
            time.sleep(120)
            out.write(data[len(data) // 2:])

    torch.save = slow_save
    save_checkpoint(model, path, epoch=2, batch=0)
    print("the write finished: the kill came too late")
""")


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGINT"])
def test_kill_during_a_checkpoint_write_keeps_the_last_good_one(tmp_path, sig):
    """A process killed while a checkpoint is half written leaves the previous checkpoint
    complete; Ctrl-C (SIGINT) also removes the temporary file. SIGKILL runs no clean-up: its
    temporary file stays, and nothing reads it."""
    import signal

    from grukit.models.saving import read_checkpoint

    script, path, marker = tmp_path / "w.py", tmp_path / "m.ckpt", tmp_path / "writing"
    script.write_text(MID_WRITE)
    proc = subprocess.Popen([sys.executable, str(script), str(path), str(marker)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the writer never started its write"
            time.sleep(0.05)
        tmp = marker.read_text()
        # the kill lands mid-write: the temporary file is there, half of it written
        assert os.path.dirname(tmp) == str(tmp_path) and tmp.endswith(".tmp")
        assert 0 < os.path.getsize(tmp) < os.path.getsize(str(path) + ".good")
        proc.send_signal(getattr(signal, sig))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0 and "finished" not in out, (out, err[-3000:])
    assert path.read_bytes() == (tmp_path / "m.ckpt.good").read_bytes()  # the old, whole
    assert read_checkpoint(str(path))["epoch"] == 1
    left = sorted(p.name for p in tmp_path.glob("*.tmp"))
    if sig == "SIGINT":
        assert not left, left  # the interrupted write cleaned up after itself
    else:
        assert left == [os.path.basename(tmp)]  # only the abandoned temporary file


@pytest.mark.skipif(shutil.which("torchrun", path=os.path.dirname(sys.executable)) is None,
                    reason="torchrun not installed beside this python")
def test_torchrun_two_processes_match_one_process(tmp_path):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    one = _run(tmp_path, "ddp", str(tmp_path / "c1.ckpt"), str(tmp_path / "one.pt"))
    assert one.returncode == 0, one.stderr
    two = _run(tmp_path, "ddp", str(tmp_path / "c2.ckpt"), str(tmp_path / "two.pt"),
               launcher=[torchrun, "--standalone", "--nproc_per_node=2"])
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = _weights(tmp_path / "one.pt"), _weights(tmp_path / "two.pt")
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-5)
    assert (tmp_path / "two.pt.rank0.csv").exists()
    assert not (tmp_path / "two.pt.rank1.csv").exists()  # only rank 0 writes
    # the logged loss is the global batches' (the last one 16 of 20 samples, 8 a process),
    # not rank 0's half of them; one epoch each: the last process's stop stopped both
    logs = [np.loadtxt(tmp_path / f, delimiter=",", skiprows=1, ndmin=2)
            for f in ("one.pt.rank0.csv", "two.pt.rank0.csv")]
    assert logs[0].shape == logs[1].shape == (1, 3)  # epoch, loss, mae
    np.testing.assert_allclose(logs[1], logs[0], rtol=1e-5)
    assert two.stdout.count("refused:") == 2
    assert "different learning rates" in two.stdout
    assert two.stdout.count("stopped: nonfinite") == 2
    # a masked batch's loss is its mean over all its valid steps, as in one process
    a, b = _weights(tmp_path / "one.pt.masked"), _weights(tmp_path / "two.pt.masked")
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-6)


def test_checkpoint_errors_and_other_callbacks(tmp_path):
    torch.manual_seed(0)
    x = np.random.default_rng(1).normal(size=(40, 5, 2)).astype("float32")
    y = x.mean(axis=(1, 2))[:, None]
    model = Sequential([GRU(4, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    log = tmp_path / "log.csv"
    model.fit(x, y, epochs=3, verbose=0, validation_split=0.25,
              callbacks=[CSVLogger(str(log)), ModelCheckpoint(str(tmp_path / "m.ckpt")),
                         ReduceLROnPlateau(patience=0, factor=0.5, monitor="loss")])
    rows = log.read_text().splitlines()
    assert rows[0] == "epoch,loss,val_loss" and len(rows) == 4
    other = Sequential([GRU(6, input_shape=(5, 2)), Dense(1)])
    other.compile()
    with pytest.raises(ValueError, match="written by another architecture"):
        other.fit(x, y, resume_from=str(tmp_path / "m.ckpt"), verbose=0)
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable grukit checkpoint"):
        model.fit(x, y, resume_from=str(tmp_path / "junk.ckpt"), verbose=0)


def test_csv_logger_that_cannot_write_is_refused_before_training(tmp_path):
    x = np.random.default_rng(1).normal(size=(8, 5, 2)).astype("float32")
    y = x.mean(axis=(1, 2))[:, None]
    model = Sequential([GRU(2, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for path, what in [(tmp_path, "is a directory"), (tmp_path / "no" / "log.csv",
                                                      "does not exist")]:
        with pytest.raises((ValueError, OSError), match=what):
            model.fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(str(path))])
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_csv_logger_appends_below_a_bom_header_and_refuses_utf16(tmp_path):
    x = np.random.default_rng(1).normal(size=(8, 5, 2)).astype("float32")
    y = x.mean(axis=(1, 2))[:, None]
    model = Sequential([GRU(2, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    log = tmp_path / "log.csv"
    log.write_bytes("\ufeffepoch,loss\r\n0,1.5\r\n".encode())  # saved by a spreadsheet
    model.fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(str(log), append=True)])
    assert log.read_text(encoding="utf-8-sig").splitlines()[:2] == ["epoch,loss", "0,1.5"]
    assert len(log.read_text().splitlines()) == 3
    log.write_text("epoch,loss\n0,1.5\n1,1.2")  # the last row's newline never written
    model.fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(str(log), append=True)])
    assert [r.count(",") for r in log.read_text().splitlines()] == [1, 1, 1, 1]
    log.write_bytes("epoch,loss\n0,1.5\n".encode("utf-16"))
    kept = log.read_bytes()
    with pytest.raises(ValueError, match="so the file was kept"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(str(log), append=True)])
    assert log.read_bytes() == kept


def test_csv_logger_writes_texts_and_arrays_that_callbacks_log(tmp_path):
    # as Keras' CSVLogger: a text as it is, an array as "[a, b]"; a field holding the
    # separator quoted (a format error from the logger's row before)
    from grukit.models import LambdaCallback

    x = np.random.default_rng(1).normal(size=(8, 5, 2)).astype("float32")
    y = x.mean(axis=(1, 2))[:, None]
    model = Sequential([GRU(2, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")

    def note(epoch, logs):
        logs |= {"note": "ok", "rates": np.array([0.1, 0.2]), "half": np.float32(0.5),
                 "step": torch.tensor(3.0), "seen": 1234567891, "done": True}

    log = tmp_path / "log.csv"
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[LambdaCallback(on_epoch_end=note), CSVLogger(str(log))])
    import csv

    rows = list(csv.DictReader(log.open()))
    assert [r["note"] for r in rows] == ["ok", "ok"]
    assert rows[1]["rates"] == "[0.1, 0.2]" and rows[1]["half"] == "0.5"
    assert rows[1]["step"] == "3" and float(rows[1]["loss"]) > 0
    assert rows[1]["seen"] == "1234567891" and rows[1]["done"] == "True"  # not 1.2345679e+09


@pytest.mark.parametrize("separator", ["", None, "\n", '"'])
def test_csv_logger_refuses_a_separator_that_cannot_split_columns(separator):
    # "" ran the columns together and "\n" split each row into lines, without a word
    with pytest.raises(ValueError, match="separator must be a character"):
        CSVLogger("log.csv", separator=separator)
