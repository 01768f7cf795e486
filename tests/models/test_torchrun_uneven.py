"""fit under torchrun with shares of unequal size: every sample once an epoch, the weights and
logs of one process, no process left waiting when its share of a batch is empty."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SCRIPT = textwrap.dedent("""
    import faulthandler, json, os, sys
    if __name__ == "__main__":  # a hang shows where, then ends
        faulthandler.dump_traceback_later(100, exit=True)
    import numpy as np, torch
    import torch.distributed as dist
    from grukit.layers import GRU, ActivityRegularization, Dense, Embedding
    from grukit.models import Callback, CSVLogger, Sequential

    out = OUT if __name__ != "__main__" else sys.argv[1]
    rank = int(os.environ.get("RANK", "0"))
    rng = np.random.default_rng(0)
    results = {}

    class Seen(Callback):  # the samples each batch trained on, in every process
        def __init__(self):
            self.rows = []

        def on_train_batch_end(self, batch, logs=None):
            self.rows.append(batch)

    def model(seq=False, vocab=None):
        torch.manual_seed(0)
        first = Embedding(vocab, 3, mask_zero=True, input_shape=(6,)) if vocab else None
        layers = [first] if first else []
        layers += [GRU(4, return_sequences=seq, input_shape=None if vocab else (6, 2))]
        if vocab:  # a penalty averaged over the samples, the loss over the valid steps
            layers.append(ActivityRegularization(l2=0.5))
        layers.append(Dense(1))
        m = Sequential(layers)
        m.build()
        m.double()
        return m

    def run(name, m, *args, **kw):
        try:
            h = m.fit(*args, verbose=0, **kw)
        except ValueError as err:
            results[name] = {"error": str(err)}
            return
        assert not dist.is_initialized()  # fit ended the group it started
        results[name] = {"history": h.history,
                         "weights": [p.detach().tolist() for p in m.parameters()]}

    x = rng.normal(size=(29, 6, 2))
    y = x.sum(axis=(1, 2))[:, None]
    # 23 training samples (6 held out), batches of 4 (2, 1, 1 on three processes), a last
    # batch of 3; shuffled with a seed, metrics, a CSV log
    m = model()
    m.compile(optimizer="adam", loss="mse", metrics=["mae"])
    run("split", m, x, y, batch_size=4, epochs=2, seed=3, validation_split=0.2,
        callbacks=[CSVLogger(f"{out}.split.csv")])
    # evaluate and predict take every sample, in order, in every process
    results["split"]["predict"] = m.predict(x, batch_size=5, verbose=0).tolist()
    results["split"]["evaluate"] = m.evaluate(x, y, batch_size=5, verbose=0, return_dict=True)
    # 4 samples, batches of 2: the third process's share of each batch is empty
    m = model()
    m.compile(optimizer="sgd", loss="mse")
    run("empty", m, x[:4], y[:4], batch_size=2, epochs=2, seed=1,
        sample_weight=rng.uniform(0.5, 2, size=4), validation_data=(x[4:9], y[4:9]))
    # fewer samples than processes, a batch larger than the data
    m = model()
    m.compile(optimizer="sgd", loss="mse")
    run("fewer", m, x[:2], y[:2], batch_size=8, epochs=2, shuffle=False)
    # class weights and an odd batch size
    m = model()
    m.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    labels = (y > 0).astype("float64")
    run("classes", m, x[:17], labels[:17], batch_size=5, epochs=1, seed=2,
        class_weight={0: 1.0, 1: 3.0})
    # per-step outputs masked to each sequence's length: unequal valid steps and samples
    ids = rng.integers(1, 8, size=(13, 6))
    for i, n in enumerate(rng.integers(1, 7, size=13)):
        ids[i, n:] = 0
    m = model(seq=True, vocab=8)
    m.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    run("masked", m, ids, rng.normal(size=(13, 6, 1)), batch_size=4, epochs=2, seed=5)
    # a Dataset with a NaN in the share of the last process: every process stops
    bad = torch.tensor(x[:10])
    bad[6, 2, 1] = float("nan")
    data = torch.utils.data.TensorDataset(bad, torch.tensor(y[:10]))
    m = model()
    m.compile(optimizer="sgd", loss="mse")
    run("nan", m, data, batch_size=4, epochs=1, shuffle=False)
    # each process given a shard of its own, as for a DistributedSampler: refused in all
    m = model()
    m.compile(optimizer="sgd", loss="mse")
    run("shards", m, x[:5 + rank], y[:5 + rank], batch_size=2)
    run("same size shards", m, x[5 * rank:5 * rank + 5], y[5 * rank:5 * rank + 5], batch_size=2)
    if rank == 0:
        with open(out, "w") as f:
            json.dump(results, f)
    print(f"done {rank}", flush=True)  # one write: the processes share stdout
""")


def _run(tmp_path, name, launcher):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    cmd = launcher + [str(script), str(tmp_path / name)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)


@pytest.mark.skipif(shutil.which("torchrun", path=os.path.dirname(sys.executable)) is None,
                    reason="torchrun not installed beside this python")
def test_torchrun_uneven_shares_match_one_process(tmp_path):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    exec(SCRIPT, {"__name__": "one_process", "OUT": str(tmp_path / "one.json")})
    three = _run(tmp_path, "three.json",
                 launcher=[torchrun, "--standalone", "--nproc_per_node=3"])
    assert three.returncode == 0, three.stderr[-3000:]
    assert three.stdout.count("done") == 3
    a = json.loads((tmp_path / "one.json").read_text())
    b = json.loads((tmp_path / "three.json").read_text())
    assert a.keys() == b.keys()
    assert "x holds 1 NaN/Inf value(s) in batch 2 of epoch 1" in a["nan"]["error"]
    assert "another process's share holds NaN/Inf value(s) in batch 2 of epoch 1" in \
        b["nan"]["error"]
    for name in ("shards", "same size shards"):
        assert "not a shard of its own" in b[name]["error"], b[name]
    for name in a.keys() - {"nan", "shards", "same size shards"}:
        assert "error" not in b[name], (name, b[name])
        for wa, wb in zip(a[name]["weights"], b[name]["weights"], strict=True):
            np.testing.assert_allclose(wb, wa, rtol=1e-10, atol=1e-12, err_msg=name)
        if name == "split":
            np.testing.assert_allclose(b[name]["predict"], a[name]["predict"], rtol=1e-10,
                                       atol=1e-12)
            assert len(b[name]["predict"]) == 29
            for k, v in a[name]["evaluate"].items():
                np.testing.assert_allclose(b[name]["evaluate"][k], v, rtol=1e-10)
        assert a[name]["history"].keys() == b[name]["history"].keys()
        for k, v in a[name]["history"].items():
            np.testing.assert_allclose(b[name]["history"][k], v, rtol=1e-7, err_msg=name)
    logs = [np.loadtxt(tmp_path / f, delimiter=",", skiprows=1, ndmin=2)
            for f in ("one.json.split.csv", "three.json.split.csv")]
    assert logs[0].shape == (2, 5)  # epoch, loss, mae, val_loss, val_mae
    np.testing.assert_allclose(logs[1], logs[0], rtol=1e-7)
