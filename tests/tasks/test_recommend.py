import json

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import SHARED_DATA
from grukit import nn as gnn
from grukit.cli import main
from grukit.data.sessions import Sessions
from grukit.tasks.recommend import (
    GRU4Rec,
    ItemKNN,
    MostPopular,
    bpr_max_loss,
    cross_entropy_loss,
    evaluate,
    metrics_from_ranks,
    ranks_of,
)
from grukit.tasks.recommend.batching import session_parallel

SHARED = SHARED_DATA  # tests/conftest.py: $GRUKIT_SHARED_DATA or ../shared/data
DATA = SHARED / "sessions" / "diginetica_sample_train-item-views.csv"


def _sessions(lists, n_items=None):
    items = np.concatenate([np.asarray(s, np.int64) for s in lists])
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in lists])]).astype(np.int64)
    n = n_items or int(items.max()) + 1
    return Sessions(items, offsets, np.arange(100, 100 + n))


def test_session_parallel_slots_follow_sessions_and_reset():
    s = _sessions([[0, 1, 2], [3, 4], [5, 6, 7, 8], [9, 10]])
    steps = list(session_parallel(s, 2))
    # slot 0: session 0 then 3; slot 1: session 1, then 2 (refilled the step it ends)
    assert [(i.tolist(), t.tolist(), r.tolist()) for i, t, r, _ in steps] == [
        ([0, 3], [1, 4], [True, True]),
        ([1, 5], [2, 6], [False, True]),
        ([9, 6], [10, 7], [True, False]),
    ]
    # training stops as soon as a slot cannot be refilled
    assert len(steps) == 3
    drained = list(session_parallel(s, 2, drain=True))
    pairs = sorted((int(i), int(t)) for inp, tgt, _, act in drained
                   for i, t in zip(inp[act], tgt[act], strict=True))
    assert pairs == [(0, 1), (1, 2), (3, 4), (5, 6), (6, 7), (7, 8), (9, 10)]


def test_ranks_count_ties_against_the_target():
    scores = np.array([[1.0, 2.0, 2.0, 0.0], [5.0, 1.0, 1.0, 1.0]])
    assert ranks_of(scores, np.array([1, 0])).tolist() == [2, 1]
    m = metrics_from_ranks(np.array([1, 2, 30]), ks=(1, 20))
    assert m["recall@1"] == pytest.approx(1 / 3) and m["recall@20"] == pytest.approx(2 / 3)
    assert m["mrr@20"] == pytest.approx((1 + 0.5) / 3)


def test_evaluate_and_the_baselines_refuse_what_they_would_score_wrong():
    s = Sessions(np.array([0, 1, 2, 0, 1]), np.array([0, 3, 5]), np.arange(3))
    pop = MostPopular().fit(s).score_step
    with pytest.raises(ValueError, match="batch_size must be a whole number, 1 or more; got 0"):
        evaluate(pop, s, batch_size=0)  # read no session and gave recall 0
    with pytest.raises(ValueError, match="each k must be a whole number, 1 or more; got 0"):
        evaluate(pop, s, ks=(0, 5))

    def never(*args):
        raise AssertionError("scored before the cut-offs were checked")

    with pytest.raises(ValueError, match="each k must be a whole number"):
        evaluate(never, s, ks=(0,))  # refused after the whole pass over the test events
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="shrinkage must be a finite number, 0 or more"):
            ItemKNN(shrinkage=bad)
    wide = Sessions(np.array([0, 1, 3, 4]), np.array([0, 2, 4]), np.arange(5))
    with pytest.raises(ValueError, match=r"score_step gave scores of shape \(64, 5\), not "
                                         r"\(64, 3\): one per item of the test sessions'"):
        evaluate(MostPopular().fit(wide).score_step, s)  # another item map: ranked wrong items
    # a session of one event (model.index(events, min_length=1) keeps them) or of none: its
    # slot paired its event with the next session's first, a prediction across two sessions
    for offsets in ([0, 1, 3, 5], [0, 2, 2, 5]):
        short = Sessions(np.array([0, 1, 2, 0, 1]), np.array(offsets), np.arange(3))
        with pytest.raises(ValueError, match=r"^test: session [01] has [01] event\(s\); every "
                                             r"session needs 2 or more"):
            evaluate(pop, short)
    with pytest.raises(TypeError, match=r"^test must be Sessions \(index events with "):
        evaluate(pop, [[0, 1, 2]])
    for baseline in (MostPopular(), ItemKNN()):  # an index past the item map, a DataFrame
        with pytest.raises(ValueError, match=r"^train: item indices run from 0 to 5, outside "
                                             r"the 3 items of its item map\.$"):
            baseline.fit(Sessions(np.array([0, 1, 5, 2]), np.array([0, 2, 4]), np.arange(3)))
        with pytest.raises(TypeError, match=r"^train must be Sessions \(index events with "):
            baseline.fit(pd.DataFrame({"session": [1, 1], "item": [1, 2]}))
    for baseline in (MostPopular(), ItemKNN()):
        with pytest.raises(RuntimeError, match=r"is not fitted; call .*fit\(train\) before"):
            evaluate(baseline.score_step, s)


def test_nan_scores_are_refused_not_ranked_first():
    scores = np.array([[np.nan, 1.0, 0.0], [0.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match="the scores hold NaN, which has no rank"):
        ranks_of(scores, np.array([0, 2]))
    s = Sessions(np.array([0, 1, 2]), np.array([0, 3]), np.arange(3))
    with pytest.raises(ValueError, match="the scores hold NaN"):
        evaluate(lambda inputs, reset, active: np.full((len(inputs), 3), np.nan), s)


def test_losses_against_their_formulas():
    g = torch.Generator().manual_seed(0)
    r = torch.randn(3, 7, generator=g)
    log_q = torch.randn(7, generator=g)
    want = -torch.log_softmax(r - 0.5 * log_q, 1).diagonal().mean()
    torch.testing.assert_close(cross_entropy_loss(r, log_q, 0.5), want)
    # logq without log_q was no correction, without a word; a log_q of B failed in torch
    with pytest.raises(ValueError, match=r"^logq=0\.5 corrects the scores by log_q"):
        cross_entropy_loss(r, logq=0.5)
    with pytest.raises(ValueError, match=r"^log_q must be \(C,\) = \(7,\), one per candidate"):
        cross_entropy_loss(r, log_q[:3], 0.5)
    torch.testing.assert_close(cross_entropy_loss(r, None, 0.0),
                               -torch.log_softmax(r, 1).diagonal().mean())
    torch.testing.assert_close(bpr_max_loss(r, 2.0), _bpr_max_by_hand(r, 2.0))
    # the official GRU4Rec's BPR-max passes the scores through ELU(α) first
    e = torch.where(r > 0, r, 0.5 * torch.expm1(r))
    torch.testing.assert_close(bpr_max_loss(r, 2.0, 0.5), _bpr_max_by_hand(e, 2.0))


def _bpr_max_by_hand(r, reg):
    """Mean over rows b of −log Σ_j s_j σ(r_bb − r_bj) + reg Σ_j s_j r_bj², s the softmax of the
    row's negatives."""
    total = 0.0
    for b in range(r.shape[0]):
        neg = [j for j in range(r.shape[1]) if j != b]
        s = torch.softmax(r[b, neg], 0)
        total += -torch.log((s * torch.sigmoid(r[b, b] - r[b, neg])).sum()) \
            + reg * (s * r[b, neg] ** 2).sum()
    return total / r.shape[0]


def test_item_knn_and_most_popular():
    s = _sessions([[0, 1], [0, 1], [0, 2], [3, 3]])
    knn = ItemKNN(shrinkage=0.0).fit(s)
    sim = knn.sim.toarray()
    assert sim[0, 1] == pytest.approx(2 / np.sqrt(3 * 2))  # 2 shared sessions
    assert sim[0, 2] == pytest.approx(1 / np.sqrt(3 * 1)) and sim[0, 3] == 0
    test = _sessions([[0, 1], [0, 2]], n_items=4)
    res = evaluate(knn.score_step, test, batch_size=2)
    assert res["recall@1"] == 0.5 and res["recall@5"] == 1.0 and res["predictions"] == 2
    pop = MostPopular().fit(s)
    assert pop.score_step(np.array([0]), None, None)[0].tolist() == [3, 2, 1, 2]


def _successors(seed: int):
    """(train, test, nxt): 300 sessions over 30 items where item i is always followed by
    nxt[i]."""
    rng = np.random.default_rng(seed)
    nxt = rng.permutation(30)
    sessions = []
    for _ in range(300):
        seq = [int(rng.integers(30))]
        for _ in range(int(rng.integers(2, 6))):
            seq.append(int(nxt[seq[-1]]))
        sessions.append(seq)
    return _sessions(sessions[:250], 30), _sessions(sessions[250:], 30), nxt


def test_gru4rec_learns_deterministic_successors():
    train, test, nxt = _successors(0)
    for loss in ("cross-entropy", "bpr-max"):
        model = GRU4Rec(hidden=32, epochs=8, n_sample=16, batch_size=16, loss=loss,
                        learning_rate=0.1, dropout_embedding=0.0, dropout_hidden=0.0)
        model.fit(train)
        got = model.evaluate(test)
        base = evaluate(MostPopular().fit(train).score_step, test)
        assert got["recall@1"] > 0.9, (loss, got)
        assert base["recall@1"] < 0.2
    first = int(test.session(0)[0])
    assert model.recommend([100 + first], k=1) == [100 + int(nxt[first])]


def test_gru4rec_errors():
    with pytest.raises(ValueError, match="loss must be one of"):
        GRU4Rec(loss="hinge").fit(_sessions([[0, 1]] * 40))
    with pytest.raises(ValueError, match="cannot fill batch_size=32"):
        GRU4Rec().fit(_sessions([[0, 1]] * 3))
    with pytest.raises(RuntimeError, match="GRU4Rec is not trained; call fit"):
        GRU4Rec().recommend([1])


@pytest.mark.skipif(not DATA.exists(), reason=f"shared data not found at {DATA}")
def test_cli_on_diginetica_sample(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["recommend", "--data", str(DATA), "--test-days", "7", "--epochs", "5",
                 "--n-sample", "256", "--output", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"gru4rec", "most_popular", "item_knn", "data"}
    for name in ("gru4rec", "most_popular", "item_knn"):
        assert {"recall@20", "mrr@20", "recall@1", "mrr@5"} <= set(metrics[name])
    assert metrics["data"]["test"]["dropped_unseen_item_events"] > 0
    # even a short run beats both baselines (full runs: BENCHMARKS.md)
    for base in ("most_popular", "item_knn"):
        assert metrics["gru4rec"]["recall@20"] > metrics[base]["recall@20"], base
        assert metrics["gru4rec"]["mrr@20"] > metrics[base]["mrr@20"], base
    assert "| gru4rec |" in capsys.readouterr().out


def test_cli_input_errors(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["recommend", "--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "no session column known (columns: ['a', 'b'])" in err and "Traceback" not in err
    assert main(["recommend", "--train", str(bad)]) == 2
    assert capsys.readouterr().err == ("grukit recommend: error: give --train and --test, or "
                                       "--data and --test-days.\n")


def test_gru4rec_with_lstm_cells_learns_and_carries_h_and_c():
    train, test, _ = _successors(1)
    model = GRU4Rec(cell="lstm", hidden=32, epochs=8, n_sample=16, batch_size=16,
                    learning_rate=0.1, dropout_embedding=0.0, dropout_hidden=0.0).fit(train)
    assert model.evaluate(test)["recall@1"] > 0.9
    net = model.net
    assert isinstance(net.cells[0], gnn.LSTMCell)
    assert tuple(net.init_state(4).shape) == (1, 4, 64)  # [h, c] side by side
    # one step of the network = torch.nn.LSTMCell with the same weights on (h, c)
    ref = torch.nn.LSTMCell(32, 32)
    ref.load_state_dict(net.cells[0].state_dict())
    items = torch.tensor([1, 2, 3, 4])
    state = torch.randn(1, 4, 64)
    with torch.no_grad():
        out, new = net.eval().step(items, state)
        h, c = ref(net.embedding(items), (state[0, :, :32], state[0, :, 32:]))
    torch.testing.assert_close(out, h, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(new[0], torch.cat([h, c], -1), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="cell must be one of gru, lstm; got 'rnn'"):
        GRU4Rec(cell="rnn").fit(train)
    with pytest.raises(ValueError, match="with a GRU cell, and this model has cell='lstm'; "
                                         "train it with cell='gru'"):
        model.export_onnx("never-written.onnx")


def test_ranks_of_refuses_targets_that_are_no_item_and_scores_of_another_shape():
    scores = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    assert ranks_of(scores, np.array([2, 2])).tolist() == [3, 1]
    # -1 was read by numpy as the last item: rank 3 and 1, silently
    with pytest.raises(ValueError, match="target -1 is no item index: scores hold 3 items"):
        ranks_of(scores, np.array([-1, 2]))
    with pytest.raises(ValueError, match="target 3 is no item index"):
        ranks_of(scores, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"targets must be \(B,\) = \(2,\)"):
        ranks_of(scores, np.array([0]))
    with pytest.raises(ValueError, match="targets must be whole item indices; got dtype float"):
        ranks_of(scores, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"scores must be \(B, n_items\)"):
        ranks_of(scores[0], np.array([0]))


def test_metrics_from_ranks_take_lists_and_refuse_ranks_below_one():
    assert metrics_from_ranks([1, 2], ks=(1,)) == metrics_from_ranks(np.array([1, 2]), ks=(1,))
    for bad in ([0, 1], [-1], [np.nan, 1.0]):  # MRR inf, -1, or NaN counted as a miss
        with pytest.raises(ValueError, match="is below 1; ranks are 1-based"):
            metrics_from_ranks(np.array(bad), ks=(1, 5))
    with pytest.raises(ValueError, match="ranks must be a 1-D array of numbers"):
        metrics_from_ranks(np.array([[1, 2]]), ks=(1,))
    for one in (20, "20"):  # a traceback ('int' object is not iterable), or k = 2 and 0
        with pytest.raises(TypeError, match=r"ks must be a list of cut-offs, e.g. \(20,\)"):
            metrics_from_ranks([1, 2], ks=one)
    # a generator was spent by the check (every metric left out), and no k gave no metric
    want = metrics_from_ranks([1, 2], ks=(1, 5))
    assert metrics_from_ranks([1, 2], ks=(k for k in (1, 5))) == want
    s = Sessions(np.array([0, 1, 2, 0, 1]), np.array([0, 3, 5]), np.arange(3))
    pop = MostPopular().fit(s).score_step
    assert evaluate(pop, s, ks=iter([1, 5])) == evaluate(pop, s, ks=(1, 5))
    for empty in ((), []):
        with pytest.raises(ValueError, match=r"^ks is empty; give at least one cut-off"):
            metrics_from_ranks([1, 2], ks=empty)
    # median-style fractional ranks are ranks too
    assert metrics_from_ranks(np.array([1.5]), ks=(2,))["mrr@2"] == pytest.approx(1 / 1.5)
