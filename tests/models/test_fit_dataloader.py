"""fit on a torch DataLoader trains on the batches the DataLoader makes: its collate_fn
(evaluate applied it, fit did not), its drop_last, and a sampler of its own (a
WeightedRandomSampler, a batch_sampler), which fit replaced by its own order over the
dataset, so a class-balancing sampler was silently ignored."""

import numpy as np
import pytest
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    SequentialSampler,
    TensorDataset,
    WeightedRandomSampler,
)

from grukit.layers import GRU, Dense
from grukit.models import Callback, Sequential

N, T, F, C = 10, 4, 2, 3
RNG = np.random.default_rng(0)
X = torch.tensor(RNG.normal(size=(N, T, F)), dtype=torch.float32)
Y = torch.tensor(RNG.integers(0, C, N))
DS = TensorDataset(X, Y)


def _frozen():
    """A model whose rate is 0: an epoch's loss is the mean loss of the batches it saw."""
    torch.manual_seed(0)
    m = Sequential([GRU(4, input_shape=(T, F)), Dense(C, activation="softmax")])
    m.build()
    m.compile(optimizer=torch.optim.SGD(m.parameters(), lr=0.0),
              loss="sparse_categorical_crossentropy")
    return m


class _Sizes(Callback):
    def on_train_begin(self, logs=None):
        self.sizes = []

    def on_train_batch_begin(self, batch, logs=None):
        self.sizes.append(batch)


def _scaled(batch):
    xs, ys = zip(*batch, strict=True)
    return torch.stack(xs) * 3, torch.stack(ys)


@pytest.mark.parametrize("shuffle", [False, True])
def test_fit_applies_the_collate_fn_as_evaluate_does(shuffle):
    m = _frozen()
    loader = DataLoader(DS, batch_size=5, collate_fn=_scaled, shuffle=shuffle)
    want = m.evaluate(loader)
    assert want != pytest.approx(m.evaluate(X, Y), rel=1e-3)
    got = m.fit(loader, epochs=1, verbose=0, seed=0).history["loss"][0]
    assert got == pytest.approx(want, rel=1e-5)


def test_fit_keeps_drop_last():
    m = _frozen()
    seen = _Sizes()
    m.fit(DataLoader(DS, batch_size=4, drop_last=True), epochs=1, verbose=0, callbacks=[seen],
          shuffle=False)
    assert seen.sizes == [0, 1]  # 10 samples: two batches of 4, the last 2 dropped
    assert m.fit(DataLoader(DS, batch_size=4, drop_last=True), epochs=1, verbose=0,
                 shuffle=False).history["loss"][0] == pytest.approx(m.evaluate(X[:8], Y[:8]),
                                                                   rel=1e-5)


def test_fit_draws_from_the_loaders_own_sampler():
    m = _frozen()
    only_3 = WeightedRandomSampler([0.0] * 3 + [1.0] + [0.0] * 6, num_samples=N)
    got = m.fit(DataLoader(DS, batch_size=5, sampler=only_3), epochs=1,
                verbose=0).history["loss"][0]
    assert got == pytest.approx(m.evaluate(X[3:4], Y[3:4]), rel=1e-5)


def test_fit_takes_the_batches_of_a_batch_sampler():
    m = _frozen()
    seen = _Sizes()
    loader = DataLoader(DS, batch_sampler=BatchSampler(SequentialSampler(DS), 3, False))
    m.fit(loader, epochs=1, verbose=0, callbacks=[seen], batch_size=7)
    assert seen.sizes == [0, 1, 2, 3]  # 3 + 3 + 3 + 1, not fit's 7 + 3


def test_validation_split_of_a_loader_keeps_its_collate_fn_or_is_refused():
    m = _frozen()
    loader = DataLoader(DS, batch_size=5, collate_fn=_scaled)
    hist = m.fit(loader, epochs=1, verbose=0, validation_split=0.3, shuffle=False).history
    tail = DataLoader(TensorDataset(X[7:], Y[7:]), batch_size=5, collate_fn=_scaled)
    assert hist["val_loss"][0] == pytest.approx(m.evaluate(tail), rel=1e-5)
    sampled = DataLoader(DS, batch_size=5, sampler=WeightedRandomSampler([1.0] * N, N))
    with pytest.raises(ValueError, match="validation_split cannot split a DataLoader whose "
                                         "sampler"):
        m.fit(sampled, epochs=1, verbose=0, validation_split=0.3)


class _Dicts(torch.utils.data.Dataset):
    def __len__(self):
        return N

    def __getitem__(self, i):
        return {"x": X[i], "y": Y[i]}


@pytest.mark.parametrize("data,got", [
    (TensorDataset(X), "1 items"), (_Dicts(), r"a dict of \['x', 'y'\]"),
    (TensorDataset(X, Y, Y.float(), Y), "4 items")])
@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_datasets_that_yield_no_x_y_pairs_are_refused(data, got, method):
    """x alone raised 'not enough values to unpack', a dict "'str' object has no attribute
    'is_floating_point'", and a fourth item was silently left out."""
    m = _frozen()
    with pytest.raises(ValueError, match=f"{method} takes a Dataset or DataLoader that yields "
                                         rf"\(x, y\) .*its batches hold {got}"):
        getattr(m, method)(data, **({"verbose": 0} if method == "fit" else {}))


def test_predict_takes_x_alone_and_refuses_dicts():
    m = _frozen()
    np.testing.assert_array_equal(m.predict(TensorDataset(X)), m.predict(X))
    with pytest.raises(ValueError, match=r"predict takes a Dataset .* a dict of \['x', 'y'\]"):
        m.predict(_Dicts())


@pytest.mark.parametrize("data", [DS, DataLoader(DS, batch_size=4)], ids=["Dataset", "loader"])
def test_train_on_batch_refuses_a_dataset_in_one_sentence(data):
    """It raised "'TensorDataset' object has no attribute 'is_floating_point'"."""
    with pytest.raises(TypeError, match="train_on_batch takes one batch as arrays or tensors"):
        _frozen().train_on_batch(data)


class _Shifted(torch.utils.data.Dataset):
    """x + shift, where the shift is set in each worker by the loader's worker_init_fn."""

    shift = 0.0

    def __len__(self):
        return N

    def __getitem__(self, i):
        return X[i] + self.shift, Y[i]


def _shift_in_worker(worker_id):
    torch.utils.data.get_worker_info().dataset.shift = 5.0


def _loader(**kw):
    return DataLoader(_Shifted(), batch_size=4, num_workers=1,
                      worker_init_fn=_shift_in_worker, **kw)


def test_validation_steps_and_split_keep_every_argument_of_the_loader():
    """validation_steps and validation_split made new DataLoaders with only the batch size,
    collate_fn and workers of the one given: its worker_init_fn (which sets up the data in
    each worker), generator, pin_memory, timeout, persistent_workers were lost, so that the
    validation ran on other data."""
    m = _frozen()
    first = DataLoader(TensorDataset(X[:8] + 5.0, Y[:8]), batch_size=4)  # 2 batches, shifted
    hist = m.fit(DS, epochs=1, verbose=0, validation_data=_loader(), validation_steps=2,
                 shuffle=False).history
    assert hist["val_loss"][0] == pytest.approx(m.evaluate(first), rel=1e-5)
    head = DataLoader(TensorDataset(X[:7] + 5.0, Y[:7]), batch_size=4)
    tail = DataLoader(TensorDataset(X[7:] + 5.0, Y[7:]), batch_size=4)
    hist = m.fit(_loader(), epochs=1, verbose=0, validation_split=0.3, shuffle=False).history
    assert hist["loss"][0] == pytest.approx(m.evaluate(head), rel=1e-5)
    assert hist["val_loss"][0] == pytest.approx(m.evaluate(tail), rel=1e-5)
    hist = m.fit(_loader(), epochs=1, verbose=0, validation_split=0.5, validation_steps=1,
                 shuffle=False).history  # the first batch of the held-out share
    assert hist["val_loss"][0] == pytest.approx(m.evaluate(DataLoader(
        TensorDataset(X[5:9] + 5.0, Y[5:9]), batch_size=4)), rel=1e-5)

    from grukit.models.sequential import _first_batches, _split

    g = torch.Generator()
    given = DataLoader(DS, batch_size=2, num_workers=1, worker_init_fn=_shift_in_worker,
                       generator=g, pin_memory=True, timeout=30, persistent_workers=True,
                       prefetch_factor=3, collate_fn=_scaled)
    train, _, (val,) = _split(given, None, 6)
    made = [_first_batches((given,), 2, None)[0][0], train, val,
            _first_batches((val,), 1, None)[0][0]]
    for loader in made:
        for k in ("worker_init_fn", "generator", "pin_memory", "timeout",
                  "persistent_workers", "prefetch_factor", "collate_fn", "num_workers"):
            assert getattr(loader, k) is getattr(given, k) or \
                getattr(loader, k) == getattr(given, k), k


def test_validation_steps_take_the_first_batches_of_a_loader_with_its_own_order():
    """validation_steps on a DataLoader whose batch_sampler orders its batches takes the
    first batches it yields, as Keras takes them (it was refused); all of them, with
    Keras' warning, where it yields fewer."""
    m = _frozen()
    loader = DataLoader(DS, batch_sampler=[[3, 4], [0, 1], [7]])
    hist = m.fit(DS, epochs=1, verbose=0, validation_data=loader, validation_steps=2,
                 shuffle=False).history
    first = DataLoader(TensorDataset(X[[3, 4, 0, 1]], Y[[3, 4, 0, 1]]), batch_size=4)
    assert hist["val_loss"][0] == pytest.approx(m.evaluate(first), rel=1e-5)
    with pytest.warns(UserWarning, match="ran out of data"):
        hist = m.fit(DS, epochs=1, verbose=0, validation_data=loader, validation_steps=5,
                     shuffle=False).history
    assert hist["val_loss"][0] == pytest.approx(m.evaluate(loader), rel=1e-5)
