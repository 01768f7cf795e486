"""Keras loss and metric objects given to compile keep their arguments through save and
load_model (Huber's delta, label_smoothing, from_logits, MeanIoU's num_classes): the loaded
model evaluates and trains as Keras does with the same objects; a class of one's own comes
back through custom_objects, and one whose arguments its get_config loses is refused at
save in one sentence."""

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit.layers import GRU, Dense  # noqa: E402
from grukit.models import Sequential, load_model  # noqa: E402

X = np.random.RandomState(3).randn(24, 6, 2).astype("float32")
Y = (3 * X.sum((1, 2))[:, None]).astype("float32")  # large errors: Huber's delta matters


def _pair(units=1, activation=None):
    k = keras.Sequential([keras.Input((6, 2)), keras.layers.GRU(4),
                          keras.layers.Dense(units, activation=activation)])
    g = Sequential([GRU(4, input_shape=(6, 2)), Dense(units, activation=activation)])
    g.set_weights(k.get_weights())
    return k, g


def _reloaded(g, path, **kwargs):
    g.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # loaded compiled: no warning
        return load_model(path, **kwargs)


def test_a_huber_delta_survives_save_and_trains_as_keras(tmp_path):
    k, g = _pair()
    k.compile(optimizer=keras.optimizers.SGD(0.01), loss=keras.losses.Huber(delta=2.0),
              metrics=[keras.metrics.MeanSquaredError(name="m2")])
    g.compile(optimizer="sgd", loss=keras.losses.Huber(delta=2.0),
              metrics=[keras.metrics.MeanSquaredError(name="m2")])
    back = _reloaded(g, tmp_path / "m.safetensors")
    back.optimizer.learning_rate = 0.01
    want = k.evaluate(X, Y, batch_size=32, verbose=0, return_dict=True)
    got = back.evaluate(X, Y, batch_size=32, verbose=0, return_dict=True)
    assert set(got) == {"loss", "m2"}
    for key in got:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5)
    theirs = k.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    ours = back.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-4)
    for a, b in zip(back.get_weights(), k.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-6)


def test_crossentropy_and_mean_iou_arguments_survive_save(tmp_path):
    k, g = _pair(units=3)
    y = np.eye(3, dtype="float32")[np.arange(len(X)) % 3]
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=0.1, from_logits=True)
    iou = keras.metrics.OneHotMeanIoU(num_classes=3, name="iou")
    k.compile("sgd", loss=loss, metrics=[iou])
    g.compile("sgd", loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1,
                                                               from_logits=True),
              metrics=[keras.metrics.OneHotMeanIoU(num_classes=3, name="iou")])
    back = _reloaded(g, tmp_path / "m.safetensors")
    want = k.evaluate(X, y, batch_size=32, verbose=0, return_dict=True)
    got = back.evaluate(X, y, batch_size=32, verbose=0, return_dict=True)
    for key in ("loss", "iou"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5)
    config = back.get_compile_config()
    assert config["loss"]["keras_object"]["config"]["label_smoothing"] == 0.1


@keras.saving.register_keras_serializable(package="kerasfit_test")
class Scaled(keras.losses.Loss):
    """scale · mean squared error, with a get_config that returns scale."""

    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, y_true, y_pred):
        return self.scale * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)

    def get_config(self):
        return super().get_config() | {"scale": self.scale}


class Forgetful(keras.losses.Loss):
    """A subclass whose get_config leaves its argument out."""

    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, y_true, y_pred):
        return self.scale * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


def test_a_loss_class_of_ones_own_comes_back_and_one_that_loses_an_argument_is_refused(
        tmp_path):
    _, g = _pair()
    g.compile("sgd", loss=Scaled(scale=3.0))
    back = _reloaded(g, tmp_path / "m.safetensors")
    assert back.evaluate(X, Y, verbose=0) == pytest.approx(g.evaluate(X, Y, verbose=0),
                                                           rel=1e-6)
    g.compile("sgd", loss=Forgetful(scale=3.0))
    with pytest.raises(ValueError, match="get_config does not return scale=3.0"):
        g.save(tmp_path / "f.safetensors")
    assert not (tmp_path / "f.safetensors").exists()
    g.compile("sgd", loss=Forgetful(scale=1.0))  # the default: nothing lost
    g.save(tmp_path / "f.safetensors")
    with pytest.warns(UserWarning, match="custom_objects=.'Forgetful'"):
        assert not load_model(tmp_path / "f.safetensors").compiled
    back = load_model(tmp_path / "f.safetensors", custom_objects={"Forgetful": Forgetful})
    assert back.compiled and isinstance(back.loss_fn, object)


@pytest.mark.parametrize("loss", [lambda: keras.losses.MeanSquaredError(reduction="sum"),
                                  lambda: _per_batch_sum])
def test_evaluate_averages_a_per_batch_loss_over_its_batches_as_keras(loss):
    """A loss whose value is the batch's (reduction="sum", a function returning one number
    per batch): evaluate and val_loss average the batches' values by their sizes, as Keras
    (the whole data's sum was taken, 3× Keras' value over 3 batches)."""
    k, g = _pair()
    k.compile(optimizer=keras.optimizers.SGD(1e-4), loss=loss())
    g.compile(optimizer="sgd", loss=loss())
    g.optimizer.learning_rate = 1e-4
    np.testing.assert_allclose(g.evaluate(X, Y, batch_size=8, verbose=0),
                               k.evaluate(X, Y, batch_size=8, verbose=0), rtol=1e-5)
    fit = dict(epochs=1, batch_size=8, shuffle=False, verbose=0, validation_data=(X, Y))
    theirs, ours = k.fit(X, Y, **fit).history, g.fit(X, Y, **fit).history
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5)


def _per_batch_sum(y_true, y_pred):
    return keras.ops.sum(keras.ops.square(y_true - y_pred))


def test_a_keras_loss_object_takes_sample_weights_as_keras():
    """keras.losses.Huber(delta=2.0) with sample_weight: Keras' numbers and weights (the
    weights were refused: the object returns one number per batch)."""
    k, g = _pair()
    w = np.linspace(0.2, 2.0, len(X)).astype("float32")
    k.compile(optimizer=keras.optimizers.SGD(0.01), loss=keras.losses.Huber(delta=2.0))
    g.compile(optimizer="sgd", loss=keras.losses.Huber(delta=2.0))
    g.optimizer.learning_rate = 0.01
    fit = dict(epochs=2, batch_size=8, shuffle=False, verbose=0, sample_weight=w)
    theirs, ours = k.fit(X, Y, **fit).history, g.fit(X, Y, **fit).history
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-4)
    for a, b in zip(g.get_weights(), k.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-6)
    np.testing.assert_allclose(g.evaluate(X, Y, sample_weight=w, verbose=0),
                               k.evaluate(X, Y, sample_weight=w, verbose=0), rtol=1e-5)


def test_a_checkpoint_of_a_loss_no_file_keeps_is_written_and_loads_uncompiled(tmp_path):
    """ModelCheckpoint during fit with such a loss: the run goes on and resumes (it stopped
    at the first checkpoint); load_model of the file says why it is uncompiled."""
    from grukit.models import ModelCheckpoint

    _, g = _pair()
    g.compile("sgd", loss=Forgetful(scale=3.0))
    ck = str(tmp_path / "ck.pt")
    g.fit(X, Y, epochs=1, verbose=0, seed=0, callbacks=[ModelCheckpoint(ck)])
    g.fit(X, Y, epochs=2, verbose=0, resume_from=ck)
    with pytest.warns(UserWarning, match="uncompiled because .*scale=3.0"):
        assert not load_model(ck).compiled
