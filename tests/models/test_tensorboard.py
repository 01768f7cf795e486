"""``TensorBoard``: the event files read back with tensorboard's own reader hold what
Keras 3's callback writes (tags, folders, steps) and the values fit logged."""

import sys

import numpy as np
import pytest
import torch

from grukit.layers import GRU, Dense
from grukit.models import Sequential, TensorBoard

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)


def _fit(tmp_path, epochs=3, **settings):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5, 2)).astype("float32")
    y = x[:, -1, :1]
    torch.manual_seed(0)
    model = Sequential([GRU(4, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    hist = model.fit(x, y, epochs=epochs, batch_size=16, validation_split=0.25, verbose=0,
                     callbacks=[TensorBoard(log_dir=tmp_path / "logs", **settings)])
    return model, hist


def _read(folder):
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0,
                                                       "tensors": 0})
    acc.Reload()
    return acc


def _scalars(acc, tag):
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_epoch_scalars_are_the_history_in_keras_folders_and_tags(tmp_path):
    _, hist = _fit(tmp_path)
    train, val = _read(tmp_path / "logs" / "train"), _read(tmp_path / "logs" / "validation")
    h = hist.history
    for tag, key in (("epoch_loss", "loss"), ("epoch_mae", "mae")):
        steps, values = zip(*_scalars(train, tag), strict=True)
        assert steps == (0, 1, 2)
        np.testing.assert_allclose(values, h[key], rtol=1e-6)
        steps, values = zip(*_scalars(val, tag), strict=True)
        np.testing.assert_allclose(values, h[f"val_{key}"], rtol=1e-6)
    assert [v for _, v in _scalars(train, "epoch_learning_rate")] == pytest.approx([1e-3] * 3)
    # 30 training samples, batches of 16: 2 optimizer steps an epoch
    steps = [s for s, _ in _scalars(val, "evaluation_loss_vs_iterations")]
    assert steps == [2, 4, 6]
    assert "keras" in str(train.Tags())  # write_graph: the model's config as text
    assert not any(t.startswith("batch_") for t in train.Tags()["scalars"])


def test_batch_scalars_every_n_batches_and_weight_histograms(tmp_path):
    model, _ = _fit(tmp_path, epochs=2, update_freq=2, histogram_freq=1)
    train = _read(tmp_path / "logs" / "train")
    assert [s for s, _ in _scalars(train, "batch_loss")] == [2, 4]
    hists = train.Tags()["histograms"]
    assert len(hists) == sum(1 for _ in model.parameters())
    some = next(t for t in hists if t.endswith("/histogram"))
    counts = [e.histogram_value.num for e in train.Histograms(some)]
    assert len(counts) == 2 and counts[0] > 0


def test_options_without_a_form_are_refused_and_a_missing_package_named(monkeypatch, tmp_path):
    for bad in ({"write_images": True}, {"embeddings_freq": 1}, {"profile_batch": 2},
                {"update_freq": 0}, {"histogram_freq": -1}):
        with pytest.raises(ValueError, match="TensorBoard: "):
            TensorBoard(log_dir=tmp_path, **bad)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match="pip install tensorboard"):
        TensorBoard(log_dir=tmp_path)


def test_keras_own_tensorboard_is_refused_naming_this_one(tmp_path):
    keras = pytest.importorskip("keras")
    model = Sequential([GRU(2, input_shape=(3, 1)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    with pytest.raises(TypeError, match="use grukit.models.TensorBoard"):
        model.fit(np.zeros((4, 3, 1), "float32"), np.zeros((4, 1), "float32"), verbose=0,
                  callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp_path))])
