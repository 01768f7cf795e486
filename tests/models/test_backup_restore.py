"""Keras' ``BackupAndRestore``: a fit interrupted and run again goes on from the backup to
the weights of an uninterrupted fit; the backup is removed when training ends; and
``TerminateOnNaN`` stops at a NaN loss."""

import numpy as np
import pytest
import torch

from grukit.layers import GRU, Dense, Dropout
from grukit.models import BackupAndRestore, Callback, Sequential, TerminateOnNaN

X = np.random.default_rng(0).standard_normal((40, 5, 2)).astype("float32")
Y = X[:, -1, :1] * 2


class Interrupt(Callback):
    """Stands for a killed job: raises after epoch ``at`` ends."""

    def __init__(self, at):
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt


def _model():
    torch.manual_seed(0)
    model = Sequential([GRU(4, input_shape=(5, 2), dropout=0.2), Dropout(0.3), Dense(1)])
    model.compile("adam", "mse")
    return model


def _fit(model, callbacks):
    return model.fit(X, Y, epochs=4, batch_size=8, seed=3, verbose=0, callbacks=callbacks)


@pytest.mark.parametrize("save_freq", ["epoch", 3])
def test_an_interrupted_fit_run_again_ends_as_an_uninterrupted_one(tmp_path, save_freq):
    whole = _model()
    _fit(whole, [])
    backup = BackupAndRestore(tmp_path / "backup", save_freq=save_freq)
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), [backup, Interrupt(at=1)])
    assert (tmp_path / "backup" / "latest.ckpt").is_file()
    again = _model()  # the rerun of the same script: a new process would start so
    history = _fit(again, [BackupAndRestore(tmp_path / "backup", save_freq=save_freq)])
    assert len(history.history["loss"]) == 2  # epochs 3 and 4 only
    for a, b in zip(again.parameters(), whole.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert not (tmp_path / "backup" / "latest.ckpt").exists()  # deleted at the end


def test_double_checkpoint_falls_back_when_the_latest_is_damaged(tmp_path):
    backup = BackupAndRestore(tmp_path, double_checkpoint=True, delete_checkpoint=False)
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), [backup, Interrupt(at=2)])
    (tmp_path / "latest.ckpt").write_bytes(b"PK\x03\x04 cut short")
    again = BackupAndRestore(tmp_path, double_checkpoint=True, delete_checkpoint=False)
    assert again.restore_from() == str(tmp_path / "previous.ckpt")
    history = _fit(_model(), [again])
    assert len(history.history["loss"]) == 2  # from the end of epoch 2 (the one before)
    assert (tmp_path / "latest.ckpt").is_file()  # delete_checkpoint=False keeps it
    with pytest.raises(ValueError, match="backup_dir must be a folder path"):
        BackupAndRestore("")


def test_terminate_on_nan_asks_the_loop_to_stop_at_a_nan_loss():
    model = _model()
    cb = TerminateOnNaN()
    cb.set_model(model)
    cb.on_batch_end(0, {"loss": 0.5})
    assert not model.stop_training
    cb.on_batch_end(1, {"loss": float("nan")})
    assert model.stop_training
    model = _model()  # in fit, with a rate that makes the loss overflow to inf
    model.optimizer.param_groups[0]["lr"] = 1e20
    with pytest.warns(RuntimeWarning):
        history = model.fit(X, Y, epochs=5, batch_size=8, verbose=0,
                            callbacks=[TerminateOnNaN()])
    assert len(history.history.get("loss", [])) < 5


def test_a_file_where_a_folder_goes_is_named_in_one_sentence(tmp_path):
    from grukit.models import TensorBoard

    pytest.importorskip("tensorboard")
    taken = tmp_path / "afile"
    taken.write_text("x")
    for cb, what in ((BackupAndRestore(taken), "BackupAndRestore: backup_dir"),
                     (TensorBoard(log_dir=taken), "TensorBoard: log_dir")):
        with pytest.raises(NotADirectoryError, match=f"{what} .* is a file; give a folder"):
            _fit(_model(), [cb])
    assert taken.read_text() == "x"
