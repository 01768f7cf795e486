"""fit's two batch paths: arrays are gathered by index, Datasets go through a DataLoader;
both visit the same samples in the same order and leave torch's RNG in the same state."""

import torch

from grukit.layers import GRU, Dense, Dropout
from grukit.models import Callback, Sequential


def _model():
    torch.manual_seed(0)
    model = Sequential([GRU(6, input_shape=(9, 2), dropout=0.2), Dropout(0.3), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


class Batches(Callback):
    def __init__(self):
        self.seen = []

    def on_batch_end(self, batch, logs=None):
        self.seen.append((self.model._epoch, batch, logs["loss"]))


def _data():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(70, 9, 2, generator=g)  # (N, T, F): 70 = 4 batches of 16 and one of 6
    return x, x[:, -2:, 0].mean(1, keepdim=True)


def test_array_batches_train_as_the_dataloader_batches_do_dropout_included():
    x, y = _data()
    runs = []
    for data in ((x, y), (torch.utils.data.TensorDataset(x, y), None)):
        model, seen = _model(), Batches()
        torch.manual_seed(5)  # the dropout masks come from torch's RNG
        history = model.fit(*data, batch_size=16, epochs=3, verbose=0, seed=2, callbacks=[seen])
        runs.append((history.history, seen.seen, model.state_dict(), torch.rand(3)))
    (h1, s1, w1, r1), (h2, s2, w2, r2) = runs
    assert [b for _, b, _ in s1] == [0, 1, 2, 3, 4] * 3
    assert s1 == s2 and h1 == h2  # the same code on the same batches: bit for bit
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert torch.equal(r1, r2)  # and torch's RNG where the DataLoader run left it


def test_unshuffled_array_batches_are_the_samples_in_order():
    x, y = _data()
    got = []

    class Spy(torch.nn.Module):  # records the batches the model is called with
        def forward(self, xb, **kwargs):
            got.append(xb.clone())
            return model_forward(xb, **kwargs)

    model = _model()
    model_forward = model.forward
    model.forward = Spy().forward
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    assert [len(b) for b in got] == [16, 16, 16, 16, 6]
    assert torch.equal(torch.cat(got), x)


def test_batch_hooks_hear_every_batch_before_the_epoch_end():
    calls = []

    class EpochOnly(Callback):
        def on_epoch_end(self, epoch, logs=None):
            calls.append(epoch)

    class PerBatch(Callback):
        def on_batch_end(self, batch, logs=None):
            calls.append(("batch", batch))

    x, y = _data()
    _model().fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[EpochOnly(), PerBatch()])
    assert calls == [("batch", 0), ("batch", 1), ("batch", 2), 0,
                     ("batch", 0), ("batch", 1), ("batch", 2), 1]
