"""LearningRateScheduler with a torch optimizer whose parameter groups have rates of their
own (a smaller rate for the recurrent layer, say) keeps their ratios: every group was set
to the first group's rate, so the second group trained 10x faster than asked from the
first epoch on. A single group trains as Keras' (tests/models/test_keras_optimizers.py)."""

import numpy as np
import pytest
import torch

from grukit.layers import GRU, Dense
from grukit.models import Callback, LearningRateScheduler, Sequential

RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 3, 2)).astype(np.float32)
Y = RNG.normal(size=(8, 1)).astype(np.float32)


class _Rates(Callback):
    def on_train_begin(self, logs=None):
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.rates.append([g["lr"] for g in self.model.optimizer.param_groups])


def _fit(schedule):
    torch.manual_seed(0)
    m = Sequential([GRU(3, input_shape=(3, 2)), Dense(1)])
    m.build()
    opt = torch.optim.SGD([{"params": m.stack[0].parameters(), "lr": 0.01},
                           {"params": m.stack[1].parameters(), "lr": 0.1}])
    m.compile(optimizer=opt, loss="mse")
    seen = _Rates()
    hist = m.fit(X, Y, epochs=3, verbose=0,
                 callbacks=[LearningRateScheduler(schedule), seen])
    return seen.rates, hist.history["learning_rate"]


def test_a_two_argument_schedule_scales_each_group():
    rates, logged = _fit(lambda epoch, lr: lr / 2)
    assert rates == [pytest.approx(r) for r in ([0.005, 0.05], [0.0025, 0.025],
                                                [0.00125, 0.0125])]
    assert logged == pytest.approx([0.005, 0.0025, 0.00125])  # the first group's, as logged


def test_a_one_argument_schedule_keeps_the_groups_ratios():
    rates, _ = _fit(lambda epoch: 0.02 / (epoch + 1))
    assert rates == [pytest.approx(r) for r in ([0.02, 0.2], [0.01, 0.1], [0.02 / 3, 0.2 / 3])]
