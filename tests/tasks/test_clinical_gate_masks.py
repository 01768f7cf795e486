"""The clinical baselines' per-gate dropout (``tasks.clinical.gates``, Che et al.'s Keras
layer draws one mask per gate): the GRU through ``ops.grud`` with the decays off and the
LSTM loop equal ``ops.gru`` / ``ops.lstm`` when the gates' masks are equal and send gate k's
mask to gate k only; the network uses them in training only; per-gate masks are the
estimator's default for every model and ``--shared-masks`` turns them off."""

from __future__ import annotations

import pytest
import torch

from grukit import ops
from grukit.layers import GRU, LSTM
from grukit.tasks.clinical import gates

TOL = dict(rtol=1e-10, atol=1e-10)


def _rnn(layer, width, dt=torch.float64):
    torch.manual_seed(3)
    lay = layer(5, return_sequences=True)
    lay(torch.zeros(1, 2, width), None)
    return lay.rnn.to(dt)


def _keep(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g, dtype=torch.float64) < 0.7).double() / 0.7


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_equal_gate_masks_give_the_shared_op(cell):
    n, op, run = (3, ops.gru, gates.gru) if cell == "gru" else (4, ops.lstm, gates.lstm)
    rnn = _rnn(GRU if cell == "gru" else LSTM, 4)
    x = torch.randn(3, 6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    d, s = _keep(3, 1, 4, seed=2), _keep(3, 1, 5, seed=3)
    got = run(rnn, x, d.expand(-1, n, -1), s.expand(-1, n, -1))
    want, _ = op(x * d, rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0,
                 state_mask=s[:, 0], backend="reference")
    torch.testing.assert_close(got, want, **TOL)
    torch.testing.assert_close(run(rnn, x, None, None), rnn(x)[0], **TOL)


def test_lstm_gate_k_reads_its_own_masks():
    rnn = _rnn(LSTM, 4)
    x = torch.randn(2, 2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    d, s = _keep(2, 4, 4, seed=6), _keep(2, 4, 5, seed=7)
    got = gates.lstm(rnn, x, d, s)
    w_ih, w_hh = rnn.weight_ih_l0.view(4, 5, 4), rnn.weight_hh_l0.view(4, 5, 5)
    b = (rnn.bias_ih_l0 + rnn.bias_hh_l0).view(4, 5)
    h = c = torch.zeros(2, 5, dtype=torch.float64)
    for t in range(2):  # by hand, gate by gate
        g = [(x[:, t] * d[:, k]) @ w_ih[k].t() + (h * s[:, k]) @ w_hh[k].t() + b[k]
             for k in range(4)]
        c = torch.sigmoid(g[1]) * c + torch.sigmoid(g[0]) * torch.tanh(g[2])
        h = torch.sigmoid(g[3]) * torch.tanh(c)
        torch.testing.assert_close(got[:, t], h, **TOL)


@pytest.mark.parametrize("model", ["gru-mean", "gru-simple", "lstm-mean", "grud"])
def test_network_draws_gate_masks_in_training_only(model):
    from grukit.models import Sequential
    from grukit.tasks.clinical.network import ClinicalNetwork

    series = 9 if model in ("grud", "gru-simple") else 3
    net = ClinicalNetwork(model, 4, series, 0.0, input_shape=(5, series + 2))
    Sequential([net]).build()
    net.set_input_dropout(0.3)
    net.set_recurrent_dropout(0.3)
    net.set_gate_masks(True)
    x = torch.rand(6, 5, series + 2)
    if model == "grud":
        x[..., 3:6] = (x[..., 3:6] > 0.5).float()  # the mask part of [x, m, δ]
        assert net.rnn.rnn.gate_masks
    net.eval()
    p_eval, _ = net(x, None)
    net.train()
    torch.manual_seed(0)
    p_train, _ = net(x, None)
    assert not torch.allclose(p_train, p_eval)
    p_train.sum().backward()
    assert all(p.grad is not None for p in net.rnn.rnn.parameters())
    net.set_input_dropout(0.0)
    net.set_recurrent_dropout(0.0)
    torch.testing.assert_close(net(x, None)[0], p_eval, rtol=1e-5, atol=1e-6)


def test_gate_masks_are_the_default_and_shared_masks_turns_them_off():
    from grukit.cli import build_parser
    from grukit.tasks.clinical import ClinicalClassifier

    assert ClinicalClassifier().config.gate_masks is True
    with pytest.raises(ValueError, match="gate_masks must be True or False"):
        ClinicalClassifier(gate_masks="no").fit(None)
    args = build_parser().parse_args(["clinical", "--shared-masks"])
    assert args.shared_masks


def test_the_gru_baselines_op_gets_every_tensor_on_the_inputs_device(monkeypatch):
    """The all-observed mask is made where x is: a CPU mask beside x on a GPU was refused
    by ``ops.grud`` (a device-less "meta" x stands in for the GPU here)."""
    devices = []

    def spy(x, *args, **kwargs):
        devices.extend(a.device for a in (x, *args, *kwargs.values())
                       if isinstance(a, torch.Tensor))
        return x.new_zeros(*x.shape[:2], 5), None

    monkeypatch.setattr(gates.ops, "grud", spy)
    rnn = _rnn(GRU, 4).to("meta")
    x = torch.zeros(3, 6, 4, dtype=torch.float64, device="meta")
    gates.gru(rnn, x, _keep(3, 3, 4, seed=1).to("meta"), _keep(3, 3, 5, seed=2).to("meta"))
    assert devices and set(devices) == {x.device}
