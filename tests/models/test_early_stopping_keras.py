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
