"""Keras' scheduling callbacks and hooks, run beside Keras 3 (torch backend) on the same fit:
the learning rates each epoch logs, the rate left on the optimizer, and which hooks run in
which order with which arguments."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit.layers import GRU, Dense  # noqa: E402
from grukit.models import (  # noqa: E402
    Callback,
    LambdaCallback,
    LearningRateScheduler,
    ReduceLROnPlateau,
    Sequential,
)

X = np.random.RandomState(0).randn(48, 5, 2).astype("float32")
Y = X.sum((1, 2))[:, None]


def _fit(lib, callbacks, epochs=5, **kw):
    if lib == "keras":
        model = keras.Sequential([keras.Input((5, 2)), keras.layers.GRU(4),
                                  keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    else:
        model = Sequential([GRU(4, input_shape=(5, 2)), Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
    h = model.fit(X, Y, epochs=epochs, batch_size=16, verbose=0, callbacks=callbacks,
                  shuffle=False, **kw)
    lr = (float(model.optimizer.learning_rate) if lib == "keras"
          else model.optimizer.param_groups[0]["lr"])
    return h.history, lr


def _both(make, **kw):
    return [_fit(lib, make(lib), **kw) for lib in ("keras", "grukit")]


def test_reduce_lr_on_plateau_logs_the_epochs_rate_as_keras():
    # min_delta 10: only the first epoch counts as a gain, whatever the losses, so the
    # schedule of reductions is the same in both libraries
    def make(lib):
        cls = keras.callbacks.ReduceLROnPlateau if lib == "keras" else ReduceLROnPlateau
        return [cls(monitor="loss", patience=1, factor=0.5, min_delta=10)]

    (theirs, lr_k), (ours, lr_g) = _both(make)
    assert np.allclose(ours["learning_rate"], theirs["learning_rate"], rtol=1e-6)
    assert len(ours["learning_rate"]) == len(ours["loss"]) == 5
    assert lr_g == pytest.approx(lr_k, rel=1e-6)


@pytest.mark.parametrize("form", ["epoch_lr", "epoch_only"])
def test_learning_rate_scheduler_as_keras(form):
    if form == "epoch_lr":
        def schedule(epoch, lr):
            return lr if epoch < 2 else lr * 0.5
    else:
        def schedule(epoch):
            return 0.02 / (1 + epoch)

    def make(lib):
        cls = keras.callbacks.LearningRateScheduler if lib == "keras" else LearningRateScheduler
        return [cls(schedule)]

    (theirs, lr_k), (ours, lr_g) = _both(make)
    assert np.allclose(ours["learning_rate"], theirs["learning_rate"], rtol=1e-6)
    assert lr_g == pytest.approx(lr_k, rel=1e-6)


def test_scheduler_refuses_a_rate_that_is_no_number():
    model = Sequential([GRU(4, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    for bad in (None, float("nan"), -0.1, "0.1"):
        with pytest.raises(ValueError, match="must return a finite learning rate"):
            model.fit(X, Y, epochs=1, verbose=0,
                      callbacks=[LearningRateScheduler(lambda e, lr, b=bad: b)])
    with pytest.raises(TypeError, match="must be a function"):
        LearningRateScheduler(0.1)


def _recorder(lib, events):
    def note(name):
        def hook(*args, **kw):  # Keras passes a batch hook's logs by keyword
            *index, logs = (*args, kw["logs"]) if "logs" in kw else args
            events.append((name, *index, tuple(sorted(logs)) if logs is not None else None))
        return hook

    names = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
             "on_train_batch_begin", "on_train_batch_end"]
    cls = keras.callbacks.LambdaCallback if lib == "keras" else LambdaCallback
    return cls(**{n: note(n) for n in names})


def test_hooks_run_in_keras_order_with_keras_arguments():
    events = {"keras": [], "grukit": []}
    for lib in events:
        _fit(lib, [_recorder(lib, events[lib])], epochs=2, validation_split=0.25)
    assert events["grukit"] == events["keras"]
    assert ("on_train_batch_end", 2, ("loss",)) in events["grukit"]  # 36 samples: 3 batches


def test_subclass_hooks_and_params_as_keras():
    class Seen(Callback):
        def __init__(self):
            self.calls = []

        def on_batch_begin(self, batch, logs=None):
            self.calls.append(("batch_begin", batch))

        def on_batch_end(self, batch, logs=None):
            self.calls.append(("batch_end", batch))

        def on_test_begin(self, logs=None):
            self.calls.append(("test_begin",))

        def on_test_end(self, logs=None):
            self.calls.append(("test_end", tuple(sorted(logs))))

        def set_params(self, params):
            super().set_params(params)
            self.calls.append(("params", params["epochs"], params["steps"]))

    seen = Seen()
    model = Sequential([GRU(4, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0, validation_split=0.25,
              callbacks=[seen])
    assert seen.calls == [("params", 1, 3), ("batch_begin", 0), ("batch_end", 0),
                          ("batch_begin", 1), ("batch_end", 1), ("batch_begin", 2),
                          ("batch_end", 2), ("test_begin",), ("test_end", ("loss", "mae"))]


def test_a_hook_fit_never_calls_is_refused():
    class Predicting(Callback):
        def on_predict_batch_end(self, batch, logs=None):
            pass

    model = Sequential([GRU(4, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="overrides on_predict_batch_end, which fit never"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[Predicting()])
    with pytest.raises(ValueError, match="on_test_batch_end"):
        model.fit(X, Y, epochs=1, verbose=0,
                  callbacks=[LambdaCallback(on_test_batch_end=lambda b, logs: None)])


def test_batch_logs_are_the_epochs_running_means_as_keras():
    # same weights, same SGD: Keras' batch logs hold the loss and metrics averaged over the
    # epoch's batches so far (the last one equals the epoch's value)
    k = keras.Sequential([keras.Input((5, 2)), keras.layers.GRU(4), keras.layers.Dense(1)])
    k.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", metrics=["mae"])
    ours = Sequential([GRU(4, input_shape=(5, 2)), Dense(1)])
    ours.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    ours.set_weights(k.get_weights())
    logged = {"keras": [], "grukit": []}
    for lib, model in (("keras", k), ("grukit", ours)):
        cls = keras.callbacks.LambdaCallback if lib == "keras" else LambdaCallback
        record = cls(on_train_batch_end=lambda b, logs, got=logged[lib]: got.append(
            (logs["loss"], logs["mae"])))
        h = model.fit(X, Y, epochs=2, batch_size=16, verbose=0, shuffle=False,
                      callbacks=[record])
        assert logged[lib][2] == pytest.approx((h.history["loss"][0], h.history["mae"][0]),
                                               rel=1e-5)
    assert np.allclose(logged["grukit"], logged["keras"], rtol=1e-4)


def test_a_stop_asked_in_a_batch_hook_ends_the_epoch_there_as_keras():
    # Keras breaks the epoch after the batch whose hook set stop_training, then validates
    k = keras.Sequential([keras.Input((5, 2)), keras.layers.GRU(4), keras.layers.Dense(1)])
    k.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    ours = Sequential([GRU(4, input_shape=(5, 2)), Dense(1)])
    ours.compile(optimizer="sgd", loss="mse")
    ours.set_weights(k.get_weights())
    seen = {"keras": [], "grukit": []}
    for lib, model in (("keras", k), ("grukit", ours)):
        cls = keras.callbacks.LambdaCallback if lib == "keras" else LambdaCallback

        def end(batch, logs, model=model, got=seen[lib]):
            got.append(batch)
            model.stop_training = model.stop_training or batch == 1

        h = model.fit(X, Y, epochs=3, batch_size=8, verbose=0, shuffle=False,
                      validation_split=0.25, callbacks=[cls(on_train_batch_end=end)])
        assert {key: len(v) for key, v in h.history.items()} == {"loss": 1, "val_loss": 1}
    assert seen["grukit"] == seen["keras"] == [0, 1]
    for a, b in zip(ours.get_weights(), k.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_keras_callback_is_refused_naming_grukits_of_that_name():
    model = Sequential([GRU(2, input_shape=(3, 1)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x, y = np.zeros((4, 3, 1), np.float32), np.zeros((4, 1), np.float32)
    with pytest.raises(TypeError, match=r"got EarlyStopping from Keras; use "
                                        r"grukit\.models\.EarlyStopping \(the same arguments\)"):
        model.fit(x, y, callbacks=[keras.callbacks.EarlyStopping(patience=2)], verbose=0)
    with pytest.raises(TypeError, match=r"got RemoteMonitor\.$"):  # no grukit class of it
        model.fit(x, y, callbacks=[keras.callbacks.RemoteMonitor()], verbose=0)
    with pytest.raises(TypeError, match=r"use grukit\.models\.TerminateOnNaN"):
        model.fit(x, y, callbacks=[keras.callbacks.TerminateOnNaN()], verbose=0)
