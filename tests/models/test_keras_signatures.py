"""Keras 3's model methods take the same argument names here (a script passing one by
keyword runs), and each one either does what Keras does or is refused in one sentence."""

import inspect

import numpy as np
import pytest
import torch

from grukit.layers import GRU, Dense, Dropout
from grukit.models import Sequential
from grukit.models.saving import read_compile

keras = pytest.importorskip("keras")

METHODS = ("fit", "evaluate", "predict", "compile", "summary", "save", "save_weights",
           "load_weights", "pop", "train_on_batch", "test_on_batch", "predict_on_batch",
           "get_layer", "to_json", "get_compile_config", "compile_from_config")
NOT_YET: dict = {}


@pytest.mark.parametrize("method", METHODS)
def test_keras_argument_names_are_taken(method):
    theirs = [p for p in inspect.signature(getattr(keras.Sequential, method)).parameters
              if p not in ("self", "kwargs")]
    ours = set(inspect.signature(getattr(Sequential, method)).parameters)
    missing = [p for p in theirs if p not in ours and p not in NOT_YET.get(method, ())]
    assert not missing, f"{method} lacks Keras' {missing}"


def _model():
    torch.manual_seed(0)
    return Sequential([GRU(4, input_shape=(5, 2)), Dropout(0.1), Dense(1)])


def test_compile_takes_keras_arguments_at_their_keras_values_and_refuses_the_rest():
    model = _model()
    model.compile("adam", "mse", run_eagerly=True, auto_scale_loss=False, loss_weights=[1.0],
                  steps_per_execution=1, weighted_metrics=[])
    assert model.jit_compile is False
    model.compile("adam", "mse", weighted_metrics=["mae"])  # taken now, as Keras takes it
    assert list(model.weighted_fns) == ["mae"]
    for bad, match in (({"run_eagerly": True, "jit_compile": True}, "opposite"),
                       ({"loss_weights": 0.5}, "loss_weights=0.5 has no grukit form"),
                       ({"steps_per_execution": 4}, "steps_per_execution=4"),
                       ({"run_eagerly": "yes"}, "run_eagerly must be True or False")):
        with pytest.raises((ValueError, TypeError), match=match):
            _model().compile("adam", "mse", **bad)


def test_evaluate_and_predict_refuse_steps_and_callbacks_in_one_sentence():
    model = _model()
    model.compile("adam", "mse")
    x, y = np.zeros((4, 5, 2), "float32"), np.zeros((4, 1), "float32")
    assert model.evaluate(x, y, steps=None, callbacks=[], verbose=0) >= 0
    for call in (lambda: model.evaluate(x, y, steps=2, verbose=0),
                 lambda: model.predict(x, steps=2, verbose=0)):
        with pytest.raises(ValueError, match="steps has no grukit form"):
            call()
    with pytest.raises(ValueError, match="callbacks has no grukit form"):
        model.predict(x, callbacks=[keras.callbacks.History()], verbose=0)


def test_save_weights_holds_no_optimizer_and_skip_mismatch_loads_what_fits(tmp_path):
    model = _model()
    model.compile("adam", "mse")
    model.fit(np.ones((8, 5, 2), "float32"), np.ones((8, 1), "float32"), epochs=1, verbose=0)
    model.save_weights(tmp_path / "w.weights.h5")
    model.save(tmp_path / "m.keras")
    assert read_compile(tmp_path / "w.weights.h5") == (None, None)
    assert read_compile(tmp_path / "m.keras")[1] is not None
    with pytest.raises(FileExistsError):
        model.save_weights(tmp_path / "w.weights.h5", overwrite=False)
    torch.manual_seed(1)
    other = Sequential([GRU(4, input_shape=(5, 2)), Dropout(0.1), Dense(3)])  # Dense differs
    before = [p.detach().clone() for p in other.stack[2].parameters()]
    with pytest.raises(ValueError, match="another architecture"):
        other.load_weights(tmp_path / "w.weights.h5")
    with pytest.warns(UserWarning, match="weights of dense do not fit"):
        other.load_weights(tmp_path / "w.weights.h5", skip_mismatch=True)
    for a, b in zip(other.stack[0].parameters(), model.stack[0].parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(other.stack[2].parameters(), before, strict=True):
        assert torch.equal(a, b)


def test_summary_width_trainable_column_and_layer_range():
    model = _model()
    model.stack[2].trainable = False
    lines = []
    model.summary(line_length=90, show_trainable=True, print_fn=lines.append,
                  layer_range=["dropout", "dense"])
    rows = [line for line in lines[4:] if "(" in line]
    assert [r.split()[0] for r in rows] == ["dropout", "dense"]
    assert rows[0].rstrip().endswith("-") and rows[1].rstrip().endswith("N")
    assert len(lines[1]) == 90 and "Trainable" in lines[2]
    with pytest.raises(ValueError, match="'lstm', not a layer of this model"):
        model.summary(layer_range=["gru", "lstm"])
    with pytest.raises(ValueError, match="positions must be 3 increasing numbers"):
        model.summary(positions=[0.5, 0.2, 1.0])


def test_pop_takes_rebuild():
    model = _model()
    assert isinstance(model.pop(rebuild=False), Dense)
    assert model.output_shape == (None, 4)


def test_validation_freq_validates_every_kth_epoch_as_keras():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 5, 2)).astype("float32")
    y = x[:, -1, :1]
    theirs = keras.Sequential([keras.Input((5, 2)), keras.layers.GRU(4), keras.layers.Dense(1)])
    ours = Sequential([GRU(4, input_shape=(5, 2)), Dense(1)])
    ours.set_weights(theirs.get_weights())
    theirs.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    ours.compile("sgd", "mse")
    ours.optimizer.param_groups[0]["lr"] = 0.05
    kwargs = dict(epochs=5, batch_size=8, shuffle=False, verbose=0, validation_freq=2,
                  validation_data=(x[:6], y[:6]))
    h_theirs = theirs.fit(x, y, **kwargs).history
    from grukit.models import EarlyStopping

    stop = EarlyStopping(monitor="val_loss", patience=5)
    h_ours = ours.fit(x, y, validation_batch_size=4, callbacks=[stop], **kwargs).history
    assert len(h_ours["loss"]) == 5 and len(h_ours["val_loss"]) == len(h_theirs["val_loss"]) == 2
    np.testing.assert_allclose(h_ours["val_loss"], h_theirs["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(h_ours["loss"], h_theirs["loss"], rtol=1e-5)
    for bad in ({"validation_freq": 0}, {"steps_per_epoch": 0}, {"validation_steps": 0},
                {"validation_batch_size": 0}):
        with pytest.raises(ValueError, match="validation_freq must|steps_per_epoch must|"
                                             "validation_steps must|batch_size must"):
            ours.fit(x, y, epochs=1, verbose=0, validation_data=(x, y), **bad)
    # taken now, as Keras 3 takes them (tests/models/test_kerasfit_steps.py)
    ours.fit(x, y, epochs=1, verbose=0, validation_data=(x, y), steps_per_epoch=3,
             validation_steps=2)
    with pytest.raises(ValueError, match="'val_loss' is not logged"):  # no validation at all
        ours.fit(x, y, epochs=1, verbose=0, callbacks=[EarlyStopping(monitor="val_loss")])
