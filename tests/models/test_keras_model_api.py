"""Keras' model API beside Keras 3 (torch backend): freezing layers (``trainable``), the
optimizer's ``learning_rate``, ``input_shape``/``output_shape``, the weight lists,
``get_layer``, ``pop``, ``save_weights``/``load_weights``."""

import os
import warnings

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit.layers import GRU, LSTM, Bidirectional, Dense  # noqa: E402
from grukit.models import Sequential, load  # noqa: E402

X = np.random.RandomState(1).randn(40, 6, 2).astype("float32")
Y = X.sum((1, 2))[:, None] / 4


def _pair(freeze=()):
    """The same 3-layer model in Keras and grukit, the same weights, SGD; layers at the
    indices in ``freeze`` frozen before compile."""
    k = keras.Sequential([keras.Input((6, 2)), keras.layers.GRU(5, return_sequences=True),
                          keras.layers.LSTM(4), keras.layers.Dense(1)])
    g = Sequential([GRU(5, return_sequences=True, input_shape=(6, 2)), LSTM(4), Dense(1)])
    g.set_weights(k.get_weights())
    for i in freeze:
        k.layers[i].trainable = False
        g.layers[i].trainable = False
    k.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    g.compile(optimizer="sgd", loss="mse")
    g.optimizer.learning_rate = 0.05
    return k, g


def _trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("freeze", [(0,), (1,), (0, 2)])
def test_frozen_layers_stay_and_the_rest_train_as_in_keras(freeze):
    k, g = _pair(freeze)
    before = g.get_weights()
    k.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    g.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    assert _trainable_count(g) == _trainable_count(k)
    after, theirs = g.get_weights(), k.get_weights()
    at = 0
    for i, layer in enumerate(g.layers):
        for _ in layer.get_weights():
            if i in freeze:
                np.testing.assert_array_equal(after[at], before[at])
            else:
                assert not np.array_equal(after[at], before[at])
            np.testing.assert_allclose(after[at], theirs[at], rtol=1e-4, atol=1e-5)
            at += 1


def test_a_frozen_layer_is_saved_frozen_and_set_at_construction(tmp_path):
    g = Sequential([GRU(5, input_shape=(6, 2), trainable=False), Dense(1)])
    assert not any(p.requires_grad for p in g.layers[0].parameters())
    g.save(tmp_path / "m.safetensors")
    back = load(tmp_path / "m.safetensors")
    assert back.layers[0].trainable is False and back.layers[1].trainable is True
    assert [p.requires_grad for p in back.parameters()] == [p.requires_grad
                                                            for p in g.parameters()]
    b = Bidirectional(GRU(3), input_shape=(6, 2))
    b.trainable = False
    g2 = Sequential([b, Dense(1)])
    assert [p.requires_grad for p in g2.parameters()] == [False] * 8 + [True] * 2
    with pytest.raises(TypeError, match="trainable must be True or False"):
        GRU(3, trainable="no")


def test_a_model_with_every_layer_frozen_fits_as_keras_does():
    k, g = _pair()
    k.trainable = False
    g.trainable = False
    k.compile(optimizer="sgd", loss="mse")
    g.compile(optimizer="sgd", loss="mse")
    before = g.get_weights()
    with pytest.warns(UserWarning, match="does not have any trainable weights"):
        theirs = k.fit(X, Y, epochs=1, verbose=0).history["loss"]
    with pytest.warns(UserWarning, match="does not have any trainable weights"):
        ours = g.fit(X, Y, epochs=1, verbose=0).history["loss"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    for a, b in zip(g.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    assert g.trainable is False and g.trainable_weights == []


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop", "adagrad"])
def test_optimizer_learning_rate_reads_and_sets_the_rate(name):
    g = Sequential([GRU(3, input_shape=(6, 2)), Dense(1)])
    g.compile(optimizer=name, loss="mse")
    k = keras.optimizers.get(name)
    assert g.optimizer.learning_rate == pytest.approx(float(k.learning_rate))
    g.optimizer.learning_rate = 0.0
    before = g.get_weights()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g.fit(X, Y, epochs=1, verbose=0)
    for a, b in zip(g.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="learning_rate must be a finite number"):
        g.optimizer.learning_rate = float("nan")


def test_shapes_names_weights_and_pop_as_keras(tmp_path):
    keras.backend.clear_session()  # Keras numbers names across the session; start afresh
    k, g = _pair()
    assert g.input_shape == k.input_shape and g.output_shape == k.output_shape
    assert [la.name for la in k.layers] == g.layer_names()
    assert g.get_layer("lstm") is g.layers[1] and g.get_layer(index=-1) is g.layers[2]
    assert sum(p.numel() for p in g.weights) == k.count_params()
    with pytest.raises(ValueError, match="no layer named 'conv'"):
        g.get_layer("conv")
    k.pop()
    popped = g.pop()
    assert isinstance(popped, Dense) and g.output_shape == k.output_shape == (None, 4)
    g.save_weights(tmp_path / "w.weights.h5")
    other = Sequential([GRU(5, return_sequences=True, input_shape=(6, 2)), LSTM(4)])
    other.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(other.get_weights(), g.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    wrong = Sequential([GRU(5, input_shape=(6, 2))])
    w0 = [p.detach().clone() for p in wrong.parameters()]
    with pytest.raises(ValueError, match="another architecture"):
        wrong.load_weights(tmp_path / "w.weights.h5")
    assert all(torch.equal(a, b) for a, b in zip(w0, wrong.parameters(), strict=True))


def test_a_model_without_an_input_shape_is_built_from_its_first_data_as_keras():
    from grukit.layers import Embedding

    ids = np.random.RandomState(0).randint(1, 50, (24, 9))
    labels = (ids.sum(1) % 2)[:, None]
    m = Sequential([Embedding(50, 6), GRU(4), Dense(1, activation="sigmoid")])
    assert not m.built
    m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    h = m.fit(ids, labels, epochs=2, batch_size=8, verbose=0)
    assert m.built and m.input_shape == (None, None) and len(h.history["loss"]) == 2
    assert m.predict(ids[:3, :5]).shape == (3, 1)  # another length: the time axis is open
    seq = Sequential([GRU(4), Dense(1)])
    seq.compile(optimizer=go_adam(), loss="mse")
    ds = torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(Y))
    assert list(seq.parameters()) == []
    seq.fit(ds, epochs=1, verbose=0)
    # Keras' GRU(4) on 2 features: 3·4·(2 + 4) + 2·3·4 weights; Dense(1): 5
    assert seq.input_shape == (None, None, 2) and seq.count_params() == 72 + 24 + 5
    assert seq.optimizer.learning_rate == pytest.approx(0.01)
    with pytest.raises(ValueError, match="has no weights yet"):
        Sequential([GRU(4), Dense(1)]).compile(
            optimizer=torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), loss="mse")


def go_adam():
    from grukit.models.optimizers import Adam

    return Adam(learning_rate=0.01)


def test_keras_2_arguments_input_dim_and_input_length():
    from grukit.layers import Embedding

    k = keras.Sequential([keras.layers.Dense(3, input_dim=8), keras.layers.Dense(1)])
    g = Sequential([Dense(3, input_dim=8), Dense(1)])
    assert g.input_shape == k.input_shape == (None, 8)
    with pytest.warns(UserWarning, match="input_length is not needed"):
        Embedding(10, 4, input_length=5)


def test_load_weights_names_a_keras_weights_file(tmp_path):
    # it said only 'not a readable grukit model file ... header too large'
    k, g = _pair()
    k.save_weights(tmp_path / "k.weights.h5")
    before = g.get_weights()
    with pytest.raises(ValueError, match="Keras \\(HDF5\\) weights file.*from_keras"):
        g.load_weights(str(tmp_path / "k.weights.h5"))
    for now, then in zip(g.get_weights(), before, strict=True):
        np.testing.assert_array_equal(now, then)
