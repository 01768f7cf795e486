"""grukit's oneDNN LSTM ops (``ops.lstm.onednn``): the kernel torch.nn.LSTM runs on a CPU, as
custom ops a compiled training step keeps. Checked against torch.nn.LSTM's own autograd and
by torch's ``opcheck`` (schema, fake implementation, autograd registration)."""

import pytest
import torch

from grukit.ops.lstm import onednn

pytestmark = pytest.mark.skipif(not onednn.available(torch.zeros(1)),
                                reason="this torch has no oneDNN")
TOL = dict(atol=1e-5, rtol=1e-5)


def _pair(bias=True):
    torch.manual_seed(0)
    ref = torch.nn.LSTM(3, 8, batch_first=True, bias=bias)
    x = torch.randn(4, 6, 3)
    h0, c0 = torch.randn(4, 8), torch.randn(4, 8)
    return ref, x, h0, c0


@pytest.mark.parametrize("used", ["y", "h", "c", "all"])
@pytest.mark.parametrize("bias", [True, False])
def test_ops_equal_torch_lstm_forward_and_backward(used, bias):
    ref, x, h0, c0 = _pair(bias)
    params = [p.detach().clone().requires_grad_() for p in ref.parameters()]
    w_ih, w_hh = params[:2]
    b_ih, b_hh = (params[2], params[3]) if bias else (None, None)
    xs = [x.clone().requires_grad_() for _ in range(2)]
    hs = [h0.clone().requires_grad_() for _ in range(2)]
    cs = [c0.clone().requires_grad_() for _ in range(2)]
    y0, (h_ref, c_ref) = ref(xs[0], (hs[0].unsqueeze(0), cs[0].unsqueeze(0)))
    y1, (h1, c1) = onednn.lstm_onednn(xs[1], w_ih, w_hh, b_ih, b_hh, hs[1], cs[1])
    torch.testing.assert_close(y1, y0, **TOL)
    torch.testing.assert_close(h1, h_ref[0], **TOL)
    torch.testing.assert_close(c1, c_ref[0], **TOL)

    def loss(y, h, c):
        g = torch.Generator().manual_seed(1)
        parts = {"y": (y * torch.randn(y.shape, generator=g)).sum(),
                 "h": (h * torch.randn(h.shape, generator=g)).sum(),
                 "c": (c * torch.randn(c.shape, generator=g)).sum()}
        return sum(parts.values()) if used == "all" else parts[used]

    loss(y0, h_ref[0], c_ref[0]).backward()
    loss(y1, h1, c1).backward()
    theirs = [xs[0].grad, hs[0].grad, cs[0].grad] + [p.grad for p in ref.parameters()]
    ours = [xs[1].grad, hs[1].grad, cs[1].grad] + [p.grad for p in params]
    for a, b in zip(ours, theirs, strict=True):
        assert a is not None and a.abs().sum() > 0  # a gradient reached every input
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("measured", [True, False], ids=["ws_bytes", "unbacked"])
def test_opcheck_train_op(measured):
    ref, x, h0, c0 = _pair()
    w = [p.detach().clone().requires_grad_() for p in ref.parameters()]
    xt = x.transpose(0, 1).contiguous()  # (T, B, I)
    ws = onednn.workspace_bytes(*xt.shape, 8) if measured else -1
    args = (xt.requires_grad_(), *w, h0, c0, ws)
    torch.library.opcheck(onednn.lstm_onednn_train, args,
                          test_utils=("test_schema", "test_autograd_registration",
                                      "test_faketensor"))


@pytest.mark.parametrize("sizes", [(6, 4, 3, 8), (1, 1, 1, 1), (100, 32, 1, 64), (7, 3, 5, 33)])
def test_probed_workspace_size_is_the_kernels(sizes):
    """The size measured at trace time is what the op returns at run time."""
    steps, batch, inputs, hidden = sizes
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    out = onednn.lstm_onednn_train(r(steps, batch, inputs), r(4 * hidden, inputs),
                                   r(4 * hidden, hidden), r(4 * hidden), r(4 * hidden),
                                   r(batch, hidden), r(batch, hidden),
                                   onednn.workspace_bytes(*sizes))
    assert out[3].dtype == torch.uint8 and out[3].numel() == onednn.workspace_bytes(*sizes) > 0


def test_a_workspace_of_another_size_is_refused_in_one_sentence():
    ref, x, h0, c0 = _pair()
    xt = x.transpose(0, 1).contiguous()
    with pytest.raises(RuntimeError, match="were measured when the graph was traced"):
        onednn.lstm_onednn_train(xt, *ref.parameters(), h0, c0,
                                 onednn.workspace_bytes(*xt.shape, 8) + 1)


def test_compiled_without_fullgraph_is_one_graph():
    """torch.compile's default splits a graph at an op of data-dependent output size; with
    the workspace measured, the LSTM model compiles whole."""
    from torch._dynamo.utils import counters

    from grukit.layers import LSTM, Dense
    from grukit.models import Sequential

    torch._dynamo.reset()
    counters.clear()
    torch.manual_seed(0)
    model = Sequential([LSTM(8, input_shape=(5, 1)), Dense(1)])
    model.build()
    x = torch.randn(4, 5, 1)
    torch.compile(model)(x).sum().backward()
    assert counters["stats"]["unique_graphs"] == 1 and not counters["graph_break"]
    torch._dynamo.reset()


def test_compiled_training_step_traces_the_op_not_aten_lstm():
    """The default LSTM of a Keras-style model, compiled: the graph holds the oneDNN op."""
    from grukit.layers import LSTM, Dense
    from grukit.models import Sequential

    torch._dynamo.reset()
    torch.manual_seed(0)
    model = Sequential([LSTM(8, input_shape=(5, 1)), Dense(1)])
    model.build()
    seen = []

    def backend(gm, _inputs):
        seen.extend(str(n.target) for n in gm.graph.nodes if n.op == "call_function")
        return gm

    x = torch.randn(3, 5, 1)
    torch.compile(model, fullgraph=True, backend=backend)(x).sum().backward()
    torch._dynamo.reset()
    assert any("lstm_onednn_train" in t for t in seen), seen
    assert not any("aten.lstm" in t or "lstm_cpu" in t for t in seen), seen


def test_a_gradient_of_a_gradient_through_the_op_is_refused_in_one_sentence():
    ref, x, h0, c0 = _pair()
    x = x.transpose(0, 1).contiguous().requires_grad_()  # (T, B, I)
    y = onednn.lstm_onednn_train(x, *ref.parameters(), h0, c0, -1)[0]
    with pytest.raises(RuntimeError, match="first derivatives only"):
        torch.autograd.grad(y.square().sum(), x, create_graph=True)
