"""``grukit.models.optimizers``: Keras' optimizer objects, given to ``compile``, train the
same model to Keras 3's weights (torch backend, the same data and start), their options
(β, ε, amsgrad, momentum, Nesterov, weight decay, the three clippings) included."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit.layers import GRU, Dense  # noqa: E402
from grukit.models import Sequential  # noqa: E402
from grukit.models import optimizers as go  # noqa: E402

X = np.random.RandomState(2).randn(40, 6, 2).astype("float32")
Y = X.sum((1, 2))[:, None] / 4

CASES = {
    "adam-options": ("Adam", dict(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-5,
                                  amsgrad=True)),
    "adam-weight-decay": ("Adam", dict(learning_rate=0.01, weight_decay=0.1)),
    "adamw-clipnorm": ("AdamW", dict(learning_rate=0.01, weight_decay=0.05, clipnorm=0.1)),
    "sgd-nesterov-decay": ("SGD", dict(learning_rate=0.05, momentum=0.9, nesterov=True,
                                       weight_decay=0.01)),
    "sgd-clipvalue": ("SGD", dict(learning_rate=0.05, clipvalue=0.01)),
    "rmsprop-global-clipnorm": ("RMSprop", dict(learning_rate=0.01, rho=0.8,
                                                global_clipnorm=0.5)),
    "adagrad-options": ("Adagrad", dict(learning_rate=0.1, initial_accumulator_value=0.5,
                                        epsilon=1e-6, weight_decay=0.02)),
    "adagrad-large-epsilon": ("Adagrad", dict(learning_rate=0.1, initial_accumulator_value=0.0,
                                              epsilon=0.5)),  # ε inside the root, as Keras
}


@pytest.mark.parametrize("given", ["grukit", "keras"])
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_trains_to_keras_weights(case, given):
    name, kw = CASES[case]
    k = keras.Sequential([keras.Input((6, 2)), keras.layers.GRU(4), keras.layers.Dense(1)])
    g = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    g.set_weights(k.get_weights())
    start = g.get_weights()
    k.compile(optimizer=getattr(keras.optimizers, name)(**kw), loss="mse")
    # Keras' own object, as a script that imports its layers from grukit passes it
    g.compile(optimizer=getattr(go if given == "grukit" else keras.optimizers, name)(**kw),
              loss="mse")
    assert g.optimizer.learning_rate == pytest.approx(kw["learning_rate"])
    k.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    g.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for ours, theirs, first in zip(g.get_weights(), k.get_weights(), start, strict=True):
        assert not np.array_equal(ours, first)
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=2e-6)


@pytest.mark.parametrize("make,match", [
    (lambda: go.Adam(learning_rate=keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)),
     "LearningRateScheduler"),
    (lambda: go.Adam(use_ema=True), "use_ema has no grukit form"),
    (lambda: go.SGD(clipnorm=1.0, clipvalue=0.5), "at most one of"),
    (lambda: go.RMSprop(momentum=0.9), "momentum and centered"),
    (lambda: go.Adam(learning_rate=-1.0), "learning_rate must be a finite number"),
    (lambda: go.Adam(learnig_rate=0.1), "unknown argument"),
    (lambda: go.SGD(nesterov=True), "needs a momentum"),
    (lambda: go.SGD(momentum=1.5), "momentum must be between 0 and 1"),  # Keras refuses it
])
def test_what_has_no_grukit_form_is_refused_by_name(make, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make()


def test_a_keras_optimizer_without_a_grukit_form_is_refused_by_name():
    g = Sequential([GRU(4, input_shape=(6, 2)), Dense(1)])
    with pytest.raises(ValueError, match="Keras' Nadam optimizer has no grukit form"):
        g.compile(optimizer=keras.optimizers.Nadam(1e-3), loss="mse")
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    with pytest.raises(TypeError, match="LearningRateScheduler"):
        g.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")


def test_clipnorm_takes_each_keras_variables_norm_in_every_kind_of_layer():
    # Keras clips each variable (a GRU's one (2, 3H) bias, each direction apart)
    kl = keras.layers
    k = keras.Sequential([keras.Input((6, 2)), kl.Bidirectional(kl.GRU(3, return_sequences=True)),
                          kl.LSTM(3, return_sequences=True), kl.SimpleRNN(2), kl.Dense(1)])
    from grukit.layers import LSTM, Bidirectional, SimpleRNN

    g = Sequential([Bidirectional(GRU(3, return_sequences=True), input_shape=(6, 2)),
                    LSTM(3, return_sequences=True), SimpleRNN(2), Dense(1)])
    g.set_weights(k.get_weights())
    k.compile(optimizer=keras.optimizers.SGD(0.1, clipnorm=0.05), loss="mse")
    g.compile(optimizer=go.SGD(0.1, clipnorm=0.05), loss="mse")
    k.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    g.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for ours, theirs in zip(g.get_weights(), k.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=2e-6)


def test_the_optimizer_object_given_to_compile_sets_and_reads_the_models_rate():
    # as Keras' model.optimizer is that object: setting its rate after compile changed
    # nothing (the model trained on at the old rate), and it read its first rate forever
    from grukit.models import LearningRateScheduler

    x, y = X[:8, 0], Y[:8]
    g = Sequential([Dense(1, input_shape=(2,))])
    opt = go.SGD(learning_rate=0.1)
    g.compile(optimizer=opt, loss="mse")
    opt.learning_rate = 0.0
    assert g.optimizer.learning_rate == 0.0
    start = g.get_weights()
    g.fit(x, y, epochs=1, verbose=0)
    for after, before in zip(g.get_weights(), start, strict=True):
        np.testing.assert_array_equal(after, before)
    g.optimizer.learning_rate = 0.4
    g.fit(x, y, epochs=2, verbose=0, callbacks=[LearningRateScheduler(lambda e, lr: lr / 2)])
    assert opt.learning_rate == pytest.approx(0.1)
    with pytest.raises(ValueError, match="learning_rate must be a finite number"):
        opt.learning_rate = float("nan")
    import copy
    import pickle

    again = pickle.loads(pickle.dumps(opt))  # the rate it has, no tie to the model's
    assert again.learning_rate == pytest.approx(0.1)
    copy.deepcopy(opt).learning_rate = 0.9
    assert g.optimizer.learning_rate == pytest.approx(0.1)


@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
def test_sgd_momentum_under_a_schedule_trains_to_keras_weights(nesterov):
    # torch's momentum buffer keeps no rate: once the rate changed, the weights went apart
    from grukit.models import LearningRateScheduler

    x, y = X[:12, 0], Y[:12]
    k = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    g = Sequential([Dense(1, input_shape=(2,))])
    g.set_weights(k.get_weights())
    k.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=nesterov), loss="mse")
    g.compile(optimizer=go.SGD(0.1, momentum=0.9, nesterov=nesterov), loss="mse")
    schedule = lambda epoch, lr: 0.1 / (1 + 3 * epoch)  # noqa: E731
    fit = dict(epochs=4, batch_size=4, shuffle=False, verbose=0)
    k.fit(x, y, callbacks=[keras.callbacks.LearningRateScheduler(schedule)], **fit)
    g.fit(x, y, callbacks=[LearningRateScheduler(schedule)], **fit)
    for ours, theirs in zip(g.get_weights(), k.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=2e-6)
