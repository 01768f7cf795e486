"""grukit.nn modules against their torch.nn namesakes, loading the same state_dict.

Each test names the backend it checks: with "auto" a batched LSTM without lengths runs on
torch's own LSTM, which would compare torch with itself. "cpu" is the fused numba kernel,
"reference" the plain-torch loop; ``backend_calls`` (tests/conftest.py) proves which ran.
"""

import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import grukit.nn as gnn
from conftest import ran_only

PAIRS = {"GRU": (gnn.GRU, torch.nn.GRU), "LSTM": (gnn.LSTM, torch.nn.LSTM),
         "RNN": (gnn.RNN, torch.nn.RNN)}
GRID = list(itertools.product(["GRU", "LSTM", "RNN"], [1, 2], [False, True], [False, True],
                              [False, True]))
BACKENDS = ["cpu", "reference"]


def _ids(p):
    kind, layers, bi, bf, h0 = p
    return f"{kind}-L{layers}-{'bi' if bi else 'uni'}-{'bf' if bf else 'tf'}-" \
           f"{'h0' if h0 else 'noh0'}"


def _pair(kind, layers, bi, bf, i=3, h=5, backend="cpu", **kw):
    torch.manual_seed(0)
    ours_cls, theirs_cls = PAIRS[kind]
    theirs = theirs_cls(i, h, layers, batch_first=bf, bidirectional=bi, **kw)
    ours = ours_cls(i, h, layers, batch_first=bf, bidirectional=bi, backend=backend, **kw)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _hx(kind, layers, bi, batch, h=5, proj=0):
    n = layers * (2 if bi else 1)
    hx = torch.randn(n, batch, proj or h)
    return (hx, torch.randn(n, batch, h)) if kind == "LSTM" else hx


def _close(a, b):
    if isinstance(a, tuple):
        for u, v in zip(a, b, strict=True):
            _close(u, v)
    else:
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cfg", GRID, ids=_ids)
def test_outputs_match_torch(cfg, backend, backend_calls):
    kind, layers, bi, bf, with_h0 = cfg
    ours, theirs = _pair(kind, layers, bi, bf, backend=backend)
    x = torch.randn(4, 7, 3) if bf else torch.randn(7, 4, 3)
    hx = _hx(kind, layers, bi, 4) if with_h0 else None
    _close(ours(x, hx), theirs(x, hx))
    ran_only(backend_calls, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["GRU", "LSTM", "RNN"])
def test_gradients_match_torch(kind, backend, backend_calls):
    ours, theirs = _pair(kind, 2, True, True, backend=backend)
    x = torch.randn(3, 6, 3, requires_grad=True)
    grads = []
    for m in (ours, theirs):
        x.grad = None
        y, h = m(x)
        h = torch.cat(h, -1) if isinstance(h, tuple) else h
        ((y ** 2).sum() + (h ** 3).sum()).backward()
        grads.append(x.grad)
    ran_only(backend_calls, backend)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-5, msg="input")
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_lstm_projection_matches_torch(backend_calls):
    # the fused CPU LSTM has no projection: the reference loop is ours here
    ours, theirs = _pair("LSTM", 2, True, False, backend="reference", proj_size=2)
    x = torch.randn(6, 3, 3)
    hx = _hx("LSTM", 2, True, 3, proj=2)
    _close(ours(x, hx), theirs(x, hx))
    ran_only(backend_calls, "reference")


@pytest.mark.parametrize("backend", BACKENDS)
def test_relu_rnn_and_odd_sizes(backend, backend_calls):
    ours, theirs = _pair("RNN", 3, True, False, i=1, h=1, backend=backend,
                         nonlinearity="relu")
    x = torch.randn(9, 1, 1)
    _close(ours(x), theirs(x))
    ours, theirs = _pair("GRU", 1, False, True, i=13, h=17, backend=backend, bias=False)
    x = torch.randn(2, 11, 13)
    _close(ours(x), theirs(x))
    ran_only(backend_calls, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["GRU", "LSTM", "RNN"])
@pytest.mark.parametrize("enforce_sorted", [False, True], ids=["unsorted", "sorted"])
def test_packed_sequence_and_lengths_match_torch(kind, enforce_sorted, backend, backend_calls):
    ours, theirs = _pair(kind, 2, True, True, backend=backend)
    lengths = [7, 5, 5, 2] if enforce_sorted else [3, 7, 1, 5]
    x = torch.randn(4, 7, 3)
    hx = _hx(kind, 2, True, 4)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=enforce_sorted)
    out_t, h_t = theirs(packed, hx)
    out_o, h_o = ours(packed, hx)
    torch.testing.assert_close(out_o.data, out_t.data, rtol=1e-5, atol=1e-5)
    assert torch.equal(out_o.batch_sizes, out_t.batch_sizes)
    _close(h_o, h_t)
    # the same through lengths=, without any packing
    y_o, h_l = ours(x, hx, lengths=lengths)
    y_t, _ = pad_packed_sequence(out_t, batch_first=True, total_length=7)
    torch.testing.assert_close(y_o, y_t, rtol=1e-5, atol=1e-5)
    _close(h_l, h_t)
    ran_only(backend_calls, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["GRU", "LSTM", "RNN"])
def test_unbatched_input(kind, backend, backend_calls):
    ours, theirs = _pair(kind, 2, True, False, backend=backend)
    x = torch.randn(6, 3)
    hx = _hx(kind, 2, True, 1)
    hx = tuple(h[:, 0] for h in hx) if kind == "LSTM" else hx[:, 0]
    _close(ours(x, hx), theirs(x, hx))
    ran_only(backend_calls, backend)


@pytest.mark.parametrize("kind", ["GRU", "LSTM", "RNN"])
def test_cells_match_torch(kind):
    torch.manual_seed(0)
    ours = getattr(gnn, kind + "Cell")(3, 5)
    theirs = getattr(torch.nn, kind + "Cell")(3, 5)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(4, 3)
    hx = (torch.randn(4, 5), torch.randn(4, 5)) if kind == "LSTM" else torch.randn(4, 5)
    _close(ours(x, hx), theirs(x, hx))
    _close(ours(x), theirs(x))
    unb = tuple(h[0] for h in hx) if kind == "LSTM" else hx[0]
    _close(ours(x[0], unb), theirs(x[0], unb))


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(0)
    m = gnn.GRU(3, 5, 2, dropout=0.5)
    x = torch.randn(7, 2, 3)
    m.eval()
    a, b = m(x)[0], m(x)[0]
    torch.testing.assert_close(a, b)
    m.train()
    assert not torch.allclose(m(x)[0], m(x)[0])
    with pytest.warns(UserWarning, match="dropout=0.5 applies between stacked layers only"):
        gnn.GRU(3, 5, 1, dropout=0.5)


def test_parameter_names_shapes_and_order_match_torch():
    for kind, kw in (("GRU", {}), ("LSTM", {"proj_size": 2}), ("RNN", {})):
        ours, theirs = _pair(kind, 2, True, False, **kw)
        assert [(n, p.shape) for n, p in ours.named_parameters()] == \
               [(n, p.shape) for n, p in theirs.named_parameters()]


def test_lstm_forget_bias():
    m = gnn.LSTM(3, 4, forget_bias=1.0)
    assert torch.all(m.bias_ih_l0[4:8] == 1.0) and torch.all(m.bias_hh_l0[4:8] == 0.0)


@pytest.mark.parametrize("kind", ["GRU", "LSTM", "RNN"])
def test_flatten_parameters_is_there_and_changes_nothing(kind):
    # torch.nn code calls it before each forward (DataParallel, cuDNN warnings)
    ours, theirs = _pair(kind, 1, False, False)
    theirs.flatten_parameters()
    assert ours.flatten_parameters() is None
    x = torch.randn(7, 2, 3)
    _close(ours(x), theirs(x))


def test_positional_arguments_are_torchs():
    # torch.nn.RNNBase takes proj_size between bidirectional and device: it was taken for
    # the device (an accelerator that may not exist, or another one) and proj_size left 0
    args = (3, 5, 2, True, True, 0.0, True, 2)
    ours, theirs = gnn.LSTM(*args), torch.nn.LSTM(*args)
    assert ours.proj_size == theirs.proj_size == 2
    assert [(n, p.shape) for n, p in ours.named_parameters()] == \
           [(n, p.shape) for n, p in theirs.named_parameters()]
    for cls in (gnn.GRU, gnn.LSTM):
        m = cls(3, 5, 1, True, False, 0.0, False, 0, "cpu", torch.float64)
        assert m.weight_ih_l0.dtype == torch.float64
    m = gnn.RNN(3, 5, 1, "relu", True, False, 0.0, False, 0, "cpu", torch.float64)
    assert m.nonlinearity == "relu" and m.weight_ih_l0.dtype == torch.float64


@pytest.mark.parametrize("kind, kw", [("GRU", {"num_layers": 2, "bidirectional": True}),
                                      ("LSTM", {"proj_size": 2, "num_layers": 2}),
                                      ("RNN", {"bias": False})])
def test_all_weights_are_torchs(kind, kw):
    # initialisation code loops over rnn.all_weights; it was an AttributeError
    ours, theirs = _pair(kind, kw.pop("num_layers", 1), kw.pop("bidirectional", False),
                         False, **kw)
    assert [[p.shape for p in ps] for ps in ours.all_weights] == \
           [[p.shape for p in ps] for ps in theirs.all_weights]
    for a, b in zip(ours.all_weights, theirs.all_weights, strict=True):
        assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert ours.all_weights[0][0] is ours.weight_ih_l0  # the parameters themselves


@pytest.mark.parametrize("kind, kw", [("LSTM", {"num_layers": 2, "bidirectional": True}),
                                      ("LSTM", {"proj_size": 2}), ("GRU", {"bias": False})])
def test_the_forget_gate_recipe_over_all_weights_names_runs_as_on_torch(kind, kw):
    # torch.nn code sets an LSTM's forget-gate bias looping over rnn._all_weights (names):
    # it failed with AttributeError after swapping in the grukit module
    ours, theirs = _pair(kind, kw.pop("num_layers", 1), kw.pop("bidirectional", False),
                         False, **kw)
    assert ours._all_weights == theirs._all_weights
    for m in (ours, theirs):
        for names in m._all_weights:
            for name in filter(lambda n: "bias" in n, names):
                bias = getattr(m, name)
                n = bias.size(0)
                bias.data[n // 4:n // 2].fill_(1.0)
    for (k, a), (j, b) in zip(ours.state_dict().items(), theirs.state_dict().items(),
                              strict=True):
        assert k == j and torch.equal(a, b)


@pytest.mark.parametrize("kind", ["GRU", "LSTM", "RNN"])
@pytest.mark.parametrize("lengths", [False, True], ids=["full", "lengths"])
def test_the_output_changed_in_place_before_backward_as_torch_allows(kind, lengths):
    """``torch.relu_(y)`` (an ``nn.ReLU(inplace=True)`` after the layer) then backward, as
    torch.nn.GRU and torch.nn.RNN allow: the fused RNN and LSTM kernels kept y itself for
    their backward and failed ("modified by an inplace operation")."""
    ours, theirs = _pair(kind, 1, False, True, backend="cpu")
    x = torch.randn(3, 5, 3, requires_grad=True)
    kw = {"lengths": torch.tensor([5, 2, 4])} if lengths else {}
    y, _ = ours(x, **kw)
    torch.relu_(y)
    y.sum().backward()
    grads = [x.grad] + [p.grad for p in ours.parameters()]
    x2 = x.detach().requires_grad_()
    ours.zero_grad()
    y2, _ = ours(x2, **kw)
    y2.relu().sum().backward()
    for a, b in zip(grads, [x2.grad] + [p.grad for p in ours.parameters()], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
