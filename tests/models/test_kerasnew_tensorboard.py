"""TensorBoard's ``evaluation_<name>_vs_iterations`` at Keras' ``optimizer.iterations``: on
through a second ``fit`` and a loaded model's optimizer state, as Keras' steps go on."""

import numpy as np
import pytest
import torch

from grukit.layers import GRU, Dense
from grukit.models import Sequential, TensorBoard, load_model

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)

X = np.random.default_rng(0).standard_normal((40, 5, 2)).astype("float32")
Y = X[:, -1, :1]


def _steps(folder, tag="evaluation_loss_vs_iterations"):
    acc = EventAccumulator(str(folder))
    acc.Reload()
    # two fits write two event files, whose order the reader takes from their names (the
    # second of their writing: equal for fits within one second): the steps, sorted
    return sorted(e.step for e in acc.Scalars(tag))


def _fit(model, tb, epochs, initial_epoch=0):
    model.fit(X, Y, validation_split=0.2, epochs=epochs, initial_epoch=initial_epoch,
              batch_size=8, shuffle=False, verbose=0, callbacks=[tb])


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_evaluation_steps_go_on_through_a_second_fit(tmp_path, optimizer):
    torch.manual_seed(0)
    model = Sequential([GRU(3, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer, "mse")
    tb = TensorBoard(tmp_path / "logs")
    _fit(model, tb, 2)
    _fit(model, tb, 4, initial_epoch=2)  # 4 batches an epoch
    assert _steps(tmp_path / "logs" / "validation") == [4, 8, 12, 16]


def test_evaluation_steps_go_on_from_a_loaded_models_optimizer(tmp_path):
    torch.manual_seed(0)
    model = Sequential([GRU(3, input_shape=(5, 2)), Dense(1)])
    model.compile("adam", "mse")
    _fit(model, TensorBoard(tmp_path / "a"), 2)
    model.save(tmp_path / "m.keras")
    _fit(load_model(tmp_path / "m.keras"), TensorBoard(tmp_path / "b"), 3, initial_epoch=2)
    assert _steps(tmp_path / "b" / "validation") == [12]
