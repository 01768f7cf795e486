"""EarlyStopping stops at the epoch Keras 3's does, fed the same monitored values."""

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit.models import EarlyStopping  # noqa: E402

CURVES = {
    "rise-after-2": [1.0, 0.9, 0.95, 0.97, 0.99, 1.0, 1.1, 1.2],
    "plateau": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
    "late-gain": [1.0, 1.1, 1.2, 0.8, 0.9, 0.95, 1.0, 1.0, 1.0],
}


class _Model:
    stop_training = False


def _stopped(cb, values, attach):
    model = _Model()
    attach(cb, model)
    cb.on_train_begin()
    for epoch, v in enumerate(values):
        cb.on_epoch_end(epoch, {"val_loss": v})
        if model.stop_training:
            return epoch
    return None


@pytest.mark.parametrize("patience", [0, 1, 2, 3])
@pytest.mark.parametrize("curve", CURVES, ids=list(CURVES))
def test_stops_at_the_epoch_keras_stops(curve, patience):
    values = CURVES[curve]
    theirs = _stopped(keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience),
                      values, lambda cb, m: cb.set_model(m))
    ours = _stopped(EarlyStopping("val_loss", patience=patience), values,
                    lambda cb, m: setattr(cb, "model", m))
    assert ours == theirs


@pytest.mark.parametrize("min_delta", [0.05, -0.05])
@pytest.mark.parametrize("curve", CURVES, ids=list(CURVES))
def test_min_delta_is_read_as_keras_reads_it(curve, min_delta):
    # Keras takes |min_delta|: a negative one is not a tolerance for getting worse
    values = CURVES[curve]
    theirs = _stopped(keras.callbacks.EarlyStopping(monitor="val_loss", patience=1,
                                                    min_delta=min_delta),
                      values, lambda cb, m: cb.set_model(m))
    ours = _stopped(EarlyStopping("val_loss", patience=1, min_delta=min_delta), values,
                    lambda cb, m: setattr(cb, "model", m))
    assert ours == theirs


@pytest.mark.parametrize("baseline,start", [(0.92, 0), (0.5, 0), (None, 2), (0.96, 3)])
@pytest.mark.parametrize("patience", [0, 1, 2])
@pytest.mark.parametrize("curve", CURVES, ids=list(CURVES))
def test_baseline_and_start_from_epoch_as_keras(curve, patience, baseline, start):
    values = CURVES[curve]
    kw = dict(monitor="val_loss", patience=patience, baseline=baseline, start_from_epoch=start)
    theirs = _stopped(keras.callbacks.EarlyStopping(**kw), values,
                      lambda cb, m: cb.set_model(m))
    ours = _stopped(EarlyStopping(**kw), values, lambda cb, m: setattr(cb, "model", m))
    assert ours == theirs


def test_keras_callback_arguments_are_taken(tmp_path, capsys):
    import numpy as np

    from grukit.layers import GRU, Dense
    from grukit.models import ModelCheckpoint, Sequential

    x = np.random.default_rng(0).random((40, 6, 2)).astype("float32")
    y = x.sum((1, 2))[:, None]
    m = Sequential([GRU(3, input_shape=(6, 2)), Dense(1)])
    m.compile("adam", "mse")
    path = tmp_path / "w.weights.h5"
    m.fit(x, y, epochs=3, verbose=0, validation_split=0.25, callbacks=[
        ModelCheckpoint(str(path), save_weights_only=True, save_best_only=True, verbose=1,
                        initial_value_threshold=-1.0),  # no loss beats it: nothing written
        EarlyStopping(patience=0, verbose=1, min_delta=100.0)])  # no second epoch gains
    out = capsys.readouterr().out
    assert not path.exists() and "Epoch 2: early stopping" in out
    m.fit(x, y, epochs=1, verbose=0, validation_split=0.25, callbacks=[
        ModelCheckpoint(str(path), save_weights_only=True, verbose=1, save_freq=2)])
    assert path.exists() and "saving model to" in capsys.readouterr().out
    other = Sequential([GRU(3, input_shape=(6, 2)), Dense(1)])
    other.load_weights(str(path))
    np.testing.assert_allclose(other.predict(x), m.predict(x), rtol=1e-6)
