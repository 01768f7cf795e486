"""``grukit.models.load`` reads a ``ModelCheckpoint`` file as the model it holds, as Keras'
``load_model`` reads its ModelCheckpoint's: with ``save_best_only`` the best epoch's."""

import numpy as np
import torch

from grukit import models
from grukit.layers import GRU, Dense
from grukit.models import Callback, ModelCheckpoint, Sequential


class _Record(Callback):
    def __init__(self, x):
        self.x, self.seen = x, []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append((logs["val_loss"], self.model.predict(self.x)))


def test_load_of_a_save_best_only_checkpoint_is_the_best_epochs_model(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6, 2)).astype(np.float32)
    y = x.sum((1, 2))[:, None]
    torch.manual_seed(0)
    m = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    m.compile(optimizer=torch.optim.SGD(m.parameters(), lr=0.3), loss="mse")  # a jumpy path
    rec, path = _Record(x), str(tmp_path / "best.ckpt")
    m.fit(x, y, epochs=6, batch_size=8, validation_split=0.25, verbose=0, seed=0,
          callbacks=[ModelCheckpoint(path, save_best_only=True), rec])
    losses = [v for v, _ in rec.seen]
    best = int(np.argmin(losses))
    assert best != len(losses) - 1, losses  # else the test could not tell best from last
    np.testing.assert_array_equal(models.load(path).predict(x), rec.seen[best][1])


def test_filepath_fields_are_filled_as_keras_fills_them(tmp_path):
    import pytest

    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 3, 2)).astype(np.float32)
    y = x.sum((1, 2))[:, None]
    m = Sequential([GRU(2, input_shape=(3, 2)), Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    pattern = str(tmp_path / "m-{epoch:02d}-{val_loss:.2f}.pt")
    h = m.fit(x, y, epochs=2, batch_size=4, validation_split=0.25, verbose=0,
              callbacks=[ModelCheckpoint(pattern),
                         ModelCheckpoint(str(tmp_path / "b{epoch}-{batch}.pt"),
                                         every_n_batches=1)])
    want = {f"m-{e + 1:02d}-{v:.2f}.pt" for e, v in enumerate(h.history["val_loss"])}
    want |= {"b1-1.pt", "b1-2.pt", "b2-1.pt", "b2-2.pt"}
    assert {p.name for p in tmp_path.iterdir()} == want  # one file per write
    np.testing.assert_array_equal(models.load(tmp_path / sorted(want)[-1]).predict(x),
                                  m.predict(x))
    with pytest.raises(ValueError, match="cannot be filled"):
        m.fit(x, y, epochs=1, verbose=0,
              callbacks=[ModelCheckpoint(str(tmp_path / "{val_acc}.pt"))])


def test_checkpoint_folder_checked_before_training(tmp_path):
    """A directory as filepath is refused before the first epoch, the weights untouched; a
    missing folder is made, as Keras makes it."""
    import pytest

    x = np.random.default_rng(2).normal(size=(8, 3, 2)).astype(np.float32)
    y = x.sum((1, 2))[:, None]
    m = Sequential([GRU(2, input_shape=(3, 2)), Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(ValueError, match="is a directory"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path))])
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    path = tmp_path / "new" / "deeper" / "m.ckpt"
    m.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(path))])
    np.testing.assert_array_equal(models.load(path).predict(x), m.predict(x))


def test_a_checkpoint_named_safetensors_loads_and_resumes(tmp_path):
    """torch.load reads a path named *.safetensors as safetensors, so a ModelCheckpoint file
    of that name (torch.save's format) was called truncated or damaged and its training state
    could not be reached."""
    import numpy as np
    import torch

    from grukit.layers import GRU, Dense
    from grukit.models import ModelCheckpoint, Sequential, load_model

    x = np.random.default_rng(0).standard_normal((16, 4, 2)).astype("float32")
    y = x[:, -1, :1]

    def model():
        torch.manual_seed(0)
        m = Sequential([GRU(3, input_shape=(4, 2)), Dense(1)])
        m.compile("adam", "mse")
        return m

    path = str(tmp_path / "ckpt.safetensors")
    first = model()
    first.fit(x, y, epochs=1, batch_size=8, seed=1, verbose=0, callbacks=[ModelCheckpoint(path)])
    np.testing.assert_array_equal(load_model(path).predict(x, verbose=0),
                                  first.predict(x, verbose=0))
    whole = model()
    whole.fit(x, y, epochs=2, batch_size=8, seed=1, verbose=0)
    resumed = model()
    resumed.fit(x, y, epochs=2, batch_size=8, seed=1, verbose=0, resume_from=path)
    for a, b in zip(resumed.parameters(), whole.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
