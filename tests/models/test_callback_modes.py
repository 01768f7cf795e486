"""EarlyStopping, ModelCheckpoint and ReduceLROnPlateau: Keras' mode ("auto" maximizes
accuracies, minimizes losses) and ReduceLROnPlateau's patience counted as Keras counts it."""

import os

import pytest
import torch

from grukit import layers as gl
from grukit.models import Sequential
from grukit.models.callbacks import EarlyStopping, ModelCheckpoint, ReduceLROnPlateau


def _model():
    m = Sequential([gl.Dense(1, input_shape=(2,))])
    m.compile(optimizer="sgd", loss="mse")
    return m


def _stop_epoch(cb, values, monitor):
    m = _model()
    cb.model = m
    cb.on_train_begin()
    for epoch, v in enumerate(values):
        cb.on_epoch_end(epoch, {monitor: v})
        if m.stop_training:
            return epoch
    return None


def test_early_stopping_auto_maximizes_accuracy_and_minimizes_loss():
    rising = [0.5, 0.7, 0.9, 0.6, 0.4]
    assert _stop_epoch(EarlyStopping("val_accuracy", patience=1), rising, "val_accuracy") == 3
    assert _stop_epoch(EarlyStopping("val_loss", patience=1), rising, "val_loss") == 1
    assert _stop_epoch(EarlyStopping("val_accuracy", patience=1, mode="min"), rising,
                       "val_accuracy") == 1


@pytest.mark.parametrize("cls", [EarlyStopping, ReduceLROnPlateau])
def test_mode_is_checked(cls):
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max'"):
        cls(monitor="val_loss", mode="up")
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max'"):
        ModelCheckpoint("x.ckpt", mode="maximum")
    # auto: an error shrinks; a name it cannot read is refused, not guessed
    from grukit.models.callbacks import _mode

    assert [_mode("x", n, "auto") for n in ("val_mae", "mse", "val_auc")] == ["min", "min", "max"]
    with pytest.raises(ValueError, match=r"cannot tell whether 'val_ndcg' improves as it "
                                         r"grows or as it shrinks; pass mode='max'"):
        cls(monitor="val_ndcg")
    assert cls(monitor="val_ndcg", mode="max")


def test_checkpoint_keeps_the_best_accuracy(tmp_path):
    path = os.fspath(tmp_path / "best.ckpt")
    cb = ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True)
    cb.model = _model()
    for epoch, v in enumerate([0.5, 0.7, 0.9, 0.6]):
        cb.on_epoch_end(epoch, {"val_accuracy": v})
    assert torch.load(path, weights_only=True)["epoch"] == 3  # written after epoch index 2


@pytest.mark.parametrize("monitor", ["val_loss", "val_accuracy"])
def test_checkpoint_never_takes_a_nan_for_the_best(tmp_path, monitor):
    """As Keras: a NaN is no improvement, and the best value stays the one before it."""
    path = os.fspath(tmp_path / "best.ckpt")
    cb = ModelCheckpoint(path, monitor=monitor, save_best_only=True)
    cb.model = _model()
    good, worse = (0.5, 0.9) if monitor == "val_loss" else (0.9, 0.5)
    for epoch, v in enumerate([good, float("nan"), worse]):
        cb.on_epoch_end(epoch, {monitor: v})
    assert torch.load(path, weights_only=True)["epoch"] == 1  # the first epoch's, kept


def test_save_best_only_with_every_n_batches_is_refused(tmp_path):
    """A mid-epoch write would replace the best epoch's model with the current one."""
    with pytest.raises(ValueError, match="two ModelCheckpoints"):
        ModelCheckpoint(os.fspath(tmp_path / "b.ckpt"), save_best_only=True, every_n_batches=2)


def _lrs(cb, values, monitor="val_loss"):
    m = _model()
    cb.model = m
    cb.on_train_begin()
    out = []
    for epoch, v in enumerate(values):
        cb.on_epoch_end(epoch, {monitor: v})
        out.append(round(m.optimizer.param_groups[0]["lr"], 8))
    return out


def test_reduce_lr_after_patience_epochs_without_gain():
    # as Keras: patience=2 on a flat curve halves the rate after epochs 2 and 4 (0-based)
    got = _lrs(ReduceLROnPlateau(factor=0.5, patience=2), [1.0] * 5)
    assert got == [0.01, 0.01, 0.005, 0.005, 0.0025]
    got = _lrs(ReduceLROnPlateau("val_accuracy", factor=0.5, patience=1),
               [0.5, 0.6, 0.7, 0.7], "val_accuracy")
    assert got == [0.01, 0.01, 0.01, 0.005]


def test_reduce_lr_matches_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    values = [1.0, 0.9, 0.9, 0.95, 0.8, 0.8, 0.8, 0.8]
    km = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    km.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    kcb = keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=2, min_delta=0.0)
    kcb.set_model(km)
    kcb.on_train_begin()
    theirs = []
    for epoch, v in enumerate(values):
        kcb.on_epoch_end(epoch, {"val_loss": v})
        theirs.append(round(float(keras.ops.convert_to_numpy(km.optimizer.learning_rate)), 8))
    assert _lrs(ReduceLROnPlateau(factor=0.5, patience=2), values) == theirs


def test_checkpoint_makes_the_folder_its_fields_name(tmp_path):
    # as Keras: "run-{epoch}/model.ckpt" writes each epoch's file in a folder made then
    import numpy as np

    from grukit.models import load

    x = np.random.default_rng(0).normal(size=(8, 2)).astype("float32")
    m = _model()
    m.fit(x, x.sum(1, keepdims=True), epochs=2, verbose=0,
          callbacks=[ModelCheckpoint(os.fspath(tmp_path / "run-{epoch}" / "model.ckpt"))])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-1", "run-2"]
    np.testing.assert_allclose(load(tmp_path / "run-2" / "model.ckpt").predict(x),
                               m.predict(x), rtol=1e-6)


def test_only_the_main_process_prints(monkeypatch, capsys):
    # under torchrun only rank 0 logs: the other processes' callbacks print nothing
    import grukit.models.callbacks as cbs
    from grukit.models import LearningRateScheduler

    monkeypatch.setattr(cbs, "is_main_process", lambda: False)
    m = _model()
    stop = EarlyStopping("loss", patience=0, verbose=1, restore_best_weights=True)
    plateau = ReduceLROnPlateau("loss", patience=0, verbose=1)
    scheduler = LearningRateScheduler(lambda epoch, lr: lr, verbose=1)
    for cb in (stop, plateau, scheduler):
        cb.model = m
        cb.on_train_begin()
    for epoch, v in enumerate([1.0, 2.0]):
        scheduler.on_epoch_begin(epoch)
        for cb in (stop, plateau):
            cb.on_epoch_end(epoch, {"loss": v})
    stop.on_train_end()
    assert stop.stopped_epoch == 1 and m.optimizer.param_groups[0]["lr"] < 0.01
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("kw,match", [
    ({"factor": "0.5"}, "factor must be a number in"), ({"factor": 1.0}, "factor must be"),
    ({"min_lr": float("nan")}, "min_lr must be a finite number"),
    ({"min_lr": -1e-3}, "min_lr must be"),
])
def test_reduce_lr_refuses_a_factor_or_min_lr_it_cannot_use(kw, match):
    # a NaN min_lr left the rate unreduced for ever; a text factor failed on a comparison
    with pytest.raises(ValueError, match=match):
        ReduceLROnPlateau(**kw)
