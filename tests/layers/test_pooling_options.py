"""Keras' ``data_format`` and ``keepdims`` of GlobalAveragePooling1D / GlobalMaxPooling1D
and ``data_format`` of Flatten: the same outputs as Keras 3 on the same weights, through
from_keras, the config, and the ONNX graph (onnxruntime)."""

import numpy as np
import pytest

from grukit.layers import (
    GRU,
    Dense,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    from_config,
)
from grukit.models import Sequential, from_keras

keras = pytest.importorskip("keras")
X = np.random.default_rng(0).random((3, 4, 5)).astype("float32")

CASES = [("Flatten", {"data_format": "channels_first"}),
         ("GlobalAveragePooling1D", {"data_format": "channels_first"}),
         ("GlobalAveragePooling1D", {"keepdims": True}),
         ("GlobalAveragePooling1D", {"data_format": "channels_first", "keepdims": True}),
         ("GlobalMaxPooling1D", {"data_format": "channels_first"}),
         ("GlobalMaxPooling1D", {"keepdims": True})]


@pytest.mark.parametrize("kind, options", CASES)
def test_outputs_equal_keras_and_the_onnx_graph(kind, options, tmp_path):
    theirs = keras.Sequential([keras.Input((4, 5)), getattr(keras.layers, kind)(**options),
                               keras.layers.Dense(2)])
    ours = from_keras(theirs)
    want = theirs.predict(X, verbose=0)
    np.testing.assert_allclose(ours.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    assert ours.output_shape == theirs.output_shape
    layer = ours.layers[0]
    assert from_config(layer.get_config()).get_config() == layer.get_config()
    ort = pytest.importorskip("onnxruntime")
    from grukit.export import to_onnx

    path = to_onnx(ours, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: X})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_masked_average_keeps_its_dims_as_keras():
    ids = np.array([[3, 4, 0, 0], [5, 6, 7, 0]])
    theirs = keras.Sequential([keras.Input((4,), dtype="int32"),
                               keras.layers.Embedding(10, 3, mask_zero=True),
                               keras.layers.GlobalAveragePooling1D(keepdims=True)])
    ours = Sequential([Embedding(10, 3, mask_zero=True), GlobalAveragePooling1D(keepdims=True)])
    ours.predict(ids, verbose=0)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(ids, verbose=0), theirs.predict(ids, verbose=0),
                               rtol=1e-6)


def test_bad_options_are_refused():
    for make in (lambda: Flatten(data_format="nchw"),
                 lambda: GlobalAveragePooling1D(data_format="first"),
                 lambda: GlobalMaxPooling1D(data_format="nwc")):
        with pytest.raises(ValueError, match="data_format must be 'channels_last' or"):
            make()
    # None is Keras' default image data format, channels_last
    assert GlobalMaxPooling1D(data_format=None).data_format == "channels_last"
    assert GlobalAveragePooling1D(data_format=None).data_format == "channels_last"
    with pytest.raises((TypeError, ValueError), match="keepdims"):
        GlobalAveragePooling1D(keepdims="yes")
    model = Sequential([GRU(3, input_shape=(4, 5), return_sequences=True),
                        GlobalMaxPooling1D(keepdims=True), Dense(1)])
    assert model.output_shape == (None, 1, 1)
