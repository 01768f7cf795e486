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
from grukit.models import Callback, Sequential

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


class _Stream(torch.utils.data.IterableDataset):
    """The first ``n`` samples of X, Y in order, with no length; counts its iter() calls."""

    def __init__(self, n=None):
        self.n, self.passes = len(X) if n is None else n, 0

    def __iter__(self):
        self.passes += 1
        for i in range(self.n):
            yield torch.tensor(X[i]), torch.tensor(Y[i])


class _EpochBatches(Callback):
    def on_train_begin(self, logs=None):
        self.sizes = []

    def on_epoch_begin(self, epoch, logs=None):
        self.sizes.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.sizes[-1] += 1


def test_steps_per_epoch_on_an_iterable_dataset_carries_one_iterator_as_keras():
    """fit(steps_per_epoch=N) on a DataLoader over an IterableDataset (refused before, as
    one of no length): each epoch takes the next N batches of one iterator, an epoch that
    meets its end is shorter (Keras' warning) and the next one begins a new pass; without
    steps_per_epoch an epoch is a pass; the losses and weights are Keras' on the same
    loader."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    k = keras.Sequential([keras.Input((6, 2)), keras.layers.GRU(4), keras.layers.Dense(1)])
    g = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    g.set_weights(k.get_weights())
    k.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    g.compile(optimizer="sgd", loss="mse")
    g.optimizer.learning_rate = 0.01
    fit = dict(epochs=4, steps_per_epoch=2, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras': shuffle ignored for a DataLoader
        theirs = k.fit(DataLoader(_Stream(10), batch_size=4), **fit).history
        whole = k.fit(DataLoader(_Stream(10), batch_size=4), epochs=2, verbose=0).history
    counted = _EpochBatches()
    with pytest.warns(UserWarning, match="ran out of data"):
        ours = g.fit(DataLoader(_Stream(10), batch_size=4), callbacks=[counted],
                     **fit).history  # 3 batches a pass: 2, 1, then a new pass: 2, 1
    assert counted.sizes == [2, 1, 2, 1]
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-5)
    ours = g.fit(DataLoader(_Stream(10), batch_size=4), epochs=2, callbacks=[counted],
                 verbose=0).history  # without steps_per_epoch: an epoch a pass, as Keras
    assert counted.sizes == [3, 3]
    np.testing.assert_allclose(ours["loss"], whole["loss"], rtol=1e-5)
    for a, b in zip(g.get_weights(), k.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_an_iterable_pass_that_ends_with_an_epoch_begins_the_next_epoch_anew(tmp_path):
    """A pass of 4 batches, 2 an epoch: no empty epoch; resumed from an epoch's checkpoint,
    the run goes on through the data as an uninterrupted one (the pass's start is kept)."""
    from grukit.models import ModelCheckpoint

    def model():
        torch.manual_seed(0)
        m = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
        m.compile(optimizer="sgd", loss="mse")
        return m

    data = _Stream()  # 16 samples: 4 batches of 4
    counted = _EpochBatches()
    with pytest.warns(UserWarning, match="epoch 2 has 1 of steps_per_epoch=3 batches"):
        want = model().fit(DataLoader(data, batch_size=4), epochs=5, steps_per_epoch=3,
                           callbacks=[counted], verbose=0, seed=1).history["loss"]
    assert counted.sizes == [3, 1, 3, 1, 3]
    ck = str(tmp_path / "ck.safetensors")
    for stop in (1, 2):  # in a pass; at a pass's end
        part = model()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            part.fit(DataLoader(data, batch_size=4), epochs=stop, steps_per_epoch=3,
                     callbacks=[ModelCheckpoint(ck)], verbose=0, seed=1)
            got = part.fit(DataLoader(data, batch_size=4), epochs=5, steps_per_epoch=3,
                           resume_from=ck, verbose=0).history["loss"]
        np.testing.assert_allclose(got, want[stop:], rtol=1e-6)
    counted = _EpochBatches()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model().fit(DataLoader(data, batch_size=4), epochs=3, steps_per_epoch=2,
                    callbacks=[counted], verbose=0)
    assert counted.sizes == [2, 2, 2]  # Keras 3 logs an epoch of no batch here


def test_iterable_datasets_in_evaluate_predict_and_the_refusals():
    model = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    stream = DataLoader(_Stream(), batch_size=5)
    assert model.evaluate(stream) == pytest.approx(model.evaluate(X, Y), rel=1e-6)
    np.testing.assert_allclose(model.predict(stream), model.predict(X), rtol=1e-6)
    np.testing.assert_allclose(model.predict(_Stream()), model.predict(X), rtol=1e-6)
    with pytest.raises(ValueError, match="validation_split cannot split"):
        model.fit(stream, epochs=1, verbose=0, steps_per_epoch=2, validation_split=0.5)
    for steps in (2, None):
        with pytest.raises(ValueError, match="yielded no batch"):
            model.fit(DataLoader(_Stream(0), batch_size=4), epochs=1, steps_per_epoch=steps,
                      verbose=0)
    with pytest.raises(ValueError, match="evaluate got 0 samples"):
        model.evaluate(DataLoader(_Stream(0), batch_size=4))
    for steps, rows in ((2, 10), (None, 16)):  # validation: the first batches of a pass
        hist = model.fit(X, Y, epochs=2, verbose=0, validation_steps=steps,
                         validation_data=DataLoader(_Stream(), batch_size=5)).history
        assert hist["val_loss"][-1] == pytest.approx(model.evaluate(X[:rows], Y[:rows]),
                                                     rel=1e-5)
    late = Sequential([GRU(4), Dense(1)])  # built from the stream's first batch
    late.compile(optimizer="sgd", loss="mse")
    late.fit(stream, epochs=1, steps_per_epoch=2, verbose=0)
    assert late.input_shape == (None, None, 2)


def test_an_iterable_dataset_under_torchrun_is_refused_in_one_sentence(monkeypatch):
    """Refused before any process group starts, naming the fix (the refusal of a loader
    with a sampler of its own said to pass its Dataset, which is the same iterable)."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    model = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"an _Stream \(an IterableDataset\) cannot be split "
                                         r"across processes.*map-style Dataset"):
        model.fit(DataLoader(_Stream(), batch_size=4), epochs=1, verbose=0)


class _Batches(torch.utils.data.IterableDataset):
    """X, Y in whole batches of 4: a dataset that batches itself (DataLoader batch_size=None)."""

    def __iter__(self):
        for i in range(0, len(X), 4):
            yield torch.tensor(X[i:i + 4]), torch.tensor(Y[i:i + 4])


class _MapBatches(Dataset):
    def __len__(self):
        return len(X) // 4

    def __getitem__(self, i):
        return torch.tensor(X[4 * i:4 * i + 4]), torch.tensor(Y[4 * i:4 * i + 4])


def test_a_model_built_from_a_loader_that_yields_whole_batches_reads_them_as_batches():
    """DataLoader(batch_size=None) hands the model its dataset's items as they are: an
    unbuilt model built from the first read it as one sample ((4, 6, 2) for a GRU, refused
    as 'got (batch, 1024, 6, 2)'); it is a batch of 4 sequences (6, 2), as fit feeds it."""
    def model():
        torch.manual_seed(0)
        m = Sequential([GRU(4), Dense(1)])
        m.compile(optimizer="sgd", loss="mse")
        return m

    class First(Callback):
        def on_train_begin(self, logs=None):
            self.weights = self.model.get_weights()

    for data in (_Batches(), _MapBatches()):
        m, first = model(), First()
        got = m.fit(DataLoader(data, batch_size=None), epochs=2, verbose=0,
                    callbacks=[first]).history["loss"]
        assert m.input_shape == (None, None, 2)
        ref = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
        ref.compile(optimizer="sgd", loss="mse")
        ref.set_weights(first.weights)
        want = ref.fit(X, Y, batch_size=4, shuffle=False, epochs=2, verbose=0).history["loss"]
        np.testing.assert_allclose(got, want, rtol=1e-6)
    m = model()  # a map-style Dataset batched by the loader: its items are samples
    m.fit(DataLoader(_Logged(), batch_size=4), epochs=1, verbose=0)
    assert m.input_shape == (None, None, 2)


def test_validation_steps_beyond_an_iterable_pass_warns_once_as_for_arrays():
    """16 samples in batches of 4: validation_steps=10 takes the 4 there are with Keras'
    warning, as data of a known length gets it (the IterableDataset's took them silently);
    one warning a fit, not one a validation."""
    model = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hist = model.fit(X, Y, epochs=2, verbose=0, validation_steps=10,
                         validation_data=DataLoader(_Stream(), batch_size=4)).history
    ran_out = [w for w in caught if "ran out of data" in str(w.message)]
    assert len(ran_out) == 1 and "validation_steps=10" in str(ran_out[0].message)
    assert ran_out[0].filename == __file__
    assert hist["val_loss"][-1] == pytest.approx(model.evaluate(X, Y), rel=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a pass that holds them: no word
        model.fit(X, Y, epochs=1, verbose=0, validation_steps=4,
                  validation_data=DataLoader(_Stream(), batch_size=4))


def test_a_resume_on_an_iterable_pass_shorter_than_the_checkpoints_is_refused(tmp_path):
    """Interrupted after 4 batches of a pass, resumed on a stream of 2: the epoch went on
    with no batch (its loss the 4 before) without a word; it names the data to give."""
    from grukit.models import BackupAndRestore

    class Stop(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 3:
                raise KeyboardInterrupt

    for steps in (None, 5):
        model = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        backup = str(tmp_path / f"b{steps}")
        with warnings.catch_warnings(), pytest.raises(KeyboardInterrupt):
            warnings.simplefilter("ignore")
            model.fit(DataLoader(_Stream(), batch_size=4), epochs=2, steps_per_epoch=steps,
                      verbose=0, callbacks=[BackupAndRestore(backup, save_freq=1), Stop()])
        with pytest.raises(ValueError, match=r"_Stream yielded 2 batches.* had (trained on|"
                                             r"taken) 4.*resume with the data"):
            model.fit(DataLoader(_Stream(8), batch_size=4), epochs=2, steps_per_epoch=steps,
                      verbose=0, callbacks=[BackupAndRestore(backup, save_freq=1)])
        got = model.fit(DataLoader(_Stream(), batch_size=4), epochs=2, verbose=0,
                        steps_per_epoch=steps,
                        callbacks=[BackupAndRestore(backup, save_freq=1)]).history["loss"]
        assert len(got) == 2  # the same data goes on from the backup
