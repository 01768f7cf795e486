"""Keras' Input, Flatten, GlobalAveragePooling1D, TimeDistributed and Bidirectional's merge
modes in a Sequential: equal to Keras with the same weights (masked padding included), saved
and loaded, and in ONNX."""

import os

import numpy as np
import pytest

from grukit.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    Input,
    SimpleRNN,
    TimeDistributed,
)
from grukit.models import Sequential, load

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
ort = pytest.importorskip("onnxruntime")

T, V = 6, 15
RNG = np.random.default_rng(0)
IDS = RNG.integers(1, V, (4, T))
IDS[1, 3:] = 0  # right padding
IDS[3, 1:] = 0


def _keras_like(ref, ours):
    ref.set_weights([RNG.normal(0, 0.5, w.shape).astype("float32") for w in ref.get_weights()])
    ours.set_weights(ref.get_weights())


def _check(ref, ours, x, tmp_path):
    from grukit.export.onnx_file import build_onnx

    want = np.asarray(keras.ops.convert_to_numpy(ref(x)))
    np.testing.assert_allclose(ours.predict(x), want, rtol=1e-5, atol=1e-6)
    ours.save(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(load(tmp_path / "m.safetensors").predict(x), ours.predict(x))
    sess = ort.InferenceSession(build_onnx(ours.eval()).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], want, rtol=1e-5, atol=1e-5)


def test_masked_global_average_pooling_equals_keras(tmp_path):
    kl = keras.layers
    ref = keras.Sequential([keras.Input((T,), dtype="int32"), kl.Embedding(V, 4, mask_zero=True),
                            kl.GRU(5, return_sequences=True), kl.GlobalAveragePooling1D(),
                            kl.Dense(2)])
    ours = Sequential([Input(shape=(T,), dtype="int32"), Embedding(V, 4, mask_zero=True),
                       GRU(5, return_sequences=True), GlobalAveragePooling1D(), Dense(2)])
    assert ours.count_params() == ref.count_params()
    _keras_like(ref, ours)
    _check(ref, ours, IDS, tmp_path)


def test_time_distributed_and_flatten_equal_keras(tmp_path):
    kl = keras.layers
    ref = keras.Sequential([keras.Input((T, 3)), kl.GRU(4, return_sequences=True),
                            kl.TimeDistributed(kl.Dense(2, activation="tanh")), kl.Flatten(),
                            kl.Dense(1)])
    ours = Sequential([Input(shape=(T, 3)), GRU(4, return_sequences=True),
                       TimeDistributed(Dense(2, activation="tanh")), Flatten(), Dense(1)])
    assert ours.layers[0].input_shape == (T, 3) and ours.built  # built at construction
    _keras_like(ref, ours)
    _check(ref, ours, RNG.normal(size=(3, T, 3)).astype(np.float32), tmp_path)


def test_input_goes_first_once_and_time_distributed_takes_dense_or_dropout():
    with pytest.raises(ValueError, match="goes first"):
        Sequential([GRU(4, input_shape=(T, 3)), Input(shape=(T, 3))])
    with pytest.raises(ValueError, match="differ"):
        Sequential([Input(shape=(T, 3)), GRU(4, input_shape=(T, 2))])
    with pytest.raises(ValueError, match="needs shape"):
        Input()
    with pytest.raises(TypeError, match="wraps a Dense or Dropout"):
        TimeDistributed(GRU(3))


def test_summary_names_the_layers_as_keras():
    from keras.src.utils.naming import to_snake_case

    layers = [SimpleRNN(4, return_sequences=True), TimeDistributed(Dense(2)),
              GlobalAveragePooling1D()]
    ours = Sequential([Input(shape=(T, 3)), *layers])
    lines = []
    ours.summary(print_fn=lines.append)
    names = [line.split(" (")[0] for line in lines if " (" in line and "None" in line]
    assert names == [to_snake_case(type(la).__name__) for la in layers] == [
        "simple_rnn", "time_distributed", "global_average_pooling1d"]


@pytest.mark.parametrize("mode", ["sum", "mul", "ave"])
def test_bidirectional_merge_modes_equal_keras(mode, tmp_path):
    kl = keras.layers
    ref = keras.Sequential([keras.Input((T, 3)),
                            kl.Bidirectional(kl.GRU(4, return_sequences=True), merge_mode=mode),
                            kl.Bidirectional(kl.LSTM(3), merge_mode=mode), kl.Dense(2)])
    ours = Sequential([Input(shape=(T, 3)),
                       Bidirectional(GRU(4, return_sequences=True), merge_mode=mode),
                       Bidirectional(LSTM(3), merge_mode=mode), Dense(2)])
    _keras_like(ref, ours)
    _check(ref, ours, RNG.normal(size=(4, T, 3)).astype(np.float32), tmp_path)


@pytest.mark.filterwarnings("ignore:Layer 'flatten")  # Keras: Flatten drops the mask
def test_masked_steps_of_a_sequence_repeat_its_last_output_as_keras(tmp_path):
    """Keras fills the steps past a sequence's length with its last output (a Flatten after
    it reads them); grukit's layer does too, in eager and in ONNX."""
    kl = keras.layers
    ref = keras.Sequential([keras.Input((T,), dtype="int32"), kl.Embedding(V, 4, mask_zero=True),
                            kl.GRU(5, return_sequences=True), kl.LSTM(3, return_sequences=True),
                            kl.Flatten(), kl.Dense(2)])
    ours = Sequential([Input(shape=(T,)), Embedding(V, 4, mask_zero=True),
                       GRU(5, return_sequences=True), LSTM(3, return_sequences=True), Flatten(),
                       Dense(2)])
    _keras_like(ref, ours)
    _check(ref, ours, IDS, tmp_path)


@pytest.mark.filterwarnings("ignore:Layer 'flatten")
def test_masked_go_backwards_sequences_come_out_as_keras_puts_them(tmp_path):
    """Keras runs a go_backwards layer on the whole padded sequence reversed, so its masked
    steps come first and its outputs last, and the mask passes on unchanged: a layer after
    it reads those leading steps. grukit's layer, its next layer and ONNX give the same."""
    kl = keras.layers
    ref = keras.Sequential([keras.Input((T,), dtype="int32"), kl.Embedding(V, 4, mask_zero=True),
                            kl.GRU(5, return_sequences=True, go_backwards=True),
                            kl.SimpleRNN(3, return_sequences=True), kl.Flatten(), kl.Dense(2)])
    ours = Sequential([Input(shape=(T,)), Embedding(V, 4, mask_zero=True),
                       GRU(5, return_sequences=True, go_backwards=True),
                       SimpleRNN(3, return_sequences=True), Flatten(), Dense(2)])
    _keras_like(ref, ours)
    _check(ref, ours, IDS, tmp_path)


def _padded_series():
    x = RNG.normal(size=(4, T, 3)).astype(np.float32)
    x[1, 4:] = 0.0  # right padding
    x[3, 2:] = 0.0
    return x


def test_masking_of_padded_float_sequences_equals_keras(tmp_path):
    """Keras' Masking: a step whose every feature equals mask_value is skipped by the
    recurrent layers after it; grukit's layer, saved and loaded, in ONNX and from_keras."""
    from grukit.layers import Masking
    from grukit.models import from_keras

    kl = keras.layers
    ref = keras.Sequential([keras.Input((T, 3)), kl.Masking(0.0), kl.GRU(5, return_sequences=True),
                            kl.LSTM(3), kl.Dense(2)])
    ours = Sequential([Input(shape=(T, 3)), Masking(0.0), GRU(5, return_sequences=True),
                       LSTM(3), Dense(2)])
    _keras_like(ref, ours)
    x = _padded_series()
    _check(ref, ours, x, tmp_path)
    np.testing.assert_allclose(from_keras(ref).predict(x), ours.predict(x), rtol=1e-6)
    # the padding is skipped, not read: other padding values give the same outputs
    y = x.copy()
    y[1, 4:] = -1.0
    ours2 = Sequential([Input(shape=(T, 3)), Masking(-1.0), GRU(5, return_sequences=True),
                        LSTM(3), Dense(2)])
    ours2.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours2.predict(y)[1], ours.predict(x)[1], rtol=1e-5, atol=1e-6)


def test_masking_refuses_padding_before_a_valid_step():
    from grukit.layers import Masking

    ours = Sequential([Masking(0.0, input_shape=(T, 3)), GRU(4), Dense(1)])
    x = _padded_series()
    x[0, 2] = 0.0  # a step of zeros inside the sequence: Keras would skip it
    with pytest.raises(ValueError, match="right padding"):
        ours.predict(x)
    pre = np.roll(_padded_series()[1:2], 3, axis=1)  # pad_sequences' default: before
    with pytest.raises(ValueError, match="padding='post'"):
        ours.predict(pre)


def test_masking_in_onnx_refuses_padding_before_a_valid_step_as_eager_does():
    """The graph counted the valid steps as the length whatever their place, so a padded
    step inside a sequence gave other numbers than Keras (which skips it) where eager
    refuses it; it now fails at run time in a node named with eager's sentence."""
    from grukit.export.onnx_file import build_onnx
    from grukit.layers import Masking

    ours = Sequential([Input(shape=(T, 3)), Masking(0.0), GRU(4), Dense(2)])
    sess = ort.InferenceSession(build_onnx(ours.eval()).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    x = _padded_series()
    x[2] = 0.0  # all padding
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], ours.predict(x),
                               rtol=1e-5, atol=1e-6)
    mid = _padded_series()
    mid[0, 2] = 0.0
    pre = np.roll(_padded_series(), 3, axis=1)
    for bad in (mid, pre):
        with pytest.raises(ValueError, match="must come after each sequence's valid steps"):
            ours.predict(bad)
        with pytest.raises(Exception, match="must come after each sequence's valid steps"):
            sess.run(None, {"input": bad})


def test_masking_takes_a_numpy_mask_value():
    # np.float32(-1.0) (read from an array, as Keras takes it) was refused as no number
    from grukit.layers import Masking

    x = _padded_series()
    x[x == 0.0] = -1.0
    ours = Sequential([Masking(np.float32(-1.0), input_shape=(T, 3)), GRU(4)])
    same = Sequential([Masking(-1.0, input_shape=(T, 3)), GRU(4)])
    same.set_weights(ours.get_weights())
    assert ours.layers[0].get_config()["config"]["mask_value"] == -1.0
    np.testing.assert_array_equal(ours.predict(x), same.predict(x))
