"""Music on the one training loop (grukit.models.loop.train_loop): the same numbers, to the
last bit, as the loop it replaced (kept below as the reference: the same torch operations in
the same order), callbacks that see music's epochs, and a resumed run that ends where an
uninterrupted one does."""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from grukit.models.callbacks import Callback, CSVLogger, EarlyStopping, ModelCheckpoint
from grukit.tasks.music import MusicConfig, MusicModel, train_music
from grukit.tasks.music.data import pad_batch
from grukit.tasks.music.model import PianoRollModel
from grukit.tasks.music.noise import noisy_params, weight_noise
from grukit.tasks.music.train import _optimizer, evaluate_nll, nll_sum


def _rolls(rng, n, lo=3, hi=12):
    return [torch.as_tensor((rng.random((int(rng.integers(lo, hi)), 88)) < 0.1)
                            .astype(np.float32)) for _ in range(n)]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return {"train": _rolls(rng, 6), "valid": _rolls(rng, 3), "test": _rolls(rng, 3)}


def reference_train(data, cfg: MusicConfig):
    """The loop music trained with before it moved onto train_loop (timing left out)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = PianoRollModel(cfg.model, cfg.hidden, forget_bias=cfg.forget_bias)
    gen = torch.Generator().manual_seed(cfg.seed)
    params = list(model.parameters())
    opt = _optimizer(cfg, params)
    noisy = noisy_params(model, cfg.noise_biases)
    train = data["train"]
    train_curve, val_curve = [], []
    best_val, best_epoch, best_state, stop = math.inf, 0, None, "max_epochs"
    model.train()
    for epoch in range(1, cfg.max_epochs + 1):
        order = torch.randperm(len(train), generator=gen).tolist()
        total, steps = 0.0, 0
        for s in range(0, len(order), cfg.batch_size):
            rolls = [train[i] for i in order[s:s + cfg.batch_size]]
            if len(rolls) == 1:
                x, lengths = rolls[0].unsqueeze(0), None
            else:
                x, lengths = pad_batch(rolls)
            opt.zero_grad(set_to_none=True)
            with weight_noise(noisy, cfg.weight_noise, gen):
                tot, n = nll_sum(model(x, lengths), x, lengths, cfg.count_first)
                if n:
                    (tot / n).backward()
            if n:
                if cfg.clip is not None:
                    nn.utils.clip_grad_norm_(params, cfg.clip, foreach=True)
                opt.step()
            total, steps = total + float(tot.detach()), steps + n
        train_curve.append(total / max(steps, 1))
        val = evaluate_nll(model, data["valid"], cfg.eval_batch_size, cfg.count_first)
        val_curve.append(val)
        if val < best_val:
            best_val, best_epoch = val, epoch
            best_state = copy.deepcopy(model.state_dict())
        if epoch - best_epoch >= cfg.patience:
            stop = "patience"
            break
    model.load_state_dict(best_state)
    test = evaluate_nll(model, data["test"], cfg.eval_batch_size, cfg.count_first)
    return {"train_curve": train_curve, "val_curve": val_curve, "best_epoch": best_epoch,
            "val_nll": best_val, "test_nll": test, "stop_reason": stop,
            "state": model.state_dict()}


CONFIGS = {
    "gru-rmsprop-b2": dict(model="gru", hidden=6, max_epochs=4, patience=5, batch_size=2,
                           lr=1e-2),
    "lstm-adam-b1-clip": dict(model="lstm", hidden=5, max_epochs=3, patience=5, batch_size=1,
                              lr=1e-2, optimizer="adam", clip=0.5),
    "gru-noclip-biasnoise-patience": dict(model="gru", hidden=4, max_epochs=6, patience=1,
                                          batch_size=4, lr=0.2, clip=None, noise_biases=True),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_numbers_equal_those_of_the_loop_it_replaced_to_the_last_bit(data, name):
    cfg = MusicConfig(**CONFIGS[name])
    ref = reference_train(data, cfg)
    res = train_music(data, cfg)
    for key in ("train_curve", "val_curve", "best_epoch", "val_nll", "test_nll",
                "stop_reason"):
        assert res[key] == ref[key], key
    got = res.model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in ref["state"].items())


def test_callbacks_see_musics_epochs_and_can_stop_it(data, tmp_path):
    class Seen(Callback):
        def __init__(self):
            self.epochs, self.batches = [], 0

        def on_batch_end(self, batch, logs=None):
            self.batches += 1
            assert logs["grad_norm"] >= 0  # music clips: the norm before clipping is logged

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append((epoch, logs["loss"], logs["val_loss"]))

    seen, log = Seen(), tmp_path / "log.csv"
    cfg = MusicConfig(**CONFIGS["gru-rmsprop-b2"])
    res = train_music(data, cfg, callbacks=[seen, CSVLogger(str(log))])
    assert seen.epochs == [(e, tr, va) for e, (tr, va)
                           in enumerate(zip(res.train_curve, res.val_curve, strict=True))]
    assert seen.batches == 4 * 3  # 6 rolls in batches of 2, 4 epochs
    assert log.read_text().splitlines()[0] == "epoch,loss,val_loss"
    assert len(log.read_text().splitlines()) == 1 + 4
    stopper = EarlyStopping(monitor="loss", patience=0, mode="max")  # stops after epoch 2
    res = train_music(data, cfg, callbacks=[stopper])
    assert len(res.val_curve) == 2 and res.stop_reason == "callback"


class Interrupt(Callback):
    def __init__(self, after: int):
        self.after = after

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after:
            raise KeyboardInterrupt


def test_resume_continues_to_the_numbers_of_an_uninterrupted_run(data, tmp_path):
    cfg = dict(CONFIGS["gru-noclip-biasnoise-patience"], patience=3, max_epochs=5)
    whole = MusicModel(**cfg).fit(data)
    path = str(tmp_path / "ckpt.pt")
    with pytest.raises(KeyboardInterrupt):  # the checkpoint of epoch 2 is written first
        MusicModel(**cfg).fit(data, callbacks=[ModelCheckpoint(path), Interrupt(2)])
    resumed = MusicModel(**cfg).fit(data, resume_from=path)
    for key in ("train_curve", "val_curve", "best_epoch", "val_nll", "test_nll", "train_nll",
                "stop_reason"):
        assert resumed.result_[key] == whole.result_[key], key
    a, b = whole.network_.state_dict(), resumed.network_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_another_configuration_and_a_mid_epoch_checkpoint(data, tmp_path):
    cfg = dict(CONFIGS["gru-rmsprop-b2"], max_epochs=1)
    path = str(tmp_path / "ckpt.pt")
    MusicModel(**cfg).fit(data, callbacks=[ModelCheckpoint(path)])
    with pytest.raises(ValueError, match="other training settings"):
        MusicModel(**dict(cfg, lr=0.5)).fit(data, resume_from=path)
    class Stop(Callback):
        def on_batch_end(self, batch, logs=None):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # after the checkpoint of batch 1 is written
        MusicModel(**cfg).fit(data, callbacks=[ModelCheckpoint(path, every_n_batches=1),
                                               Stop()])
    with pytest.raises(ValueError, match="in the middle of epoch 1 .* epoch's end"):
        MusicModel(**cfg).fit(data, resume_from=path)


def test_a_nan_loss_stops_with_one_sentence_and_the_epochs_weights(data):
    bad = {**data, "train": [r.clone() for r in data["train"]]}
    bad["train"][3][1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^loss became nan at epoch 1, batch \d; training "
                                         r"stopped\. Lower lr or set clip\.$"):
        train_music(bad, MusicConfig(**CONFIGS["gru-rmsprop-b2"]))


def test_a_learning_rate_far_too_large_warns_that_the_model_learned_nothing(data):
    cfg = MusicConfig(**(CONFIGS["gru-rmsprop-b2"] | dict(lr=1e3, max_epochs=2)))
    with pytest.warns(RuntimeWarning, match=r"learned nothing.*learning rate 1000"):
        train_music(data, cfg)
