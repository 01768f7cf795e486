"""GRU4Rec on the one training loop (grukit.models.loop.train_loop): the same losses and
weights, to the last bit, as the loop it replaced (kept below as the reference: the same
torch operations in the same order), callbacks that see its epochs, a resumed run that ends
where an uninterrupted one does, and a NaN loss in one sentence."""

import numpy as np
import pytest
import torch

from grukit.data.sessions import Sessions
from grukit.models.callbacks import Callback, CSVLogger, ModelCheckpoint
from grukit.tasks.recommend import GRU4Rec, bpr_max_loss, cross_entropy_loss
from grukit.tasks.recommend.batching import session_parallel
from grukit.tasks.recommend.model import GRU4RecNet


def _sessions(lists, n_items):
    items = np.concatenate([np.asarray(s, np.int64) for s in lists])
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in lists])]).astype(np.int64)
    return Sessions(items, offsets, np.arange(100, 100 + n_items))


@pytest.fixture(scope="module")
def train():
    rng = np.random.default_rng(0)
    nxt = rng.permutation(30)
    sessions = []
    for _ in range(40):
        seq = [int(rng.integers(30))]
        for _ in range(int(rng.integers(2, 6))):
            seq.append(int(nxt[seq[-1]]))
        sessions.append(seq)
    return _sessions(sessions, 30)


def reference_fit(train, cfg):
    """The loop GRU4Rec trained with before it moved onto train_loop (timing left out)."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = GRU4RecNet(train.n_items, cfg.hidden, cfg.layers, cfg.tied, cfg.dropout_embedding,
                     cfg.dropout_hidden)
    opt_cls = torch.optim.Adagrad if cfg.optimizer == "adagrad" else torch.optim.Adam
    opt = opt_cls(net.parameters(), lr=cfg.learning_rate)
    q = torch.as_tensor(train.popularity() ** cfg.sample_alpha, dtype=torch.float32)
    q = q / q.sum()
    log_q_all = torch.log(q)
    losses = []
    for _ in range(cfg.epochs):
        net.train()
        total, steps = 0.0, 0
        h = net.init_state(cfg.batch_size)
        order = rng.permutation(train.n_sessions)
        for inputs, targets, reset, _ in session_parallel(train, cfg.batch_size, order):
            h = h.detach()
            h[:, torch.from_numpy(reset)] = 0
            out, h = net.step(torch.from_numpy(inputs), h)
            tgt = torch.from_numpy(targets)
            if cfg.n_sample > 0:
                cand = torch.cat([tgt, torch.multinomial(q, cfg.n_sample, replacement=True)])
            else:
                cand = tgt
            scores = net.scores(out, cand)
            if cfg.loss == "cross-entropy":
                loss = cross_entropy_loss(scores, log_q_all[cand], cfg.logq)
            else:
                loss = bpr_max_loss(scores, cfg.bpreg, cfg.elu_param)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, steps = total + loss.item(), steps + 1
        losses.append(total / steps)
    return losses, net.state_dict()


CONFIGS = {
    "ce-adagrad-sampled": dict(hidden=12, epochs=3, n_sample=8, batch_size=8,
                               learning_rate=0.1),
    "bpr-adam-in-batch": dict(hidden=8, epochs=2, n_sample=0, batch_size=8, loss="bpr-max",
                              optimizer="adam", learning_rate=0.01, layers=2),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_numbers_equal_those_of_the_loop_it_replaced_to_the_last_bit(train, name):
    model = GRU4Rec(**CONFIGS[name])
    losses, state = reference_fit(train, model.config)
    model.fit(train)
    assert model.history_.history["loss"] == losses
    got = model.net.state_dict()
    assert all(torch.equal(got[k], v) for k, v in state.items())


def test_callbacks_see_the_epochs_and_verbose_prints_them(train, tmp_path, capsys):
    seen = []

    class Epochs(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, logs["loss"]))

    log = tmp_path / "log.csv"
    model = GRU4Rec(**CONFIGS["ce-adagrad-sampled"]).fit(
        train, verbose=True, callbacks=[Epochs(), CSVLogger(str(log))])
    assert seen == list(enumerate(model.history_.history["loss"]))
    assert log.read_text().splitlines()[0] == "epoch,loss,seconds"
    out = capsys.readouterr().out
    assert "Epoch 1/3 - loss: " in out and "Epoch 3/3 - loss: " in out


class Interrupt(Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt


def test_resume_continues_to_the_numbers_of_an_uninterrupted_run(train, tmp_path):
    cfg = CONFIGS["ce-adagrad-sampled"]
    whole = GRU4Rec(**cfg).fit(train)
    path = str(tmp_path / "ckpt.pt")
    with pytest.raises(KeyboardInterrupt):  # the checkpoint of epoch 1 is written first
        GRU4Rec(**cfg).fit(train, callbacks=[ModelCheckpoint(path), Interrupt()])
    resumed = GRU4Rec(**cfg).fit(train, resume_from=path)
    assert resumed.history_.history["loss"] == whole.history_.history["loss"]
    assert resumed.history_.epoch == [0, 1, 2]
    a, b = whole.net.state_dict(), resumed.net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="other training settings"):
        GRU4Rec(**dict(cfg, hidden=13)).fit(train, resume_from=path)
    other = Sessions(train.items[::-1].copy(), train.offsets, train.vocab)  # same sizes
    with pytest.raises(ValueError, match=r"was written while training on other sessions or "
                                         r"another item map; resume it with the training data"):
        GRU4Rec(**cfg).fit(other, resume_from=path)
    renamed = Sessions(train.items, train.offsets, train.vocab + 1000)
    with pytest.raises(ValueError, match="was written while training on other sessions"):
        GRU4Rec(**cfg).fit(renamed, resume_from=path)


def test_a_nan_loss_is_one_sentence_naming_the_learning_rate(train, monkeypatch):
    from grukit.tasks.recommend import gru4rec

    at = {"epoch": 0, "batch": 0}

    class Where(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            at.update(epoch=epoch + 1, batch=0)

    def poisoned(scores, log_q, logq):  # the 4th batch of the 2nd epoch goes NaN
        at["batch"] += 1
        loss = cross_entropy_loss(scores, log_q, logq)
        return loss * float("nan") if (at["epoch"], at["batch"]) == (2, 4) else loss

    monkeypatch.setattr(gru4rec, "cross_entropy_loss", poisoned)
    model = GRU4Rec(**CONFIGS["ce-adagrad-sampled"])
    with pytest.raises(ValueError, match=r"^loss became nan at epoch 2, batch 4; training "
                                         r"stopped\. Lower learning_rate \(now 0\.1\)\.$"):
        model.fit(train, callbacks=[Where()])
    assert not model.fitted_


def test_logq_corrects_in_batch_candidates_by_popularity_and_samples_by_its_power(train,
                                                                                   monkeypatch):
    """GRU4Rec (Hidasi's PyTorch code): O − logq · log([P0[targets], P0[samples]^alpha]), P0
    the item counts: the in-batch candidates are other sessions' next items, drawn as the
    data is. Every candidate was corrected by popularity^alpha, an in-batch one too little."""
    from grukit.tasks.recommend import gru4rec

    seen, scores_of = [], GRU4RecNet.scores

    def scores(self, out, candidates=None):
        seen.append([candidates])
        return scores_of(self, out, candidates)

    def loss(scores, log_q, logq):
        seen[-1] += [log_q, logq]
        return cross_entropy_loss(scores, log_q, logq)

    monkeypatch.setattr(GRU4RecNet, "scores", scores)
    monkeypatch.setattr(gru4rec, "cross_entropy_loss", loss)
    GRU4Rec(hidden=4, epochs=1, n_sample=6, batch_size=4, logq=1.0, sample_alpha=0.5).fit(train)
    pop = torch.as_tensor(train.popularity(), dtype=torch.float32)  # (n_items,)
    assert seen and len(set(pop.tolist())) > 1
    for cand, log_q, logq in seen:
        want = torch.log(torch.cat([pop[cand[:4]], pop[cand[4:]] ** 0.5]))  # (4 + 6,)
        torch.testing.assert_close(log_q, want)
        assert logq == 1.0
