"""The clinical estimator's defaults are Che et al. (2018)'s: 49 GRU-D units, each baseline
as wide as gives it GRU-D's recurrent parameter count, batch 32, patience 10; a model fitted
with the default width saves and loads it."""

from __future__ import annotations

import numpy as np
import pytest
from test_clinical import write_set

from grukit import cells
from grukit.data.clinical import read_physionet2012
from grukit.tasks.clinical import ClinicalClassifier
from grukit.tasks.clinical.estimator import ClinicalConfig, paper_hidden


def test_defaults_are_the_papers_batch_patience_and_width():
    cfg = ClinicalConfig()
    assert (cfg.batch_size, cfg.patience, cfg.hidden) == (32, 10, None)
    assert paper_hidden("grud", 37) == 49


@pytest.mark.parametrize("model, width, spec, inputs", [
    ("gru-mean", 65, "gru", 37), ("gru-forward", 65, "gru", 37),
    ("gru-simple", 43, "gru", 111), ("lstm-mean", 54, "lstm", 37)])
def test_baseline_width_matches_the_grud_parameter_count(model, width, spec, inputs):
    assert paper_hidden(model, 37) == width
    target = cells.GRUD.count(37, 49)  # 20,164
    s = cells.get(spec)
    got = s.count(inputs, width)
    assert abs(got - target) <= min(abs(s.count(inputs, w) - target) for w in (width - 1,
                                                                              width + 1))
    assert abs(got - target) / target < 0.02


def test_paper_width_on_the_papers_33_variables():
    # the paper's GRU-D: 18,838 parameters (recurrent layer and sigmoid unit) on 33 variables
    assert cells.GRUD.count(33, 49) + 49 + 1 == 18834
    assert paper_hidden("gru-mean", 33) == 64


def test_default_width_is_fitted_saved_and_loaded(tmp_path):
    data = read_physionet2012(write_set(str(tmp_path / "set"), n=24))
    clf = ClinicalClassifier(model="gru-simple", epochs=1, validation_split=0).fit(data)
    assert clf.hidden_ == paper_hidden("gru-simple", len(data.variables))
    assert clf.model.layers[0].rnn.rnn.hidden_size == clf.hidden_
    clf.save(tmp_path / "m")
    back = ClinicalClassifier.load(tmp_path / "m")
    assert back.hidden_ == clf.hidden_
    np.testing.assert_array_equal(back.predict_proba(data), clf.predict_proba(data))


@pytest.mark.parametrize("model", ["gru-mean", "gru-simple", "lstm-mean"])
def test_baselines_get_the_same_variational_dropout_as_grud(model):
    import torch

    from grukit.models import Sequential
    from grukit.tasks.clinical.network import ClinicalNetwork

    net = ClinicalNetwork(model, 6, 9, 0.3, input_shape=(5, 11))
    Sequential([net]).build()
    net.set_input_dropout(0.3)
    net.set_recurrent_dropout(0.3)
    assert net.rnn.rnn.recurrent_dropout == 0.3
    seen = []
    net.rnn.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach()))
    x = torch.rand(64, 5, 11) + 0.5  # (B, T, F + S), no zeros
    net.train()
    torch.manual_seed(0)
    net(x, None)
    fed = seen[-1]  # (B, T, F)
    ratio = fed / x[..., :9]
    # one draw per sequence and feature, the same at every step; kept units scaled by 1/0.7
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))
    kept = ratio[:, 0] > 0
    torch.testing.assert_close(ratio[:, 0][kept], torch.full_like(ratio[:, 0][kept], 1 / 0.7))
    assert 0.5 < kept.float().mean() < 0.9
    net.eval()
    net(x, None)
    torch.testing.assert_close(seen[-1], x[..., :9])
