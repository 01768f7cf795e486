"""A Keras optimizer whose weight decay leaves some weights out
(``exclude_from_weight_decay``, not in its config) is refused by name: grukit's would decay
every weight."""

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from grukit.layers import GRU, Dense  # noqa: E402
from grukit.models import Sequential  # noqa: E402


@pytest.mark.parametrize("exclude", [dict(var_names=["bias"]), dict(var_list=None,
                                                                    var_names=["kernel"])])
def test_weights_excluded_from_weight_decay_are_refused(exclude):
    opt = keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.1)
    opt.exclude_from_weight_decay(**exclude)
    model = Sequential([GRU(3, input_shape=(5, 2)), Dense(1)])
    with pytest.raises(ValueError, match="AdamW: exclude_from_weight_decay has no grukit form"):
        model.compile(optimizer=opt, loss="mse")


def test_a_keras_optimizer_with_every_weight_decayed_is_taken():
    model = Sequential([GRU(3, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.1),
                  loss="mse")
    assert model.optimizer.param_groups[0]["weight_decay"] == pytest.approx(0.1)
