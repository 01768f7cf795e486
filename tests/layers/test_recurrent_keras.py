"""The Keras-style recurrent layers against Keras 3's behaviour where it is not a weight
parity (the dropout masks' pattern, Keras 3's method names)."""

import numpy as np
import pytest
import torch

from grukit.layers import GRU, LSTM, SimpleRNN


@pytest.mark.parametrize("cls", [GRU, LSTM, SimpleRNN])
def test_input_dropout_drops_the_same_features_at_every_step_as_keras(cls):
    # Keras' dropout (DropoutRNNCell): one mask (B, F) per call, the same at every time
    # step (Gal & Ghahramani 2016), the kept features scaled by 1 / (1 − rate)
    torch.manual_seed(0)
    layer = cls(3, return_sequences=True, dropout=0.5, input_shape=(7, 40))
    layer.build((7, 40))
    layer.train()
    seen = {}

    def grab(module, args):
        seen["x"] = args[0].detach()

    layer.rnn.register_forward_pre_hook(grab)
    layer(torch.ones(4, 7, 40))
    x = seen["x"]  # (B, T, F) as the recurrence reads it
    assert set(x.unique().tolist()) <= {0.0, 2.0}
    torch.testing.assert_close(x, x[:, :1].expand_as(x))  # the same features at every step
    assert 0 < (x == 0).float().mean() < 1
    assert not torch.equal(x[0], x[1])  # a mask of each sequence


def test_dropout_is_off_outside_training():
    layer = GRU(3, return_sequences=True, dropout=0.5, input_shape=(5, 2))
    layer.eval()
    x = torch.randn(2, 5, 2)
    torch.testing.assert_close(layer(x)[0], layer(x)[0])


def test_reset_state_is_keras_3s_name_for_reset_states():
    layer = GRU(3, stateful=True, input_shape=(4, 2))
    x = torch.randn(2, 4, 2)
    first = layer(x)[0]
    assert not torch.allclose(layer(x)[0], first)  # the state carried on
    layer.reset_state()
    torch.testing.assert_close(layer(x)[0], first)
    assert np.isfinite(first.detach().numpy()).all()


def test_simple_rnn_takes_keras_relu_function_and_names_its_activations():
    keras = pytest.importorskip("keras")
    layer = SimpleRNN(3, activation=keras.activations.relu, input_shape=(4, 2))
    layer.build((4, 2))
    assert layer.get_config()["config"]["activation"] == "relu"
    assert layer.rnn.nonlinearity == "relu"
    for bad in ("RELU", "softmax", lambda t: t):
        with pytest.raises(ValueError, match=r"^SimpleRNN: activation: unknown activation "
                                             r".*; choose one of elu, .*, tanh\.$"):
            SimpleRNN(3, activation=bad)


@pytest.mark.parametrize("arg", ["return_sequences", "return_state", "go_backwards",
                                 "stateful"])
def test_switches_given_as_strings_are_refused_in_one_sentence(arg):
    # "False" read from a config file is truthy: it ran as True without a word
    with pytest.raises(TypeError, match=rf"^GRU: {arg} must be True or False; got 'False'\."):
        GRU(3, **{arg: "False"})
    layer = GRU(3, **{arg: np.bool_(False)})
    assert getattr(layer, arg) is False
    assert getattr(GRU(3, **{arg: 1}), arg) is True  # Keras takes 0 / 1 as well


def test_bidirectional_takes_a_backward_layer_alike_as_keras_writes_it():
    from grukit.layers import Bidirectional

    torch.manual_seed(0)
    x = torch.randn(2, 5, 3)
    plain = Bidirectional(GRU(4, return_sequences=True))
    plain(x)
    given = Bidirectional(GRU(4, return_sequences=True),
                          backward_layer=GRU(4, return_sequences=True, go_backwards=True,
                                             name="back"))
    given(x)
    given.set_weights(plain.get_weights())
    torch.testing.assert_close(given(x)[0], plain(x)[0])
    assert given.get_config() == plain.get_config()


@pytest.mark.parametrize("backward, said", [
    (lambda: GRU(5, go_backwards=True), r"units: forward 4, backward 5"),
    (lambda: LSTM(4, go_backwards=True), r"forward GRU, backward LSTM"),
    (lambda: GRU(4), r"backward_layer must have go_backwards=True"),
    (lambda: GRU(4, go_backwards=True, dropout=0.5), r"dropout: forward 0.0, backward 0.5"),
])
def test_bidirectional_refuses_a_backward_layer_unlike_the_forward_one(backward, said):
    from grukit.layers import Bidirectional

    with pytest.raises(ValueError, match=r"^Bidirectional: .*" + said):
        Bidirectional(GRU(4), backward_layer=backward())


@pytest.mark.parametrize("cls", [GRU, LSTM, SimpleRNN])
@pytest.mark.parametrize("shape", [(5, 4), (2, 5, 3), (1, 2, 5, 4)])
def test_a_built_layer_refuses_input_of_another_rank_or_width_naming_both(cls, shape):
    # Keras' input spec refuses such an input ("expected ndim=3, found ndim=2"); a (T, F)
    # input reached the module, which reads it as one unbatched sequence, and failed deep
    # in it (IndexError), or named the module's input_size ("RNN: ..." for SimpleRNN)
    layer = cls(3)
    layer(torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match=rf"{cls.__name__} was built for input of shape "
                                         rf"\(batch, time, 4\); got \({shape[0]}, "):
        layer(torch.zeros(shape))
