"""``train_loop``: the one training loop. ``Sequential.fit`` runs on it, and so do the task
pipelines whose batches or losses do not fit ``fit`` (GRU4Rec's session-parallel batches with
a carried hidden state, music's ragged piano rolls under weight noise, the memory tasks'
generated batches). Whatever calls it gets the same callbacks (``History``, ``EarlyStopping``,
``ModelCheckpoint``, ``CSVLogger``, the progress bar), gradient clipping, a wall-clock limit,
one NaN/Inf policy and resumable checkpoints.

A task hands the loop three things::

    batches(epoch) -> iterable of batches         # or one re-iterable (a list, a DataLoader)
    step(batch)    -> loss tensor | Step          # forward only: the loop runs backward
    validate(epoch) -> {"val_loss": ...}          # optional, after each epoch's updates

and the loop does, per batch: ``optimizer.zero_grad``; ``step`` and ``loss.backward()``
(both inside ``step_context()`` when given, e.g. weight noise); the NaN/Inf check; gradient
clipping to ``clip`` (global L2 norm); ``optimizer.step()``; ``on_batch_end`` with
``{"loss", "grad_norm"}``. Per epoch: the mean loss ``Σ total / Σ weight`` (see ``Step``),
``validate``'s logs, ``on_epoch_end``, and a stop when a callback asks
(``model.stop_training``: set in a batch hook, as in Keras, the epoch ends after that batch
and is validated and logged), when ``max_seconds`` have passed, or at ``epochs``.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .callbacks import (
    UNCALLED,
    Callback,
    History,
    ModelCheckpoint,
    ProgressBar,
    is_main_process,
    overrides,
)
from .saving import compiled_with, read_checkpoint

NONFINITE = ("warn", "raise")


class NonFiniteLoss(ValueError):
    """The training loss became NaN or Inf (``nonfinite="raise"``); the weights from the start
    of that epoch were put back."""


class BadBatch(ValueError):
    """Raised by a step for a batch it refuses (the data, not the training, is at fault): the
    loop puts back the weights from the start of the epoch and raises ``ValueError``."""


@dataclass
class Step:
    """What ``step(batch)`` returns when a plain mean-loss tensor does not say enough.

    ``loss``: the scalar that ``backward`` takes, or None for a batch with nothing to learn
    from (no backward, no update). ``value``: the batch's loss as ``on_batch_end`` logs it.
    ``weight``: how much the batch counts in the epoch's mean (samples, frames); ``total``:
    its share of the sum (default ``value * weight``). The epoch logs
    ``loss = Σ total / max(Σ weight, 1)``. ``metrics``: name -> (the batch's mean, how many
    values it averages); the epoch logs each metric's mean over all its values, after the
    loss. A count of None marks a value that already covers the epoch so far (a Keras
    metric object's result), logged as it is. A plain tensor ``t`` means
    ``Step(t, t.item(), 1)``."""

    loss: Tensor | None
    value: float
    weight: float = 1
    total: float | None = None
    metrics: dict[str, tuple[float, float]] | None = None


class Trainee:
    """What callbacks see as ``self.model`` when the loop trains a plain ``nn.Module``: the
    module's attributes and ``state_dict``, plus ``optimizer``, ``get_config()`` (the task's
    settings, checked on resume), ``stop_training`` and, for ``ModelCheckpoint``,
    ``training_state()`` (the task's extra state, e.g. its random generators and best
    weights)."""

    def __init__(self, module: nn.Module, optimizer, config: dict | None = None,
                 state: tuple[Callable[[], dict], Callable[[dict], None]] | None = None):
        self.__dict__.update(module=module, optimizer=optimizer, _config=config or {},
                             _state=state, stop_training=False, _epoch=0, _seed=0)

    def __getattr__(self, name):
        return getattr(self.__dict__["module"], name)

    def state_dict(self):
        return self.module.state_dict()

    def load_state_dict(self, state):
        return self.module.load_state_dict(state)

    def get_config(self) -> dict:
        return self._config

    def training_state(self) -> dict | None:
        return None if self._state is None else self._state[0]()

    def load_training_state(self, extra: dict) -> None:
        if self._state is not None:
            self._state[1](extra)


def restore(model, optimizer, path: str, state: dict | None = None) -> dict:
    """Load a ``ModelCheckpoint`` file into ``model`` (``Sequential`` or ``Trainee``) and
    ``optimizer``, set torch's RNG, hand any extra state to ``model.load_training_state``;
    returns the checkpoint (its ``epoch``, ``batch``, ``seed``; ``state``: the file already
    read). A file of another architecture or optimizer is refused in one sentence, changing
    nothing."""
    state = read_checkpoint(path) if state is None else state
    saved, own = json.loads(state["config"]), json.loads(json.dumps(model.get_config()))
    if isinstance(saved, dict) and isinstance(own, dict) and "layers" in own:
        # a Sequential's dtype, which checkpoints written before configs held it lack, is
        # compared below (compiled_with)
        saved.pop("dtype", None)
        own.pop("dtype", None)
    if saved != own:
        raise ValueError(f"{path!r} was written by another architecture (or, for a task, "
                         f"other training settings: {_first_difference(saved, own)}); resume "
                         f"it with the model and settings it was saved from.")
    own = compiled_with(model)
    what = {"loss": "the loss", "dtype": "the dtype",
            "before_step": "the optimizer's clipping and weight decay"}
    for key, name in what.items():
        if key in state and key in own and state[key] != own[key]:
            raise ValueError(f"{path!r} was written by a run with {name} {state[key]!r}, but "
                             f"this model has {own[key]!r}; compile (or cast) it as the run "
                             f"that wrote it to resume, or start a new run without "
                             f"resume_from.")
    saved_opt, own_opt = state.get("optimizer_class"), type(optimizer).__name__
    if saved_opt is not None and saved_opt not in (own_opt, *getattr(optimizer, "resumes", ())):
        raise ValueError(f"{path!r} was written with the {saved_opt} optimizer but the model "
                         f"is compiled with {own_opt}; compile it with {saved_opt} to resume, "
                         f"or start a new run without resume_from.")
    # older checkpoints name no class: settings of another kind on both sides (SGD's
    # momentum, Adam's betas) mean another optimizer; a torch release adding one does not
    saved_keys = {k for g in state["optimizer"].get("param_groups", []) for k in g}
    own_keys = {k for g in optimizer.param_groups for k in g}
    if saved_opt is None and saved_keys - own_keys and own_keys - saved_keys:
        raise ValueError(f"{path!r} holds the state of another optimizer (settings "
                         f"{sorted(saved_keys - own_keys - {'params'})[:4]} unknown to the "
                         f"model's {own_opt}); compile the model with the optimizer of the "
                         f"run that wrote it.")
    extra = state.get("extra")
    if extra is not None and not hasattr(model, "load_training_state"):
        raise ValueError(f"{path!r} was written by a task's training run; resume it with that "
                         f"task, not with fit.")
    saved_n = [len(g.get("params", ())) for g in state["optimizer"].get("param_groups", [])]
    own_n = [len(g["params"]) for g in optimizer.param_groups]
    if saved_n != own_n:  # e.g. an LSTM layer's second bias, trained before it was folded in
        raise ValueError(f"{path!r} holds optimizer state for {sum(saved_n)} parameter "
                         f"tensors but the model trains {sum(own_n)} (a checkpoint of a grukit "
                         f"release whose layers held other parameters); load its weights with "
                         f"grukit.models.load of the saved model, or start a new run without "
                         f"resume_from.")
    setting = _other_setting(state["optimizer"].get("param_groups", []),
                             optimizer.param_groups)
    if setting is not None:  # load_state_dict would replace the compiled settings
        raise ValueError(f"{path!r} was written by a run whose optimizer had {setting}; "
                         f"compile it with the settings of the run that wrote it to resume, "
                         f"or start a new run without resume_from.")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
    cuda = state.get("cuda_rng")  # the GPUs' generators: their dropout masks go on as well
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    if extra is not None:
        model.load_training_state(extra)
    return state


# what a parameter group holds besides the settings a user chooses: the rate (a scheduler's
# to set, taken from the checkpoint), Keras' ε's step count and the ε it gives torch's
# kernel at each step, and how torch runs the update (the same numbers either way)
_NOT_SETTINGS = {"params", "lr", "initial_lr", "keras_step", "fused", "foreach", "capturable",
                 "differentiable"}


def _other_setting(saved: list[dict], own: list[dict]) -> str | None:
    """The first optimizer setting (momentum, betas, amsgrad, weight_decay, ...) that the
    checkpoint's parameter groups ``saved`` hold with another value than the compiled
    optimizer's groups ``own``, as "momentum=0 there, 0.9 here"; None when all agree."""
    def plain(v):
        return list(v) if isinstance(v, (tuple, list)) else v

    for s, o in zip(saved, own, strict=False):
        skip = _NOT_SETTINGS | ({"eps"} if "keras_eps" in o else set())
        for k in s.keys() & o.keys() - skip:
            if plain(s[k]) != plain(o[k]):
                return f"{k}={s[k]!r} there, {o[k]!r} here"
    return None


def _first_difference(saved, own, where: str = "config") -> str:
    """Where two configs first differ, e.g. "layers[0].config.trainable is False there,
    absent here"."""
    if isinstance(saved, dict) and isinstance(own, dict):
        for k in [*saved, *(k for k in own if k not in saved)]:
            if k not in own or k not in saved:
                there = f"{saved[k]!r} there" if k in saved else "absent there"
                here = f"{own[k]!r} here" if k in own else "absent here"
                return f"{where}.{k} is {there}, {here}"
            if saved[k] != own[k]:
                return _first_difference(saved[k], own[k], f"{where}.{k}")
    if isinstance(saved, list) and isinstance(own, list) and len(saved) == len(own):
        for i, (a, b) in enumerate(zip(saved, own, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{where}[{i}]")
    return f"{where} is {saved!r} there, {own!r} here"[:200]


def resume_at_epoch_end(model, optimizer, path: str | None) -> int:
    """``restore`` for a task (``model`` a ``Trainee``) from a checkpoint written at an
    epoch's end; returns the epoch to start from (0 without ``path``)."""
    if path is None:
        return 0
    state = read_checkpoint(path)
    if state["batch"]:
        raise ValueError(f"{path!r} was written in the middle of epoch {state['epoch'] + 1} "
                         f"(ModelCheckpoint every_n_batches); a task resumes from a checkpoint "
                         f"written at an epoch's end, so write them without every_n_batches.")
    if state.get("extra") is None:
        raise ValueError(f"{path!r} holds no task training state (it was written by "
                         f"Sequential.fit); resume it with fit(resume_from=...).")
    restore(model, optimizer, path, state)
    # the callbacks' kept state (EarlyStopping, ReduceLROnPlateau, a best-only
    # ModelCheckpoint's best), which train_loop hands back as fit's resume does
    model._callback_states, model._resumed = state.get("callbacks"), True
    return state["epoch"]


def train_loop(model, optimizer: torch.optim.Optimizer, step: Callable, batches, *,
               epochs: int, callbacks: Iterable[Callback] | None = None,
               validate: Callable[[int], dict] | None = None, validate_every: int = 1,
               clip: float | None = None,
               max_seconds: float | None = None, started: float | None = None,
               nonfinite: str = "warn", fix: str = "Lower the learning rate or check the data.",
               step_context: Callable | None = None, verbose=0, steps: int | None = None,
               start_epoch: int = 0, skip: int = 0, history: History | None = None,
               seconds_key: str | None = None, running: bool = False,
               progress: dict | None = None, callback_states: list | None = None,
               distributed: bool = False) -> History:
    """Train ``model`` (an ``nn.Module``, a ``Sequential`` or a ``Trainee``) with
    ``optimizer`` for epochs ``start_epoch .. epochs - 1``; returns the ``History``.

    Args:
        step: ``step(batch) -> Tensor | Step``: the forward pass and loss of one batch (the
            loop runs backward). Raise ``BadBatch`` to refuse a batch.
        batches (Callable[[int], Iterable] | Iterable): ``batches(epoch)`` returning an
            iterable of batches, or an iterable the loop iterates anew each epoch. With
            ``skip``, the first epoch's iterable must start at batch ``skip`` (the batches
            before it ran before a mid-epoch checkpoint).
        callbacks: ``Callback`` instances; ``self.model`` is ``model`` (a plain module is
            wrapped in a ``Trainee``). A ``History`` (``history``, or a new one) comes first.
        validate_every: run ``validate`` after every this many epochs (Keras'
            ``validation_freq``: epochs 1·k, 2·k, ... counted from 1).
        validate: ``validate(epoch) -> dict`` merged into the epoch's logs (e.g.
            ``{"val_loss": v}``), timed apart from the updates.
        clip: rescale the gradient to this global L2 norm when it is larger (None: never);
            ``on_batch_end`` logs the norm before clipping as ``grad_norm``.
        max_seconds: stop once this many seconds have passed since ``started`` (default:
            the call): the epoch under way ends after its current batch, is validated and
            logged, and training stops (``history.stop_reason == "max_seconds"``).
        nonfinite: a NaN/Inf loss puts back the weights from the start of its epoch, then
            "warn" (a ``RuntimeWarning``, training stops) or "raise" (``NonFiniteLoss``); the
            one sentence names epoch and batch and ends with ``fix``.
        step_context: a callable returning a context manager entered around each step's
            forward and backward (music's weight noise).
        verbose (int): 0 silent, 1 a progress bar (on a terminal; elsewhere, a notebook
            or a log file, a line per epoch), 2 a line per epoch.
        steps: batches per epoch, for the progress bar (None: unknown).
        seconds_key: also log each epoch's update time (validation excluded) under this key.
        running: batch hooks log the epoch's running means of the loss and the metrics so
            far (Keras' batch logs) instead of the batch's own loss.
        progress: with ``skip``, the epoch so far as a mid-epoch checkpoint recorded it
            (``progress`` of ``restore``'s checkpoint): the learning rates at the epoch's
            start, which ``on_epoch_begin`` is handed again (a scheduler then sets the rate it
            set before, not its step applied twice), and the running sums of the loss and
            metrics, so that the epoch logs the mean over all its batches, not over those
            after the checkpoint.
        callback_states: a checkpoint's ``callbacks``, [class name, ``get_state()``] of each
            callback that has one, handed to the callbacks of the resumed run.
        distributed: each process of the torch.distributed group steps on its share of
            every global batch (``fit`` under ``torchrun``): each batch's loss total and
            weight and the metrics' sums and counts are summed over the processes before
            anything reads them, so that every process logs the global batch's values, the
            one-process run's, and stops alike on a NaN/Inf loss; ``stop_training`` set by a
            callback of one process stops them all; processes about to step with different
            learning rates are refused.

    After the call, ``history.stop_reason`` is "epochs", "callback", "max_seconds" or
    "nonfinite", and ``history.train_seconds`` / ``history.val_seconds`` hold per-epoch times.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 0:
        raise ValueError(f"epochs must be a whole number, 0 or more; got {epochs!r}.")
    epochs = int(epochs)  # np.int64(3) from a grid of settings too
    if verbose not in ("auto", 0, 1, 2):  # True and False count as 1 and 0
        raise ValueError(f"verbose must be 'auto', 0 (silent), 1 (progress bar) or 2 (one line "
                         f"per epoch); got {verbose!r}.")
    if nonfinite not in NONFINITE:
        raise ValueError(f"nonfinite must be one of {NONFINITE}; got {nonfinite!r}.")
    if clip is not None and not (isinstance(clip, (int, float)) and not isinstance(clip, bool)
                                 and math.isfinite(clip) and clip > 0):
        raise ValueError(f"clip must be a positive number (a gradient norm) or None; "
                         f"got {clip!r}.")
    if max_seconds is not None and not (isinstance(max_seconds, (int, float))
                                        and not isinstance(max_seconds, bool)
                                        and max_seconds > 0):
        raise ValueError(f"max_seconds must be a positive number or None; got {max_seconds!r}.")
    started = time.perf_counter() if started is None else started
    if not hasattr(model, "optimizer"):
        model = Trainee(model, optimizer)
    module = model.module if isinstance(model, Trainee) else model
    params = [p for g in optimizer.param_groups for p in g["params"]]
    history = History() if history is None else history
    history.stop_reason, history.train_seconds, history.val_seconds = "epochs", [], []
    main = is_main_process()
    verbose = (1 if sys.stdout.isatty() else 2) if verbose == "auto" else verbose
    verbose = verbose if main else 0
    cbs = [history] + list(callbacks or [])
    if verbose == 1 and not sys.stdout.isatty():  # no bar to draw: a line per epoch, not
        verbose = 2  # silence (a notebook's verbose=1 printed nothing)
    if verbose == 1:
        cbs.append(ProgressBar(epochs, steps))
    for cb in cbs:
        uncalled = [h for h in UNCALLED if overrides(cb, h)]
        if uncalled:
            raise ValueError(f"{type(cb).__name__} overrides {', '.join(uncalled)}, which fit "
                             f"never calls (evaluate and predict run no callbacks); move that "
                             f"work to on_epoch_end or on_test_end.")
    for cb in cbs:
        cb.set_model(model)
        cb.set_params({"verbose": verbose, "epochs": epochs, "steps": steps})
    model.stop_training = False
    for cb in cbs:
        cb.on_train_begin({})
    # callbacks whose counters and best values a checkpoint keeps (EarlyStopping,
    # ReduceLROnPlateau): a resumed run takes them back, the k-th of a class the k-th saved
    model._stateful = [cb for cb in cbs if callable(getattr(cb, "get_state", None))]
    saved: dict[str, list] = {}
    if callback_states is None:  # a task's resume_at_epoch_end kept them on the model
        callback_states = getattr(model, "_callback_states", None)
    for name, st in callback_states or []:
        saved.setdefault(name, []).append(st)
    for cb in model._stateful:
        mine = saved.get(type(cb).__name__)
        if mine:
            cb.set_state(mine.pop(0))
    # at an epoch's end a ModelCheckpoint listed before one of them runs right after the
    # last of them, so that it holds what they set then (the rate ReduceLROnPlateau lowered,
    # the counters), which the resumed run goes on with; the others keep their order
    last = max((i for i, cb in enumerate(cbs) if cb in model._stateful), default=-1)
    late = [cb for cb in cbs[:max(last, 0)] if isinstance(cb, ModelCheckpoint)]
    epoch_end_cbs = [cb for cb in cbs[:last + 1] if cb not in late] + late + cbs[last + 1:]
    begin_cbs = [cb for cb in cbs if overrides(cb, "on_batch_begin", "on_train_batch_begin")]
    batch_cbs = [cb for cb in cbs if overrides(cb, "on_batch_end", "on_train_batch_end")]
    test_cbs = [cb for cb in cbs if overrides(cb, "on_test_begin", "on_test_end")]
    late = lambda: max_seconds is not None and time.perf_counter() - started > max_seconds  # noqa: E731
    last = None  # the last epoch's logs, for on_train_end
    if (start_epoch > epochs or start_epoch == epochs and skip) and \
            getattr(model, "_resumed", False):  # (Keras trains nothing past epochs without a
        # word; a checkpoint of a longer run is then taken as it is; one written in the middle
        # of epoch `epochs + 1` has trained more than epochs too)
        part = f" and {skip} batches of epoch {start_epoch + 1}" if skip else ""
        done = f"{start_epoch} epoch{'s' * (start_epoch != 1)}{part}"
        warnings.warn(f"the checkpoint resumed from has trained {done}, more "
                      f"than epochs={epochs}: nothing was trained and the model is the "
                      f"checkpoint's; give epochs above {start_epoch} to train on.",
                      RuntimeWarning, stacklevel=_outside_grukit())
    for epoch in range(start_epoch, epochs):
        model._epoch = epoch
        source = batches(epoch) if callable(batches) else batches
        first = skip if epoch == start_epoch else 0
        resumed = progress if first else None  # the epoch's batches before `first`, summed
        now = [g["lr"] for g in optimizer.param_groups]  # restored with the optimizer
        if resumed is not None:  # the rates on_epoch_begin saw in the interrupted run
            for g, lr in zip(optimizer.param_groups, resumed["lrs"], strict=True):
                g["lr"] = lr
        epoch_lrs = [g["lr"] for g in optimizer.param_groups]
        for cb in cbs:
            cb.on_epoch_begin(epoch, {})
        if resumed is not None:  # the rates in effect when the checkpoint was written
            for g, lr in zip(optimizer.param_groups, now, strict=True):
                g["lr"] = lr
        good = copy.deepcopy(module.state_dict())  # restored if the loss goes NaN
        module.train()
        t0 = time.perf_counter()
        total, seen, bad, out_of_time = 0.0, 0, None, False
        sums: dict[str, list[float]] = {}  # metric -> [Σ mean·count, Σ count]
        if resumed is not None:
            total, seen = resumed["total"], resumed["seen"]
            sums = {k: list(v) for k, v in resumed["sums"].items()}
        for i, batch in enumerate(source, start=first):
            for cb in begin_cbs:
                cb.on_train_batch_begin(i, logs={})
            optimizer.zero_grad(set_to_none=True)
            try:
                with step_context() if step_context is not None else _nothing():
                    res = step(batch)
                    if not isinstance(res, Step):
                        res = Step(res, res.item())
                    if distributed:  # the global batch's values, the same in every process
                        res = _across_processes(res, optimizer, params)
                    value = res.value
                    if not math.isfinite(value):
                        bad = (i, value, None)
                    elif res.loss is not None and (res.loss.requires_grad or any(
                            p.requires_grad for p in params)):  # else: every weight frozen
                        res.loss.backward()
            except BadBatch as err:
                bad = (i, float("nan"), str(err))
            if bad is not None:
                break
            logs = {"loss": value}
            if res.loss is not None:
                if clip is not None:
                    logs["grad_norm"] = float(nn.utils.clip_grad_norm_(params, clip,
                                                                       foreach=True))
                optimizer.step()
            total += value * res.weight if res.total is None else res.total
            seen += res.weight
            for name, (mean, count) in (res.metrics or {}).items():
                if count is None:  # the epoch's value so far: it replaces the last one
                    sums[name] = [mean, 1.0]
                    continue
                acc = sums.setdefault(name, [0.0, 0.0])
                if count:  # a batch of no value (weights all 0, every step masked) adds
                    acc[0] += mean * count  # nothing: its mean may be NaN (0 / 0)
                    acc[1] += count
            if running:
                logs["loss"] = total / max(seen, 1)
                logs |= _means(sums)
            # what a checkpoint written now needs to go on with this epoch (see `progress`)
            model._progress = {"lrs": epoch_lrs, "total": total, "seen": seen,
                               "sums": {k: list(v) for k, v in sums.items()}}
            for cb in batch_cbs:
                cb.on_train_batch_end(i, logs=logs)
            if distributed:  # a stop asked in one process (whose callbacks may be its own:
                # a ModelCheckpoint in rank 0 only) ends the epoch in all
                model.stop_training = _any_process(model.stop_training, params)
            if model.stop_training:  # as Keras: the epoch ends after this batch, validated
                break
            if late():
                out_of_time = True
                break
        if bad is not None:
            module.load_state_dict(good)
            history.stop_reason = "nonfinite"
            if bad[2]:  # the data, not the training, is at fault
                raise ValueError(f"{bad[2]} in batch {bad[0] + 1} of epoch {epoch + 1}; impute "
                                 f"or drop them first (training stopped there, the weights "
                                 f"from the start of this epoch kept).")
            said = (f"loss became {bad[1]} at epoch {epoch + 1}, batch {bad[0] + 1}; training "
                    f"stopped")
            if nonfinite == "raise":
                raise NonFiniteLoss(f"{said}. {fix}")
            warnings.warn(f"{said} and the weights from the start of this epoch were kept. "
                          f"{fix}", RuntimeWarning, stacklevel=_outside_grukit())
            break
        history.train_seconds.append(time.perf_counter() - t0)
        logs = {"loss": total / max(seen, 1)}
        logs |= _means(sums)
        t1 = time.perf_counter()
        if validate is not None and (epoch + 1) % validate_every == 0:
            for cb in test_cbs:
                cb.on_test_begin({})
            val = validate(epoch)
            for cb in test_cbs:
                cb.on_test_end({k.removeprefix("val_"): v for k, v in val.items()})
            logs |= val
        history.val_seconds.append(time.perf_counter() - t1)
        if seconds_key is not None:
            logs[seconds_key] = history.train_seconds[-1]
        for cb in epoch_end_cbs:
            cb.on_epoch_end(epoch, logs)
        history.settle()
        if distributed:  # one process stopping alone would leave the others waiting for it
            model.stop_training = _any_process(model.stop_training, params)
        last = logs
        if verbose == 2:
            print(f"Epoch {epoch + 1}/{epochs} - " +
                  " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()), flush=True)
        if out_of_time or late():
            history.stop_reason = "max_seconds"
            break
        if model.stop_training:
            history.stop_reason = "callback"
            break
    for cb in cbs:
        cb.on_train_end({} if last is None else last)
    return history


def _reduce_device(params) -> torch.device:
    """Where the group's collectives take their tensors: the GPU of the weights under NCCL,
    the CPU under gloo."""
    import torch.distributed as dist

    if dist.get_backend() == "nccl" and params:
        return params[0].device
    return torch.device("cpu")


def _means(sums: dict[str, list[float]]) -> dict[str, float]:
    """Each metric's mean over the epoch so far from its [Σ mean·count, Σ count]: Keras'
    weighted mean Σ w·v / Σ w, 0 where Σ w = 0 (an epoch whose sample weights are all 0, as
    Keras' ``divide_no_nan`` logs it; it logged NaN)."""
    return {name: a / b if b else 0.0 for name, (a, b) in sums.items()}


def _across_processes(res: Step, optimizer, params) -> Step:
    """``res`` of the global batch: the loss's total and weight, and each counted metric's
    sum (mean · count) and count, summed over the processes (one all-reduce). A NaN/Inf on
    any process makes the sum NaN/Inf on all of them. The same all-reduce sums each
    parameter group's rate and its square, which differ from n·lr and n·lr² when the n
    processes are about to step with different rates (a scheduler given to some of them
    only): refused, as each process would take its own step from the averaged gradients."""
    import torch.distributed as dist

    metrics = dict(res.metrics or {})
    counted = [k for k, (_, count) in metrics.items() if count is not None]
    total = res.value * res.weight if res.total is None else res.total
    lrs = [float(g["lr"]) for g in optimizer.param_groups]
    flat = [total, res.weight] + [v for k in counted
                                   for v in (metrics[k][0] * metrics[k][1], metrics[k][1])]
    sums = torch.tensor(flat + lrs + [lr * lr for lr in lrs], dtype=torch.float64,
                        device=_reduce_device(params))  # (2 + 2·metrics + 2·groups,)
    dist.all_reduce(sums)
    total, weight, *rest = sums.tolist()
    m, g = 2 * len(counted), len(lrs)
    rest, rates, squares = rest[:m], rest[m:m + g], rest[m + g:]
    n = dist.get_world_size()
    if any(n * q - s * s > 1e-9 * s * s for s, q in zip(rates, squares, strict=True)):
        raise ValueError("the processes were about to step with different learning rates "
                         "(a LearningRateScheduler, ReduceLROnPlateau or other callback that "
                         "sets the rate given to some of them only); give every process the "
                         "same callbacks.")
    for k, s, c in zip(counted, rest[::2], rest[1::2], strict=True):
        metrics[k] = (s / c if c else 0.0, c)
    return Step(res.loss, total / weight if weight else float("nan"), weight, total,
                metrics or None)


def _any_process(flag: bool, params) -> bool:
    """Whether ``flag`` is set in any process of the torch.distributed group."""
    import torch.distributed as dist

    t = torch.tensor([float(bool(flag))], device=_reduce_device(params))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def _outside_grukit() -> int:
    """The ``stacklevel`` of the first caller outside the grukit package (the user's fit or
    task call), counted from the function that calls this one."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../grukit
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(root):
        frame, level = frame.f_back, level + 1
    return level


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
