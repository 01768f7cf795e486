"""Training on piano rolls with Chung et al. (2014)'s recipe: RMSProp, gradient-norm
clipping, Gaussian weight noise during training, early stopping on validation NLL; the
result is reported from the best-validation weights, evaluated without noise.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
from torch import Tensor, nn

from ...models.callbacks import Callback, History
from ...models.loop import Step, Trainee, resume_at_epoch_end, train_loop
from .. import _diverged
from ..estimator import check_flag
from .data import pad_batch
from .model import MODELS, PianoRollModel, count_params, default_hidden, nll_sum
from .noise import noisy_params, weight_noise

OPTIMIZERS = ("rmsprop", "adam")


@dataclass
class MusicConfig:
    """How to train one model on piano rolls.

    Args:
        model: a cell of ``grukit.cells``: "gru", "lstm", "rnn" (tanh) or "mingru".
        hidden: recurrent units; None takes Chung et al.'s ~20K-parameter sizes (GRU 46,
            LSTM 36, RNN 100) or 75 for minGRU.
        lr: learning rate.
        optimizer: "rmsprop" (the paper's) or "adam".
        rmsprop_alpha: RMSProp's decay of the squared-gradient average.
        weight_noise: std of the Gaussian noise on the weights during training (0: none).
        noise_biases: also put noise on the biases (default: weight matrices only).
        clip: rescale the gradient to this global norm when it is larger (None: never).
        max_epochs: a safety cap on the epochs (default 1000: on JSB Chorales the best
            epoch comes at about 30–60, on a set three times its size near 180); early
            stopping decides. A run that ends at the cap or at ``max_seconds`` while
            validation was still improving is not converged (``MusicResult.converged``).
        patience: stop after this many epochs without a lower validation NLL.
        max_seconds: wall-clock cap on training (validation included); when reached, the
            epoch under way ends there, is validated, and training stops.
        batch_size: sequences per update (the paper: 1).
        forget_bias: LSTM initial forget-gate bias (Jozefowicz et al. 2015).
        count_first: count frame t = 0 (predicted from the zero frame alone) in the NLL.
        eval_batch_size: sequences per evaluation batch (padded, lengths masked).
        num_threads: torch threads during training (None: leave as is).
        seed: weight init, update order and noise.
    """

    model: str = "gru"
    hidden: int | None = None
    lr: float = 1e-3
    optimizer: str = "rmsprop"
    rmsprop_alpha: float = 0.99
    weight_noise: float = 0.075
    noise_biases: bool = False
    clip: float | None = 1.0
    max_epochs: int = 1000
    patience: int = 10
    seed: int = 0
    max_seconds: float | None = None
    batch_size: int = 1
    forget_bias: float = 1.0
    count_first: bool = False
    eval_batch_size: int = 64
    num_threads: int | None = None

    def __post_init__(self):
        for f in fields(self):  # numpy numbers (a grid's np.int64 epochs) as Python ones
            v = getattr(self, f.name)
            if isinstance(v, np.generic):
                setattr(self, f.name, v.item())
        if self.model not in MODELS:
            raise ValueError(f"MusicConfig: model must be one of {MODELS}; got {self.model!r}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"MusicConfig: optimizer must be one of {OPTIMIZERS}; "
                             f"got {self.optimizer!r}.")
        if self.hidden is None:
            self.hidden = default_hidden(self.model)
        for name in ("hidden", "max_epochs", "patience", "batch_size", "eval_batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"MusicConfig: {name} must be a positive integer; got {v!r}.")
        for name in ("lr", "rmsprop_alpha", "weight_noise", "forget_bias", "clip",
                     "max_seconds"):
            v = getattr(self, name)
            if v is None and name in ("clip", "max_seconds"):
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"MusicConfig: {name} must be a finite number; got {v!r}.")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"MusicConfig: seed must be a whole number, 0 or more; "
                             f"got {self.seed!r}.")
        if self.num_threads is not None and (not isinstance(self.num_threads, int) or
                                             isinstance(self.num_threads, bool) or
                                             self.num_threads < 1):
            raise ValueError(f"MusicConfig: num_threads must be a positive integer or None "
                             f"(torch's setting); got {self.num_threads!r}.")
        for name in ("noise_biases", "count_first"):  # 0 and 1 as bools (saved as JSON)
            setattr(self, name, check_flag(getattr(self, name), name, "MusicConfig: "))
        if not self.lr > 0:
            raise ValueError(f"MusicConfig: lr must be positive; got {self.lr!r}.")
        if not 0 <= self.rmsprop_alpha < 1:
            raise ValueError(f"MusicConfig: rmsprop_alpha must be in [0, 1); "
                             f"got {self.rmsprop_alpha!r}.")
        if not self.weight_noise >= 0:
            raise ValueError(f"MusicConfig: weight_noise must be ≥ 0; got {self.weight_noise!r}.")
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"MusicConfig: clip must be positive or None; got {self.clip!r}.")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"MusicConfig: max_seconds must be positive or None; "
                             f"got {self.max_seconds!r}.")


@dataclass
class MusicResult:
    """What ``train_music`` measured; ``res["key"]`` works as for a dict.

    ``train_curve`` is the NLL of the training updates as measured during each epoch (with
    weight noise, as the weights move); ``train_nll``/``val_nll``/``test_nll`` are
    re-evaluated on the best-validation weights without noise. ``epoch_seconds`` times the
    updates of each epoch, ``eval_seconds`` its validation; ``seconds_to_best`` sums
    ``epoch_seconds`` up to the best epoch. ``last_epoch_partial``: ``max_seconds`` ended the
    last epoch before all its updates, so its time is not an epoch's.
    """

    model_name: str
    params: int
    hidden: int
    epoch_seconds: list[float]
    eval_seconds: list[float]
    train_curve: list[float]
    val_curve: list[float]
    best_epoch: int
    seconds_to_best: float
    total_seconds: float
    stop_reason: str  # "patience", "max_epochs" or "max_seconds"
    train_nll: float
    val_nll: float
    test_nll: float | None  # None when the data had no "test" split
    config: dict = field(default_factory=dict)
    model: nn.Module | None = field(default=None, repr=False)
    last_epoch_partial: bool = False  # max_seconds ended the last epoch before its end

    def __getitem__(self, key: str):
        return getattr(self, key)

    @property
    def converged(self) -> bool:
        """True when early stopping ended the run: False when the best validation NLL came
        at the last epoch, or when the epoch cap or time limit ended it while validation
        had improved within its last ``patience`` epochs."""
        epochs = len(self.val_curve)
        if not epochs or self.best_epoch == epochs:
            return False
        patience = self.config.get("patience")
        return self.stop_reason == "patience" or (
            patience is not None and epochs - self.best_epoch >= patience)

    def to_dict(self) -> dict:
        """Every field but the model, JSON-serialisable."""
        return {k: v for k, v in asdict(self).items() if k != "model"}


def evaluate_nll(model: nn.Module, rolls: list[Tensor], batch_size: int = 64,
                 count_first: bool = False) -> float:
    """NLL per time step (nats) of ``model`` on ``rolls``, in eval mode, without grad."""
    was = model.training
    model.eval()
    total, steps = 0.0, 0
    order = sorted(range(len(rolls)), key=lambda i: rolls[i].shape[0])  # less padding
    with torch.no_grad():
        for s in range(0, len(order), batch_size):
            x, lengths = pad_batch([rolls[i] for i in order[s:s + batch_size]])  # (B, T, 88)
            logits = model(x, lengths)  # (B, T, 88)
            tot, n = nll_sum(logits, x, lengths, count_first)
            total, steps = total + float(tot.detach()), steps + n
    model.train(was)
    if steps == 0:
        raise ValueError("these sequences have no frames to predict; give sequences of more "
                         "than one step (or count_first=True).")
    return total / steps


def _optimizer(cfg: MusicConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, foreach=True)
    return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.rmsprop_alpha, foreach=True)


def train_music(data: dict[str, list[Tensor]], cfg: MusicConfig | None = None,
                on_epoch: Callable[[int, float, float], None] | None = None, *,
                callbacks: list | None = None, resume_from: str | None = None,
                verbose=0) -> MusicResult:
    """Train ``cfg.model`` on ``data["train"]``, early-stop on ``data["valid"]``, and
    report NLL per time step of the best-validation weights on all three splits.

    ``data`` is what ``load_piano_rolls`` returns (without a "test" split, ``test_nll`` is
    None). ``on_epoch(epoch, train_nll, val_nll)`` is called after each epoch (epoch
    1-based). The trained model is ``result.model``.

    Training runs on ``grukit.models.loop.train_loop``: ``callbacks`` (``grukit.models``
    callbacks) see each epoch's ``loss`` (training NLL, with weight noise) and ``val_loss``;
    a ``ModelCheckpoint`` file written at an epoch's end resumes with ``resume_from`` to the
    numbers of an uninterrupted run (``max_epochs``, ``max_seconds`` and ``num_threads`` may
    differ; the wall clock of ``max_seconds`` restarts). ``verbose``: 0 silent, 1 a progress
    bar (on a terminal), 2 a line per epoch, "auto" one of these.
    """
    cfg = MusicConfig() if cfg is None else cfg
    if not isinstance(data, dict):
        raise TypeError(f"data must be a dict of splits ('train', 'valid', 'test'), as "
                        f"load_piano_rolls returns; got a {type(data).__name__}.")
    missing = [s for s in ("train", "valid") if not data.get(s)]
    if missing or ("test" in data and not data["test"]):
        missing = [s for s in ("train", "valid", "test") if not data.get(s)]
        raise ValueError(f"data lacks sequences for {missing}; pass what load_piano_rolls "
                         f"returns.")
    if on_epoch is not None and not callable(on_epoch):  # else it fails after an epoch
        raise TypeError(f"on_epoch must be a function (epoch, train_nll, val_nll) or None; "
                        f"got {type(on_epoch).__name__}.")
    if callbacks is not None and (not isinstance(callbacks, (list, tuple)) or
                                  not all(isinstance(cb, Callback) for cb in callbacks)):
        raise TypeError(f"callbacks must be a list of grukit.models.Callback instances; got "
                        f"{callbacks!r}.")
    first = 0 if cfg.count_first else 1
    for split in ("train", "valid", "test"):  # before training, not after its first epoch
        if split in data and all(r.shape[0] <= first for r in data[split]):
            raise ValueError(f"every sequence of data[{split!r}] is one step long, so it has "
                             f"no frame to predict (frame 0 is not counted); give longer "
                             f"sequences or set count_first=True.")
    threads_before = torch.get_num_threads()
    want = threads_before if cfg.num_threads is None else cfg.num_threads
    try:
        return _train(data, cfg, on_epoch, want, callbacks, resume_from, verbose)
    finally:
        torch.set_num_threads(threads_before)


RESUMABLE_CHANGES = ("max_epochs", "max_seconds", "num_threads")  # not in the trajectory


class _Record(Callback):
    """Music's own epoch end: the curves, the best-validation weights, ``on_epoch``, the
    divergence check and early stopping (``patience`` epochs without a lower validation NLL);
    its ``state`` goes into checkpoints."""

    def __init__(self, cfg: MusicConfig, net: nn.Module, gen: torch.Generator, history,
                 on_epoch):
        self.cfg, self.net, self.gen, self.hist, self.on_epoch = cfg, net, gen, history, on_epoch
        self.rec = {"train_curve": [], "val_curve": [], "epoch_seconds": [],
                    "eval_seconds": [], "best_val": math.inf, "best_epoch": 0,
                    "best_state": None}
        self.patience_hit = False

    def on_epoch_end(self, epoch, logs=None):
        r, epoch = self.rec, epoch + 1
        train, val = logs["loss"], logs["val_loss"]
        r["epoch_seconds"].append(self.hist.train_seconds[-1])
        r["eval_seconds"].append(self.hist.val_seconds[-1])
        r["train_curve"].append(train)
        r["val_curve"].append(val)
        if val < r["best_val"]:
            r["best_val"], r["best_epoch"] = val, epoch
            r["best_state"] = copy.deepcopy(self.net.state_dict())
        if self.on_epoch is not None:
            self.on_epoch(epoch, train, val)
        if not (math.isfinite(train) and math.isfinite(val)):
            raise FloatingPointError(f"training diverged at epoch {epoch} (train NLL {train}, "
                                     f"validation {val}); lower MusicConfig(lr=...) or set "
                                     f"MusicConfig(clip=...).")
        if epoch - r["best_epoch"] >= self.cfg.patience:
            self.patience_hit = self.model.stop_training = True

    def state(self) -> dict:
        return {**self.rec, "generator": self.gen.get_state()}

    def load(self, extra: dict) -> None:
        self.gen.set_state(extra["generator"])
        self.rec = {k: extra[k] for k in self.rec}


def _train(data, cfg: MusicConfig, on_epoch, want: int, callbacks=None,
           resume_from=None, verbose=0) -> MusicResult:
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = PianoRollModel(cfg.model, cfg.hidden, forget_bias=cfg.forget_bias)
    torch.set_num_threads(want)
    gen = torch.Generator().manual_seed(cfg.seed)
    params = list(model.parameters())
    opt = _optimizer(cfg, params)
    noisy = noisy_params(model, cfg.noise_biases)
    train = data["train"]
    evaluate = lambda rolls: evaluate_nll(model, rolls, cfg.eval_batch_size,  # noqa: E731
                                          cfg.count_first)
    history = History()
    record = _Record(cfg, model, gen, history, on_epoch)
    trainee = Trainee(model, opt, {k: v for k, v in asdict(cfg).items()
                                   if k not in RESUMABLE_CHANGES},
                      (record.state, record.load))
    start_epoch = resume_at_epoch_end(trainee, opt, resume_from)

    steps = -(-len(train) // cfg.batch_size)  # updates per epoch
    given = [0]  # batches handed out in the epoch under way

    def batches(epoch):
        order = torch.randperm(len(train), generator=gen).tolist()
        given[0] = 0
        for s in range(0, len(order), cfg.batch_size):
            given[0] += 1
            rolls = [train[i] for i in order[s:s + cfg.batch_size]]
            if len(rolls) == 1:
                yield rolls[0].unsqueeze(0), None  # (1, T, 88)
            else:
                yield pad_batch(rolls)  # (B, T, 88), (B,)

    def step(batch):
        x, lengths = batch
        tot, n = nll_sum(model(x, lengths), x, lengths, cfg.count_first)
        total = float(tot.detach())
        # mean NLL per frame of this update; a batch with no frame to predict: no update
        return Step(tot / n if n else None, total / n if n else 0.0, n, total)

    # the untrained network's validation NLL, which training must beat (draws nothing)
    untrained = evaluate(data["valid"]) if start_epoch == 0 else None
    history = train_loop(
        trainee, opt, step, batches, epochs=cfg.max_epochs, start_epoch=start_epoch,
        callbacks=[record, *(callbacks or [])], history=history, clip=cfg.clip,
        validate=lambda epoch: {"val_loss": evaluate(data["valid"])},
        max_seconds=cfg.max_seconds, started=start, nonfinite="raise",
        fix="Lower lr or set clip.", verbose=verbose, steps=steps,
        step_context=lambda: weight_noise(noisy, cfg.weight_noise, gen))
    _diverged.check(history, learning_rate=cfg.lr, untrained=untrained,
                    what=f"the {cfg.model} piano-roll model")
    stop = {"epochs": "max_epochs", "max_seconds": "max_seconds"}.get(
        history.stop_reason, "patience" if record.patience_hit else "callback")
    r = record.rec
    model.load_state_dict(r["best_state"])
    model.eval()
    return MusicResult(
        model_name=cfg.model, params=count_params(model), hidden=cfg.hidden,
        epoch_seconds=r["epoch_seconds"], eval_seconds=r["eval_seconds"],
        train_curve=r["train_curve"], val_curve=r["val_curve"], best_epoch=r["best_epoch"],
        seconds_to_best=sum(r["epoch_seconds"][:r["best_epoch"]]),
        total_seconds=time.perf_counter() - start, stop_reason=stop,
        train_nll=evaluate(train), val_nll=r["best_val"],
        test_nll=evaluate(data["test"]) if data.get("test") else None, config=asdict(cfg),
        model=model, last_epoch_partial=stop == "max_seconds" and given[0] < steps)
