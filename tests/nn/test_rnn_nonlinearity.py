"""``grukit.nn.RNN(nonlinearity=...)``: torch's "tanh" and "relu" as ``torch.nn.RNN`` (same
constructor, state dict and outputs), and Keras' other activations by name ("sigmoid",
"elu", "linear", ...), which run on the reference backend."""

import copy

import pytest
import torch

from grukit import nn as gnn
from grukit import ops

X = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_torch_forms_stay_a_drop_in(act):
    torch.manual_seed(0)
    ref = torch.nn.RNN(3, 4, 2, act, True, True, 0.0, True)  # torch's positional order
    ours = gnn.RNN(3, 4, 2, act, True, True, 0.0, True)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    ours.load_state_dict(ref.state_dict())
    torch.testing.assert_close(ours(X)[0], ref(X)[0], rtol=1e-5, atol=1e-6)
    assert ours.nonlinearity == act and ours._activations == {}
    assert repr(ours).endswith("bidirectional=True)" if act == "tanh" else
                               "nonlinearity='relu')")


@pytest.mark.parametrize("act", ["sigmoid", "elu", "linear", None, torch.sigmoid])
def test_other_activations_run_on_the_reference(act, backend_calls):
    m = gnn.RNN(3, 4, nonlinearity=act, batch_first=True)
    name = {None: "linear"}.get(act, getattr(act, "__name__", act))
    assert m.nonlinearity == name and m._activations == {"activation": name}
    assert f"nonlinearity='{name}'" in repr(m)
    y, h = m(X)
    assert backend_calls == [("rnn", "reference")]
    p = dict(m.named_parameters())
    want, _ = ops.rnn(X, p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"],
                      p["bias_hh_l0"], nonlinearity=name, backend="reference")
    torch.testing.assert_close(y, want)
    torch.testing.assert_close(copy.deepcopy(m)(X)[0], y)
    assert m.state_dict().keys() == gnn.RNN(3, 4).state_dict().keys()  # nothing added


def test_unknown_names_are_refused_in_one_sentence():
    for bad in ("Tanh", "softmax", 3):
        with pytest.raises(ValueError, match=r"^RNN: nonlinearity: unknown activation .*; "
                                             r"choose one of elu, .*\.$"):
            gnn.RNN(3, 4, nonlinearity=bad)
    m = gnn.RNN(3, 4)
    with pytest.raises(ValueError, match="unknown activation 'RELU'"):
        m.nonlinearity = "RELU"
    assert m.nonlinearity == "tanh"


def test_no_recurrent_activation_is_read_from_an_rnn():
    # code written for a GRU's (activation, recurrent_activation) pair gets one sentence
    acts = gnn.RNN(3, 4, nonlinearity="elu")._activations
    assert "recurrent_activation" not in acts and acts.get("recurrent_activation") is None
    with pytest.raises(ValueError, match=r"^RNN\(nonlinearity='elu'\) has no "
                                         r"recurrent_activation .*grukit's modules\.$"):
        acts["recurrent_activation"]


@pytest.mark.parametrize("act", ["sigmoid", "linear", "elu", "softplus", "gelu", "tanh",
                                 "relu"])
def test_an_rnn_cell_takes_the_activation_as_the_rnn_does(act, tmp_path):
    # grukit.nn.RNNCell refused all but tanh and relu while grukit.nn.RNN took them
    import torch.nn.functional as F

    from grukit.convert import to_torch
    from grukit.ops.activations import apply

    torch.manual_seed(0)
    cell = gnn.RNNCell(3, 5, nonlinearity=act)
    x, h = torch.randn(4, 3), torch.randn(4, 5)
    pre = F.linear(x, cell.weight_ih, cell.bias_ih) + F.linear(h, cell.weight_hh, cell.bias_hh)
    torch.testing.assert_close(cell(x, h), apply(act, pre), rtol=1e-6, atol=1e-6)
    rnn = gnn.RNN(3, 5, nonlinearity=act)  # the one-layer module with the same weights
    rnn.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    torch.testing.assert_close(rnn(x.unsqueeze(0), h.unsqueeze(0))[1][0], cell(x, h))
    standard = act in ("tanh", "relu")
    if standard:
        torch.testing.assert_close(to_torch(cell)(x, h), cell(x, h))
    else:
        with pytest.raises(ValueError, match=f"activation='{act}'"):
            to_torch(cell)
    ort = pytest.importorskip("onnxruntime")
    from grukit.export import to_onnx

    if act == "gelu":  # the ONNX RNN operator has no gelu
        with pytest.raises(ValueError, match="RNNCell with activation='gelu' has no ONNX form"):
            to_onnx(cell, tmp_path / "c.onnx")
        return
    session = ort.InferenceSession(str(to_onnx(cell, tmp_path / "c.onnx")),
                                   providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy(), "h0": h.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), cell(x, h).detach(), rtol=1e-5,
                               atol=1e-6)
