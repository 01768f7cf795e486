"""Settings that come from a numpy grid (np.int64(3) epochs, an np.float32 split) are taken
as the Python numbers they equal: fit(epochs=np.int64(2)) was refused with 'epochs must be a
whole number, 0 or more; got np.int64(2)'."""

import numpy as np
import pytest
import torch

from grukit.layers import GRU, Dense
from grukit.models import Sequential, train_loop

RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 3, 2)).astype(np.float32)
Y = RNG.normal(size=(8, 1)).astype(np.float32)


def _model():
    torch.manual_seed(0)
    m = Sequential([GRU(3, input_shape=(3, 2)), Dense(1)])
    m.compile(loss="mse")
    return m


def test_fit_takes_numpy_integers_as_keras():
    m = _model()
    hist = m.fit(X, Y, epochs=np.int64(3), initial_epoch=np.int32(1),
                 batch_size=np.int64(4), validation_split=np.float32(0.25), verbose=0)
    assert hist.epoch == [1, 2] and len(hist.history["val_loss"]) == 2


def test_train_loop_takes_numpy_epochs():
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    batch = (torch.ones(4, 2), torch.zeros(4, 1))
    hist = train_loop(net, opt, lambda b: torch.nn.functional.mse_loss(net(b[0]), b[1]),
                      [batch], epochs=np.int64(2))
    assert len(hist.history["loss"]) == 2


@pytest.mark.parametrize("epochs", [np.float64(2.0), -1, True])
def test_epochs_that_are_no_whole_number_are_still_refused(epochs):
    with pytest.raises(ValueError, match="epochs must be a"):
        _model().fit(X, Y, epochs=epochs, verbose=0)


def test_model_history_is_the_last_fits_as_keras():
    m = _model()
    assert m.history is None
    first = m.fit(X, Y, epochs=1, verbose=0)
    assert m.history is first
    second = m.fit(X, Y, epochs=2, verbose=0)
    assert m.history is second and second.epoch == [0, 1]


def test_one_callback_outside_a_list_is_taken_as_keras_takes_it():
    """It raised "'EarlyStopping' object is not iterable"."""
    from grukit.models import EarlyStopping

    stop = EarlyStopping(monitor="loss", patience=0, min_delta=1e9)  # no epoch gains 1e9
    hist = _model().fit(X, Y, epochs=5, verbose=0, callbacks=stop)
    assert len(hist.epoch) == 2 and stop.stopped_epoch == 1


def test_a_tensor_from_a_graph_is_taken_as_data():
    """fit on an encoder's output (requires_grad) failed at the second batch, 'Trying to
    backward through the graph a second time', after adding to the encoder's gradients."""
    enc = torch.nn.Linear(2, 2)
    x = enc(torch.as_tensor(X))
    m = _model()
    hist = m.fit(x, Y, epochs=2, batch_size=4, verbose=0)
    assert len(hist.history["loss"]) == 2 and enc.weight.grad is None
    assert m.evaluate(x, Y) == pytest.approx(m.evaluate(x.detach().numpy(), Y), rel=1e-6)


# fit(verbose=1) where no progress bar can be drawn (a notebook, a log file: standard output
# is no terminal) prints a line per epoch, as verbose=2, instead of nothing; verbose=0 stays
# silent.

def test_verbose_1_without_a_terminal_prints_a_line_per_epoch(capsys):
    _model().fit(X, Y, epochs=2, verbose=1)  # stdout here is no terminal
    out = capsys.readouterr().out
    assert "Epoch 1/2 - loss: " in out and "Epoch 2/2 - loss: " in out
    assert "━" not in out  # no bar


def test_verbose_0_prints_nothing(capsys):
    _model().fit(X, Y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
