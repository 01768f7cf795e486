"""``Forecaster.tune``: a search over a forecaster's settings with Optuna (the ``tune`` extra:
``pip install grukit[tune]``), scored on rolling validation folds inside the series it is
given (give it the training part only: the test folds must never be seen).

Each trial fits the settings at ``folds`` origins over the last ``folds · horizon`` points
of the series and scores the mean MASE of the forecasts after them; a trial whose first folds
are worse than the median of earlier trials at the same fold is pruned (Optuna's
``MedianPruner``). With ``storage`` (a file path) the study lives in a SQLite file, so an
interrupted search resumes where it stopped: trials that were running when it stopped are
marked failed (the sampler ignores them), and trial n samples with the seed ``seed + n`` (n:
the trials finished before it), so a resumed search samples the same settings and ends with
the same best trial as one never interrupted. One process searches a study at a time (a
second one started on the same file would take the first one's running trial for a stale
one). ``backend="ray"`` runs the same search on Ray Tune (``tune_ray``).
"""

from __future__ import annotations

import numpy as np

from .checks import as_list, check_season, whole
from .metrics import scores

# The settings searched; lookbacks are chosen per season and cut to what the series allows.
SPACE = {"hidden": [16, 32, 64], "layers": [1, 2], "dropout": (0.0, 0.3),
         "learning_rate": (1e-3, 1e-2), "epochs": (30, 200), "hybrid": [False, True]}


BACKENDS = ("optuna", "ray")


def _optuna():
    try:
        import optuna
    except ImportError:
        raise ImportError("Forecaster.tune needs Optuna: pip install 'grukit[tune]'.") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def lookback_choices(season: int, room: int) -> list[int]:
    """Lookbacks worth trying for a season, those that leave ``room`` values to train."""
    base = [12, 24, 36, 48] if season > 1 else [4, 8, 12, 16, 24, 32]
    ok = [lb for lb in base if lb <= room]
    return ok or [max(1, min(base[0], room))]


def _suggest(trial, season: int, room: int, fixed: dict) -> dict:
    s = {"lookback": trial.suggest_categorical("lookback", lookback_choices(season, room)),
         "hidden": trial.suggest_categorical("hidden", SPACE["hidden"]),
         "layers": trial.suggest_categorical("layers", SPACE["layers"]),
         "dropout": trial.suggest_float("dropout", *SPACE["dropout"]),
         "learning_rate": trial.suggest_float("learning_rate", *SPACE["learning_rate"],
                                              log=True),
         "epochs": trial.suggest_int("epochs", *SPACE["epochs"], step=10),
         "hybrid": trial.suggest_categorical("hybrid", SPACE["hybrid"])}
    return s | fixed


def validation_score(settings: dict, ys, covs, season: int, folds: int, trial=None,
                     on_fold=None) -> float:
    """Mean MASE over ``folds`` rolling origins at the end of every series (pruned early
    through an Optuna ``trial``; ``on_fold(k, mean so far)`` is called after fold k)."""
    from .forecaster import Forecaster

    h = settings["horizon"]
    values = []
    for k in range(folds):
        cut = [len(y) - (folds - k) * h for y in ys]
        f = Forecaster(**settings).fit([y[:o] for y, o in zip(ys, cut, strict=True)], season,
                                       covariates=None if covs is None else
                                       [c[:o] for c, o in zip(covs, cut, strict=True)])
        for i, (y, o) in enumerate(zip(ys, cut, strict=True)):
            pred = f._predict_one(y[:o], None if covs is None else covs[i][:o], i)
            mase = scores(y[o:o + h], pred, y[:o], season)["mase"]
            values.append(np.inf if mase is None else mase)
        if on_fold is not None:
            on_fold(k, float(np.mean(values)))
        if trial is not None:
            trial.report(float(np.mean(values)), k)
            if trial.should_prune():
                import optuna

                raise optuna.TrialPruned()
    return float(np.mean(values))


def tune(series, season: int = 1, trials: int = 20, *, horizon: int = 12, folds: int = 3,
         storage: str | None = None, study_name: str = "forecast", seed: int = 0,
         timeout: float | None = None, covariates=None, fixed: dict | None = None,
         backend: str = "optuna"):
    """Search; returns (best settings for ``Forecaster(**settings)``, summary dict).
    ``backend``: "optuna" (in this process; ``storage`` a SQLite file) or "ray" (Ray Tune,
    ``tune_ray``; ``storage`` a folder)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}.")
    optuna = _optuna()
    check_season(season)
    whole("trials", trials, 1)
    whole("folds", folds, 1)
    whole("horizon", horizon, 1)
    ys, covs, _ = as_list(series, covariates)
    fixed = {"horizon": horizon, "seed": seed} | dict(fixed or {})
    shortest = min(len(y) for y in ys)
    room = shortest - (folds + 1) * horizon - 5 - (2 * season + 2 if season > 1 else 4)
    if room < 1:
        raise ValueError(f"the series has {shortest} points: too few for {folds} validation "
                         f"fold(s) of horizon {horizon} and a training part; use fewer folds "
                         f"or a shorter horizon.")
    if backend == "ray":
        from .tune_ray import search

        return search(ys, covs, season, trials, room=room, fixed=fixed, folds=folds,
                      seed=seed, timeout=timeout, storage=storage, study_name=study_name)
    url = None if storage is None else f"sqlite:///{storage}"
    study = optuna.create_study(study_name=study_name, storage=url, load_if_exists=True,
                                direction="minimize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3))
    stale = optuna.trial.TrialState
    for t in study.get_trials(deepcopy=False, states=(stale.RUNNING, stale.WAITING)):
        study.tell(t.number, state=stale.FAIL)  # running when an earlier search stopped
    finished = (stale.COMPLETE, stale.PRUNED)

    def objective(trial):
        settings = _suggest(trial, season, room, fixed)
        return validation_score(settings, ys, covs, season, folds, trial)

    import time

    start = time.monotonic()
    while len(study.get_trials(deepcopy=False, states=finished)) < trials:
        if timeout is not None and time.monotonic() - start > timeout:
            break
        n = len(study.get_trials(deepcopy=False, states=finished))
        study.sampler = optuna.samplers.TPESampler(seed=seed + n, n_startup_trials=5)
        study.optimize(objective, n_trials=1)
    done = study.get_trials(deepcopy=False, states=(stale.COMPLETE,))
    if not done:
        raise ValueError("no trial of the search finished; give it more trials or time.")
    best = study.best_trial
    settings = _suggest(optuna.trial.FixedTrial(best.params), season, room, fixed)
    summary = {"backend": "optuna", "trials": len(study.trials), "best_trial": best.number,
               "best_value": float(best.value), "params": dict(best.params),
               "folds": folds, "study": study_name}
    return settings, summary
