"""Identity, ActivityRegularization, ELU, AlphaDropout and UnitNormalization as Keras 3's
(torch backend): outputs, the activity penalty Keras adds to the loss (and one training
step with it), AlphaDropout's training draws, lengths passed on as Keras passes the mask,
config, save/load, ONNX; bad arguments refused in one sentence."""

import os

import numpy as np
import pytest
import torch

from conftest import saved_and_exported_alike
from grukit.layers import (
    ELU,
    GRU,
    ActivityRegularization,
    AlphaDropout,
    Dense,
    Embedding,
    Identity,
    Input,
    UnitNormalization,
    from_config,
)
from grukit.models import Sequential

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
kl = keras.layers
RNG = np.random.default_rng(7)
X = RNG.normal(size=(3, 6, 4)).astype(np.float32)


def _np(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


@pytest.mark.parametrize("ours,ref", [
    (Identity(), kl.Identity()),
    (ActivityRegularization(0.1, 0.2), kl.ActivityRegularization(0.1, 0.2)),
    (ELU(), kl.ELU()), (ELU(0.3), kl.ELU(0.3)), (ELU(-1.5), kl.ELU(-1.5)),
    (UnitNormalization(), kl.UnitNormalization()), (UnitNormalization(1), kl.UnitNormalization(1)),
    (UnitNormalization([1, 2]), kl.UnitNormalization([1, 2])),
    (UnitNormalization(-2), kl.UnitNormalization(-2)),
    (AlphaDropout(0.4), kl.AlphaDropout(0.4))])
def test_inference_equals_keras(ours, ref):
    x = X.copy()
    x[1, 2] = 0.0  # a zero vector stays zero in UnitNormalization
    got = ours.eval()(torch.from_numpy(x))[0].numpy()  # Keras' call: inference
    want = _np(ref(x))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_activity_penalty_is_keras_and_trains_as_keras():
    """Keras 3 adds (l1 Σ|y| + l2 Σy²) / B to the loss; one SGD step on the same batch moves
    the Dense before it alike."""
    x, y = X[:, 0], RNG.normal(size=(3, 2)).astype(np.float32)
    ref = keras.Sequential([keras.Input((4,)), kl.Dense(2), kl.ActivityRegularization(0.05, 0.1)])
    ours = Sequential([Input(shape=(4,)), Dense(2), ActivityRegularization(0.05, 0.1)])
    ours.set_weights(ref.get_weights())
    ref(x, training=True)
    ours.train()(torch.from_numpy(x))
    np.testing.assert_allclose(float(ours.regularization_loss().detach()),
                               float(_np(sum(ref.losses))), rtol=1e-5)
    ref.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    ours.compile(optimizer="sgd", loss="mse")
    ours.optimizer.param_groups[0]["lr"] = 0.1
    want = float(_np(ref.train_on_batch(x, y)))
    got = ours.train_on_batch(x, y)
    got = got[0] if isinstance(got, list) else got
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for a, b in zip(ours.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_evaluate_adds_every_batchs_activity_penalty_as_keras():
    """evaluate over several batches: Keras adds each batch's penalty, so the loss holds
    (l1 Σ|y| + l2 Σy²) / N over all the data; the last batch's alone was added (3.9798
    against Keras' 3.9537 for 20 samples in batches of 8)."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(20, 4)).astype(np.float32), rng.normal(size=(20, 2)).astype(
        np.float32)
    ref = keras.Sequential([keras.Input((4,)), kl.Dense(2), kl.ActivityRegularization(0.05, 0.1)])
    ours = Sequential([Input(shape=(4,)), Dense(2), ActivityRegularization(0.05, 0.1)])
    ours.set_weights(ref.get_weights())
    ref.compile(optimizer="sgd", loss="mse")
    ours.compile(optimizer="sgd", loss="mse")
    for batch_size in (8, 20):
        want = float(ref.evaluate(x, y, batch_size=batch_size, verbose=0))
        np.testing.assert_allclose(ours.evaluate(x, y, batch_size=batch_size), want, rtol=1e-5)


def test_activity_penalty_without_factors_is_none():
    layer = ActivityRegularization()
    layer(torch.ones(2, 3))
    assert layer.regularization_loss() == 0.0
    model = Sequential([Input(shape=(3,)), Dense(2), layer])
    assert model.losses == []


def test_alpha_dropout_training_draws():
    """Training: an entry is kept (a·x + b) or dropped (a·α' + b) with Keras' constants, each
    with Keras' frequency; the output's mean and spread match Keras' for the same input."""
    rate, n = 0.3, 200_000
    x = np.full((4, n // 4, 1), 0.5, np.float32)
    got = AlphaDropout(rate, seed=2).train()(torch.from_numpy(x))[0].numpy()
    want = _np(kl.AlphaDropout(rate, seed=2)(x, training=True))
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    dropped = np.isclose(got, a * alpha_p + b, rtol=1e-6)
    assert np.isclose(got[~dropped], a * 0.5 + b, rtol=1e-6).all()
    assert abs(dropped.mean() - rate) < 0.01
    assert abs(got.mean() - want.mean()) < 0.01 and abs(got.std() - want.std()) < 0.01
    shared = AlphaDropout(0.5, noise_shape=(None, 1, None), seed=1).train()
    out = shared(torch.ones(2, 50, 3))[0]
    assert torch.equal(out, out[:, :1].expand_as(out))  # the same draw at every step


def test_lengths_pass_on_as_the_mask():
    ids = torch.tensor([[1, 2, 3, 0], [4, 0, 0, 0]])
    for layer in (Identity(), ActivityRegularization(0.1), ELU(), AlphaDropout(0.2),
                  UnitNormalization()):
        model = Sequential([Input(shape=(4,)), Embedding(5, 3, mask_zero=True), layer])
        assert model(ids, return_lengths=True)[1].tolist() == [3, 1]


def test_a_masked_keras_model_with_them_predicts_alike():
    ids = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]])
    ref = keras.Sequential([keras.Input((5,), dtype="int32"), kl.Embedding(6, 3, mask_zero=True),
                            kl.ELU(0.5), kl.UnitNormalization(), kl.Identity(),
                            kl.ActivityRegularization(0.1), kl.AlphaDropout(0.1), kl.GRU(4)])
    ours = Sequential([Input(shape=(5,)), Embedding(6, 3, mask_zero=True), ELU(0.5),
                       UnitNormalization(), Identity(), ActivityRegularization(0.1),
                       AlphaDropout(0.1), GRU(4)])
    ours.set_weights(ref.get_weights())
    np.testing.assert_allclose(ours.predict(ids), _np(ref.predict(ids, verbose=0)), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("layer", [Identity(), ActivityRegularization(0.01, 0.02), ELU(0.4),
                                   AlphaDropout(0.3, noise_shape=(None, 1, None), seed=2),
                                   UnitNormalization(), UnitNormalization([1, 2])])
def test_config_save_load_and_onnx(tmp_path, layer):
    pytest.importorskip("onnxruntime")

    assert from_config(layer.get_config()).get_config() == layer.get_config()
    model = Sequential([Input(shape=(None, 4)), Dense(3), layer, GRU(5, return_sequences=True),
                        Dense(2)])
    saved_and_exported_alike(model, X, tmp_path)


@pytest.mark.parametrize("make,word", [
    (lambda: ActivityRegularization(-0.1), "l1"), (lambda: ActivityRegularization(0, "x"), "l2"),
    (lambda: ActivityRegularization(float("nan")), "l1"), (lambda: ELU("1"), "alpha"),
    (lambda: ELU(float("inf")), "alpha"), (lambda: AlphaDropout(1.0), "rate"),
    (lambda: AlphaDropout(-0.1), "rate"), (lambda: AlphaDropout(0.1, noise_shape=(0, 1)),
                                           "noise_shape"),
    (lambda: AlphaDropout(0.1, seed=1.5), "seed"), (lambda: UnitNormalization("a"), "axis"),
    (lambda: UnitNormalization([]), "axis"), (lambda: Identity(units=3), "units")])
def test_bad_arguments_are_refused_in_one_sentence(make, word):
    with pytest.raises((ValueError, TypeError), match=word):
        make()


def test_bad_axes_and_noise_shapes_at_run_time():
    with pytest.raises(ValueError, match="axis 0 is the batch"):
        UnitNormalization(0)(torch.ones(2, 3))
    with pytest.raises(ValueError, match="out of range"):
        UnitNormalization(3)(torch.ones(2, 3))
    with pytest.raises(ValueError, match="noise_shape"):
        AlphaDropout(0.5, noise_shape=(None, 2)).train()(torch.ones(2, 3))


def test_torch_export_writes_the_layers_without_keeping_the_penalty(tmp_path):
    """torch.export (to_pt2) of a model with them: the program equals eager, and the activity
    penalty (training's) is not assigned during export (torch warns of such attributes)."""
    import warnings

    from grukit.export import to_pt2

    model = Sequential([Input(shape=(None, 4)), ActivityRegularization(0.1, 0.2), ELU(0.5),
                        UnitNormalization(), Identity(), AlphaDropout(0.3), GRU(3)])
    x = torch.from_numpy(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_pt2(model, tmp_path / "m.pt2", x)
    program = torch.export.load(tmp_path / "m.pt2").module()
    torch.testing.assert_close(program(x[:, :5]), model(x[:, :5]), rtol=1e-5, atol=1e-6)


def test_a_keras_activity_regularizer_argument_is_the_layer_after():
    """Dense(..., activity_regularizer=L1L2(a, b)) is refused pointing at
    ActivityRegularization(a, b) after it, whose penalty is Keras' for the argument."""
    with pytest.raises(ValueError, match=r"ActivityRegularization\(l1, l2\) layer after"):
        Dense(2, activity_regularizer="l2")
    x = X[:, 0]
    ref = keras.Sequential([keras.Input((4,)), kl.Dense(
        3, activity_regularizer=keras.regularizers.L1L2(0.05, 0.1))])
    ours = Sequential([Input(shape=(4,)), Dense(3), ActivityRegularization(0.05, 0.1)])
    ours.set_weights(ref.get_weights())
    ref(x, training=True)
    ours(torch.from_numpy(x))
    np.testing.assert_allclose(float(ours.regularization_loss().detach()),
                               float(_np(sum(ref.losses))), rtol=1e-5)
    from grukit.models import from_keras

    with pytest.raises(ValueError, match="put an ActivityRegularization"):
        from_keras(ref)
