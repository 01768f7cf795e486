"""An Embedding started from given vectors (pretrained word vectors), the two ways Keras
scripts write it: ``weights=[matrix]`` and ``embeddings_initializer=Constant(matrix)``."""

import numpy as np
import pytest
import torch

from grukit.layers import GRU, Dense, Embedding
from grukit.layers.initializers import Constant
from grukit.models import Sequential, load_model, model_from_json

keras = pytest.importorskip("keras")

M = np.random.default_rng(0).standard_normal((30, 4)).astype("float32")
IDS = np.array([[1, 5, 29, 0], [7, 7, 2, 3]])


def _keras_vectors(layer):
    model = keras.Sequential([keras.Input((4,), dtype="int32"), layer])
    return model.predict(IDS, verbose=0)


@pytest.mark.parametrize("given", [
    {"weights": [M]}, {"weights": M}, {"weights": [torch.from_numpy(M)]},
    {"embeddings_initializer": Constant(M)}, {"embeddings_initializer": "keras Constant"}])
def test_given_vectors_are_the_embedding_as_in_keras(given):
    if given.get("embeddings_initializer") == "keras Constant":
        given = {"embeddings_initializer": keras.initializers.Constant(M)}
    theirs = _keras_vectors(keras.layers.Embedding(30, 4, embeddings_initializer=(
        keras.initializers.Constant(M))))
    np.testing.assert_array_equal(theirs, M[IDS])
    ours = Sequential([Embedding(30, 4, **given)]).predict(IDS, verbose=0)
    np.testing.assert_array_equal(ours, theirs)


def test_frozen_given_vectors_stay_through_fit_save_and_load(tmp_path):
    torch.manual_seed(0)
    model = Sequential([Embedding(30, 4, weights=[M], trainable=False), GRU(3), Dense(1)])
    model.compile("adam", "mse")
    model.fit(IDS, np.ones((2, 1), "float32"), epochs=2, verbose=0)
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], M)
    model.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(load_model(tmp_path / "m.keras").layers[0].get_weights()[0], M)
    again = model_from_json(model.to_json())  # the config holds no matrix: a fresh start
    assert "weights" not in model.to_json() and again.layers[0].trainable is False


@pytest.mark.parametrize("weights, match", [
    ([M[:, :3]], r"weights has shape \(30, 3\).*\(30, 4\)"),
    ([np.full((30, 4), np.nan)], "NaN or Inf"),
    (["glove.txt"], "a finite number or an array"),
])
def test_wrong_vectors_are_refused_in_one_sentence(weights, match):
    with pytest.raises(ValueError, match=match) as err:
        Embedding(30, 4, weights=weights)
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_a_constant_array_that_does_not_fit_is_named_at_build():
    layer = Embedding(30, 4, embeddings_initializer=Constant(M[:10]))
    with pytest.raises(ValueError, match=r"shape \(10, 4\) does not fit a weight of shape "
                                         r"\(30, 4\)"):
        Sequential([layer]).predict(IDS, verbose=0)
    with pytest.raises(ValueError, match="not both"):
        Embedding(30, 4, weights=[M], embeddings_initializer="uniform")
