import json
import math

import numpy as np
import pytest
import scipy.io
import torch
import torch.nn.functional as F

from conftest import SHARED_DATA
from grukit.tasks.music import (
    DEFAULT_HIDDEN,
    MusicConfig,
    PianoRollModel,
    count_params,
    evaluate_nll,
    load_piano_rolls,
    nll_sum,
    train_music,
    weight_noise,
)

SHARED = SHARED_DATA  # tests/conftest.py: $GRUKIT_SHARED_DATA or ../shared/data
JSB = SHARED / "music" / "JSB_Chorales.mat"


def _cell(seqs):
    """A MATLAB cell array (1, N) of the given arrays, as the published files hold."""
    cell = np.empty((1, len(seqs)), dtype=object)
    for i, s in enumerate(seqs):
        cell[0, i] = s
    return cell


def _rolls(rng, n, lo=3, hi=12):
    return [(rng.random((int(rng.integers(lo, hi)), 88)) < 0.1).astype(np.uint8)
            for _ in range(n)]


def _write(path, splits):
    scipy.io.savemat(path, {k: _cell(v) for k, v in splits.items()})
    return path


@pytest.fixture
def tiny(tmp_path):
    rng = np.random.default_rng(0)
    raw = {"traindata": _rolls(rng, 6), "validdata": _rolls(rng, 3), "testdata": _rolls(rng, 3)}
    return _write(tmp_path / "tiny.mat", raw), raw


def test_loader_reads_a_cell_array_of_rolls(tiny):
    path, raw = tiny
    data = load_piano_rolls(path)
    assert set(data) == {"train", "valid", "test"}
    for split, key in (("train", "traindata"), ("valid", "validdata"), ("test", "testdata")):
        assert len(data[split]) == len(raw[key])
        for got, want in zip(data[split], raw[key], strict=True):
            assert got.dtype == torch.float32 and got.shape == want.shape
            np.testing.assert_array_equal(got.numpy(), want)


def test_loader_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_piano_rolls(tmp_path / "nope.mat")
    junk = tmp_path / "junk.mat"
    junk.write_text("not a mat file")
    with pytest.raises(ValueError, match="not a MATLAB .mat file"):
        load_piano_rolls(junk)
    ok = [np.zeros((4, 88), np.uint8)]
    p = _write(tmp_path / "a.mat", {"traindata": ok, "validdata": ok})
    with pytest.raises(ValueError, match=r"lacks \['testdata'\]"):
        load_piano_rolls(p)
    p = _write(tmp_path / "b.mat", {"traindata": ok, "validdata": ok,
                                    "testdata": [np.zeros((4, 87), np.uint8)]})
    with pytest.raises(ValueError, match=r"sequence 0 of 'testdata' has shape \(4, 87\)"):
        load_piano_rolls(p)
    p = _write(tmp_path / "c.mat", {"traindata": [np.full((4, 88), 0.5)], "validdata": ok,
                                    "testdata": ok})
    with pytest.raises(ValueError, match="values other than 0 and 1"):
        load_piano_rolls(p)


@pytest.mark.parametrize("value", ["False", None, 1.0, [True]], ids=repr)
def test_nll_refuses_a_count_first_that_is_no_bool(value):
    """count_first="False" counted frame 0 (a string is truthy): a per-step NLL over other
    frames than asked, without a word; numpy's bool, 0 and 1 are the bools they equal."""
    x = (torch.rand(2, 5, 88) < 0.2).float()
    logits = torch.randn(2, 5, 88)
    with pytest.raises(ValueError, match=r"^count_first must be True or False; got "):
        nll_sum(logits, x, None, value)
    assert nll_sum(logits, x, None, np.bool_(False))[1] == nll_sum(logits, x)[1] == 8
    assert nll_sum(logits, x, torch.tensor([5, 3]), 1)[1] == 8


def test_nll_matches_bce_with_logits_per_sequence():
    torch.manual_seed(0)
    lengths = torch.tensor([5, 2, 7])
    x = (torch.rand(3, 7, 88) < 0.2).float()
    logits = torch.randn(3, 7, 88)
    for count_first in (False, True):
        total, steps = nll_sum(logits, x, lengths, count_first)
        want, n = 0.0, 0
        first = 0 if count_first else 1
        for b, L in enumerate(lengths.tolist()):
            for t in range(first, L):  # one frame at a time: sum over the 88 keys
                want += F.binary_cross_entropy_with_logits(logits[b, t], x[b, t],
                                                           reduction="sum").item()
                n += 1
        assert steps == n
        assert total.item() == pytest.approx(want, rel=1e-5)
    full, n_full = nll_sum(logits, x)  # no lengths: all frames but t = 0
    assert n_full == 3 * 6
    assert full.item() == pytest.approx(F.binary_cross_entropy_with_logits(
        logits[:, 1:], x[:, 1:], reduction="sum").item(), rel=1e-5)


@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn", "mingru"])
def test_model_predicts_each_frame_from_the_past_only(kind):
    torch.manual_seed(0)
    m = PianoRollModel(kind, 8)
    x = (torch.rand(2, 6, 88) < 0.3).float()
    y = x.clone()
    y[:, 3] = 1 - y[:, 3]  # change frame 3: logits up to 3 must not move, 4 on must
    with torch.no_grad():
        a, b = m(x), m(y)
    torch.testing.assert_close(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_parameter_counts_at_the_papers_sizes():
    counts = {k: count_params(PianoRollModel(k, DEFAULT_HIDDEN[k])) for k in ("gru", "lstm",
                                                                              "rnn")}
    assert counts == {"gru": 22904, "lstm": 21400, "rnn": 27888}
    lstm = PianoRollModel("lstm", 36)
    h = 36
    assert torch.all(lstm.rnn.bias_ih_l0[h:2 * h] == 1.0)
    assert torch.all(lstm.rnn.bias_hh_l0[h:2 * h] == 0.0)


def test_weight_noise_perturbs_inside_and_restores_exactly():
    m = PianoRollModel("gru", 8)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    weights = [p for p in m.parameters() if p.dim() > 1]
    with weight_noise(weights, 0.075, torch.Generator().manual_seed(0)):
        moved = (m.rnn.weight_hh_l0 - before["rnn.weight_hh_l0"]).std().item()
        assert moved == pytest.approx(0.075, rel=0.3)
        assert torch.equal(m.rnn.bias_ih_l0, before["rnn.bias_ih_l0"])  # biases untouched
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_evaluation_sees_no_noise_and_padding_does_not_count():
    torch.manual_seed(0)
    m = PianoRollModel("gru", 8)
    rolls = [(torch.rand(t, 88) < 0.2).float() for t in (3, 9, 5, 1)]
    # per sequence, clean weights, no padding
    tot, n = 0.0, 0
    with torch.no_grad():
        for r in rolls:
            s, k = nll_sum(m(r[None]), r[None])
            tot, n = tot + s.item(), n + k
    for bs in (1, 2, 64):
        assert evaluate_nll(m, rolls, batch_size=bs) == pytest.approx(tot / n, rel=1e-5)


def test_train_music_reports_the_best_weights(tiny):
    path, _ = tiny
    data = load_piano_rolls(path)
    seen = []
    res = train_music(data, MusicConfig(model="gru", hidden=6, max_epochs=3, patience=5,
                                        batch_size=2, lr=1e-2),
                      on_epoch=lambda e, tr, va: seen.append((e, tr, va)))
    d = res.to_dict()
    json.dumps(d)  # serialisable, model excluded
    assert "model" not in d and isinstance(res["model"], torch.nn.Module)
    assert [e for e, _, _ in seen] == [1, 2, 3]
    assert len(d["epoch_seconds"]) == len(d["train_curve"]) == len(d["val_curve"]) == 3
    assert d["val_nll"] == min(d["val_curve"]) == d["val_curve"][d["best_epoch"] - 1]
    assert d["params"] == count_params(res.model) and d["hidden"] == 6
    assert d["seconds_to_best"] == pytest.approx(sum(d["epoch_seconds"][:d["best_epoch"]]))
    # the returned model holds the best weights, evaluated without noise
    assert evaluate_nll(res.model, data["valid"]) == pytest.approx(d["val_nll"], rel=1e-5)
    assert evaluate_nll(res.model, data["test"]) == pytest.approx(d["test_nll"], rel=1e-5)
    assert all(math.isfinite(d[k]) for k in ("train_nll", "val_nll", "test_nll"))


def test_max_seconds_stops_early_and_still_reports(tiny):
    data = load_piano_rolls(tiny[0])
    res = train_music(data, MusicConfig(model="lstm", hidden=4, max_epochs=50,
                                        max_seconds=1e-6))
    assert res["stop_reason"] == "max_seconds" and len(res["val_curve"]) == 1
    assert math.isfinite(res["test_nll"])
    assert res.last_epoch_partial  # one update of six: its time is not an epoch's


def test_last_epoch_is_partial_only_when_the_time_limit_cut_it(tiny):
    data = load_piano_rolls(tiny[0])
    whole = {**data, "train": data["train"][:2]}  # one update of batch 2: never cut
    res = train_music(whole, MusicConfig(hidden=4, max_seconds=1e-6, batch_size=2))
    assert res.stop_reason == "max_seconds" and not res.last_epoch_partial
    res = train_music(data, MusicConfig(hidden=4, max_epochs=1))
    assert res.stop_reason == "max_epochs" and not res.last_epoch_partial


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="model must be one of"):
        MusicConfig(model="transformer")
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        MusicConfig(hidden=0)
    assert MusicConfig(model="lstm").hidden == 36
    with pytest.raises(ValueError, match="data lacks sequences for"):
        train_music({"train": [], "valid": [], "test": []}, MusicConfig())


@pytest.mark.skipif(not JSB.exists(), reason=f"shared data not found at {JSB}")
def test_jsb_chorales_loads_and_trains_one_epoch():
    data = load_piano_rolls(JSB)
    assert [len(data[s]) for s in ("train", "valid", "test")] == [229, 76, 77]
    assert sum(r.shape[0] for r in data["train"]) == 13807
    short = {s: v[:20] for s, v in data.items()}
    res = train_music(short, MusicConfig(model="gru", max_epochs=1))
    # an untrained 88-key model scores 88·ln 2 ≈ 61; one short epoch is far below
    assert res["val_nll"] < 20 and res["params"] == 22904
