"""Converters checked against the real libraries: Keras 3 (torch backend) and torch.nn."""

import numpy as np
import pytest
import torch

import grukit
import grukit.nn as gnn
from grukit import convert

keras = pytest.importorskip("keras")


def _randomise(layer, seed=0):
    """Keras initialises biases to zero; random ones make the bias mapping observable."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32")
                       for w in layer.get_weights()])


def _keras_out(layer, x):
    out = layer(x.numpy())
    return [torch.as_tensor(np.asarray(keras.ops.convert_to_numpy(o))) for o in out]


KERAS_LAYERS = {
    "GRU-reset_after": lambda: keras.layers.GRU(5, reset_after=True, return_sequences=True,
                                                return_state=True),
    "GRU-reset_before": lambda: keras.layers.GRU(5, reset_after=False, return_sequences=True,
                                                 return_state=True),
    "LSTM": lambda: keras.layers.LSTM(5, return_sequences=True, return_state=True),
    "SimpleRNN": lambda: keras.layers.SimpleRNN(5, return_sequences=True, return_state=True),
    "GRU-no_bias": lambda: keras.layers.GRU(5, use_bias=False, return_sequences=True,
                                            return_state=True),
}


@pytest.mark.parametrize("name", list(KERAS_LAYERS))
def test_from_keras_matches_keras(name):
    layer = KERAS_LAYERS[name]()
    x = torch.randn(3, 8, 4)
    layer.build((None, None, 4))
    _randomise(layer)
    y_k, *states_k = _keras_out(layer, x)
    module = convert.from_keras(layer)
    assert module.batch_first
    with torch.no_grad():
        y, h = module(x)
    torch.testing.assert_close(y, y_k, rtol=1e-5, atol=1e-5)
    if name == "LSTM":
        torch.testing.assert_close(h[0][0], states_k[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(h[1][0], states_k[1], rtol=1e-5, atol=1e-5)
    else:
        torch.testing.assert_close(h[0], states_k[0], rtol=1e-5, atol=1e-5)
    # the parameter count is Keras' own
    # torch layout has a second bias vector where Keras has one
    extra = {"LSTM": 4 * 5, "SimpleRNN": 5}.get(name, 0)
    assert grukit.count_params(module) == layer.count_params() + extra


def test_from_keras_bidirectional():
    layer = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True))
    layer.build((None, None, 3))
    _randomise(layer)
    x = torch.randn(2, 6, 3)
    y_k = torch.as_tensor(np.asarray(keras.ops.convert_to_numpy(layer(x.numpy()))))
    with torch.no_grad():
        y, _ = convert.from_keras(layer)(x)
    torch.testing.assert_close(y, y_k, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind,kw", [("GRU", {}), ("GRU", {"reset_after": False}),
                                     ("LSTM", {}), ("RNN", {"nonlinearity": "relu"}),
                                     ("GRU", {"bidirectional": True})],
                         ids=["gru", "gru_reset_before", "lstm", "rnn_relu", "bigru"])
def test_to_keras_matches_grukit(kind, kw):
    torch.manual_seed(0)
    module = getattr(gnn, kind)(4, 5, batch_first=True, **kw)
    layer = convert.to_keras(module)
    x = torch.randn(3, 7, 4)
    y_k = _keras_out(layer, x)[0]
    with torch.no_grad():
        y, _ = module(x)
    torch.testing.assert_close(y, y_k, rtol=1e-5, atol=1e-5)
    # and back again
    again = convert.from_keras(layer)
    with torch.no_grad():
        torch.testing.assert_close(again(x)[0], y, rtol=1e-5, atol=1e-5)


def test_keras_parameter_counts_of_the_article():
    for reset_after, count in ((True, 12_864), (False, 12_672)):
        layer = keras.layers.GRU(64, reset_after=reset_after)
        layer.build((None, 100, 1))
        assert layer.count_params() == count
        assert grukit.count_params(convert.from_keras(layer)) == count
        assert grukit.count_params(gnn.GRU(1, 64, reset_after=reset_after)) == count


def test_keras_errors():
    with pytest.raises(ValueError, match="not built"):
        convert.from_keras(keras.layers.GRU(3))
    layer = keras.layers.GRU(3, activation="hard_silu")
    layer.build((None, None, 2))
    with pytest.raises(ValueError, match="activation='hard_silu', which grukit has no form"):
        convert.from_keras(layer)
    with pytest.raises(ValueError, match="hold one layer"):
        convert.to_keras(gnn.GRU(3, 4, 2))
    with pytest.raises(TypeError, match="expected a Keras GRU"):
        convert.from_keras(keras.layers.Dense(3))


@pytest.mark.parametrize("cls", ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell"])
def test_torch_roundtrip(cls):
    torch.manual_seed(0)
    cell = cls.endswith("Cell")
    kw = {} if cell else {"num_layers": 2, "bidirectional": True}
    theirs = getattr(torch.nn, cls)(3, 4, **kw)
    ours = convert.from_torch(theirs)
    assert type(ours) is getattr(gnn, cls)
    x = torch.randn(5, 3) if cell else torch.randn(6, 5, 3)
    a, b = theirs(x), ours(x)
    a, b = (a, b) if isinstance(a, tuple) else ((a,), (b,))
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-5)
    back = convert.to_torch(ours)
    assert type(back) is type(theirs)
    for (n1, p1), (n2, p2) in zip(theirs.named_parameters(), back.named_parameters(),
                                  strict=True):
        assert n1 == n2 and torch.equal(p1, p2)


def test_to_torch_refuses_textbook_gru():
    with pytest.raises(ValueError, match="torch.nn.GRU only has the reset_after=True form"):
        convert.to_torch(gnn.GRU(3, 4, reset_after=False))


def test_cells_without_a_counterpart_are_refused_in_one_sentence():
    with pytest.raises(ValueError, match="Keras has no minGRU layer; the modules that convert "
                                         "to Keras are GRU, LSTM, RNN"):
        convert.to_keras(gnn.MinGRU(3, 4))
    with pytest.raises(ValueError, match="torch.nn has no minGRU; the modules that convert to "
                                         "torch.nn are GRU, LSTM, RNN"):
        convert.to_torch(gnn.MinGRU(3, 4))
    with pytest.raises(TypeError, match=r"expected a recurrent module of grukit.nn or torch.nn "
                                        r"\(GRU, LSTM, RNN\); got Linear"):
        convert.from_torch(torch.nn.Linear(3, 4))


def test_simple_rnn_with_an_activation_grukit_lacks_is_refused():
    layer = keras.layers.SimpleRNN(3, activation="hard_silu")
    layer.build((None, None, 2))
    with pytest.raises(ValueError, match="Keras SimpleRNN uses activation='hard_silu', which "
                                         "grukit has no form for; it takes Keras' linear, "):
        convert.from_keras(layer)


@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
def test_a_function_of_the_users_named_as_keras_activation_is_refused(kind):
    # it was taken for Keras' relu by its __name__: the module computed another function
    def relu(x):
        return keras.ops.relu(x) * 2.0

    layer = getattr(keras.layers, kind)(3, activation=relu)
    layer.build((None, None, 2))
    with pytest.raises(ValueError, match=rf"^Keras {kind} uses activation='relu' \(a function "
                                         rf"of {__name__}\), which grukit has no form for"):
        convert.from_keras(layer)


@pytest.mark.parametrize("act", ["sigmoid", "linear", "elu", "gelu"])
def test_simple_rnn_with_another_activation_converts_both_ways(act):
    # Keras' SimpleRNN(activation="sigmoid") was refused ("no torch equivalent"), though
    # grukit.nn.RNN runs it; to_torch still refuses it (torch.nn.RNN has tanh and relu only)
    layer = keras.layers.SimpleRNN(3, activation=act, return_sequences=True)
    x = np.random.RandomState(0).randn(2, 5, 2).astype("float32")
    want = keras.ops.convert_to_numpy(layer(x))
    module = convert.from_keras(layer)
    assert module.nonlinearity == act
    np.testing.assert_allclose(module(torch.from_numpy(x))[0].detach().numpy(), want,
                               rtol=1e-5, atol=1e-6)
    back = convert.to_keras(module)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(back(x)[0]), want, rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ValueError, match=f"torch.nn computes tanh or relu only; this model's "
                                         f"recurrent layer has activation='{act}'"):
        convert.to_torch(module)


@pytest.mark.parametrize("backward", [
    lambda: keras.layers.GRU(4, return_sequences=True, go_backwards=True, activation="relu"),
    lambda: keras.layers.GRU(4, return_sequences=True, go_backwards=True, reset_after=False),
    lambda: keras.layers.LSTM(4, return_sequences=True, go_backwards=True),
], ids=["relu", "reset_before", "LSTM"])
def test_bidirectional_directions_are_both_checked(backward):
    # the backward direction was converted with the forward one's cell and options
    layer = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True),
                                       backward_layer=backward())
    layer.build((None, None, 3))
    with pytest.raises(ValueError, match="only tanh/sigmoid|directions differ"):
        convert.from_keras(layer)


def test_from_keras_refuses_a_torch_module_in_one_sentence():
    # it sent a grukit.nn module to from_torch, which refuses one
    with pytest.raises(TypeError, match="got grukit.nn.gru.GRU .*a grukit.nn one needs no "
                                        "conversion, and to_keras makes the Keras layer"):
        convert.from_keras(gnn.GRU(3, 4))
    with pytest.raises(TypeError, match="got torch.nn.modules.rnn.GRU .*a torch.nn module "
                                        "converts with from_torch"):
        convert.from_keras(torch.nn.GRU(3, 4))


@pytest.mark.parametrize("cls", ["GRU", "LSTM"])
def test_float64_converts_without_rounding_to_float32(cls):
    torch.manual_seed(0)
    module = getattr(gnn, cls)(3, 4, batch_first=True, bidirectional=True).double()
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.5)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    layer = convert.to_keras(module)
    y_k, *_ = _keras_out(layer, x)
    y, _ = module(x)
    assert y_k.dtype == torch.float64
    torch.testing.assert_close(y_k, y, rtol=1e-12, atol=1e-12)
    back = convert.from_keras(layer)  # Keras' one LSTM bias is the sum of torch's two
    assert next(back.parameters()).dtype == torch.float64
    torch.testing.assert_close(back(x)[0], y, rtol=1e-12, atol=1e-12)


def test_weight_lists_of_another_shape_are_refused():
    layer = keras.layers.GRU(4, reset_after=True)
    layer.build((None, None, 3))
    with pytest.raises(ValueError, match=r"not those of a Keras GRU with units=4, "
                                         r"reset_after=False"):
        convert.keras_to_torch_weights(layer.get_weights(), "gru", reset_after=False)
    lstm = keras.layers.LSTM(4)
    lstm.build((None, None, 3))
    with pytest.raises(ValueError, match="not those of a Keras GRU"):
        convert.keras_to_torch_weights(lstm.get_weights(), "gru")
    with pytest.raises(ValueError, match="no\\s+projection"):
        lstm_p = torch.nn.LSTM(3, 4, proj_size=2)
        convert.torch_to_keras_weights({n[:-3]: p for n, p in lstm_p.named_parameters()},
                                       "lstm")


def test_a_non_zero_recurrent_bias_is_not_dropped():
    # reset_after=False has no b_hh in Keras: a torch GRU's one was silently lost
    gru = torch.nn.GRU(3, 4)
    params = {n[:-3]: p for n, p in gru.named_parameters()}
    with pytest.raises(ValueError, match="bias_hh is non-zero"):
        convert.torch_to_keras_weights(params, "gru", reset_after=False)
    with torch.no_grad():
        gru.bias_hh_l0.zero_()
    assert len(convert.torch_to_keras_weights(params, "gru", reset_after=False)) == 3


def test_a_grukit_layers_layer_is_refused_with_the_module_it_holds():
    from grukit import layers

    layer = layers.GRU(4)
    layer(torch.randn(2, 5, 3))  # builds
    for f in (convert.to_torch, convert.to_keras, convert.from_torch):  # to_torch: AttributeError
        with pytest.raises(TypeError, match="grukit.layers layer, not a grukit.nn module; "
                                            "convert the module it holds, layer.rnn"):
            f(layer)
    assert type(convert.to_torch(layer.rnn)) is torch.nn.GRU


def test_a_go_backwards_layer_is_refused_saying_the_module_reads_time_forward():
    from grukit import layers

    layer = layers.GRU(4, go_backwards=True, return_sequences=True)
    x = torch.randn(2, 5, 3)
    y, _ = layer(x)  # a layer returns (outputs, lengths)
    with pytest.raises(TypeError, match="go_backwards=True belongs to the layer, not to the "
                                        "module: the converted module reads time forward, so "
                                        "reverse each sequence before it"):
        convert.to_torch(layer)
    module = convert.to_torch(layer.rnn)  # the advice holds: reversed input, same outputs
    torch.testing.assert_close(module(x.flip(1))[0], y)
    forward = layers.GRU(4)
    forward(x)  # builds
    with pytest.raises(TypeError) as plain:
        convert.to_torch(forward)
    assert "go_backwards" not in str(plain.value)


def test_a_textbook_gru_cell_is_refused_without_pointing_to_to_keras():
    with pytest.raises(ValueError, match=r"^torch.nn.GRUCell only has the reset_after=True "
                                         r"form; a reset_after=False GRU cell does not convert "
                                         r"to torch.nn.$"):
        convert.to_torch(gnn.GRUCell(3, 4, reset_after=False))


@pytest.mark.parametrize("convert_to", [convert.to_torch, convert.to_keras])
def test_zoneout_is_refused_where_the_target_would_predict_otherwise(convert_to):
    # in evaluation a zoneout GRU steps h' = p h + (1 − p) h̃; torch.nn and Keras step h̃
    with pytest.raises(ValueError, match=r"zoneout=0.3 computes .* predict otherwise"):
        convert_to(gnn.GRU(3, 4, zoneout=0.3))


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
@pytest.mark.parametrize("given", ["bias_ih", "bias_hh"])
def test_torch_to_keras_weights_with_one_bias_keeps_it(kind, given):
    # the other bias is zero: bias_hh alone was dropped (a Keras list without bias), and
    # bias_ih alone failed with AttributeError for a GRU
    torch.manual_seed(0)
    module = getattr(torch.nn, kind)(3, 4, batch_first=True)
    params = {n[:-3]: p for n, p in module.named_parameters()}
    other = "bias_hh" if given == "bias_ih" else "bias_ih"
    with torch.no_grad():
        params[other].zero_()
    layer = getattr(keras.layers, kind)(4, return_sequences=True, return_state=True)
    layer.build((None, None, 3))
    layer.set_weights(convert.torch_to_keras_weights(params | {other: None}, kind.lower()))
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        torch.testing.assert_close(_keras_out(layer, x)[0], module(x)[0], rtol=1e-5, atol=1e-5)


def test_torch_to_keras_weights_without_a_weight_says_which():
    with pytest.raises(ValueError, match="weight_hh missing"):
        convert.torch_to_keras_weights({"weight_ih": torch.zeros(12, 3)}, "gru")


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_torch_conversions_keep_the_mode(mode):
    # an evaluation module came back in training mode, so dropout between layers changed
    # its outputs
    theirs = getattr(torch.nn.LSTM(3, 4, num_layers=2, dropout=0.5), mode)()
    ours = convert.from_torch(theirs)
    back = convert.to_torch(ours)
    assert ours.training == back.training == (mode == "train")
    if mode == "eval":
        x = torch.randn(5, 2, 3)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(back(x), theirs(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [lambda: gnn.GRU(3, 4, zoneout=0.3),
                                  lambda: gnn.GRU(3, 4, reset_after=False),
                                  lambda: gnn.GRUCell(3, 4)])
def test_from_torch_refuses_a_grukit_module(make):
    # it made a copy from torch's arguments only: zoneout was lost (0.18 apart in
    # evaluation) and reset_after=False failed in load_state_dict
    with pytest.raises(TypeError, match="is already a grukit.nn module; from_torch converts "
                                        "torch.nn ones"):
        convert.from_torch(make())


def test_keras_to_torch_weights_takes_variables_lists_and_tensors():
    # layer.weights (Keras variables) failed with "Can't call numpy() on Tensor that requires
    # grad", nested lists with AttributeError
    layer = keras.layers.GRU(4)
    layer.build((None, None, 3))
    _randomise(layer)
    want = convert.keras_to_torch_weights(layer.get_weights(), "gru")
    for given in (layer.weights, [w.tolist() for w in layer.get_weights()],
                  [torch.tensor(w, requires_grad=True) for w in layer.get_weights()]):
        got = convert.keras_to_torch_weights(given, "gru")
        assert got.keys() == want.keys()
        assert all(torch.allclose(got[k].float(), want[k]) for k in want)


@pytest.mark.parametrize("make", [lambda: gnn.GRU(3, 4, num_layers=2, bidirectional=True),
                                  lambda: gnn.LSTM(3, 4, bias=False),
                                  lambda: gnn.RNN(3, 4, nonlinearity="relu"),
                                  lambda: gnn.GRUCell(3, 4)],
                         ids=["GRU-L2-bidir", "LSTM-no_bias", "RNN-relu", "GRUCell"])
def test_to_torch_of_an_int8_copy_carries_the_weights_it_computes_with(make):
    # to_torch failed inside load_state_dict (weight_ih_l0 missing, weight_ih_l0_int8
    # unexpected) where to_keras took the dequantized weights
    from grukit.nn.quantized import quantize_int8

    torch.manual_seed(0)
    q = quantize_int8(make().eval(), linear="grukit")
    theirs = convert.to_torch(q)
    assert type(theirs).__module__.startswith("torch.nn") and not theirs.training
    x = torch.randn(5, 2, 3) if isinstance(q, gnn.RecurrentBase) else torch.randn(2, 3)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), q(x), rtol=1e-5, atol=1e-6)


def test_to_keras_of_an_int8_copy_without_bias_converts():
    # it read the dtype from the first parameter, and an int8 copy without biases has none
    # (StopIteration)
    from grukit.nn.quantized import quantize_int8

    torch.manual_seed(0)
    q = quantize_int8(gnn.GRU(3, 4, bias=False, batch_first=True).eval(), linear="grukit")
    layer = convert.to_keras(q)
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        y, h = q(x)
    got = _keras_out(layer, x)
    torch.testing.assert_close(got[0], y, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got[1], h[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["mingru", "lngru"])
def test_weight_lists_of_a_cell_keras_lacks_are_refused_naming_the_ones_it_has(kind):
    # keras_to_torch_weights spoke of "a Keras None" layer, or converted the arrays as if
    # Keras had one (a LayerNorm-GRU's without its gains)
    spec = grukit.cells.get(kind)
    w = [np.zeros((3, spec.gates * 4), np.float32), np.zeros((4, spec.gates * 4), np.float32)]
    with pytest.raises(ValueError, match=f"Keras has no {spec.display} layer; .*GRU, LSTM, "
                                         f"SimpleRNN"):
        convert.keras_to_torch_weights(w, kind)
    params = {"weight_ih": torch.zeros(spec.gates * 4, 3),
              "weight_hh": torch.zeros(spec.gates * 4, 4)}
    with pytest.raises(ValueError, match=f"Keras has no {spec.display} layer"):
        convert.torch_to_keras_weights(params, kind)
