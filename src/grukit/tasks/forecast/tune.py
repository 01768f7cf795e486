"""``Forecaster.tune``: a search over a forecaster's settings with Optuna (the ``tune`` extra:
``pip install grukit[tune]``), scored on rolling validation origins inside the series it is
given (give it the training part only: the test folds must never be seen).

Validation (``validation_plan``): ``origins`` forecast origins (default 9), ``step`` points
apart (default h/2, made smaller where the series is short), the last one ``horizon`` points
before the end of the series, so every target lies inside what the search was given. They
are split into ``folds`` consecutive groups (default 2); each group refits the settings on
the points before its first origin and forecasts from each of its origins with the history
up to that origin (no refit in between: the cost of a trial is ``folds`` fits, however many
origins). A trial's score is the mean MASE of those forecasts; it keeps them (the trial's
``forecasts`` user attribute, (series, origins, h)) for ``anchored``, which takes the median
of the best trials' forecasts. Two validation folds of h points (the old default:
``origins=folds, step=horizon``) proved too noisy to choose by on short series. Nine
origins because (n + 1) · 0.8 is then a whole number: the split-conformal 80 % interval that
``anchored`` calibrates on them covers 80 % in expectation (with 8: 8/9 ≈ 89 %).

A trial whose first groups are worse than the median of earlier trials at the same group is
pruned (Optuna's ``MedianPruner``). The first four trials are the default settings, plain,
hybrid, plain recursive and plain sequence (``strategy``; a sequence trial also chooses
between the values and their one-step changes, ``differences``), so the search always weighs
the defaults. With
``storage`` (a file path) the study lives in a SQLite file, so an interrupted search resumes
where it stopped: trials that were running when it stopped are marked failed (the sampler
ignores them), and trial n samples with the seed ``seed + n`` (n: the trials finished before
it), so a resumed search samples the same settings and ends with the same best trial as one
never interrupted. One process searches a study at a time (a second one started on the same
file would take the first one's running trial for a stale one). ``backend="ray"`` runs the
same search on Ray Tune (``tune_ray``).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings

import numpy as np

from .._diverged import Diverged
from .checks import as_list, check_season, whole
from .metrics import scores

# The settings searched; lookbacks are chosen per season and cut to what the series allows.
SPACE = {"hidden": [16, 32, 64], "layers": [1, 2], "dropout": (0.0, 0.3),
         "learning_rate": (1e-3, 1e-2), "epochs": (30, 200), "hybrid": [False, True],
         "strategy": ["direct", "recursive", "sequence"], "differences": [0, 1]}


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


def _suggest(trial, season: int, room: int, fixed: dict,
             strategies: list[str] | None = None) -> dict:
    """A trial's settings: ``fixed`` ones as given, the others sampled (a setting that
    ``fixed`` decides is not sampled, so trials differ only in what the search searches).
    ``strategies``: the choices of the strategy (a study begun before "sequence" was
    searched goes on with its own two)."""
    ask = {"lookback": lambda: trial.suggest_categorical("lookback",
                                                         lookback_choices(season, room)),
           "hidden": lambda: trial.suggest_categorical("hidden", SPACE["hidden"]),
           "layers": lambda: trial.suggest_categorical("layers", SPACE["layers"]),
           "dropout": lambda: trial.suggest_float("dropout", *SPACE["dropout"]),
           "learning_rate": lambda: trial.suggest_float("learning_rate",
                                                        *SPACE["learning_rate"], log=True),
           "epochs": lambda: trial.suggest_int("epochs", *SPACE["epochs"], step=10)}
    s = {k: fixed[k] if k in fixed else f() for k, f in ask.items()}
    # recursive and sequence are for plain models: the hybrid is searched under the direct
    # strategy only
    if "strategy" in fixed or fixed.get("hybrid"):
        strategy = fixed.get("strategy", "direct")
    elif fixed.get("differences"):  # the changes are an input of the sequence strategy only
        strategy = "sequence"
    else:
        strategy = trial.suggest_categorical("strategy", strategies or SPACE["strategy"])
    s["strategy"] = strategy
    if "hybrid" not in fixed:
        s["hybrid"] = False if strategy != "direct" else \
            trial.suggest_categorical("hybrid", SPACE["hybrid"])
    if strategy == "sequence" and "differences" not in fixed:  # the values or their changes
        s["differences"] = trial.suggest_categorical("differences", SPACE["differences"])
    return s | fixed


# what a trial sampled before a setting was searched ran with: a study begun before the
# strategy was searched holds direct trials without it, one begun before the changes were
# searched sequence trials without ``differences`` (the values)
BEFORE = {"strategy": "direct", "differences": 0}


def settings_of(params: dict, season: int, room: int, fixed: dict) -> dict:
    """The settings of a finished trial's ``params`` (older trials lack what was not yet
    searched: ``BEFORE``)."""
    optuna = _optuna()
    return _suggest(optuna.trial.FixedTrial(BEFORE | params), season, room, fixed)


def strategy_choices(study) -> list[str]:
    """The strategies a study searches: those its trials were sampled from (a study begun
    before "sequence" was searched; Optuna refuses other choices under one name), else
    ``SPACE``'s."""
    for t in study.get_trials(deepcopy=False):
        dist = t.distributions.get("strategy")
        if dist is not None:
            return list(dist.choices)
    return list(SPACE["strategy"])


def validation_plan(length: int, horizon: int, folds: int, origins: int | None = None,
                    step: int | None = None) -> list[list[int]]:
    """The validation origins of a series of ``length`` points, each given as the number of
    points after it (a forecast reads the points before it and is scored on the ``horizon``
    points after it; the last origin is ``horizon`` before the end), grouped into ``folds``
    consecutive refits, earliest first: [[distance from the end, ...] per group]; a group's
    model is fitted on the points before its first origin. ``origins=None``: one origin per
    fold, ``horizon`` apart (``step`` defaults to h/2, at least 1)."""
    if origins is None:
        origins, step = folds, horizon
    step = max(1, horizon // 2) if step is None else step
    ends = [horizon + (origins - 1 - j) * step for j in range(origins)]
    if ends[0] >= length:
        raise ValueError(f"{origins} validation origins {step} apart need more than "
                         f"{ends[0]} points; the series has {length}.")
    groups = np.array_split(np.array(ends), min(folds, origins))
    return [[int(d) for d in g] for g in groups]


def validation_forecasts(settings: dict, ys, covs, season: int, plan: list[list[int]],
                         trial=None, on_fold=None) -> tuple[float, np.ndarray]:
    """(mean MASE, forecasts (S, origins, h)) of ``settings`` at the origins of ``plan``
    (counted back from the end of every series), pruned early through an Optuna ``trial``;
    ``on_fold(k, mean so far)`` is called after group k."""
    from .forecaster import Forecaster

    h = settings["horizon"]
    values, out = [], [[] for _ in ys]
    for k, group in enumerate(plan):
        cut = [len(y) - group[0] for y in ys]  # the group's model sees the points before
        f = Forecaster(**settings).fit([y[:c] for y, c in zip(ys, cut, strict=True)], season,
                                       covariates=None if covs is None else
                                       [c[:o] for c, o in zip(covs, cut, strict=True)])
        for i, y in enumerate(ys):
            for d in group:
                o = len(y) - d
                pred = f._predict_one(y[:o], None if covs is None else covs[i][:o], i)
                mase = scores(y[o:o + h], pred, y[:o], season)["mase"]
                values.append(np.inf if mase is None else mase)
                out[i].append(pred)
        if on_fold is not None:
            on_fold(k, float(np.mean(values)))
        if trial is not None:
            trial.report(float(np.mean(values)), k)
            if trial.should_prune():
                import optuna

                raise optuna.TrialPruned()
    return float(np.mean(values)), np.array(out)


def validation_score(settings: dict, ys, covs, season: int, folds: int, trial=None,
                     on_fold=None, *, origins: int | None = None,
                     step: int | None = None) -> float:
    """Mean MASE at the validation origins of ``validation_plan`` (with ``origins=None``:
    ``folds`` rolling origins ``horizon`` apart at the end of every series)."""
    plan = validation_plan(min(len(y) for y in ys), settings["horizon"], folds, origins, step)
    return validation_forecasts(settings, ys, covs, season, plan, trial, on_fold)[0]


def starts(season: int, room: int, fixed: dict,
           strategies: list[str] | None = None) -> list[dict]:
    """The default settings (plain, hybrid, plain recursive, then plain sequence where
    ``strategies`` has it) as the first trials' parameters."""
    from .forecaster import ForecastConfig, default_lookback

    d = ForecastConfig()
    choices = lookback_choices(season, room)

    def near(lookback):
        return min(choices, key=lambda c: abs(c - lookback))

    base = {"lookback": near(default_lookback(season)), "hidden": d.hidden,
            "layers": d.layers, "dropout": d.dropout, "learning_rate": d.learning_rate,
            "epochs": d.epochs}
    trials = [base | {"strategy": "direct", "hybrid": False},
              base | {"strategy": "direct", "hybrid": True}, base | {"strategy": "recursive"}]
    if "sequence" in (strategies or SPACE["strategy"]):
        trials.append(base | {"strategy": "sequence", "differences": d.differences,
                              "lookback": near(default_lookback(season, "sequence"))})
    out = []
    for t in trials:  # what fixed decides is not a parameter; a trial the same as one
        if fixed.get("strategy", t["strategy"]) != t["strategy"] or \
                (fixed.get("hybrid") and t["strategy"] != "direct") or \
                (fixed.get("differences") and t["strategy"] != "sequence"):
            continue  # before is left out, as is a strategy fixed settings rule out
        t = {k: v for k, v in t.items() if k not in fixed}
        if t not in out:
            out.append(t)
    return out


def fit_step(shortest: int, horizon: int, folds: int, origins: int | None, step: int | None,
             season: int) -> tuple[int | None, int]:
    """(step, room): the step between origins, made smaller until the first group leaves
    room for the shortest lookback, and the longest lookback that room allows."""
    from .es import need

    if origins is None:
        origins, step = folds, horizon
    step = max(1, horizon // 2) if step is None else step
    least = 12 if season > 1 else 8

    def room(s):
        return shortest - (origins - 1) * s - 2 * horizon - 5 - need(season if season > 1
                                                                    else 1)
    while step > 1 and room(step) < least:
        step -= 1
    return step, room(step)


def tune(series, season: int = 1, trials: int = 20, *, horizon: int = 12, folds: int = 2,
         origins: int | None = 9, step: int | None = None, storage: str | None = None,
         study_name: str | None = None, seed: int = 0, timeout: float | None = None,
         covariates=None, fixed: dict | None = None, backend: str = "optuna",
         clock: str = "wall", on_trial=None):
    """Search; returns (best settings for ``Forecaster(**settings)``, summary dict).
    Validation: ``origins`` origins ``step`` apart in ``folds`` refits (``validation_plan``;
    ``origins=None``: ``folds`` origins ``horizon`` apart). ``backend``: "optuna" (in this
    process; ``storage`` a SQLite file) or "ray" (Ray Tune, ``tune_ray``; ``storage`` a
    folder). ``timeout`` (seconds) is measured on ``clock``: "wall", or "cpu" (this process's
    CPU time, which a shared machine does not eat into; optuna backend only). ``on_trial(n)``
    is called as the search's n-th trial is finished (optuna backend).

    A study holds one search: ``study_name=None`` names it after the data and the settings
    (``forecast-`` and a hash), so a storage file shared by searches of other series keeps
    them apart; a study given by name that was made on other data or settings is refused,
    never resumed. With covariates the search keeps the direct strategy (a recursive
    forecaster cannot feed covariates back)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}.")
    if clock not in ("wall", "cpu"):
        raise ValueError(f"clock must be 'wall' or 'cpu'; got {clock!r}.")
    if timeout is not None and (isinstance(timeout, bool) or
                                not isinstance(timeout, (int, float)) or not timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds (or None: no limit); "
                         f"got {timeout!r}.")  # NaN never ran out; 0 ran no trial
    optuna = _optuna()
    check_season(season)
    whole("trials", trials, 1)
    whole("folds", folds, 1)
    whole("horizon", horizon, 1)
    if origins is not None:
        whole("origins", origins, 1)
    if step is not None:
        whole("step", step, 1)
    ys, covs, _ = as_list(series, covariates)
    fixed = {"horizon": horizon, "seed": seed} | dict(fixed or {})
    from .forecaster import Forecaster

    Forecaster(**fixed)  # an unknown or bad fixed setting: one sentence before any trial
    if covs is not None:
        if fixed.get("strategy", "direct") != "direct":
            raise ValueError(f"a {fixed['strategy']} forecaster cannot feed covariates back; "
                             f"search with strategy='direct' (the default with covariates) or "
                             f"without covariates.")
        fixed["strategy"] = "direct"
    if fixed.get("quantiles"):  # a recursive network forecasts one value, no quantiles
        fixed["strategy"] = "direct"
    shortest = min(len(y) for y in ys)
    step, room = fit_step(shortest, horizon, folds, origins, step, season)
    if room < 1:
        what = f"{folds} validation fold(s)" if origins is None else \
            f"{origins} validation origins {step} apart"
        raise ValueError(f"the series has {shortest} points: too few for {what} of horizon "
                         f"{horizon} and a training part; use fewer folds or origins, or a "
                         f"shorter horizon.")
    plan = validation_plan(shortest, horizon, folds, origins, step)
    stamp = _stamp(ys, covs, season, plan, fixed)
    named, study_name = study_name, study_name or f"forecast-{stamp[:16]}"
    if backend == "ray":
        from .tune_ray import search

        return search(ys, covs, season, trials, room=room, fixed=fixed, folds=folds,
                      seed=seed, timeout=timeout, storage=storage, study_name=study_name,
                      origins=origins, step=step)
    url = None if storage is None else f"sqlite:///{storage}"
    if named is None and url is not None and os.path.isfile(storage) and \
            "forecast" in optuna.study.get_all_study_names(url):
        study_name = "forecast"  # a file of a release that named every study so: resumed
        warnings.warn(f"{storage}: resuming its study 'forecast', made before studies were "
                      f"named after their data, whose data cannot be checked; pass another "
                      f"storage file to start afresh.", UserWarning, stacklevel=2)
    study = optuna.create_study(study_name=study_name, storage=url, load_if_exists=True,
                                direction="minimize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3))
    made = study.user_attrs.get("stamp")
    if made is None and not study.trials:
        study.set_user_attr("stamp", stamp)
    elif made is not None and made != stamp:
        raise ValueError(f"the study {study_name!r} in {storage} was made on other data or "
                         f"settings; a search resumes only its own study. Give another "
                         f"storage file or study_name (or leave study_name out: one is named "
                         f"after the data).")
    stale = optuna.trial.TrialState
    for t in study.get_trials(deepcopy=False, states=(stale.RUNNING, stale.WAITING)):
        study.tell(t.number, state=stale.FAIL)  # running when an earlier search stopped
    finished = (stale.COMPLETE, stale.PRUNED)
    strategies = strategy_choices(study)
    first = starts(season, room, fixed, strategies)

    def objective(trial):
        settings = _suggest(trial, season, room, fixed, strategies)
        try:
            with warnings.catch_warnings():  # a trial that learned nothing scores so
                warnings.filterwarnings("ignore", "training .* learned nothing", RuntimeWarning)
                value, forecasts = validation_forecasts(settings, ys, covs, season, plan, trial)
        except Diverged as err:  # a diverged trial is a bad one, not the end of the search
            raise optuna.TrialPruned(str(err)) from err
        trial.set_user_attr("forecasts", forecasts.tolist())  # (S, origins, h)
        trial.set_user_attr("settings", settings)
        return value

    import time

    now = time.monotonic if clock == "wall" else time.process_time
    start = now()
    while len(study.get_trials(deepcopy=False, states=finished)) < trials:
        if timeout is not None and now() - start > timeout:
            break
        n = len(study.get_trials(deepcopy=False, states=finished))
        if n < len(first):  # the defaults first (again after a stop that failed one)
            study.enqueue_trial(first[n])
        study.sampler = optuna.samplers.TPESampler(seed=seed + n, n_startup_trials=5)
        study.optimize(objective, n_trials=1)
        if on_trial is not None:
            on_trial(len(study.get_trials(deepcopy=False, states=finished)))
    done = study.get_trials(deepcopy=False, states=(stale.COMPLETE,))
    if not done:
        raise ValueError("no trial of the search finished; give it more trials or time.")
    best = study.best_trial
    settings = settings_of(best.params, season, room, fixed)
    summary = {"backend": "optuna", "trials": len(study.trials), "completed": len(done),
               "best_trial": best.number, "best_value": finite_or_none(best.value),
               "params": effective(settings), "folds": folds, "origins": origins,
               "step": step, "plan": plan, "study": study_name}
    return settings, summary


def effective(settings: dict) -> dict:
    """The settings a trial's model runs with (sampled or fixed), as a summary shows them."""
    return {k: settings[k] for k in sorted(settings) if k not in ("horizon", "seed")}


def finite_or_none(value) -> float | None:
    """A validation MASE for a summary: None where it is undefined (a series that never
    changes over a season has no MASE), so that the summary stays valid JSON."""
    return float(value) if value is not None and np.isfinite(value) else None


def _stamp(ys, covs, season: int, plan: list[list[int]], fixed: dict) -> str:
    """What makes a search the same search: the data, the season, the origins, the fixed
    settings."""
    h = hashlib.sha256(json.dumps([season, plan, fixed], sort_keys=True, default=str).encode())
    for a in [*ys, *(covs or ())]:
        h.update(np.ascontiguousarray(a, np.float64).tobytes())
    return h.hexdigest()


def ranked(study, top: int) -> list[tuple[float, dict, np.ndarray]]:
    """The ``top`` best completed trials of a ``tune`` study, best first:
    [(validation MASE, settings, validation forecasts (S, origins, h))]."""
    optuna = _optuna()
    done = [t for t in study.get_trials(deepcopy=False)
            if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None
            and np.isfinite(t.value) and "forecasts" in t.user_attrs]
    done.sort(key=lambda t: (t.value, t.number))
    return [(float(t.value), dict(t.user_attrs["settings"]), np.array(t.user_attrs["forecasts"]))
            for t in done[:top]]
