"""``Sequential.compile(jit_compile=True)``: fit's forward and loss run through
``torch.compile`` and train exactly as the eager step does (the same fused kernels run both
ways: float32 round-off only)."""

import copy
import warnings

import pytest
import torch

from grukit.layers import GRU, LSTM, Dense
from grukit.models import Sequential

TOL = dict(atol=1e-5, rtol=1e-5)


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*lru_cache.*")
        yield
    torch._dynamo.reset()


def _model(layer, jit_compile):
    torch.manual_seed(1)
    model = Sequential([layer(16, input_shape=(20, 1)), Dense(1)])
    model.compile(optimizer="adam", loss="mse", jit_compile=jit_compile)
    return model


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 20, 1, generator=g)  # 40 = one batch of 32 and one of 8
    return x, x[:, -5:, 0].mean(1, keepdim=True)


@pytest.mark.parametrize("layer", [GRU, LSTM], ids=["GRU", "LSTM"])
def test_jit_compiled_fit_trains_like_eager(layer):
    x, y = _data()
    runs = []
    for jit in (True, False):
        model = _model(layer, jit)
        hist = model.fit(x, y, batch_size=32, epochs=3, verbose=0, seed=0)
        runs.append((model, hist.history["loss"]))
    (compiled, losses), (eager, losses0) = runs
    assert compiled._jit_step is not None and eager._jit_step is None
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(losses0), **TOL)
    for p, p0 in zip(compiled.parameters(), eager.parameters(), strict=True):
        torch.testing.assert_close(p, p0, **TOL)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("layer", [GRU, LSTM], ids=["GRU", "LSTM"])
def test_jit_compiled_fit_is_one_graph_per_batch_shape_and_reused_by_the_next_fit(layer):
    from torch._dynamo.utils import counters

    x, y = _data()
    model = _model(layer, True)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, seed=0)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs == 2  # the batches of 32 and the last one of 8
    assert not counters["graph_break"]  # the whole forward and loss, fused kernels included
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, seed=1)
    assert counters["stats"]["unique_graphs"] == graphs


def test_a_copied_jit_compiled_model_trains_the_copy():
    """The compiled step takes the model as an argument: a deep copy that shares it must
    update its own weights, not the original's."""
    x, y = _data()
    model = _model(GRU, True)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, seed=0)
    twin = copy.deepcopy(model)
    before = [p.detach().clone() for p in model.parameters()]
    twin.fit(x, y, batch_size=32, epochs=2, verbose=0, seed=0)
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, b)
    assert any(not torch.equal(p, b) for p, b in zip(twin.parameters(), before, strict=True))


@pytest.mark.parametrize("bad", ["yes", 1, None, "True"])
def test_jit_compile_takes_true_false_or_auto(bad):
    model = Sequential([GRU(4, input_shape=(3, 1)), Dense(1)])
    with pytest.raises(ValueError, match="jit_compile must be True, False or 'auto'"):
        model.compile(jit_compile=bad)
    assert not model.compiled
    model.compile(jit_compile="auto")  # Keras' default: eager on its torch backend
    assert model.compiled and not model.jit_compile


def test_a_step_torch_compile_cannot_build_is_one_sentence_and_changes_nothing(monkeypatch):
    """Where inductor cannot build (no C++ compiler, say), fit says so and how to go on
    (here at the first batch, before any update)."""
    from torch._dynamo.exc import BackendCompilerFailed

    def broken(fn, **_):
        def run(*args):
            raise BackendCompilerFailed(None, RuntimeError("no C++ compiler found\n(details)"),
                                        None)
        return run

    monkeypatch.setattr(torch, "compile", broken)
    x, y = _data()
    model = _model(GRU, True)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(RuntimeError) as e:
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, seed=0)
    msg = str(e.value)
    assert "\n" not in msg and "RuntimeError: no C++ compiler found)" in msg
    assert "jit_compile=False" in msg
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, b)


@pytest.mark.skipif(not hasattr(torch.compiler, "skip_guard_on_globals_unsafe"),
                    reason="torch.compile takes guard_filter_fn from torch 2.7")
def test_the_compiled_step_leaves_out_only_the_guards_on_grukits_own_code(monkeypatch):
    """The guards on the model, its weights, the inputs and grukit's values stay: a layer
    frozen between two fits is recompiled for and stays frozen."""
    from grukit.models import jit

    seen, rule = [], jit._code_unchanged

    def recording(entries):
        keep = rule(entries)
        seen.extend(zip(entries, keep, strict=True))
        return keep

    monkeypatch.setattr(jit, "_code_unchanged", recording)
    x, y = _data()
    model = _model(GRU, True)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, seed=0)
    dropped = [e for e, keep in seen if not keep]
    assert dropped and all(e.name.startswith("G['__import_grukit") and e.guard_type in
                           jit._CODE for e in dropped)
    kept = {e.guard_type for e, keep in seen if keep}
    assert {"TENSOR_MATCH", "GLOBAL_STATE"} <= kept
    model.layers[0].trainable = False
    frozen = [p.detach().clone() for p in model.layers[0].parameters()]
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, seed=0)
    for p, b in zip(model.layers[0].parameters(), frozen, strict=True):
        assert torch.equal(p, b)



def test_a_backend_registered_after_compiling_serves_every_traced_batch_size(monkeypatch):
    """``grukit.ops.dispatch.register`` replacing a backend changes grukit's values, not its
    code: the compiled step's graphs of both batch sizes are traced again with it."""
    from grukit import ops
    from grukit.models import jit
    from grukit.ops import dispatch

    cpu = dispatch._REGISTRY["gru"]["cpu"]
    monkeypatch.setitem(dispatch._REGISTRY["gru"], "cpu", cpu)
    monkeypatch.setattr(dispatch, "_ORDERED", {})
    torch.manual_seed(0)
    w = [torch.randn(6, 1).requires_grad_(), torch.randn(6, 2).requires_grad_()]

    def loss(x):
        return ops.gru(x, *w, None, None)[0].sum()

    compile_ = torch.compile  # Dynamo's guards, without inductor's code generation
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: compile_(fn, backend="eager", **kw))
    step = jit.step(loss)
    xs = [torch.randn(b, 3, 1) for b in (4, 2)]
    for x in xs:
        step(x)

    def halved(*args, **kwargs):
        y, h = cpu.fn(*args, **kwargs)
        return y * 0.5, h * 0.5

    dispatch.register("gru", dispatch.Backend("cpu", halved, cpu.why_not, cpu.priority))
    for x in xs:
        torch.testing.assert_close(step(x), loss(x), **TOL)
