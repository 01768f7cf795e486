"""The tasks ``grukit compare`` runs: each returns, per model and seed, a record
(``record.fit_record``) and the trained recurrent module (for the latency rows).

    forecast  a built-in series (default sunspots) or a CSV; metric MASE (lower better)
    classify  JapaneseVowels (UEA, via sktime) or a sequence set the classify task reads;
              metric accuracy (higher better)
    music     a piano-roll .mat (JSB Chorales, Nottingham, MuseData, Piano-midi) in
              Chung et al. 2014's setup; metric NLL per time step (lower better)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..._runs import UsageError
from . import forecast, published, sizing

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

    def widths(self, models, budget: str, hidden: int | None = None) -> dict[str, int]:
        """The fixed (published) widths hold at the task's own GRU width; another --hidden
        sizes every model to that GRU's parameter count instead."""
        hidden = self.hidden if hidden is None else hidden
        fixed = self.fixed if hidden == self.hidden else {}
        return sizing.widths(models, budget, hidden, self.inputs, self.outputs, fixed)


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
        sizes = {k: len(v) for k, v in rolls.items()}
        return Task("music", "NLL", True, 88, 88, 46, rolls,
                    {"data": f"{data}: {sizes['train']}/{sizes['valid']}/{sizes['test']} "
                             f"train/valid/test sequences", **published.notes(sizes)},
                    dict(PAPER_WIDTHS), "equal-params")
    if task == "classify":
        from .classify import prepare as prepare_classify

        return prepare_classify(Task, data)
    raise ValueError(f"unknown task {task!r}; choose forecast, classify or music.")


def run(task: Task, model: str, hidden: int, seed: int, *, epochs: int | None,
        folds: int = 3, max_seconds: float | None = None):
    """-> (record, recurrent module)."""
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
                         patience=cfg.patience, stop_reason=res.stop_reason)
        return rec, res.model.rnn
    from .classify import run as run_classify

    return run_classify(task, model, hidden, seed, epochs=epochs)
