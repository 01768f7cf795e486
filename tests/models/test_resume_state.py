"""A run interrupted mid-epoch and resumed from its checkpoint logs and trains as the run
that was never interrupted: the resumed epoch's loss and metrics are over all its batches,
and a learning-rate schedule is not applied twice."""

import re

import numpy as np
import pytest
import torch

from grukit.layers import GRU, Dense
from grukit.models import Callback, LearningRateScheduler, ModelCheckpoint, Sequential
from grukit.models.optimizers import Adam


class _Stop(Callback):
    """Ctrl-C after batch ``at`` of epoch ``epoch``."""

    def __init__(self, epoch, at):
        self.epoch, self.at = epoch, at

    def on_batch_end(self, batch, logs=None):
        if self.model._epoch == self.epoch and batch == self.at:
            raise KeyboardInterrupt


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 6, 2)).astype("float32")
    return x, x.sum(axis=(1, 2))[:, None].astype("float32")


def _model():
    torch.manual_seed(0)
    m = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    m.compile(optimizer=Adam(learning_rate=1e-2, clipnorm=1.0), loss="mse", metrics=["mae"])
    return m


def _fit(m, ckpt, *extra, resume=False):
    x, y = _data()
    cbs = [ModelCheckpoint(ckpt, every_n_batches=2), *extra,
           LearningRateScheduler(lambda epoch, lr: lr * 0.5)]
    return m.fit(x, y, batch_size=8, epochs=3, seed=7, verbose=0, callbacks=cbs,
                 validation_data=(x[:10], y[:10]), resume_from=ckpt if resume else None)


def test_mid_epoch_resume_matches_the_uninterrupted_run(tmp_path):
    full = _model()
    h = _fit(full, str(tmp_path / "a.ckpt"))
    ckpt = str(tmp_path / "b.ckpt")
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), ckpt, _Stop(epoch=1, at=3))  # checkpoint after batch 4 of epoch 2
    resumed = _model()
    r = _fit(resumed, ckpt, resume=True)
    assert r.epoch == [1, 2]
    assert r.history["learning_rate"] == h.history["learning_rate"][1:]  # 0.0025, 0.00125
    for k in h.history:
        np.testing.assert_allclose(r.history[k], h.history[k][1:], rtol=1e-6, err_msg=k)
    for k, v in full.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=0, atol=1e-6)


@pytest.mark.parametrize("change", [{"batch_size": 16}, {"shuffle": False}, {"n": 40},
                                    {"seed": 3}])
def test_a_resume_that_would_cut_other_batches_is_refused_and_changes_nothing(tmp_path,
                                                                              change):
    x, y = _data()
    ckpt = str(tmp_path / "b.ckpt")
    with pytest.raises(KeyboardInterrupt):
        _model().fit(x, y, batch_size=8, epochs=2, seed=7, verbose=0,
                     callbacks=[ModelCheckpoint(ckpt, every_n_batches=2), _Stop(0, 3)])
    m = _model()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    n = change.pop("n", len(x))
    kw = {"batch_size": 8, "seed": 7, "shuffle": True} | change
    with pytest.raises(ValueError, match="resume|another way"):
        m.fit(x[:n], y[:n], epochs=2, verbose=0, resume_from=ckpt, **kw)
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    # the same plan resumes; without seed, the checkpoint's
    m.fit(x, y, batch_size=8, epochs=2, verbose=0, resume_from=ckpt)


@pytest.mark.parametrize("other", [
    {"loss": "mae"},
    {"optimizer": Adam(learning_rate=1e-2)},  # no clipnorm
    {"optimizer": Adam(learning_rate=1e-2, clipvalue=1.0)},
    {"dtype": torch.float64},
], ids=["loss", "no-clipnorm", "clipvalue", "float64"])
def test_a_checkpoint_of_another_loss_clipping_or_dtype_is_refused(tmp_path, other):
    x, y = _data()
    ckpt = str(tmp_path / "a.ckpt")
    _model().fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[ModelCheckpoint(ckpt)])
    torch.manual_seed(1)
    m = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    dtype = other.pop("dtype", None)
    if dtype is not None:
        m.to(dtype)
    m.compile(**({"optimizer": Adam(learning_rate=1e-2, clipnorm=1.0), "loss": "mse"} | other))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(ValueError, match="was written by a run with"):
        m.fit(x, y, batch_size=16, epochs=2, verbose=0, resume_from=ckpt)
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())


@pytest.mark.parametrize("other,said", [
    (Adam(learning_rate=1e-2, clipnorm=1.0, beta_1=0.5), "betas=(0.9, 0.999) there, (0.5,"),
    (Adam(learning_rate=1e-2, clipnorm=1.0, amsgrad=True), "amsgrad=False there, True here"),
], ids=["beta_1", "amsgrad"])
def test_a_checkpoint_of_other_optimizer_settings_is_refused(tmp_path, other, said):
    # the checkpoint's settings replaced the compiled ones without a word
    x, y = _data()
    ckpt = str(tmp_path / "a.ckpt")
    _model().fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[ModelCheckpoint(ckpt)])
    m = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    m.compile(optimizer=other, loss="mse", metrics=["mae"])
    with pytest.raises(ValueError, match=f"whose optimizer had {re.escape(said)}"):
        m.fit(x, y, batch_size=16, epochs=2, verbose=0, resume_from=ckpt)
    m.compile(optimizer=Adam(learning_rate=1e-3, clipnorm=1.0), loss="mse", metrics=["mae"])
    m.fit(x, y, batch_size=16, epochs=2, verbose=0, resume_from=ckpt)  # the rate may differ
    assert m.optimizer.learning_rate == pytest.approx(1e-2)  # the run's, as it left it


def test_a_rate_lowered_by_reduce_lr_on_plateau_is_in_the_checkpoint(tmp_path):
    """Listed before ReduceLROnPlateau, the checkpoint is still written after it: the resumed
    run goes on with the lowered rate, as the uninterrupted one."""
    from grukit.models import ReduceLROnPlateau

    x, y = _data()
    ckpt = str(tmp_path / "a.ckpt")
    m = _model()
    m.fit(x, y, batch_size=16, epochs=2, verbose=0,  # the second epoch lowers the rate
          callbacks=[ModelCheckpoint(ckpt), ReduceLROnPlateau("loss", patience=0,
                                                              min_delta=1e9, factor=0.5)])
    assert m.optimizer.param_groups[0]["lr"] == 5e-3
    r = _model()
    r.fit(x, y, batch_size=16, epochs=2, verbose=0, resume_from=ckpt)  # loads, trains nothing
    assert r.optimizer.param_groups[0]["lr"] == 5e-3


def test_a_resumed_run_replaces_the_best_checkpoint_only_with_a_better_model(tmp_path):
    from grukit.models import LambdaCallback

    x, y = _data()
    best, last = str(tmp_path / "best.ckpt"), str(tmp_path / "last.ckpt")
    scores = {0: 1.0, 1: 2.0, 2: 1.5, 3: 0.5}  # val_loss by epoch; the best file: epoch 1, 4

    def run(m, epochs, resume):
        fake = LambdaCallback(on_epoch_end=lambda e, logs: logs.update(val_loss=scores[e]))
        m.fit(x, y, batch_size=16, epochs=epochs, seed=7, verbose=0,
              resume_from=last if resume else None,
              callbacks=[fake, ModelCheckpoint(best, save_best_only=True),
                         ModelCheckpoint(last)])

    run(_model(), 2, resume=False)  # stopped after epoch 2
    run(_model(), 3, resume=True)  # epoch 3 (1.5) is worse than epoch 1's 1.0
    assert torch.load(best, weights_only=True)["epoch"] == 1
    run(_model(), 4, resume=True)  # epoch 4 (0.5) is better
    assert torch.load(best, weights_only=True)["epoch"] == 4


def test_an_empty_truncated_or_foreign_checkpoint_is_refused_in_one_sentence(tmp_path):
    x, y = _data()
    good = tmp_path / "a.ckpt"
    m = _model()
    m.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(good))])
    (tmp_path / "empty.ckpt").write_bytes(b"")
    (tmp_path / "half.ckpt").write_bytes(good.read_bytes()[:good.stat().st_size // 2])
    m.save(str(tmp_path / "model.safetensors"))
    said = {"empty.ckpt": "is empty", "half.ckpt": "truncated or damaged",
            "model.safetensors": "grukit.models.load", ".": "is a directory"}
    for name, what in said.items():
        r = _model()
        before = {k: v.clone() for k, v in r.state_dict().items()}
        with pytest.raises((ValueError, OSError), match=what) as err:
            r.fit(x, y, epochs=2, verbose=0, resume_from=str(tmp_path / name))
        assert "\n" not in str(err.value)
        assert all(torch.equal(v, before[k]) for k, v in r.state_dict().items())


def test_early_stopping_and_plateau_counters_survive_a_resume(tmp_path):
    """ReduceLROnPlateau(patience=2) that waited one epoch before the interruption lowers
    the rate one epoch after it, as the uninterrupted run; EarlyStopping's best weights come
    from before the interruption when that epoch was the best."""
    from grukit.models import EarlyStopping, LambdaCallback, ReduceLROnPlateau

    x, y = _data()
    scores = {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0}  # only the first epoch improves
    ckpt = str(tmp_path / "last.ckpt")

    def run(m, epochs, resume):
        fake = LambdaCallback(on_epoch_end=lambda e, logs: logs.update(val_loss=scores[e]))
        stop = EarlyStopping(patience=5, restore_best_weights=True)
        plateau = ReduceLROnPlateau(patience=2, factor=0.5)
        h = m.fit(x, y, batch_size=16, epochs=epochs, seed=7, verbose=0,
                  resume_from=ckpt if resume else None,
                  callbacks=[fake, stop, plateau, ModelCheckpoint(ckpt)])
        return h.history["learning_rate"]

    full = _model()
    want = run(full, 4, resume=False)
    run(_model(), 2, resume=False)  # interrupted after epoch 2
    resumed = _model()
    assert run(resumed, 4, resume=True) == want[2:]  # lowered after epoch 3 in both
    for k, v in full.state_dict().items():  # the first epoch's weights, put back
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=0, atol=1e-6)


def test_a_callback_state_of_another_monitor_is_not_taken():
    from grukit.models import EarlyStopping, ReduceLROnPlateau

    for cls in (EarlyStopping, ReduceLROnPlateau):
        saved = cls(monitor="val_loss")
        saved.on_train_begin()
        saved.best, saved.wait = 0.25, 3
        other = cls(monitor="val_accuracy")
        other.on_train_begin()
        other.set_state(saved.get_state())
        assert (other.best, other.wait) == (float("inf"), 0)
        same = cls(monitor="val_loss")
        same.on_train_begin()
        same.set_state(saved.get_state())
        assert (same.best, same.wait) == (0.25, 3)


def test_the_gpu_random_generators_are_kept_and_restored(tmp_path, monkeypatch):
    """Dropout on a GPU draws from CUDA's generators: a checkpoint keeps their states and a
    resume sets them back (torch.cuda stood in for, so that this runs on any machine)."""
    from grukit.models.loop import restore
    from grukit.models.saving import save_checkpoint

    m = _model()
    gens = [torch.arange(8, dtype=torch.uint8)]
    put = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: gens)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", put.append)
    path = str(tmp_path / "c.ckpt")
    save_checkpoint(m, path, epoch=1, batch=0)
    restore(m, m.optimizer, path)
    assert len(put) == 1 and torch.equal(put[0][0], gens[0])


def test_frozen_layers_resume_frozen_and_a_thawed_model_is_told_what_differs(tmp_path):
    x, y = _data()
    ckpt = str(tmp_path / "f.ckpt")

    def frozen():
        m = _model()
        m.stack[0].trainable = False
        m.compile(optimizer=Adam(learning_rate=1e-2, clipnorm=1.0), loss="mse")
        return m

    m = frozen()
    gru = {k: v.clone() for k, v in m.stack[0].state_dict().items()}
    m.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[ModelCheckpoint(ckpt)])
    r = frozen()
    r.fit(x, y, batch_size=16, epochs=2, verbose=0, resume_from=ckpt)
    assert all(torch.equal(v, gru[k]) for k, v in r.stack[0].state_dict().items())
    with pytest.raises(ValueError, match=r"layers\[0\]\.config\.trainable is False there"):
        _model().fit(x, y, batch_size=16, epochs=2, verbose=0, resume_from=ckpt)


def test_numpy_numbers_in_the_training_state_leave_the_checkpoint_readable(tmp_path):
    """A seed given as np.int64 and a monitored metric a callback logs as np.float64 (what
    scikit-learn's metrics return) are written as Python numbers: the loader that reads a
    checkpoint back (torch.load(weights_only=True)) refuses numpy objects."""
    from grukit.models import EarlyStopping, LambdaCallback, ReduceLROnPlateau

    x, y = _data()
    ckpt, best = str(tmp_path / "last.ckpt"), str(tmp_path / "best.ckpt")

    def run(epochs, resume):
        f1 = LambdaCallback(on_epoch_end=lambda e, logs: logs.update(
            val_f1=np.float64(0.5 + e / 10)))
        return _model().fit(
            x, y, batch_size=16, epochs=epochs, seed=np.int64(7), verbose=0,
            resume_from=ckpt if resume else None,
            callbacks=[f1, EarlyStopping("val_f1", mode="max", patience=3),
                       ReduceLROnPlateau("val_f1", mode="max", patience=3),
                       ModelCheckpoint(best, monitor="val_f1", mode="max", save_best_only=True),
                       ModelCheckpoint(ckpt)])

    run(1, resume=False)
    assert run(2, resume=True).epoch == [1]


def test_a_numpy_seed_orders_the_epochs_as_the_same_int():
    x, y = _data()
    a, b = _model(), _model()
    a.fit(x, y, batch_size=16, epochs=1, seed=7, verbose=0)
    b.fit(x, y, batch_size=16, epochs=1, seed=np.int64(7), verbose=0)
    for k, v in a.state_dict().items():
        assert torch.equal(b.state_dict()[k], v)
    with pytest.raises(TypeError, match="seed must be a whole number"):
        _model().fit(x, y, epochs=1, seed=1.5, verbose=0)


@pytest.mark.parametrize("kind", ["arrays", "dataset"])
def test_dropout_masks_after_a_mid_epoch_resume_are_the_uninterrupted_runs(tmp_path, kind):
    from grukit.layers import Dropout

    x, y = _data()
    data = (x, y) if kind == "arrays" else (
        torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)), None)

    def model():
        torch.manual_seed(0)
        m = Sequential([GRU(4, input_shape=(6, 2), dropout=0.3), Dropout(0.3), Dense(1)])
        m.compile(optimizer="adam", loss="mse")
        return m

    def fit(m, *cbs, resume=None):
        return m.fit(*data, batch_size=8, epochs=2, seed=7, verbose=0, callbacks=list(cbs),
                     resume_from=resume)

    full = model()
    h = fit(full)
    ckpt = str(tmp_path / "d.ckpt")
    with pytest.raises(KeyboardInterrupt):
        fit(model(), ModelCheckpoint(ckpt, every_n_batches=2), _Stop(epoch=1, at=3))
    resumed = model()
    np.testing.assert_allclose(fit(resumed, resume=ckpt).history["loss"],
                               h.history["loss"][1:], rtol=1e-6)
    for k, v in full.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=0, atol=1e-6)


def test_a_checkpoint_past_epochs_is_said_to_have_trained_nothing(tmp_path):
    """A checkpoint written at the end of epoch 3, resumed with epochs=2, trained nothing and
    gave the 3-epoch model without a word (Keras too trains nothing past epochs)."""
    x, y = _data()
    ckpt = str(tmp_path / "c.ckpt")
    m = _model()
    m.fit(x, y, batch_size=8, epochs=3, seed=7, verbose=0, callbacks=[ModelCheckpoint(ckpt)])
    with pytest.warns(RuntimeWarning, match=r"^the checkpoint resumed from has trained 3 "
                                            r"epochs, more than epochs=2: nothing was trained"):
        h = _model().fit(x, y, batch_size=8, epochs=2, seed=7, verbose=0, resume_from=ckpt)
    assert h.epoch == []
    import warnings

    with warnings.catch_warnings():  # a finished run resumed at its end says nothing
        warnings.simplefilter("error", RuntimeWarning)
        _model().fit(x, y, batch_size=8, epochs=3, seed=7, verbose=0, resume_from=ckpt)
    # written after batch 4 of epoch 2, resumed with epochs=1: past epochs too (it said nothing)
    mid = str(tmp_path / "m.ckpt")
    with pytest.raises(KeyboardInterrupt):
        _model().fit(x, y, batch_size=8, epochs=3, seed=7, verbose=0,
                     callbacks=[ModelCheckpoint(mid, every_n_batches=2), _Stop(1, 3)])
    with pytest.warns(RuntimeWarning, match=r"^the checkpoint resumed from has trained 1 "
                                            r"epoch and 4 batches of epoch 2, more than "
                                            r"epochs=1: nothing was trained"):
        h = _model().fit(x, y, batch_size=8, epochs=1, seed=7, verbose=0, resume_from=mid)
    assert h.epoch == []
