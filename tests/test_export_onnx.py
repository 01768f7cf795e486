"""grukit.export.to_onnx: every grukit.nn module and Sequential model runs in ONNX Runtime
with dynamic batch and time axes and equals torch eager within float32 tolerance."""

from __future__ import annotations

import os
import stat
from dataclasses import replace

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import onnx  # noqa: E402

import grukit.nn as gnn  # noqa: E402
from conftest import SHARED_DATA  # noqa: E402
from grukit import cells  # noqa: E402
from grukit.export import build_onnx, to_onnx  # noqa: E402
from grukit.layers import (  # noqa: E402
    GRU,
    LSTM,
    AttentionPooling,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    Layer,
    MinGRU,
    SimpleRNN,
)
from grukit.models import Sequential  # noqa: E402

TOL = 1e-5  # float32
SHAPES = ((3, 7), (5, 2))  # (batch, time): two of each, to prove the axes are dynamic


def _specs():
    """Every cell with a grukit.nn module: grukit.cells' list, plus LayerNorm-GRU while it
    is kept out of it."""
    specs = list(cells.all_specs())
    if cells.LNGRU.name not in {s.name for s in specs} and hasattr(gnn, "LayerNormGRU"):
        specs.append(cells.LNGRU)
    return specs


def _variants():
    """(id, spec, options): each structural option of each cell at each of its values."""
    values = {"reset_after": (True, False), "nonlinearity": ("tanh", "relu")}
    out = []
    for spec in _specs():
        opts = [{}]
        for name in spec.options:
            if name in values:
                opts = [o | {name: v} for o in opts for v in values[name]]
        for o in opts:
            tag = "-".join(("reset_after" if v else "reset_before") if k == "reset_after"
                           else str(v) for k, v in o.items())
            out.append((spec.name + (f"-{tag}" if tag else ""), spec, o))
    return out


VARIANTS = _variants()
LAYOUTS = [("L1", {}), ("L2-bidir-batch_first", {"num_layers": 2, "bidirectional": True,
                                                  "batch_first": True})]


def _session(path_or_proto):
    data = (path_or_proto.SerializeToString() if isinstance(path_or_proto, onnx.ModelProto)
            else str(path_or_proto))
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def _module(spec, options, layout, bias=True):
    torch.manual_seed(0)
    m = spec.module_class()(3, 5, bias=bias, **options, **layout).eval()
    with torch.no_grad():  # gains and shifts away from 1 and 0, so that they count
        for name, p in m.named_parameters():
            if name.startswith("ln_"):
                p.add_(0.3 * torch.randn_like(p))
    return m


def _inputs(m, batch, steps, seed):
    g = torch.Generator().manual_seed(seed)
    shape = (batch, steps, 3) if m.batch_first else (steps, batch, 3)
    x = torch.randn(shape, generator=g)
    states = [torch.randn(m.num_layers * m.num_directions, batch, 5, generator=g)
              for _ in m.spec.states]
    lengths = torch.randint(1, steps + 1, (batch,), generator=g)
    lengths[0] = steps
    return x, states, lengths


def _eager(m, x, states=None, lengths=None):
    hx = None if states is None else (states[0] if len(states) == 1 else tuple(states))
    with torch.no_grad():
        y, h = m(x, hx, lengths=lengths)
    return [y] + (list(h) if isinstance(h, tuple) else [h])


def _close(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == tuple(w.shape)
        np.testing.assert_allclose(g, w.numpy(), atol=TOL, rtol=0)


# -- modules ----------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", [v for _, v in LAYOUTS], ids=[k for k, _ in LAYOUTS])
@pytest.mark.parametrize("variant", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_module_in_onnxruntime_equals_eager_at_two_shapes(variant, layout, tmp_path):
    _, spec, options = variant
    m = _module(spec, options, layout)
    sess = _session(to_onnx(m, tmp_path / "m.onnx"))
    assert [i.name for i in sess.get_inputs()] == ["input"]
    for k, (batch, steps) in enumerate(SHAPES):
        x, _, _ = _inputs(m, batch, steps, k)
        _close(sess.run(None, {"input": x.numpy()}), _eager(m, x))


@pytest.mark.parametrize("layout", [v for _, v in LAYOUTS], ids=[k for k, _ in LAYOUTS])
@pytest.mark.parametrize("variant", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_module_with_lengths_and_initial_state_equals_eager(variant, layout):
    _, spec, options = variant
    m = _module(spec, options, layout)
    sess = _session(build_onnx(m, lengths=True, initial_state=True))
    names = [f"{s}0" for s in spec.states]
    assert [i.name for i in sess.get_inputs()] == ["input", *names, "lengths"]
    for k, (batch, steps) in enumerate(SHAPES):
        x, states, lengths = _inputs(m, batch, steps, 10 + k)
        feeds = {"input": x.numpy(), "lengths": lengths.numpy()}
        feeds |= {n: s.numpy() for n, s in zip(names, states, strict=True)}
        _close(sess.run(None, feeds), _eager(m, x, states, lengths))


@pytest.mark.parametrize("variant", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_a_sequence_of_length_zero_keeps_its_initial_state_as_in_eager(variant):
    """lengths 0 beside full and partial ones: h_n (and c_n) of that row is h0 (c0), its
    output zeros, in both directions of both layers."""
    _, spec, options = variant
    m = _module(spec, options, LAYOUTS[1][1])
    sess = _session(build_onnx(m, lengths=True, initial_state=True))
    names = [f"{s}0" for s in spec.states]
    x, states, _ = _inputs(m, 3, 6, 50)
    lengths = torch.tensor([0, 6, 2])
    feeds = {"input": x.numpy(), "lengths": lengths.numpy()}
    feeds |= {n: s.numpy() for n, s in zip(names, states, strict=True)}
    want = _eager(m, x, states, lengths)
    for s, w in zip(states, want[1:], strict=True):
        torch.testing.assert_close(w[:, 0], s[:, 0])  # eager keeps the initial state
    _close(sess.run(None, feeds), want)


@pytest.mark.parametrize("spec", [s for s in _specs() if s.onnx is None] or [None],
                         ids=lambda s: getattr(s, "name", "none"))
def test_cell_without_onnx_operator_is_a_scan_and_equals_eager_without_bias(spec):
    if spec is None:
        pytest.skip("every cell has an ONNX operator")
    m = _module(spec, {}, {"bidirectional": True}, bias=False)
    proto = build_onnx(m, lengths=True)
    assert {n.op_type for n in proto.graph.node} >= {"Scan", "ReverseSequence"}
    sess = _session(proto)
    for k, (batch, steps) in enumerate(SHAPES):
        x, _, lengths = _inputs(m, batch, steps, 20 + k)
        _close(sess.run(None, {"input": x.numpy(), "lengths": lengths.numpy()}),
               _eager(m, x, None, lengths))


@pytest.mark.parametrize("layout", [v for _, v in LAYOUTS], ids=[k for k, _ in LAYOUTS])
def test_lstm_with_projection_is_a_scan_and_equals_eager(layout):
    torch.manual_seed(0)
    m = gnn.LSTM(3, 6, proj_size=2, **layout).eval()
    proto = build_onnx(m, lengths=True, initial_state=True)
    assert "LSTM" not in {n.op_type for n in proto.graph.node}
    sess = _session(proto)
    stack = m.num_layers * m.num_directions
    for k, (batch, steps) in enumerate(SHAPES):
        x, _, lengths = _inputs(m, batch, steps, 40 + k)
        states = [torch.randn(stack, batch, 2), torch.randn(stack, batch, 6)]
        feeds = {"input": x.numpy(), "h0": states[0].numpy(), "c0": states[1].numpy(),
                 "lengths": lengths.numpy()}
        _close(sess.run(None, feeds), _eager(m, x, states, lengths))
        _close(_session(build_onnx(m)).run(None, {"input": x.numpy()}), _eager(m, x))


CELL_VARIANTS = [v for v in VARIANTS if v[1].cell_module is not None]


@pytest.mark.parametrize("variant", CELL_VARIANTS, ids=[v[0] for v in CELL_VARIANTS])
def test_one_step_cell_in_onnxruntime_equals_eager_at_two_batch_sizes(variant, tmp_path):
    _, spec, options = variant
    torch.manual_seed(0)
    cell = spec.cell_class()(3, 5, **options)
    sess = _session(to_onnx(cell, tmp_path / "cell.onnx"))
    names = [f"{s}0" for s in spec.states]
    assert [i.name for i in sess.get_inputs()] == ["input", *names]
    assert [o.name for o in sess.get_outputs()] == list(spec.states)
    for batch, _ in SHAPES:
        x = torch.randn(batch, 3)
        states = [torch.randn(batch, 5) for _ in spec.states]
        with torch.no_grad():
            want = cell(x, states[0] if len(states) == 1 else tuple(states))
        feeds = {"input": x.numpy()} | {n: v.numpy() for n, v in zip(names, states,
                                                                      strict=True)}
        _close(sess.run(None, feeds), list(want) if isinstance(want, tuple) else [want])


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_gru_with_zoneout_is_a_scan_with_its_expectation_and_equals_eager(reset_after):
    m = _module(cells.GRU, {"reset_after": reset_after},
                {"num_layers": 2, "bidirectional": True, "zoneout": 0.3})
    proto = build_onnx(m, lengths=True, initial_state=True)
    assert "GRU" not in {n.op_type for n in proto.graph.node}
    sess = _session(proto)
    for k, (batch, steps) in enumerate(SHAPES):
        x, states, lengths = _inputs(m, batch, steps, 30 + k)
        got = sess.run(None, {"input": x.numpy(), "h0": states[0].numpy(),
                              "lengths": lengths.numpy()})
        _close(got, _eager(m, x, states, lengths))
    layer = Sequential([GRU(5, input_shape=(None, 3), zoneout=0.2, reset_after=reset_after)])
    layer.build()
    _run_sequential(layer, torch.randn(3, 6, 3), None)


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_gru_graph_carries_linear_before_reset_of_its_placement(reset_after):
    m = gnn.GRU(3, 4, num_layers=2, reset_after=reset_after)
    gru = [n for n in build_onnx(m).graph.node if n.op_type == "GRU"]
    assert len(gru) == 2
    for node in gru:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attrs["linear_before_reset"] == (1 if reset_after else 0)
        assert attrs["hidden_size"] == 4


def test_gru_reset_before_writes_no_recurrent_bias():
    m = gnn.GRU(3, 4, reset_after=False)
    proto = build_onnx(m)
    node = next(n for n in proto.graph.node if n.op_type == "GRU")
    b = next(onnx.numpy_helper.to_array(t) for t in proto.graph.initializer
             if t.name == node.input[3])  # (1, 6H) = [Wb_zrh; Rb_zrh]
    assert b.shape == (1, 24)
    assert np.all(b[0, 12:] == 0) and np.any(b[0, :12] != 0)


def test_float64_module_exports_as_float32_and_equals_eager():
    m = gnn.GRU(3, 4, num_layers=2, dtype=torch.float64).eval()
    sess = _session(build_onnx(m))
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    _close(sess.run(None, {"input": x.float().numpy()}), _eager(m, x))


def test_dynamic_axes_are_named_and_static_export_fixes_them():
    m = gnn.GRU(3, 4, batch_first=True)
    dims = [d.dim_param or d.dim_value
            for d in build_onnx(m).graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "time", 3]
    fixed = build_onnx(m, dynamic=False, example=torch.zeros(2, 6, 3))
    assert [d.dim_value for d in fixed.graph.input[0].type.tensor_type.shape.dim] == [2, 6, 3]


# -- Sequential models ------------------------------------------------------------------------
def _lngru_layer():
    return cells.LNGRU.layer_class() if hasattr(gnn, "LayerNormGRU") else GRU


SEQUENTIAL = {
    "article-gru64-dense1": lambda: [GRU(64, input_shape=(100, 1)), Dense(1)],
    "stacked-backwards-dropout-softmax": lambda: [
        GRU(8, input_shape=(None, 3), return_sequences=True, go_backwards=True,
            reset_after=False), Dropout(0.3), LSTM(6, dropout=0.2),
        Dense(4, activation="softmax")],
    "bidirectional-rnn-mingru-gelu": lambda: [
        Bidirectional(SimpleRNN(6, return_sequences=True, activation="relu"),
                      input_shape=(None, 3)),
        Bidirectional(MinGRU(5, return_sequences=True)), Dense(2, activation="gelu")],
    "activations": lambda: [
        SimpleRNN(6, input_shape=(None, 3), return_sequences=True),
        Dense(5, activation="relu"), Dense(5, activation="tanh"), Dense(5, activation="elu"),
        Dense(5, activation="sigmoid"), Dense(2, activation="linear", use_bias=False)],
    "keras-activations": lambda: [
        GRU(6, input_shape=(None, 3), return_sequences=True), Dense(5, activation="selu"),
        Dense(5, activation="softplus"), Dense(5, activation="softsign"),
        Dense(5, activation="swish"), Dense(5, activation="leaky_relu"),
        Dense(5, activation="hard_sigmoid"), Dense(5, activation="mish"),
        Dense(5, activation="relu6"), Dense(5, activation="exponential"),
        Dense(4, activation="log_softmax")],
    "lngru-return_state": lambda: [_lngru_layer()(6, input_shape=(None, 3),
                                                  return_state=True)],
    "lstm-return_state": lambda: [LSTM(6, input_shape=(None, 3), return_state=True)],
}


def _run_sequential(model, x, tmp_path, **kwargs):
    """Export (to a file under tmp_path, or in memory when None), run, compare."""
    model.eval()
    sess = _session(build_onnx(model, **kwargs) if tmp_path is None
                    else to_onnx(model, tmp_path / "model.onnx", **kwargs))
    with torch.no_grad():
        want = model(x)
    got = sess.run(None, {"input": x.numpy()})
    _close(got, want if isinstance(want, list) else [want])
    for out, declared in zip(got, sess.get_outputs(), strict=True):  # the declared axes
        assert all(d == n for n, d in zip(out.shape, declared.shape, strict=True)
                   if isinstance(d, int))
    return sess


@pytest.mark.parametrize("name", list(SEQUENTIAL))
def test_sequential_in_onnxruntime_equals_eager_at_two_shapes(name, tmp_path):
    torch.manual_seed(0)
    model = Sequential(SEQUENTIAL[name]())
    model.build()
    for k, (batch, steps) in enumerate(SHAPES):
        x = torch.randn(batch, steps, model.layers[0].input_shape[-1],
                        generator=torch.Generator().manual_seed(k))
        _run_sequential(model, x, tmp_path)


def _declared(value) -> list:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def test_sequential_outputs_declare_their_width_and_the_input_batch():
    """The output's last axis was declared as a dynamic axis ("out1"), also in a task
    export's manifest, whatever the layers fixed it to (a classifier's K, a horizon)."""
    torch.manual_seed(0)
    cases = [
        (SEQUENTIAL["stacked-backwards-dropout-softmax"](), [["batch", 4]]),
        (SEQUENTIAL["bidirectional-rnn-mingru-gelu"](), [["batch", "out1", 2]]),
        ([Bidirectional(GRU(5, return_sequences=True), merge_mode="sum",
                        input_shape=(None, 3))], [["batch", "out1", 5]]),
        ([Bidirectional(GRU(5), input_shape=(None, 3))], [["batch", 10]]),
        ([Embedding(9, 4, input_shape=(None,))], [["batch", "out1", 4]]),
        (SEQUENTIAL["lstm-return_state"](), [["batch", 6]] * 3),
    ]
    for layers, want in cases:
        model = Sequential(layers)
        model.build()
        assert [_declared(o) for o in build_onnx(model).graph.output] == want, layers
    model = Sequential(SEQUENTIAL["lstm-return_state"]())
    model.build()
    fixed = build_onnx(model, dynamic=False, example=torch.zeros(2, 5, 3))
    assert [_declared(o) for o in fixed.graph.output] == [[2, 6]] * 3


@pytest.mark.parametrize("pool", ["attention", "last"])
def test_sequential_with_masked_embedding_equals_eager_on_padded_ids(pool, tmp_path):
    torch.manual_seed(0)
    head = ([Bidirectional(GRU(6, return_sequences=True)), AttentionPooling()]
            if pool == "attention" else
            [GRU(6, return_sequences=True, go_backwards=True), Bidirectional(LSTM(4))])
    model = Sequential([Embedding(30, 8, mask_zero=True, input_shape=(None,)), *head,
                        Dense(3)])
    model.build()
    for batch, steps in SHAPES:
        g = torch.Generator().manual_seed(batch)
        ids = torch.randint(1, 30, (batch, steps), generator=g)
        lengths = torch.randint(1, steps + 1, (batch,), generator=g)
        ids[torch.arange(steps) >= lengths.unsqueeze(1)] = 0  # right padding
        _run_sequential(model, ids, tmp_path)


def test_sequential_with_lengths_input_equals_eager_on_padded_sequences():
    torch.manual_seed(0)
    model = Sequential([Bidirectional(LSTM(5, return_sequences=True), input_shape=(None, 3)),
                        GRU(4, go_backwards=True, return_sequences=True),
                        MinGRU(4, return_sequences=True), AttentionPooling(), Dense(2)])
    model.build()
    model.eval()
    sess = _session(build_onnx(model, lengths=True))
    assert [i.name for i in sess.get_inputs()] == ["input", "lengths"]
    for batch, steps in SHAPES:
        x = torch.randn(batch, steps, 3)
        lengths = torch.randint(1, steps + 1, (batch,))
        with torch.no_grad():
            want = model(x, lengths)
        _close(sess.run(None, {"input": x.numpy(), "lengths": lengths.numpy()}), [want])


def test_sequential_built_by_a_batch_exports_with_its_example(tmp_path):
    model = Sequential([Dense(4, activation="tanh"), Dense(2)])
    x = torch.randn(3, 5)
    model(x)  # built by the batch, no input_shape
    proto = build_onnx(model, example=x)
    assert [d.dim_param or d.dim_value
            for d in proto.graph.input[0].type.tensor_type.shape.dim] == ["batch", 5]
    _run_sequential(model, torch.randn(6, 5), tmp_path, example=x)
    with pytest.raises(ValueError) as e:
        build_onnx(model)
    assert "pass example=" in _one_sentence(e)


# -- real data ----------------------------------------------------------------------------------
def test_sunspot_windows_through_exported_gru_equal_eager(tmp_path):
    datasets = pytest.importorskip("statsmodels.datasets", reason="statsmodels is absent")
    try:
        series = datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(np.float32)
    except Exception as e:  # a broken install without its bundled files
        pytest.skip(f"statsmodels' sunspots data set cannot be read: {e}")
    series = (series - series.mean()) / series.std()
    torch.manual_seed(0)
    model = Sequential([GRU(16, input_shape=(None, 1), return_sequences=True),
                        Bidirectional(GRU(8, reset_after=False)), Dense(1)])
    model.build()
    for window in (24, 11):  # two time lengths, the second with a different batch
        starts = range(0, len(series) - window, window)
        x = torch.from_numpy(np.stack([series[s:s + window] for s in starts]))[..., None]
        _run_sequential(model, x, tmp_path)


def test_shakespeare_characters_through_exported_lstm_equal_eager(tmp_path):
    path = SHARED_DATA / "text" / "tinyshakespeare.txt"
    if not path.is_file():
        pytest.skip(f"{path} is absent; set GRUKIT_SHARED_DATA to the shared data folder")
    text = path.read_text(encoding="utf-8")[:4000]
    vocab = {c: k + 1 for k, c in enumerate(sorted(set(text)))}
    lines = [[vocab[c] for c in line] for line in text.splitlines() if line][:16]
    steps = max(map(len, lines))
    ids = torch.tensor([row + [0] * (steps - len(row)) for row in lines])
    torch.manual_seed(0)
    model = Sequential([Embedding(len(vocab) + 1, 12, mask_zero=True, input_shape=(None,)),
                        LSTM(10, return_sequences=True), GRU(6), Dense(len(vocab) + 1,
                                                                     activation="softmax")])
    model.build()
    _run_sequential(model, ids, tmp_path)
    _run_sequential(model, ids[:5, :20].clone().masked_fill_(ids[:5, :20] == 0, 1), tmp_path)


def test_text_classifier_network_on_sentiment_sentences_equals_predict_proba(tmp_path):
    path = SHARED_DATA / "text" / "amazon_cells_labelled.txt"
    if not path.is_file():
        pytest.skip(f"{path} is absent; set GRUKIT_SHARED_DATA to the shared data folder")
    from grukit.tasks.classify import TextClassifier

    rows = [line.rsplit("\t", 1) for line in path.read_text(encoding="utf-8").splitlines()
            if "\t" in line][:240]
    texts, labels = [t for t, _ in rows], [int(y) for _, y in rows]
    clf = TextClassifier(model="bigru", embed_dim=8, hidden=6, epochs=1, vocab_size=400,
                         validation_split=0).fit(texts[:200], labels[:200])
    test = texts[200:]
    ids = clf.tokenizer_.encode(test, clf.config.max_len)
    steps = max(len(a) for a in ids)
    x = np.zeros((len(ids), steps), np.int64)  # right-padded, 0 = padding
    for i, a in enumerate(ids):
        x[i, :len(a)] = a
    sess = _session(to_onnx(clf.model, tmp_path / "text.onnx"))
    got = sess.run(None, {"input": x})[0]
    np.testing.assert_allclose(got, clf.predict_proba(test), atol=TOL, rtol=0)


# -- bad input ----------------------------------------------------------------------------------
def _one_sentence(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg.endswith("."), msg
    return msg


def test_torch_module_is_refused_with_the_converter_named(tmp_path):
    with pytest.raises(TypeError) as e:
        to_onnx(torch.nn.GRU(3, 4), tmp_path / "m.onnx")
    assert "torch.nn.modules.rnn.GRU" in _one_sentence(e)
    assert "grukit.convert.from_torch" in str(e.value)
    with pytest.raises(TypeError, match="grukit.convert.from_torch"):
        to_onnx(torch.nn.LSTMCell(3, 4), tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="got torch.nn.modules.linear.Linear"):
        to_onnx(torch.nn.Linear(3, 4), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_unsupported_layer_is_named():
    class Twice(Layer):
        def call(self, x, lengths):
            return 2 * x, lengths

    model = Sequential([GRU(4, input_shape=(None, 2), return_sequences=True), Twice(),
                        Dense(1)])
    model.build()
    with pytest.raises(ValueError) as e:
        build_onnx(model)
    assert "layer 1 (Twice) has no ONNX export" in _one_sentence(e)


def test_layer_with_its_own_onnx_graph_joins_the_export(tmp_path):
    class ValidityChannel(Layer):  # as a task's input layer: (B, T, C + 1) -> data, lengths
        def call(self, x, lengths):
            return x[..., :-1], (x[..., -1] > 0.5).sum(1)

        def onnx_graph(self, g, x, lengths):
            flag = g.slice(x, 2, -1, 2 ** 62)  # (B, T, 1)
            valid = g.op("Cast", [g.op("Greater", [flag, g.scalar(0.5)])], to=7)  # int64
            lens = g.op("ReduceSum", [valid, g.ints(1, 2)], keepdims=0)  # (B,)
            return g.slice(x, 2, 0, -1), lens

    torch.manual_seed(0)
    model = Sequential([ValidityChannel(input_shape=(None, 4)),
                        Bidirectional(GRU(5, return_sequences=True)), AttentionPooling(),
                        Dense(2, activation="softmax")])
    model.build()
    x = torch.randn(4, 6, 4)
    x[..., -1] = (torch.arange(6) < torch.tensor([[6], [2], [4], [1]])).float()
    _run_sequential(model, x, tmp_path)


def test_unbuilt_sequential_is_refused():
    with pytest.raises(ValueError) as e:
        build_onnx(Sequential([GRU(4), Dense(1)]))  # no input_shape: built by a first call
    assert "not built" in _one_sentence(e)
    with pytest.raises(ValueError, match="not built"):
        build_onnx(Sequential())


@pytest.mark.parametrize("where", ["missing-folder", "under-a-file", "a-folder",
                                   "read-only-folder"])
def test_unwritable_path_is_refused_before_anything_is_written(where, tmp_path):
    m = gnn.GRU(2, 3)
    (tmp_path / "file.txt").write_text("x")
    path = {"missing-folder": tmp_path / "nope" / "m.onnx",
            "under-a-file": tmp_path / "file.txt" / "m.onnx", "a-folder": tmp_path,
            "read-only-folder": tmp_path / "ro" / "m.onnx"}[where]
    if where == "read-only-folder":
        path.parent.mkdir()
        path.parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if where == "read-only-folder" and os.access(path.parent, os.W_OK):
            pytest.skip("this user (root) can write to a read-only folder")
        with pytest.raises(OSError) as e:
            to_onnx(m, path)
        assert "to_onnx:" in _one_sentence(e)
        assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(
            ["file.txt"] + (["ro"] if where == "read-only-folder" else []))
    finally:
        if where == "read-only-folder":
            path.parent.chmod(stat.S_IRWXU)


def test_path_of_the_wrong_type_is_refused():
    with pytest.raises(TypeError, match="path must be a file path"):
        to_onnx(gnn.GRU(2, 3), 42)


@pytest.mark.parametrize("case", ["cell-without-export", "stateful", "static-no-example",
                                  "state-on-sequential", "bad-example",
                                  "sequential-bad-example", "float-ids"])
def test_model_without_onnx_form_gets_one_sentence(case):
    if case == "cell-without-export":  # a future cell: no ONNX operator, no Scan body yet
        model = gnn.GRU(3, 6)
        model.spec = replace(cells.GRU, name="future", display="Future", onnx=None)
        match = "(Future) has no ONNX operator and no ONNX subgraph is written for it yet"
    elif case == "stateful":
        model = Sequential([GRU(4, input_shape=(None, 2), stateful=True)])
        model.build()
        match = "stateful=True"
    elif case == "static-no-example":
        model, match = gnn.GRU(3, 6), "dynamic=False fixes the shapes"
    elif case == "state-on-sequential":
        model = Sequential([GRU(4, input_shape=(None, 2))])
        model.build()
        match = "initial_state= applies to grukit.nn modules"
    elif case == "sequential-bad-example":
        model = Sequential([GRU(4, input_shape=(None, 2))])
        model.build()
        match = "example has 3 features in its last axis but the first layer takes 2"
    elif case == "float-ids":
        model = Sequential([Embedding(9, 4, input_shape=(None,)), GRU(3)])
        model.build()
        match = "example must hold integer token ids"
    else:
        model, match = gnn.GRU(3, 6), "example must be a 3-D input tensor"
    kwargs = {"static-no-example": {"dynamic": False},
              "state-on-sequential": {"initial_state": True},
              "bad-example": {"example": torch.zeros(2, 5, 4)},
              "sequential-bad-example": {"example": torch.zeros(2, 5, 3)},
              "float-ids": {"example": torch.zeros(2, 5)}}.get(case, {})
    with pytest.raises(ValueError) as e:
        build_onnx(model, **kwargs)
    assert match in _one_sentence(e)


def test_names_rename_inputs_and_outputs_and_bad_names_are_refused():
    m = gnn.LSTM(3, 4).eval()
    proto = build_onnx(m, lengths=True, names={"input": "x", "lengths": "n", "c_n": "cell"})
    assert [v.name for v in proto.graph.input] == ["x", "n"]
    assert [v.name for v in proto.graph.output] == ["output", "h_n", "cell"]
    x = torch.randn(6, 2, 3)
    got = _session(proto).run(None, {"x": x.numpy(), "n": np.array([6, 3])})
    _close(got, _eager(m, x, None, torch.tensor([6, 3])))
    with pytest.raises(ValueError) as e:
        build_onnx(m, names={"h0": "state"})
    assert "has no 'h0'" in _one_sentence(e)
    with pytest.raises(ValueError, match="distinct, non-empty strings"):
        build_onnx(m, names={"input": "output"})


@pytest.mark.parametrize("variant", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_a_length_outside_zero_to_t_is_refused_by_the_graph_as_in_eager(variant):
    """Eager refuses it and so did the ONNX operators, but a one-direction Scan (minGRU,
    LayerNorm-GRU) took 9 as T and -1 as 0 and gave outputs."""
    _, spec, options = variant
    m = _module(spec, options, {})
    sess = _session(build_onnx(m, lengths=True))
    x, _, _ = _inputs(m, 3, 4, 60)
    for bad in ([9, 2, 4], [-1, 2, 4]):
        with pytest.raises(ValueError, match="lengths must lie in"):
            _eager(m, x, None, torch.tensor(bad))
        # onnxruntime's errors (Fail, InvalidArgument) derive from Exception alone
        with pytest.raises(Exception, match="(?i)sequence.?len"):
            sess.run(None, {"input": x.numpy(), "lengths": np.array(bad, np.int64)})


def test_an_example_of_another_rank_than_the_input_is_refused():
    """An (B, F) example of a model whose GRU takes (B, T, F) passed and wrote a graph with
    a 2-D input that onnxruntime refused to load (Transpose perm {1, 0, 2})."""
    declared = Sequential([GRU(4, input_shape=(None, 3)), Dense(1)])
    built_by_batch = Sequential([GRU(4), Dense(1)])
    built_by_batch(torch.randn(2, 5, 3))
    for model in (declared, built_by_batch):
        with pytest.raises(ValueError) as e:
            build_onnx(model, example=torch.randn(2, 3))
        assert "example must be 3-D (batch, time, features)" in _one_sentence(e)
        assert build_onnx(model, example=torch.randn(2, 5, 3)).graph.input[0].type \
            .tensor_type.shape.dim[1].dim_param == "time"


def test_masked_embedding_refuses_padding_before_a_token_as_eager_does():
    """Eager refuses ids padded on the left or with a 0 between tokens (Keras'
    pad_sequences pads before by default); the graph counted the non-zero ids as the
    length and gave another sequence's output ([5, 0, 7, 2] ran as [5, 0, 7])."""
    torch.manual_seed(0)
    model = Sequential([Embedding(10, 3, mask_zero=True, input_shape=(None,)), GRU(4)])
    model.build()
    sess = _session(build_onnx(model))
    good = torch.tensor([[5, 7, 2, 0, 0], [1, 2, 3, 4, 0], [0, 0, 0, 0, 0]])
    with torch.no_grad():
        want = model(good)
    _close(sess.run(None, {"input": good.numpy()}), [want])
    for bad in ([[5, 0, 7, 2, 0], [1, 2, 3, 0, 0]], [[0, 0, 5, 7, 2], [1, 2, 3, 0, 0]]):
        ids = torch.tensor(bad)
        with pytest.raises(ValueError, match="must come after each sequence's tokens"):
            model(ids)
        with pytest.raises(Exception, match="must come after each sequence's tokens"):
            sess.run(None, {"input": ids.numpy()})


@pytest.mark.parametrize("mask_zero", [False, True])
def test_embedding_refuses_negative_ids_as_eager_does(mask_zero):
    """ONNX Gather reads -1 as the last row, so the graph embedded a negative id (a -1
    padding) as the vocabulary's last token where eager refuses it."""
    torch.manual_seed(0)
    model = Sequential([Embedding(10, 3, mask_zero=mask_zero, input_shape=(None,)), GRU(4)])
    model.build()
    sess = _session(build_onnx(model))
    for bad in ([[1, 2, -1]], [[1, 2, 10]]):
        with pytest.raises(ValueError, match=r"token ids must lie in \[0, 10\)"):
            model(torch.tensor(bad))
        with pytest.raises(Exception, match=r"token ids must lie in \[0, 10\)"):
            sess.run(None, {"input": np.array(bad, np.int64)})
    good = torch.tensor([[1, 9, 3]])
    with torch.no_grad():
        _close(sess.run(None, {"input": good.numpy()}), [model(good)])


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_an_empty_batch_or_sequence_is_refused_instead_of_aborting_the_process(cell):
    """ONNX Runtime's GRU and LSTM kernels abort the Python process (std::terminate) on a
    batch of 0 (the GRU on 0 steps too), where eager returns empty outputs; the graph now
    fails first, in a node that says why."""
    spec = cells.get(cell)
    m = _module(spec, {}, {"batch_first": True})
    sess = _session(build_onnx(m))
    for shape, says in (((0, 4, 3), "an empty batch"), ((2, 0, 3), "sequences of 0 steps")):
        with pytest.raises(Exception, match=says):
            sess.run(None, {"input": np.zeros(shape, np.float32)})
    x = torch.randn(1, 1, 3)  # the smallest batch still runs
    _close(sess.run(None, {"input": x.numpy()}), _eager(m, x))


@pytest.mark.parametrize("variant", ["mingru", "lngru", "lstm-proj"])
def test_a_scan_graph_refuses_sequences_of_0_steps_in_one_sentence(variant):
    """ONNX Runtime's Scan fails on 0 iterations with its own slicer's words ("Invalid
    dim0_offset of 0"); the graph now fails first, in a node that says why. An empty batch
    runs, as in eager."""
    if variant == "lstm-proj":
        torch.manual_seed(0)
        m = gnn.LSTM(3, 5, proj_size=2, batch_first=True).eval()
    else:
        m = _module(cells.get(variant), {}, {"batch_first": True})
    sess = _session(build_onnx(m, lengths=True))
    with pytest.raises(Exception, match="sequences of 0 steps"):
        sess.run(None, {"input": np.zeros((2, 0, 3), np.float32),
                        "lengths": np.zeros(2, np.int64)})
    for shape in ((0, 4, 3), (2, 3, 3)):
        x, lengths = torch.randn(shape), torch.full(shape[:1], shape[1])
        _close(sess.run(None, {"input": x.numpy(), "lengths": lengths.numpy()}),
               _eager(m, x, lengths=lengths))


def test_switches_that_are_not_true_or_false_are_refused(tmp_path):
    """to_onnx(..., int8="False") quantized the graph and lengths="False" added the input
    (a string is truthy); to_pt2 and a task model's export read int8 and dynamic alike."""
    from grukit.export import to_pt2
    from grukit.tasks.export import export

    m = _module(cells.get("gru"), {}, {"batch_first": True})
    for name in ("dynamic", "lengths", "initial_state", "int8"):
        with pytest.raises(TypeError, match=f"to_onnx: {name} must be True or False; got "
                                            f"'False'."):
            to_onnx(m, tmp_path / "m.onnx", **{name: "False"})
    with pytest.raises(TypeError, match="to_pt2: dynamic must be True or False"):
        to_pt2(m, tmp_path / "m.pt2", torch.randn(2, 4, 3), dynamic="no")
    with pytest.raises(TypeError, match="export: int8 must be True or False"):
        export(object(), tmp_path / "m.onnx", int8="False")
    assert not list(tmp_path.iterdir())
    to_onnx(m, tmp_path / "m.onnx", lengths=1, initial_state=np.bool_(False))  # Keras' 1, 0


def test_weights_past_what_one_onnx_file_holds_are_refused_in_one_sentence(tmp_path,
                                                                          monkeypatch):
    """A GRU of 2.9 GB of weights ended in protobuf's "EncodeError: Failed to serialize
    proto"; the limit is lowered here so that a small module passes it."""
    from grukit.export import graph

    m = _module(cells.get("gru"), {}, {"batch_first": True})  # 3·5·(3 + 5) + 2·15 floats
    monkeypatch.setattr(graph, "MAX_BYTES", 4 * 100)
    with pytest.raises(ValueError) as e:
        to_onnx(m, tmp_path / "m.onnx")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("to_onnx: the model's weights take ") and \
        "past the 2 GiB that one ONNX file holds" in msg, msg
    assert not list(tmp_path.iterdir())
    monkeypatch.setattr(graph, "MAX_BYTES", 4 * 200)
    to_onnx(m, tmp_path / "m.onnx")  # 180 floats: within
