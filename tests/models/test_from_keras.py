"""``grukit.models.from_keras``: a Keras 3 Sequential (object or saved ``.keras`` file) as the
same grukit model, predicting alike; layers without a grukit form refused by name."""

import os

import numpy as np
import pytest

from grukit.models import from_keras

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
kl = keras.layers

T, V = 6, 12
RNG = np.random.default_rng(0)


def _randomised(model):
    model.set_weights([RNG.normal(0, 0.5, w.shape).astype("float32")
                       for w in model.get_weights()])
    return model


def _same(ref, ours, x):
    want = np.asarray(keras.ops.convert_to_numpy(ref.predict(x, verbose=0)))
    np.testing.assert_allclose(ours.predict(x), want, rtol=1e-5, atol=1e-6)


def test_a_saved_keras_text_model_predicts_alike(tmp_path):
    ref = _randomised(keras.Sequential([
        keras.Input((T,), dtype="int32"), kl.Embedding(V, 4, mask_zero=True),
        kl.Bidirectional(kl.GRU(5, return_sequences=True), merge_mode="sum"), kl.Dropout(0.3),
        kl.LSTM(4, return_sequences=True), kl.GlobalAveragePooling1D(),
        kl.Dense(3, activation="relu"), kl.Dense(2, activation="softmax")]))
    ref.save(tmp_path / "m.keras")
    ids = RNG.integers(1, V, (5, T))
    ids[2, 4:] = 0
    ours = from_keras(tmp_path / "m.keras")
    assert ours.count_params() == ref.count_params()
    _same(ref, ours, ids)


def test_a_frozen_keras_layer_stays_frozen():
    ref = keras.Sequential([keras.Input((T, 3)), kl.GRU(4, return_sequences=True), kl.LSTM(3),
                            kl.Dense(1)])
    ref.layers[0].trainable = False
    ours = from_keras(ref)
    assert [la.trainable for la in ours.layers] == [False, True, True]
    assert sum(p.numel() for p in ours.trainable_weights) == sum(
        int(np.prod(w.shape)) for w in ref.trainable_weights)


def test_a_keras_series_model_predicts_alike():
    ref = _randomised(keras.Sequential([
        keras.Input((T, 3)), kl.GRU(4, return_sequences=True, reset_after=False),
        kl.SimpleRNN(3, return_sequences=True, activation="relu"),
        kl.TimeDistributed(kl.Dense(2)), kl.Flatten(), kl.Dense(1)]))
    _same(ref, from_keras(ref), RNG.normal(size=(4, T, 3)).astype(np.float32))


@pytest.mark.parametrize("layer,match", [
    (lambda: kl.GroupNormalization(3), "GroupNormalization .* has no grukit layer"),
    (lambda: kl.GRU(3, activation="hard_silu"), "activation .hard_silu. has no grukit form"),
    (lambda: kl.SimpleRNN(3, activation="hard_silu"), "activation .hard_silu. has no grukit "
                                                        "form"),
    (lambda: kl.Dense(2, activation="hard_silu"), "activation 'hard_silu'"),
    # an AttributeError ('LayerNormalization' object has no attribute 'input') and a
    # TypeError without the layer's place
    (lambda: kl.TimeDistributed(kl.LayerNormalization()),
     r"layer 0 \(TimeDistributed .*wraps a Dense or Dropout layer; got "
     r"TimeDistributed\(LayerNormalization\)"),
    (lambda: kl.TimeDistributed(kl.Activation("tanh")),
     r"layer 0 \(TimeDistributed .*got TimeDistributed\(Activation\)"),
])
def test_layers_without_a_grukit_form_are_refused_by_name(layer, match):
    ref = keras.Sequential([keras.Input((T, 3)), layer()])
    with pytest.raises(ValueError, match=match):
        from_keras(ref)


def test_a_functional_model_is_refused():
    x = keras.Input((T, 3))
    with pytest.raises(TypeError, match="Keras Sequential"):
        from_keras(keras.Model(x, kl.GRU(2)(x)))


@pytest.mark.parametrize("make", [
    lambda: kl.Conv1D(3, 2, kernel_regularizer="l2",
                      bias_regularizer=keras.regularizers.L1(0.1)),
    lambda: kl.LayerNormalization(gamma_regularizer="l2",
                                  beta_regularizer=keras.regularizers.L1L2(0.1, 0.2)),
    lambda: kl.LayerNormalization(scale=False, beta_regularizer=keras.regularizers.L1(0.3)),
], ids=["conv1d", "layer-norm", "layer-norm-center-only"])
def test_conv_and_layer_norm_regularizers_come_across_with_keras_penalty(make):
    # they were dropped: the converted model trained without Keras' penalty
    k = _randomised(keras.Sequential([keras.Input((T, 2)), make(), kl.GRU(2)]))
    want = sum(float(keras.ops.convert_to_numpy(v)) for v in k.losses)
    assert want > 0
    assert float(from_keras(k).regularization_loss()) == pytest.approx(want, rel=1e-5)


def test_the_layers_keep_their_keras_names(tmp_path):
    # get_layer("encoder") of the converted model found no such layer
    from grukit.models import load

    k = keras.Sequential([keras.Input((T, 2)), kl.Conv1D(3, 2, name="features"),
                          kl.GRU(4, name="encoder"), kl.Dense(1)])
    ours = from_keras(k)
    assert ours.layer_names() == [layer.name for layer in k.layers]
    assert ours.get_layer("encoder") is ours.layers[1]
    ours.save(tmp_path / "m")
    assert load(tmp_path / "m").layer_names() == ours.layer_names()


def test_weight_constraints_are_carried_and_predictions_stay_alike():
    """Keras applies a constraint after each update; the converted layers hold the same
    ones (they were left out with a warning; tests/models/test_constraints_keras.py trains
    both)."""
    ref = _randomised(keras.Sequential([
        keras.Input((T, 2)),
        kl.Bidirectional(kl.GRU(3, recurrent_constraint=keras.constraints.MaxNorm(2.0))),
        kl.Dense(1, kernel_constraint="non_neg")]))
    ours = from_keras(ref)
    assert repr(ours.layers[0].layer.constraints["recurrent_constraint"]) == \
        "MaxNorm(max_value=2.0, axis=0)"
    assert type(ours.layers[1].constraints["kernel_constraint"]).__name__ == "NonNeg"
    _same(ref, ours, RNG.normal(size=(3, T, 2)).astype("float32"))


def test_no_warning_without_constraints():
    import warnings

    ref = _randomised(keras.Sequential([keras.Input((T, 2)), kl.GRU(3), kl.Dense(1)]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        from_keras(ref)


def test_an_unbuilt_keras_model_is_named_as_such():
    """It said 'the first layer has no input_shape; give it one (e.g. GRU(64, ...))', a fix
    for a grukit model, not for the Keras one given."""
    with pytest.raises(ValueError, match="the Keras model is not built"):
        from_keras(keras.Sequential([kl.GRU(3), kl.Dense(1)]))


@pytest.mark.parametrize("backward,says", [
    (lambda: kl.GRU(4, activation="relu", go_backwards=True),
     "activation: forward 'tanh', backward 'relu'"),
    (lambda: kl.LSTM(4, go_backwards=True), "layer: forward GRU, backward LSTM"),
    (lambda: kl.GRU(5, go_backwards=True), "units: forward 4, backward 5"),
    (lambda: kl.GRU(4, go_backwards=True, kernel_regularizer="l2"), "kernel_regularizer"),
], ids=["activation", "kind", "units", "regularizer"])
def test_a_backward_layer_unlike_the_forward_one_is_refused_by_what_differs(backward, says):
    """The forward layer's configuration was used for both directions (a backward relu GRU
    ran as tanh: other predictions), or the weights failed to fit with a generic error."""
    ref = keras.Sequential([keras.Input((T, 3)),
                            kl.Bidirectional(kl.GRU(4), backward_layer=backward()),
                            kl.Dense(1)])
    with pytest.raises(ValueError, match="directions differ") as e:
        from_keras(ref)
    assert says in str(e.value) and "layer 0 (Bidirectional" in str(e.value)


def test_a_backward_layer_like_the_forward_one_predicts_alike():
    ref = _randomised(keras.Sequential([
        keras.Input((T, 3)),
        kl.Bidirectional(kl.GRU(4, return_sequences=True, activation="relu"),
                         backward_layer=kl.GRU(4, return_sequences=True, activation="relu",
                                               go_backwards=True, kernel_initializer="zeros",
                                               name="back")),
        kl.LSTM(2), kl.Dense(1)]))
    _same(ref, from_keras(ref), RNG.normal(size=(3, T, 3)).astype("float32"))


def test_a_float64_keras_model_stays_float64():
    """It became a float32 model (outputs 2e-7 apart) where grukit.convert.from_keras keeps a
    float64 layer float64. The reference is torch.nn in float64 with each Keras layer's
    weights: Keras' own torch backend runs a float64 matmul in float32 (its type promotion
    maps 64-bit to 32-bit dtypes, as JAX), so it agrees to float32 only."""
    import torch

    from grukit.convert import from_keras as layer_from_keras

    f64 = {"dtype": "float64"}
    ref = keras.Sequential([keras.Input((T, 3), dtype="float64"),
                            kl.GRU(4, return_sequences=True, **f64), kl.LSTM(3, **f64),
                            kl.Dense(2, **f64)])
    ref.set_weights([RNG.normal(0, 0.5, w.shape) for w in ref.get_weights()])
    ours = from_keras(ref)
    assert {p.dtype for p in ours.parameters()} == {torch.float64}
    x = torch.as_tensor(RNG.normal(size=(3, T, 3)))  # float64
    gru = torch.nn.GRU(3, 4, batch_first=True, dtype=torch.float64)
    gru.load_state_dict(layer_from_keras(ref.layers[0]).state_dict())
    lstm = torch.nn.LSTM(4, 3, batch_first=True, dtype=torch.float64)
    lstm.load_state_dict(layer_from_keras(ref.layers[1]).state_dict())
    kernel, bias = (torch.as_tensor(w) for w in ref.layers[2].get_weights())
    with torch.no_grad():
        want = lstm(gru(x)[0])[0][:, -1] @ kernel + bias
        got = ours(x)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.numpy(), keras.ops.convert_to_numpy(ref(x.numpy())),
                               rtol=1e-5, atol=1e-6)


def test_a_float64_direction_makes_the_model_float64():
    import torch

    ref = keras.Sequential([keras.Input((T, 3)),
                            kl.Bidirectional(kl.GRU(4, dtype="float64"),
                                             backward_layer=kl.GRU(4, go_backwards=True))])
    ours = from_keras(ref)
    assert {p.dtype for p in ours.parameters()} == {torch.float64}
    _same(ref, ours, RNG.normal(size=(2, T, 3)))


def test_normalisation_activation_reshaping_and_noise_layers_predict_alike():
    """BatchNormalization, AveragePooling1D, ReLU, LeakyReLU, PReLU, Softmax, Reshape,
    Permute, GaussianNoise and GaussianDropout were 'no grukit layer'."""
    ref = _randomised(keras.Sequential([
        keras.Input((T, 4)), kl.GRU(8, return_sequences=True), kl.BatchNormalization(),
        kl.ReLU(max_value=1.5, negative_slope=0.1), kl.LeakyReLU(negative_slope=0.2),
        kl.PReLU(shared_axes=[1]), kl.AveragePooling1D(2), kl.Permute((2, 1)),
        kl.Reshape((8, 3)), kl.Permute((2, 1)), kl.GaussianNoise(0.3), kl.GaussianDropout(0.2),
        kl.Softmax(axis=-1), kl.Flatten(), kl.Dense(2)]))
    bn = ref.layers[1]  # moving statistics of a trained layer, variances above 0
    bn.set_weights([*bn.get_weights()[:2], RNG.normal(0, 0.5, 8).astype("float32"),
                    RNG.uniform(0.5, 2.0, 8).astype("float32")])
    ours = from_keras(ref)
    assert [type(layer).__name__ for layer in ours.stack][1:4] == \
        ["BatchNormalization", "ReLU", "LeakyReLU"]
    assert ours.count_params() == ref.count_params()
    _same(ref, ours, RNG.normal(0, 1, (5, T, 4)).astype("float32"))


def test_a_channels_first_flatten_converts_and_dropout_settings_kept():
    # Keras' channels_first Flatten moves the channels last first: flattening as it is gave
    # the next Dense its inputs in another order (0.73 off)
    model = keras.Sequential([keras.Input((4, 3)), keras.layers.Flatten(
        data_format="channels_first"), keras.layers.Dense(2)])
    x = np.random.default_rng(1).random((2, 4, 3)).astype("float32")
    np.testing.assert_allclose(from_keras(model).predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    model = keras.Sequential([keras.Input((4, 3)),
                              keras.layers.Dropout(0.2, noise_shape=(None, 1, 3), seed=5),
                              keras.layers.SpatialDropout1D(0.1, seed=2), keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    ours = from_keras(model)
    assert ours.layers[0].noise_shape == (None, 1, 3) and ours.layers[0].seed == 5
    assert ours.layers[1].seed == 2
    x = np.random.default_rng(0).random((2, 4, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
