"""Bad input to the Keras-style layers and the training engine: each case is refused in one
sentence naming the argument and the fix, or gives the correct result."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grukit import models
from grukit.layers import (
    GRU,
    LSTM,
    AttentionPooling,
    Dense,
    Dropout,
    Embedding,
    MinGRU,
    SimpleRNN,
)
from grukit.models import (
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
    ReduceLROnPlateau,
    Sequential,
)


def _model(units=4, shape=(5, 3), optimizer="adam", **kw):
    torch.manual_seed(0)
    m = Sequential([GRU(units, input_shape=shape, **kw), Dense(1)])
    m.compile(optimizer=optimizer, loss="mse")
    return m


def _data(n=20, t=5, f=3):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, t, f)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


def _one_line(err) -> None:
    assert "\n" not in str(err.value)


# -- fit's arguments ------------------------------------------------------------------------
@pytest.mark.parametrize("epochs", [-1, 1.5, True, "2"])
def test_epochs_must_be_a_non_negative_integer(epochs):
    with pytest.raises(ValueError, match="epochs must be a non-negative integer") as err:
        _model().fit(*_data(), epochs=epochs, verbose=0)
    _one_line(err)


def test_zero_epochs_trains_nothing_as_keras():
    m, (x, y) = _model(), _data()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    assert m.fit(x, y, epochs=0, verbose=0).history == {}
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
@pytest.mark.parametrize("bs", [0, -1, 2.5, True])
def test_batch_size_must_be_a_positive_integer(method, bs):
    m, (x, y) = _model(), _data()
    args = (x,) if method == "predict" else (x, y)
    kwargs = {"verbose": 0} if method == "fit" else {}
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        getattr(m, method)(*args, batch_size=bs, **kwargs)


def test_batch_size_none_means_32_as_keras():
    m, (x, _) = _model(), _data(40)
    np.testing.assert_allclose(m.predict(x, batch_size=None), m.predict(x, batch_size=32))


@settings(max_examples=25, deadline=None)
@given(st.one_of(st.floats(-5, -1e-9), st.floats(1, 5), st.just(float("nan")),
                 st.just(True)))
def test_validation_split_outside_0_1_is_refused(split):
    with pytest.raises(ValueError, match=r"validation_split must be a number in \[0, 1\)"):
        _model().fit(*_data(), validation_split=split, verbose=0)


def test_validation_split_is_checked_even_with_validation_data():
    x, y = _data()
    with pytest.raises(ValueError, match="validation_split must be a number"):
        _model().fit(x, y, validation_split=-0.5, validation_data=(x, y), verbose=0)


def test_validation_split_that_leaves_no_validation_or_training_sample():
    with pytest.raises(ValueError, match=r"validation_split=1e-20 of 20 samples leaves no "
                                         r"validation sample; raise it to at least 0.05"):
        _model().fit(*_data(), validation_split=1e-20, verbose=0)
    x, y = _data()
    with pytest.raises(ValueError, match=r"validation_split=0.6 of 2 samples leaves no "
                                         r"sample to train on"):
        _model().fit(x[:2], y[:2], validation_split=0.6, verbose=0)


@pytest.mark.parametrize("n,split", [(10, 0.25), (20, 0.01), (100, 0.07), (7, 0.3)])
def test_validation_split_holds_out_the_samples_keras_holds_out(n, split):
    import math

    x, y = _data()
    x, y = np.resize(x, (n, *x.shape[1:])), np.resize(y, (n, *y.shape[1:]))
    m = _model()
    m.compile(optimizer=torch.optim.SGD(m.parameters(), lr=0.0), loss="mse")
    got = m.fit(x, y, validation_split=split, verbose=0, epochs=1).history["val_loss"][0]
    cut = int(math.floor(n * (1.0 - split)))  # keras' array_slicing.train_validation_split
    assert got == pytest.approx(m.evaluate(x[cut:], y[cut:]), rel=1e-6)


@pytest.mark.parametrize("kind", ["Dataset", "DataLoader"])
def test_validation_split_splits_a_dataset_as_it_splits_arrays(kind):
    x, y = _data()
    ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    data = ds if kind == "Dataset" else torch.utils.data.DataLoader(ds, batch_size=32)
    a = _model().fit(data, validation_split=0.25, verbose=0, seed=1, epochs=2).history
    b = _model().fit(x, y, validation_split=0.25, verbose=0, seed=1, epochs=2).history
    assert set(a) == {"loss", "val_loss"}
    np.testing.assert_allclose(a["val_loss"], b["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-5)


def test_fit_on_zero_samples():
    x, y = _data()
    with pytest.raises(ValueError, match="fit got 0 samples"):
        _model().fit(x[:0], y[:0], verbose=0)
    empty = torch.utils.data.TensorDataset(torch.zeros(0, 5, 3), torch.zeros(0, 1))
    with pytest.raises(ValueError, match="fit got 0 samples"):
        _model().fit(empty, verbose=0)


def test_evaluate_and_predict_on_zero_samples():
    m, (x, y) = _model(), _data()
    with pytest.raises(ValueError, match="evaluate got 0 samples"):
        m.evaluate(x[:0], y[:0])
    assert m.predict(x[:0]).shape == (0, 1)  # no samples, no predictions


@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_targets_are_required(method):
    m, (x, _) = _model(), _data()
    with pytest.raises(ValueError, match=f"{method} needs targets: pass y"):
        getattr(m, method)(x, **({"verbose": 0} if method == "fit" else {}))


@pytest.mark.parametrize("bad", [(np.zeros((2, 5, 3), "float32"),), "xy", 3])
def test_validation_data_must_be_a_pair(bad):
    with pytest.raises(ValueError, match=r"validation_data must be a pair \(x_val, y_val\)"):
        _model().fit(*_data(), validation_data=bad, verbose=0)


def test_validation_data_of_another_shape_names_x_val():
    x, y = _data()
    with pytest.raises(ValueError, match=r"x_val has shape \(samples, 5, 4\)"):
        _model().fit(x, y, validation_data=(np.zeros((2, 5, 4), "float32"), y[:2]), verbose=0)


@pytest.mark.parametrize("arg, value, err, msg", [
    ("verbose", 3, ValueError, "verbose must be 'auto', 0"),
    ("verbose", "yes", ValueError, "verbose must be 'auto', 0"),
    ("shuffle", "no", TypeError, "shuffle must be True or False"),
    ("callbacks", [1], TypeError, "callbacks must be grukit.models.Callback instances; got int"),
])
def test_other_fit_arguments(arg, value, err, msg):
    with pytest.raises(err, match=msg):
        _model().fit(*_data(), verbose=0, **{arg: value}) if arg != "verbose" else \
            _model().fit(*_data(), verbose=value)


# -- data -----------------------------------------------------------------------------------
def test_wrong_feature_count_names_both_shapes():
    m = _model()
    with pytest.raises(ValueError, match=r"x has shape \(samples, 5, 4\) but the model expects "
                                         r"\(samples, 5, 3\)"):
        m.fit(np.zeros((4, 5, 4), "float32"), np.zeros((4, 1)), verbose=0)
    with pytest.raises(ValueError, match=r"GRU was built for input of shape \(batch, time, 3\); "
                                         r"got \(4, 5, 4\)"):
        m.fit(torch.utils.data.TensorDataset(torch.zeros(4, 5, 4), torch.zeros(4, 1)),
              verbose=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_other_float_dtypes_are_cast_as_keras(dtype):
    m, (x, y) = _model(), _data()
    np.testing.assert_allclose(m.predict(x.astype(dtype)), m.predict(x.astype(dtype)
                                                                      .astype("float32")))
    assert np.isfinite(m.evaluate(x.astype(dtype), y))
    ds = torch.utils.data.TensorDataset(torch.from_numpy(x.astype(np.float64)),
                                        torch.from_numpy(y))
    assert np.isfinite(m.fit(ds, verbose=0).history["loss"][0])


def test_text_and_ragged_inputs():
    m = _model()
    with pytest.raises(TypeError, match="x must hold numbers; got dtype <U3"):
        m.predict(np.array([["abc"]]))
    with pytest.raises(ValueError, match="x is ragged .* pad them to one length"):
        m.predict([[[1, 2, 3]], [[1, 2, 3], [1, 2, 3]]])


def test_a_generator_of_batches_is_refused_naming_what_fit_takes():
    # it was read as an object array: "x must hold numbers; got dtype object (generator)"
    m = _model()
    m.compile("adam", "mse")

    def batches():
        yield np.zeros((4, 10, 3), "float32"), np.zeros((4, 1), "float32")

    for x in (batches(), iter([np.zeros((4, 10, 3), "float32")])):
        with pytest.raises(TypeError, match=r"of batches, which grukit does not read.*"
                                            r"np.concatenate.*Dataset"):
            m.fit(x, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="generator of batches"):
        m.predict(batches())


@pytest.mark.parametrize("where", ["x", "y"])
def test_nan_in_arrays_is_refused(where):
    x, y = _data()
    (x if where == "x" else y)[0, 0] = np.nan
    with pytest.raises(ValueError, match=f"{where} contains .* NaN/Inf value"):
        _model().fit(x, y, verbose=0)


@pytest.mark.parametrize("where", ["x", "y"])
def test_nan_in_a_dataset_is_named_and_the_weights_kept(where):
    x, y = _data()
    if where == "x":
        x[3, 0, 0] = np.inf
    else:
        y[3, 0] = np.inf
    m = _model()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    with pytest.raises(ValueError, match=f"{where} holds 1 NaN/Inf value.* impute or drop"):
        m.fit(ds, batch_size=4, shuffle=False, verbose=0)
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())


def test_variable_time_length_input_shape():
    m, (x, y) = _model(shape=(None, 3)), _data()
    lines = []
    m.summary(print_fn=lines.append)
    m.fit(x, y, verbose=0)
    assert m.predict(np.zeros((2, 9, 3), "float32")).shape == (2, 1)
    seq = Sequential([GRU(4, input_shape=(None, 3), return_sequences=True)])
    seq.summary(print_fn=lines.append)
    assert any("(None, None, 4)" in line for line in lines)
    with pytest.raises(ValueError, match=r"the last entry is the number of features"):
        Sequential([GRU(4, input_shape=(5, None))]).compile()


# -- layers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make, msg", [
    (lambda: GRU(0), "GRU: units must be a positive integer"),
    (lambda: LSTM(True), "LSTM: units must be a positive integer"),
    (lambda: Dense(True), "Dense: units must be a positive integer"),
    (lambda: Dense(2.0), "Dense: units must be a positive integer"),
    (lambda: AttentionPooling(0), "AttentionPooling: units must be a positive integer"),
    (lambda: Embedding(0, 4), r"Embedding: input_dim \(the vocabulary size\) must be"),
    (lambda: Embedding(10, 4.5), "Embedding: output_dim must be a positive integer"),
    (lambda: Dropout("0.5"), r"Dropout: rate must be in \[0, 1\)"),
    (lambda: SimpleRNN(3, dropout=float("nan")), r"SimpleRNN: dropout must be in \[0, 1\)"),
    (lambda: MinGRU(3, input_shape=(-1, 3)), "input_shape entries must be positive integers"),
    (lambda: GRU(3, input_shape=(5, 0)), "input_shape entries must be positive integers"),
])
def test_layer_arguments(make, msg):
    with pytest.raises(ValueError, match=msg):
        make()


@pytest.mark.parametrize("shape", [5, "ab"])
def test_input_shape_must_be_a_tuple(shape):
    with pytest.raises(TypeError, match="input_shape must be a tuple without the batch axis"):
        GRU(3, input_shape=shape)


def _embed_model():
    m = Sequential([Embedding(10, 4, input_shape=(5,)), GRU(3), Dense(1)])
    m.compile()
    return m


@settings(max_examples=25, deadline=None)
@given(st.floats(0, 9.99).filter(lambda v: v != int(v)))
def test_float_token_ids_are_refused_never_truncated(v):
    with pytest.raises(TypeError, match="Embedding: token ids must be integers; got torch.float32"):
        _embed_model().predict(np.full((2, 5), v))


@settings(max_examples=25, deadline=None)
@given(st.integers(-100, 100).filter(lambda v: v < 0 or v >= 10))
def test_token_ids_outside_the_vocabulary_are_refused(v):
    ids = np.ones((2, 5), np.int64)
    ids[1, 2] = v
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 10\)"):
        _embed_model().predict(ids)


def test_boolean_token_ids_are_refused():
    with pytest.raises(TypeError, match="token ids must be integers; got torch.bool"):
        _embed_model().predict(np.ones((2, 5), bool))


def test_attention_pooling_units_none_means_the_feature_count():
    layer = AttentionPooling()
    layer(torch.randn(2, 5, 6))
    assert layer.proj.out_features == 6


# -- state ----------------------------------------------------------------------------------
def test_stateful_layer_starts_from_zero_after_build_compile_and_summary():
    torch.manual_seed(0)
    m = Sequential([GRU(3, stateful=True, input_shape=(5, 2)), Dense(1)])
    m.compile()
    assert m.stack[0]._state is None
    m.summary(print_fn=lambda s: None)
    assert m.stack[0]._state is None
    x = np.random.default_rng(0).normal(size=(4, 5, 2)).astype("float32")
    first = m.predict(x, batch_size=4)  # a batch of 4, not the dummy 2: no stale state
    m.stack[0].reset_states()
    np.testing.assert_allclose(m.predict(x, batch_size=4), first)


def test_summary_keeps_the_carried_state():
    m = Sequential([GRU(3, stateful=True, input_shape=(5, 2)), Dense(1)])
    m.compile()
    m.predict(np.ones((4, 5, 2), "float32"), batch_size=4)
    carried = m.stack[0]._state.clone()
    m.summary(print_fn=lambda s: None)
    torch.testing.assert_close(m.stack[0]._state, carried, rtol=0, atol=0)


# -- callbacks, checkpoints, files -----------------------------------------------------------
def test_csv_logger_columns_are_sorted_as_keras_writes_them(tmp_path):
    log = tmp_path / "log.csv"
    x, y = _data()
    m = _model()
    m.compile(optimizer="sgd", loss="mse", metrics=["huber"])
    h = m.fit(x, y, epochs=1, verbose=0, validation_split=0.25, callbacks=[CSVLogger(str(log))])
    header, row = log.read_text().splitlines()
    assert header == "epoch,huber,loss,val_huber,val_loss"  # Keras: epoch, then sorted names
    assert float(row.split(",")[1]) == pytest.approx(h.history["huber"][0], rel=1e-6)


def test_csv_logger_overwrites_by_default_and_appends_on_request(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("old,file\n1,2\n")
    x, y = _data()
    _model().fit(x, y, epochs=2, verbose=0, callbacks=[CSVLogger(str(log))])
    rows = log.read_text().splitlines()
    assert rows[0] == "epoch,loss" and len(rows) == 3
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(str(log), append=True)])
    assert log.read_text().splitlines()[:3] == rows and len(log.read_text().splitlines()) == 4


def test_csv_logger_append_refuses_another_header_and_keeps_the_file(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("epoch,loss,val_loss\n0,1,2\n")
    x, y = _data()
    with pytest.raises(ValueError, match=r"has the columns 'epoch,loss,val_loss' but this run "
                                         r"logs 'epoch,loss', so the file was kept"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(str(log), append=True)])
    assert log.read_text() == "epoch,loss,val_loss\n0,1,2\n"


@pytest.mark.parametrize("other", ["sgd", "rmsprop", "adamw"])
def test_resume_with_another_optimizer(tmp_path, other):
    ckpt = str(tmp_path / "run.ckpt")
    x, y = _data()
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(ckpt)])
    m = _model(optimizer=other)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(ValueError, match=r"written with the KerasAdam optimizer but the model "
                                         r"is compiled with"):
        m.fit(x, y, epochs=2, verbose=0, resume_from=ckpt)
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())


def test_resume_of_a_checkpoint_with_other_parameters_changes_nothing(tmp_path):
    """A checkpoint whose optimizer held one more tensor (an LSTM layer's second bias before
    it was folded in): refused in one sentence before the weights are touched."""
    ckpt = tmp_path / "old.ckpt"
    x, y = _data()
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(ckpt))])
    state = torch.load(ckpt, weights_only=True)
    group = state["optimizer"]["param_groups"][0]
    group["params"] = [*group["params"], max(group["params"]) + 1]
    torch.save(state, ckpt)
    m = _model()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(ValueError, match=r"holds optimizer state for \d+ parameter tensors but "
                                         r"the model trains \d+"):
        m.fit(x, y, epochs=2, verbose=0, resume_from=str(ckpt))
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())


def test_resume_of_a_checkpoint_without_the_optimizer_name(tmp_path):
    """Checkpoints written before the optimizer's class was recorded: its settings tell."""
    ckpt = tmp_path / "old.ckpt"
    x, y = _data()
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(ckpt))])
    state = torch.load(ckpt, weights_only=True)
    del state["optimizer_class"]
    torch.save(state, ckpt)
    with pytest.raises(ValueError, match="holds the state of another optimizer"):
        _model(optimizer="sgd").fit(x, y, epochs=2, verbose=0, resume_from=str(ckpt))
    assert _model().fit(x, y, epochs=2, verbose=0, resume_from=str(ckpt)).history["loss"]


def test_load_weights_of_another_configuration_names_the_tensor(tmp_path):
    path = str(tmp_path / "m.safetensors")
    _model().save(path)
    with pytest.raises(ValueError, match=r"another architecture \(stack.0.rnn.weight_ih_l0 is "
                                         r"\(12, 3\) in the file, \(15, 3\) here\)"):
        models.load_weights(_model(units=5), path)
    with pytest.raises(ValueError, match=r"another architecture \(unexpected "
                                         r"\['stack.0.rnn.bias_hh_l0'\]\)"):
        models.load_weights(_model(reset_after=False), path)


def test_load_of_files_that_are_not_models(tmp_path):
    good = tmp_path / "m.safetensors"
    _model().save(str(good))
    cases = {"empty": b"", "text": b"hello, this is not a model at all",
             "truncated": good.read_bytes()[: good.stat().st_size // 2]}
    msgs = {"empty": r"is empty \(0 bytes\)", "text": "damaged or in another format",
            "truncated": "truncated or damaged"}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match=msgs[name]) as err:
            models.load(str(path))
        assert str(path) in str(err.value)
        _one_line(err)
    with pytest.raises(IsADirectoryError, match="is a directory, not a model file"):
        models.load(str(tmp_path))
    ckpt = str(tmp_path / "run.ckpt")  # a ModelCheckpoint file loads as the model, as Keras
    m = _model()
    m.fit(*_data(), verbose=0, callbacks=[ModelCheckpoint(ckpt)])
    np.testing.assert_array_equal(models.load(ckpt).predict(_data()[0]), m.predict(_data()[0]))
    (tmp_path / "zip").write_bytes(b"PK\x03\x04" + bytes(40))
    with pytest.raises(ValueError, match="not a readable grukit checkpoint"):
        models.load(str(tmp_path / "zip"))


def test_save_to_a_directory_or_a_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="is a directory; save the model to a file in it"):
        _model().save(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        _model().save(str(tmp_path / "nope" / "m.safetensors"))


def test_nan_loss_from_training_still_warns_and_keeps_weights():
    """Finite data, diverging training: the documented stop, not an error."""
    m, (x, y) = _model(), _data()
    m.compile(optimizer=torch.optim.SGD(m.parameters(), lr=1e30), loss="mse")
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m.fit(x * 1e6, y, epochs=3, verbose=0)
    assert any("training stopped" in str(w.message) for w in caught)
    assert all(bool(torch.isfinite(v).all()) for v in m.state_dict().values())
    assert set(m.state_dict()) == set(before)


@pytest.mark.parametrize("make, msg", [
    (lambda: ModelCheckpoint("c.ckpt", every_n_batches=0), "every_n_batches .* a positive"),
    (lambda: ModelCheckpoint("c.ckpt", every_n_batches=-2), "every_n_batches .* a positive"),
    (lambda: EarlyStopping(patience=-1), "EarlyStopping: patience must be a non-negative"),
    (lambda: EarlyStopping(patience=1.5), "EarlyStopping: patience must be a non-negative"),
    (lambda: ReduceLROnPlateau(patience=-1), "ReduceLROnPlateau: patience must be a non-negative"),
    (lambda: ReduceLROnPlateau(cooldown=-1), "ReduceLROnPlateau: cooldown must be a non-negative"),
    (lambda: ReduceLROnPlateau(cooldown=1.5), "ReduceLROnPlateau: cooldown must be a non-negative"),
    (lambda: ReduceLROnPlateau(min_delta=float("nan")), "min_delta must be a finite number"),
    (lambda: ReduceLROnPlateau(min_delta="0.1"), "min_delta must be a finite number"),
])
def test_callback_counts(make, msg):
    """every_n_batches=0 used to mean 'never' silently, a negative one 'every |n|'."""
    with pytest.raises(ValueError, match=msg):
        make()


def test_targets_that_do_not_fit_the_output_are_named_with_both_shapes():
    import numpy as np

    from grukit.layers import GRU, Dense
    from grukit.models import Sequential

    x = np.random.default_rng(0).random((8, 4, 2)).astype("float32")
    m = Sequential([GRU(3, input_shape=(4, 2)), Dense(2)])
    m.compile("adam", "mse")
    with pytest.raises(ValueError, match=r"targets of this batch have shape \(8, 1\) but the "
                                         r"model's output has shape \(8, 2\)"):
        m.fit(x, np.ones((8, 1), "float32"), epochs=1, batch_size=8, verbose=0)


def _keras_style_refusals():
    import math

    from grukit.layers import (
        GRU,
        Activation,
        Conv1D,
        LayerNormalization,
        Masking,
        MaxPooling1D,
        RepeatVector,
        SpatialDropout1D,
    )
    from grukit.layers import regularizers as R
    from grukit.models import EarlyStopping, ModelCheckpoint, Sequential
    from grukit.models import optimizers as go

    one = lambda: Sequential([GRU(2, input_shape=(3, 1))])  # noqa: E731
    return [
        (lambda: Conv1D(0, 3), "Conv1D: filters must be a positive integer"),
        (lambda: Conv1D(4, 3, padding="full"), "padding must be one of"),
        (lambda: MaxPooling1D(2, strides=0), "strides must be a positive integer"),
        (lambda: LayerNormalization(epsilon=float("nan")), "epsilon must be a positive"),
        (lambda: SpatialDropout1D(1.5), r"rate must be in \[0, 1\)"),
        (lambda: Activation("nope"), "unknown activation 'nope'"),
        (lambda: Masking("a"), "mask_value must be a number"),
        (lambda: Masking(float("nan")), "NaN never equals a value"),
        (lambda: RepeatVector(-1), "n must be a positive integer"),
        (lambda: one().get_layer(index=99), "index 99 is out of range"),
        (lambda: Sequential().pop(), "the model has no layers"),
        (lambda: EarlyStopping(baseline=float("nan")), "baseline must be a finite number"),
        (lambda: EarlyStopping(start_from_epoch=-1), "start_from_epoch must be a non-negative"),
        (lambda: ModelCheckpoint("m.ckpt", save_freq=0), "save_freq .* positive integer"),
        (lambda: ModelCheckpoint("m.ckpt", initial_value_threshold=math.inf), "finite number"),
        (lambda: R.l2(math.inf), "l2 must be a finite number"),
        (lambda: go.Adam(beta_1=1.5), "beta_1 and beta_2 must be below 1"),
        (lambda: go.RMSprop(rho=1.0), "rho must be below 1"),
        (lambda: go.SGD(momentum=-1), "momentum must be a finite number, 0 or more"),
    ]


@pytest.mark.parametrize("case", range(19))
def test_keras_style_settings_that_cannot_work_are_one_sentence(case):
    make, message = _keras_style_refusals()[case]
    with pytest.raises((TypeError, ValueError), match=message):
        make()
