"""The tasks ``grukit compare`` runs: each returns, per model and seed, a record
(``record.fit_record``) and the trained recurrent module (for the latency rows).

    forecast  a built-in series (default sunspots) or a CSV; metric MASE (lower better)
    classify  JapaneseVowels (UEA, via sktime) or a sequence set the classify task reads;
              metric accuracy (higher better)
    music     a piano-roll .mat (JSB Chorales, Nottingham, MuseData, Piano-midi) in
              Chung et al. 2014's setup; metric NLL per time step (lower better)

A further task is a module of this package named in ``PLUGINS``: it has ``DATA_HELP`` (what
``--data`` means for it), ``prepare(task_class, data) -> Task`` and
``run(task, model, hidden, seed, *, epochs, max_seconds) -> (record, module or None)``
(None: no recurrent module for the latency rows; the record may carry its own). Its
``Task`` may list extra table rows (``rows``), models beyond the cells (``EXTRA_MODELS``,
name -> display name; they get no memory rows), the cells it can run (``CELLS``, else
every cell), the models compared when ``--models`` is not given (``DEFAULT_MODELS``, else
gru,lstm) and whether ``--max-seconds`` applies (``TAKES_MAX_SECONDS``). A plugin's
``warm_up(task, model, hidden)``, when it has one, trains one untimed epoch of ``model`` on
a few rows before its first timed run in the process (``warm_up`` below).
"""

from __future__ import annotations

import gc
import importlib
import random
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from ..._runs import UsageError
from .. import _diverged
from . import forecast, published, sizing, summary

# task name -> module of this package (see the module docstring)
PLUGINS = {"classify": "classify", "speech": "speech", "translate": "translate",
           "clinical": "clinical", "generate": "generate"}
NAMES = ("forecast", "classify", "music") + tuple(t for t in PLUGINS if t != "classify")
DATA_HELP = {"forecast": "a built-in series (default sunspots) or a CSV",
             "music": "a piano-roll .mat such as JSB_Chorales.mat"}


def plugin(task: str):
    """The module of a task named in ``PLUGINS`` (None for forecast and music)."""
    return importlib.import_module(f".{PLUGINS[task]}", __package__) if task in PLUGINS \
        else None


def data_help() -> str:
    """--data's help: what it means for each task."""
    parts = [f"{t}: {DATA_HELP[t] if t in DATA_HELP else plugin(t).DATA_HELP}" for t in NAMES]
    return "; ".join(parts)


def extra_models(task: str) -> dict[str, str]:
    """Models a task takes beyond the cells (name -> display name)."""
    mod = plugin(task)
    return dict(getattr(mod, "EXTRA_MODELS", {})) if mod else {}


# a plugin's extra models are named in every table and plot (plugins import lightly)
for _t in PLUGINS:
    summary.NAMES.update(extra_models(_t))


def task_cells(task: str) -> tuple[str, ...]:
    """The cells a task can run (a plugin's CELLS; every cell otherwise)."""
    mod = plugin(task)
    return tuple(getattr(mod, "CELLS", sizing.MODELS)) if mod else tuple(sizing.MODELS)


def default_models(task: str) -> tuple[str, ...]:
    """The models a task compares when --models is not given (a plugin's DEFAULT_MODELS)."""
    mod = plugin(task)
    return tuple(getattr(mod, "DEFAULT_MODELS", ("gru", "lstm"))) if mod else ("gru", "lstm")


def takes_max_seconds(task: str) -> bool:
    mod = plugin(task)
    return task == "music" or bool(getattr(mod, "TAKES_MAX_SECONDS", False))

# Chung et al. 2014's widths (about 20K parameters each) for the music task
PAPER_WIDTHS = {"gru": 46, "lstm": 36, "rnn": 100}


@dataclass
class Task:
    name: str
    metric: str
    lower_is_better: bool
    inputs: int
    outputs: int
    hidden: int  # the GRU's width; the budget sizes the others
    data: object = None
    notes: dict = field(default_factory=dict)  # shown in the report (baselines, data)
    fixed: dict = field(default_factory=dict)  # widths used under equal-params
    budget: str = "equal-hidden"  # the default when the caller names none
    rows: list = field(default_factory=list)  # extra (key, label, lower?, kind) table rows
    keras: bool = True  # its models are grukit.layers layers (Keras' count); music: nn modules
    pooled: bool = False  # attention pooling (H² + 2H) between the recurrence and the head

    def widths(self, models, budget: str, hidden: int | None = None) -> dict[str, int]:
        """The fixed (published) widths hold at the task's own GRU width; another --hidden
        sizes every model to that GRU's parameter count instead."""
        hidden = self.hidden if hidden is None else hidden
        fixed = self.fixed if hidden == self.hidden else {}
        return sizing.widths(models, budget, hidden, self.inputs, self.outputs, fixed,
                             self.keras, self.pooled)


def prepare(task: str, data: str | None, folds: int = 3) -> Task:
    if task == "forecast":
        name, values, season, horizon = forecast.load(data)
        base = forecast.baseline_scores(values, season, horizon, folds)
        return Task(f"forecast:{name}", "MASE", True, 2, horizon, 32,
                    (values, season, horizon),
                    {"data": f"{name}, {len(values)} points, horizon {horizon}, {folds} "
                             f"rolling origins", "baselines (test MASE)": base})
    if task == "music":
        from ..music import load_piano_rolls

        if not data:
            raise ValueError("--task music needs --data PATH.mat (a piano-roll file such as "
                             "JSB_Chorales.mat).")
        try:
            rolls = load_piano_rolls(data)
        except (OSError, ValueError) as err:  # sentences naming the file and the layout
            raise UsageError(f"--data: {err}") from None
        for split, key in (("train", "traindata"), ("valid", "validdata"), ("test", "testdata")):
            if all(r.shape[0] < 2 for r in rolls[split]):  # frame 0 is not scored
                raise UsageError(f"--data: {data!r}: every sequence of {key!r} is one step "
                                 f"long, so it has no frame to predict (a sequence's first "
                                 f"frame is not scored); give sequences of 2 or more steps.")
        sizes = {k: len(v) for k, v in rolls.items()}
        return Task("music", "NLL", True, 88, 88, 46, rolls,
                    {"data": f"{data}: {sizes['train']}/{sizes['valid']}/{sizes['test']} "
                             f"train/valid/test sequences", **published.notes(sizes)},
                    dict(PAPER_WIDTHS), "equal-params", keras=False)
    if task in PLUGINS:
        return plugin(task).prepare(Task, data)
    raise ValueError(f"unknown task {task!r}; choose from {', '.join(NAMES)}.")


_WARM: set[tuple[str, str]] = set()  # (task kind, model) already warmed up in this process


@contextmanager
def _random_kept():
    """The random states of torch, numpy and ``random`` as they were before the block: a
    warm-up draws nothing from the timed runs' streams."""
    py, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng():
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(np_state)


def warm_up(task: Task, model: str, hidden: int) -> None:
    """Before ``model``'s first timed run of ``task``'s kind in this process, one untimed
    epoch of it on a few of the training sequences (forecast's, music's or the plugin's
    ``warm_up``): kernels compiled or loaded on first call (numba), lazy imports and set-up
    then land in no timed epoch. Without it they landed in the first seed's first epoch of
    whichever model ran first (about 20 % on its s/epoch), which biased the training-speed
    rows. The random states are kept (``_random_kept``), so every run trains and scores as it
    would without it; a full garbage collection follows, outside any timed epoch. A warm-up
    that fails (on its few rows) is said in a warning and the run goes on: only its timing
    depended on it, and the run itself meets any real problem in the data."""
    kind = task.name.split(":")[0]
    if (kind, model) in _WARM:
        return
    try:
        with _random_kept(), warnings.catch_warnings():  # one epoch on a few rows: it may
            warnings.filterwarnings("ignore", "training .* learned nothing", RuntimeWarning)
            if kind == "forecast":  # learn nothing, which says nothing of the timed runs
                forecast.warm_up(*task.data, model, hidden)
            elif kind == "music":
                _warm_up_music(model, task.data)
            elif kind in PLUGINS and hasattr(plugin(kind), "warm_up"):
                plugin(kind).warm_up(task, model, hidden)
    except Exception as err:  # not Ctrl-C: a KeyboardInterrupt is no Exception
        warnings.warn(f"the untimed warm-up epoch of {model} failed ({type(err).__name__}: "
                      f"{err}); its first timed epoch may carry one-time costs (kernel "
                      f"compilation), so read its training time with care.", RuntimeWarning,
                      stacklevel=2)
    _WARM.add((kind, model))
    gc.collect()


def _warm_up_music(model: str, rolls: dict) -> None:
    """One epoch of a tiny ``model`` on one short roll before its first timed music run in
    this process: kernels compiled or loaded on first call (numba) and lazy set-up are then
    not charged to the first seed's first epoch (a GRU's took 0.9 s against 0.006 s for
    its second), which skewed its s/epoch and s-to-best rows."""
    from ..music import MusicConfig, train_music

    roll = max(rolls["train"], key=len)[:4]  # (≤ 4, 88)
    train_music({"train": [roll], "valid": [roll]},
                MusicConfig(model=model, hidden=2, max_epochs=1, count_first=True))


def run(task: Task, model: str, hidden: int, seed: int, *, epochs: int | None,
        folds: int = 3, max_seconds: float | None = None):
    """-> (record, recurrent module); ``warm_up`` first. A run whose loss became NaN/Inf
    is recorded as such (``stop_reason`` "nonfinite"), not raised."""
    warm_up(task, model, hidden)
    with _diverged.recorded():
        return _run(task, model, hidden, seed, epochs=epochs, folds=folds,
                    max_seconds=max_seconds)


def _run(task: Task, model: str, hidden: int, seed: int, *, epochs: int | None, folds: int,
         max_seconds: float | None):
    if task.name.startswith("forecast"):
        values, season, horizon = task.data
        return forecast.run(values, season, horizon, model, hidden, seed, folds=folds,
                            epochs=100 if epochs is None else epochs)
    if task.name == "music":
        from ..music import MusicConfig, train_music
        from .record import fit_record

        cfg = MusicConfig(model=model, hidden=hidden, seed=seed, max_seconds=max_seconds,
                          **({} if epochs is None else {"max_epochs": epochs}))
        res = train_music(task.data, cfg)
        rec = fit_record(res.epoch_seconds, res.train_curve, res.val_curve,
                         params=res.params, train_metric=res.train_nll,
                         test_metric=res.test_nll, val_metric=res.val_nll,
                         patience=cfg.patience, stop_reason=res.stop_reason,
                         last_epoch_partial=res.last_epoch_partial)
        return rec, res.model.rnn
    name = task.name.split(":")[0]
    if name in PLUGINS and getattr(plugin(name), "TAKES_MAX_SECONDS", False):
        return plugin(name).run(task, model, hidden, seed, epochs=epochs,
                                max_seconds=max_seconds)
    return plugin(name).run(task, model, hidden, seed, epochs=epochs)
