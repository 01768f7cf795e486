"""RepeatVector, SpatialDropout1D and LayerNormalization in a Sequential: equal to Keras 3
(torch backend) with the same weights, masked sequences included, saved and loaded, in
ONNX, and rebuilt by from_keras."""

import os

import numpy as np
import pytest
import torch

from grukit.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Embedding,
    Input,
    LayerNormalization,
    RepeatVector,
    SpatialDropout1D,
    TimeDistributed,
)
from grukit.models import Sequential, from_keras, load

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
ort = pytest.importorskip("onnxruntime")
kl = keras.layers

T, V, F = 6, 15, 3
RNG = np.random.default_rng(1)


def _check(ref, ours, x, tmp_path):
    from grukit.export.onnx_file import build_onnx

    ref.set_weights([RNG.normal(0, 0.5, w.shape).astype("float32") for w in ref.get_weights()])
    ours.set_weights(ref.get_weights())
    want = np.asarray(keras.ops.convert_to_numpy(ref(x)))
    np.testing.assert_allclose(ours.predict(x), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(from_keras(ref).predict(x), want, rtol=1e-5, atol=1e-5)
    ours.save(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(load(tmp_path / "m.safetensors").predict(x), ours.predict(x))
    proto = build_onnx(ours.eval())
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    declared = proto.graph.output[0].type.tensor_type.shape.dim  # rank and fixed widths
    assert len(declared) == got.ndim and declared[-1].dim_value in (0, got.shape[-1])


def test_the_lstm_autoencoder_equals_keras(tmp_path):
    ref = keras.Sequential([keras.Input((T, F)), kl.LSTM(5), kl.RepeatVector(T),
                            kl.LSTM(5, return_sequences=True), kl.TimeDistributed(kl.Dense(F))])
    ours = Sequential([Input(shape=(T, F)), LSTM(5), RepeatVector(T),
                       LSTM(5, return_sequences=True), TimeDistributed(Dense(F))])
    _check(ref, ours, RNG.normal(size=(4, T, F)).astype(np.float32), tmp_path)


@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False)])
def test_a_masked_text_model_with_spatial_dropout_and_layer_norm_equals_keras(center, scale,
                                                                              tmp_path):
    ids = RNG.integers(1, V, (4, T))
    ids[1, 3:] = 0
    ref = keras.Sequential([
        keras.Input((T,), dtype="int32"), kl.Embedding(V, 4, mask_zero=True),
        kl.SpatialDropout1D(0.3), kl.GRU(5, return_sequences=True),
        kl.LayerNormalization(center=center, scale=scale), kl.Bidirectional(kl.GRU(3)),
        kl.LayerNormalization(epsilon=1e-2), kl.Dense(2)])
    ours = Sequential([
        Input(shape=(T,)), Embedding(V, 4, mask_zero=True), SpatialDropout1D(0.3),
        GRU(5, return_sequences=True), LayerNormalization(center=center, scale=scale),
        Bidirectional(GRU(3)), LayerNormalization(epsilon=1e-2), Dense(2)])
    _check(ref, ours, ids, tmp_path)


def test_spatial_dropout_drops_whole_features_in_training_only():
    torch.manual_seed(0)
    layer = SpatialDropout1D(0.5)
    x = torch.ones(8, 5, 16)
    y, _ = layer.train()(x)
    assert set(torch.unique(y).tolist()) == {0.0, 2.0}
    assert (y == y[:, :1, :]).all()  # the same features dropped at every step
    assert torch.equal(layer.eval()(x)[0], x)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="RepeatVector takes one vector per sample"):
        Sequential([GRU(3, return_sequences=True, input_shape=(T, F)), RepeatVector(2)])
    with pytest.raises(ValueError, match="only axis=-1"):
        LayerNormalization(axis=1)
    with pytest.raises(ValueError, match="n must be"):
        RepeatVector(0)


@pytest.mark.parametrize("padding,strides,dilation", [("valid", 1, 1), ("same", 2, 1),
                                                      ("causal", 1, 2), ("same", 1, 3)])
def test_a_cnn_gru_model_equals_keras(padding, strides, dilation, tmp_path):
    from grukit.layers import Activation, Conv1D, MaxPooling1D

    steps = 11
    ref = keras.Sequential([
        keras.Input((steps, F)), kl.Conv1D(4, 3, strides=strides, padding=padding,
                                           dilation_rate=dilation, activation="relu"),
        kl.MaxPooling1D(2, padding="same" if strides == 1 else "valid"), kl.GRU(5),
        kl.Dense(3), kl.Activation("softmax")])
    ours = Sequential([
        Input(shape=(steps, F)), Conv1D(4, 3, strides=strides, padding=padding,
                                        dilation_rate=dilation, activation="relu"),
        MaxPooling1D(2, padding="same" if strides == 1 else "valid"), GRU(5), Dense(3),
        Activation("softmax")])
    _check(ref, ours, RNG.normal(size=(4, steps, F)).astype(np.float32), tmp_path)


@pytest.mark.filterwarnings("ignore:Layer 'conv1d")  # Keras: Conv1D drops the mask
def test_a_cnn_text_model_with_global_max_pooling_equals_keras(tmp_path):
    from grukit.layers import Conv1D, GlobalMaxPooling1D

    ids = RNG.integers(1, V, (4, T))
    ids[1, 3:] = 0
    ref = keras.Sequential([keras.Input((T,), dtype="int32"), kl.Embedding(V, 4),
                            kl.Conv1D(5, 2, use_bias=False, activation="tanh"),
                            kl.GlobalMaxPooling1D(), kl.Dense(2)])
    ours = Sequential([Input(shape=(T,)), Embedding(V, 4),
                       Conv1D(5, 2, use_bias=False, activation="tanh"), GlobalMaxPooling1D(),
                       Dense(2)])
    _check(ref, ours, ids, tmp_path)


def test_convolutions_take_an_open_length_and_refuse_too_short_inputs():
    from grukit.layers import Conv1D, MaxPooling1D

    m = Sequential([Input(shape=(None, F)), Conv1D(4, 5), MaxPooling1D(2),
                    GRU(5, return_sequences=True), Dense(1)])
    assert m.output_shape == (None, None, 1)
    assert m.predict(RNG.normal(size=(2, 20, F)).astype(np.float32)).shape == (2, 8, 1)
    with pytest.raises(ValueError, match="the kernel spans 5 steps"):
        Sequential([Input(shape=(4, F)), Conv1D(4, 5), GRU(5)])
    with pytest.raises(ValueError, match="pool_size 2 is longer than the input's 1 steps"):
        m.predict(RNG.normal(size=(2, 5, F)).astype(np.float32))
