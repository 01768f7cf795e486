"""A saved model keeps what compile was given and the optimizer's state, as Keras' model
file does: ``load_model`` gives a model that trains on where the saved one stopped."""

import os

import numpy as np
import pytest
import torch

from grukit.layers import GRU, Dense
from grukit.models import ModelCheckpoint, Sequential, load, load_model, optimizers, save_model

keras = pytest.importorskip("keras")


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6, 2)).astype("float32")
    return x, x[:, -2:, 0].mean(1, keepdims=True)


def _model(optimizer="adam", loss="mse", metrics=("mae",)):
    torch.manual_seed(0)
    model = Sequential([GRU(5, input_shape=(6, 2)), Dense(1)])
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics))
    return model


def _weights(model):
    return [p.detach().clone() for p in model.parameters()]


def _train_on(model, x, y):
    model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    return _weights(model)


@pytest.mark.parametrize("optimizer", [
    "adam", "rmsprop", "adagrad",
    optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, clipnorm=0.5),
    optimizers.AdamW(learning_rate=3e-3, weight_decay=0.01, amsgrad=True)])
def test_a_loaded_model_trains_on_as_the_saved_one(tmp_path, optimizer):
    x, y = _data()
    model = _model(optimizer)
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    model.optimizer.param_groups[0]["lr"] *= 0.5  # as a scheduler would have set it
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert loaded.compiled and loaded.get_compile_config() == model.get_compile_config()
    assert loaded.optimizer.param_groups[0]["lr"] == model.optimizer.param_groups[0]["lr"]
    fresh = load_model(tmp_path / "m.keras", compile=False)
    assert not getattr(fresh, "compiled", False)
    fresh.compile(optimizer=optimizer, loss="mse")  # the same settings, no state
    went_on, resumed, restarted = (_train_on(m, x, y) for m in (model, loaded, fresh))
    for a, b in zip(went_on, resumed, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert any(not torch.equal(a, b) for a, b in zip(went_on, restarted, strict=True))
    assert loaded.evaluate(x, y, verbose=0, return_dict=True).keys() == {"loss", "mae"}


def test_a_loss_or_metric_function_comes_back_through_custom_objects(tmp_path):
    def half_squared(y_true, y_pred):
        return 0.5 * (y_true - y_pred) ** 2

    def biggest_miss(y_true, y_pred):
        return (y_true - y_pred).abs().amax(-1)

    x, y = _data()
    model = _model(loss=half_squared, metrics=[biggest_miss])
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "m.keras")
    with pytest.warns(UserWarning, match=r"loaded uncompiled because the loss was the "
                                         r"function 'half_squared'.*custom_objects"):
        bare = load_model(tmp_path / "m.keras")
    assert not getattr(bare, "compiled", False)
    np.testing.assert_array_equal(bare.predict(x, verbose=0), model.predict(x, verbose=0))
    loaded = load_model(tmp_path / "m.keras", custom_objects={
        "half_squared": half_squared, "biggest_miss": biggest_miss})
    want = model.evaluate(x, y, verbose=0, return_dict=True)
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(want)
    assert set(want) == {"loss", "biggest_miss"}


def test_a_torch_optimizer_object_loads_uncompiled_with_a_warning(tmp_path):
    torch.manual_seed(0)
    model = Sequential([GRU(5, input_shape=(6, 2)), Dense(1)])
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss="mse")
    model.save(tmp_path / "m.keras")
    with pytest.warns(UserWarning, match="torch SGD object.*compile"):
        loaded = load(tmp_path / "m.keras")
    assert not getattr(loaded, "compiled", False)
    with pytest.raises(RuntimeError, match="compile"):
        loaded.fit(*_data(), epochs=1, verbose=0)


def test_a_checkpoint_file_loads_compiled_with_its_optimizer(tmp_path):
    x, y = _data()
    model = _model()
    ckpt = str(tmp_path / "ckpt.pt")
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0,
              callbacks=[ModelCheckpoint(ckpt)])
    loaded = load_model(ckpt)
    assert loaded.compiled
    for a, b in zip(_train_on(model, x, y), _train_on(loaded, x, y), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_overwrite_and_zipped_as_keras_takes_them(tmp_path):
    model = _model()
    path = tmp_path / "m.keras"
    save_model(model, path)
    before = os.path.getmtime(path), path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save(path, overwrite=False)
    assert path.read_bytes() == before[1]
    with pytest.raises(ValueError, match="zipped=False"):
        model.save(tmp_path / "other.keras", zipped=False)
    assert not (tmp_path / "other.keras").exists()
    model.save(path, overwrite=True, zipped=True)
    # Keras' own load_model signature takes the same arguments
    import inspect

    keras_args = list(inspect.signature(keras.models.load_model).parameters)
    assert list(inspect.signature(load_model).parameters) == keras_args


def test_an_uncompiled_model_loads_uncompiled_without_a_warning(tmp_path, recwarn):
    torch.manual_seed(0)
    model = Sequential([GRU(5, input_shape=(6, 2)), Dense(1)])
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert not getattr(loaded, "compiled", False) and not recwarn.list


def test_to_json_and_model_from_json_round_trip_the_architecture():
    from grukit.layers import Bidirectional, Embedding
    from grukit.models import model_from_json

    torch.manual_seed(0)
    model = Sequential([Embedding(50, 4, mask_zero=True), Bidirectional(GRU(3)),
                        Dense(2, activation="softmax")])
    text = model.to_json(indent=2)
    again = model_from_json(text)
    assert again.get_config() == model.get_config() and again.to_json(indent=2) == text
    x = np.array([[3, 4, 0], [5, 0, 0]])
    want = model.predict(x, verbose=0)  # both build from their first data
    again.predict(x, verbose=0)
    again.set_weights(model.get_weights())
    np.testing.assert_array_equal(again.predict(x, verbose=0), want)
    ref = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="Keras' JSON.*from_keras"):
        model_from_json(ref.to_json())
    with pytest.raises(ValueError, match="Keras' config of a model.*from_keras"):
        Sequential.from_config(ref.get_config())
    with pytest.raises(ValueError, match="not JSON"):
        model_from_json("{not json")
