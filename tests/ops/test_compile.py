"""``torch.compile(fullgraph=True)`` and ``torch.export`` through the fused CPU kernels.

The cpu backend runs as torch custom ops (``grukit.ops.gru.library``,
``grukit.ops.lstm.library``) while a tracer runs it, so a compiled module is one graph
with the kernel as a node and equals eager (the same kernels run both ways; inductor only
reorders the torch ops around them): outputs and every gradient within 1e-5 in float32.
"""

import warnings

import pytest
import torch

import grukit.nn as gnn
from grukit.layers import GRU, Dense
from grukit.models import Sequential
from grukit.ops.gru.library import SCHEMA

TOL = dict(atol=1e-5, rtol=1e-5)


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    """Each test compiles from scratch (no cache hits across modules), and fails if dynamo
    traces through a cache wrapper of grukit's (it warns the user each time it does)."""
    torch._dynamo.reset()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*lru_cache.*")
        yield
    torch._dynamo.reset()


def _loss(out):
    y, state = out
    states = state if isinstance(state, tuple) else (state,)
    return y.square().sum() + sum(s.sum() for s in states)


def _grads(module, x, **kw):
    """Outputs and the gradients of x and every parameter of ``module(x, **kw)``."""
    module.zero_grad()
    x = x.detach().requires_grad_()
    out = module(x, **kw)
    _loss(out).backward()
    grads = [x.grad] + [p.grad for p in module.parameters()]
    return out, [g.clone() for g in grads]


def _assert_same(out, ref):
    (y, s), (y0, s0) = out, ref
    torch.testing.assert_close(y, y0, **TOL)
    for a, b in zip(s if isinstance(s, tuple) else (s,), s0 if isinstance(s0, tuple) else (s0,),
                    strict=True):
        torch.testing.assert_close(a, b, **TOL)


def _compiled_equals_eager(module, x, **kw):
    compiled = torch.compile(module, fullgraph=True)
    out, grads = _grads(compiled, x, **kw)
    ref, grads0 = _grads(module, x, **kw)
    _assert_same(out, ref)
    for g, g0 in zip(grads, grads0, strict=True):
        torch.testing.assert_close(g, g0, **TOL)
    with torch.no_grad():  # the inference op, compiled again under no_grad
        _assert_same(compiled(x, **kw), module(x, **kw))


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_compiled_gru_fullgraph_equals_eager(reset_after):
    torch.manual_seed(0)
    m = gnn.GRU(3, 8, batch_first=True, bidirectional=True, reset_after=reset_after,
                backend="cpu")
    _compiled_equals_eager(m, torch.randn(4, 6, 3))


def test_compiled_gru_with_lengths_fullgraph_equals_eager():
    torch.manual_seed(0)
    m = gnn.GRU(3, 8, batch_first=True, bidirectional=True, backend="cpu")
    _compiled_equals_eager(m, torch.randn(4, 6, 3), lengths=torch.tensor([6, 4, 2, 1]))


def test_compiled_gru_refuses_lengths_past_the_sequence():
    # a compiled graph cannot branch on values: the lengths are checked as it runs
    m = gnn.GRU(3, 8, batch_first=True, backend="cpu")
    compiled = torch.compile(m, fullgraph=True)
    x = torch.randn(2, 6, 3)
    compiled(x, lengths=torch.tensor([6, 2]))
    with pytest.raises(RuntimeError, match=r"lengths must lie in \[0, T\]"):
        compiled(x, lengths=torch.tensor([7, 2]))


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_compiled_gru_op_with_lengths_equals_eager(reset_after):
    """The custom op with lengths and both masks, compiled: forward and backward equal the
    eager cpu backend."""
    from grukit import ops
    from grukit.ops.gru.library import gru_cpu_train

    g = torch.Generator().manual_seed(0)
    b, t, i, h = 3, 5, 2, 4
    x, w_ih, w_hh = (torch.randn(*s, generator=g).requires_grad_()
                     for s in ((b, t, i), (3 * h, i), (3 * h, h)))
    b_ih, h0 = torch.randn(3 * h, generator=g).requires_grad_(), torch.randn(b, h, generator=g)
    b_hh = torch.randn(3 * h, generator=g).requires_grad_() if reset_after else None
    lengths = torch.tensor([5, 3, 1])
    drop = (torch.rand(b, h, generator=g) > 0.3).float()  # (B, H)
    zone = (torch.rand(b, t, h, generator=g) < 0.3).float()  # (B, T, H)
    params = [p for p in (x, w_ih, w_hh, b_ih, b_hh) if p is not None]

    def op(x, w_ih, w_hh, b_ih, b_hh):
        hn, hs, _ = gru_cpu_train(x, w_ih, w_hh, b_ih, b_hh, h0, lengths, reset_after, drop,
                                  zone)
        return hs[1:].transpose(0, 1), hn  # y: a view of hs = [h0, y]

    def eager(x, w_ih, w_hh, b_ih, b_hh):
        return ops.gru(x, w_ih, w_hh, b_ih, b_hh, h0=h0, lengths=lengths,
                       reset_after=reset_after, backend="cpu", state_mask=drop,
                       zoneout_mask=zone)

    # aot_eager: the op's fake implementation and autograd formula, traced without inductor
    out = torch.compile(op, fullgraph=True, backend="aot_eager")(x, w_ih, w_hh, b_ih, b_hh)
    grads = torch.autograd.grad(_loss(out), params)
    ref = eager(x, w_ih, w_hh, b_ih, b_hh)
    grads0 = torch.autograd.grad(_loss(ref), params)
    _assert_same(out, ref)
    for a, b0 in zip(grads, grads0, strict=True):
        torch.testing.assert_close(a, b0, **TOL)


def test_compiled_lstm_fullgraph_equals_eager():
    torch.manual_seed(0)
    m = gnn.LSTM(3, 8, batch_first=True, num_layers=2, backend="cpu")
    _compiled_equals_eager(m, torch.randn(4, 6, 3))


def test_compiled_default_lstm_trains_fullgraph_and_equals_eager(monkeypatch):
    """backend="auto" takes torch's oneDNN LSTM on CPU eagerly, whose backward inductor
    cannot compile; a compiled training step runs the same oneDNN kernel as grukit's op
    (``ops.lstm.onednn``), traced once per layer."""
    from grukit.ops.lstm import onednn

    traced = []
    real = onednn.lstm_onednn
    monkeypatch.setattr(onednn, "lstm_onednn", lambda *a: traced.append(1) or real(*a))
    torch.manual_seed(0)
    m = gnn.LSTM(3, 8, batch_first=True, num_layers=2, bidirectional=True)
    _compiled_equals_eager(m, torch.randn(4, 6, 3))
    assert len(traced) == 4  # two layers, two directions


@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_compiled_training_follows_changing_shapes(cell):
    """A batch or a time length that changes makes torch.compile retrace with that size
    dynamic. The default LSTM's oneDNN op then has a workspace of no size known when
    tracing: it failed to compile under fullgraph at the second shape (a constant asked of
    a dynamic size); every shape now trains as eagerly."""
    torch.manual_seed(0)
    m = getattr(gnn, cell)(3, 8, batch_first=True)
    _equal_at_shapes(torch.compile(m, fullgraph=True), m, ((4, 6), (4, 9), (3, 9), (5, 2)))


def _equal_at_shapes(compiled, module, shapes):
    """``compiled`` gives ``module``'s outputs and gradients at each (batch, steps) of 3
    features, one after another (a changed size makes torch.compile retrace)."""
    for batch, steps in shapes:
        x = torch.randn(batch, steps, 3)
        out, grads = _grads(compiled, x)
        ref, grads0 = _grads(module, x)
        _assert_same(out, ref)
        for g, g0 in zip(grads, grads0, strict=True):
            torch.testing.assert_close(g, g0, **TOL)


@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_compiled_keras_style_model_trains_like_eager(cell):
    """The article's model with either cell, a compiled Adam step against the eager one."""
    from grukit.layers import LSTM

    layer = {"GRU": GRU, "LSTM": LSTM}[cell]
    torch.manual_seed(0)
    x, y = torch.randn(8, 20, 1), torch.randn(8, 1)
    models = []
    for _ in range(2):
        torch.manual_seed(1)
        model = Sequential([layer(16, input_shape=(20, 1)), Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        models.append(model)
    runs = [torch.compile(models[0], fullgraph=True), models[1]]
    for _ in range(3):
        for run, model in zip(runs, models, strict=True):
            model.optimizer.zero_grad()
            torch.nn.functional.mse_loss(run(x), y).backward()
            model.optimizer.step()
    for p, p0 in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(p, p0, **TOL)


def test_compiled_article_sequential_fullgraph_equals_eager():
    """The article's model: GRU(64) on (100, 1) windows, then Dense(1)."""
    torch.manual_seed(0)
    model = Sequential([GRU(64, input_shape=(100, 1)), Dense(1)])
    model.build()
    x = torch.randn(4, 100, 1)
    compiled = torch.compile(model, fullgraph=True)

    def run(m):
        model.zero_grad()
        y = m(x)
        y.square().sum().backward()
        return y, [p.grad.clone() for p in model.parameters()]

    y, grads = run(compiled)
    y0, grads0 = run(model)
    torch.testing.assert_close(y, y0, **TOL)
    for g, g0 in zip(grads, grads0, strict=True):
        torch.testing.assert_close(g, g0, **TOL)


def test_exported_gru_runs_at_other_time_lengths():
    torch.manual_seed(0)
    m = gnn.GRU(3, 8, batch_first=True, backend="cpu")
    steps = torch.export.Dim("steps", min=2, max=1024)
    prog = torch.export.export(m, (torch.randn(2, 7, 3),), dynamic_shapes=({1: steps},))
    assert f"grukit.gru_cpu_train_v{SCHEMA}" in str(prog.graph)  # the fused kernel, one node
    run = prog.module()
    for t in (5, 31):
        x = torch.randn(2, t, 3)
        with torch.no_grad():
            _assert_same(run(x), m(x))


def test_gru_module_has_no_graph_break():
    m = gnn.GRU(3, 8, batch_first=True, num_layers=2, backend="cpu")
    explained = torch._dynamo.explain(m)(torch.randn(2, 5, 3))
    assert explained.graph_break_count == 0, explained.break_reasons
    ops_run = {str(n.target) for g in explained.graphs for n in g.graph.nodes}
    assert f"grukit.gru_cpu_train_v{SCHEMA}.default" in ops_run


def test_gru_ops_pass_torch_opcheck():
    """torch's own checks of the ops' registration: schema, fake implementation, the
    training op's autograd kernel (traced by AOTAutograd with dynamic shapes); the backward
    op has none (a gradient formula calls it)."""
    from grukit.ops.gru.library import gru_cpu_backward, gru_cpu_train

    g = torch.Generator().manual_seed(0)
    b, t, i, h = 3, 5, 2, 4
    x, w_ih, w_hh, b_ih, b_hh = (torch.randn(*s, generator=g).requires_grad_()
                                 for s in ((b, t, i), (3 * h, i), (3 * h, h), (3 * h,), (3 * h,)))
    h0 = torch.randn(b, h, generator=g)
    args = (x, w_ih, w_hh, b_ih, b_hh, h0, None, True, None, None)  # full lengths: the saved
    # gates past a sequence's end are never written, so two calls differ there
    torch.library.opcheck(gru_cpu_train, args)
    with torch.no_grad():
        hn, hs, save = gru_cpu_train(*args)
    assert hn.grad_fn is None  # under no_grad
    bargs = (torch.randn_like(hs), torch.randn_like(hn), x.detach(), w_ih.detach(),
             w_hh.detach(), hs, save, None, True, None, None, True)
    torch.library.opcheck(gru_cpu_backward, bargs,
                          test_utils=("test_schema", "test_faketensor"))


def test_a_backward_pass_through_the_inference_op_is_not_silent():
    """The inference op has no gradient: a graph that took it where weights need one (a
    program traced under no_grad, then trained) warns instead of leaving them unchanged."""
    from grukit.ops.gru.library import gru_cpu_infer

    b, t, h = 2, 3, 4
    w_ih, w_hh = torch.randn(3 * h, 1).requires_grad_(), torch.randn(3 * h, h).requires_grad_()
    y, _ = gru_cpu_infer(torch.randn(b, t, 1), w_ih, w_hh, None, None, torch.zeros(b, h), None,
                         True, None, None)
    with pytest.warns(UserWarning, match="autograd kernel was not registered"):
        y.sum().backward()


@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_a_gradient_of_a_gradient_through_the_training_op_is_refused_in_one_sentence(cell):
    """The backward ops have no gradient of their own: an exported training program run with
    create_graph=True is told so, as the eager kernel tells it (no numpy error)."""
    from grukit.ops.gru.library import gru_cpu_train
    from grukit.ops.lstm.library import lstm_cpu_train

    g, h = 3 if cell == "GRU" else 4, 4
    x = torch.randn(2, 3, 1, requires_grad=True)
    w_ih, w_hh = torch.randn(g * h, 1), torch.randn(g * h, h)
    h0 = torch.zeros(2, h)
    if cell == "GRU":
        out = gru_cpu_train(x, w_ih, w_hh, None, None, h0, None, True, None, None)[1]
    else:
        out = lstm_cpu_train(x, w_ih, w_hh, None, None, h0, h0, None, None)[0]
    with pytest.raises(RuntimeError, match="first derivatives only"):
        torch.autograd.grad(out.square().sum(), x, create_graph=True)


@pytest.mark.parametrize("cell", ["RNN", "LayerNormGRU"])
def test_a_fused_kernel_that_is_no_op_runs_between_two_graphs(cell):
    """The RNN's and the LayerNorm-GRU's fused kernels are no torch ops: torch.compile
    traced into their numpy and numba code and failed with an internal Dynamo error. They
    now run outside the graph (a graph break), equal to eager at every shape; fullgraph=True
    refuses the break naming backend='reference'."""
    torch.manual_seed(0)
    m = getattr(gnn, cell)(3, 8, batch_first=True)
    _equal_at_shapes(torch.compile(m), m, ((4, 6), (3, 9)))
    torch._dynamo.reset()
    with pytest.raises(torch._dynamo.exc.Unsupported, match="backend='reference'"):
        torch.compile(m, fullgraph=True)(torch.randn(2, 4, 3))


@pytest.mark.parametrize("cell", ["RNN", "LayerNormGRU"])
def test_export_of_a_fused_kernel_that_is_no_op_takes_the_reference(cell):
    torch.manual_seed(0)
    m = getattr(gnn, cell)(3, 8, batch_first=True).eval()
    x = torch.randn(2, 6, 3)
    program = torch.export.export(m, (x,))
    _assert_same(program.module()(x), m(x))


def test_a_model_compiled_before_its_first_call_builds_at_it():
    """A Keras-style model with no input shape makes its weights at its first call. Under
    torch.compile that creation was traced and failed with an internal Dynamo error; it now
    runs eagerly (a graph break) and the model equals one built eagerly. fullgraph=True
    refuses the break, saying to call the model once first."""
    from grukit.layers import Embedding

    ids = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]])

    def model():
        return Sequential([Embedding(10, 4, mask_zero=True), GRU(5), Dense(1)])

    m, m0 = model(), model()
    torch.manual_seed(0)  # the weights are drawn at the first call
    out = torch.compile(m)(ids)
    torch.manual_seed(0)
    torch.testing.assert_close(out, m0(ids), **TOL)
    for p, p0 in zip(m.parameters(), m0.parameters(), strict=True):
        torch.testing.assert_close(p, p0)
    torch._dynamo.reset()
    with pytest.raises(torch._dynamo.exc.Unsupported, match="disable"):
        torch.compile(model(), fullgraph=True)(ids)
