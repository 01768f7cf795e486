"""The Keras-style API: the article's example, training, Keras parity, saving, errors."""

import numpy as np
import pytest
import torch

from grukit import convert
from grukit.layers import GRU, LSTM, AttentionPooling, Bidirectional, Dense, Dropout, Embedding
from grukit.models import EarlyStopping, Sequential, load

keras = pytest.importorskip("keras")


def _article_model():
    model = Sequential()
    model.add(GRU(64, input_shape=(100, 1), return_sequences=False))
    model.add(Dense(1))
    model.compile(optimizer="adam", loss="mse")
    return model


def test_article_example_summary_matches_keras():
    lines = []
    _article_model().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "gru (GRU)" in text and "(None, 64)" in text and "12,864" in text
    assert "dense (Dense)" in text and "(None, 1)" in text and " 65" in text
    assert "Total params: 12,929" in text
    ref = keras.Sequential([keras.Input((100, 1)), keras.layers.GRU(64), keras.layers.Dense(1)])
    assert ref.count_params() == 12_929
    assert [layer.count_params() for layer in ref.layers] == [12_864, 65]


def test_summary_of_a_model_not_built_yet_prints_as_keras():
    # a model whose first layer has no input_shape builds from fit's first data; Keras 3's
    # summary then shows each layer unbuilt (a Keras 2 script's summary before fit runs)
    lines = []
    model = Sequential([Embedding(1000, 32), GRU(8), Dense(1)])
    model.summary(print_fn=lines.append)
    ref = keras.Sequential([keras.layers.Embedding(1000, 32), keras.layers.GRU(8),
                            keras.layers.Dense(1)])
    ref_lines = []
    ref.summary(print_fn=lambda line, **_: ref_lines.append(line))
    ref_text = "\n".join(ref_lines)
    assert ref_text.count("0 (unbuilt)") == 3 and "Total params: 0" in ref_text
    text = "\n".join(lines)
    assert text.count("0 (unbuilt)") == 3 and "Total params: 0" in text
    assert not model.built
    x = np.random.default_rng(0).integers(1, 1000, size=(4, 7))
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, np.zeros((4, 1), "float32"), epochs=1, verbose=0)
    lines.clear()
    model.summary(print_fn=lines.append)
    assert "Total params: 32,000" not in "\n".join(lines)  # the GRU and Dense count too
    assert f"Total params: {model.count_params():,}" in "\n".join(lines)
    assert model.count_params() == 32_000 + 3 * (32 * 8 + 8 * 8 + 2 * 8) + 9


def _sine(n=600, steps=30, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n + steps + 1)
    s = np.sin(2 * np.pi * t / 25) + 0.05 * rng.standard_normal(len(t))
    x = np.stack([s[i:i + steps] for i in range(n)])[..., None].astype("float32")
    y = s[steps:steps + n, None].astype("float32")
    return x, y


def test_fit_lowers_validation_loss_by_a_clear_margin():
    torch.manual_seed(0)
    x, y = _sine()
    model = Sequential([GRU(32, input_shape=(30, 1)), Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    hist = model.fit(x, y, epochs=8, batch_size=32, validation_split=0.2, verbose=0)
    val = hist.history["val_loss"]
    assert len(val) == 8 and "val_mae" in hist.history
    assert val[-1] < 0.3 * val[0], val
    assert model.predict(x[:5]).shape == (5, 1)


@pytest.mark.parametrize("kind", ["GRU", "LSTM", "Bidirectional"])
def test_keras_model_with_same_weights_gives_same_predictions(kind):
    rng = np.random.default_rng(0)
    inner = {"GRU": lambda: keras.layers.GRU(8), "LSTM": lambda: keras.layers.LSTM(8),
             "Bidirectional": lambda: keras.layers.Bidirectional(keras.layers.GRU(8))}[kind]
    ref = keras.Sequential([keras.Input((12, 3)), inner(), keras.layers.Dense(2)])
    ref.set_weights([rng.normal(0, 0.4, w.shape).astype("float32") for w in ref.get_weights()])
    ours_rnn = {"GRU": lambda: GRU(8, input_shape=(12, 3)),
                "LSTM": lambda: LSTM(8, input_shape=(12, 3)),
                "Bidirectional": lambda: Bidirectional(GRU(8), input_shape=(12, 3))}[kind]()
    model = Sequential([ours_rnn, Dense(2)])
    model.build()
    model.stack[0].layer.rnn.load_state_dict(convert.from_keras(ref.layers[0]).state_dict()) \
        if kind == "Bidirectional" else \
        model.stack[0].rnn.load_state_dict(convert.from_keras(ref.layers[0]).state_dict())
    kernel, bias = ref.layers[1].get_weights()
    with torch.no_grad():
        model.stack[1].linear.weight.copy_(torch.from_numpy(kernel.T))
        model.stack[1].linear.bias.copy_(torch.from_numpy(bias))
    x = rng.normal(size=(4, 12, 3)).astype("float32")
    want = np.asarray(keras.ops.convert_to_numpy(ref(x)))
    np.testing.assert_allclose(model.predict(x), want, atol=1e-5)


def test_save_load_roundtrip_and_clear_errors(tmp_path):
    torch.manual_seed(0)
    model = Sequential([Embedding(50, 8, mask_zero=True, input_shape=(7,)),
                        GRU(6, return_sequences=True), AttentionPooling(), Dense(3,
                                                                                 "softmax")])
    model.build()
    x = np.array([[3, 4, 5, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7]])
    path = tmp_path / "m.safetensors"
    model.save(str(path))
    again = load(str(path))
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    other = Sequential([GRU(5, input_shape=(7, 1)), Dense(1)])
    other.build()
    before = {k: v.clone() for k, v in other.state_dict().items()}
    from grukit.models import load_weights

    with pytest.raises(ValueError, match="weights for another architecture .* left unchanged"):
        load_weights(other, str(path))
    for k, v in other.state_dict().items():
        assert torch.equal(v, before[k])
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable grukit model file"):
        load(str(bad))


def test_mask_zero_padding_changes_nothing_and_attention_ignores_it():
    torch.manual_seed(0)
    model = Sequential([Embedding(20, 4, mask_zero=True, input_shape=(6,)),
                        GRU(5, return_sequences=True), AttentionPooling(), Dense(1)])
    model.build()
    padded = torch.tensor([[3, 7, 2, 0, 0, 0]])
    alone = torch.tensor([[3, 7, 2]])
    model.eval()
    with torch.no_grad():
        a = model(padded)
        w = model.stack[2].last_weights
        b = model(alone)
    torch.testing.assert_close(a, b)
    assert torch.all(w[0, 3:] == 0) and torch.allclose(w.sum(1), torch.ones(1))


def test_errors_name_the_problem():
    model = Sequential([GRU(4, input_shape=(10, 2)), Dense(1)])
    with pytest.raises(RuntimeError, match="call compile"):
        model.fit(np.zeros((8, 10, 2)), np.zeros((8, 1)))
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamm'; choose one of \["):
        model.compile(optimizer="adamm")
    with pytest.raises(ValueError, match="unknown loss 'mse2'"):
        model.compile(loss="mse2")
    model.compile()
    with pytest.raises(ValueError, match="x has 8 samples but y has 7"):
        model.fit(np.zeros((8, 10, 2)), np.zeros((7, 1)))
    with pytest.raises(ValueError, match=r"x has shape \(samples, 10, 3\) but the model "
                                         r"expects \(samples, 10, 2\)"):
        model.fit(np.zeros((8, 10, 3)), np.zeros((8, 1)))
    x = np.zeros((8, 10, 2))
    x[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="x contains 1 NaN/Inf"):
        model.fit(x, np.zeros((8, 1)))
    with pytest.raises(ValueError, match=r"recurrent_dropout must be in \[0, 1\)"):
        GRU(4, recurrent_dropout=1.5)


def test_early_stopping_and_nan_loss():
    torch.manual_seed(0)
    x, y = _sine(200)
    model = Sequential([GRU(8, input_shape=(30, 1)), Dense(1)])
    model.build()
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=0.0), loss="mse")
    hist = model.fit(x, y, epochs=20, validation_split=0.25, verbose=0,
                     callbacks=[EarlyStopping(patience=1)])
    assert len(hist.history["loss"]) < 20  # lr 0: no improvement, stops early
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=1e6), loss="mse")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.warns(RuntimeWarning, match="training stopped and the weights"):
        model.fit(x * 1e6, y, epochs=3, verbose=0)
    after = model.state_dict()  # the NaN came in the first epoch: its starting weights
    for k, v in before.items():
        assert torch.equal(after[k], v), k


def test_dataloader_input():
    x, y = _sine(64)
    ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    model = Sequential([GRU(4, input_shape=(30, 1)), Dense(1)])
    model.compile()
    hist = model.fit(torch.utils.data.DataLoader(ds, batch_size=16), epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2
    assert isinstance(model.evaluate(ds), float)


def test_go_backwards_matches_keras_and_stateful_carries_state():
    rng = np.random.default_rng(3)
    ref = keras.layers.GRU(5, go_backwards=True, return_sequences=True)
    ref.build((None, 9, 2))
    ref.set_weights([rng.normal(0, 0.4, w.shape).astype("float32") for w in ref.get_weights()])
    ours = GRU(5, go_backwards=True, return_sequences=True)
    x = rng.normal(size=(3, 9, 2)).astype("float32")
    ours(torch.from_numpy(x))  # builds
    forward_ref = keras.layers.GRU(5, return_sequences=True)
    forward_ref.build((None, 9, 2))
    forward_ref.set_weights(ref.get_weights())
    ours.rnn.load_state_dict(convert.from_keras(forward_ref).state_dict())
    want = np.asarray(keras.ops.convert_to_numpy(ref(x)))
    with torch.no_grad():
        got = ours(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)

    torch.manual_seed(0)
    full = GRU(4, return_sequences=True)
    part = GRU(4, return_sequences=True, stateful=True)
    xs = torch.randn(2, 10, 3)
    with torch.no_grad():
        y_full = full(xs)[0]
        part(xs[:, :1])
        part.rnn.load_state_dict(full.rnn.state_dict())
        part.reset_states()
        y_parts = torch.cat([part(xs[:, :6])[0], part(xs[:, 6:])[0]], dim=1)
    torch.testing.assert_close(y_parts, y_full)
    with pytest.raises(ValueError, match="carries state for batch 2; got 5"):
        part(torch.randn(5, 2, 3))


def test_return_state_and_lstm_states():
    layer = LSTM(6, return_sequences=True, return_state=True)
    (out, h, c), _ = layer(torch.randn(2, 7, 3))
    assert out.shape == (2, 7, 6) and h.shape == (2, 6) and c.shape == (2, 6)
    torch.testing.assert_close(out[:, -1], h)


@pytest.mark.parametrize("cls", [GRU, LSTM])
def test_recurrent_dropout_masks_the_recurrent_state(cls):
    torch.manual_seed(0)
    layer = cls(6, return_sequences=True, recurrent_dropout=0.5)
    x = torch.randn(3, 8, 2)
    layer.eval()
    with torch.no_grad():
        y_eval = layer(x)[0]
        # off at inference: the plain recurrence, as torch.nn computes it
        theirs = getattr(torch.nn, cls.__name__)(2, 6, batch_first=True)
        theirs.load_state_dict(layer.rnn.state_dict())
        torch.testing.assert_close(y_eval, theirs(x)[0], rtol=1e-5, atol=1e-5)
    layer.train()
    y1, y2 = layer(x)[0], layer(x)[0]
    assert not torch.allclose(y1, y2)  # a fresh mask per call
    # the first step sees h0 = 0, which no mask changes
    torch.testing.assert_close(y1[:, 0], y_eval[:, 0])
    y1.sum().backward()
    assert layer.rnn.weight_hh_l0.grad is not None
    with pytest.raises(ValueError, match="no recurrent weights"):
        from grukit.layers import MinGRU

        MinGRU(4, recurrent_dropout=0.2)


def test_state_mask_op_against_manual_masking():
    from grukit import ops

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    wi, wh = torch.randn(9, 3, generator=g, dtype=torch.float64), \
        torch.randn(9, 3, generator=g, dtype=torch.float64)
    mask = torch.tensor([[2.0, 0.0, 2.0], [0.0, 2.0, 2.0]], dtype=torch.float64)
    y, _ = ops.gru(x, wi, wh, state_mask=mask)
    h = torch.zeros(2, 3, dtype=torch.float64)
    for t in range(4):  # Keras: W_hh applied to h ⊙ mask, the update uses h
        gi, gh = x[:, t] @ wi.T, (h * mask) @ wh.T
        r = torch.sigmoid(gi[:, :3] + gh[:, :3])
        z = torch.sigmoid(gi[:, 3:6] + gh[:, 3:6])
        n = torch.tanh(gi[:, 6:] + r * gh[:, 6:])
        h = (1 - z) * n + z * h
        torch.testing.assert_close(y[:, t], h)
    name, _ = ops.dispatch.explain("gru", "auto", x=x, state_mask=mask)
    assert name == "cpu"  # "auto" gives recurrent dropout the fused CPU kernel (checked above)


def test_progress_bar_runs_and_is_off_without_a_terminal(capsys):
    from grukit.models import ProgressBar

    x, y = _sine(64)
    model = Sequential([GRU(4, input_shape=(30, 1)), Dense(1)])
    model.compile()
    bar = ProgressBar(epochs=1, steps=2)
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[bar])
    assert bar.progress.tasks[0].completed == 2
    capsys.readouterr()
    model.fit(x, y, epochs=1, batch_size=32, verbose=1)  # stdout here is not a terminal
    assert "━" not in capsys.readouterr().out


def test_reduce_lr_on_plateau_lowers_the_rate_only_after_patience():
    """A plateau (SGD at lr 1e-9 leaves float32 weights, hence val_loss, unchanged): the rate
    is multiplied by ``factor`` at the end of the ``patience``-th epoch without improvement,
    as Keras; it never falls below ``min_lr``."""
    from grukit.models import Callback, ReduceLROnPlateau

    class Rates(Callback):
        def __init__(self):
            self.lr = []

        def on_epoch_end(self, epoch, logs=None):
            self.lr.append(self.model.optimizer.param_groups[0]["lr"])

    torch.manual_seed(0)
    x, y = _sine(64)
    model = Sequential([GRU(4, input_shape=(30, 1)), Dense(1)])
    model.build()
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=1e-9), loss="mse")
    rates = Rates()
    hist = model.fit(x, y, epochs=7, batch_size=32, validation_split=0.25, verbose=0,
                     callbacks=[ReduceLROnPlateau(patience=2, factor=0.5, min_lr=3e-10),
                                rates])
    val = hist.history["val_loss"]
    assert len(set(val)) == 1, val  # a true plateau
    # as Keras: epoch 0 sets the best; 1 waits; 2, the second epoch without gain, cuts;
    # 3 waits; 4 cuts to min_lr, where the rate stays
    assert rates.lr == pytest.approx([1e-9, 1e-9, 5e-10, 5e-10, 3e-10, 3e-10, 3e-10], rel=1e-12)

    cb = ReduceLROnPlateau(monitor="loss", patience=1, factor=0.1)
    cb.model = model
    model.optimizer.param_groups[0]["lr"] = 1.0
    for epoch, loss in enumerate([5.0, 4.0, 4.5, 3.0, 3.0, 3.0]):
        cb.on_epoch_end(epoch, {"loss": loss})
        want = [1.0, 1.0, 0.1, 0.1, 0.01, 0.001][epoch]  # each epoch without gain cuts
        assert model.optimizer.param_groups[0]["lr"] == pytest.approx(want), epoch


@pytest.mark.parametrize("settings", [
    dict(monitor="loss", patience=1, factor=0.5),  # Keras' default min_delta, 1e-4
    dict(monitor="loss", patience=2, factor=0.1, min_delta=0.05, cooldown=2, min_lr=2e-3),
    dict(monitor="val_accuracy", patience=1, factor=0.5, cooldown=1, mode="max"),
    dict(monitor="val_auc", patience=0, factor=0.5, mode="max", min_delta=0.01)])
def test_reduce_lr_on_plateau_schedule_equals_keras(settings):
    """The learning rate after each epoch, for the same logged values, equals that of Keras'
    ReduceLROnPlateau with the same settings (min_delta, cooldown, min_lr, mode), and a
    second fit starts afresh as Keras' does."""
    from grukit.models import ReduceLROnPlateau

    values = [1.0, 0.99995, 0.9, 0.9, 0.88, 0.87999, 0.87999, 0.5, 0.5, 0.5, 0.5, 0.49,
              0.2, 0.2, 0.2, 0.2]
    if settings["monitor"] != "loss":
        values = [1 - v for v in values]  # grows as the model improves
    ref_model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    ref_model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse")
    ref = keras.callbacks.ReduceLROnPlateau(**settings)
    ref.set_model(ref_model)
    model = Sequential([Dense(1, input_shape=(2,))])
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=1.0), loss="mse")
    cb = ReduceLROnPlateau(**settings)
    cb.model = model
    for _ in range(2):  # two fits in a row
        ref.on_train_begin()
        cb.on_train_begin()
        ref_model.optimizer.learning_rate = 1.0
        model.optimizer.param_groups[0]["lr"] = 1.0
        want, got = [], []
        for epoch, v in enumerate(values):
            ref.on_epoch_end(epoch, {settings["monitor"]: v})
            cb.on_epoch_end(epoch, {settings["monitor"]: v})
            want.append(float(ref_model.optimizer.learning_rate))
            got.append(model.optimizer.param_groups[0]["lr"])
        assert got == pytest.approx(want, rel=1e-6), (got, want)
        assert len(set(want)) > 2  # the schedule cut more than once


def test_layer_backend_is_checked_at_construction_passed_on_and_saved():
    from grukit.layers import MinGRU, from_config

    with pytest.raises(ValueError, match=r"GRU: unknown backend 'cuda'; choose one of 'auto', "
                                         r"'cpu'"):
        GRU(4, backend="cuda")
    with pytest.raises(ValueError, match="MinGRU: unknown backend 'native'; choose one of "
                                         "'auto', 'cpu', 'triton', 'reference'"):
        MinGRU(4, backend="native")  # the GRU's CUDA extension: no minGRU has one
    layer = LSTM(4, backend="reference")
    layer(torch.randn(2, 3, 2))
    assert layer.rnn.backend == "reference"
    again = from_config(layer.get_config())
    assert again.backend == "reference" and again.get_config() == layer.get_config()


def test_gru_layer_zoneout_reaches_the_module_and_other_layers_refuse_it():
    torch.manual_seed(0)
    layer = GRU(5, return_sequences=True, zoneout=0.25)
    x = torch.randn(2, 6, 3)
    layer(x)
    assert layer.rnn.zoneout == 0.25 and layer.get_config()["config"]["zoneout"] == 0.25
    layer.eval()
    with torch.no_grad():  # eval: h = 0.25·h_prev + 0.75·h̃, not the plain GRU
        plain = torch.nn.GRU(3, 5, batch_first=True)
        plain.load_state_dict(layer.rnn.state_dict())
        assert not torch.allclose(layer(x)[0], plain(x)[0])
    with pytest.raises(ValueError, match="LSTM: zoneout is available for GRU"):
        LSTM(4, zoneout=0.1)
    with pytest.raises(TypeError, match="GRU got unexpected keyword argument"):
        GRU(4, kernel_constrain="max_norm")


def test_a_model_with_an_input_shape_is_built_at_construction_as_in_keras():
    """``parameters()`` is complete before compile or fit: a torch optimizer and
    ``torch.compile(fullgraph=True)`` take the model as constructed."""
    model = Sequential([GRU(8, input_shape=(5, 2)), Dense(1)])
    ref = keras.Sequential([keras.Input((5, 2)), keras.layers.GRU(8), keras.layers.Dense(1)])
    assert sum(p.numel() for p in model.parameters()) == ref.count_params() == 297
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(4, 5, 2), torch.randn(4, 1)
    before = [p.detach().clone() for p in model.parameters()]
    torch.nn.functional.mse_loss(model(x), y).backward()
    opt.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    compiled = torch.compile(model, fullgraph=True)
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-6)
    # add() one layer at a time builds too; a layer that cannot follow is refused, left out
    step = Sequential()
    step.add(GRU(8, input_shape=(5, 2)))
    assert step.built and sum(p.numel() for p in step.parameters()) == 288
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, time, features\)"):
        step.add(GRU(4))
    assert len(step.layers) == 1
    step.add(Dense(1))
    torch.testing.assert_close(step(x).shape, (4, 1))


def test_evaluate_and_predict_take_keras_verbose_and_argument_order():
    x = np.random.default_rng(0).normal(size=(5, 4, 2)).astype(np.float32)
    y = x.sum((1, 2))[:, None]
    m = Sequential([GRU(3, input_shape=(4, 2)), Dense(1)])
    m.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    want = m.evaluate(x, y, return_dict=True)
    # Keras' positions: evaluate(x, y, batch_size, verbose, sample_weight, ...)
    assert m.evaluate(x, y, 2, 0, np.ones(5)) == pytest.approx(list(want.values()))
    np.testing.assert_allclose(m.predict(x, 2, 0), m.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)  # other batches: other sums, last bits apart
    with pytest.raises(ValueError, match="verbose must be"):
        m.predict(x, verbose="yes")


def test_a_layer_added_after_compile_is_trained_as_keras_trains_it():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4, 2)).astype(np.float32)
    y = rng.normal(size=(8, 1)).astype(np.float32)
    ref = keras.Sequential([keras.Input((4, 2)), keras.layers.GRU(3)])
    ours = Sequential([GRU(3, input_shape=(4, 2))])
    ref.compile(optimizer="sgd", loss="mse")
    ours.compile(optimizer="sgd", loss="mse")
    ref.add(keras.layers.Dense(1))
    ours.add(Dense(1))
    ref.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in ref.get_weights()])
    ours.set_weights(ref.get_weights())
    ref.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)  # the Dense too
    # a torch optimizer made before the layer does not hold it: refused, not half-trained
    m = Sequential([GRU(3, input_shape=(4, 2))])
    m.compile(optimizer=torch.optim.SGD(m.parameters(), lr=0.1), loss="mse")
    m.add(Dense(1))
    with pytest.raises(RuntimeError, match="Dense was added after compile"):
        m.fit(x, y, verbose=0)
    m.compile(optimizer=torch.optim.SGD(m.parameters(), lr=0.1), loss="mse")
    m.fit(x, y, verbose=0)


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_keras_default_settings_spelled_out_are_taken_and_others_refused(kind):
    import grukit.layers as gl

    spelled = {"activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True,
               "unroll": False}
    x = np.random.default_rng(0).normal(size=(3, 4, 2)).astype(np.float32)
    ref = keras.Sequential([keras.Input((4, 2)), getattr(keras.layers, kind)(3, **spelled)])
    ours = Sequential([getattr(gl, kind)(3, input_shape=(4, 2), **spelled)])
    ours.set_weights(ref.get_weights())
    np.testing.assert_allclose(ours.predict(x), keras.ops.convert_to_numpy(ref(x)), atol=1e-6)


@pytest.mark.parametrize("kind", ["GRU", "LSTM", "SimpleRNN"])
def test_keras_unroll_true_is_taken_gives_keras_numbers_and_stays_in_the_config(kind):
    """Keras' unroll=True writes the loop out step by step: the same numbers, so a script
    that sets it runs unchanged (it was refused), and the setting survives a save."""
    import grukit.layers as gl

    x = np.random.default_rng(0).normal(size=(3, 4, 2)).astype(np.float32)
    ref = keras.Sequential([keras.Input((4, 2)), getattr(keras.layers, kind)(3, unroll=True)])
    ours = Sequential([getattr(gl, kind)(3, input_shape=(4, 2), unroll=True)])
    ours.set_weights(ref.get_weights())
    np.testing.assert_allclose(ours.predict(x), keras.ops.convert_to_numpy(ref(x)), atol=1e-6)
    layer = ours.layers[0]
    assert layer.unroll is True and layer.get_config()["config"]["unroll"] is True
    assert gl.from_config(layer.get_config()).unroll is True
    assert getattr(gl, kind)(3).unroll is False
    with pytest.raises(TypeError, match="unroll must be True or False"):
        getattr(gl, kind)(3, unroll="yes")


def test_return_state_layer_is_kept_last_and_predict_returns_output_and_states():
    x = np.random.default_rng(0).normal(size=(5, 3, 2)).astype(np.float32)
    m = Sequential([LSTM(3, input_shape=(3, 2), return_state=True)])
    out, h, c = m.predict(x, batch_size=2)  # batches joined for each of [output, h, c]
    want = m(torch.from_numpy(x))
    for a, b in zip((out, h, c), want, strict=True):
        np.testing.assert_allclose(a, b.detach().numpy(), atol=1e-6)
    with pytest.raises(ValueError, match=r"GRU\(return_state=True\) returns \[output, \*states\]"
                                         r", which Dense cannot take"):
        Sequential([GRU(3, input_shape=(3, 2), return_state=True), Dense(1)])


def test_model_call_is_inference_outside_fit_as_in_keras():
    x = np.random.default_rng(0).normal(size=(6, 4, 2)).astype(np.float32)
    y = x.sum((1, 2))[:, None]
    m = Sequential([GRU(3, input_shape=(4, 2), dropout=0.5)])
    m.add(Dropout(0.5))
    m.add(Dense(1))
    t = torch.from_numpy(x)
    torch.testing.assert_close(m(t), m(t))  # a new model: no dropout
    m.compile(optimizer="sgd", loss="mse")
    m.fit(x, y, epochs=1, verbose=0)
    torch.testing.assert_close(m(t), m(t))  # after fit
    m.train_on_batch(x, y)
    torch.testing.assert_close(m(t), m(t))
    m.train()  # a torch loop of one's own
    assert not torch.equal(m(t), m(t))


def test_integer_features_are_read_as_floats_as_keras_reads_them():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, (6, 4, 2))  # counts, not token ids: no Embedding first
    y = rng.normal(size=(6, 1)).astype(np.float32)
    ref = keras.Sequential([keras.Input((4, 2)), keras.layers.GRU(3), keras.layers.Dense(1)])
    ours = Sequential([GRU(3, input_shape=(4, 2)), Dense(1)])
    ours.set_weights(ref.get_weights())
    want = keras.ops.convert_to_numpy(ref(x.astype(np.float32)))
    np.testing.assert_allclose(ours.predict(x), want, atol=1e-6)
    ref.compile(optimizer="sgd", loss="mse")
    ours.compile(optimizer="sgd", loss="mse")
    assert ours.evaluate(x, y) == pytest.approx(ref.evaluate(x, y, verbose=0), rel=1e-5)
    assert ours.fit(x, y, epochs=1, shuffle=False, verbose=0).history["loss"][0] == \
        pytest.approx(ref.fit(x, y, epochs=1, shuffle=False, verbose=0).history["loss"][0],
                      rel=1e-5)


def test_optimizer_names_are_read_as_keras_reads_them_whatever_their_case():
    m = Sequential([GRU(3, input_shape=(4, 2)), Dense(1)])
    for name, cls in [("Adam", "KerasAdam"), ("SGD", "KerasSGD"), ("RMSprop", "KerasRMSprop"),
                      ("AdamW", "KerasAdamW"), ("Adagrad", "KerasAdagrad")]:
        m.compile(optimizer=name, loss="mse")
        assert type(m.optimizer).__name__ == cls


@pytest.mark.parametrize("shape,make,make_keras", [
    ((None, 7), lambda: [Dense(3)], lambda kl: [kl.Dense(3)]),
    ((None, 5, 7), lambda: [Dense(3)], lambda kl: [kl.Dense(3)]),
    ((None, 5, 7), lambda: [GRU(3)], lambda kl: [kl.GRU(3)]),
    ((None, None, 7), lambda: [GRU(3), Dense(2)], lambda kl: [kl.GRU(3), kl.Dense(2)]),
    ((None, 10), lambda: [Embedding(20, 4), GRU(3)], lambda kl: [kl.Embedding(20, 4), kl.GRU(3)]),
], ids=["dense-None-7", "dense-None-5-7", "gru-None-5-7", "gru-None-None-7", "embedding-None-10"])
def test_build_with_keras_batch_dimension_reads_as_keras(shape, make, make_keras):
    """``build((None, 7))``, Keras' form with the batch first, builds what Keras builds (a
    Dense on vectors of 7, not on sequences of them; a GRU on (5, 7)): the same input and
    output shapes, weights and predictions."""
    ref = keras.Sequential(make_keras(keras.layers))
    ref.build(shape)
    ours = Sequential(make())
    ours.build(shape)
    assert ours.input_shape == tuple(ref.input_shape)
    assert ours.output_shape == tuple(ref.output_shape)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in ref.get_weights()]
    ours.set_weights(ref.get_weights())
    sample = [4 if d is None else d for d in shape[1:]]
    x = np.random.default_rng(0).integers(0, 20, size=(2, *sample)) if shape == (None, 10) \
        else np.random.default_rng(0).normal(size=(2, *sample)).astype("float32")
    np.testing.assert_allclose(ours.predict(x), ref.predict(x, verbose=0), atol=1e-5)


def test_build_without_a_batch_dimension_keeps_grukit_form():
    """grukit's form, one sample's shape: (time, features) for a recurrent layer, a leading
    None the open time length where the model cannot take Keras' reading (a GRU on vectors)."""
    for shape in ((7, 3), (None, 3)):
        model = Sequential([GRU(4), Dense(1)])
        model.build(shape)
        assert model.input_shape == (None, *shape)
    model = Sequential([GRU(4)])
    with pytest.raises(ValueError, match="GRU expects input of shape"):
        model.build((None, 3, 5, 7))
    assert model.stack[0].input_shape is None  # left unbuilt


def test_build_takes_numpy_and_torch_sizes_and_refuses_other_entries(tmp_path):
    """An input_shape of numpy integers (``x.shape[1:]`` of an array, np.array([5, 7])) is
    read as Python integers: kept as numpy's, the model could not be saved or written as
    JSON ('Object of type int64 is not JSON serializable'). Entries that are no positive
    integer (7.0, 0, -1, True) or no shape at all are refused in one sentence."""
    from grukit.models import load_model

    for shape in (np.array([5, 7]), (np.int64(5), np.int32(7)), torch.Size([5, 7])):
        model = Sequential([GRU(3), Dense(1)])
        model.build(shape)
        assert model.input_shape == (None, 5, 7)
        assert all(type(d) is int for d in model.input_shape[1:])
        model.to_json()
        model.save(tmp_path / "m.safetensors")
        assert load_model(tmp_path / "m.safetensors").input_shape == (None, 5, 7)
    for bad in (7, (None, 7.0), (0, 7), (None, -1, 7), (True, 7), (), "57"):
        model = Sequential([GRU(3), Dense(1)])
        with pytest.raises(ValueError, match="build: input_shape must be"):
            model.build(bad)
        assert model.stack[0].input_shape is None


def test_an_open_length_that_a_flatten_hands_to_a_dense_is_refused_in_one_sentence():
    """Keras refuses a Dense whose input size is None; the trace at two lengths raised
    torch's 'mat1 and mat2 shapes cannot be multiplied' from deep inside."""
    from grukit.layers import Flatten

    for make in (lambda: Sequential([Flatten(), Dense(1)]).build((None, None, 7)),
                 lambda: Sequential([Flatten(input_shape=(None, 7)), Dense(1)]).summary()):
        with pytest.raises(ValueError, match=r"open length \(None\).*give the length"):
            make()
    model = Sequential([Flatten(), Dense(1)])
    model.build((None, 3, 7))  # a fixed length builds, as Keras: 21 inputs
    assert model.get_weights()[0].shape == (21, 1)
