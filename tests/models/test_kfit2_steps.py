"""fit(steps_per_epoch=N) as Keras 3 runs it: on a DataLoader that orders its own batches
(a sampler of its own) one iterator a pass, so that the epochs of a pass train each sample
once and no batch is loaded only to be passed over; an epoch's window found in constant
time; with batch_size None, the validation data in Keras' batches of 32; a
ModelCheckpoint's save_freq counted on across the epochs."""

import os
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from grukit.layers import GRU, Dense
from grukit.models import Sequential

X = np.random.RandomState(3).randn(16, 6, 2).astype("float32")
Y = X.sum((1, 2))[:, None].astype("float32")


class _Logged(Dataset):
    def __init__(self):
        self.log = []

    def __len__(self):
        return len(X)

    def __getitem__(self, i):
        self.log.append(i)
        return torch.tensor(X[i]), torch.tensor(Y[i])


class _Permutation(Sampler):  # a new order at each iter(), as WeightedRandomSampler's
    def __init__(self):
        self.g = torch.Generator().manual_seed(0)

    def __iter__(self):
        return iter(torch.randperm(len(X), generator=self.g).tolist())

    def __len__(self):
        return len(X)


def test_the_epochs_of_a_pass_go_on_in_one_iterator_of_the_loader():
    data = _Logged()
    model = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(DataLoader(data, batch_size=4, sampler=_Permutation()), epochs=4,
                  steps_per_epoch=2, verbose=0)
    assert len(data.log) == 4 * 2 * 4  # each batch loaded once, and trained on
    for p in range(2):  # two epochs of two batches: one pass of four
        assert sorted(data.log[16 * p:16 * (p + 1)]) == list(range(16))


def _window_by_epochs(epochs_before, steps, per_pass):  # Keras' epoch iterator, epoch by epoch
    passes, at = 0, 0
    for _ in range(epochs_before):
        at += min(steps, per_pass - at)
        if at >= per_pass:
            passes, at = passes + 1, 0
    return passes, at, min(steps, per_pass - at)


def test_the_window_of_an_epoch_is_keras_epoch_by_epoch_count_in_constant_time(monkeypatch):
    from grukit.models import fit
    from grukit.models.fit import _window

    for steps in (1, 2, 3, 5, 7):
        for per_pass in (1, 2, 3, 5, 6, 7):
            for e in range(30):
                assert _window(e, steps, per_pass) == _window_by_epochs(e, steps, per_pass), \
                    (e, steps, per_pass)
    # a far epoch costs what a near one does: no count over the epochs before it (which
    # took seconds an epoch after some ten thousand)
    def no_long_count(*args):
        assert max(args) < 10**6, "an epoch's window counted over the epochs before it"
        return range(*args)

    monkeypatch.setattr(fit, "range", no_long_count, raising=False)
    assert _window(10**12, 1, 5) == (2 * 10**11, 0, 1)


def test_steps_per_epoch_without_batch_size_validates_in_batches_of_32_as_keras():
    """batch_size=None with steps_per_epoch cuts the training data in N batches only; the
    validation data goes in Keras' 32 a batch (a loss with reduction="sum" shows it)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x, y = X[:14], Y[:14]  # 5 a batch with steps_per_epoch=3; 16 to validate in one batch
    k = keras.Sequential([keras.Input((6, 2)), keras.layers.GRU(4), keras.layers.Dense(1)])
    g = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    g.set_weights(k.get_weights())
    for m in (k, g):
        m.compile(optimizer=keras.optimizers.SGD(0.001) if m is k else "sgd",
                  loss=keras.losses.Huber(reduction="sum"))
    g.optimizer.learning_rate = 0.001
    fit = dict(epochs=2, shuffle=False, verbose=0, steps_per_epoch=3, validation_data=(X, Y))
    theirs, ours = k.fit(x, y, **fit).history, g.fit(x, y, **fit).history
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=2e-5, err_msg=key)


def test_checkpoint_save_freq_counts_batches_across_epochs_as_keras(tmp_path):
    """save_freq=3 with epochs of 2 and 1 batches (steps_per_epoch=2, 3 batches a pass):
    Keras writes after the 3rd and 6th batch of the run; an epoch's own count never reached
    3, so no write came between the epoch-end ones."""
    from grukit.models import ModelCheckpoint

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x, y = X[:12], Y[:12]
    fit = dict(epochs=4, steps_per_epoch=2, batch_size=4, shuffle=False, verbose=0)
    k = keras.Sequential([keras.Input((6, 2)), keras.layers.GRU(4), keras.layers.Dense(1)])
    k.compile(optimizer="sgd", loss="mse")
    (tmp_path / "k").mkdir()
    k.fit(x, y, callbacks=[keras.callbacks.ModelCheckpoint(
        str(tmp_path / "k" / "e{epoch}-b{batch}.weights.h5"), save_freq=3,
        save_weights_only=True)], **fit)
    g = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    g.compile(optimizer="sgd", loss="mse")
    written = []

    class Mid(ModelCheckpoint):  # the mid-epoch writes (the epoch-end ones are grukit's own)
        def _write(self, epoch, batch, path):
            if batch:
                written.append(os.path.basename(path))
            super()._write(epoch, batch, path)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g.fit(x, y, callbacks=[Mid(str(tmp_path / "g" / "e{epoch}-b{batch}.ckpt"),
                                   save_freq=3)], **fit)
    theirs = sorted(p.name.removesuffix(".weights.h5") for p in (tmp_path / "k").iterdir())
    assert [p.removesuffix(".ckpt") for p in written] == theirs == ["e2-b1", "e4-b1"]
