"""Under torchrun, processes given Dataset shards of equal size (a Subset each) are refused as
processes given array shards are: each trained on a part of its own shard without a word; so
are processes given another validation_freq."""

import os
import random
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, Subset, TensorDataset

SCRIPT = textwrap.dedent("""
    import faulthandler, os
    faulthandler.dump_traceback_later(100, exit=True)
    import numpy as np, torch
    from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset
    from grukit.layers import GRU, Dense
    from grukit.models import Sequential

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.manual_seed(rank)  # each process its own random stream
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(8, 6, 2))).float()
    y = x.sum(dim=(1, 2))[:, None]
    whole = TensorDataset(x, y)

    class Noisy(Dataset):  # a random augmentation of x; y as it is
        def __len__(self):
            return 8

        def __getitem__(self, i):
            return x[i] + 0.01 * torch.randn(6, 2), y[i]

    cases = {"subset": Subset(whole, list(range(rank, 8, world))),
             "shard loader": DataLoader(TensorDataset(x[rank::world], y[rank::world]),
                                        batch_size=2),
             "whole": whole, "augmented": Noisy()}
    for name, data in cases.items():
        torch.manual_seed(0)
        m = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
        m.compile(optimizer="sgd", loss="mse")
        try:
            m.fit(data, batch_size=2, epochs=1, seed=1, verbose=0)
            print(f"{name} {rank} trained", flush=True)
        except ValueError as err:
            print(f"{name} {rank} refused: {err}", flush=True)
    # validated after other epochs, a ReduceLROnPlateau would step each process's rate apart
    m = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    try:
        m.fit(x, y, batch_size=2, epochs=2, seed=1, verbose=0, validation_data=(x, y),
              validation_freq=1 + rank)
        print(f"freq {rank} trained", flush=True)
    except ValueError as err:
        print(f"freq {rank} refused: {err}", flush=True)
""")


@pytest.mark.skipif(shutil.which("torchrun", path=os.path.dirname(sys.executable)) is None,
                    reason="torchrun not installed beside this python")
def test_torchrun_refuses_dataset_shards_and_takes_a_random_augmentation(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    out = subprocess.run([torchrun, "--standalone", "--nproc_per_node=2", str(script)],
                         capture_output=True, text=True, timeout=200,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr[-3000:]
    for rank in (0, 1):
        for name in ("subset", "shard loader"):
            assert f"{name} {rank} refused: under torchrun fit takes the whole training set" \
                   in out.stdout, out.stdout
        assert f"freq {rank} refused: the processes called fit with different " \
               f"validation_freqs (1 to 2)" in out.stdout, out.stdout
        for name in ("whole", "augmented"):
            assert f"{name} {rank} trained" in out.stdout, out.stdout


def test_dataset_fingerprint_tells_shards_apart_and_leaves_the_random_states():
    from grukit.models.fit import _dataset_fingerprint

    x = torch.arange(48.0).reshape(8, 3, 2)
    y = torch.arange(8.0)[:, None]
    whole = TensorDataset(x, y)
    states = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()

    class Noisy(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            return x[i] + torch.randn(3, 2) + float(np.random.rand()) + random.random(), y[i]

    assert _dataset_fingerprint(whole) == _dataset_fingerprint(TensorDataset(x, y))
    a, b = (_dataset_fingerprint(Subset(whole, list(range(r, 8, 2)))) for r in (0, 1))
    assert a != b
    # the random x counts nothing, y all it holds; no random state moved
    assert _dataset_fingerprint(Noisy()) == _dataset_fingerprint(TensorDataset(0 * x, y))
    assert torch.equal(torch.get_rng_state(), states[0])
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert random.getstate() == states[2]
