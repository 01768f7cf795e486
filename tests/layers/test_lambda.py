"""Keras' ``Lambda``: the same outputs as Keras' on the same weights (keras.ops functions
take the torch tensors), the mask handed to a function that asks for it, the function given
back by name through ``custom_objects``."""

import numpy as np
import pytest
import torch

from grukit.layers import GRU, Dense, Embedding, Lambda
from grukit.models import Sequential, load_model, model_from_json

keras = pytest.importorskip("keras")
ops = keras.ops


def last_step(x):
    return x[:, -1, :]


def masked_mean(x, mask=None):
    m = ops.cast(ops.expand_dims(mask, -1), x.dtype)
    return ops.sum(x * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0)


def test_outputs_match_keras_on_the_same_weights():
    x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype("float32")
    theirs = keras.Sequential([keras.Input((6, 3)), keras.layers.GRU(5, return_sequences=True),
                               keras.layers.Lambda(lambda t: ops.mean(t, axis=1) * 2.0),
                               keras.layers.Dense(2)])
    ours = Sequential([GRU(5, input_shape=(6, 3), return_sequences=True),
                       Lambda(lambda t: ops.mean(t, axis=1) * 2.0), Dense(2)])
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    ours.compile("adam", "mse")  # trains through the function
    before = [p.detach().clone() for p in ours.stack[0].parameters()]
    ours.fit(x, np.ones((4, 2), "float32"), epochs=1, verbose=0)
    assert any(not torch.equal(a, b) for a, b in zip(before, ours.stack[0].parameters(),
                                                      strict=True))


def test_a_function_asking_for_the_mask_gets_it_as_keras_hands_it():
    ids = np.array([[3, 4, 5, 0, 0], [6, 0, 0, 0, 0]])
    theirs = keras.Sequential([keras.Input((5,), dtype="int32"),
                               keras.layers.Embedding(10, 3, mask_zero=True),
                               keras.layers.Lambda(masked_mean)])
    ours = Sequential([Embedding(10, 3, mask_zero=True), Lambda(masked_mean)])
    ours.predict(ids, verbose=0)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(ids, verbose=0), theirs.predict(ids, verbose=0),
                               rtol=1e-6)


def test_saved_by_name_and_given_back_through_custom_objects(tmp_path):
    torch.manual_seed(0)
    model = Sequential([GRU(4, input_shape=(5, 2), return_sequences=True), Lambda(last_step),
                        Dense(1)])
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match=r"Lambda layer of the function 'last_step'.*"
                                         r"custom_objects=\{'last_step'"):
        load_model(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras", custom_objects={"last_step": last_step})
    x = np.ones((2, 5, 2), "float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    again = model_from_json(model.to_json(), custom_objects={"last_step": last_step})
    assert again.output_shape == (None, 1)


def test_what_a_lambda_cannot_do_is_refused_in_one_sentence(tmp_path):
    with pytest.raises(TypeError, match="function must be callable"):
        Lambda("x[:, -1]")
    with pytest.raises(ValueError, match="mask has no grukit form"):
        Lambda(last_step, mask=lambda x, m: m)
    with pytest.raises(TypeError, match="returned a ndarray"):
        Sequential([Lambda(lambda x: x.numpy(), input_shape=(3,))])
    torch.manual_seed(0)
    model = Sequential([GRU(4, input_shape=(5, 2), return_sequences=True), Lambda(last_step)])
    from grukit.export import to_onnx

    with pytest.raises(ValueError, match="has no ONNX export"):
        to_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
