"""Keras' weight initializers (grukit.layers.initializers): each draws from Keras 3's
distribution (two-sample Kolmogorov-Smirnov against Keras' own draws, seeded both sides),
the Keras-style layers start as Keras' layers of the same settings, "torch" keeps the torch
module's start (what the task models use), and the settings are saved with the model."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
stats = pytest.importorskip("scipy.stats")

from grukit import nn as gnn  # noqa: E402
from grukit.layers import (  # noqa: E402
    GRU,
    LSTM,
    Bidirectional,
    Conv1D,
    Dense,
    Embedding,
    LayerNormalization,
    SimpleRNN,
)
from grukit.layers import initializers as I  # noqa: E402
from grukit.models import Sequential, load  # noqa: E402

RANDOM = ["random_uniform", "random_normal", "truncated_normal", "glorot_uniform",
          "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
          "variance_scaling", "uniform", "normal"]


def _keras(name, shape, seed=1):
    init = keras.initializers.get({"class_name": name, "config": {"seed": seed}}
                                  if name not in ("zeros", "ones", "identity") else name)
    return keras.ops.convert_to_numpy(init(shape)).astype(np.float64)


@pytest.mark.parametrize("shape", [(48, 80), (3, 16, 24)], ids=["dense", "conv"])
@pytest.mark.parametrize("name", RANDOM)
def test_random_initializers_draw_keras_distribution(name, shape):
    ours = I.get(name, "t")
    ours.seed = 0
    a, b = ours(shape), _keras(name, shape)
    assert a.shape == shape
    # same distribution: KS at 3,840 values each; a scale 1.25× off is rejected with
    # p < 1e-6 at this size (the next test)
    assert stats.ks_2samp(a.ravel(), b.ravel()).pvalue > 1e-3
    assert a.min() >= b.min() * 1.25 - 1e-12 and a.max() <= b.max() * 1.25 + 1e-12


def test_wrong_scale_is_what_the_ks_check_rejects():
    a = I.GlorotUniform(seed=0)((48, 80))
    b = _keras("glorot_uniform", (48, 80))
    assert stats.ks_2samp(a.ravel() * 1.25, b.ravel()).pvalue < 1e-6


@pytest.mark.parametrize("shape", [(8, 24), (24, 8), (2, 5, 5)])
def test_orthogonal_and_identity_as_keras(shape):
    for gain in (1.0, 0.5):
        q = I.Orthogonal(gain=gain, seed=0)(shape).reshape(-1, shape[-1])
        k = keras.ops.convert_to_numpy(keras.initializers.Orthogonal(gain=gain, seed=1)(
            shape)).reshape(-1, shape[-1])
        short = min(q.shape)
        for m in (q, k):  # the short side is orthonormal (times the gain)
            g = m @ m.T if m.shape[0] == short else m.T @ m
            np.testing.assert_allclose(g, gain ** 2 * np.eye(short), atol=1e-5)
    if len(shape) == 2:
        np.testing.assert_array_equal(I.get("identity", "t")(shape), _keras("identity", shape))


def test_constants_and_seeds():
    np.testing.assert_array_equal(I.get("zeros", "t")((3, 4)), np.zeros((3, 4)))
    np.testing.assert_array_equal(I.get("one", "t")((5,)), np.ones(5))
    np.testing.assert_array_equal(I.Constant(0.25)((2, 2)),
                                  keras.ops.convert_to_numpy(keras.initializers.Constant(0.25)(
                                      (2, 2))))
    a, b, c = I.HeNormal(seed=3)((20, 20)), I.HeNormal(seed=3)((20, 20)), I.HeNormal(4)((20, 20))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def _pair(ours_layers, keras_layers, shape):
    g = Sequential(ours_layers)
    g.build(shape)
    k = keras.Sequential([keras.Input(shape)] + keras_layers)
    return g.get_weights(), k.get_weights()


CASES = {
    "gru": (lambda: [GRU(32)], lambda kl: [kl.GRU(32)]),
    "gru_before": (lambda: [GRU(32, reset_after=False)],
                   lambda kl: [kl.GRU(32, reset_after=False)]),
    "lstm": (lambda: [LSTM(32)], lambda kl: [kl.LSTM(32)]),
    "lstm_no_forget": (lambda: [LSTM(32, unit_forget_bias=False)],
                       lambda kl: [kl.LSTM(32, unit_forget_bias=False)]),
    "simple_rnn": (lambda: [SimpleRNN(32)], lambda kl: [kl.SimpleRNN(32)]),
    "bi_gru_dense": (lambda: [Bidirectional(GRU(32)), Dense(40)],
                     lambda kl: [kl.Bidirectional(kl.GRU(32)), kl.Dense(40)]),
    "conv_norm": (lambda: [Conv1D(40, 3), LayerNormalization()],
                  lambda kl: [kl.Conv1D(40, 3), kl.LayerNormalization()]),
    "options": (lambda: [GRU(16, kernel_initializer="he_normal", recurrent_initializer="identity",
                             bias_initializer=I.Constant(0.3)),
                         Dense(30, kernel_initializer="lecun_uniform", bias_initializer="ones")],
                lambda kl: [kl.GRU(16, kernel_initializer="he_normal",
                                   recurrent_initializer="identity",
                                   bias_initializer=keras.initializers.Constant(0.3)),
                            kl.Dense(30, kernel_initializer="lecun_uniform",
                                     bias_initializer="ones")]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_layers_start_as_keras_layers(case):
    torch.manual_seed(0)
    keras.utils.set_random_seed(0)
    ours, theirs = _pair(CASES[case][0](), CASES[case][1](keras.layers), (12, 6))
    assert [w.shape for w in ours] == [w.shape for w in theirs]
    for a, b in zip(ours, theirs, strict=True):
        if np.unique(b).size <= 2 or a.ndim == 2 and a.shape[0] == 16 and case == "options" \
                and np.allclose(b, np.eye(*b.shape)):  # constants, identity: equal
            np.testing.assert_array_equal(a, b)
        elif a.shape[0] == 32 and a.ndim == 2:  # a recurrent kernel: orthogonal rows
            for m in (a, b):
                np.testing.assert_allclose(m @ m.T, np.eye(32), atol=1e-5)
        else:  # a random kernel: Keras' distribution (KS; n ≥ 144 each)
            assert a.size >= 144
            assert stats.ks_2samp(a.ravel(), b.ravel()).pvalue > 1e-3, a.shape


def test_none_is_glorot_uniform_for_every_weight_as_in_keras():
    """Keras' add_weight draws a weight given no initializer (None) from glorot_uniform, a
    bias too; grukit refused None."""
    torch.manual_seed(0)
    keras.utils.set_random_seed(0)
    ours, theirs = _pair([Dense(400, kernel_initializer=None, bias_initializer=None)],
                         [keras.layers.Dense(400, kernel_initializer=None,
                                             bias_initializer=None)], (10,))
    for a, b in zip(ours, theirs, strict=True):  # kernel (10, 400), bias (400,)
        assert np.abs(b).max() > 0.01  # Keras' bias is drawn, not zero
        assert stats.ks_2samp(a.ravel(), b.ravel()).pvalue > 1e-3, a.shape


def test_lstm_forget_bias_and_unit_forget_bias():
    def bias(**kw):
        g = Sequential([LSTM(3, input_shape=(4, 2), **kw)])
        g.build()
        return g.get_weights()[2]

    np.testing.assert_array_equal(bias(), np.r_[np.zeros(3), np.ones(3), np.zeros(6)])
    np.testing.assert_array_equal(bias(unit_forget_bias=False), np.zeros(12))
    np.testing.assert_array_equal(bias(bias_initializer="ones", forget_bias=2.5),
                                  np.r_[np.ones(3), 2.5 * np.ones(3), np.ones(6)])


def test_torch_start_keeps_torch_modules_weights():
    torch.manual_seed(5)
    g = Sequential([GRU(8, input_shape=(4, 3), **I.torch_start(GRU)),
                    Dense(2, **I.torch_start(Dense))])
    g.build()
    torch.manual_seed(5)
    rnn, lin = gnn.GRU(3, 8, batch_first=True), torch.nn.Linear(8, 2)
    want = list(rnn.state_dict().values()) + list(lin.state_dict().values())
    got = list(g.layers[0].rnn.state_dict().values()) + list(g.layers[1].linear.state_dict()
                                                             .values())
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_task_networks_start_from_torch_weights():
    """The forecaster's network keeps torch's start (its recorded results were trained
    from it): non-zero biases, which Keras' initializers would have zeroed."""
    from grukit.tasks.forecast import Forecaster

    f = Forecaster(hidden=8, horizon=3, lookback=6, epochs=1)
    f.fit(np.sin(np.arange(40.0)))
    net = f.nets[0]
    kernel, recurrent, bias, dense_kernel, dense_bias = net.get_weights()
    assert np.abs(bias).min() > 0 and np.abs(dense_bias).min() > 0
    assert np.abs(recurrent @ recurrent.T - np.eye(8)).max() > 0.1  # not orthogonal


def test_settings_are_saved_and_keras_objects_are_read(tmp_path):
    g = Sequential([GRU(4, input_shape=(3, 2), kernel_initializer=I.HeNormal(seed=3),
                        recurrent_initializer=keras.initializers.Orthogonal(gain=0.5, seed=2)),
                    Dense(1, bias_initializer="lecun_uniform")])
    g.compile(optimizer="adam", loss="mse")
    g.build()
    cfg = g.layers[0].get_config()["config"]
    assert cfg["kernel_initializer"] == {"class_name": "HeNormal", "config": {"seed": 3}}
    assert cfg["recurrent_initializer"] == {"class_name": "Orthogonal",
                                            "config": {"gain": 0.5, "seed": 2}}
    g.save(tmp_path / "m.keras")
    h = load(tmp_path / "m.keras")
    assert h.layers[0].get_config() == g.layers[0].get_config()
    assert h.layers[1].get_config()["config"]["bias_initializer"] == "lecun_uniform"
    for a, b in zip(h.get_weights(), g.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_initializers_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown initializer 'glorot'"):
        Dense(3, kernel_initializer="glorot")
    with pytest.raises(ValueError, match="Embedding starts from Keras' initializers"):
        Embedding(10, 4, embeddings_initializer="torch")
    with pytest.raises(TypeError, match="unit_forget_bias must be True or False"):
        LSTM(3, unit_forget_bias="yes")
    with pytest.raises(TypeError, match="unexpected keyword argument 'recurrent_initializer'"):
        Dense(3, recurrent_initializer="orthogonal")
    with pytest.raises(ValueError, match="Orthogonal needs a weight of two or more axes"):
        Sequential([Dense(3, bias_initializer="orthogonal", input_shape=(2,))]).build()
    with pytest.raises(ValueError, match="RandomNormal: stddev must be a finite number above 0"):
        I.RandomNormal(stddev=-1.0)
    with pytest.raises(ValueError, match="gave shape"):
        Sequential([Dense(3, kernel_initializer=lambda shape, dtype=None: np.zeros(3),
                          input_shape=(2,))]).build()
    with pytest.raises(ValueError, match="GlorotUniform takes seed; got scale"):
        I.get({"class_name": "GlorotUniform", "config": {"scale": 3.0}}, "t")


def test_a_function_initializer_is_called_with_keras_shape():
    seen = []

    def init(shape, dtype=None):
        seen.append(shape)
        return np.full(shape, 0.5)

    g = Sequential([GRU(4, input_shape=(3, 2), kernel_initializer=init)])
    g.build()
    assert seen == [(2, 12)]
    np.testing.assert_array_equal(g.get_weights()[0], np.full((2, 12), 0.5))
