"""train_loop, the one training loop: gradient clipping clips, max_seconds stops, a NaN loss
stops with one sentence and the epoch's first weights, a refused batch names itself, the
step hook and its context, and callbacks on a plain module (a task's network)."""

import contextlib
import time

import pytest
import torch
from torch import nn

from grukit.models.callbacks import Callback, EarlyStopping, ModelCheckpoint
from grukit.models.loop import BadBatch, NonFiniteLoss, Step, Trainee, train_loop


def _setup(lr=0.1, seed=0):
    torch.manual_seed(seed)
    net = nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(1)
    data = [(torch.randn(4, 3, generator=g) * 10, torch.randn(4, 1, generator=g))
            for _ in range(5)]
    return net, opt, data


def _mse(net):
    return lambda b: nn.functional.mse_loss(net(b[0]), b[1])


def _norm(net):
    return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in
                                                       net.parameters()])))


class Grads(Callback):
    """The logged norm and the norm of the gradients the optimizer stepped with."""

    def __init__(self, net):
        self.net, self.logged, self.used = net, [], []

    def on_batch_end(self, batch, logs=None):
        self.logged.append(logs.get("grad_norm"))
        self.used.append(_norm(self.net))


def test_clipping_clips_the_global_norm_and_logs_the_norm_before():
    net, opt, data = _setup()
    free = Grads(net)
    train_loop(net, opt, _mse(net), data, epochs=1, callbacks=[free])
    assert free.logged == [None] * 5 and min(free.used) > 1.0  # large gradients unclipped
    net, opt, data = _setup()
    clipped = Grads(net)
    train_loop(net, opt, _mse(net), data, epochs=1, clip=0.5, callbacks=[clipped])
    assert clipped.logged[0] == pytest.approx(free.used[0], rel=1e-6)  # same first batch
    assert all(n == pytest.approx(0.5, rel=1e-5) for n in clipped.used)
    assert all(n > 0.5 for n in clipped.logged)
    with pytest.raises(ValueError, match="clip must be a positive number"):
        train_loop(net, opt, _mse(net), data, epochs=1, clip=0)


def test_max_seconds_ends_the_epoch_under_way_and_stops():
    net, opt, data = _setup()
    seen = []

    class Epochs(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(epoch)

    def slow(batch):
        time.sleep(0.03)
        return _mse(net)(batch)

    start = time.perf_counter()
    h = train_loop(net, opt, slow, data, epochs=1000, max_seconds=0.2, callbacks=[Epochs()])
    assert h.stop_reason == "max_seconds"
    assert 1 <= len(seen) < 10 and time.perf_counter() - start < 5
    assert len(h.history["loss"]) == len(seen)  # the cut epoch is logged too
    with pytest.raises(ValueError, match="max_seconds must be a positive number"):
        train_loop(net, opt, slow, data, epochs=1, max_seconds=-1)


def _nan_at(net, epoch, batch):
    calls = {"n": 0}

    def step(b):
        loss = _mse(net)(b)
        calls["n"] += 1
        return loss * float("nan") if calls["n"] == epoch * 5 + batch + 1 else loss
    return step


def test_a_nan_loss_stops_with_one_sentence_and_the_epochs_first_weights():
    net, opt, data = _setup(lr=1e-3)
    starts = []

    class Start(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            starts.append({k: v.clone() for k, v in net.state_dict().items()})

    with pytest.warns(RuntimeWarning, match=r"^loss became nan at epoch 2, batch 4; training "
                                            r"stopped and the weights from the start of this "
                                            r"epoch were kept\. Lower the learning rate") as w:
        h = train_loop(net, opt, _nan_at(net, 1, 3), data, epochs=5, callbacks=[Start()])
    assert w[0].filename == __file__  # the warning points at the caller, not at grukit
    assert h.stop_reason == "nonfinite" and len(h.history["loss"]) == 1
    assert all(torch.equal(v, starts[1][k]) for k, v in net.state_dict().items())
    net, opt, data = _setup(lr=1e-3)
    with pytest.raises(NonFiniteLoss, match=r"^loss became nan at epoch 1, batch 2; training "
                                            r"stopped\. Try lr=1e-4\.$"):
        train_loop(net, opt, _nan_at(net, 0, 1), data, epochs=5, nonfinite="raise",
                   fix="Try lr=1e-4.")


def test_a_refused_batch_is_named_and_the_weights_put_back():
    net, opt, data = _setup()
    before = {k: v.clone() for k, v in net.state_dict().items()}

    def step(b):
        if b is data[2]:
            raise BadBatch("x holds 1 NaN/Inf value(s)")
        return _mse(net)(b)

    with pytest.raises(ValueError, match=r"^x holds 1 NaN/Inf value\(s\) in batch 3 of epoch "
                                         r"1; impute or drop them first"):
        train_loop(net, opt, step, data, epochs=2)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_step_results_weigh_the_epoch_mean_and_none_skips_the_update():
    net, opt, data = _setup(lr=1e-3)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    h = train_loop(net, opt, lambda b: Step(None, 2.0, 3, 9.0), data, epochs=1)
    assert h.history["loss"] == [5 * 9.0 / (5 * 3)]  # Σ total / Σ weight
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    h = train_loop(net, opt, lambda b: Step(_mse(net)(b), 2.0, 4), data, epochs=1)
    assert h.history["loss"] == [2.0]  # total defaults to value * weight
    assert not all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_step_context_wraps_forward_and_backward_and_batches_can_be_a_function():
    net, opt, data = _setup()
    events = []

    @contextlib.contextmanager
    def around():
        events.append("enter")
        yield
        events.append("exit " + ("with grad" if net.weight.grad is not None else "no grad"))

    def batches(epoch):
        events.append(f"epoch {epoch}")
        return data[:2]

    train_loop(net, opt, _mse(net), batches, epochs=2, step_context=around)
    assert events == ["epoch 0", "enter", "exit with grad", "enter", "exit with grad",
                      "epoch 1", "enter", "exit with grad", "enter", "exit with grad"]


def test_keras_callbacks_work_on_a_plain_module(tmp_path):
    net, opt, data = _setup(lr=1e-2)
    losses = iter([5.0, 4.0, 4.5, 4.6, 4.7, 1.0])
    path = str(tmp_path / "ck.pt")
    stop = EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    best = {}

    class Keep(Callback):  # the weights at the best epoch (epoch 2: val_loss 4.0)
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                best.update({k: v.clone() for k, v in net.state_dict().items()})

    h = train_loop(net, opt, _mse(net), data, epochs=6, callbacks=[Keep(), stop,
                                                                    ModelCheckpoint(path)],
                   validate=lambda e: {"val_loss": next(losses)})
    # patience 1: stops after one epoch without improvement, as Keras does
    assert h.stop_reason == "callback" and h.history["val_loss"] == [5.0, 4.0, 4.5]
    assert all(torch.equal(v, best[k]) for k, v in net.state_dict().items())
    state = torch.load(path, weights_only=True)
    assert state["epoch"] == 3 and state["optimizer_class"] == "SGD"


def test_a_trainee_carries_the_tasks_state_through_a_checkpoint(tmp_path):
    from grukit.models.loop import resume_at_epoch_end

    net, opt, data = _setup(lr=1e-3)
    box = {"n": 0}

    def get():
        return {"n": box["n"], "gen": torch.tensor([1, 2])}

    def put(extra):
        box.update(n=extra["n"])

    def count(epoch):
        box["n"] += 1
        return data

    trainee = Trainee(net, opt, {"lr": 0.1}, (get, put))
    path = str(tmp_path / "ck.pt")
    train_loop(trainee, opt, _mse(net), count, epochs=3, callbacks=[ModelCheckpoint(path)])
    assert torch.load(path, weights_only=True)["extra"]["n"] == 3
    box["n"] = 0
    net2, opt2, _ = _setup(lr=1e-3, seed=5)
    again = Trainee(net2, opt2, {"lr": 0.1}, (get, put))
    assert resume_at_epoch_end(again, opt2, path) == 3 and box["n"] == 3
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in net2.state_dict().items())
    with pytest.raises(ValueError, match="other training settings"):
        resume_at_epoch_end(Trainee(net2, opt2, {"lr": 0.2}, (get, put)), opt2, path)


@pytest.mark.parametrize("kw,message", [
    ({"epochs": -1}, "epochs must be a whole number, 0 or more; got -1."),
    ({"epochs": 2.0}, "epochs must be a whole number, 0 or more; got 2.0."),
    ({"epochs": 1, "verbose": 3}, "verbose must be 'auto', 0 (silent), 1 (progress bar) or 2"),
    ({"epochs": 1, "verbose": "yes"}, "verbose must be 'auto'"),
    ({"epochs": 1, "nonfinite": "ignore"}, "nonfinite must be one of ('warn', 'raise')"),
])
def test_bad_settings_are_one_sentence(kw, message):
    net, opt, data = _setup()
    with pytest.raises(ValueError) as err:
        train_loop(net, opt, _mse(net), data, **kw)
    assert message in str(err.value)


def test_a_task_resumed_at_an_epochs_end_takes_back_its_callbacks_state(tmp_path):
    """A task's loop (train_loop on a Trainee, resume_at_epoch_end) resumed after epoch 2:
    ReduceLROnPlateau's wait and EarlyStopping's best go on, so the rate falls and training
    stops at the epochs of the uninterrupted run (they started afresh)."""
    from grukit.models.callbacks import ReduceLROnPlateau
    from grukit.models.loop import resume_at_epoch_end

    def run(epochs, path=None, resume=None):
        net, opt, data = _setup(lr=1e-3)
        trainee = Trainee(net, opt, {"lr": 1e-3}, (lambda: {}, lambda extra: None))
        start = resume_at_epoch_end(trainee, opt, resume)
        # min_delta 100: only the first epoch counts as a gain
        plateau = ReduceLROnPlateau("loss", patience=2, factor=0.5, min_delta=100)
        stop = EarlyStopping("loss", patience=3, min_delta=100)
        cbs = [plateau, stop] + ([ModelCheckpoint(path)] if path else [])
        h = train_loop(trainee, opt, _mse(net), data, epochs=epochs, callbacks=cbs,
                       start_epoch=start)
        return h, opt.param_groups[0]["lr"], stop.stopped_epoch

    path = str(tmp_path / "ck.pt")
    whole = run(8)
    run(2, path=path)
    resumed = run(8, resume=path)
    assert whole[2] == resumed[2] == 3 and resumed[1] == whole[1] == 5e-4
